#include "approval_elicit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <hiredis/hiredis.h>
#include "config-t.h"
#include "jsonrpc.h"
#include "log.h"
#include "siphash.h"
#include "state.h"

#define BUCKETS 1024   /* a power of two */
#define MAX_ID 255
#define STATE_PREFIX "wd1."
#define MAC_B64 43 /* base64url of 32 bytes, unpadded */

/* main.c hands the config's key to elicit_state_key_set as it is. */
_Static_assert(ELICIT_KEY_MIN == REQUEST_STATE_KEY_MIN && ELICIT_KEY_MAX == REQUEST_STATE_KEY_MAX,
               "the config reads keys of the lengths elicit_state_key_set takes");

/* A notice for the GET streams of one session: its elicitation is complete. */
struct notice {
    char session[MAX_ID + 1];
    size_t len;
    char id[APPROVAL_ID_LEN + 1];
    struct notice *next;
};

/* One approval a worker watches for the session it sent there. */
struct watch {
    struct approval_waiter waiter; /* waiter.wake: on the worker's loop */
    struct post *post;
    char session[MAX_ID + 1];
    size_t len;
    char id[APPROVAL_ID_LEN + 1];
    struct watch *prev, *next;     /* the worker's, oldest first */
};

/* One worker's part. inbox and its count are under the table's lock; the
 * watches only ever touched on the worker's own loop. */
struct post {
    struct elicit_sessions *s;
    struct event *deliver;
    elicit_deliver_fn fn;
    void *arg;
    struct notice *inbox, *inbox_last;
    size_t ninbox;
    struct approval_store *store; /* of the watches */
    struct watch *oldest, *newest;
    size_t nwatches;
};

struct entry {
    char id[MAX_ID + 1];
    size_t len;
    struct entry *chain;          /* in its bucket */
    struct entry *next;           /* noted after this one */
};

/* Reading the requestState key shared in Redis, on one worker's loop. */
struct key_share {
    struct elicit_sessions *s;
    struct state *st;
    struct event *timer;   /* the next read */
    struct state_req *req; /* the read in flight, or NULL */
    unsigned failures;     /* reads in a row that failed while no key is known */
    bool warned;           /* that failure is logged once until a read succeeds */
};

struct elicit_sessions {
    pthread_mutex_t lock;
    struct siphash_key key;
    /* requestState's HMAC key, under lock: workers sign and verify while the
     * Redis reader (share) may replace it. mac_len 0: not known yet, and no
     * state is made or checked. */
    unsigned char mac_key[ELICIT_KEY_MAX];
    size_t mac_len;
    struct key_share *share;
    struct entry *buckets[BUCKETS];
    struct entry *oldest, *newest;
    size_t n;
    struct post *posts; /* nposts, one per worker; fn NULL until attached */
    int nposts;
};

struct elicit_sessions *elicit_sessions_new(int nworkers)
{
    struct elicit_sessions *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->nposts = nworkers > 0 ? nworkers : 1;
    if (!(s->posts = calloc((size_t)s->nposts, sizeof *s->posts)) || siphash_key_random(&s->key) < 0 ||
        RAND_bytes(s->mac_key, ELICIT_KEY_MIN) != 1 || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s->posts);
        free(s);
        return NULL;
    }
    s->mac_len = ELICIT_KEY_MIN;
    for (int i = 0; i < s->nposts; i++)
        s->posts[i].s = s;
    return s;
}

static void watch_free(struct watch *w)
{
    struct post *p = w->post;
    /* After unwait the store never makes the wake active again. */
    if (p->store)
        approval_store_unwait(p->store, &w->waiter);
    if (w->prev)
        w->prev->next = w->next;
    else
        p->oldest = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        p->newest = w->prev;
    p->nwatches--;
    event_free(w->waiter.wake);
    free(w);
}

void elicit_sessions_free(struct elicit_sessions *s)
{
    if (!s)
        return;
    for (struct entry *e = s->oldest, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    for (int i = 0; i < s->nposts; i++) {
        struct post *p = &s->posts[i];
        while (p->oldest)
            watch_free(p->oldest);
        for (struct notice *n = p->inbox, *next; n; n = next) {
            next = n->next;
            free(n);
        }
        if (p->deliver)
            event_free(p->deliver);
    }
    free(s->posts);
    if (s->share) {
        if (s->share->req)
            state_cancel(s->share->req);
        event_free(s->share->timer);
        free(s->share);
    }
    OPENSSL_cleanse(s->mac_key, sizeof s->mac_key);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* --- telling the GET streams --- */

static void on_deliver(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct post *p = arg;
    pthread_mutex_lock(&p->s->lock);
    struct notice *n = p->inbox;
    p->inbox = p->inbox_last = NULL;
    p->ninbox = 0;
    pthread_mutex_unlock(&p->s->lock);
    for (struct notice *next; n; n = next) {
        next = n->next;
        p->fn(p->arg, n->session, n->len, n->id);
        free(n);
    }
}

int elicit_sessions_attach(struct elicit_sessions *s, int index, struct event_base *base, elicit_deliver_fn deliver,
                           void *arg)
{
    if (index < 0 || index >= s->nposts || s->posts[index].deliver)
        return -1;
    struct post *p = &s->posts[index];
    if (!(p->deliver = event_new(base, -1, 0, on_deliver, p)))
        return -1;
    p->fn = deliver;
    p->arg = arg;
    return 0;
}

/* Every attached worker gets a notice (from any thread). */
static void post_all(struct elicit_sessions *s, const char *session, size_t len, const char *id)
{
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->nposts; i++) {
        struct post *p = &s->posts[i];
        if (!p->deliver)
            continue;
        struct notice *n;
        if (p->ninbox >= ELICIT_MAX_NOTICES) {
            /* Full: the oldest notice is dropped, its entry reused. */
            n = p->inbox;
            p->inbox = n->next;
            if (!p->inbox)
                p->inbox_last = NULL;
            p->ninbox--;
        } else if (!(n = malloc(sizeof *n))) {
            continue;
        }
        memcpy(n->session, session, len);
        n->session[len] = '\0';
        n->len = len;
        snprintf(n->id, sizeof n->id, "%s", id);
        n->next = NULL;
        if (p->inbox_last)
            p->inbox_last->next = n;
        else
            p->inbox = n;
        p->inbox_last = n;
        p->ninbox++;
        event_active(p->deliver, EV_READ, 0);
    }
    pthread_mutex_unlock(&s->lock);
}

/* The watched approval was decided or expired (on the watching worker's loop). */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct watch *w = arg;
    post_all(w->post->s, w->session, w->len, w->id);
    watch_free(w);
}

void elicit_sessions_watch(struct elicit_sessions *s, int index, struct approval_store *store, const char *session,
                           size_t len, const char *id)
{
    if (index < 0 || index >= s->nposts || !s->posts[index].deliver || len == 0 || len > MAX_ID)
        return;
    struct post *p = &s->posts[index];
    p->store = store;
    for (struct watch *w = p->oldest; w; w = w->next)
        if (w->len == len && memcmp(w->session, session, len) == 0 && strcmp(w->id, id) == 0)
            return; /* a retry sent to the same approval */
    if (p->nwatches >= ELICIT_MAX_WATCHES)
        watch_free(p->oldest);
    struct watch *w = calloc(1, sizeof *w);
    if (!w)
        return;
    if (!(w->waiter.wake = event_new(event_get_base(p->deliver), -1, 0, on_watch, w))) {
        free(w);
        return;
    }
    w->post = p;
    memcpy(w->session, session, len);
    w->len = len;
    snprintf(w->id, sizeof w->id, "%s", id);
    w->prev = p->newest;
    if (p->newest)
        p->newest->next = w;
    else
        p->oldest = w;
    p->newest = w;
    p->nwatches++;
    if (store && approval_store_wait(store, id, &w->waiter) < 0)
        event_active(w->waiter.wake, EV_READ, 0); /* decided in between: tell now */
}

void elicit_sessions_decided(struct elicit_sessions *s, int index, const char *id, size_t len)
{
    if (index < 0 || index >= s->nposts)
        return;
    /* Told on its own loop (on_watch), which frees the watch. */
    for (struct watch *w = s->posts[index].oldest; w; w = w->next)
        if (strlen(w->id) == len && memcmp(w->id, id, len) == 0)
            event_active(w->waiter.wake, EV_READ, 0);
}

/* --- requestState (2026-07-28) --- */

bool elicit_modern_wanted(const cJSON *params)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
    const cJSON *caps = cJSON_IsObject(meta)
                            ? cJSON_GetObjectItemCaseSensitive(meta, "io.modelcontextprotocol/clientCapabilities")
                            : NULL;
    const cJSON *elicitation = cJSON_IsObject(caps) ? cJSON_GetObjectItemCaseSensitive(caps, "elicitation") : NULL;
    return cJSON_IsObject(elicitation) && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(elicitation, "url"));
}

static void put_field(struct sha256 *h, const void *p, size_t len)
{
    unsigned char be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    sha256_update(h, be, 8);
    sha256_update(h, p, len);
}

int elicit_call_digest(const char *principal, const char *server, const char *tool, const cJSON *args,
                       unsigned char out[SHA256_BYTES])
{
    struct evbuffer *canon = evbuffer_new();
    if (!canon)
        return -1;
    int rc = -1;
    if (args ? approval_canonical_json(args, canon) == 0 : evbuffer_add(canon, "{}", 2) == 0) {
        size_t alen = evbuffer_get_length(canon);
        const unsigned char *a = evbuffer_pullup(canon, -1);
        if (a || alen == 0) {
            struct sha256 h;
            sha256_init(&h);
            static const char tag[] = "warden-elicit-v1";
            put_field(&h, tag, sizeof tag - 1);
            put_field(&h, principal, strlen(principal));
            put_field(&h, server, strlen(server));
            put_field(&h, tool, strlen(tool));
            put_field(&h, a, alen);
            sha256_final(&h, out);
            rc = 0;
        }
    }
    evbuffer_free(canon);
    return rc;
}

static void b64url(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8 | in[i]) & 0xffff;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = digits[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = digits[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

/* The mac of (id, expiry text, digest) as base64url into out[MAC_B64 + 1];
 * -1 when no key is known yet. */
static int state_mac(struct elicit_sessions *s, const char *id, size_t id_len, const char *expiry, size_t exp_len,
                     const unsigned char digest[SHA256_BYTES], char out[MAC_B64 + 1])
{
    unsigned char key[ELICIT_KEY_MAX];
    pthread_mutex_lock(&s->lock);
    size_t key_len = s->mac_len;
    memcpy(key, s->mac_key, key_len);
    pthread_mutex_unlock(&s->lock);
    if (key_len == 0)
        return -1;
    unsigned char msg[8 + APPROVAL_ID_LEN + 1 + 24 + 1 + SHA256_BYTES];
    size_t n = 0;
    memcpy(msg + n, "wd1|", 4), n += 4;
    memcpy(msg + n, id, id_len), n += id_len;
    msg[n++] = '|';
    memcpy(msg + n, expiry, exp_len), n += exp_len;
    msg[n++] = '|';
    memcpy(msg + n, digest, SHA256_BYTES), n += SHA256_BYTES;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, msg, n, mac, &mac_len) || mac_len != 32)
        memset(mac, 0, sizeof mac); /* never matches a real mac */
    OPENSSL_cleanse(key, sizeof key);
    b64url(mac, 32, out);
    return 0;
}

int elicit_state_sign(struct elicit_sessions *s, const char *id, double expires, const unsigned char digest[SHA256_BYTES],
                      char out[ELICIT_STATE_MAX])
{
    char expiry[24], mac[MAC_B64 + 1];
    snprintf(expiry, sizeof expiry, "%lld", (long long)expires);
    if (state_mac(s, id, strlen(id), expiry, strlen(expiry), digest, mac) < 0)
        return -1;
    snprintf(out, ELICIT_STATE_MAX, STATE_PREFIX "%s.%s.%s", id, expiry, mac);
    return 0;
}

enum elicit_state_check elicit_state_verify(struct elicit_sessions *s, const char *state, size_t len,
                                            const unsigned char digest[SHA256_BYTES], double now,
                                            char id[APPROVAL_ID_LEN + 1])
{
    static const size_t plen = sizeof STATE_PREFIX - 1;
    if (len < plen || memcmp(state, STATE_PREFIX, plen) != 0)
        return ELICIT_STATE_FOREIGN;
    /* wd1.<id>.<expiry digits>.<mac>: anything else in warden's form is forged. */
    const char *p = state + plen, *end = state + len;
    const char *dot1 = memchr(p, '.', (size_t)(end - p));
    if (!dot1 || dot1 - p != APPROVAL_ID_LEN)
        return ELICIT_STATE_FORGED;
    const char *e = dot1 + 1;
    const char *dot2 = memchr(e, '.', (size_t)(end - e));
    if (!dot2 || dot2 == e || dot2 - e > 19)
        return ELICIT_STATE_FORGED;
    for (const char *q = e; q < dot2; q++)
        if (*q < '0' || *q > '9')
            return ELICIT_STATE_FORGED;
    const char *m = dot2 + 1;
    if (end - m != MAC_B64)
        return ELICIT_STATE_FORGED;
    char want[MAC_B64 + 1];
    if (state_mac(s, p, APPROVAL_ID_LEN, e, (size_t)(dot2 - e), digest, want) < 0)
        return ELICIT_STATE_NO_KEY;
    if (CRYPTO_memcmp(want, m, MAC_B64) != 0)
        return ELICIT_STATE_FORGED;
    char expiry[20];
    memcpy(expiry, e, (size_t)(dot2 - e));
    expiry[dot2 - e] = '\0';
    if ((double)strtoll(expiry, NULL, 10) <= now)
        return ELICIT_STATE_EXPIRED;
    memcpy(id, p, APPROVAL_ID_LEN);
    id[APPROVAL_ID_LEN] = '\0';
    return ELICIT_STATE_VALID;
}

void elicit_state_key_set(struct elicit_sessions *s, const unsigned char *key, size_t len)
{
    if (len < ELICIT_KEY_MIN || len > ELICIT_KEY_MAX)
        return;
    pthread_mutex_lock(&s->lock);
    OPENSSL_cleanse(s->mac_key, sizeof s->mac_key);
    memcpy(s->mac_key, key, len);
    s->mac_len = len;
    pthread_mutex_unlock(&s->lock);
}

/* --- the key shared in Redis --- */

/* Writes the key into Redis unless one is there, and answers the one there:
 * every warden ends up with the first one written. ARGV[1] is the reader's
 * candidate (its current key, so that a Redis that lost the key gets the
 * one the wardens already use back). KEYS: the key's key. */
static const char share_script[] = "redis.call('SET', KEYS[1], ARGV[1], 'NX')\n"
                                   "return redis.call('GET', KEYS[1])\n";

static void share_schedule(struct key_share *k, double seconds)
{
    struct timeval tv = {.tv_sec = (time_t)seconds, .tv_usec = (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    evtimer_add(k->timer, &tv);
}

/* A failed read: while no key is known, 2026-07-28 approvals are refused, and
 * the log says why (once until a read succeeds). */
static void share_failed(struct key_share *k, const char *why)
{
    pthread_mutex_lock(&k->s->lock);
    bool known = k->s->mac_len > 0;
    pthread_mutex_unlock(&k->s->lock);
    if (known) {
        log_debug("approvals: the requestState key was not read again from Redis (%s); the one read before stays", why);
        share_schedule(k, ELICIT_KEY_REFRESH_SECONDS);
        return;
    }
    if (++k->failures >= ELICIT_KEY_WARN_AFTER && !k->warned) {
        log_warn("approvals: cannot read the requestState key shared in Redis (%s); approvals of 2026-07-28 clients "
                 "are answered pending until it is read, and retries carrying a requestState are refused",
                 why);
        k->warned = true;
    }
    share_schedule(k, ELICIT_KEY_RETRY_SECONDS);
}

static void on_share_reply(void *arg, const struct redisReply *r, const char *error)
{
    struct key_share *k = arg;
    k->req = NULL;
    if (error || !r || r->type != REDIS_REPLY_STRING) {
        share_failed(k, error ? error : "unexpected reply");
        return;
    }
    size_t n = r->len / 2;
    bool hex = r->len % 2 == 0 && n >= ELICIT_KEY_MIN && n <= ELICIT_KEY_MAX;
    unsigned char key[ELICIT_KEY_MAX];
    for (size_t i = 0; hex && i < n; i++) {
        char pair[3] = {r->str[2 * i], r->str[2 * i + 1], '\0'};
        char *end;
        key[i] = (unsigned char)strtoul(pair, &end, 16);
        hex = end == pair + 2;
    }
    if (!hex) {
        /* Said every time it is read: wardens that knew the key before keep it, new ones have none. */
        OPENSSL_cleanse(key, sizeof key);
        pthread_mutex_lock(&k->s->lock);
        bool known = k->s->mac_len > 0;
        pthread_mutex_unlock(&k->s->lock);
        log_error("approvals: %sapr:statekey in Redis is not 32 to 64 bytes in hex; delete it and a warden writes a "
                  "new one (%s)",
                  state_prefix(k->st),
                  known ? "this warden keeps the key it read before"
                        : "until then 2026-07-28 approvals are answered pending and their retries refused");
        k->warned = true;
        share_schedule(k, known ? ELICIT_KEY_REFRESH_SECONDS : ELICIT_KEY_BAD_SECONDS);
        return;
    }
    pthread_mutex_lock(&k->s->lock);
    bool first = k->s->mac_len == 0;
    bool changed = !first && (k->s->mac_len != n || CRYPTO_memcmp(k->s->mac_key, key, n) != 0);
    OPENSSL_cleanse(k->s->mac_key, sizeof k->s->mac_key);
    memcpy(k->s->mac_key, key, n);
    k->s->mac_len = n;
    pthread_mutex_unlock(&k->s->lock);
    OPENSSL_cleanse(key, sizeof key);
    if (first)
        log_info("approvals: requestState is signed with the key shared in Redis: a retry may reach any warden");
    else if (changed)
        log_warn("approvals: the requestState key in Redis was replaced; states signed before are refused");
    k->failures = 0;
    k->warned = false;
    share_schedule(k, ELICIT_KEY_REFRESH_SECONDS);
}

static void on_share_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct key_share *k = arg;
    unsigned char candidate[ELICIT_KEY_MAX];
    pthread_mutex_lock(&k->s->lock);
    size_t n = k->s->mac_len;
    memcpy(candidate, k->s->mac_key, n);
    pthread_mutex_unlock(&k->s->lock);
    if (n == 0) {
        n = ELICIT_KEY_MIN;
        if (RAND_bytes(candidate, (int)n) != 1) {
            share_failed(k, "no random bytes for a new key");
            return;
        }
    }
    char hex[2 * ELICIT_KEY_MAX + 1], name[300];
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[candidate[i] >> 4];
        hex[2 * i + 1] = digits[candidate[i] & 15];
    }
    hex[2 * n] = '\0';
    OPENSSL_cleanse(candidate, sizeof candidate);
    snprintf(name, sizeof name, "%sapr:statekey", state_prefix(k->st));
    const char *argv[2] = {name, hex};
    size_t argvlen[2] = {strlen(name), 2 * n};
    k->req = state_script(k->st, share_script, on_share_reply, k, 1, 2, argv, argvlen);
    OPENSSL_cleanse(hex, sizeof hex);
    if (!k->req)
        share_failed(k, "Redis is not connected");
}

int elicit_state_key_share(struct elicit_sessions *s, struct state *st, struct event_base *base)
{
    if (s->share || !(s->share = calloc(1, sizeof *s->share)))
        return -1;
    s->share->s = s;
    s->share->st = st;
    if (!(s->share->timer = evtimer_new(base, on_share_timer, s->share))) {
        free(s->share);
        s->share = NULL;
        return -1;
    }
    /* Never this process's own key: a retry on another warden would fail without a word. */
    pthread_mutex_lock(&s->lock);
    OPENSSL_cleanse(s->mac_key, sizeof s->mac_key);
    s->mac_len = 0;
    pthread_mutex_unlock(&s->lock);
    share_schedule(s->share, 0);
    return 0;
}

bool elicit_wanted(const cJSON *params)
{
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(params, "protocolVersion");
    const cJSON *caps = cJSON_GetObjectItemCaseSensitive(params, "capabilities");
    const cJSON *elicitation = cJSON_GetObjectItemCaseSensitive(caps, "elicitation");
    return cJSON_IsString(version) && strcmp(version->valuestring, "2025-11-25") == 0 &&
           cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(elicitation, "url"));
}

static struct entry **slot(struct elicit_sessions *s, const char *id, size_t len)
{
    struct entry **p = &s->buckets[siphash(&s->key, id, len) & (BUCKETS - 1)];
    while (*p && ((*p)->len != len || memcmp((*p)->id, id, len) != 0))
        p = &(*p)->chain;
    return p;
}

void elicit_sessions_note(struct elicit_sessions *s, const char *id, size_t len)
{
    if (len == 0 || len > MAX_ID)
        return;
    pthread_mutex_lock(&s->lock);
    struct entry *e = NULL;
    if (!*slot(s, id, len)) {
        if (s->n >= ELICIT_MAX_SESSIONS) {
            /* Full: the session noted longest ago is forgotten, and its entry reused. */
            e = s->oldest;
            s->oldest = e->next;
            if (!s->oldest)
                s->newest = NULL;
            struct entry **p = slot(s, e->id, e->len);
            *p = e->chain;
            s->n--;
            memset(e, 0, sizeof *e);
        } else {
            e = calloc(1, sizeof *e);
        }
    }
    if (e) {
        memcpy(e->id, id, len);
        e->len = len;
        struct entry **p = slot(s, id, len);
        *p = e;
        if (s->newest)
            s->newest->next = e;
        else
            s->oldest = e;
        s->newest = e;
        s->n++;
    }
    pthread_mutex_unlock(&s->lock);
}

bool elicit_sessions_has(struct elicit_sessions *s, const char *id, size_t len)
{
    if (len == 0 || len > MAX_ID)
        return false;
    pthread_mutex_lock(&s->lock);
    bool found = *slot(s, id, len) != NULL;
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* --- the retry forwarded without warden's part --- */

#define STRIP_MAX_MEMBERS 64
enum { STRIP_ROOT = 1, STRIP_PARAMS, STRIP_MEMBER };

struct strip_scan {
    const char *params_start; /* its '{' */
    struct {
        const char *start, *end; /* the value */
        bool drop;
    } m[STRIP_MAX_MEMBERS];
    size_t n;
    bool next_drop, overflow;
};

static int strip_member(void *arg, int parent, const char *key, size_t klen, struct rpc_error *err)
{
    (void)err;
    struct strip_scan *st = arg;
    if (parent == STRIP_ROOT)
        return key && klen == 6 && memcmp(key, "params", 6) == 0 ? STRIP_PARAMS : 0;
    if (parent != STRIP_PARAMS)
        return 0;
    st->next_drop = key && ((klen == 12 && memcmp(key, "requestState", 12) == 0) ||
                            (klen == 14 && memcmp(key, "inputResponses", 14) == 0));
    return STRIP_MEMBER;
}

static int strip_value(void *arg, int ctx, const char *start, const char *end, struct rpc_error *err)
{
    (void)err, (void)end;
    struct strip_scan *st = arg;
    if (ctx == STRIP_PARAMS && *start == '{') {
        st->params_start = start;
    } else if (ctx == STRIP_MEMBER) {
        if (st->n >= STRIP_MAX_MEMBERS) {
            st->overflow = true;
            return 0;
        }
        st->m[st->n].start = start;
        st->m[st->n].end = end;
        st->m[st->n].drop = st->next_drop;
        st->n++;
    }
    return 0;
}

int elicit_strip_retry(char *body, size_t len, const struct rpc_limits *lim)
{
    struct strip_scan st = {0};
    struct rpc_error err;
    const struct json_watch watch = {strip_member, strip_value, &st};
    if (json_scan(body, len, lim, &watch, STRIP_ROOT, &err) < 0 || st.overflow || !st.params_start)
        return -1;
    /* Each member is the text after the previous one's value (or the '{'):
     * whitespace, a comma but for the first, then "key": value. */
    const char *prev = st.params_start + 1;
    bool kept_before = false;
    for (size_t i = 0; i < st.n; i++) {
        char *gap = body + (prev - body);
        const char *v = st.m[i].start;
        const char *key = prev;
        while (key < v && (*key == ' ' || *key == '\t' || *key == '\n' || *key == '\r' || *key == ','))
            key++;
        /* The comma before a member stays only between two that stay. */
        for (char *q = gap; q < body + (key - body); q++)
            if (*q == ',' && (st.m[i].drop || !kept_before))
                *q = ' ';
        if (st.m[i].drop)
            memset(body + (key - body), ' ', (size_t)(st.m[i].end - key));
        else
            kept_before = true;
        prev = st.m[i].end;
    }
    return 0;
}
