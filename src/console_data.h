/* console_data.c: what the console's pages show, as JSON built on the
 * admin thread: every server with its tools, their risk class and the
 * decision the policies give them by default. */
#ifndef WARDEN_CONSOLE_DATA_H
#define WARDEN_CONSOLE_DATA_H
#include <stdbool.h>
#include <event2/buffer.h>
#include <cjson/cJSON.h>

struct worker;
struct catalog;
struct policy_set;

/* The risk class of a tool as the policies class it (riskclass.h: "read",
 * "write", "destructive" or "unknown"): from the definition last listed
 * (seen: its "description" and "annotations", trusted as the server's
 * trust_annotations says), then the policies' classes_of overrides in ps
 * (may be NULL), the same as a tools/call of it is decided with. */
const char *console_tool_class(const struct policy_set *ps, const char *name, const cJSON *seen,
                               bool trust_annotations);

/* Appends {"servers":[{"name","path","transport":"http"|"stdio","target",
 * "generation":N|null,"policies":N,"sessions":N|null,"tools":[{"name","description",
 * "annotations","class","decision","rule","limit":{"max","window"}|null,
 * "conditions","lua","listed"}]}]}. decision is allow, hide, deny,
 * require_approval or rate_limit. sessions: a stdio server's live
 * children in every worker (metrics_sessions_open), null for HTTP. w is the admin's own worker (its policy
 * generations are read on its thread); the catalog may be NULL. */
void console_servers_json(const struct worker *w, struct catalog *cat, struct evbuffer *out);

/* The "try a call" form: the policies of server `server` (by name) decide
 * tools/call of tool with args (an object) for principal (NULL, or an
 * object with a string "id" and optionally "kind", "labels", "claims",
 * "scopes"), as `warden explain` does: the files are loaded afresh, with
 * their own empty rate and shared stores, so nothing the live policies
 * count or keep is touched. Appends {"decision","rule","reason","trace"}
 * or {"error"} and returns the HTTP status (200, 400 or 404). */
int console_try_json(const struct worker *w, const char *server, const char *tool, const cJSON *args,
                     const cJSON *principal, struct evbuffer *out);
#endif
