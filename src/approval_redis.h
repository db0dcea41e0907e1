/* approval_redis.c: the approval records in the Redis that several wardens
 * share ("state"), so that a decision made through any instance's admin API
 * is seen by all, and a grant is consumed once across all of them.
 *
 * Keys (P is the state's key prefix):
 *   P apr:rec:<id>      a hash: the record (principal, server, tool, args,
 *                       rule, reason, scope, status, created, expires,
 *                       grant_ttl, decided_by, decision_reason, generation);
 *                       it lives while it may be used, plus APPROVAL_RETAIN_SECONDS
 *   P apr:dig:<digest>  the id of the living (or denied) record of a call or
 *                       tool digest (approval.h); it lives as long as the
 *                       request waits (ttl), then as long as the grant (grant_ttl)
 *   P apr:idx           a sorted set of ids scored by when their record goes:
 *                       listing and the bound on records (max_records) read
 *                       it with ZRANGEBYSCORE from now, never a SCAN
 *   channel P apr:decided  the id of each decided record: every worker
 *                       holding a call subscribes and looks again
 * Each operation is one Lua script, so two wardens never both consume one
 * grant or both make a record for one digest.
 *
 * Everything is asynchronous on the state's loop. Approvals fail closed:
 * when Redis cannot be asked (the functions return NULL) or does not
 * answer, a call is refused or stays held and a decision is not made.
 * Pins approved at runtime have their own layout (pins_redis.h). */
#ifndef WARDEN_APPROVAL_REDIS_H
#define WARDEN_APPROVAL_REDIS_H
#include "approval.h"
#include "state.h"

/* Each request below is sent as state_script/state_command send theirs:
 * NULL when Redis cannot be asked now (the caller fails closed); otherwise
 * cb(arg, reply, error) is called once unless cancelled (state_cancel),
 * and the caller reads the reply with the matching *_result function
 * (as state_rate.h does). */

/* approval_store_call in Redis: consumes a grant, attaches to a pending
 * record, reports a denial, or makes a new record (APPROVAL_FULL past
 * max_records living records; 0: 1000, approval.h's default). NULL also when the arguments cannot be made
 * canonical or memory runs out. */
struct state_req *approval_redis_call(struct state *st, const struct approval_call *c, double now, size_t max_records,
                                      state_reply_fn cb, void *arg);
/* The answer of approval_redis_call's reply; APPROVAL_FAILED when Redis
 * did not answer or answered something else (refuse the call: fail closed). */
void approval_redis_call_result(const struct redisReply *r, const char *error, struct approval_answer *out);

/* approval_store_decide in Redis; publishes the id on the channel below. */
struct state_req *approval_redis_decide(struct state *st, const char *id, const char *approver, bool approve,
                                        const char *reason, double now, state_reply_fn cb, void *arg);
/* APPROVAL_DECIDED..APPROVAL_SELF, or -1 when Redis did not answer (503).
 * When decided, the reply is the record as decided: approval_redis_show_result
 * and approval_redis_view read it. */
int approval_redis_decide_result(const struct redisReply *r, const char *error);

/* At most max living records (any status; 0: 1000), for approval_redis_list_result. */
struct state_req *approval_redis_list(struct state *st, double now, size_t max, state_reply_fn cb, void *arg);
/* Writes {"approvals":[...]} as approval_store_list does (status NULL: all;
 * newest first); false when Redis did not answer (out untouched). */
bool approval_redis_list_result(const struct redisReply *r, const char *error, const char *status, double now,
                                struct evbuffer *out);
/* One record, for approval_redis_show_result. */
struct state_req *approval_redis_show(struct state *st, const char *id, state_reply_fn cb, void *arg);
/* 1: the record written to out as approval_store_show does; 0: no such
 * record; -1: Redis did not answer. */
int approval_redis_show_result(const struct redisReply *r, const char *error, double now, struct evbuffer *out);

/* A view of a record from approval_redis_show's reply (for
 * approval_store_tell), pointing into r and status (valid while both are);
 * false when r is no record. */
bool approval_redis_view(const struct redisReply *r, double now, struct approval_view *v, char status[16]);

/* The channel a holder subscribes to (state_subscribe): "<prefix>apr:decided". */
void approval_redis_channel(struct state *st, char *buf, size_t cap);
#endif
