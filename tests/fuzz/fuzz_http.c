/* libFuzzer harness for the strict HTTP/1.1 reader (src/http.c): any bytes,
 * read as a request and as a response, must get the same verdict (body
 * size, or the refusal's status) however they are split: whole, in pieces
 * of 1 to 7 bytes, and in two pieces at a point the input picks; a refusal
 * carries one of the statuses the reader gives, and nothing crashes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http.h"

static int on_head(void *o) { (void)o; return 0; }
static int on_body(void *o, const char *at, size_t len)
{
    size_t *total = o;
    (void)at;
    *total += len;
    return *total > 65536 ? -1 : 0;
}
static int on_complete(void *o) { (void)o; return 0; }
static const struct http_reader_ops ops = {on_head, on_body, on_complete};

/* Reads one message from data in pieces of `step` bytes, the first piece
 * `first` bytes (0: step); returns the body size, -2 when more bytes were
 * needed, or minus the status of a refusal. Also reads the close of the
 * stream after the bytes, when the message is not over. */
static long read_one(enum http_message_type type, const char *data, size_t len, size_t step, size_t first)
{
    size_t total = 0;
    struct http_reader r;
    http_reader_init(&r, type, &ops, &total, 16384, 64);
    size_t off = 0;
    long result = -2;
    while (off < len && !r.complete) {
        size_t want = off == 0 && first ? first : step;
        size_t n = len - off < want ? len - off : want;
        size_t used = http_reader_feed(&r, data + off, n);
        int status;
        if (http_reader_failed(&r, &status, NULL)) {
            if (status != 400 && status != 415 && status != 431 && status != 501)
                abort();
            result = -status;
            break;
        }
        off += used;
        if (used < n && !r.complete)
            abort();   /* the reader stops early only when done or failed */
        if (r.complete && used > n)
            abort();
    }
    if (r.complete) {
        result = (long)total;
        size_t vlen;
        (void)http_transfer_coding_supported(&r.head);
        /* Lookups by the reader's classes answer as the ones by name. */
        static const char *const names[] = {"content-type", "host", "connection", "mcp-session-id", "expect"};
        static const enum http_field fields[] = {HF_CONTENT_TYPE, HF_HOST, HF_CONNECTION, HF_MCP_SESSION_ID,
                                                 HF_EXPECT};
        for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
            size_t flen = 0;
            vlen = 0;
            if (http_header_get(&r.head, names[k], &vlen) != http_header_field(&r.head, fields[k], &flen) ||
                vlen != flen)
                abort();
        }
        size_t clen = 0;
        const char *conn = http_header_get(&r.head, "connection", &clen);
        bool only_hop = conn && http_connection_only_hop_by_hop(conn, clen);
        for (size_t i = 0; i < r.head.nheaders; i++) {
            const char *name = r.head.buf + r.head.headers[i].name_off;
            size_t nlen = r.head.headers[i].name_len;
            if (http_is_hop_by_hop(name, nlen) != http_header_hop_by_hop(&r.head, i))
                abort();
            /* a list of hop-by-hop names only drops no header that is forwarded */
            if (only_hop && http_token_listed(conn, clen, name, nlen) && !http_header_hop_by_hop(&r.head, i))
                abort();
        }
    } else if (result == -2) {
        int status;
        http_reader_eof(&r);
        if (r.complete)
            result = (long)total;
        else if (http_reader_failed(&r, &status, NULL))
            result = -status;
    }
    http_reader_free(&r);
    return result;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t step = 1 + (size ? data[0] % 7 : 0);
    size_t cut = size > 1 ? (data[1] * 257u + data[size - 1]) % size : 0;
    for (int t = 0; t < 2; t++) {
        enum http_message_type type = t ? HTTP_RESPONSE : HTTP_REQUEST;
        long whole = read_one(type, p, size, size ? size : 1, 0);
        if (read_one(type, p, size, step, 0) != whole || read_one(type, p, size, size ? size : 1, cut) != whole)
            abort();
    }
    return 0;
}
