/* libFuzzer harness for the SSE parser (src/sse.c): the same stream fed
 * whole and in small pieces must give the same blocks, and the raw bytes of
 * the blocks must be exactly the input minus what is still pending. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sse.h"

struct record {
    char raw[1 << 16];
    size_t raw_len;
    unsigned long blocks, data_hash;
};

static int on_block(void *ctx, const struct sse_event *ev)
{
    struct record *r = ctx;
    if (r->raw_len + ev->raw_len > sizeof r->raw)
        return -1;
    memcpy(r->raw + r->raw_len, ev->raw, ev->raw_len);
    r->raw_len += ev->raw_len;
    r->blocks++;
    for (size_t i = 0; i < ev->data_len; i++)
        r->data_hash = r->data_hash * 31 + (unsigned char)ev->data[i];
    r->data_hash += ev->has_data ? 7 : 3;
    return 0;
}

static int run(const uint8_t *data, size_t size, size_t step, struct record *r, size_t *pending)
{
    struct sse_parser p;
    sse_init(&p, 4096, on_block, r);
    int rc = 0;
    for (size_t off = 0; off < size && rc == 0; off += step)
        rc = sse_feed(&p, (const char *)data + off, size - off < step ? size - off : step);
    *pending = sse_pending(&p);
    sse_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 32768)
        return 0;
    static struct record a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    size_t pa, pb;
    int ra = run(data, size, size ? size : 1, &a, &pa);
    int rb = run(data, size, 1 + (size ? data[0] % 5 : 0), &b, &pb);
    if (ra != rb)
        abort();
    if (ra == 0) {
        if (a.blocks != b.blocks || a.data_hash != b.data_hash || a.raw_len != b.raw_len ||
            memcmp(a.raw, b.raw, a.raw_len) != 0)
            abort();
        if (a.raw_len + pa != size || memcmp(a.raw, data, a.raw_len) != 0)
            abort();
    }
    return 0;
}
