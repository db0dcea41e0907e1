#include "ratelimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define BUCKETS (1u << 16)

/* One key's log: the times of its last `max` admissions, oldest first from head. */
struct rate_entry {
    struct rate_entry *next;
    uint64_t hash;
    double *times;
    unsigned max, head, count;
    double window;
    size_t key_len;
    char key[];
};

struct rate_store {
    pthread_mutex_t lock;
    uint64_t seed;           /* random: clients choose session ids, so they must not choose collisions */
    struct rate_entry *buckets[BUCKETS];
    size_t nkeys;
};

struct rate_store *rate_store_new(void)
{
    struct rate_store *rs = calloc(1, sizeof *rs);
    if (rs && pthread_mutex_init(&rs->lock, NULL) != 0) {
        free(rs);
        return NULL;
    }
    if (rs && getrandom(&rs->seed, sizeof rs->seed, 0) != (ssize_t)sizeof rs->seed)
        rs->seed = (uint64_t)(uintptr_t)rs ^ 0x9e3779b97f4a7c15ULL;
    return rs;
}

static void entry_free(struct rate_entry *e)
{
    free(e->times);
    free(e);
}

void rate_store_free(struct rate_store *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        struct rate_entry *e = rs->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            entry_free(e);
        }
    }
    pthread_mutex_destroy(&rs->lock);
    free(rs);
}

/* FNV-1a from a random basis, finished with a 64-bit mix so that every bit
 * of the key reaches the bucket index. */
static uint64_t hash_key(uint64_t seed, const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static struct rate_entry *find(struct rate_store *rs, const struct rate_check *c, uint64_t h)
{
    for (struct rate_entry *e = rs->buckets[h & (BUCKETS - 1)]; e; e = e->next)
        if (e->hash == h && e->key_len == c->key_len && memcmp(e->key, c->key, c->key_len) == 0)
            return e;
    return NULL;
}

/* Times are kept in a ring; this is the i-th oldest. */
static double time_at(const struct rate_entry *e, unsigned i)
{
    return e->times[(e->head + i) % e->max];
}

/* Drops keys whose every admission has left its window: they count nothing. */
static void sweep(struct rate_store *rs, double now)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        struct rate_entry **pe = &rs->buckets[i];
        while (*pe) {
            struct rate_entry *e = *pe;
            if (e->count == 0 || time_at(e, e->count - 1) <= now - e->window) {
                *pe = e->next;
                entry_free(e);
                rs->nkeys--;
            } else {
                pe = &e->next;
            }
        }
    }
}

/* A limit changed by a reload keeps the newest admissions that still fit. */
static int resize(struct rate_entry *e, unsigned max, double window)
{
    double *t = malloc(max * sizeof *t);
    if (!t)
        return -1;
    unsigned keep = e->count < max ? e->count : max;
    for (unsigned i = 0; i < keep; i++)
        t[i] = time_at(e, e->count - keep + i);
    free(e->times);
    e->times = t;
    e->max = max;
    e->head = 0;
    e->count = keep;
    e->window = window;
    return 0;
}

static struct rate_entry *get_or_add(struct rate_store *rs, const struct rate_check *c, double now)
{
    uint64_t h = hash_key(rs->seed, c->key, c->key_len);
    struct rate_entry *e = find(rs, c, h);
    if (e) {
        if ((e->max != c->max || e->window != c->window) && resize(e, c->max, c->window) < 0)
            return NULL;
        return e;
    }
    if (rs->nkeys >= RATE_STORE_MAX_KEYS) {
        sweep(rs, now);
        if (rs->nkeys >= RATE_STORE_MAX_KEYS)
            return NULL;
    }
    e = calloc(1, sizeof *e + c->key_len);
    if (!e || !(e->times = malloc(c->max * sizeof *e->times))) {
        free(e);
        return NULL;
    }
    e->hash = h;
    e->max = c->max;
    e->window = c->window;
    e->key_len = c->key_len;
    memcpy(e->key, c->key, c->key_len);
    e->next = rs->buckets[h & (BUCKETS - 1)];
    rs->buckets[h & (BUCKETS - 1)] = e;
    rs->nkeys++;
    return e;
}

/* Forgets admissions that have left the window. */
static void expire(struct rate_entry *e, double now)
{
    while (e->count && time_at(e, 0) <= now - e->window) {
        e->head = (e->head + 1) % e->max;
        e->count--;
    }
}

bool rate_admit(struct rate_store *rs, const struct rate_check *checks, size_t n, double now, size_t *refused,
                double *retry_after)
{
    struct rate_entry *stack[16];
    struct rate_entry **entries = n <= 16 ? stack : malloc(n * sizeof *entries);
    bool ok = entries != NULL;
    if (!ok) {
        *refused = n;
        *retry_after = 1;
        return false;
    }
    pthread_mutex_lock(&rs->lock);
    for (size_t i = 0; i < n && ok; i++) {
        entries[i] = get_or_add(rs, &checks[i], now);
        if (!entries[i]) {
            *refused = n;
            *retry_after = 1;
            ok = false;
            break;
        }
        expire(entries[i], now);
        if (entries[i]->count >= entries[i]->max) {
            *refused = i;
            *retry_after = time_at(entries[i], 0) + entries[i]->window - now;
            ok = false;
        }
    }
    if (ok) {
        for (size_t i = 0; i < n; i++) {
            struct rate_entry *e = entries[i];
            e->times[(e->head + e->count) % e->max] = now;
            e->count++;
        }
    }
    pthread_mutex_unlock(&rs->lock);
    if (entries != stack)
        free(entries);
    return ok;
}
