#include "state.h"

#include <event2/event_struct.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "log.h"
#include "siphash.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
/* Scripts one state knows (rate limits, state_take: a handful). */
#define MAX_SCRIPTS 8

/* The latency histogram's bounds, seconds; +Inf after them. */
static const double latency_bounds[] = {0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25};
#define NBOUNDS (sizeof latency_bounds / sizeof *latency_bounds)
static const char *const error_kinds[] = {"timeout", "connection", "reply", "unavailable"};
enum { ERR_TIMEOUT, ERR_CONNECTION, ERR_REPLY, ERR_UNAVAILABLE, NERR };

struct state_health {
    atomic_int links_up;                /* workers with a ready connection */
    atomic_ullong buckets[NBOUNDS + 1]; /* not cumulative */
    atomic_ullong sum_us;
    atomic_ullong errors[NERR];
};

struct script {
    const char *src; /* the caller's, by pointer */
    size_t len;
    char sha[41];
};

/* One connection: commands, or subscriptions (a subscribed connection can do nothing else). */
struct link {
    struct state *st;
    redisAsyncContext *ac; /* NULL while down */
    bool ready;            /* answered the PING after connecting */
    bool subscriber;
    unsigned backoff_ms;
    struct event *retry; /* the reconnection timer */
    struct event *hello; /* a new connection's deadline to answer its PING */
};

struct subscription {
    struct state *st;
    char *channel;
    state_message_fn on_message;
    void *arg;
};

struct state {
    struct event_base *base;
    const struct state_conf *conf;
    struct state_health *health;
    char host[256];
    int port;
    char *unix_path; /* owned; NULL for TCP */
    unsigned db;
    char *password; /* owned copy of the variable's value; NULL without */
    const char *prefix;
    struct link cmd, sub;
    const struct timeval *tv_timeout; /* a common timeout: one heap entry for every request's deadline */
    unsigned failures;                /* commands failed in a row */
    char id[33];                      /* random: this state's part of state_unique_id */
    unsigned long long seq;
    bool freeing;
    struct script scripts[MAX_SCRIPTS];
    size_t nscripts;
    struct subscription subs[STATE_MAX_SUBSCRIPTIONS];
    size_t nsubs;
};

struct state_req {
    struct state *st;
    state_reply_fn cb;
    void *arg;
    struct event timer;
    double sent;
    bool done;     /* the callback ran, or was cancelled: a late reply is dropped */
    bool in_redis; /* hiredis holds it and will call back */
    const struct script *script;
    /* a script's arguments, kept for the EVAL sent after NOSCRIPT: one block */
    int argc;
    const char **argv;
    size_t *argvlen;
};

/* ---- SHA-1 (the name Redis gives a script) ---- */

static uint32_t rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else
            f = b ^ c ^ d, k = 0xCA62C1D6;
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d, d = c, c = rol(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

static void sha1_hex(const char *data, size_t len, char out[41])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t i = 0;
    for (; i + 64 <= len; i += 64)
        sha1_block(h, (const unsigned char *)data + i);
    unsigned char tail[128] = {0};
    size_t rest = len - i;
    memcpy(tail, data + i, rest);
    tail[rest] = 0x80;
    size_t tl = rest + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int k = 0; k < 8; k++)
        tail[tl - 1 - (size_t)k] = (unsigned char)(bits >> (8 * k));
    sha1_block(h, tail);
    if (tl == 128)
        sha1_block(h, tail + 64);
    for (int k = 0; k < 5; k++)
        snprintf(out + 8 * k, 9, "%08x", h[k]);
}

/* ---- health ---- */

struct state_health *state_health_new(void)
{
    return calloc(1, sizeof(struct state_health));
}

void state_health_free(struct state_health *h)
{
    free(h);
}

bool state_health_up(const struct state_health *h)
{
    return atomic_load(&h->links_up) > 0;
}

static void count_error(struct state *st, int kind)
{
    atomic_fetch_add(&st->health->errors[kind], 1);
}

static void count_latency(struct state_health *h, double seconds)
{
    size_t i = 0;
    while (i < NBOUNDS && seconds > latency_bounds[i])
        i++;
    atomic_fetch_add(&h->buckets[i], 1);
    atomic_fetch_add(&h->sum_us, (unsigned long long)(seconds * 1e6));
}

void state_health_render(const struct state_health *h, struct evbuffer *out)
{
    evbuffer_add_printf(out,
                        "# HELP warden_state_up Whether the shared state store (Redis) is reachable.\n"
                        "# TYPE warden_state_up gauge\nwarden_state_up %d\n",
                        state_health_up(h) ? 1 : 0);
    evbuffer_add_printf(out, "# HELP warden_state_latency_seconds Time from sending a command to the state store "
                             "to its reply.\n# TYPE warden_state_latency_seconds histogram\n");
    unsigned long long cum = 0;
    for (size_t i = 0; i <= NBOUNDS; i++) {
        cum += atomic_load(&h->buckets[i]);
        if (i < NBOUNDS)
            evbuffer_add_printf(out, "warden_state_latency_seconds_bucket{le=\"%g\"} %llu\n", latency_bounds[i], cum);
        else
            evbuffer_add_printf(out, "warden_state_latency_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    evbuffer_add_printf(out, "warden_state_latency_seconds_sum %.6f\nwarden_state_latency_seconds_count %llu\n",
                        (double)atomic_load(&h->sum_us) / 1e6, cum);
    evbuffer_add_printf(out, "# HELP warden_state_errors_total Commands to the state store that failed, by kind.\n"
                             "# TYPE warden_state_errors_total counter\n");
    for (int k = 0; k < NERR; k++)
        evbuffer_add_printf(out, "warden_state_errors_total{kind=\"%s\"} %llu\n", error_kinds[k],
                            atomic_load(&h->errors[k]));
}

/* ---- connections ---- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void link_connect(struct link *l);

static void schedule_reconnect(struct link *l)
{
    if (l->st->freeing)
        return;
    struct timeval tv = {l->backoff_ms / 1000, (suseconds_t)(l->backoff_ms % 1000) * 1000};
    evtimer_add(l->retry, &tv);
    l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

static void link_down(struct link *l)
{
    if (l->ready && !l->subscriber)
        atomic_fetch_sub(&l->st->health->links_up, 1);
    l->ready = false;
    l->ac = NULL;
}

/* Drops the connection from our own callbacks (never from hiredis's): pending
 * replies are answered NULL now, and the back-off starts. */
static void link_drop(struct link *l)
{
    redisAsyncContext *ac = l->ac;
    if (!ac)
        return;
    link_down(l);
    redisAsyncFree(ac);
    schedule_reconnect(l);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    link_connect(arg);
}

/* A connection that does not answer its first PING in time (a Redis that
 * accepts and hangs, a lost peer) is dropped and made again later. */
static void on_hello_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct link *l = arg;
    if (l->ready || !l->ac)
        return;
    log_warn("state: Redis %s does not answer", l->st->conf->redis);
    count_error(l->st, ERR_TIMEOUT);
    link_drop(l);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct link *l = ac->data;
    if (status == REDIS_OK || l->ac != ac)
        return;
    /* hiredis frees the context after this callback. */
    log_warn("state: cannot connect to Redis %s: %s", l->st->conf->redis, ac->errstr);
    count_error(l->st, ERR_CONNECTION);
    link_down(l);
    schedule_reconnect(l);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct link *l = ac->data;
    if (l->ac != ac)
        return; /* we dropped it ourselves */
    if (status != REDIS_OK) {
        log_warn("state: lost Redis %s: %s", l->st->conf->redis, ac->errstr);
        count_error(l->st, ERR_CONNECTION);
    }
    link_down(l);
    schedule_reconnect(l);
}

static void subscribe_one(struct link *l, struct subscription *s);

static void on_ready(redisAsyncContext *ac, void *r, void *privdata)
{
    struct link *l = privdata;
    const redisReply *reply = r;
    if (!reply || l->ac != ac)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        log_warn("state: Redis %s refuses warden: %s", l->st->conf->redis, reply->str);
        count_error(l->st, ERR_REPLY);
        /* Closed after this callback; on_disconnect starts the back-off. */
        redisAsyncDisconnect(ac);
        return;
    }
    l->ready = true;
    l->backoff_ms = BACKOFF_FIRST_MS;
    evtimer_del(l->hello);
    if (l->subscriber) {
        for (size_t i = 0; i < l->st->nsubs; i++) {
            subscribe_one(l, &l->st->subs[i]);
            l->st->subs[i].on_message(l->st->subs[i].arg, NULL, 0);
        }
        return;
    }
    atomic_fetch_add(&l->st->health->links_up, 1);
    l->st->failures = 0;
    log_info("state: connected to Redis %s", l->st->conf->redis);
}

static void load_script(struct state *st, const struct script *s)
{
    const char *argv[] = {"SCRIPT", "LOAD", s->src};
    size_t argvlen[] = {6, 4, s->len};
    redisAsyncCommandArgv(st->cmd.ac, NULL, NULL, 3, argv, argvlen);
}

static void link_connect(struct link *l)
{
    struct state *st = l->st;
    redisAsyncContext *ac =
        st->unix_path ? redisAsyncConnectUnix(st->unix_path) : redisAsyncConnect(st->host, st->port);
    if (!ac || ac->err) {
        log_warn("state: cannot connect to Redis %s: %s", st->conf->redis, ac ? ac->errstr : "out of memory");
        count_error(st, ERR_CONNECTION);
        if (ac)
            redisAsyncFree(ac);
        schedule_reconnect(l);
        return;
    }
    ac->data = l;
    if (redisLibeventAttach(ac, st->base) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_reconnect(l);
        return;
    }
    l->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Queued until the connection is made, in this order; the PING's answer says it is usable. */
    if (st->password) {
        const char *argv[] = {"AUTH", st->password};
        size_t argvlen[] = {4, strlen(st->password)};
        redisAsyncCommandArgv(ac, NULL, NULL, 2, argv, argvlen);
    }
    if (st->db)
        redisAsyncCommand(ac, NULL, NULL, "SELECT %u", st->db);
    if (!l->subscriber)
        for (size_t i = 0; i < st->nscripts; i++)
            load_script(st, &st->scripts[i]);
    redisAsyncCommand(ac, on_ready, l, "PING");
    unsigned ms = st->conf->timeout_ms * 5 < 1000 ? 1000 : st->conf->timeout_ms * 5;
    struct timeval tv = {ms / 1000, (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(l->hello, &tv);
}

/* "redis://HOST[:PORT][/DB]" or "unix:/path". */
static int parse_address(struct state *st, const char *url, char *err, size_t errlen)
{
    if (strncmp(url, "unix:", 5) == 0) {
        if (url[5] != '/' || !(st->unix_path = strdup(url + 5))) {
            snprintf(err, errlen, "state.redis: unix:/path needs an absolute path");
            return -1;
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "state.redis: must be redis://HOST:PORT/DB or unix:/path");
        return -1;
    }
    const char *h = url + 8, *end = h + strcspn(h, ":/");
    if (end == h || (size_t)(end - h) >= sizeof st->host) {
        snprintf(err, errlen, "state.redis: no host in %s", url);
        return -1;
    }
    memcpy(st->host, h, (size_t)(end - h));
    st->host[end - h] = '\0';
    st->port = 6379;
    if (*end == ':') {
        char *after;
        long p = strtol(end + 1, &after, 10);
        if (after == end + 1 || p < 1 || p > 65535) {
            snprintf(err, errlen, "state.redis: bad port in %s", url);
            return -1;
        }
        st->port = (int)p;
        end = after;
    }
    if (*end == '/' && end[1]) {
        char *after;
        long db = strtol(end + 1, &after, 10);
        if (*after || db < 0 || db > 1000000) {
            snprintf(err, errlen, "state.redis: bad database number in %s", url);
            return -1;
        }
        st->db = (unsigned)db;
    } else if (*end && strcmp(end, "/") != 0) {
        snprintf(err, errlen, "state.redis: must be redis://HOST:PORT/DB, not %s", url);
        return -1;
    }
    return 0;
}

struct state *state_new(struct event_base *base, const struct state_conf *conf, struct state_health *h, char *err,
                        size_t errlen)
{
    struct state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->base = base;
    st->conf = conf;
    st->health = h;
    st->prefix = conf->key_prefix ? conf->key_prefix : "warden:";
    if (parse_address(st, conf->redis, err, errlen) < 0) {
        state_free(st);
        return NULL;
    }
    if (conf->password_env) {
        const char *pw = getenv(conf->password_env);
        if (!pw || !*pw) {
            snprintf(err, errlen, "state.password_env: %s is not set", conf->password_env);
            state_free(st);
            return NULL;
        }
        st->password = strdup(pw);
    }
    struct siphash_key k;
    if (siphash_key_random(&k) != 0) {
        snprintf(err, errlen, "no random id for the state store");
        state_free(st);
        return NULL;
    }
    snprintf(st->id, sizeof st->id, "%016llx%016llx", (unsigned long long)k.k0, (unsigned long long)k.k1);
    struct timeval t = {conf->timeout_ms / 1000, (suseconds_t)(conf->timeout_ms % 1000) * 1000};
    st->tv_timeout = event_base_init_common_timeout(base, &t);
    st->cmd = (struct link){.st = st, .backoff_ms = BACKOFF_FIRST_MS};
    st->sub = (struct link){.st = st, .backoff_ms = BACKOFF_FIRST_MS, .subscriber = true};
    st->cmd.retry = evtimer_new(base, on_retry, &st->cmd);
    st->sub.retry = evtimer_new(base, on_retry, &st->sub);
    st->cmd.hello = evtimer_new(base, on_hello_timeout, &st->cmd);
    st->sub.hello = evtimer_new(base, on_hello_timeout, &st->sub);
    if ((conf->password_env && !st->password) || !st->tv_timeout || !st->cmd.retry || !st->sub.retry ||
        !st->cmd.hello || !st->sub.hello) {
        snprintf(err, errlen, "out of memory");
        state_free(st);
        return NULL;
    }
    link_connect(&st->cmd);
    return st;
}

void state_free(struct state *st)
{
    if (!st)
        return;
    st->freeing = true;
    struct link *links[] = {&st->cmd, &st->sub};
    for (int i = 0; i < 2; i++) {
        redisAsyncContext *ac = links[i]->ac;
        if (ac) {
            link_down(links[i]);
            redisAsyncFree(ac);
        }
        if (links[i]->retry)
            event_free(links[i]->retry);
        if (links[i]->hello)
            event_free(links[i]->hello);
    }
    for (size_t i = 0; i < st->nsubs; i++)
        free(st->subs[i].channel);
    free(st->unix_path);
    free(st->password);
    free(st);
}

bool state_ready(const struct state *st)
{
    return st->cmd.ready;
}

const char *state_prefix(const struct state *st)
{
    return st->prefix;
}

const struct state_conf *state_conf(const struct state *st)
{
    return st->conf;
}

size_t state_unique_id(struct state *st, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s.%llx", st->id, ++st->seq);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* ---- requests ---- */

static void req_free(struct state_req *r)
{
    event_del(&r->timer);
    free(r->argv);
    free(r);
}

/* Calls the callback unless it ran or was cancelled; counts a failure toward the breaker. */
static void deliver(struct state_req *r, const redisReply *reply, const char *error)
{
    if (r->done)
        return;
    r->done = true;
    event_del(&r->timer);
    r->cb(r->arg, reply, error);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct state_req *r = arg;
    struct state *st = r->st;
    count_error(st, ERR_TIMEOUT);
    deliver(r, NULL, "timeout");
    /* r stays with hiredis until Redis answers or the link drops. */
    if (++st->failures >= STATE_BREAKER_FAILURES && st->cmd.ac) {
        log_warn("state: %u commands in a row failed: dropping the connection to Redis %s", st->failures,
                 st->conf->redis);
        st->failures = 0;
        link_drop(&st->cmd);
    }
}

static int send_req(struct state_req *r, int argc, const char **argv, const size_t *argvlen);

static void on_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    (void)ac;
    struct state_req *r = privdata;
    struct state *st = r->st;
    const redisReply *reply = reply_;
    r->in_redis = false;
    if (!reply) {
        if (!st->freeing) {
            count_error(st, ERR_CONNECTION);
            deliver(r, NULL, "connection to Redis lost");
        }
        req_free(r);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR && r->script && !r->done && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        /* Redis lost its scripts (restart, SCRIPT FLUSH): loaded again for
         * the calls to come, and the whole script this once. */
        load_script(st, r->script);
        const char *verb = r->argv[0];
        size_t verblen = r->argvlen[0];
        const char *sha = r->argv[1];
        size_t shalen = r->argvlen[1];
        r->argv[0] = "EVAL";
        r->argvlen[0] = 4;
        r->argv[1] = r->script->src;
        r->argvlen[1] = r->script->len;
        int rc = send_req(r, r->argc, r->argv, r->argvlen);
        r->argv[0] = verb, r->argvlen[0] = verblen, r->argv[1] = sha, r->argvlen[1] = shalen;
        if (rc == 0)
            return;
        deliver(r, NULL, "connection to Redis lost");
        req_free(r);
        return;
    }
    if (!r->done) {
        count_latency(st->health, now_seconds() - r->sent);
        st->failures = 0;
        if (reply->type == REDIS_REPLY_ERROR)
            count_error(st, ERR_REPLY);
    }
    deliver(r, reply, NULL);
    req_free(r);
}

static int send_req(struct state_req *r, int argc, const char **argv, const size_t *argvlen)
{
    if (redisAsyncCommandArgv(r->st->cmd.ac, on_reply, r, argc, argv, argvlen) != REDIS_OK)
        return -1;
    r->in_redis = true;
    return 0;
}

static struct state_req *req_new(struct state *st, state_reply_fn cb, void *arg, int argc, const size_t *argvlen)
{
    size_t total = 0;
    for (int i = 0; i < argc; i++) {
        if (argvlen[i] > STATE_MAX_ARG_BYTES)
            return NULL;
        total += argvlen[i];
    }
    if (!st->cmd.ready || total > 16 * (size_t)STATE_MAX_ARG_BYTES) {
        count_error(st, ERR_UNAVAILABLE);
        return NULL;
    }
    struct state_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->st = st;
    r->cb = cb;
    r->arg = arg;
    r->sent = now_seconds();
    evtimer_assign(&r->timer, st->base, on_timeout, r);
    return r;
}

struct state_req *state_command(struct state *st, state_reply_fn cb, void *arg, int argc, const char **argv,
                                const size_t *argvlen)
{
    struct state_req *r = req_new(st, cb, arg, argc, argvlen);
    if (!r)
        return NULL;
    if (send_req(r, argc, argv, argvlen) < 0) {
        count_error(st, ERR_UNAVAILABLE);
        free(r);
        return NULL;
    }
    evtimer_add(&r->timer, st->tv_timeout);
    return r;
}

static const struct script *find_script(struct state *st, const char *src)
{
    for (size_t i = 0; i < st->nscripts; i++)
        if (st->scripts[i].src == src)
            return &st->scripts[i];
    if (st->nscripts == MAX_SCRIPTS)
        return NULL;
    struct script *s = &st->scripts[st->nscripts++];
    s->src = src;
    s->len = strlen(src);
    sha1_hex(src, s->len, s->sha);
    /* Loaded now for this connection; link_connect loads it on the next ones. */
    if (st->cmd.ready)
        load_script(st, s);
    return s;
}

struct state_req *state_script(struct state *st, const char *src, state_reply_fn cb, void *arg, int nkeys, int argc,
                               const char **argv, const size_t *argvlen)
{
    const struct script *s = find_script(st, src);
    if (!s || argc < 0 || argc > 1000)
        return NULL;
    struct state_req *r = req_new(st, cb, arg, argc, argvlen);
    if (!r)
        return NULL;
    /* EVALSHA sha nkeys args...: kept, for an EVAL after NOSCRIPT. */
    int n = argc + 3;
    char num[16];
    int numlen = snprintf(num, sizeof num, "%d", nkeys);
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += argvlen[i];
    r->argc = n;
    r->argv = malloc((size_t)n * (sizeof *r->argv + sizeof *r->argvlen) + bytes + (size_t)numlen + 1);
    if (!r->argv) {
        free(r);
        return NULL;
    }
    r->argvlen = (size_t *)(r->argv + n);
    char *p = (char *)(r->argvlen + n);
    r->script = s;
    r->argv[0] = "EVALSHA", r->argvlen[0] = 7;
    r->argv[1] = s->sha, r->argvlen[1] = 40;
    memcpy(p, num, (size_t)numlen + 1);
    r->argv[2] = p, r->argvlen[2] = (size_t)numlen;
    p += numlen + 1;
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], argvlen[i]);
        r->argv[3 + i] = p;
        r->argvlen[3 + i] = argvlen[i];
        p += argvlen[i];
    }
    if (send_req(r, n, r->argv, r->argvlen) < 0) {
        count_error(st, ERR_UNAVAILABLE);
        free(r->argv);
        free(r);
        return NULL;
    }
    evtimer_add(&r->timer, st->tv_timeout);
    return r;
}

void state_cancel(struct state_req *r)
{
    if (!r)
        return;
    r->done = true;
    event_del(&r->timer);
}

/* ---- the generic API ---- */

struct state_req *state_get(struct state *st, const char *key, state_reply_fn cb, void *arg)
{
    const char *argv[] = {"GET", key};
    size_t argvlen[] = {3, strlen(key)};
    return state_command(st, cb, arg, 2, argv, argvlen);
}

struct state_req *state_set(struct state *st, const char *key, const char *value, size_t value_len,
                            unsigned long long ttl_ms, bool nx, state_reply_fn cb, void *arg)
{
    char ttl[24];
    const char *argv[6] = {"SET", key, value};
    size_t argvlen[6] = {3, strlen(key), value_len};
    int argc = 3;
    if (ttl_ms) {
        argv[argc] = "PX", argvlen[argc++] = 2;
        argvlen[argc] = (size_t)snprintf(ttl, sizeof ttl, "%llu", ttl_ms);
        argv[argc++] = ttl;
    }
    if (nx)
        argv[argc] = "NX", argvlen[argc++] = 2;
    return state_command(st, cb, arg, argc, argv, argvlen);
}

static const char take_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

struct state_req *state_take(struct state *st, const char *key, const char *value, size_t value_len, state_reply_fn cb,
                             void *arg)
{
    const char *argv[] = {key, value};
    size_t argvlen[] = {strlen(key), value_len};
    return state_script(st, take_script, cb, arg, 1, 2, argv, argvlen);
}

struct state_req *state_publish(struct state *st, const char *channel, const char *msg, size_t len, state_reply_fn cb,
                                void *arg)
{
    const char *argv[] = {"PUBLISH", channel, msg};
    size_t argvlen[] = {7, strlen(channel), len};
    return state_command(st, cb, arg, 3, argv, argvlen);
}

static void on_sub_message(redisAsyncContext *ac, void *reply_, void *privdata)
{
    (void)ac;
    struct subscription *s = privdata;
    const redisReply *r = reply_;
    if (!r || s->st->freeing || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return;
    /* hiredis keeps one callback per channel: every subscriber of it hears the message. */
    struct state *st = s->st;
    for (size_t i = 0; i < st->nsubs; i++)
        if (strcmp(st->subs[i].channel, s->channel) == 0)
            st->subs[i].on_message(st->subs[i].arg, r->element[2]->str, r->element[2]->len);
}

/* A channel is subscribed once, for its first subscription: a second
 * SUBSCRIBE would replace hiredis's callback for it (on_sub_message fans out). */
static void subscribe_one(struct link *l, struct subscription *s)
{
    for (const struct subscription *o = l->st->subs; o < s; o++)
        if (strcmp(o->channel, s->channel) == 0)
            return;
    const char *argv[] = {"SUBSCRIBE", s->channel};
    size_t argvlen[] = {9, strlen(s->channel)};
    redisAsyncCommandArgv(l->ac, on_sub_message, s, 2, argv, argvlen);
}

int state_subscribe(struct state *st, const char *channel, state_message_fn on_message, void *arg)
{
    if (st->nsubs == STATE_MAX_SUBSCRIPTIONS || strlen(channel) > STATE_MAX_ARG_BYTES)
        return -1;
    struct subscription *s = &st->subs[st->nsubs];
    if (!(s->channel = strdup(channel)))
        return -1;
    s->st = st;
    s->on_message = on_message;
    s->arg = arg;
    st->nsubs++;
    if (st->sub.ready)
        subscribe_one(&st->sub, s);
    else if (!st->sub.ac && !evtimer_pending(st->sub.retry, NULL))
        link_connect(&st->sub);
    return 0;
}
