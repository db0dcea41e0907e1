#include "pins_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

/* The whole hash, unless it is over the budget (counted in Redis, so a huge
 * hash is never sent). KEYS: the hash. ARGV: max fields, max bytes. */
static const char read_script[] =
    "if redis.call('HLEN', KEYS[1]) > tonumber(ARGV[1]) then return redis.error_reply('over budget') end\n"
    "local h = redis.call('HGETALL', KEYS[1])\n"
    "local bytes = 0\n"
    "for i = 1, #h do bytes = bytes + #h[i] end\n"
    "if bytes > tonumber(ARGV[2]) then return redis.error_reply('over budget') end\n"
    "return h\n";

/* Writes approvals, all or none within the budget, then tells every warden.
 * KEYS: the hash. ARGV: channel server epoch max_fields field value ... */
static const char approve_script[] =
    "local new = 0\n"
    "for i = 5, #ARGV, 2 do\n"
    "  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then new = new + 1 end\n"
    "end\n"
    "if redis.call('HLEN', KEYS[1]) + new > tonumber(ARGV[4]) then return redis.error_reply('full') end\n"
    "redis.call('HSETNX', KEYS[1], 'epoch', ARGV[3])\n"
    "for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end\n"
    "local v = redis.call('HINCRBY', KEYS[1], 'v', 1)\n"
    "redis.call('PUBLISH', ARGV[1], ARGV[2])\n"
    "return v\n";

/* Fields beside the approvals: epoch and v. */
#define OTHER_FIELDS 2

void pins_redis_channel(struct state *st, char *buf, size_t cap)
{
    snprintf(buf, cap, "%spins", state_prefix(st));
}

/* "<prefix>pin:<server>" in a malloc'd string, or NULL. */
static char *key_of(struct state *st, const char *server)
{
    char *key = NULL;
    return asprintf(&key, "%spin:%s", state_prefix(st), server) < 0 ? NULL : key;
}

struct state_req *pins_redis_read(struct state *st, const char *server, state_reply_fn cb, void *arg)
{
    char *key = key_of(st, server);
    if (!key)
        return NULL;
    char fields[24], bytes[24];
    snprintf(fields, sizeof fields, "%u", PINS_MAX_TOOLS + 1 + OTHER_FIELDS);
    snprintf(bytes, sizeof bytes, "%u", PINS_REDIS_MAX_BYTES);
    const char *argv[] = {key, fields, bytes};
    size_t argvlen[] = {strlen(key), strlen(fields), strlen(bytes)};
    struct state_req *r = state_script(st, read_script, cb, arg, 1, 3, argv, argvlen);
    free(key);
    return r;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 64 lower-case hex digits at s into d. */
static bool read_hex(const char *s, unsigned char d[SHA256_BYTES])
{
    for (size_t i = 0; i < SHA256_BYTES; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        d[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* "<pin> <base>" (base "-": none) into a. */
static bool read_value(const redisReply *v, struct pin_approval *a)
{
    size_t hex = 2 * SHA256_BYTES;
    if (v->len != 2 * hex + 1 && v->len != hex + 2)
        return false;
    if (!read_hex(v->str, a->digest) || v->str[hex] != ' ')
        return false;
    a->has_base = v->len == 2 * hex + 1;
    return a->has_base ? read_hex(v->str + hex + 1, a->base) : v->str[hex + 1] == '-';
}

static bool is_field(const redisReply *f, const char *name)
{
    return f->len == strlen(name) && memcmp(f->str, name, f->len) == 0;
}

static int refuse(struct pin_approval_set *out, char *err, size_t errlen, const char *why)
{
    pin_approval_set_clear(out);
    snprintf(err, errlen, "%s", why);
    return -1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct pin_approval *)a)->name, ((const struct pin_approval *)b)->name);
}

int pins_redis_parse(const struct redisReply *r, const char *error, struct pin_approval_set *out, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (error)
        return refuse(out, err, errlen, error);
    if (!r)
        return refuse(out, err, errlen, "no reply");
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "Redis refuses: %.*s", (int)(r->len < 200 ? r->len : 200), r->str);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0 ||
        r->elements > 2 * ((size_t)PINS_MAX_TOOLS + 1 + OTHER_FIELDS))
        return refuse(out, err, errlen, "not a hash of pins within the budget");
    size_t bytes = 0;
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return refuse(out, err, errlen, "a field or value that is not a string");
        bytes += r->element[i]->len;
    }
    if (bytes > PINS_REDIS_MAX_BYTES)
        return refuse(out, err, errlen, "over the byte budget");
    size_t ntools = 0;
    for (size_t i = 0; i < r->elements; i += 2)
        ntools += r->element[i]->len > 2 && memcmp(r->element[i]->str, "t:", 2) == 0;
    if (ntools > PINS_MAX_TOOLS || (ntools && !(out->tools = calloc(ntools, sizeof *out->tools))))
        return refuse(out, err, errlen, "too many approvals, or out of memory");
    bool has_epoch = false, has_version = false;
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (is_field(f, "epoch")) {
            if (has_epoch || v->len == 0 || v->len > PINS_EPOCH_MAX || memchr(v->str, '\0', v->len))
                return refuse(out, err, errlen, "a bad epoch");
            memcpy(out->epoch, v->str, v->len);
            out->epoch[v->len] = '\0';
            has_epoch = true;
        } else if (is_field(f, "v")) {
            char num[24];
            char *end;
            if (has_version || v->len == 0 || v->len >= sizeof num || v->str[0] == '-')
                return refuse(out, err, errlen, "a bad version");
            memcpy(num, v->str, v->len);
            num[v->len] = '\0';
            out->version = strtoull(num, &end, 10);
            if (*end)
                return refuse(out, err, errlen, "a bad version");
            has_version = true;
        } else if (is_field(f, "i")) {
            if (out->has_instructions || !read_value(v, &out->instructions))
                return refuse(out, err, errlen, "a bad approval of the instructions");
            out->has_instructions = true;
        } else if (f->len > 2 && memcmp(f->str, "t:", 2) == 0 && f->len - 2 <= PINS_REDIS_MAX_NAME &&
                   !memchr(f->str + 2, '\0', f->len - 2)) {
            struct pin_approval *a = &out->tools[out->n];
            if (!read_value(v, a))
                return refuse(out, err, errlen, "a bad approval of a tool");
            if (!(a->name = strndup(f->str + 2, f->len - 2)))
                return refuse(out, err, errlen, "out of memory");
            out->n++;
        } else {
            return refuse(out, err, errlen, "an unknown field");
        }
    }
    /* An approval is written with its epoch and version, never without. */
    if ((out->n || out->has_instructions) && (!has_epoch || !has_version))
        return refuse(out, err, errlen, "approvals without an epoch and a version");
    if (out->n > 1)
        qsort(out->tools, out->n, sizeof *out->tools, by_name);
    for (size_t i = 1; i < out->n; i++)
        if (strcmp(out->tools[i - 1].name, out->tools[i].name) == 0)
            return refuse(out, err, errlen, "a tool approved twice");
    return 0;
}

struct state_req *pins_redis_approve(struct state *st, const char *server, const struct pin_approval *v, size_t n,
                                     const char *epoch, state_reply_fn cb, void *arg)
{
    if (n == 0 || n > PINS_REDIS_BATCH)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (v[i].name && strlen(v[i].name) > PINS_REDIS_MAX_NAME)
            return NULL;
    size_t argc = 5 + 2 * n;
    char *key = key_of(st, server);
    char chan[300], maxf[24];
    const char **argv = calloc(argc, sizeof *argv);
    size_t *argvlen = calloc(argc, sizeof *argvlen);
    /* each value: "<pin> <base>" and its NUL */
    char *values = calloc(n, 4 * SHA256_BYTES + 2);
    char **fields = calloc(n, sizeof *fields);
    struct state_req *r = NULL;
    if (!key || !argv || !argvlen || !values || !fields)
        goto out;
    pins_redis_channel(st, chan, sizeof chan);
    snprintf(maxf, sizeof maxf, "%u", PINS_MAX_TOOLS + 1 + OTHER_FIELDS);
    argv[0] = key, argv[1] = chan, argv[2] = server, argv[3] = epoch, argv[4] = maxf;
    for (size_t i = 0; i < 5; i++)
        argvlen[i] = strlen(argv[i]);
    for (size_t i = 0; i < n; i++) {
        if (asprintf(&fields[i], "%s%s", v[i].name ? "t:" : "i", v[i].name ? v[i].name : "") < 0) {
            fields[i] = NULL;
            goto out;
        }
        char *val = values + i * (4 * SHA256_BYTES + 2), pin[2 * SHA256_BYTES + 1], base[2 * SHA256_BYTES + 1] = "-";
        sha256_hex(v[i].digest, pin);
        if (v[i].has_base)
            sha256_hex(v[i].base, base);
        snprintf(val, 4 * SHA256_BYTES + 2, "%s %s", pin, base);
        argv[5 + 2 * i] = fields[i];
        argvlen[5 + 2 * i] = strlen(fields[i]);
        argv[6 + 2 * i] = val;
        argvlen[6 + 2 * i] = v[i].has_base ? 4 * SHA256_BYTES + 1 : 2 * SHA256_BYTES + 2;
    }
    r = state_script(st, approve_script, cb, arg, 1, (int)argc, argv, argvlen);
out:
    for (size_t i = 0; fields && i < n; i++)
        free(fields[i]);
    free(fields);
    free(values);
    free(argvlen);
    free(argv);
    free(key);
    return r;
}
