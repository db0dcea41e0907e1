/* approval.c: the store of approval requests, shared by every worker and the
 * admin listener. A tools/call a policy sends to approval becomes a record
 * bound to what the call is:
 *   digest = SHA-256("warden-approval-v1" | principal | server | tool | canonical JSON of the arguments)
 * each field prefixed by its length (8 bytes, big-endian), so that no two
 * different calls share a digest. For scope "tool" the arguments are left out
 * (the field is the one byte "*", which no canonical JSON is): the grant
 * covers every call of that tool by that principal.
 *
 * Life of a record: pending (an identical call attaches to it) -> approved
 * or denied by a person, or expired after ttl; approved -> consumed by the
 * retry (scope call: exactly once), or expired after grant_ttl (scope tool:
 * usable until then). Records that ended stay RETAIN_SECONDS so that their
 * id still answers (409, not 404), then go.
 *
 * Bounds: at most max_records records and max_bytes bytes of them; when
 * full, records that ended go first (oldest first), and if that is not
 * enough a new request is refused (APPROVAL_FULL: the call is refused, fail
 * closed); nothing pending is ever evicted. The digest table has a random
 * SipHash key.
 *
 * Every function is safe from any thread (one mutex). Times are wall-clock
 * seconds since the epoch, given by the caller. */
#ifndef WARDEN_APPROVAL_H
#define WARDEN_APPROVAL_H
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "policy-t.h"
#include "sha256.h"

#define APPROVAL_ID_LEN 30 /* "apr_" + 26 base32 digits of 128 random bits */
#define APPROVAL_RETAIN_SECONDS 600.0

struct approval_store;

enum approval_status { APPROVAL_PENDING, APPROVAL_APPROVED, APPROVAL_DENIED, APPROVAL_EXPIRED, APPROVAL_CONSUMED };

struct approval_limits {
    size_t max_records; /* default 1000 */
    size_t max_bytes;   /* default 8 MiB */
};

/* Told of each change of a record, with the lock held: it must be quick and
 * must not call the store (audit_write and metrics are fine). event is
 * "approval_requested", "approval_decided", "approval_expired" or
 * "approval_consumed"; the record is readable through the view. */
struct approval_view {
    const char *id, *principal, *server, *tool, *args_json, *rule, *reason;
    const char *status;                       /* pending, approved, denied, expired, consumed */
    const char *decided_by, *decision_reason; /* NULL until decided */
    const char *scope;                        /* call or tool */
    unsigned long generation;
    double created, expires; /* expires: of the request while pending, of the grant once approved */
};
typedef void (*approval_event_fn)(void *arg, const char *event, const struct approval_view *v);

/* NULL when out of memory or when no random bytes can be had (no ids
 * anyone could guess). on_event may be NULL. */
struct approval_store *approval_store_new(const struct approval_limits *lim, approval_event_fn on_event, void *arg);
void approval_store_free(struct approval_store *s);

/* What a call sent to approval is. Borrowed for the call. */
struct approval_call {
    const char *principal, *server, *tool;
    const cJSON *args; /* the arguments object, or NULL (as {}) */
    const char *rule, *reason;
    unsigned long generation;
    struct approval_opts opts;
};

enum approval_outcome {
    APPROVAL_NEW,      /* a pending record was made: wait or tell the agent */
    APPROVAL_ATTACHED, /* an identical call is already pending: the same record */
    APPROVAL_GRANTED,  /* a person approved it: consumed (scope call) or within grant_ttl (scope tool) */
    APPROVAL_REFUSED,  /* a person denied it: decided_by and decision_reason say why */
    APPROVAL_FULL,     /* the store is full: refuse the call */
    APPROVAL_FAILED,   /* out of memory, or the arguments cannot be made canonical */
};

struct approval_answer {
    enum approval_outcome outcome;
    char id[APPROVAL_ID_LEN + 1];
    double expires; /* of the pending request */
    char decided_by[128];
    char decision_reason[512];
};

/* The call's canonical arguments (with a NUL after them) appended to canon,
 * and its two digests: of this call, and of the tool (scope "tool").
 * -1 when out of memory or the arguments cannot be made canonical. */
int approval_call_digests(const struct approval_call *c, struct evbuffer *canon, unsigned char dcall[SHA256_BYTES],
                          unsigned char dtool[SHA256_BYTES]);
/* A new record id: 128 random bits; -1 when no random bytes can be had. */
int approval_new_id(char id[APPROVAL_ID_LEN + 1]);

/* Looks the call up by its digest and acts: consumes a grant atomically,
 * attaches to a pending record, reports a denial, or makes a new record. */
void approval_store_call(struct approval_store *s, const struct approval_call *c, double now,
                         struct approval_answer *out);

/* A held call waiting to hear that its record was decided or expired:
 * `wake` (owned by the waiter, on its worker's loop) is made active from
 * whichever thread decides (libevent built with evthread_use_pthreads).
 * After the wake the waiter calls approval_store_call again. */
struct approval_waiter {
    struct event *wake;
    struct approval_waiter *next; /* the store's */
    void *rec;                    /* the store's: the record waited on, NULL when not registered */
};

/* Registers w on the record `id`; returns 0, or -1 when the record is no
 * longer pending (w is then not registered: call approval_store_call now). */
int approval_store_wait(struct approval_store *s, const char *id, struct approval_waiter *w);
/* Unregisters w (if it is); after it returns, w->wake is never made active by the store. */
void approval_store_unwait(struct approval_store *s, struct approval_waiter *w);

enum approval_decision_result {
    APPROVAL_DECIDED,
    APPROVAL_NOT_FOUND,   /* 404 */
    APPROVAL_NOT_PENDING, /* 409: already decided, consumed or expired */
    APPROVAL_SELF,        /* 403: the approver is the requester */
};

/* A person decides a pending record; approve: true approves. The approver's
 * id must differ from the record's principal. Wakes the held calls. */
enum approval_decision_result approval_store_decide(struct approval_store *s, const char *id, const char *approver,
                                                    bool approve, const char *reason, double now);

/* For records kept elsewhere (approval_redis.h): counts the event in
 * warden_approvals_total and tells on_event, as for the store's own. */
void approval_store_tell(struct approval_store *s, const char *event, const struct approval_view *v);

/* Requests this warden made in Redis (approval_redis.h), watched so that
 * warden_approvals_pending counts those still pending and their
 * approval_expired line is written (approval_expiry.c asks Redis). At most
 * max_records: past it, the one due first is forgotten. Any thread. */
void approval_store_track(struct approval_store *s, const char *id, double expires);
/* A decision on id[0..len) was published: no longer pending (still watched:
 * a grant may expire unused). */
void approval_store_tracked_decided(struct approval_store *s, const char *id, size_t len);
/* Messages may have been lost: every tracked request is due at once. */
void approval_store_tracked_recheck(struct approval_store *s);
/* Up to max ids of tracked requests due by now (their expiry came, or a
 * recheck); each is handed out once until approval_store_tracked_settle. */
size_t approval_store_tracked_due(struct approval_store *s, double now, char (*ids)[APPROVAL_ID_LEN + 1], size_t max);
/* What Redis says of a handed-out id: status NULL when it did not answer
 * (due again); "pending" or "approved" with expires past now: watched until
 * then; anything else (expired, consumed, denied, "gone"): forgotten. */
void approval_store_tracked_settle(struct approval_store *s, const char *id, const char *status, double expires,
                                   double now);

/* Expires what is due and drops what ended long ago; wakes held calls of
 * records that expired. */
void approval_store_sweep(struct approval_store *s, double now);

/* Admin: writes {"approvals":[...]} (status NULL: every record; newest
 * first) or one record as JSON objects with every field. Returns false
 * when no record has that id. */
void approval_store_list(struct approval_store *s, const char *status, double now, struct evbuffer *out);
bool approval_store_show(struct approval_store *s, const char *id, double now, struct evbuffer *out);

/* warden_approvals_total{server,outcome} and warden_approvals_pending, in the
 * Prometheus text format. */
void approval_store_metrics(struct approval_store *s, struct evbuffer *out);

/* The canonical JSON of v (object keys sorted by their bytes, no
 * whitespace, numbers as %.17g or integers, strings as json_append_string
 * writes them) appended to out. Returns -1 for values JSON cannot carry
 * (NaN, infinity). */
int approval_canonical_json(const cJSON *v, struct evbuffer *out);
#endif
