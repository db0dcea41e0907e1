/* http.c: lookups by the field class the reader gave each header
 * (http_header_field, http_header_hop_by_hop) answer as the lookups by name
 * do, for read heads and for heads built by hand (no classes). */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "http.h"

static int on_head(void *o) { (void)o; return 0; }
static int on_body(void *o, const char *at, size_t len) { (void)o; (void)at; (void)len; return 0; }
static int on_complete(void *o) { (void)o; return 0; }
static const struct http_reader_ops ops = {on_head, on_body, on_complete};

static const char *const names[] = {
    "content-type", "host", "origin", "connection", "expect", "authorization", "mcp-session-id",
    "mcp-protocol-version", "mcp-method", "mcp-name", "transfer-encoding", "keep-alive", "te", "upgrade",
    "accept-encoding", "accept", "user-agent",
};
static const enum http_field fields[] = {
    HF_CONTENT_TYPE, HF_HOST, HF_ORIGIN, HF_CONNECTION, HF_EXPECT, HF_AUTHORIZATION, HF_MCP_SESSION_ID,
    HF_MCP_PROTOCOL_VERSION, HF_MCP_METHOD, HF_MCP_NAME, HF_TRANSFER_ENCODING, HF_KEEP_ALIVE, HF_TE, HF_UPGRADE,
    HF_ACCEPT_ENCODING, HF_ACCEPT, HF_USER_AGENT,
};

/* Every lookup by class agrees with the one by name, and every header's
 * hop-by-hop class with the one of its name. */
static void check_agree(const struct http_head *h)
{
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        size_t l1 = 0, l2 = 0;
        const char *a = http_header_get(h, names[k], &l1);
        const char *b = http_header_field(h, fields[k], &l2);
        CHECK(a == b && l1 == l2);
    }
    for (size_t i = 0; i < h->nheaders; i++) {
        const char *n, *v;
        size_t nl, vl;
        http_header_at(h, i, &n, &nl, &v, &vl);
        CHECK(http_header_hop_by_hop(h, i) == http_is_hop_by_hop(n, nl));
    }
}

static void test_read_head(void)
{
    static const char req[] = "POST /mcp HTTP/1.1\r\n"
                              "HOST: a.test\r\n"
                              "Content-Type: application/json\r\n"
                              "mcp-session-id: s1\r\n"
                              "Connection: keep-alive, X-Drop\r\n"
                              "Keep-Alive: timeout=5\r\n"
                              "Keep_Alive: underscored\r\n"
                              "TE: trailers\r\n"
                              "Upgrade: h2c\r\n"
                              "Accept-Encoding: gzip\r\n"
                              "Accept: application/json\r\n"
                              "MCP-Method: tools/call\r\n"
                              "X-Other: 1\r\n"
                              "Content-Length: 0\r\n\r\n";
    struct http_reader r;
    http_reader_init(&r, HTTP_REQUEST, &ops, NULL, 16384, 64);
    http_reader_feed(&r, req, sizeof req - 1);
    CHECK(r.in_body && !http_reader_failed(&r, NULL, NULL));
    const struct http_head *h = &r.head;
    CHECK(h->fields != NULL);
    check_agree(h);
    size_t len;
    const char *v = http_header_field(h, HF_MCP_SESSION_ID, &len);
    CHECK(v && len == 2 && memcmp(v, "s1", 2) == 0);
    CHECK(http_header_field(h, HF_ORIGIN, &len) == NULL);
    CHECK(http_header_field(h, HF_MCP_NAME, &len) == NULL);
    /* Keep_Alive is no Keep-Alive to warden (its class is HF_OTHER). */
    CHECK(http_header_hop_by_hop(h, 3) && http_header_hop_by_hop(h, 4) && !http_header_hop_by_hop(h, 5));
    CHECK(!http_header_hop_by_hop(h, 11) && http_header_hop_by_hop(h, 12));
    http_reader_free(&r);
}

/* A head assembled by hand, as tests and the stdio bridge make them. */
static void test_built_head(void)
{
    char buf[] = "hostx.testconnectionclosemcp-session-ids2";
    struct http_header hs[] = {
        {.name_off = 0, .name_len = 4, .value_off = 4, .value_len = 6},
        {.name_off = 10, .name_len = 10, .value_off = 20, .value_len = 5},
        {.name_off = 25, .name_len = 14, .value_off = 39, .value_len = 2},
    };
    struct http_head h = {.buf = buf, .len = sizeof buf - 1, .headers = hs, .nheaders = 3};
    check_agree(&h);
    size_t len;
    const char *v = http_header_field(&h, HF_HOST, &len);
    CHECK(v && len == 6 && memcmp(v, "x.test", 6) == 0);
    CHECK(http_header_hop_by_hop(&h, 0) && http_header_hop_by_hop(&h, 1) && !http_header_hop_by_hop(&h, 2));
}

/* A Connection list naming only fields never forwarded lets callers skip
 * the per-header test; any other token (close too: a header may be named
 * so) keeps it. */
static void test_connection_lists(void)
{
    static const char *const only[] = {"keep-alive", "Keep-Alive, Upgrade", " te ,, TRAILER ", "", ","};
    static const char *const other[] = {"close", "keep-alive, X-Drop", "keep_alive", "upgrade,close", "Set-Cookie"};
    for (size_t i = 0; i < sizeof only / sizeof *only; i++)
        CHECK(http_connection_only_hop_by_hop(only[i], strlen(only[i])));
    for (size_t i = 0; i < sizeof other / sizeof *other; i++)
        CHECK(!http_connection_only_hop_by_hop(other[i], strlen(other[i])));
}

int main(void)
{
    test_connection_lists();
    test_read_head();
    test_built_head();
    return check_report();
}
