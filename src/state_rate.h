/* state_rate.c: rate limits admitted in the Redis several wardens share,
 * with ratelimit.c's semantics (an exact sliding log per key; every check of
 * a call admitted, or none) on Redis's clock, in one script per call; and
 * the per-instance fallback of on_failure "local". */
#ifndef WARDEN_STATE_RATE_H
#define WARDEN_STATE_RATE_H
#include <stdbool.h>
#include <stddef.h>
#include "ratelimit.h"
#include "state.h"

enum state_rate_outcome {
    STATE_RATE_ADMITTED,    /* counted in every check */
    STATE_RATE_REFUSED,     /* a check is full: *refused, *retry_after are set; nothing counted */
    STATE_RATE_UNAVAILABLE, /* no answer (timeout, connection, a broken reply): on_failure decides */
};

/* Sends the admission of checks[0..n) (n <= 64); cb gets the script's reply,
 * to read with state_rate_outcome. NULL when the store is not ready (cb is
 * never called): on_failure decides at once. Each key is the state's prefix,
 * "rl:" and the check's key; each holds at most max members and expires a
 * window after its last admission. */
struct state_req *state_rate_admit(struct state *st, const struct rate_check *checks, size_t n, state_reply_fn cb,
                                   void *arg);
/* What a reply of state_rate_admit's script (or its error) says, for n checks. */
enum state_rate_outcome state_rate_outcome(const struct redisReply *r, const char *error, size_t n, size_t *refused,
                                           double *retry_after);

/* on_failure "local": rate_admit in this instance's store with each max
 * divided by `instances` (at least 1), so that N instances together admit
 * no more than the limit. Arguments as rate_admit. */
bool state_rate_admit_local(struct rate_store *rs, const char *owner, size_t owner_len, const struct rate_check *checks,
                            size_t n, unsigned instances, double now, size_t *refused, double *retry_after);
#endif
