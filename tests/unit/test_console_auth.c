/* The console's accounts and sessions: secrets against the configured
 * digests, sessions (login, lookup, idle and absolute expiry, logout, the
 * budget ending the oldest), CSRF tokens, the origin check, cookies and
 * HTML escaping. Times are passed in: nothing waits. */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "console_auth.h"
#include "sha256.h"

static struct approver_conf acct[2];

static void setup(void)
{
    acct[0].id = "alice";
    sha256("alice-secret", 12, acct[0].sha256);
    acct[1].id = "bob";
    sha256("bob-secret", 10, acct[1].sha256);
}

static void test_secrets(void)
{
    struct console_auth *a = console_auth_new(acct, 2, CONSOLE_SESSIONS_BYTES);
    CHECK(a != NULL);
    CHECK_STR(console_auth_check_secret(a, "alice-secret", 12), "alice");
    CHECK_STR(console_auth_check_secret(a, "bob-secret", 10), "bob");
    CHECK(console_auth_check_secret(a, "alice-secre", 11) == NULL);
    CHECK(console_auth_check_secret(a, "", 0) == NULL);
    CHECK(console_auth_check_secret(a, "Alice-secret", 12) == NULL);
    console_auth_free(a);
    a = console_auth_new(acct, 0, CONSOLE_SESSIONS_BYTES);
    CHECK(console_auth_check_secret(a, "alice-secret", 12) == NULL);
    console_auth_free(a);
    CHECK(console_auth_new(acct, 2, 10) == NULL);
}

static void test_sessions(void)
{
    struct console_auth *a = console_auth_new(acct, 2, CONSOLE_SESSIONS_BYTES);
    const struct console_session *s = console_auth_login(a, "alice", 100);
    CHECK(s != NULL);
    char id[CONSOLE_TOKEN_HEX], csrf[CONSOLE_TOKEN_HEX];
    snprintf(id, sizeof id, "%s", s->id);
    snprintf(csrf, sizeof csrf, "%s", s->csrf);
    CHECK(strlen(id) == 32 && strlen(csrf) == 32 && strcmp(id, csrf) != 0);
    const struct console_session *t = console_auth_login(a, "bob", 100);
    CHECK(strcmp(t->id, id) != 0);
    s = console_auth_session(a, id, 32, 200);
    CHECK(s && strcmp(s->who, "alice") == 0);
    CHECK(console_auth_session(a, id, 31, 200) == NULL);
    char wrong[CONSOLE_TOKEN_HEX];
    snprintf(wrong, sizeof wrong, "%s", id);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    CHECK(console_auth_session(a, wrong, 32, 200) == NULL);
    /* CSRF: only the session's own token. */
    CHECK(console_csrf_ok(s, csrf, 32));
    CHECK(!console_csrf_ok(s, csrf, 31));
    CHECK(!console_csrf_ok(s, NULL, 0));
    CHECK(!console_csrf_ok(s, t->csrf, 32));
    CHECK(!console_csrf_ok(s, id, 32));
    /* Idle: used at 200, alive at 200 + idle, gone after. */
    CHECK(console_auth_session(a, id, 32, 200 + CONSOLE_IDLE_SECONDS) != NULL);
    CHECK(console_auth_session(a, id, 32, 201 + 2 * CONSOLE_IDLE_SECONDS) == NULL);
    CHECK(console_auth_session(a, id, 32, 0) == NULL); /* ended for good */
    /* Absolute: even a session in constant use ends. */
    s = console_auth_login(a, "alice", 0);
    snprintf(id, sizeof id, "%s", s->id);
    double now = 0;
    for (; now < CONSOLE_MAX_SECONDS; now += CONSOLE_IDLE_SECONDS / 2)
        CHECK(console_auth_session(a, id, 32, now) != NULL);
    CHECK(console_auth_session(a, id, 32, now + 1) == NULL);
    /* Logout. */
    s = console_auth_login(a, "bob", 10);
    snprintf(id, sizeof id, "%s", s->id);
    console_auth_logout(a, id, 32);
    CHECK(console_auth_session(a, id, 32, 10) == NULL);
    console_auth_free(a);
}

static void test_budget(void)
{
    struct console_auth *a = console_auth_new(acct, 2, 3 * CONSOLE_SESSION_COST);
    char ids[5][CONSOLE_TOKEN_HEX];
    for (int i = 0; i < 5; i++)
        snprintf(ids[i], sizeof ids[i], "%s", console_auth_login(a, "alice", i)->id);
    CHECK(console_auth_count(a) == 3);
    /* The oldest two were ended to make room. */
    CHECK(console_auth_session(a, ids[0], 32, 5) == NULL);
    CHECK(console_auth_session(a, ids[1], 32, 5) == NULL);
    CHECK(console_auth_session(a, ids[4], 32, 5) != NULL);
    CHECK(console_auth_session(a, ids[2], 32, 5) != NULL);
    console_auth_free(a);
}

static void test_origin(void)
{
    CHECK(console_same_origin(NULL, NULL, "127.0.0.1:9", false));
    CHECK(console_same_origin("http://127.0.0.1:9", "same-origin", "127.0.0.1:9", false));
    CHECK(!console_same_origin("http://127.0.0.1:9", "same-origin", "127.0.0.1:9", true));
    CHECK(console_same_origin("https://127.0.0.1:9", NULL, "127.0.0.1:9", true));
    CHECK(!console_same_origin("http://evil.example", NULL, "127.0.0.1:9", false));
    CHECK(!console_same_origin("http://127.0.0.1:9.evil", NULL, "127.0.0.1:9", false));
    CHECK(!console_same_origin("http://127.0.0.1:9", NULL, NULL, false));
    CHECK(!console_same_origin("null", NULL, "127.0.0.1:9", false));
    CHECK(!console_same_origin(NULL, "cross-site", "127.0.0.1:9", false));
    CHECK(!console_same_origin(NULL, "same-site", "127.0.0.1:9", false));
    CHECK(!console_same_origin(NULL, "none", "127.0.0.1:9", false));
}

static void test_cookie_and_escape(void)
{
    char v[CONSOLE_TOKEN_HEX];
    CHECK(console_cookie("a=1; warden_session=abc; b=2", "warden_session", v, sizeof v));
    CHECK_STR(v, "abc");
    CHECK(console_cookie("warden_session=", "warden_session", v, sizeof v) == false);
    CHECK(!console_cookie("xwarden_session=abc", "warden_session", v, sizeof v));
    CHECK(!console_cookie("warden_sessionx=abc", "warden_session", v, sizeof v));
    CHECK(!console_cookie(NULL, "warden_session", v, sizeof v));
    char longv[100];
    memset(longv, 'a', sizeof longv);
    memcpy(longv, "warden_session=", 15);
    longv[99] = '\0';
    CHECK(!console_cookie(longv, "warden_session", v, sizeof v));
    struct evbuffer *b = evbuffer_new();
    console_html_escape(b, "<script>alert('x')</script> & \"q\"");
    evbuffer_add(b, "", 1);
    CHECK_STR((const char *)evbuffer_pullup(b, -1),
              "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
    evbuffer_free(b);
    b = evbuffer_new();
    console_html_escape(b, "");
    CHECK(evbuffer_get_length(b) == 0);
    evbuffer_free(b);
}

int main(void)
{
    setup();
    test_secrets();
    test_sessions();
    test_budget();
    test_origin();
    test_cookie_and_escape();
    return check_report();
}
