/* Unit tests of the HTTP/1.1 reader (src/http.c): the strict head checks,
 * framing at every split point, and header helpers. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "http.h"

struct sink {
    char body[4096];
    size_t body_len;
    int heads, completes;
};

static int on_head(void *o) { ((struct sink *)o)->heads++; return 0; }
static int on_body(void *o, const char *at, size_t len)
{
    struct sink *s = o;
    if (s->body_len + len > sizeof s->body)
        return -1;
    memcpy(s->body + s->body_len, at, len);
    s->body_len += len;
    return 0;
}
static int on_complete(void *o) { ((struct sink *)o)->completes++; return 0; }
static const struct http_reader_ops ops = {on_head, on_body, on_complete};

/* Feeds p[0..len) as a request; returns 1 when the head is read, 0 when
 * more bytes are needed, -1 with *status when refused. */
static int read_head(const char *p, size_t len, size_t max_head, int *status)
{
    struct sink s = {0};
    struct http_reader r;
    http_reader_init(&r, HTTP_REQUEST, &ops, &s, max_head, 64);
    http_reader_feed(&r, p, len);
    *status = 0;
    int verdict = http_reader_failed(&r, status, NULL) ? -1 : r.in_body ? 1 : 0;
    http_reader_free(&r);
    return verdict;
}

static int head_verdict(const char *head, int *status)
{
    return read_head(head, strlen(head), 16384, status);
}

static void test_head_lines(void)
{
    int st;
    CHECK(head_verdict("POST /mcp HTTP/1.1\r\nHost: a\r\n\r\n", &st) == 1);
    CHECK(head_verdict("\r\nPOST /mcp HTTP/1.1\r\nHost: a\r\n\r\n", &st) == 1);
    CHECK(head_verdict("POST /mcp HTTP/1.1\r\nHost: a\r\n", &st) == 0);
    CHECK(head_verdict("POST /mcp HTTP/1.1\r\nHost: a\n\r\n", &st) == -1 && st == 400);          /* bare LF */
    CHECK(head_verdict("POST /mcp HTTP/1.1\nHost: a\r\n\r\n", &st) == -1 && st == 400);
    CHECK(head_verdict("POST /mcp HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", &st) == -1 && st == 400); /* obs-fold */
    CHECK(head_verdict("POST /mcp HTTP/1.1\r\nX-A:\r\n\tb\r\n\r\n", &st) == -1 && st == 400);
    CHECK(head_verdict("POST /mcp HTTP/1.1\r\nHost : a\r\n\r\n", &st) == -1 && st == 400);        /* space before colon */
    CHECK(head_verdict("POST /mcp HTTP/1.1\r\nHo(st: a\r\n\r\n", &st) == -1 && st == 400);
    CHECK(head_verdict("POST /mcp HTTP/1.1\r\n: a\r\n\r\n", &st) == -1 && st == 400);
    CHECK(head_verdict("POST /mcp HTTP/1.1\r\nHost a\r\n\r\n", &st) == -1 && st == 400);
    CHECK(head_verdict("POST /mcp HTTP/1.1\r\nHost: a\rb\r\n\r\n", &st) == -1 && st == 400);      /* bare CR */

    /* 65 headers where 64 are allowed */
    char many[4096] = "POST /mcp HTTP/1.1\r\n";
    for (int i = 0; i < 65; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "X-%d: v\r\n", i);
    strcat(many, "\r\n");
    CHECK(head_verdict(many, &st) == -1 && st == 431);

    /* a head larger than the limit, complete or not */
    size_t big = 20000;
    char *huge = malloc(big + 64);
    strcpy(huge, "POST /mcp HTTP/1.1\r\nX-Big: ");
    size_t n = strlen(huge);
    memset(huge + n, 'a', big);
    huge[n + big] = '\0';
    CHECK(read_head(huge, strlen(huge), 16384, &st) == -1 && st == 431);
    strcat(huge, "\r\n\r\n");
    CHECK(read_head(huge, strlen(huge), 16384, &st) == -1 && st == 431);
    free(huge);
}

/* Feeds msg in pieces of `step` bytes and checks the one message read. */
static void feed_in_steps(const char *msg, size_t step, const char *want_body)
{
    struct sink s = {0};
    struct http_reader r;
    http_reader_init(&r, HTTP_REQUEST, &ops, &s, 16384, 64);
    size_t len = strlen(msg), off = 0;
    while (off < len && !r.complete) {
        size_t n = len - off < step ? len - off : step;
        size_t used = http_reader_feed(&r, msg + off, n);
        CHECK(!http_reader_failed(&r, NULL, NULL));
        off += used;
        if (used < n && !r.complete)
            break;
    }
    CHECK(r.complete);
    CHECK(s.heads == 1 && s.completes == 1);
    CHECK_MEM(s.body, s.body_len, want_body);
    size_t vlen;
    const char *ct = http_header_get(&r.head, "content-type", &vlen);
    CHECK(ct && http_media_type_is(ct, vlen, "application/json"));
    http_reader_free(&r);
}

static void test_framing(void)
{
    const char *cl = "POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
    const char *chunked = "POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
    for (size_t step = 1; step <= strlen(chunked); step++) {
        feed_in_steps(cl, step, "{\"a\":1}");
        feed_in_steps(chunked, step, "{\"a\":1}");
    }
}

/* Framing that could be read two ways. */
static void test_refused_framing(void)
{
    const char *bad[] = {
        "POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
        "POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
        "POST /mcp HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        "POST /mcp HTTP/9.9 extra\r\nHost: a\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct sink s = {0};
        struct http_reader r;
        http_reader_init(&r, HTTP_REQUEST, &ops, &s, 16384, 64);
        http_reader_feed(&r, bad[i], strlen(bad[i]));
        int st = 0;
        const char *why;
        if (!http_reader_failed(&r, &st, &why))
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(http_reader_failed(&r, &st, &why) && st == 400);
        http_reader_free(&r);
    }
}

/* Two pipelined requests: the reader stops after the first. */
static void test_pipelining(void)
{
    const char *two = "POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"
                      "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
    struct sink s = {0};
    struct http_reader r;
    http_reader_init(&r, HTTP_REQUEST, &ops, &s, 16384, 64);
    size_t used = http_reader_feed(&r, two, strlen(two));
    CHECK(r.complete && r.head.method == HTTP_POST);
    CHECK(used == strlen("POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"));
    http_reader_next(&r);
    size_t used2 = http_reader_feed(&r, two + used, strlen(two) - used);
    CHECK(r.complete && r.head.method == HTTP_GET && used2 == strlen(two) - used);
    CHECK_MEM(r.head.buf + r.head.url_off, r.head.url_len, "/healthz");
    http_reader_free(&r);
}

/* Transfer codings other than chunked alone are refused (501) by the client side. */
static void test_transfer_codings(void)
{
    const char *cases[][2] = {
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "ok"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked \r\n\r\n0\r\n\r\n", "ok"},
        {"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "ok"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "no"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", "no"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct sink s = {0};
        struct http_reader r;
        http_reader_init(&r, HTTP_REQUEST, &ops, &s, 16384, 64);
        http_reader_feed(&r, cases[i][0], strlen(cases[i][0]));
        CHECK(http_transfer_coding_supported(&r.head) == (strcmp(cases[i][1], "ok") == 0));
        http_reader_free(&r);
    }
}

static void test_helpers(void)
{
    CHECK(http_media_type_is("application/json", 16, "application/json"));
    CHECK(http_media_type_is("Application/JSON ; charset=utf-8", 32, "application/json"));
    CHECK(!http_media_type_is("application/jsonx", 17, "application/json"));
    CHECK(!http_media_type_is("text/plain", 10, "application/json"));
    size_t cl;
    const char *quoted = "application/json; charset=\"UTF-8\"";
    const char *cs = http_media_charset(quoted, strlen(quoted), &cl);
    CHECK(cs && cl == 5 && strncmp(cs, "UTF-8", 5) == 0);
    cs = http_media_charset("application/json; a=b; charset=latin1", 37, &cl);
    CHECK(cs && cl == 6 && strncmp(cs, "latin1", 6) == 0);
    CHECK(http_media_charset("application/json", 16, &cl) == NULL);
    CHECK(http_is_hop_by_hop("Connection", 10));
    CHECK(http_is_hop_by_hop("transfer-encoding", 17));
    CHECK(!http_is_hop_by_hop("Mcp-Session-Id", 14));
    CHECK(http_is_hop_by_hop("Accept-Encoding", 15));
    CHECK_STR(http_reason(431), "Request Header Fields Too Large");
}

/* Feeds msg in pieces of `step` bytes; returns the reader's verdict (0 read
 * whole, else the status) and leaves the reader for the caller to inspect and free. */
static int feed_all(struct http_reader *r, struct sink *s, enum http_message_type type, const char *msg, size_t step)
{
    http_reader_init(r, type, &ops, s, 16384, 64);
    size_t len = strlen(msg), off = 0;
    while (off < len && !r->complete) {
        size_t n = len - off < step ? len - off : step;
        size_t used = http_reader_feed(r, msg + off, n);
        int st;
        if (http_reader_failed(r, &st, NULL))
            return st;
        off += used;
        if (used < n && !r->complete)
            break;
    }
    return r->complete ? 0 : -1;
}

/* RFC 9110 6.5.1: trailer fields of a chunked body never become header
 * fields, whatever the split of the bytes, in requests and in responses. */
static void test_trailers_dropped(void)
{
    const char *msgs[] = {
        "POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        "7\r\n{\"a\":1}\r\n0\r\nX-Injected: 1\r\nMcp-Method: tools/call\r\nAuthorization: Bearer x\r\n"
        "Mcp-Session-Id: other\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        "7\r\n{\"a\":1}\r\n0\r\nX-Injected: 1\r\nMcp-Session-Id: other\r\nContent-Type: text/plain\r\n\r\n",
    };
    for (size_t m = 0; m < 2; m++) {
        for (size_t step = 1; step <= strlen(msgs[m]); step++) {
            struct sink s = {0};
            struct http_reader r;
            CHECK(feed_all(&r, &s, m == 0 ? HTTP_REQUEST : HTTP_RESPONSE, msgs[m], step) == 0);
            CHECK_MEM(s.body, s.body_len, "{\"a\":1}");
            CHECK(r.head.nheaders == (m == 0 ? 3 : 2));
            size_t vlen;
            CHECK(!http_header_get(&r.head, "x-injected", &vlen));
            CHECK(!http_header_get(&r.head, "mcp-method", &vlen));
            CHECK(!http_header_get(&r.head, "authorization", &vlen));
            CHECK(!http_header_get(&r.head, "mcp-session-id", &vlen));
            const char *ct = http_header_get(&r.head, "content-type", &vlen);
            CHECK(ct && http_media_type_is(ct, vlen, "application/json"));
            http_reader_free(&r);
        }
    }
    /* dropped, but not without bound */
    char big[20000] = "POST /mcp HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: ";
    size_t n = strlen(big);
    memset(big + n, 'a', 17000);
    strcpy(big + n + 17000, "\r\n\r\n");
    struct sink s = {0};
    struct http_reader r;
    CHECK(feed_all(&r, &s, HTTP_REQUEST, big, sizeof big) == 431);
    http_reader_free(&r);
    char many[4096] = "POST /mcp HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    for (int i = 0; i < 65; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "X-%d: v\r\n", i);
    strcat(many, "\r\n");
    CHECK(feed_all(&r, &s, HTTP_REQUEST, many, sizeof many) == 431);
    http_reader_free(&r);
}

/* A field warden keys on, sent twice (in any case), is refused in both
 * directions, at every split point; list fields may repeat. */
static void test_duplicate_fields(void)
{
    const char *names[] = {"Mcp-Session-Id", "Content-Type", "Host", "MCP-Protocol-Version", "Last-Event-ID",
                           "Origin", "Authorization", "Mcp-Method", "Mcp-Name", "Connection", "Transfer-Encoding",
                           "Expect", "X-Agent-Name", "User-Agent", "X-Forwarded-For", "Traceparent"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        for (int dir = 0; dir < 2; dir++) {
            bool te = strcmp(names[i], "Transfer-Encoding") == 0;
            char msg[512];
            snprintf(msg, sizeof msg, "%s\r\n%s: %s\r\nX-Other: 1\r\n%s: %s\r\n%s",
                     dir == 0 ? "POST /mcp HTTP/1.1" : "HTTP/1.1 200 OK", names[i], te ? "chunked" : "application/json",
                     names[i], te ? "chunked" : "application/json", te ? "\r\n0\r\n\r\n" : "Content-Length: 2\r\n\r\n{}");
            /* the second copy in lower case: names match case-insensitively */
            char *second = strstr(strstr(msg, "X-Other"), names[i]);
            for (char *c = second; *c != ':'; c++)
                *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
            for (size_t step = 1; step <= strlen(msg); step++) {
                struct sink s = {0};
                struct http_reader r;
                CHECK(feed_all(&r, &s, dir == 0 ? HTTP_REQUEST : HTTP_RESPONSE, msg, step) == 400);
                CHECK(s.heads == 0);
                const char *why = NULL;
                int st;
                CHECK(http_reader_failed(&r, &st, &why) && why && strstr(why, "more than once"));
                http_reader_free(&r);
            }
        }
    }
    /* an underscore for a dash: one field for CGI-style servers (HTTP_MCP_SESSION_ID) */
    const char *underscored[] = {
        "POST /mcp HTTP/1.1\r\nMcp_Session_Id: a\r\nContent-Length: 0\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nMcp-Session-Id: a\r\nmcp_session-id: b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent_Type: application/json\r\nContent-Length: 0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof underscored / sizeof *underscored; i++) {
        struct sink s = {0};
        struct http_reader r;
        CHECK(feed_all(&r, &s, underscored[i][0] == 'H' ? HTTP_RESPONSE : HTTP_REQUEST, underscored[i], 1000) == 400);
        http_reader_free(&r);
    }
    const char *ok = "POST /mcp HTTP/1.1\r\nHost: a\r\nX_Custom: 1\r\nAccept: application/json\r\nAccept: text/event-stream\r\n"
                     "Content-Length: 0\r\n\r\n";
    struct sink s = {0};
    struct http_reader r;
    CHECK(feed_all(&r, &s, HTTP_REQUEST, ok, 1000) == 0);
    http_reader_free(&r);
}

/* Response heads get the same line checks as requests (an upstream could
 * fold "application/json" into a Content-Type a lenient client reads). */
static void test_response_head_lines(void)
{
    const char *bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n application/json\r\nContent-Length: 2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Type : text/event-stream\r\nContent-Length: 2\r\n\r\n{}",
        "HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: 2\n\n{}",
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\rX: 1\r\nContent-Length: 2\r\n\r\n{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        for (size_t step = 1; step <= strlen(bad[i]); step++) {
            struct sink s = {0};
            struct http_reader r;
            CHECK(feed_all(&r, &s, HTTP_RESPONSE, bad[i], step) == 400);
            CHECK(s.heads == 0);
            http_reader_free(&r);
        }
    }
    /* an interim 100 then the answer, in one read */
    const char *two = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
    struct sink s = {0};
    struct http_reader r;
    http_reader_init(&r, HTTP_RESPONSE, &ops, &s, 16384, 64);
    size_t used = http_reader_feed(&r, two, strlen(two));
    CHECK(r.complete && r.head.status == 100);
    http_reader_next(&r);
    http_reader_feed(&r, two + used, strlen(two) - used);
    CHECK(!http_reader_failed(&r, NULL, NULL) && r.complete && r.head.status == 200);
    http_reader_free(&r);
}

/* Content-Type is one media type, each parameter once; values lose trailing whitespace. */
static void test_content_type_syntax(void)
{
    const char *cases[][2] = {
        {"application/json", "ok"},
        {"application/json; charset=utf-8", "ok"},
        {"application/json;charset=\"utf-8\"  ", "ok"},
        {"text/event-stream;;", "ok"},
        {"application/json, text/event-stream", "no"},
        {"application/json; charset=utf-8; charset=latin1", "no"},
        {"application/json; Charset=utf-8; charset=utf-8", "no"},
        {"application/json; charset = utf-8", "no"},
        {"application/json; charset=", "no"},
        {"application/json; charset=\"utf-8", "no"},
        {"application/json x", "no"},
        {"application", "no"},
        {"/json", "no"},
        {"application/", "no"},
        {"\"application/json\"", "no"},
        /* what prefix and substring readers take for JSON or SSE */
        {"application/problem+json", "ok"},
        {"application/json-seq", "no"},
        {"Application/JSONx", "no"},
        {"text/plain; x=application/json", "no"},
        {"text/plain; x=\"application/json\"", "no"},
        {"text/event-streamx", "no"},
        {"application/json; x=text/event-stream", "no"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int dir = 0; dir < 2; dir++) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s\r\nContent-Type: %s\r\nContent-Length: 2\r\n\r\n{}",
                     dir == 0 ? "POST /mcp HTTP/1.1" : "HTTP/1.1 200 OK", cases[i][0]);
            struct sink s = {0};
            struct http_reader r;
            int got = feed_all(&r, &s, dir == 0 ? HTTP_REQUEST : HTTP_RESPONSE, msg, 1000);
            if ((got == 0) != (strcmp(cases[i][1], "ok") == 0))
                fprintf(stderr, "content type %s: %d\n", cases[i][0], got);
            CHECK((got == 0) == (strcmp(cases[i][1], "ok") == 0));
            CHECK(got == 0 || got == 400);
            http_reader_free(&r);
        }
    }
    /* coded bodies: 415 for a request, a failure for a response */
    const char *coded[] = {"POST /mcp HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
                           "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}",
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc"};
    for (size_t i = 0; i < sizeof coded / sizeof *coded; i++) {
        struct sink s = {0};
        struct http_reader r;
        CHECK(feed_all(&r, &s, i == 0 ? HTTP_REQUEST : HTTP_RESPONSE, coded[i], 1000) == (i < 2 ? 415 : 501));
        CHECK(s.heads == 0);
        http_reader_free(&r);
    }
    struct sink s = {0};
    struct http_reader r;
    CHECK(feed_all(&r, &s, HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Encoding: Identity\r\nContent-Length: 2\r\n\r\n{}",
                   1000) == 0);
    http_reader_free(&r);
    CHECK(feed_all(&r, &s, HTTP_REQUEST, "GET / HTTP/1.1\r\nMcp-Session-Id: abc \t \r\nX-E:  \r\n\r\n", 1000) == 0);
    size_t vlen;
    const char *v = http_header_get(&r.head, "mcp-session-id", &vlen);
    CHECK(v && vlen == 3 && memcmp(v, "abc", 3) == 0);
    v = http_header_get(&r.head, "x-e", &vlen);
    CHECK(v && vlen == 0);
    http_reader_free(&r);
}

int main(void)
{
    test_head_lines();
    test_framing();
    test_refused_framing();
    test_pipelining();
    test_transfer_codings();
    test_helpers();
    test_trailers_dropped();
    test_duplicate_fields();
    test_response_head_lines();
    test_content_type_syntax();
    return check_report();
}
