/* ratelimit.c: "at most max calls in any rolling window" per key, as an
 * exact sliding log (the last max admission times of each key). Shared by
 * every worker thread and every policy generation: the one place rate
 * state lives. */
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

/* Bounds memory: past this many keys, idle ones are dropped; if none are,
 * calls that would need a new key are refused (fail closed). */
#define RATE_STORE_MAX_KEYS 100000

struct rate_store *rate_store_new(void);
void rate_store_free(struct rate_store *rs);

/* Admits a call only if every check has room at `now` (seconds, monotonic),
 * and then counts it in all of them, atomically. Otherwise counts nothing,
 * sets *refused to the index of a full check (n when the store itself is
 * full) and *retry_after to the seconds until that check has room. */
bool rate_admit(struct rate_store *rs, const struct rate_check *checks, size_t n, double now, size_t *refused,
                double *retry_after);
#endif
