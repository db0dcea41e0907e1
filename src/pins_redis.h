/* pins_redis.c: the runtime pin approvals (pins.h) in the Redis that several
 * wardens share ("state"), so that a pin approved through any warden is in
 * force in all of them.
 *
 * Keys (P is the state's key prefix):
 *   P pin:<server>   a hash, one per server:
 *                      "t:<tool>"  "<pin> <base>" (64 hex digits each; base
 *                                  "-" when the file pinned no such tool)
 *                      "i"         the same for the server's instructions
 *                      "epoch"     a random id written with the hash's first
 *                                  approval (a Redis that lost its data
 *                                  starts another life)
 *                      "v"         a counter raised by every approval
 *   channel P pins   the server's name, after every approval of its pins
 * Only pins are stored, never definitions: an approval can only ever let
 * through a definition whose canonical form hashes to it, whatever Redis
 * says. Written only by `warden pins approve` (one script: check the budget,
 * write, raise the counter, publish); read whole by each worker.
 *
 * Budget: at most PINS_MAX_TOOLS approvals per server, tool names of at most
 * PINS_REDIS_MAX_NAME bytes, and PINS_REDIS_MAX_BYTES in all: the reading
 * script refuses a larger hash inside Redis, and the reply is checked again
 * here; a set that breaks any rule is refused whole. */
#ifndef WARDEN_PINS_REDIS_H
#define WARDEN_PINS_REDIS_H
#include <stdbool.h>
#include <stddef.h>
#include "pins.h"
#include "state.h"

#define PINS_REDIS_MAX_NAME 1024u
#define PINS_REDIS_MAX_BYTES (4u << 20)
/* Approvals sent in one script (state_script takes at most 1000 arguments). */
#define PINS_REDIS_BATCH 400u

/* The channel every worker subscribes to: "<prefix>pins". */
void pins_redis_channel(struct state *st, char *buf, size_t cap);

/* Reads every runtime approval of server: cb gets the reply for
 * pins_redis_parse. NULL when Redis cannot be asked now (state.h). */
struct state_req *pins_redis_read(struct state *st, const char *server, state_reply_fn cb, void *arg);

/* The approvals of a pins_redis_read reply into *out (the caller clears it
 * with pin_approval_set_clear). Returns 0; or -1 with the reason in err when
 * Redis did not answer (error set) or answered something that breaks the
 * layout or the budget (out is then empty). */
int pins_redis_parse(const struct redisReply *r, const char *error, struct pin_approval_set *out, char *err,
                     size_t errlen);

/* Approves v[0..n) (n at most PINS_REDIS_BATCH) for server and publishes the
 * server's name; the reply is the new version (an integer), or an error
 * reply ("full" past the budget). epoch is written when the hash has none. */
struct state_req *pins_redis_approve(struct state *st, const char *server, const struct pin_approval *v, size_t n,
                                     const char *epoch, state_reply_fn cb, void *arg);
#endif
