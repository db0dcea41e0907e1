/* approval_elicit.c: the sessions whose client can open a URL for the user:
 * its initialize said protocolVersion "2025-11-25" and declared the
 * capability elicitation.url. A tools/call of such a session that needs
 * approval is answered with MCP's error -32042 (URL elicitation required)
 * pointing at the approval page, instead of being held; the client retries
 * the call once the user is done there, and the retry passes when approved.
 *
 * A set of session ids shared by every worker (one mutex), keyed with a
 * random SipHash key, at most ELICIT_MAX_SESSIONS: when full, the session
 * noted longest ago is forgotten (its client then waits on an event stream
 * like any other, which still works).
 *
 * When a person decides the approval such a session was sent to, every
 * worker is told (a mailbox per worker, under the same mutex, woken by an
 * event on its loop) and writes notifications/elicitation/complete on that
 * session's GET streams. Each worker watches at most ELICIT_MAX_WATCHES
 * approvals (an approval_waiter each, only touched on its own thread; when
 * full the oldest watch is dropped) and keeps at most ELICIT_MAX_NOTICES
 * undelivered notices (when full the oldest is dropped): the notification is
 * optional, the client can always retry by itself.
 *
 * The 2026-07-28 channel has no session: its input_required result carries a
 * requestState, "wd1.<approval id>.<expiry>.<mac>", mac = base64url of
 * HMAC-SHA256(key, "wd1|" id "|" expiry "|" call digest). The call digest
 * (elicit_call_digest) binds the state to the principal, server, tool and
 * arguments of the call; the retry's own digest is used to verify, so a state
 * moved to another call or principal fails like a forged one.
 *
 * The key, so that a retry may land on any of several wardens: the
 * operator's (approvals.request_state_key_env, elicit_state_key_set); else,
 * with "state", one shared in Redis (elicit_state_key_share: the first warden
 * writes 32 random bytes at <prefix>apr:statekey with SET NX, every warden
 * reads what is there, and reads it again every ELICIT_KEY_REFRESH_SECONDS;
 * until it is read no state is made or checked: approvals fail closed, with
 * a log line); else 32 random bytes of this process (one warden). */
#ifndef WARDEN_APPROVAL_ELICIT_H
#define WARDEN_APPROVAL_ELICIT_H
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include <event2/event.h>
#include "approval.h"
#include "jsonrpc-t.h"

#define ELICIT_MAX_SESSIONS 4096
#define ELICIT_MAX_WATCHES 256
#define ELICIT_MAX_NOTICES 1024
#define ELICIT_STATE_MAX 128 /* bytes of a requestState warden makes, NUL included */
#define ELICIT_KEY_MIN 32    /* bytes of the requestState key (config-t.h's REQUEST_STATE_KEY_MIN) */
#define ELICIT_KEY_MAX 64
#define ELICIT_KEY_RETRY_SECONDS 0.5   /* the shared key not read yet: read again after */
#define ELICIT_KEY_WARN_AFTER 6        /* failed reads in a row before the log says so */
#define ELICIT_KEY_REFRESH_SECONDS 30.0 /* read: read again after (a Redis that lost it gets it back) */
#define ELICIT_KEY_BAD_SECONDS 5.0      /* not known, and what Redis holds is no key: read again after */

struct elicit_sessions;
struct state;

/* NULL when out of memory or without random bytes for the keys. nworkers:
 * how many workers may attach. */
struct elicit_sessions *elicit_sessions_new(int nworkers);
/* Frees the watches and events of every attached worker too: call it while
 * their event bases still exist and their loops no longer run. */
void elicit_sessions_free(struct elicit_sessions *s);

/* Writes notifications/elicitation/complete for `elicitation_id` on the GET
 * streams of session[0..len) that this worker carries (exchange.c). */
typedef void (*elicit_deliver_fn)(void *arg, const char *session, size_t len, const char *elicitation_id);

/* Worker `index` (< nworkers) takes notices on `base` and hands them to
 * deliver(arg, ...) on its loop. Call before the workers run. Returns 0, or -1. */
int elicit_sessions_attach(struct elicit_sessions *s, int index, struct event_base *base, elicit_deliver_fn deliver,
                           void *arg);

/* On worker `index`'s loop, after session[0..len) was sent to approval `id`:
 * when the approval is decided or expires, every worker is told. store: the
 * in-process store the approval is in; NULL with the shared state (Redis),
 * where elicit_sessions_decided tells of the decision instead. */
void elicit_sessions_watch(struct elicit_sessions *s, int index, struct approval_store *store, const char *session,
                           size_t len, const char *id);
/* On worker `index`'s loop, with the shared state: approval id[0..len) was
 * decided on some warden (approval_hold_decided hears it on the worker's
 * subscription); this worker's watches of it tell every worker. */
void elicit_sessions_decided(struct elicit_sessions *s, int index, const char *id, size_t len);

/* True when a 2026-07-28 request's params declare URL elicitation in
 * _meta["io.modelcontextprotocol/clientCapabilities"]. */
bool elicit_modern_wanted(const cJSON *params);

/* The digest a requestState is bound to (principal, server, tool, canonical
 * arguments, each length-prefixed). Returns -1 when the arguments cannot be
 * made canonical or out of memory. */
int elicit_call_digest(const char *principal, const char *server, const char *tool, const cJSON *args,
                       unsigned char out[SHA256_BYTES]);

/* The operator's key[0..len) (ELICIT_KEY_MIN..ELICIT_KEY_MAX bytes; others
 * are ignored) replaces this process's random one. Call before the workers run. */
void elicit_state_key_set(struct elicit_sessions *s, const unsigned char *key, size_t len);
/* The key shared by every warden on st's Redis, read on base's loop (st's):
 * from now until it is read, no state is made or checked. Call before the
 * workers run; elicit_sessions_free stops it (before st is freed).
 * Returns 0, or -1 when out of memory or called twice. */
int elicit_state_key_share(struct elicit_sessions *s, struct state *st, struct event_base *base);

/* Writes the requestState for approval `id`, valid until `expires` (wall
 * seconds), for the call of `digest` into out[ELICIT_STATE_MAX]. Returns 0,
 * or -1 when no key is known yet (out untouched). */
int elicit_state_sign(struct elicit_sessions *s, const char *id, double expires, const unsigned char digest[SHA256_BYTES],
                      char out[ELICIT_STATE_MAX]);

enum elicit_state_check {
    ELICIT_STATE_VALID,   /* made under the key in force for this call, not expired: id is filled */
    ELICIT_STATE_FOREIGN, /* not warden's form: the upstream's, or nothing */
    ELICIT_STATE_FORGED,  /* warden's form, but the mac does not match this call */
    ELICIT_STATE_EXPIRED, /* genuine, but past its expiry */
    ELICIT_STATE_NO_KEY,  /* warden's form, but no key is known yet to check it */
};
/* A retry that warden's requestState let through is forwarded without it:
 * the members requestState and inputResponses of params in body[0..len) (a
 * message rpc_parse accepted) are overwritten with spaces, commas mended, so
 * that the length, and so the framing, stays. The server never sees a state
 * it did not issue. Returns 0, or -1 (body unchanged) when params has more
 * members than warden looks at (64). */
int elicit_strip_retry(char *body, size_t len, const struct rpc_limits *lim);

/* Checks a retry's requestState state[0..len) against the retry's own
 * digest; the mac is compared in constant time before anything else of it
 * is trusted. */
enum elicit_state_check elicit_state_verify(struct elicit_sessions *s, const char *state, size_t len,
                                            const unsigned char digest[SHA256_BYTES], double now,
                                            char id[APPROVAL_ID_LEN + 1]);

/* True when an initialize request's params ask for URL elicitation on 2025-11-25. */
bool elicit_wanted(const cJSON *initialize_params);

/* Notes the session id[0..len) (ids longer than 255 bytes are ignored). */
void elicit_sessions_note(struct elicit_sessions *s, const char *id, size_t len);
/* True when the session was noted. */
bool elicit_sessions_has(struct elicit_sessions *s, const char *id, size_t len);
#endif
