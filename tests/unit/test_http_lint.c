/* The head reader of http.c finds each line's end with memchr and reads a
 * line once it is whole, testing name bytes with bit masks: its verdict must
 * not depend on how the bytes arrive, and is_tchar must be
 * RFC 9110's token set exactly. http_is_hop_by_hop looks at the first
 * letter first: every name in any case still matches. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "../../src/http.c"

static int no_head(void *o) { (void)o; return 0; }
static int no_body(void *o, const char *at, size_t len) { (void)o, (void)at, (void)len; return 0; }
static int no_complete(void *o) { (void)o; return 0; }
static const struct http_reader_ops quiet = {no_head, no_body, no_complete};

static void test_tchar_is_the_token_set(void)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; c++) {
        bool want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    (c && memchr(extra, c, sizeof extra - 1));
        CHECK(is_tchar((unsigned char)c) == want);
    }
}

/* Every hop-by-hop name in any case, and names that only begin or end like one. */
static void test_hop_by_hop_any_case(void)
{
    static const char *const hop[] = {"CONNECTION", "Keep-Alive", "PROXY-CONNECTION", "Proxy-Authenticate",
                                      "proxy-AUTHORIZATION", "TE", "Trailer", "TRANSFER-ENCODING", "Upgrade",
                                      "CONTENT-LENGTH", "HOST", "Expect", "ACCEPT-ENCODING"};
    for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
        CHECK(http_is_hop_by_hop(hop[i], strlen(hop[i])));
    CHECK(!http_is_hop_by_hop("Hosts", 5));
    CHECK(!http_is_hop_by_hop("Hos", 3));
    CHECK(!http_is_hop_by_hop("xhost", 5));
    CHECK(!http_is_hop_by_hop("", 0));
    CHECK(!http_is_hop_by_hop("Content-Type", 12));
}

/* Whole, then in two pieces at every split: the same verdict each time. */
static void same_verdict_split(const char *head, bool want_ok)
{
    size_t len = strlen(head);
    struct http_reader w;
    http_reader_init(&w, HTTP_REQUEST, &quiet, NULL, 16384, 64);
    http_reader_feed(&w, head, len);
    CHECK(w.in_body == want_ok && http_reader_failed(&w, NULL, NULL) != want_ok);
    http_reader_free(&w);
    for (size_t cut = 0; cut <= len; cut++) {
        struct http_reader r;
        http_reader_init(&r, HTTP_REQUEST, &quiet, NULL, 16384, 64);
        http_reader_feed(&r, head, cut);
        bool failed = http_reader_failed(&r, NULL, NULL);
        if (!failed) {
            http_reader_feed(&r, head + cut, len - cut);
            failed = http_reader_failed(&r, NULL, NULL);
        }
        if (failed == want_ok)
            fprintf(stderr, "split at %zu of %s: failed=%d\n", cut, head, failed);
        CHECK(failed != want_ok);
        http_reader_free(&r);
    }
}

int main(void)
{
    test_tchar_is_the_token_set();
    test_hop_by_hop_any_case();
    same_verdict_split("POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", true);
    same_verdict_split("\r\nPOST /mcp HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", true);
    same_verdict_split("POST /mcp HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", false);           /* bare LF in a value */
    same_verdict_split("POST /mcp HTTP/1.1\nHost: a\r\n\r\n", false);                   /* bare LF, request line */
    same_verdict_split("POST /mcp HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", false);           /* bare CR */
    same_verdict_split("POST /mcp HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", false);           /* obs-fold */
    same_verdict_split("POST /mcp HTTP/1.1\r\nHo st: a\r\n\r\n", false);                /* space in a name */
    same_verdict_split("POST /mcp HTTP/1.1\r\nHost : a\r\n\r\n", false);                /* space before colon */
    same_verdict_split("POST /mcp HTTP/1.1\r\nH\x80st: a\r\n\r\n", false);             /* non-token byte */
    return check_report();
}
