#include "approval_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hiredis/hiredis.h>
#include "reply.h"

/* Looks a call up by its two digest keys, then consumes, attaches, refuses
 * or makes a record: one script, so two wardens never both consume a grant
 * or both make a record for one call. Times are strings of seconds.
 * KEYS: dig_call dig_tool idx. ARGV: prefix id now ttl grant_ttl scope
 * principal server tool args rule reason generation max_records retain. */
static const char call_script[] =
    "local now = tonumber(ARGV[3])\n"
    "for k = 1, 2 do\n"
    "  local id = redis.call('GET', KEYS[k])\n"
    "  if id then\n"
    "    local rk = ARGV[1] .. 'apr:rec:' .. id\n"
    "    local f = redis.call('HMGET', rk, 'status', 'scope', 'expires', 'decided_by', 'decision_reason')\n"
    "    local exp = tonumber(f[3])\n"
    "    if f[1] and exp and (f[1] == 'denied' or exp > now) then\n"
    "      if f[1] == 'approved' then\n"
    "        if f[2] == 'call' then\n"
    "          redis.call('HSET', rk, 'status', 'consumed')\n"
    "          redis.call('DEL', KEYS[k])\n"
    "        end\n"
    "        return {'granted', id, f[3], f[4] or '', f[5] or ''}\n"
    "      elseif f[1] == 'pending' then\n"
    "        return {'attached', id, f[3], '', ''}\n"
    "      elseif f[1] == 'denied' then\n"
    "        return {'refused', id, f[3], f[4] or '', f[5] or ''}\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[3])\n"
    "if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[14]) then return {'full', '', '0', '', ''} end\n"
    "local ttl = tonumber(ARGV[4])\n"
    "local life = ttl + tonumber(ARGV[15])\n"
    "local dk = KEYS[1]\n"
    "if ARGV[6] == 'tool' then dk = KEYS[2] end\n"
    "local rk = ARGV[1] .. 'apr:rec:' .. ARGV[2]\n"
    "local exp = tostring(now + ttl)\n"
    "redis.call('HSET', rk, 'id', ARGV[2], 'principal', ARGV[7], 'server', ARGV[8], 'tool', ARGV[9], 'args', "
    "ARGV[10],\n"
    "  'rule', ARGV[11], 'reason', ARGV[12], 'scope', ARGV[6], 'status', 'pending', 'created', ARGV[3],\n"
    "  'expires', exp, 'grant_ttl', ARGV[5], 'generation', ARGV[13], 'digest', dk)\n"
    "redis.call('PEXPIRE', rk, math.ceil(life * 1000))\n"
    "redis.call('SET', dk, ARGV[2], 'PX', math.ceil(ttl * 1000))\n"
    "redis.call('ZADD', KEYS[3], now + life, ARGV[2])\n"
    "return {'new', ARGV[2], exp, '', ''}\n";

/* A person decides a pending record; the holders hear of it on the channel.
 * The record as decided is the reply (a retry may consume it at once).
 * KEYS: rec idx. ARGV: id approver approve(1/0) reason now retain channel. */
static const char decide_script[] =
    "local f = redis.call('HMGET', KEYS[1], 'status', 'expires', 'principal', 'grant_ttl', 'digest')\n"
    "if not f[1] then return 'not_found' end\n"
    "local now = tonumber(ARGV[5])\n"
    "if f[1] ~= 'pending' or tonumber(f[2]) <= now then return 'not_pending' end\n"
    "if f[3] == ARGV[2] then return 'self' end\n"
    "local keep = tonumber(ARGV[6])\n"
    "local status = 'denied'\n"
    "if ARGV[3] == '1' then\n"
    "  status = 'approved'\n"
    "  local g = tonumber(f[4])\n"
    "  redis.call('HSET', KEYS[1], 'expires', tostring(now + g))\n"
    "  redis.call('SET', f[5], ARGV[1], 'PX', math.ceil(g * 1000))\n"
    "  keep = keep + g\n"
    "else\n"
    "  redis.call('SET', f[5], ARGV[1], 'PX', math.ceil(keep * 1000))\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'status', status, 'decided_by', ARGV[2], 'decision_reason', ARGV[4])\n"
    "redis.call('PEXPIRE', KEYS[1], math.ceil(keep * 1000))\n"
    "redis.call('ZADD', KEYS[2], now + keep, ARGV[1])\n"
    "redis.call('PUBLISH', ARGV[7], ARGV[1])\n"
    "return redis.call('HGETALL', KEYS[1])\n";

/* The living records, at most ARGV[3]. KEYS: idx. ARGV: prefix now max. */
static const char list_script[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf', 'LIMIT', 0, tonumber(ARGV[3]))\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  local h = redis.call('HGETALL', ARGV[1] .. 'apr:rec:' .. id)\n"
    "  if #h > 0 then out[#out + 1] = h end\n"
    "end\n"
    "return out\n";

/* approval.h's default bound on records. */
#define DEFAULT_MAX_RECORDS 1000

static void key_of(struct state *st, const char *what, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%sapr:%s%s", state_prefix(st), what, name);
}

void approval_redis_channel(struct state *st, char *buf, size_t cap)
{
    key_of(st, "decided", "", buf, cap);
}

static void hex_of(const unsigned char d[SHA256_BYTES], char out[2 * SHA256_BYTES + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < SHA256_BYTES; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * SHA256_BYTES] = '\0';
}

struct state_req *approval_redis_call(struct state *st, const struct approval_call *c, double now, size_t max_records,
                                      state_reply_fn cb, void *arg)
{
    struct evbuffer *canon = evbuffer_new();
    unsigned char dcall[SHA256_BYTES], dtool[SHA256_BYTES];
    char id[APPROVAL_ID_LEN + 1];
    if (!canon || approval_call_digests(c, canon, dcall, dtool) < 0 || approval_new_id(id) < 0) {
        if (canon)
            evbuffer_free(canon);
        return NULL;
    }
    size_t alen = evbuffer_get_length(canon) - 1;
    const char *args = (const char *)evbuffer_pullup(canon, -1);
    char hex[2 * SHA256_BYTES + 1], kcall[300], ktool[300], kidx[300];
    hex_of(dcall, hex);
    key_of(st, "dig:", hex, kcall, sizeof kcall);
    hex_of(dtool, hex);
    key_of(st, "dig:", hex, ktool, sizeof ktool);
    key_of(st, "idx", "", kidx, sizeof kidx);
    char snow[40], sttl[40], sgrant[40], sgen[32], smax[32], sretain[40];
    snprintf(snow, sizeof snow, "%.6f", now);
    snprintf(sttl, sizeof sttl, "%.6f", c->opts.ttl);
    snprintf(sgrant, sizeof sgrant, "%.6f", c->opts.grant_ttl);
    snprintf(sgen, sizeof sgen, "%lu", c->generation);
    snprintf(smax, sizeof smax, "%zu", max_records ? max_records : DEFAULT_MAX_RECORDS);
    snprintf(sretain, sizeof sretain, "%.6f", APPROVAL_RETAIN_SECONDS);
    const char *argv[18] = {kcall,
                            ktool,
                            kidx,
                            state_prefix(st),
                            id,
                            snow,
                            sttl,
                            sgrant,
                            c->opts.scope == APPROVAL_SCOPE_TOOL ? "tool" : "call",
                            c->principal,
                            c->server,
                            c->tool,
                            args,
                            c->rule ? c->rule : "",
                            c->reason ? c->reason : "",
                            sgen,
                            smax,
                            sretain};
    size_t argvlen[18];
    for (size_t i = 0; i < 18; i++)
        argvlen[i] = i == 12 ? alen : strlen(argv[i]);
    struct state_req *r = state_script(st, call_script, cb, arg, 3, 18, argv, argvlen);
    evbuffer_free(canon);
    return r;
}

static bool is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

void approval_redis_call_result(const struct redisReply *r, const char *error, struct approval_answer *out)
{
    memset(out, 0, sizeof *out);
    out->outcome = APPROVAL_FAILED;
    if (error || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 5)
        return;
    for (size_t i = 0; i < 5; i++)
        if (!is_str(r->element[i]))
            return;
    static const struct {
        const char *name;
        enum approval_outcome o;
    } names[] = {{"new", APPROVAL_NEW},
                 {"attached", APPROVAL_ATTACHED},
                 {"granted", APPROVAL_GRANTED},
                 {"refused", APPROVAL_REFUSED},
                 {"full", APPROVAL_FULL}};
    const redisReply *const *e = (const redisReply *const *)r->element;
    enum approval_outcome o = APPROVAL_FAILED;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (e[0]->len == strlen(names[i].name) && memcmp(e[0]->str, names[i].name, e[0]->len) == 0)
            o = names[i].o;
    if (o != APPROVAL_FULL && (o == APPROVAL_FAILED || e[1]->len != APPROVAL_ID_LEN))
        return;
    out->outcome = o;
    snprintf(out->id, sizeof out->id, "%.*s", (int)e[1]->len, e[1]->str);
    char num[64];
    snprintf(num, sizeof num, "%.*s", (int)(e[2]->len < 63 ? e[2]->len : 63), e[2]->str);
    out->expires = strtod(num, NULL);
    snprintf(out->decided_by, sizeof out->decided_by, "%.*s", (int)e[3]->len, e[3]->str);
    snprintf(out->decision_reason, sizeof out->decision_reason, "%.*s", (int)e[4]->len, e[4]->str);
}

struct state_req *approval_redis_decide(struct state *st, const char *id, const char *approver, bool approve,
                                        const char *reason, double now, state_reply_fn cb, void *arg)
{
    if (strlen(id) != APPROVAL_ID_LEN)
        id = "apr_"; /* no record has that id: the script answers not_found */
    char krec[300], kidx[300], chan[300], snow[40], sretain[40];
    key_of(st, "rec:", id, krec, sizeof krec);
    key_of(st, "idx", "", kidx, sizeof kidx);
    approval_redis_channel(st, chan, sizeof chan);
    snprintf(snow, sizeof snow, "%.6f", now);
    snprintf(sretain, sizeof sretain, "%.6f", APPROVAL_RETAIN_SECONDS);
    const char *argv[9] = {krec, kidx, id, approver, approve ? "1" : "0", reason ? reason : "", snow, sretain, chan};
    size_t argvlen[9];
    for (size_t i = 0; i < 9; i++)
        argvlen[i] = strlen(argv[i]);
    return state_script(st, decide_script, cb, arg, 2, 9, argv, argvlen);
}

int approval_redis_decide_result(const struct redisReply *r, const char *error)
{
    if (!error && r && r->type == REDIS_REPLY_ARRAY && r->elements > 0)
        return (int)APPROVAL_DECIDED;
    if (error || !is_str(r))
        return -1;
    static const char *const names[] = {"not_found", "not_pending", "self"};
    static const enum approval_decision_result res[] = {APPROVAL_NOT_FOUND, APPROVAL_NOT_PENDING, APPROVAL_SELF};
    for (size_t i = 0; i < 3; i++)
        if (r->len == strlen(names[i]) && memcmp(r->str, names[i], r->len) == 0)
            return (int)res[i];
    return -1;
}

struct state_req *approval_redis_list(struct state *st, double now, size_t max, state_reply_fn cb, void *arg)
{
    char kidx[300], snow[40], smax[32];
    key_of(st, "idx", "", kidx, sizeof kidx);
    snprintf(snow, sizeof snow, "%.6f", now);
    snprintf(smax, sizeof smax, "%zu", max ? max : DEFAULT_MAX_RECORDS);
    const char *argv[4] = {kidx, state_prefix(st), snow, smax};
    size_t argvlen[4];
    for (size_t i = 0; i < 4; i++)
        argvlen[i] = strlen(argv[i]);
    return state_script(st, list_script, cb, arg, 1, 4, argv, argvlen);
}

struct state_req *approval_redis_show(struct state *st, const char *id, state_reply_fn cb, void *arg)
{
    char krec[300];
    key_of(st, "rec:", strlen(id) == APPROVAL_ID_LEN ? id : "apr_", krec, sizeof krec);
    const char *argv[2] = {"HGETALL", krec};
    size_t argvlen[2] = {7, strlen(krec)};
    return state_command(st, cb, arg, 2, argv, argvlen);
}

/* A field of a HGETALL reply, or NULL. */
static const redisReply *field(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (is_str(h->element[i]) && is_str(h->element[i + 1]) && h->element[i]->len == strlen(name) &&
            memcmp(h->element[i]->str, name, h->element[i]->len) == 0)
            return h->element[i + 1];
    return NULL;
}

static double num_field(const redisReply *h, const char *name)
{
    const redisReply *v = field(h, name);
    char num[64];
    if (!v)
        return 0;
    snprintf(num, sizeof num, "%.*s", (int)(v->len < 63 ? v->len : 63), v->str);
    return strtod(num, NULL);
}

/* The status a reader sees: a request or grant whose time is past has expired. */
static void status_of(const redisReply *h, double now, char out[16])
{
    const redisReply *s = field(h, "status");
    snprintf(out, 16, "%.*s", s ? (int)(s->len < 15 ? s->len : 15) : 0, s ? s->str : "");
    if ((strcmp(out, "pending") == 0 || strcmp(out, "approved") == 0) && num_field(h, "expires") <= now)
        snprintf(out, 16, "expired");
}

static void put_field(struct evbuffer *out, const char *key, const redisReply *h, const char *name, bool null_if_absent)
{
    const redisReply *v = field(h, name);
    evbuffer_add_printf(out, ",\"%s\":", key);
    if (v)
        json_append_string(out, v->str, v->len);
    else if (null_if_absent)
        evbuffer_add(out, "null", 4);
    else
        evbuffer_add(out, "\"\"", 2);
}

static void put_time(struct evbuffer *out, const char *key, double t)
{
    char when[32];
    time_t secs = (time_t)t;
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    evbuffer_add_printf(out, ",\"%s\":\"%s\"", key, when);
}

/* As approval.c's write_record: the arguments were stored as canonical JSON. */
static void write_record(const redisReply *h, double now, struct evbuffer *out)
{
    char status[16];
    status_of(h, now, status);
    const redisReply *id = field(h, "id"), *args = field(h, "args");
    evbuffer_add(out, "{\"id\":", 6);
    json_append_string(out, id ? id->str : "", id ? id->len : 0);
    evbuffer_add_printf(out, ",\"status\":\"%s\"", status);
    put_field(out, "principal", h, "principal", false);
    put_field(out, "server", h, "server", false);
    put_field(out, "tool", h, "tool", false);
    evbuffer_add(out, ",\"arguments\":", 13);
    if (args && args->len > 0)
        evbuffer_add(out, args->str, args->len);
    else
        evbuffer_add(out, "{}", 2);
    put_field(out, "rule", h, "rule", false);
    put_field(out, "reason", h, "reason", false);
    put_field(out, "scope", h, "scope", false);
    evbuffer_add_printf(out, ",\"policy_generation\":%lu", (unsigned long)num_field(h, "generation"));
    put_time(out, "created_at", num_field(h, "created"));
    put_time(out, "expires_at", num_field(h, "expires"));
    put_field(out, "decided_by", h, "decided_by", true);
    put_field(out, "decision_reason", h, "decision_reason", true);
    evbuffer_add(out, "}", 1);
}

static int newest_first(const void *a, const void *b)
{
    double x = num_field(*(const redisReply *const *)a, "created");
    double y = num_field(*(const redisReply *const *)b, "created");
    return x < y ? 1 : x > y ? -1 : 0;
}

bool approval_redis_list_result(const struct redisReply *r, const char *error, const char *status, double now,
                                struct evbuffer *out)
{
    if (error || !r || r->type != REDIS_REPLY_ARRAY)
        return false;
    const redisReply **recs = r->elements ? malloc(r->elements * sizeof *recs) : NULL;
    if (r->elements && !recs)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_ARRAY)
            recs[n++] = r->element[i];
    if (n > 1)
        qsort(recs, n, sizeof *recs, newest_first);
    evbuffer_add_printf(out, "{\"approvals\":[");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        char st[16];
        status_of(recs[i], now, st);
        if (status && strcmp(status, st) != 0)
            continue;
        if (!first)
            evbuffer_add(out, ",", 1);
        write_record(recs[i], now, out);
        first = false;
    }
    evbuffer_add_printf(out, "]}");
    free(recs);
    return true;
}

int approval_redis_show_result(const struct redisReply *r, const char *error, double now, struct evbuffer *out)
{
    if (error || !r || r->type != REDIS_REPLY_ARRAY)
        return -1;
    if (r->elements == 0)
        return 0;
    write_record(r, now, out);
    return 1;
}

bool approval_redis_view(const struct redisReply *r, double now, struct approval_view *v, char status[16])
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return false;
    status_of(r, now, status);
    const redisReply *f;
#define STR(name) ((f = field(r, name)) ? f->str : NULL)
    *v = (struct approval_view){
        .id = STR("id"),
        .principal = STR("principal"),
        .server = STR("server"),
        .tool = STR("tool"),
        .args_json = STR("args"),
        .rule = STR("rule"),
        .reason = STR("reason"),
        .status = status,
        .decided_by = STR("decided_by"),
        .decision_reason = STR("decision_reason"),
        .scope = STR("scope"),
        .generation = (unsigned long)num_field(r, "generation"),
        .created = num_field(r, "created"),
        .expires = num_field(r, "expires"),
    };
#undef STR
    return v->id && v->principal && v->server && v->tool && v->args_json && v->rule && v->reason && v->scope;
}
