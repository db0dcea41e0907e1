/* sharedstore.c: warden.shared, a bounded key-value store with expiry that all
 * Lua policies of one server share. It outlives policy reloads (the caller owns
 * it and frees it after the last lua_policy that uses it) and is thread-safe. */
#ifndef WARDEN_SHAREDSTORE_H
#define WARDEN_SHAREDSTORE_H
#include <stddef.h>
#include "sharedstore-t.h"

struct shared_store;

/* A store of at most max_keys keys; keys and string values are at most
 * max_bytes each. Returns NULL when out of memory or a bound is 0; the caller
 * frees it with shared_store_free. */
/* warden's own bounds for the one store of a process: enough for counters
 * and budgets of many sessions, small enough never to threaten memory. */
#define SHARED_STORE_KEYS 100000
#define SHARED_STORE_BYTES (64u * 1024 * 1024)

struct shared_store *shared_store_new(size_t max_keys, size_t max_bytes);
void shared_store_free(struct shared_store *st);

/* The largest key or string value: the size of the buffer shared_store_get needs. */
size_t shared_store_max_bytes(const struct shared_store *st);

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
#endif
