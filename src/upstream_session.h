/* upstream_session.c: the bookkeeping of one session with an upstream server
 * that the stdio (upstream_stdio.c) and legacy HTTP+SSE (upstream_sse.c)
 * transports share: which requests wait on it and for which ids, answers
 * routed back to them, the client's GET stream and the bounded backlog that
 * waits for it, pausing the server's reading for slow clients, session ids,
 * and ending a session with requests in flight. The transport does the
 * talking (pipes, sockets, timers) and frees its sessions.
 *
 * Who owns what:
 * - the transport owns its session (struct sse_up, struct child_session),
 *   which embeds a struct upstream_session (upstream_session-t.h); the
 *   upstream_session owns only its backlog, freed by upsess_clear;
 * - the server runtime lists its transport's sessions: live ones on
 *   s->sessions (counted in s->nsessions), ended ones on s->ended, where the
 *   transport frees them later in one place (a reaper event, the SIGCHLD
 *   handler), never inside their own callbacks;
 * - an exchange on a session is the client's (proxy-t.h); the session only
 *   points at it (pending or stream) while ex->upsess points back, and
 *   whichever side ends first detaches it (upsess_detach).
 *
 * An upstream is hostile: an answer whose id no request waits for (never
 * sent, answered already, or cancelled) finds none in upsess_waiting and is
 * the transport's to drop; a request whose id already waits on the session is
 * refused (upsess_id_free), so that no answer can be told from another's. */
#ifndef WARDEN_UPSTREAM_SESSION_H
#define WARDEN_UPSTREAM_SESSION_H
#include <stdbool.h>
#include <stddef.h>
#include "transport.h"
#include "upstream_session-t.h"

/* Writes a session id: 128 random bits from the kernel, in hex. It is the
 * session's only credential, so -1 when the kernel gives no random bytes
 * (no session then, rather than one with a guessable id). */
int upsess_make_id(char out[33]);

/* Prepares us (zeroed) for a session of s with this id, owned by owner:
 * nothing waits on it, its backlog is empty with room for backlog_max bytes;
 * in is the transport's reader of the server's messages. Not listed yet.
 * Returns 0, or -1 when out of memory (then nothing to clear). */
int upsess_init(struct upstream_session *us, struct server_rt *s, void *owner, const struct upsess_ops *ops,
                const char *id, struct bufferevent *in, size_t backlog_max);
/* Lists us among s's live sessions. */
void upsess_add(struct upstream_session *us);
/* Frees what us owns. Once it has ended, or when it was never listed. */
void upsess_clear(struct upstream_session *us);

/* The live session with this id that a client may name, or NULL. */
struct upstream_session *upsess_find(struct server_rt *s, const char *id);
/* A client's request on the session its Mcp-Session-Id names (400 without
 * one, 404 when none lives; a DELETE without one is a 404 too): POST sends
 * a request to wait for its answer, or a notification or response (202);
 * GET opens the session's stream (idle_ms: its deadline between messages, 0
 * for none); DELETE ends the session (delete_why: why, for the log and its
 * requests' errors) and is answered 200. A POST that opens a session is the
 * transport's. */
void upsess_forward(struct exchange *ex, const struct upstream_request *req, unsigned idle_ms, const char *delete_why);
/* Nothing is open on us: no request waits, no stream. */
bool upsess_idle(const struct upstream_session *us);
/* Starts the transport's idle clock (timer, seconds) when nothing is open
 * on us, and stops it while something is; nothing once us is ending. */
void upsess_idle_clock(const struct upstream_session *us, struct event *timer, int seconds);

/* Keeps the message ex POSTs in ex->body (freed with ex) for the session to
 * send now or later. False when out of memory: ex is answered. */
bool upsess_keep_body(struct exchange *ex, const struct upstream_request *req);
/* False, and ex answered with an error for its id, when a request with ex's
 * id already waits on us: the answers could not be told apart. */
bool upsess_id_free(struct upstream_session *us, struct exchange *ex);
/* Request ex waits on us for its answer: its event stream opens (naming the
 * session unless us is anonymous) and its first-byte deadline starts. */
void upsess_wait(struct upstream_session *us, struct exchange *ex);
/* The request waiting on us for this id (its JSON text), or NULL. */
struct exchange *upsess_waiting(const struct upstream_session *us, const char *id, size_t id_len);
/* The answer for ex, a request waiting on a session: ex leaves it, gets the
 * message (exchange.c judges it) and its stream ends. */
void upsess_answer(struct exchange *ex, const char *json, size_t len);
/* Keeps a server message for a stream not open yet; false, and nothing
 * kept, when it would take the backlog past its budget. */
bool upsess_keep(struct upstream_session *us, const char *json, size_t len);

/* Takes ex off the session it is on (its answer came, it failed, its client
 * left); nothing when it is on none. Its transport's changed hook runs. */
void upsess_detach(struct exchange *ex);
/* Backpressure (transport.h): the session's reader stops while any client
 * on it is slow, and resumes, with what it read already, once none is. */
void upsess_pause(struct exchange *ex);
void upsess_resume(struct exchange *ex);

/* Ends us, once: it moves to s->ended (its transport frees it from there),
 * its requests fail with kind and what, its stream ends. The transport has
 * stopped its reading and timers first, and logs why. */
void upsess_end(struct upstream_session *us, enum upstream_failure kind, const char *what);
#endif
