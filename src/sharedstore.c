#include "sharedstore.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "siphash.h"

/* What malloc spends beyond the bytes asked for, at most (glibc: an 8-byte
 * header and rounding up to 16, so 23 for blocks below its mmap threshold). */
#define ALLOC_OVERHEAD 24

/* One key; the key's bytes follow the struct, a string value is its own allocation. */
struct shared_entry {
    struct shared_entry *next;
    double expires;             /* 0: never */
    enum shared_type type;
    bool b;
    long long i;
    double d;
    char *s;
    size_t slen;
    size_t cost;                /* what the entry counts against max_total, its string included */
    size_t klen;
    char key[];
};

/* A chained hash table under one mutex: calls are short and rare next to I/O. */
struct shared_store {
    pthread_mutex_t lock;
    struct siphash_key hash_key;    /* random: keys often hold what agents chose (session ids) */
    struct shared_entry **buckets;
    size_t nbuckets;            /* a power of two */
    size_t count;
    size_t used;                /* bytes counted against max_total */
    double next_expiry;         /* no live key expires before this (0: none may) */
    struct shared_limits lim;
    shared_journal_fn journal;  /* told of every change made by set and incr (state_shared.c), or NULL */
    void *journal_arg;
};

static size_t hash_key(const struct shared_store *st, const char *key, size_t klen)
{
    return (size_t)siphash(&st->hash_key, key, klen);
}

/* What an entry with this key and string value counts against max_total. */
static size_t entry_cost(size_t klen, bool has_string, size_t slen)
{
    return sizeof(struct shared_entry) + klen + ALLOC_OVERHEAD + (has_string ? (slen ? slen : 1) + ALLOC_OVERHEAD : 0);
}

/* See sharedstore.h; buckets are sized for max_keys up front, never rehashed. */
struct shared_store *shared_store_new(const struct shared_limits *lim)
{
    struct shared_limits l = lim ? *lim : (struct shared_limits){0};
    if (!l.max_keys)
        l.max_keys = SHARED_STORE_KEYS;
    if (!l.max_value)
        l.max_value = SHARED_STORE_VALUE;
    if (!l.max_total)
        l.max_total = SHARED_STORE_TOTAL;
    if (l.max_keys > SIZE_MAX / 4 / sizeof(struct shared_entry *))
        return NULL;
    size_t n = 16;
    while (n < l.max_keys)
        n *= 2;
    size_t base = sizeof(struct shared_store) + ALLOC_OVERHEAD + n * sizeof(struct shared_entry *) + ALLOC_OVERHEAD;
    if (base >= l.max_total)
        return NULL;
    struct shared_store *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->buckets = calloc(n, sizeof *st->buckets);
    if (!st->buckets || siphash_key_random(&st->hash_key) != 0 || pthread_mutex_init(&st->lock, NULL) != 0) {
        free(st->buckets);
        free(st);
        return NULL;
    }
    st->nbuckets = n;
    st->used = base;
    st->lim = l;
    return st;
}

/* Frees one entry and its string, and takes its bytes off the count (lock held). */
static void entry_free(struct shared_store *st, struct shared_entry *e)
{
    st->used -= e->cost;
    st->count--;
    free(e->s);
    free(e);
}

/* See sharedstore.h; no thread may still use st. */
void shared_store_free(struct shared_store *st)
{
    if (!st)
        return;
    for (size_t b = 0; b < st->nbuckets; b++) {
        struct shared_entry *e = st->buckets[b];
        while (e) {
            struct shared_entry *next = e->next;
            entry_free(st, e);
            e = next;
        }
    }
    free(st->buckets);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* See sharedstore.h. */
size_t shared_store_max_bytes(const struct shared_store *st)
{
    return st->lim.max_value;
}

/* See sharedstore.h. */
size_t shared_store_bytes(struct shared_store *st)
{
    pthread_mutex_lock(&st->lock);
    size_t used = st->used;
    pthread_mutex_unlock(&st->lock);
    return used;
}

/* True when e's time to live has run out at now. */
static bool expired(const struct shared_entry *e, double now)
{
    return e->expires != 0 && now >= e->expires;
}

/* Finds key's live entry (lock held); an expired one met on the way is
 * unlinked and freed so that dead keys never count against the bound.
 * *link receives the slot pointing at the result, for removal. */
static struct shared_entry *find_entry(struct shared_store *st, const char *key, size_t klen,
                                       double now, struct shared_entry ***link)
{
    struct shared_entry **p = &st->buckets[hash_key(st, key, klen) & (st->nbuckets - 1)];
    while (*p) {
        struct shared_entry *e = *p;
        if (expired(e, now)) {
            *p = e->next;
            entry_free(st, e);
            continue;
        }
        if (e->klen == klen && memcmp(e->key, key, klen) == 0) {
            if (link)
                *link = p;
            return e;
        }
        p = &e->next;
    }
    return NULL;
}

/* Drops every expired entry (lock held): the store is full, so an O(keys)
 * sweep is the price of admitting a new key or more bytes. */
static void sweep(struct shared_store *st, double now)
{
    /* Nothing can have expired yet: a full store refuses in O(1). */
    if (st->next_expiry == 0 || now < st->next_expiry)
        return;
    double next = 0;
    for (size_t b = 0; b < st->nbuckets; b++) {
        struct shared_entry **p = &st->buckets[b];
        while (*p) {
            struct shared_entry *e = *p;
            if (expired(e, now)) {
                *p = e->next;
                entry_free(st, e);
            } else {
                if (e->expires != 0 && (next == 0 || e->expires < next))
                    next = e->expires;
                p = &e->next;
            }
        }
    }
    st->next_expiry = next;
}

/* Sets e's expiry and keeps next_expiry a lower bound of every live one. */
static void set_expiry(struct shared_store *st, struct shared_entry *e, double expires)
{
    e->expires = expires;
    if (expires != 0 && (st->next_expiry == 0 || expires < st->next_expiry))
        st->next_expiry = expires;
}

/* True when `more` bytes (and a new key when new_key) fit, after dropping
 * expired keys if they do not at first (lock held). *err is set when not. */
static bool make_room(struct shared_store *st, size_t more, bool new_key, double now, const char **err)
{
    bool fits = st->used + more <= st->lim.max_total && (!new_key || st->count < st->lim.max_keys);
    if (!fits) {
        sweep(st, now);
        fits = st->used + more <= st->lim.max_total && (!new_key || st->count < st->lim.max_keys);
    }
    if (!fits)
        *err = "warden.shared is full";
    return fits;
}

/* Creates an empty entry for key (lock held) whose string will take slen
 * bytes (has_string), or NULL with *err set. */
static struct shared_entry *add_entry(struct shared_store *st, const char *key, size_t klen, bool has_string,
                                      size_t slen, double now, const char **err)
{
    size_t cost = entry_cost(klen, has_string, slen);
    if (!make_room(st, cost, true, now, err))
        return NULL;
    struct shared_entry *e = calloc(1, sizeof *e + klen);
    if (!e) {
        *err = "out of memory";
        return NULL;
    }
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->type = SHARED_NIL;
    e->cost = cost;
    size_t b = hash_key(st, key, klen) & (st->nbuckets - 1);
    e->next = st->buckets[b];
    st->buckets[b] = e;
    st->count++;
    st->used += cost;
    return e;
}

/* See sharedstore.h; the copy into buf is what lets callers use the value unlocked. */
void shared_store_get(struct shared_store *st, const char *key, size_t klen, double now,
                      struct shared_value *out, char *buf)
{
    memset(out, 0, sizeof *out);
    out->type = SHARED_NIL;
    if (klen > st->lim.max_value)
        return;
    pthread_mutex_lock(&st->lock);
    struct shared_entry *e = find_entry(st, key, klen, now, NULL);
    if (e) {
        out->type = e->type;
        out->b = e->b;
        out->i = e->i;
        out->d = e->d;
        if (e->type == SHARED_STRING) {
            memcpy(buf, e->s, e->slen);
            out->s = buf;
            out->len = e->slen;
        }
    }
    pthread_mutex_unlock(&st->lock);
}

/* Turns a ttl into an absolute expiry; 0 means never. */
static double expiry(double ttl, double now)
{
    return ttl > 0 ? now + ttl : 0;
}

static int store_set(struct shared_store *st, const char *key, size_t klen, const struct shared_value *v,
                     double ttl, double now, const char **err);

/* See sharedstore.h. */
int shared_store_set(struct shared_store *st, const char *key, size_t klen,
                     const struct shared_value *v, double ttl, double now, const char **err)
{
    int rc = store_set(st, key, klen, v, ttl, now, err);
    if (rc == 0 && st->journal)
        st->journal(st->journal_arg, key, klen, v, 0, ttl);
    return rc;
}

void shared_store_set_journal(struct shared_store *st, shared_journal_fn fn, void *arg)
{
    st->journal = fn;
    st->journal_arg = arg;
}

int shared_store_apply(struct shared_store *st, const char *key, size_t klen, const struct shared_value *v,
                       double ttl, double now, bool raise)
{
    if (raise && v->type == SHARED_INT) {
        pthread_mutex_lock(&st->lock);
        struct shared_entry *e = find_entry(st, key, klen, now, NULL);
        bool higher = e && e->type == SHARED_INT && e->i >= v->i;
        pthread_mutex_unlock(&st->lock);
        if (higher)
            return 0;
    }
    const char *err;
    return store_set(st, key, klen, v, ttl, now, &err);
}

static int store_set(struct shared_store *st, const char *key, size_t klen, const struct shared_value *v,
                     double ttl, double now, const char **err)
{
    if (klen > st->lim.max_value) {
        *err = "warden.shared key too large";
        return -1;
    }
    bool has_string = v->type == SHARED_STRING;
    if (has_string && v->len > st->lim.max_value) {
        *err = "warden.shared value too large";
        return -1;
    }
    /* Copied before locking: other threads never wait on this malloc. */
    char *copy = NULL;
    if (has_string) {
        copy = malloc(v->len ? v->len : 1);
        if (!copy) {
            *err = "out of memory";
            return -1;
        }
        memcpy(copy, v->s, v->len);
    }
    pthread_mutex_lock(&st->lock);
    struct shared_entry **link = NULL;
    struct shared_entry *e = find_entry(st, key, klen, now, &link);
    int rc = 0;
    if (v->type == SHARED_NIL) {
        if (e) {
            *link = e->next;
            entry_free(st, e);
        }
    } else {
        size_t cost = entry_cost(klen, has_string, v->len);
        if (e) {
            /* A replacement needs only what it adds; it fails whole, the old value kept. */
            if (cost > e->cost && !make_room(st, cost - e->cost, false, now, err))
                e = NULL;
            else
                st->used = st->used - e->cost + cost;
        } else {
            e = add_entry(st, key, klen, has_string, v->len, now, err);
        }
        if (e) {
            free(e->s);
            e->s = copy;
            copy = NULL;
            e->slen = v->len;
            e->cost = cost;
            e->type = v->type;
            e->b = v->b;
            e->i = v->i;
            e->d = v->d;
            set_expiry(st, e, expiry(ttl, now));
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&st->lock);
    free(copy);
    return rc;
}

/* See sharedstore.h; read, add and write under one lock so no count is lost. */
int shared_store_incr(struct shared_store *st, const char *key, size_t klen, long long delta,
                      double ttl, double now, long long *result, const char **err)
{
    if (klen > st->lim.max_value) {
        *err = "warden.shared key too large";
        return -1;
    }
    pthread_mutex_lock(&st->lock);
    int rc = -1;
    struct shared_entry *e = find_entry(st, key, klen, now, NULL);
    if (!e) {
        e = add_entry(st, key, klen, false, 0, now, err);
        if (e) {
            e->type = SHARED_INT;
            set_expiry(st, e, expiry(ttl, now));
        }
    }
    if (e) {
        if (e->type != SHARED_INT) {
            *err = "warden.shared value is not an integer";
        } else if (__builtin_add_overflow(e->i, delta, result)) {
            *err = "warden.shared integer overflow";
        } else {
            e->i = *result;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&st->lock);
    if (rc == 0 && st->journal)
        st->journal(st->journal_arg, key, klen, NULL, delta, ttl);
    return rc;
}
