/* console_auth.c: who may use the console on the admin listener, and how a
 * browser stays logged in without being turned against warden.
 *
 * Accounts are the config's "approvers": a presented secret is hashed with
 * SHA-256 and compared in constant time with every entry (all of them, so
 * the time says nothing about which or whether one matched); the secret is
 * never stored or logged.
 *
 * Sessions: a login gives a random 128-bit id (the cookie) and a random
 * 128-bit CSRF token bound to it (a hidden field / X-CSRF-Token header for
 * every POST). The table is keyed with a random SipHash key and holds at
 * most max_bytes (CONSOLE_SESSION_COST each): when full, the session
 * created longest ago is ended to make room, so a new login always works. A
 * session ends CONSOLE_IDLE_SECONDS after its last use and
 * CONSOLE_MAX_SECONDS after the login, whichever comes first.
 *
 * Not thread-safe: the admin thread alone uses it. */
#ifndef WARDEN_CONSOLE_AUTH_H
#define WARDEN_CONSOLE_AUTH_H
#include <stdbool.h>
#include <stddef.h>
#include <event2/buffer.h>
#include "config-t.h"

#define CONSOLE_IDLE_SECONDS (30 * 60)
#define CONSOLE_MAX_SECONDS (12 * 3600)
#define CONSOLE_SESSIONS_BYTES (256u << 10)
/* 128 bits as lowercase hex, and its NUL. */
#define CONSOLE_TOKEN_HEX 33

struct console_auth;

struct console_session {
    char id[CONSOLE_TOKEN_HEX];     /* the cookie's value */
    char csrf[CONSOLE_TOKEN_HEX];
    const char *who;                /* the approver's id (the config's string) */
};

/* What one session costs against the budget. */
#define CONSOLE_SESSION_COST (sizeof(struct console_session) + 64)

/* Accounts approvers[0..n) are borrowed (the config outlives the console).
 * Returns NULL when out of memory, when no random key could be had, or when
 * max_bytes holds no session. Free with console_auth_free. */
struct console_auth *console_auth_new(const struct approver_conf *approvers, size_t n, size_t max_bytes);
void console_auth_free(struct console_auth *a);

/* The approver whose secret is secret[0..len), or NULL. Constant time in
 * the secret's bytes and over every account. */
const char *console_auth_check_secret(const struct console_auth *a, const char *secret, size_t len);

/* Starts a session for `who` (an id console_auth_check_secret returned) at
 * monotonic time now. Returns it (owned by the table, valid until the next
 * login, lookup or logout), or NULL when no random bytes could be had. */
const struct console_session *console_auth_login(struct console_auth *a, const char *who, double now);

/* The live session whose id is id[0..len), its idle timer restarted; NULL
 * when unknown or expired (an expired one is ended). */
const struct console_session *console_auth_session(struct console_auth *a, const char *id, size_t len, double now);

/* Ends the session id[0..len) if it exists. */
void console_auth_logout(struct console_auth *a, const char *id, size_t len);

/* Sessions alive in the table now (expired ones not yet swept included). */
size_t console_auth_count(const struct console_auth *a);

/* True when token[0..len) is the session's CSRF token (constant time). */
bool console_csrf_ok(const struct console_session *s, const char *token, size_t len);

/* Whether a state-changing browser request comes from the console itself:
 * Sec-Fetch-Site, when sent, must be "same-origin"; Origin, when sent, must
 * be scheme://host with host exactly the request's Host header (scheme
 * https when the listener is TLS). Either header may be NULL (absent): a
 * request without both is not a browser's and passes this check (it still
 * needs a CSRF token or a bearer secret). */
bool console_same_origin(const char *origin, const char *sec_fetch_site, const char *host, bool tls);

/* The value of cookie `name` in a Cookie header, into out (at most outlen-1
 * bytes); false when absent, empty or too long. */
bool console_cookie(const char *header, const char *name, char *out, size_t outlen);

/* Appends s with &, <, >, " and ' as character references: safe in HTML
 * text and in quoted attribute values. */
void console_html_escape(struct evbuffer *out, const char *s);
#endif
