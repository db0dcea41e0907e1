/* approval_expiry.c: with approvals in Redis (approval_redis.h), what the
 * local store does for its own records (approval.c's sweep): the
 * approval_expired line (audit, notify_command, webhook) of a request this
 * warden made that expired undecided, or whose grant expired unused, and an
 * accurate warden_approvals_pending. The requests are tracked in the
 * approval store (approval_store_track); here, on one loop, every second,
 * those whose time came are looked up in Redis (at most
 * APPROVAL_EXPIRY_INFLIGHT at once), and the decisions published on
 * "<prefix>apr:decided" mark them decided. Subscribed again after a
 * reconnection, every tracked request is looked up again (a decision may
 * have been missed). Redis not answering: asked again at the next tick.
 *
 * Who frees what: the caller frees it with approval_expiry_free on st's
 * loop, before st is freed. */
#ifndef WARDEN_APPROVAL_EXPIRY_H
#define WARDEN_APPROVAL_EXPIRY_H
#include "approval.h"
#include "state.h"

#define APPROVAL_EXPIRY_INFLIGHT 32

struct approval_expiry;
/* NULL when memory runs out or st has no subscription left. */
struct approval_expiry *approval_expiry_new(struct event_base *base, struct state *st, struct approval_store *store);
void approval_expiry_free(struct approval_expiry *x);
#endif
