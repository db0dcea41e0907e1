/* ratelimit.c: "at most max calls in any rolling window" per key, as an
 * exact sliding log (the last max admission times of each key). Shared by
 * every worker thread and every policy generation: the one place rate
 * state lives.
 *
 * Bounded in keys and bytes (keys, logs, the tables, allocator overhead
 * estimated). Keys are made of what agents send (session ids), so a flood
 * of made-up ones must neither lock real agents out nor let an agent reset
 * its own limit. At a bound, room is made by evicting, never by refusing:
 *   - one client address (the caller's `owner`) holds at most owner_keys
 *     keys; past that its own keys make room for its new ones, so one
 *     address cannot fill the table;
 *   - past max_keys or max_bytes a key is evicted from the whole table.
 * The key evicted is the least valuable of 16 drawn at random (the draw
 * cannot be aimed: it is seeded at random, like the hash): one whose
 * admissions have all left their window (it counts nothing), else the one
 * using the smallest share of its limit, the least recently used on ties.
 * Junk keys hold one admission each, so they go first; a key at its limit
 * goes only when every key drawn is as full, which takes max_keys times
 * max admitted calls. Evicting a key forgets its admissions (the agent may
 * then make that many calls again). A full sweep of emptied keys runs at
 * most once a second. Calls are refused for the table itself (refused == n)
 * only when one key's log would need more than a quarter of max_bytes, when
 * the keys of the call itself fill the table, or when memory runs out. */
#ifndef WARDEN_RATELIMIT_H
#define WARDEN_RATELIMIT_H
#include <stdbool.h>
#include <stddef.h>

struct rate_store;

/* One limit a call must fit. The key names the limit and who it counts
 * (policy, rule, session, tool); the store copies it. */
struct rate_check {
    const char *key;
    size_t key_len;
    unsigned max;
    double window;          /* seconds */
};

/* The bounds of a store; 0 means the default (in brackets). */
struct rate_store_limits {
    size_t max_keys;        /* [100,000] */
    size_t max_bytes;       /* [64 MiB] */
    size_t owner_keys;      /* keys one client address may hold [max_keys / 16] */
};
#define RATE_STORE_MAX_KEYS 100000
#define RATE_STORE_MAX_BYTES (64u * 1024 * 1024)

/* A store with the default bounds, or with lim (NULL: defaults). NULL when
 * out of memory, when no random seed could be had or when max_bytes cannot
 * hold the empty tables; the caller frees it with rate_store_free. */
struct rate_store *rate_store_new(void);
struct rate_store *rate_store_new_with(const struct rate_store_limits *lim);
void rate_store_free(struct rate_store *rs);

/* Admits a call from owner[0..owner_len) (the client's address, without
 * the port) only if every check has room at `now` (seconds, monotonic),
 * and then counts it in all of them, atomically. Otherwise counts nothing,
 * sets *refused to the index of a full check (n when the store could not
 * hold the checks' keys) and *retry_after to the seconds until that check
 * has room. */
bool rate_admit(struct rate_store *rs, const char *owner, size_t owner_len, const struct rate_check *checks,
                size_t n, double now, size_t *refused, double *retry_after);

/* Keys and bytes held now, for tests. */
size_t rate_store_keys(struct rate_store *rs);
size_t rate_store_bytes(struct rate_store *rs);
#endif
