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
 * like any other, which still works). */
#ifndef WARDEN_APPROVAL_ELICIT_H
#define WARDEN_APPROVAL_ELICIT_H
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#define ELICIT_MAX_SESSIONS 4096

struct elicit_sessions;

/* NULL when out of memory or without random bytes for the key. */
struct elicit_sessions *elicit_sessions_new(void);
void elicit_sessions_free(struct elicit_sessions *s);

/* True when an initialize request's params ask for URL elicitation on 2025-11-25. */
bool elicit_wanted(const cJSON *initialize_params);

/* Notes the session id[0..len) (ids longer than 255 bytes are ignored). */
void elicit_sessions_note(struct elicit_sessions *s, const char *id, size_t len);
/* True when the session was noted. */
bool elicit_sessions_has(struct elicit_sessions *s, const char *id, size_t len);
#endif
