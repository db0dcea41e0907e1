#include "state_shared.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "log.h"
#include "sharedstore.h"
#include "state.h"

#define DRAIN_MS 10

/* One change waiting to be sent: the key, then a string value's bytes. */
struct op {
    struct op *next;
    bool incr;
    long long delta;
    struct shared_value v; /* v.s points into data */
    double ttl;
    size_t klen;
    size_t cost;
    char data[];
};

struct state_shared {
    struct state *st;
    struct shared_store *store;
    struct event *drain;
    pthread_mutex_t lock; /* the journal: any worker writes, the drain reads */
    struct op *head, *tail;
    size_t bytes;
    unsigned long dropped; /* changes not replicated: the journal was full */
    char channel[300];
    char self[48]; /* this warden's id in messages */
    size_t self_len;
};

/* SET or DEL, then tell the others. KEYS[1]; ARGV: encoded value ("" to
 * delete), ttl ms (0: none), channel, message. */
static const char set_script[] =
    "if ARGV[1] == '' then redis.call('DEL', KEYS[1])\n"
    "elseif tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "else redis.call('SET', KEYS[1], ARGV[1]) end\n"
    "redis.call('PUBLISH', ARGV[3], ARGV[4]) return 1\n";
/* INCRBY, the expiry of a new counter, tell the others; the total back. */
static const char incr_script[] =
    "local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "if tonumber(ARGV[2]) > 0 and redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "redis.call('PUBLISH', ARGV[3], ARGV[4])\n"
    "return {v, redis.call('PTTL', KEYS[1]), KEYS[1], 'i'}\n";
/* What another warden changed: value, ttl, key, and the kind of change. */
static const char read_script[] =
    "return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), KEYS[1], ARGV[1]}\n";

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Values in Redis: an integer as its digits (so that INCRBY works on it),
 * others as a type letter, ':' and the value. */
static size_t encode(const struct shared_value *v, char *buf, size_t cap, const char **out)
{
    int n = 0;
    switch (v->type) {
    case SHARED_INT: n = snprintf(buf, cap, "%lld", v->i); break;
    case SHARED_BOOL: n = snprintf(buf, cap, "b:%d", v->b ? 1 : 0); break;
    case SHARED_FLOAT: n = snprintf(buf, cap, "d:%.17g", v->d); break;
    case SHARED_STRING:
        *out = NULL; /* built by the caller: "s:" and the bytes */
        return 0;
    case SHARED_NIL: n = 0; break;
    }
    *out = buf;
    return n < 0 ? 0 : (size_t)n;
}

static bool decode(const char *s, size_t len, struct shared_value *v)
{
    memset(v, 0, sizeof *v);
    char buf[64];
    if (len >= 2 && s[1] == ':') {
        if (s[0] == 's') {
            v->type = SHARED_STRING;
            v->s = s + 2;
            v->len = len - 2;
            return true;
        }
        if (len - 2 >= sizeof buf)
            return false;
        memcpy(buf, s + 2, len - 2);
        buf[len - 2] = '\0';
        char *end;
        if (s[0] == 'b') {
            v->type = SHARED_BOOL;
            v->b = buf[0] == '1';
            return true;
        }
        if (s[0] == 'd') {
            v->type = SHARED_FLOAT;
            v->d = strtod(buf, &end);
            return *end == '\0';
        }
        return false;
    }
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    v->type = SHARED_INT;
    v->i = strtoll(buf, &end, 10);
    return *end == '\0';
}

/* The journal: on the thread of the Lua policy that made the change. */
static void on_change(void *arg, const char *key, size_t klen, const struct shared_value *v, long long delta,
                      double ttl)
{
    struct state_shared *ss = arg;
    size_t slen = v && v->type == SHARED_STRING ? v->len : 0;
    size_t cost = sizeof(struct op) + klen + slen + 32;
    pthread_mutex_lock(&ss->lock);
    bool room = ss->bytes + cost <= STATE_SHARED_JOURNAL_BYTES;
    if (room)
        ss->bytes += cost;
    else
        ss->dropped++;
    pthread_mutex_unlock(&ss->lock);
    if (!room)
        return;
    struct op *op = malloc(sizeof *op + klen + slen);
    if (!op) {
        pthread_mutex_lock(&ss->lock);
        ss->bytes -= cost;
        ss->dropped++;
        pthread_mutex_unlock(&ss->lock);
        return;
    }
    memset(op, 0, sizeof *op);
    op->incr = v == NULL;
    op->delta = delta;
    op->ttl = ttl;
    op->klen = klen;
    op->cost = cost;
    memcpy(op->data, key, klen);
    if (v) {
        op->v = *v;
        if (slen)
            memcpy(op->data + klen, v->s, slen);
        op->v.s = op->data + klen;
    }
    pthread_mutex_lock(&ss->lock);
    if (ss->tail)
        ss->tail->next = op;
    else
        ss->head = op;
    ss->tail = op;
    pthread_mutex_unlock(&ss->lock);
}

/* Stores what Redis holds for a key another warden (or this one's incr) changed. */
static void on_value(void *arg, const redisReply *r, const char *error)
{
    struct state_shared *ss = arg;
    if (error || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 4 || r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->type != REDIS_REPLY_STRING || r->element[3]->type != REDIS_REPLY_STRING)
        return;
    const char *prefix = state_prefix(ss->st);
    size_t plen = strlen(prefix) + 3;
    const redisReply *key = r->element[2];
    if (key->len < plen)
        return;
    long long pttl = r->element[1]->integer;
    double ttl = pttl > 0 ? (double)pttl / 1000 : 0;
    bool counter = r->element[3]->str[0] == 'i';
    struct shared_value v = {.type = SHARED_NIL};
    const redisReply *val = r->element[0];
    if (val->type == REDIS_REPLY_INTEGER) {
        v.type = SHARED_INT;
        v.i = val->integer;
    } else if (val->type == REDIS_REPLY_STRING) {
        if (!decode(val->str, val->len, &v))
            return;
    } else if (val->type != REDIS_REPLY_NIL) {
        return;
    }
    if (shared_store_apply(ss->store, key->str + plen, key->len - plen, &v, ttl, now_seconds(), counter) != 0)
        log_debug("warden.shared: a value from another warden does not fit this one's store");
}

static void on_message(void *arg, const char *msg, size_t len)
{
    struct state_shared *ss = arg;
    /* "<warden id> <kind><key>"; our own changes are already here */
    if (!msg || len < ss->self_len + 2 || memcmp(msg, ss->self, ss->self_len) == 0)
        return;
    const char *sp = memchr(msg, ' ', len);
    if (!sp || (size_t)(sp - msg) + 2 > len)
        return;
    const char *kind = sp + 1;
    const char *key = kind + 1;
    size_t klen = len - (size_t)(key - msg);
    const char *prefix = state_prefix(ss->st);
    size_t plen = strlen(prefix);
    char *rkey = malloc(plen + 3 + klen + 1);
    if (!rkey)
        return;
    memcpy(rkey, prefix, plen);
    memcpy(rkey + plen, "sh:", 3);
    memcpy(rkey + plen + 3, key, klen);
    const char *argv[] = {rkey, kind};
    size_t argvlen[] = {plen + 3 + klen, 1};
    state_script(ss->st, read_script, on_value, ss, 1, 2, argv, argvlen);
    free(rkey);
}

static void on_sent(void *arg, const redisReply *r, const char *error)
{
    (void)arg, (void)r;
    if (error)
        log_debug("warden.shared: a change was not replicated: %s", error);
}

/* Sends one change; false when the state cannot take it now (kept for later). */
static bool send_op(struct state_shared *ss, const struct op *op)
{
    const char *prefix = state_prefix(ss->st);
    size_t plen = strlen(prefix);
    size_t rlen = plen + 3 + op->klen;
    size_t mlen = ss->self_len + 2 + op->klen;
    size_t vcap = op->v.type == SHARED_STRING ? op->v.len + 2 : 64;
    char *buf = malloc(rlen + mlen + vcap);
    if (!buf)
        return false;
    char *rkey = buf, *m = buf + rlen, *val = m + mlen;
    memcpy(rkey, prefix, plen);
    memcpy(rkey + plen, "sh:", 3);
    memcpy(rkey + plen + 3, op->data, op->klen);
    memcpy(m, ss->self, ss->self_len);
    m[ss->self_len] = ' ';
    m[ss->self_len + 1] = op->incr ? 'i' : 's';
    memcpy(m + ss->self_len + 2, op->data, op->klen);
    char ttl[32], delta[32];
    size_t ttllen =
        (size_t)snprintf(ttl, sizeof ttl, "%.0f", op->ttl > 0 ? op->ttl * 1000 < 1 ? 1 : op->ttl * 1000 : 0);
    struct state_req *r;
    if (op->incr) {
        size_t dlen = (size_t)snprintf(delta, sizeof delta, "%lld", op->delta);
        const char *argv[] = {rkey, delta, ttl, ss->channel, m};
        size_t argvlen[] = {rlen, dlen, ttllen, strlen(ss->channel), mlen};
        r = state_script(ss->st, incr_script, on_value, ss, 1, 5, argv, argvlen);
    } else {
        const char *enc;
        size_t elen = encode(&op->v, val, vcap, &enc);
        if (op->v.type == SHARED_STRING) {
            val[0] = 's', val[1] = ':';
            memcpy(val + 2, op->v.s, op->v.len);
            enc = val;
            elen = op->v.len + 2;
        }
        const char *argv[] = {rkey, enc, ttl, ss->channel, m};
        size_t argvlen[] = {rlen, elen, ttllen, strlen(ss->channel), mlen};
        r = state_script(ss->st, set_script, on_sent, ss, 1, 5, argv, argvlen);
    }
    free(buf);
    return r != NULL;
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct state_shared *ss = arg;
    if (!state_ready(ss->st))
        return;
    pthread_mutex_lock(&ss->lock);
    struct op *list = ss->head;
    ss->head = ss->tail = NULL;
    unsigned long dropped = ss->dropped;
    ss->dropped = 0;
    pthread_mutex_unlock(&ss->lock);
    if (dropped)
        log_warn("warden.shared: %lu change(s) not replicated to other wardens: the journal was full", dropped);
    size_t freed = 0;
    while (list) {
        struct op *op = list;
        if (!send_op(ss, op))
            break; /* the link went down: the rest waits for the next drain */
        list = op->next;
        freed += op->cost;
        free(op);
    }
    pthread_mutex_lock(&ss->lock);
    ss->bytes -= freed;
    if (list) {
        struct op *last = list;
        while (last->next)
            last = last->next;
        last->next = ss->head;
        if (!ss->head)
            ss->tail = last;
        ss->head = list;
    }
    pthread_mutex_unlock(&ss->lock);
}

struct state_shared *state_shared_new(struct event_base *base, struct state *st, struct shared_store *store)
{
    struct state_shared *ss = calloc(1, sizeof *ss);
    if (!ss)
        return NULL;
    ss->st = st;
    ss->store = store;
    snprintf(ss->channel, sizeof ss->channel, "%sshared", state_prefix(st));
    char id[64];
    state_unique_id(st, id, sizeof id);
    ss->self_len = (size_t)snprintf(ss->self, sizeof ss->self, "%s", id);
    if (pthread_mutex_init(&ss->lock, NULL) != 0) {
        free(ss);
        return NULL;
    }
    struct timeval tv = {0, DRAIN_MS * 1000};
    if (!(ss->drain = event_new(base, -1, EV_PERSIST, on_drain, ss)) || event_add(ss->drain, &tv) < 0 ||
        state_subscribe(st, ss->channel, on_message, ss) < 0) {
        state_shared_free(ss);
        return NULL;
    }
    shared_store_set_journal(store, on_change, ss);
    return ss;
}

void state_shared_free(struct state_shared *ss)
{
    if (!ss)
        return;
    if (ss->store)
        shared_store_set_journal(ss->store, NULL, NULL);
    if (ss->drain)
        event_free(ss->drain);
    while (ss->head) {
        struct op *op = ss->head;
        ss->head = op->next;
        free(op);
    }
    pthread_mutex_destroy(&ss->lock);
    free(ss);
}
