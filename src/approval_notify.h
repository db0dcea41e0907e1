/* approval_notify.c: who hears of approval requests. Each change of a record
 * (approval.h's event hook) becomes an audit line: approval_requested,
 * approval_decided (with "approver" and the approver's reason),
 * approval_expired, approval_consumed; each carries "approval_id", and the
 * requester's principal in "client". A new request is also handed to the
 * people who decide: notify_command runs with the record as JSON on stdin
 * (stdout to /dev/null, killed after 10 s) and the webhook gets it POSTed
 * (5 s timeouts), both on a thread of their own so that no event loop ever
 * waits for them. At most 64 notices wait; past that they are dropped and
 * logged (the request itself is kept and listed on the admin listener). */
#ifndef WARDEN_APPROVAL_NOTIFY_H
#define WARDEN_APPROVAL_NOTIFY_H
#include "approval.h"
#include "config-t.h"

struct approval_notify;
struct audit_log;

/* audit may be NULL; conf is borrowed and must outlive it. NULL with a message in err. */
struct approval_notify *approval_notify_new(struct audit_log *audit, const struct approvals_conf *conf, char *err,
                                            size_t errlen);
/* Sends what is queued, stops the thread and frees everything. NULL is allowed. */
void approval_notify_free(struct approval_notify *n);

/* approval_event_fn (approval.h), with arg the approval_notify. */
void approval_notify_event(void *arg, const char *event, const struct approval_view *v);
#endif
