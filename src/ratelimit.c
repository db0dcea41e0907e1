#include "ratelimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "siphash.h"

/* What malloc spends beyond the bytes asked for, at most (glibc: an 8-byte
 * header and rounding up to 16, so 23 for blocks below its mmap threshold). */
#define ALLOC_OVERHEAD 24
/* Keys drawn to choose one to evict. */
#define SAMPLES 16

struct rate_owner;

/* One key's log: the times of its last `max` admissions, oldest first from head. */
struct rate_entry {
    struct rate_entry *next;        /* bucket chain */
    struct rate_owner *owner;       /* the address that made it */
    size_t all_pos, owner_pos;      /* its places in rs->all and owner->keys */
    uint64_t hash;
    double *times;
    unsigned max, head, count;
    double window;
    double last;                    /* its last admission (or creation) */
    size_t cost;                    /* bytes it counts, its log included */
    bool pinned;                    /* in use by the rate_admit running: never evicted */
    size_t key_len;
    char key[];
};

/* A client address and the keys it made. */
struct rate_owner {
    struct rate_owner *next;        /* bucket chain */
    uint64_t hash;
    struct rate_entry **keys;       /* dense, in no order */
    size_t nkeys, cap;
    size_t cost;                    /* bytes it counts, its array included */
    bool pinned;                    /* adding a key: kept even while it holds none */
    size_t len;
    char addr[];
};

struct rate_store {
    pthread_mutex_t lock;
    struct siphash_key hash_key;    /* random: clients choose session ids, so they must not choose collisions */
    uint64_t rng;                   /* random: the eviction draw cannot be predicted either */
    struct rate_store_limits lim;
    struct rate_entry **buckets;
    struct rate_owner **owner_buckets;
    size_t nbuckets;                /* a power of two, for both tables */
    struct rate_entry **all;        /* every key, dense: max_keys slots */
    size_t nkeys;
    size_t used;                    /* bytes counted against max_bytes */
    double last_sweep;              /* when full, emptied keys are swept at most once a second */
};

struct rate_store *rate_store_new(void)
{
    return rate_store_new_with(NULL);
}

/* See ratelimit.h; the tables are sized for max_keys up front, never rehashed. */
struct rate_store *rate_store_new_with(const struct rate_store_limits *lim)
{
    struct rate_store_limits l = lim ? *lim : (struct rate_store_limits){0};
    if (!l.max_keys)
        l.max_keys = RATE_STORE_MAX_KEYS;
    if (!l.max_bytes)
        l.max_bytes = RATE_STORE_MAX_BYTES;
    if (!l.owner_keys)
        l.owner_keys = l.max_keys / 16 ? l.max_keys / 16 : 1;
    if (l.max_keys > SIZE_MAX / 64)
        return NULL;
    size_t n = 16;
    while (n < l.max_keys)
        n *= 2;
    size_t base = sizeof(struct rate_store) + 4 * ALLOC_OVERHEAD + 2 * n * sizeof(void *) +
                  l.max_keys * sizeof(struct rate_entry *);
    if (base >= l.max_bytes)
        return NULL;
    struct rate_store *rs = calloc(1, sizeof *rs);
    if (!rs)
        return NULL;
    struct siphash_key rng_key;
    rs->buckets = calloc(n, sizeof *rs->buckets);
    rs->owner_buckets = calloc(n, sizeof *rs->owner_buckets);
    rs->all = calloc(l.max_keys, sizeof *rs->all);
    if (!rs->buckets || !rs->owner_buckets || !rs->all || siphash_key_random(&rs->hash_key) != 0 ||
        siphash_key_random(&rng_key) != 0 || pthread_mutex_init(&rs->lock, NULL) != 0) {
        free(rs->buckets);
        free(rs->owner_buckets);
        free(rs->all);
        free(rs);
        return NULL;
    }
    rs->rng = rng_key.k0 | 1;
    rs->nbuckets = n;
    rs->lim = l;
    rs->used = base;
    return rs;
}

void rate_store_free(struct rate_store *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->nkeys; i++) {
        free(rs->all[i]->times);
        free(rs->all[i]);
    }
    for (size_t i = 0; i < rs->nbuckets; i++) {
        struct rate_owner *o = rs->owner_buckets[i], *next;
        for (; o; o = next) {
            next = o->next;
            free(o->keys);
            free(o);
        }
    }
    free(rs->buckets);
    free(rs->owner_buckets);
    free(rs->all);
    pthread_mutex_destroy(&rs->lock);
    free(rs);
}

size_t rate_store_keys(struct rate_store *rs)
{
    pthread_mutex_lock(&rs->lock);
    size_t n = rs->nkeys;
    pthread_mutex_unlock(&rs->lock);
    return n;
}

size_t rate_store_bytes(struct rate_store *rs)
{
    pthread_mutex_lock(&rs->lock);
    size_t n = rs->used;
    pthread_mutex_unlock(&rs->lock);
    return n;
}

/* xorshift64*: the eviction draw (lock held). */
static uint64_t next_random(struct rate_store *rs)
{
    rs->rng ^= rs->rng >> 12;
    rs->rng ^= rs->rng << 25;
    rs->rng ^= rs->rng >> 27;
    return rs->rng * 2685821657736338717ULL;
}

static struct rate_entry *find(struct rate_store *rs, const struct rate_check *c, uint64_t h)
{
    for (struct rate_entry *e = rs->buckets[h & (rs->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && e->key_len == c->key_len && memcmp(e->key, c->key, c->key_len) == 0)
            return e;
    return NULL;
}

/* Times are kept in a ring; this is the i-th oldest. */
static double time_at(const struct rate_entry *e, unsigned i)
{
    return e->times[(e->head + i) % e->max];
}

/* Forgets admissions that have left the window. */
static void expire(struct rate_entry *e, double now)
{
    while (e->count && time_at(e, 0) <= now - e->window) {
        e->head = (e->head + 1) % e->max;
        e->count--;
    }
}

/* Unlinks and frees o, which holds no key any more. */
static void owner_free(struct rate_store *rs, struct rate_owner *o)
{
    struct rate_owner **p = &rs->owner_buckets[o->hash & (rs->nbuckets - 1)];
    while (*p != o)
        p = &(*p)->next;
    *p = o->next;
    rs->used -= o->cost;
    free(o->keys);
    free(o);
}

/* Removes e from the table, from rs->all and from its owner, and frees it. */
static void evict(struct rate_store *rs, struct rate_entry *e)
{
    struct rate_entry **p = &rs->buckets[e->hash & (rs->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    rs->all[e->all_pos] = rs->all[--rs->nkeys];
    rs->all[e->all_pos]->all_pos = e->all_pos;
    struct rate_owner *o = e->owner;
    o->keys[e->owner_pos] = o->keys[--o->nkeys];
    o->keys[e->owner_pos]->owner_pos = e->owner_pos;
    rs->used -= e->cost;
    free(e->times);
    free(e);
    if (o->nkeys == 0 && !o->pinned)
        owner_free(rs, o);
}

/* True when a should be evicted before b: fewer admissions for its limit
 * (a*b's max vs b*a's max, exact in integers), then less recently used. */
static bool less_valuable(const struct rate_entry *a, const struct rate_entry *b)
{
    unsigned long long fa = (unsigned long long)a->count * b->max, fb = (unsigned long long)b->count * a->max;
    return fa != fb ? fa < fb : a->last < b->last;
}

/* Drops every key whose admissions have all left their window (they count
 * nothing), at most once a second: O(keys) under the lock, paid only when
 * the table is full. */
static void sweep(struct rate_store *rs, double now)
{
    if (rs->last_sweep != 0 && now - rs->last_sweep < 1)
        return;
    rs->last_sweep = now;
    for (size_t i = rs->nkeys; i-- > 0;) {
        struct rate_entry *e = rs->all[i];
        expire(e, now);
        if (e->count == 0 && !e->pinned)
            evict(rs, e);
    }
}

/* Evicts the least valuable of SAMPLES keys drawn from keys[0..n) (see
 * ratelimit.h); a key whose window is empty is taken at once. Returns false
 * when every key drawn is in use by the running admit. */
static bool evict_one(struct rate_store *rs, struct rate_entry **keys, size_t n, double now)
{
    struct rate_entry *victim = NULL;
    for (int i = 0; i < SAMPLES && n > 0; i++) {
        struct rate_entry *e = keys[next_random(rs) % n];
        if (e->pinned)
            continue;
        expire(e, now);
        if (!victim || less_valuable(e, victim))
            victim = e;
        if (victim->count == 0)
            break;
    }
    if (!victim) {
        /* Small sets: look at each key before giving up. */
        for (size_t i = 0; i < n && !victim; i++)
            if (!keys[i]->pinned)
                victim = keys[i];
    }
    if (!victim)
        return false;
    evict(rs, victim);
    return true;
}

/* The owner of addr, created when absent; NULL when out of memory. */
static struct rate_owner *owner_of(struct rate_store *rs, const char *addr, size_t len)
{
    uint64_t h = siphash(&rs->hash_key, addr, len);
    struct rate_owner **slot = &rs->owner_buckets[h & (rs->nbuckets - 1)];
    for (struct rate_owner *o = *slot; o; o = o->next)
        if (o->hash == h && o->len == len && memcmp(o->addr, addr, len) == 0)
            return o;
    struct rate_owner *o = calloc(1, sizeof *o + len);
    if (!o)
        return NULL;
    memcpy(o->addr, addr, len);
    o->len = len;
    o->hash = h;
    o->cost = sizeof *o + len + ALLOC_OVERHEAD;
    o->next = *slot;
    *slot = o;
    rs->used += o->cost;
    return o;
}

/* Makes room in o->keys for one more; false when out of memory. */
static bool owner_reserve(struct rate_store *rs, struct rate_owner *o)
{
    if (o->nkeys < o->cap)
        return true;
    size_t cap = o->cap ? o->cap * 2 : 4;
    struct rate_entry **k = realloc(o->keys, cap * sizeof *k);
    if (!k)
        return false;
    size_t before = o->cap ? o->cap * sizeof *k + ALLOC_OVERHEAD : 0;
    size_t after = cap * sizeof *k + ALLOC_OVERHEAD;
    o->keys = k;
    o->cap = cap;
    o->cost += after - before;
    rs->used += after - before;
    return true;
}

static bool make_room(struct rate_store *rs, size_t more, bool new_key, double now);

/* A limit changed by a reload keeps the newest admissions that still fit. */
static int resize(struct rate_store *rs, struct rate_entry *e, unsigned max, double window)
{
    double *t = malloc(max * sizeof *t);
    if (!t)
        return -1;
    unsigned keep = e->count < max ? e->count : max;
    for (unsigned i = 0; i < keep; i++)
        t[i] = time_at(e, e->count - keep + i);
    free(e->times);
    e->times = t;
    size_t cost = e->cost - e->max * sizeof *t + max * sizeof *t;
    rs->used = rs->used - e->cost + cost;
    e->cost = cost;
    e->max = max;
    e->head = 0;
    e->count = keep;
    e->window = window;
    return 0;
}

/* Evicts until `more` bytes (and one more key when new_key) fit (lock held). */
static bool make_room(struct rate_store *rs, size_t more, bool new_key, double now)
{
    while ((new_key && rs->nkeys >= rs->lim.max_keys) || rs->used + more > rs->lim.max_bytes) {
        if (!evict_one(rs, rs->all, rs->nkeys, now))
            return false;
    }
    return true;
}

static struct rate_entry *get_or_add(struct rate_store *rs, const char *owner, size_t owner_len,
                                     const struct rate_check *c, double now)
{
    uint64_t h = siphash(&rs->hash_key, c->key, c->key_len);
    if (c->max == 0)
        return NULL;
    struct rate_entry *e = find(rs, c, h);
    if (e) {
        if (e->max != c->max || e->window != c->window) {
            bool pinned = e->pinned, ok;
            e->pinned = true;
            ok = (c->max <= e->max || make_room(rs, (size_t)(c->max - e->max) * sizeof(double), false, now)) &&
                 resize(rs, e, c->max, c->window) == 0;
            e->pinned = pinned;
            if (!ok)
                return NULL;
        }
        return e;
    }
    size_t cost = sizeof *e + c->key_len + ALLOC_OVERHEAD + (size_t)c->max * sizeof(double) + ALLOC_OVERHEAD;
    /* A key that would need a quarter of the budget is refused, not made room for. */
    if (cost > rs->lim.max_bytes / 4)
        return NULL;
    struct rate_owner *o = owner_of(rs, owner, owner_len);
    if (!o)
        return NULL;
    o->pinned = true;
    /* The owner's own keys first, so one address cannot fill the table. */
    bool room = true;
    if (o->nkeys >= rs->lim.owner_keys || rs->nkeys >= rs->lim.max_keys || rs->used + cost > rs->lim.max_bytes)
        sweep(rs, now);
    while (room && o->nkeys >= rs->lim.owner_keys)
        room = evict_one(rs, o->keys, o->nkeys, now);
    if (!room || !owner_reserve(rs, o) || !make_room(rs, cost, true, now))
        goto fail;
    e = calloc(1, sizeof *e + c->key_len);
    if (!e || !(e->times = malloc(c->max * sizeof *e->times))) {
        free(e);
        goto fail;
    }
    e->hash = h;
    e->max = c->max;
    e->window = c->window;
    e->last = now;
    e->cost = cost;
    e->key_len = c->key_len;
    memcpy(e->key, c->key, c->key_len);
    e->next = rs->buckets[h & (rs->nbuckets - 1)];
    rs->buckets[h & (rs->nbuckets - 1)] = e;
    e->all_pos = rs->nkeys;
    rs->all[rs->nkeys++] = e;
    e->owner = o;
    e->owner_pos = o->nkeys;
    o->keys[o->nkeys++] = e;
    o->pinned = false;
    rs->used += cost;
    return e;
fail:
    o->pinned = false;
    if (o->nkeys == 0)
        owner_free(rs, o);
    return NULL;
}

bool rate_admit(struct rate_store *rs, const char *owner, size_t owner_len, const struct rate_check *checks,
                size_t n, double now, size_t *refused, double *retry_after)
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
    size_t got = 0;
    for (size_t i = 0; i < n && ok; i++) {
        entries[i] = get_or_add(rs, owner, owner_len, &checks[i], now);
        if (!entries[i]) {
            *refused = n;
            *retry_after = 1;
            ok = false;
            break;
        }
        /* The checks of one call never evict each other. */
        entries[i]->pinned = true;
        got = i + 1;
        expire(entries[i], now);
        if (entries[i]->count >= entries[i]->max) {
            *refused = i;
            *retry_after = time_at(entries[i], 0) + entries[i]->window - now;
            ok = false;
        }
    }
    for (size_t i = 0; i < got; i++) {
        struct rate_entry *e = entries[i];
        e->pinned = false;
        if (ok) {
            e->times[(e->head + e->count) % e->max] = now;
            e->count++;
            e->last = now;
        }
    }
    pthread_mutex_unlock(&rs->lock);
    if (entries != stack)
        free(entries);
    return ok;
}
