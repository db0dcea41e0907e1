/* Unit tests of the legacy HTTP+SSE endpoints' pure parts (src/legacy_sse.c):
 * which paths name a stream or a message endpoint and for which server, and
 * the sessionId a POST's query names. The streams themselves are tested end
 * to end (tests/e2e/legacy-sse.test.mjs). */
#include "check.h"
#include "../../src/legacy_sse.c"

static void test_route(void)
{
    struct server_conf unnamed = {.name = "", .path = "/mcp"};
    struct server_rt one_rt = {.conf = &unnamed};
    struct server_rt *one[1] = {&one_rt};
    struct worker w = {.servers = one, .nservers = 1};
    size_t i = 99;
    CHECK(legacy_route(&w, "/sse", 4, &i) == LEGACY_STREAM && i == 0);
    CHECK(legacy_route(&w, "/message", 8, &i) == LEGACY_MESSAGE && i == 0);
    CHECK(legacy_route(&w, "/mcp/sse", 8, &i) == LEGACY_STREAM);
    CHECK(legacy_route(&w, "/mcp/message", 12, &i) == LEGACY_MESSAGE);
    CHECK(legacy_route(&w, "/mcp", 4, &i) == LEGACY_NONE);
    CHECK(legacy_route(&w, "/mcp/sse/", 9, &i) == LEGACY_NONE);
    CHECK(legacy_route(&w, "/ss", 3, &i) == LEGACY_NONE);

    struct server_conf a = {.name = "a", .path = "/mcp/a"}, b = {.name = "b", .path = "/mcp/b"};
    struct server_rt a_rt = {.conf = &a}, b_rt = {.conf = &b};
    struct server_rt *two[2] = {&a_rt, &b_rt};
    struct worker w2 = {.servers = two, .nservers = 2};
    CHECK(legacy_route(&w2, "/mcp/b/sse", 10, &i) == LEGACY_STREAM && i == 1);
    CHECK(legacy_route(&w2, "/mcp/a/message", 14, &i) == LEGACY_MESSAGE && i == 0);
    /* Bare /sse names only a single unnamed server. */
    CHECK(legacy_route(&w2, "/sse", 4, &i) == LEGACY_NONE);
    struct server_rt *named[1] = {&a_rt};
    struct worker w3 = {.servers = named, .nservers = 1};
    CHECK(legacy_route(&w3, "/sse", 4, &i) == LEGACY_NONE);
    CHECK(legacy_route(&w3, "/mcp/a/sse", 10, &i) == LEGACY_STREAM);
}

static bool session_of(const char *q, char out[33])
{
    return query_session(q, q ? strlen(q) : 0, out);
}

static void test_query_session(void)
{
    char id[33];
    const char *good = "0123456789abcdef0123456789abcdef";
    CHECK(session_of("?sessionId=0123456789abcdef0123456789abcdef", id));
    CHECK_STR(id, good);
    CHECK(session_of("?x=1&sessionId=0123456789abcdef0123456789abcdef&y=2", id));
    CHECK_STR(id, good);
    CHECK(!session_of(NULL, id));
    CHECK(!session_of("", id));
    CHECK(!session_of("?", id));
    CHECK(!session_of("?sessionId=", id));
    CHECK(!session_of("?sessionId=0123456789ABCDEF0123456789abcdef", id));   /* warden makes lower case */
    CHECK(!session_of("?sessionId=0123456789abcdef0123456789abcde", id));    /* 31 digits */
    CHECK(!session_of("?sessionId=0123456789abcdef0123456789abcdef0", id));  /* 33 digits */
    CHECK(!session_of("?sessionid=0123456789abcdef0123456789abcdef", id));
    CHECK(!session_of("?xsessionId=0123456789abcdef0123456789abcdef", id));
    CHECK(!session_of("?sessionId=0123456789abcdef0123456789abcdeg", id));
}

static void test_principal(void)
{
    CHECK(same_id("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"));
    CHECK(!same_id("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdee"));
    CHECK(!same_id("1123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"));
    CHECK(same_principal(NULL, NULL));
    CHECK(!same_principal("key:a", NULL));
    CHECK(!same_principal(NULL, "key:a"));
    CHECK(same_principal("key:a", "key:a"));
    CHECK(!same_principal("key:a", "jwt:a"));
    struct principal nobody = {0};
    bool failed = true;
    CHECK(principal_key(&nobody, &failed) == NULL && !failed);
    struct principal p = {.id = "ci-bot", .kind = PRINCIPAL_KEY};
    char *k = principal_key(&p, &failed);
    CHECK_STR(k, "key:ci-bot");
    CHECK(!failed);
    free(k);
}

int main(void)
{
    test_route();
    test_query_session();
    test_principal();
    return check_report();
}
