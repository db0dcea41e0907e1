#include "sharedstore.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define BUCKETS 4096u

struct entry {
    struct entry *next;
    double expires;          /* 0: never */
    struct shared_value v;   /* string owned by the entry */
    size_t klen;
    char key[];
};

struct shared_store {
    pthread_mutex_t lock;
    uint32_t seed;           /* random: keys may carry what agents send */
    struct entry *buckets[BUCKETS];
    size_t nkeys;
};

struct shared_store *shared_store_new(void)
{
    struct shared_store *s = calloc(1, sizeof *s);
    if (s && pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    if (s && getrandom(&s->seed, sizeof s->seed, 0) != (ssize_t)sizeof s->seed)
        s->seed = (uint32_t)(uintptr_t)s;
    return s;
}

static void entry_free(struct entry *e)
{
    free(e->v.string);
    free(e);
}

void shared_store_free(struct shared_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        struct entry *e = s->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            entry_free(e);
        }
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static uint32_t hash(uint32_t seed, const char *k, size_t n)
{
    uint32_t h = 2166136261u ^ seed;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h;
}

/* Finds a key, dropping it if it has expired. */
static struct entry **find(struct shared_store *s, const char *key, size_t klen, double now)
{
    struct entry **pe = &s->buckets[hash(s->seed, key, klen) % BUCKETS];
    for (; *pe; pe = &(*pe)->next) {
        struct entry *e = *pe;
        if (e->klen == klen && memcmp(e->key, key, klen) == 0) {
            if (e->expires > 0 && e->expires <= now) {
                *pe = e->next;
                entry_free(e);
                s->nkeys--;
                return pe;
            }
            return pe;
        }
    }
    return pe;
}

/* Frees expired keys when the store is full. */
static void sweep(struct shared_store *s, double now)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        struct entry **pe = &s->buckets[i];
        while (*pe) {
            struct entry *e = *pe;
            if (e->expires > 0 && e->expires <= now) {
                *pe = e->next;
                entry_free(e);
                s->nkeys--;
            } else {
                pe = &e->next;
            }
        }
    }
}

bool shared_get(struct shared_store *s, const char *key, size_t klen, double now, struct shared_value *out)
{
    pthread_mutex_lock(&s->lock);
    struct entry *e = *find(s, key, klen, now);
    bool found = e != NULL;
    if (found) {
        *out = e->v;
        out->string = NULL;
        if (e->v.is_string && (out->string = malloc(e->v.len + 1))) {
            memcpy(out->string, e->v.string, e->v.len);
            out->string[e->v.len] = '\0';
        } else if (e->v.is_string) {
            found = false;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* The entry for key, created (as number 0) when absent; NULL when full. */
static struct entry *get_or_add(struct shared_store *s, const char *key, size_t klen, double ttl, double now,
                                bool *created)
{
    struct entry **pe = find(s, key, klen, now);
    *created = false;
    if (*pe)
        return *pe;
    if (s->nkeys >= SHARED_MAX_KEYS) {
        sweep(s, now);
        if (s->nkeys >= SHARED_MAX_KEYS)
            return NULL;
        pe = find(s, key, klen, now);
    }
    struct entry *e = calloc(1, sizeof *e + klen);
    if (!e)
        return NULL;
    e->klen = klen;
    memcpy(e->key, key, klen);
    e->expires = ttl > 0 ? now + ttl : 0;
    e->next = NULL;
    *pe = e;
    s->nkeys++;
    *created = true;
    return e;
}

int shared_set(struct shared_store *s, const char *key, size_t klen, const struct shared_value *v, double ttl,
               double now)
{
    if (klen == 0 || klen > SHARED_MAX_KEY || (v->is_string && v->len > SHARED_MAX_VALUE))
        return -1;
    char *copy = NULL;
    if (v->is_string) {
        if (!(copy = malloc(v->len + 1)))
            return -1;
        memcpy(copy, v->string, v->len);
        copy[v->len] = '\0';
    }
    pthread_mutex_lock(&s->lock);
    bool created;
    struct entry *e = get_or_add(s, key, klen, ttl, now, &created);
    if (e) {
        free(e->v.string);
        e->v = *v;
        e->v.string = copy;
        e->expires = ttl > 0 ? now + ttl : 0;
    }
    pthread_mutex_unlock(&s->lock);
    if (!e)
        free(copy);
    return e ? 0 : -1;
}

int shared_incr(struct shared_store *s, const char *key, size_t klen, double delta, double ttl, double now,
                double *result)
{
    if (klen == 0 || klen > SHARED_MAX_KEY)
        return -1;
    pthread_mutex_lock(&s->lock);
    bool created;
    struct entry *e = get_or_add(s, key, klen, ttl, now, &created);
    int rc = -1;
    if (e && !e->v.is_string) {
        e->v.is_bool = false;
        e->v.number += delta;
        *result = e->v.number;
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}
