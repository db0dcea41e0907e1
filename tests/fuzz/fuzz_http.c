/* libFuzzer harness for the strict HTTP/1.1 reader (src/http.c): the prescan
 * and libhttp-parser over any bytes, fed whole and in pieces, must agree and
 * never crash; the same bytes read as a response (as an upstream's answer)
 * must get the same verdict whatever the split. */
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

/* Reads one request from data, fed in pieces of `step` bytes; returns the body size or -1. */
static long read_request(const char *data, size_t len, size_t step, size_t head_len)
{
    size_t total = 0;
    struct http_reader r;
    http_reader_init(&r, HTTP_REQUEST, &ops, &total, 16384 + 2, 64);
    size_t off = 0;
    long result = -1;
    while (off < len) {
        size_t n = off < head_len ? head_len - off : len - off;
        if (n > step)
            n = step;
        size_t used = http_reader_feed(&r, data + off, n);
        if (http_reader_failed(&r, NULL, NULL) || r.complete) {
            off += used;
            break;
        }
        off += used;
    }
    if (r.complete && !http_reader_failed(&r, NULL, NULL)) {
        result = (long)total;
        (void)http_transfer_coding_supported(&r.head);
        size_t vlen;
        (void)http_header_get(&r.head, "content-type", &vlen);
    }
    http_reader_free(&r);
    return result;
}

/* Reads one response in pieces of `step` bytes; returns the body size, -2
 * when more bytes were needed, -1 on refusal. */
static long read_response(const char *data, size_t len, size_t step)
{
    size_t total = 0;
    struct http_reader r;
    http_reader_init(&r, HTTP_RESPONSE, &ops, &total, 16384, 64);
    size_t off = 0;
    long result = -2;
    while (off < len && !r.complete) {
        size_t n = len - off < step ? len - off : step;
        size_t used = http_reader_feed(&r, data + off, n);
        if (http_reader_failed(&r, NULL, NULL)) {
            result = -1;
            break;
        }
        off += used;
        if (used < n && !r.complete)
            abort();   /* the reader stops early only when done or failed */
    }
    if (r.complete)
        result = (long)total;
    http_reader_free(&r);
    return result;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    if (read_response(p, size, size) != read_response(p, size, 1 + (size ? data[0] % 7 : 0)))
        abort();
    size_t head_len;
    int status;
    const char *why;
    int verdict = http_prescan_request(p, size, 16384, 64, &head_len, &status, &why);
    if (verdict < 0 && status != 400 && status != 431)
        abort();
    if (verdict != 1)
        return 0;
    if (head_len > size)
        abort();
    long whole = read_request(p, size, size, head_len);
    long split = read_request(p, size, 1 + (size ? data[0] % 7 : 0), head_len);
    if (whole != split)
        abort();
    return 0;
}
