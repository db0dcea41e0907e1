#include "sharedstore.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    size_t klen;
    char key[];
};

/* A chained hash table under one mutex: calls are short and rare next to I/O. */
struct shared_store {
    pthread_mutex_t lock;
    struct shared_entry **buckets;
    size_t nbuckets;            /* a power of two */
    size_t count;
    size_t max_keys;
    size_t max_bytes;
};

/* FNV-1a: keys are short and chosen by policies, not by attackers directly. */
static size_t hash_key(const char *key, size_t klen)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < klen; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

/* See sharedstore.h; buckets are sized for max_keys up front, never rehashed. */
struct shared_store *shared_store_new(size_t max_keys, size_t max_bytes)
{
    if (max_keys == 0 || max_bytes == 0 || max_keys > SIZE_MAX / 4)
        return NULL;
    struct shared_store *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    size_t n = 16;
    while (n < max_keys)
        n *= 2;
    st->buckets = calloc(n, sizeof *st->buckets);
    if (!st->buckets || pthread_mutex_init(&st->lock, NULL) != 0) {
        free(st->buckets);
        free(st);
        return NULL;
    }
    st->nbuckets = n;
    st->max_keys = max_keys;
    st->max_bytes = max_bytes;
    return st;
}

/* Frees one entry and its string. */
static void entry_free(struct shared_entry *e)
{
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
            entry_free(e);
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
    return st->max_bytes;
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
    struct shared_entry **p = &st->buckets[hash_key(key, klen) & (st->nbuckets - 1)];
    while (*p) {
        struct shared_entry *e = *p;
        if (expired(e, now)) {
            *p = e->next;
            entry_free(e);
            st->count--;
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
 * sweep is the price of admitting a new key. */
static void sweep(struct shared_store *st, double now)
{
    for (size_t b = 0; b < st->nbuckets; b++) {
        struct shared_entry **p = &st->buckets[b];
        while (*p) {
            struct shared_entry *e = *p;
            if (expired(e, now)) {
                *p = e->next;
                entry_free(e);
                st->count--;
            } else {
                p = &e->next;
            }
        }
    }
}

/* Creates an empty entry for key (lock held), or NULL with *err set. */
static struct shared_entry *add_entry(struct shared_store *st, const char *key, size_t klen,
                                      double now, const char **err)
{
    if (st->count >= st->max_keys)
        sweep(st, now);
    if (st->count >= st->max_keys) {
        *err = "warden.shared is full";
        return NULL;
    }
    struct shared_entry *e = calloc(1, sizeof *e + klen);
    if (!e) {
        *err = "out of memory";
        return NULL;
    }
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->type = SHARED_NIL;
    size_t b = hash_key(key, klen) & (st->nbuckets - 1);
    e->next = st->buckets[b];
    st->buckets[b] = e;
    st->count++;
    return e;
}

/* See sharedstore.h; the copy into buf is what lets callers use the value unlocked. */
void shared_store_get(struct shared_store *st, const char *key, size_t klen, double now,
                      struct shared_value *out, char *buf)
{
    memset(out, 0, sizeof *out);
    out->type = SHARED_NIL;
    if (klen > st->max_bytes)
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

/* See sharedstore.h. */
int shared_store_set(struct shared_store *st, const char *key, size_t klen,
                     const struct shared_value *v, double ttl, double now, const char **err)
{
    if (klen > st->max_bytes) {
        *err = "warden.shared key too large";
        return -1;
    }
    if (v->type == SHARED_STRING && v->len > st->max_bytes) {
        *err = "warden.shared value too large";
        return -1;
    }
    /* Copied before locking: other threads never wait on this malloc. */
    char *copy = NULL;
    if (v->type == SHARED_STRING) {
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
            entry_free(e);
            st->count--;
        }
    } else {
        if (!e)
            e = add_entry(st, key, klen, now, err);
        if (e) {
            free(e->s);
            e->s = copy;
            copy = NULL;
            e->slen = v->len;
            e->type = v->type;
            e->b = v->b;
            e->i = v->i;
            e->d = v->d;
            e->expires = expiry(ttl, now);
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
    if (klen > st->max_bytes) {
        *err = "warden.shared key too large";
        return -1;
    }
    pthread_mutex_lock(&st->lock);
    int rc = -1;
    struct shared_entry *e = find_entry(st, key, klen, now, NULL);
    if (!e) {
        e = add_entry(st, key, klen, now, err);
        if (e) {
            e->type = SHARED_INT;
            e->expires = expiry(ttl, now);
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
    return rc;
}
