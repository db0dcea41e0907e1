/* The rules of the HTTP/1.1 reader (src/http.c) that libhttp-parser used
 * to enforce before warden read HTTP itself (method, request-target,
 * version, status line, Content-Length, chunk-size lines and extensions),
 * the framing of answers without a body and of close-delimited ones, and
 * the word-at-a-time helpers (field names, value bytes). Every verdict is
 * taken whole, byte by byte and in two pieces at every point: it must not
 * depend on how the bytes arrive. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "../../src/http.c"

struct sink {
    size_t body_len;
    int heads, completes;
};

static int on_head(void *o) { ((struct sink *)o)->heads++; return 0; }
static int on_body(void *o, const char *at, size_t len) { (void)at; ((struct sink *)o)->body_len += len; return 0; }
static int on_complete(void *o) { ((struct sink *)o)->completes++; return 0; }
static const struct http_reader_ops ops = {on_head, on_body, on_complete};

enum { MORE = -2 };

/* Reads msg[0..len) fed as `first` bytes then pieces of `step`; with eof,
 * the peer closes after it. Returns the body length of a complete message,
 * MORE when more bytes are needed, or minus the status of a refusal. */
static long read_as(enum http_message_type type, const char *msg, size_t len, size_t first, size_t step, bool eof)
{
    struct sink s = {0};
    struct http_reader r;
    http_reader_init(&r, type, &ops, &s, 4096, 16);
    size_t off = 0;
    while (off < len && !r.complete && !http_reader_failed(&r, NULL, NULL)) {
        size_t want = off == 0 && first ? first : step;
        size_t n = len - off < want ? len - off : want;
        off += http_reader_feed(&r, msg + off, n);
    }
    if (eof)
        http_reader_eof(&r);
    int status;
    long got = http_reader_failed(&r, &status, NULL) ? -status : r.complete ? (long)s.body_len : MORE;
    if (got >= 0 && (s.heads != 1 || s.completes != 1))
        got = -999;
    http_reader_free(&r);
    return got;
}

/* The verdict on msg, the same however it is split (else -1000). */
static long verdict_eof(enum http_message_type type, const char *msg, bool eof)
{
    size_t len = strlen(msg);
    long whole = read_as(type, msg, len, 0, len ? len : 1, eof);
    bool same = read_as(type, msg, len, 0, 1, eof) == whole;
    for (size_t cut = 1; cut < len; cut++)
        same = same && read_as(type, msg, len, cut, len, eof) == whole;
    if (!same)
        fprintf(stderr, "the verdict depends on the split: %s\n", msg);
    return same ? whole : -1000;
}

static long req(const char *msg) { return verdict_eof(HTTP_REQUEST, msg, false); }
static long resp(const char *msg) { return verdict_eof(HTTP_RESPONSE, msg, false); }

/* The request line: a known method, one space, a request-target of visible
 * bytes in one of the four forms, one space, HTTP/1.x, CRLF. */
static void test_request_line(void)
{
    const char *ok[] = {
        "GET /mcp HTTP/1.1\r\n\r\n",
        "POST /mcp?x=1&y=%20#f HTTP/1.0\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\n\r\n",
        "GET http://example.com/mcp HTTP/1.1\r\n\r\n",
        "CONNECT example.com:443 HTTP/1.1\r\n\r\n",
        "M-SEARCH * HTTP/1.1\r\n\r\n",
        "DELETE /mcp HTTP/1.1\r\n\r\n",
        "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n",   /* obs-text, as before */
        "\r\n\r\nGET / HTTP/1.1\r\n\r\n",      /* RFC 9112 2.2 */
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        if (req(ok[i]) != 0)
            fprintf(stderr, "refused: %s\n", ok[i]);
        CHECK(req(ok[i]) == 0);
    }
    const char *bad[] = {
        "FOO /mcp HTTP/1.1\r\n\r\n",           /* unknown method */
        "post /mcp HTTP/1.1\r\n\r\n",          /* methods are case-sensitive */
        "GETS /mcp HTTP/1.1\r\n\r\n",
        "GET  /mcp HTTP/1.1\r\n\r\n",          /* two spaces */
        "GET /mcp  HTTP/1.1\r\n\r\n",
        "GET\t/mcp HTTP/1.1\r\n\r\n",
        " GET /mcp HTTP/1.1\r\n\r\n",
        "GET /mcp\r\n\r\n",                    /* HTTP/0.9 */
        "GET /mcp HTTP/1.1 \r\n\r\n",
        "GET /mcp HTTP/2.0\r\n\r\n",
        "GET /mcp HTTP/0.9\r\n\r\n",
        "GET /mcp HTTP/1.10\r\n\r\n",
        "GET /mcp http/1.1\r\n\r\n",
        "GET /mcp HTTP/1\r\n\r\n",
        "GET /mcp HTTP/1.x\r\n\r\n",
        "GET mcp HTTP/1.1\r\n\r\n",            /* no form */
        "GET *x HTTP/1.1\r\n\r\n",
        "GET http:/x HTTP/1.1\r\n\r\n",
        "GET http:// HTTP/1.1\r\n\r\n",
        "GET 1http://x/ HTTP/1.1\r\n\r\n",
        "GET /m\x7f HTTP/1.1\r\n\r\n",          /* DEL */
        "GET /m\x01 HTTP/1.1\r\n\r\n",
        "GET /m\rx HTTP/1.1\r\n\r\n",
        "GET  HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (req(bad[i]) != -400)
            fprintf(stderr, "not refused: %s\n", bad[i]);
        CHECK(req(bad[i]) == -400);
    }
    char nul[] = "GET /m_ HTTP/1.1\r\n\r\n";
    nul[6] = '\0';
    CHECK(read_as(HTTP_REQUEST, nul, sizeof nul - 1, 0, sizeof nul, false) == -400);
    /* what was read */
    struct sink s = {0};
    struct http_reader r;
    http_reader_init(&r, HTTP_REQUEST, &ops, &s, 4096, 16);
    const char *m = "\r\nM-SEARCH /a?b HTTP/1.0\r\nHost: x\r\n\r\n";
    CHECK(http_reader_feed(&r, m, strlen(m)) == strlen(m));
    CHECK(r.complete && r.head.method == HTTP_MSEARCH && r.head.http_major == 1 && r.head.http_minor == 0);
    CHECK_MEM(r.head.buf + r.head.url_off, r.head.url_len, "/a?b");
    CHECK_STR(http_method_str(HTTP_MSEARCH), "M-SEARCH");
    CHECK(!r.head.keep_alive);   /* HTTP/1.0 without keep-alive */
    http_reader_free(&r);
}

/* The status line: HTTP/1.x SP three digits, then SP and a reason of
 * visible bytes, spaces and tabs, or nothing. */
static void test_status_line(void)
{
    CHECK(resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == 0);
    CHECK(resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n") == 0);
    CHECK(resp("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n") == 0);
    CHECK(resp("HTTP/1.0 404 Not\tFound \xe9\r\nContent-Length: 0\r\n\r\n") == 0);
    const char *bad[] = {
        "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 600 X\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n",
        "ICY 200 OK\r\nContent-Length: 0\r\n\r\n",
        "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (resp(bad[i]) != -400)
            fprintf(stderr, "not refused: %s\n", bad[i]);
        CHECK(resp(bad[i]) == -400);
    }
}

/* Field values: no NUL, control or DEL byte; HTAB and obs-text pass. */
static void test_field_values(void)
{
    CHECK(req("GET / HTTP/1.1\r\nX-A: a\tb \xff\r\n\r\n") == 0);
    CHECK(req("GET / HTTP/1.1\r\nX-A: a\x01" "b\r\n\r\n") == -400);
    CHECK(req("GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n") == -400);
    CHECK(req("GET / HTTP/1.1\r\nX-A: a\x1f" "bcdefghijklmnop\r\n\r\n") == -400);
    CHECK(req("GET / HTTP/1.1\r\nX-A: abcdefghijklmnop\x0b\r\n\r\n") == -400);
    char nul[] = "GET / HTTP/1.1\r\nX-A: abc_defghijkl\r\n\r\n";
    nul[24] = '\0';
    CHECK(read_as(HTTP_REQUEST, nul, sizeof nul - 1, 0, sizeof nul, false) == -400);
    /* a name that is a token, the colon right after it */
    CHECK(req("GET / HTTP/1.1\r\nX-A\t: a\r\n\r\n") == -400);
    CHECK(req("GET / HTTP/1.1\r\nX\"A: a\r\n\r\n") == -400);
    CHECK(req("GET / HTTP/1.1\r\nX-A\r\n\r\n") == -400);
}

/* Content-Length: digits alone, no overflow, no sign, no list. */
static void test_content_length(void)
{
    CHECK(req("POST / HTTP/1.1\r\nContent-Length:  3 \r\n\r\nabc") == 3);
    CHECK(req("POST / HTTP/1.1\r\nContent-Length: 003\r\n\r\nabc") == 3);
    CHECK(req("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n") == 0);
    CHECK(req("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc") == MORE);
    const char *bad[] = {"-1", "+3", "1,1", "3, 3", "1 1", "0x10", "", "3a", "18446744073709551616",
                         "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char msg[128];
        snprintf(msg, sizeof msg, "POST / HTTP/1.1\r\nContent-Length: %s\r\n\r\nabc", bad[i]);
        CHECK(req(msg) == -400);
    }
    /* with a transfer coding, whatever the coding */
    CHECK(req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc") == -400);
    CHECK(req("POST / HTTP/1.1\r\nContent_Length: 3\r\n\r\nabc") == -400);
}

/* RFC 9112 7.1: chunk-size [ chunk-ext ] CRLF, data CRLF; last-chunk, trailer, CRLF. */
static void test_chunks(void)
{
    const char *head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    const char *ok[][2] = {
        {"5\r\nhello\r\n0\r\n\r\n", "5"},
        {"A\r\n0123456789\r\n0\r\n\r\n", "10"},
        {"00005\r\nhello\r\n000\r\n\r\n", "5"},
        {"5;a\r\nhello\r\n0\r\n\r\n", "5"},
        {"5;a=b\r\nhello\r\n0;c=\"d e\"\r\n\r\n", "5"},
        {"5 ; a = b ; c\r\nhello\r\n0\r\n\r\n", "5"},
        {"5;a=\"q\\\"\"\r\nhello\r\n0\r\n\r\n", "5"},
        {"5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: \r\n\r\n", "5"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s%s", head, ok[i][0]);
        long got = req(msg);
        if (got != atol(ok[i][1]))
            fprintf(stderr, "chunked %s: %ld\n", ok[i][0], got);
        CHECK(got == atol(ok[i][1]));
    }
    const char *bad[] = {
        "\r\nhello\r\n0\r\n\r\n",               /* no size */
        " 5\r\nhello\r\n0\r\n\r\n",
        "5 \r\nhello\r\n0\r\n\r\n",             /* whitespace, no extension */
        "-5\r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n",                /* bare LF */
        "5\rhello\r\n0\r\n\r\n",                /* bare CR */
        "10000000000000000\r\n",                /* 2^64: overflow */
        "fffffffffffffffff\r\n",
        "5;\r\nhello\r\n0\r\n\r\n",
        "5;=b\r\nhello\r\n0\r\n\r\n",
        "5;a=\r\nhello\r\n0\r\n\r\n",
        "5;a=\"b\r\nhello\r\n0\r\n\r\n",
        "5;a=b c\r\nhello\r\n0\r\n\r\n",
        "5;a \r\nhello\r\n0\r\n\r\n",
        "5;a=b \r\nhello\r\n0\r\n\r\n",
        "5;a\x01\r\nhello\r\n0\r\n\r\n",
        "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n",
        "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n",
        "5;a=b\nhello\r\n0\r\n\r\n",
        "5\r\nhelloX\r\n0\r\n\r\n",             /* data longer than its size */
        "5\r\nhello\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\n\n",
        "5\r\nhello\r\n0\r\nX: 1\n\r\n",        /* trailer lines as header lines */
        "5\r\nhello\r\n0\r\nX : 1\r\n\r\n",
        "5\r\nhello\r\n0\r\n X: 1\r\n\r\n",
        "5\r\nhello\r\n0\r\nX: 1\r\n folded\r\n\r\n",
        "5\r\nhello\r\n0\r\nX: \x01\r\n\r\n",
        "5\r\nhello\r\n0\r\n: 1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s%s", head, bad[i]);
        long got = req(msg);
        if (got != -400)
            fprintf(stderr, "chunked not refused (%ld): %s\n", got, bad[i]);
        CHECK(got == -400);
    }
    char many[1024];
    snprintf(many, sizeof many, "%s0\r\n", head);
    for (int i = 0; i < 17; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "T%d: v\r\n", i);
    strcat(many, "\r\n");
    CHECK(req(many) == -431);
}

/* RFC 9112 6.3: 1xx, 204 and 304 answers end with their head; one that
 * frames a body anyway is refused. Without framing, an answer runs to the
 * close; a message the close cuts short is refused. */
static void test_answer_framing(void)
{
    CHECK(resp("HTTP/1.1 204 No Content\r\n\r\n") == 0);
    CHECK(resp("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n") == 0);
    CHECK(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n") == 0);
    CHECK(resp("HTTP/1.1 101 Switching\r\n\r\n") == 0);
    CHECK(resp("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello") == -400);
    CHECK(resp("HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == -400);
    CHECK(resp("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == -400);
    CHECK(verdict_eof(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\n\r\nhello", false) == MORE);
    CHECK(verdict_eof(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\n\r\nhello", true) == 5);
    CHECK(verdict_eof(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello", true) == -400);
    CHECK(verdict_eof(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", true) == -400);
    CHECK(verdict_eof(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Le", true) == -400);
    CHECK(verdict_eof(HTTP_REQUEST, "POST / HTTP/1.1\r\n\r\n", true) == 0);   /* a request without framing has no body */
    CHECK(verdict_eof(HTTP_REQUEST, "\r\n", true) == MORE);                   /* nothing begun: not an error */
    /* keep-alive */
    struct sink s = {0};
    struct http_reader r;
    http_reader_init(&r, HTTP_RESPONSE, &ops, &s, 4096, 16);
    const char *close = "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n";
    http_reader_feed(&r, close, strlen(close));
    CHECK(r.complete && !r.head.keep_alive);
    http_reader_next(&r);
    const char *ka = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
    http_reader_feed(&r, ka, strlen(ka));
    CHECK(r.complete && r.head.keep_alive);
    http_reader_next(&r);
    const char *eof = "HTTP/1.1 200 OK\r\n\r\n";
    http_reader_feed(&r, eof, strlen(eof));
    CHECK(!r.complete && r.in_body && !r.head.keep_alive);
    http_reader_free(&r);
}

/* Each known field in any case is itself; an underscore for a dash is the
 * field only where names are folded; names one byte off are no field. */
static void test_classify(void)
{
    for (int f = HF_OTHER + 1; f < HF_COUNT; f++) {
        const char *lit = field_names[f];
        size_t len = strlen(lit);
        char name[32];
        bool u;
        for (int variant = 0; variant < 3; variant++) {
            for (size_t i = 0; i < len; i++) {
                char c = lit[i];
                name[i] = variant == 1 && c >= 'a' && c <= 'z' ? (char)(c - 32)
                        : variant == 2 && i % 2 && c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
            }
            CHECK(classify(name, len) == (enum http_field)f);
            CHECK(classify_folded(name, len, &u) == (enum http_field)f && !u);
        }
        for (size_t i = 0; i < len; i++) {
            memcpy(name, lit, len);
            name[i] = lit[i] == '-' ? '_' : (char)(lit[i] ^ 1);
            CHECK(classify(name, len) == HF_OTHER);
            CHECK(classify_folded(name, len, &u) == (lit[i] == '-' ? (enum http_field)f : HF_OTHER));
            CHECK(u == (lit[i] == '-'));
            name[i] = '\0' + (lit[i] == '-' ? 0x0d : 0);   /* 0x0d | 0x20 is '-' */
            CHECK(classify(name, len) == HF_OTHER);
        }
        CHECK(classify(lit, len - 1) != (enum http_field)f);
    }
    CHECK(classify("x", 1) == HF_OTHER);
    CHECK(classify("", 0) == HF_OTHER);
    CHECK(!http_is_hop_by_hop("", 0));
}

/* skip_value stops at the first byte that is not a value byte, wherever it is. */
static void test_skip_value(void)
{
    char v[40];
    for (int c = 0; c < 256; c++) {
        for (size_t at = 0; at < 24; at++) {
            memset(v, 'a', sizeof v);
            v[at] = (char)c;
            const char *stop = skip_value(v, v + 24);
            CHECK(stop == (is_value_char((unsigned char)c) ? v + 24 : v + at));
        }
    }
}

/* header lookups agree with a plain scan, for known and unknown names */
static void test_lookup(void)
{
    struct sink s = {0};
    struct http_reader r;
    http_reader_init(&r, HTTP_REQUEST, &ops, &s, 4096, 16);
    const char *m = "GET / HTTP/1.1\r\nACCEPT: a\r\naccept: b\r\nX-Custom:c\r\nKeep_Alive: 1\r\nMCP-SESSION-ID: s\r\n\r\n";
    http_reader_feed(&r, m, strlen(m));
    CHECK(r.complete);
    size_t vl;
    const char *v = http_header_get(&r.head, "accept", &vl);
    CHECK(v && vl == 1 && *v == 'a');
    v = http_header_get(&r.head, "x-custom", &vl);
    CHECK(v && vl == 1 && *v == 'c');
    v = http_header_get(&r.head, "Mcp-Session-Id", &vl);
    CHECK(v && vl == 1 && *v == 's');
    CHECK(!http_header_get(&r.head, "keep-alive", &vl));   /* '_' is not '-' for warden */
    v = http_header_get(&r.head, "keep_alive", &vl);
    CHECK(v && vl == 1 && *v == '1');
    CHECK(!http_header_get(&r.head, "host", &vl));
    http_reader_free(&r);
}

int main(void)
{
    test_request_line();
    test_status_line();
    test_field_values();
    test_content_length();
    test_chunks();
    test_answer_framing();
    test_classify();
    test_skip_value();
    test_lookup();
    return check_report();
}
