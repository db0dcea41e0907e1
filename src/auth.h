/* auth.c: who is calling. Reads an "auth" config object (API keys, JWT
 * validation, anonymous access, protected-resource metadata, a trusted
 * proxy's identity header), turns a request's credentials into a principal
 * or into the 401/403 answer the MCP authorization spec asks for, and
 * serves the RFC 9728 metadata document. */
#ifndef WARDEN_AUTH_H
#define WARDEN_AUTH_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <cjson/cJSON.h>

struct http_head;
struct schema_doc;
struct field;
struct event_base;
struct tls_client;

/* LOCAL: the desktop user of a --stdio warden, who launched it. */
enum principal_kind { PRINCIPAL_ANONYMOUS, PRINCIPAL_KEY, PRINCIPAL_JWT, PRINCIPAL_PROXY, PRINCIPAL_LOCAL };

/* Who is calling, as policies see it. `doc` is the one owned object:
 *   {"id": "ci-bot", "kind": "key", "labels": {...}, "claims": {...}, "scopes": [...]}
 * (claims: the JWT's payload, {} for other kinds; labels: an API key's
 * labels, {} for other kinds). id and scopes point into doc. A principal
 * is made once per request and lives as long as the request; policies
 * borrow it. The anonymous caller auth_authenticate makes shares one
 * read-only doc (`shared`): nobody may change it, principal_clear leaves it. */
struct principal {
    cJSON *doc;
    const char *id;
    enum principal_kind kind;
    bool shared;
};

/* "key", "jwt", "anonymous", "proxy" or "local". */
const char *principal_kind_name(enum principal_kind kind);
/* The value at a dotted path of the principal ("id", "kind", "labels.team",
 * "claims.groups", "scopes"), borrowed from doc; NULL when absent. */
const cJSON *principal_lookup(const struct principal *p, const char *path);
/* True when the principal holds scope s. */
bool principal_has_scope(const struct principal *p, const char *s);
/* Frees doc unless shared; safe on a zeroed principal. */
void principal_clear(struct principal *p);
/* Makes a principal of kind id with no labels, claims or scopes (the
 * anonymous caller, a --stdio desktop user). Returns 0, -1 out of memory. */
int principal_make(struct principal *p, enum principal_kind kind, const char *id);

/* The id of the --stdio caller, the desktop user who launched warden (a
 * principal of kind "local": its credentials are the process's own, no
 * auth object applies): `flag` (--principal), else $WARDEN_PRINCIPAL, else
 * the login name. Returns it malloc'd (the caller frees it), or NULL with
 * the reason in err (not 1 to 200 letters, digits and _ . - @ :). */
char *auth_local_id(const char *flag, char *err, size_t errlen);

/* One "auth" object, validated; immutable once read except for its key set,
 * which a jwks_url fetcher swaps (jwks.h). Shared by every worker thread. */
struct auth;

/* The config reader for an "auth" member (a FIELD_CUSTOM reader of
 * schema.h): dst is a `struct auth **`, set to the new object (owned by the
 * config; auth_free). Problems are reported at their JSON pointer. A
 * jwks_file is read here, relative to the config file. */
void auth_read_field(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst);
void auth_free(struct auth *a);

/* Starts fetching a jwks_url on base (the main thread's loop), verifying
 * https with tls (borrowed; may be NULL when the URL is http://). Without a
 * jwks_url it does nothing. Returns 0, or -1 with the reason in err. Tokens
 * are refused (401) until the first set arrives. */
int auth_start(struct auth *a, struct event_base *base, struct tls_client *tls, char *err, size_t errlen);
/* Stops the fetcher (on base's thread, before the loop is freed). */
void auth_stop(struct auth *a);

/* Why a request was not let through. */
struct auth_failure {
    int status;                 /* 401 or 403 */
    const char *error;          /* RFC 6750 code: "invalid_request", "invalid_token", "insufficient_scope", or NULL
                                 * (no credentials were sent) */
    char description[160];      /* for error_description and the log; never holds a secret */
};

enum auth_result { AUTH_OK = 0, AUTH_UNAUTHORIZED = 401, AUTH_FORBIDDEN = 403 };

/* Authenticates one request from the peer at `peer` (its socket address;
 * NULL for a local stdio client) with the head's Authorization field (a
 * Bearer credential only: an API key secret or a JWT) or, from a trusted
 * proxy, its identity header. On AUTH_OK *out holds the principal (the
 * caller clears it); otherwise *why says what to answer and *out holds
 * nothing. With auth NULL every caller is anonymous. Thread-safe. */
enum auth_result auth_authenticate(struct auth *a, const struct http_head *head, const struct sockaddr *peer,
                                   struct principal *out, struct auth_failure *why);

/* The WWW-Authenticate value for a failure:
 *   Bearer resource_metadata="BASE/.well-known/oauth-protected-resource/mcp/NAME", scope="a b"
 * followed by error="..." and error_description="..." when the failure has
 * a code. base_url is "https://HOST[:PORT]" as clients reach warden (no
 * trailing slash), server_path the server's path ("/mcp/NAME" or "/mcp").
 * Written to out (truncated safely); returns out. */
char *auth_challenge(const struct auth *a, const struct auth_failure *why, const char *base_url,
                     const char *server_path, char *out, size_t outlen);

/* The path of a server's metadata document: "/.well-known/oauth-protected-resource" + server_path. */
void auth_metadata_path(const char *server_path, char *out, size_t outlen);

/* The RFC 9728 protected-resource metadata for a server: resource
 * (base_url + server_path), authorization_servers, scopes_supported,
 * bearer_methods_supported ["header"]. A malloc'd JSON text, or NULL when
 * out of memory. */
char *auth_resource_metadata_json(const struct auth *a, const char *server_path, const char *base_url);

/* The configured public_url ("https://HOST[:PORT]"), or NULL. */
const char *auth_public_url(const struct auth *a);

/* `warden key new ID`: prints a fresh secret once and the api_keys entry to
 * paste into the config. Returns the exit code. */
int auth_key_main(int argc, char **argv);
#endif
