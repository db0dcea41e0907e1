/* sharedstore.c: warden.shared, a bounded key-value store with expiry that all
 * Lua policies of one server share. It outlives policy reloads (the caller owns
 * it and frees it after the last lua_policy that uses it) and is thread-safe. */
#ifndef WARDEN_SHAREDSTORE_H
#define WARDEN_SHAREDSTORE_H
#include <stdbool.h>
#include <stddef.h>
#include "sharedstore-t.h"

struct shared_store;

/* The bounds of one store; 0 means the default (in brackets). */
struct shared_limits {
    size_t max_keys;    /* live keys [100,000] */
    size_t max_value;   /* bytes of one key or one string value [64 KiB, a Lua policy's max_string] */
    size_t max_total;   /* bytes of the whole store: keys, values, entries, the bucket array and
                           the allocator's overhead (estimated) [64 MiB] */
};
#define SHARED_STORE_KEYS 100000
#define SHARED_STORE_VALUE (64u * 1024)
#define SHARED_STORE_TOTAL (64u * 1024 * 1024)

/* A store within lim (NULL: every default). When full (max_keys, or a
 * write that would take it past max_total), expired keys are dropped first;
 * if that is not enough the write fails with "warden.shared is full" and
 * changes nothing (a replaced value stays as it was): in a Lua policy that
 * is an error, so the call is refused (fail closed). Live keys are never
 * evicted: a policy's counters and budgets do not vanish under pressure.
 * Keys are hashed with a random key. Returns NULL when out of memory, when
 * no random key could be had, or when max_total cannot hold the empty
 * store; the caller frees it with shared_store_free. */
struct shared_store *shared_store_new(const struct shared_limits *lim);
void shared_store_free(struct shared_store *st);

/* The largest key or string value: the size of the buffer shared_store_get needs. */
size_t shared_store_max_bytes(const struct shared_store *st);

/* Bytes the store counts as used now (at most max_total). */
size_t shared_store_bytes(struct shared_store *st);

/* Looks key up at time `now` (seconds, CLOCK_MONOTONIC). Fills *out (type
 * SHARED_NIL when absent or expired); a string is copied into buf, which holds
 * shared_store_max_bytes() bytes, and out->s points there. */
void shared_store_get(struct shared_store *st, const char *key, size_t klen, double now,
                      struct shared_value *out, char *buf);

/* Stores v under key (SHARED_NIL deletes it). ttl > 0: the key expires ttl
 * seconds after now; otherwise it never does. Returns 0, or -1 with *err set
 * to a static message (store full, key or value too large). */
int shared_store_set(struct shared_store *st, const char *key, size_t klen,
                     const struct shared_value *v, double ttl, double now, const char **err);

/* Adds delta to the integer under key, creating it at 0 with expiry ttl (when
 * ttl > 0) if absent or expired; an existing key keeps its expiry (a fixed
 * window). Returns 0 and the new value in *result, or -1 with *err set (store
 * full, key too large, value not an integer, overflow). */
int shared_store_incr(struct shared_store *st, const char *key, size_t klen, long long delta,
                      double ttl, double now, long long *result, const char **err);

/* --- replication across wardens (state_shared.c) --- */

/* Told of each change set and incr made (after it was made, outside the
 * store's lock, on the caller's thread): v is the value set (NULL for an
 * incr, whose delta is given); ttl as given to set or incr. */
typedef void (*shared_journal_fn)(void *arg, const char *key, size_t klen, const struct shared_value *v,
                                  long long delta, double ttl);
/* Set once, before any thread uses the store (NULL: no journal). */
void shared_store_set_journal(struct shared_store *st, shared_journal_fn fn, void *arg);
/* Stores a value learned from another warden, without telling the journal;
 * raise: an integer only replaces a smaller one (a counter's total). Returns
 * 0, or -1 when the store cannot hold it (then the local value stays). */
int shared_store_apply(struct shared_store *st, const char *key, size_t klen, const struct shared_value *v, double ttl,
                       double now, bool raise);
#endif
