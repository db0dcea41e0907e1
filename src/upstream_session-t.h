/* The type of one upstream session (upstream_session.h), apart from its
 * functions so that the two transports that embed it (upstream_stdio.c,
 * upstream_sse.c) can declare their own session around it. */
#ifndef WARDEN_UPSTREAM_SESSION_T_H
#define WARDEN_UPSTREAM_SESSION_T_H
#include <stdbool.h>
#include <stddef.h>
#include "proxy-t.h"

struct upstream_session;

/* What a transport does for the sessions of upstream_session.c. */
struct upsess_ops {
    /* Sends request ex (its message in ex->body) on us, where it waits for
     * its answer (upsess_wait), or answers ex with why it cannot. */
    void (*request)(struct upstream_session *us, struct exchange *ex);
    /* Sends a notification or response (ex->body, of kind) on us; false when
     * it cannot, with ex answered. */
    bool (*message)(struct upstream_session *us, struct exchange *ex, enum rpc_kind kind);
    /* Ends us: the transport stops talking to its server, logs why, and
     * calls upsess_end. Nothing when us is ending already. */
    void (*end)(struct upstream_session *us, enum upstream_failure kind, const char *why);
    /* gone was just taken off us (NULL: an exchange was just put on it): the
     * transport forgets gone wherever it kept it and re-arms its idle clock.
     * Must not end the session. */
    void (*changed)(struct upstream_session *us, struct exchange *gone);
};

/* One session with an upstream server, the part its transport shares: the
 * requests in flight by id, the client's GET stream, what waits for that
 * stream, and the reading paused for slow clients. Embedded in the
 * transport's own session (owner), which owns it. */
struct upstream_session {
    struct server_rt *server;
    void *owner;                  /* the transport's session around this one (struct sse_up, struct child_session) */
    const struct upsess_ops *ops; /* static */
    char id[33];                  /* the Mcp-Session-Id warden made */
    bool anonymous;               /* has no id a client may name (stdio's session-less 2026-07-28 children) */
    struct exchange_list pending; /* requests waiting for their answers (wait_link), oldest first */
    struct exchange *stream;      /* the client's GET stream, when open */
    struct evbuffer *backlog;     /* server messages for a stream not open yet, one per line (owned) */
    size_t backlog_max;           /* backlog's budget in bytes: a message past it is refused */
    struct bufferevent *in;       /* what carries the server's messages (the transport's): not read while paused > 0 */
    unsigned paused;              /* exchanges on it whose client is slow (ex->upsess_paused) */
    bool ending;                  /* ended: on server->ended until its transport frees it */
    TAILQ_ENTRY(upstream_session) link; /* in server->sessions, then server->ended */
};
#endif
