/* libFuzzer harness for the SSE parser (src/sse.c): the same stream fed
 * whole and in small pieces must give the same blocks, and the raw bytes of
 * the blocks must be exactly the input minus what is still pending. A block
 * marked verbatim must read the same to a lenient reader (lines split on LF
 * only, a trailing CR dropped, field names cut at NUL, trimmed and folded),
 * and its bytes, forwarded, must read again as the same block. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sse.h"

/* The data a lenient reader takes from one block's bytes; false when it sees no data line. */
static bool lenient_data(const char *raw, size_t len, char *out, size_t *out_len)
{
    bool has = false;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(raw + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - raw) : len, next = nl ? end + 1 : len;
        if (end > i && raw[end - 1] == '\r')
            end--;
        const char *line = raw + i, *colon = memchr(line, ':', end - i);
        size_t name_len = colon ? (size_t)(colon - line) : end - i;
        const char *nul = memchr(line, '\0', name_len);
        if (nul)
            name_len = (size_t)(nul - line);
        size_t a = 0, b = name_len;
        while (a < b && isspace((unsigned char)line[a]))
            a++;
        while (b > a && isspace((unsigned char)line[b - 1]))
            b--;
        if (b - a == 4 && tolower((unsigned char)line[a]) == 'd' && tolower((unsigned char)line[a + 1]) == 'a' &&
            tolower((unsigned char)line[a + 2]) == 't' && tolower((unsigned char)line[a + 3]) == 'a') {
            const char *v = colon ? colon + 1 : line + (end - i);
            if (v < line + (end - i) && *v == ' ')
                v++;
            size_t vlen = (size_t)(line + (end - i) - v);
            if (has)
                out[n++] = '\n';
            memcpy(out + n, v, vlen);
            n += vlen;
            has = true;
        }
        i = next;
    }
    *out_len = n;
    return has;
}

struct one {
    int blocks;
    struct sse_event ev;
    char copy[1 << 16];
};

static int on_one(void *ctx, const struct sse_event *ev)
{
    struct one *o = ctx;
    if (o->blocks++ == 0) {
        o->ev = *ev;
        /* the fields, kept past the callback: data, id and type in copy */
        size_t n = 0;
        memcpy(o->copy + n, ev->data, ev->data_len);
        o->ev.data = o->copy + n;
        n += ev->data_len;
        if (ev->id) {
            memcpy(o->copy + n, ev->id, ev->id_len);
            o->ev.id = o->copy + n;
            n += ev->id_len;
        }
        if (ev->event) {
            memcpy(o->copy + n, ev->event, ev->event_len);
            o->ev.event = o->copy + n;
        }
    }
    return 0;
}

static bool same_span(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* A verbatim block, forwarded: lenient readers and a new parser read it as the parser did. */
static void check_verbatim(const struct sse_event *ev)
{
    static char lenient[1 << 16];
    static struct one again;
    const char *fwd = ev->raw + ev->lead;
    size_t fwd_len = ev->raw_len - ev->lead, llen;
    bool has = lenient_data(fwd, fwd_len, lenient, &llen);
    if (has != ev->has_data || (has && !same_span(lenient, llen, ev->data, ev->data_len)))
        abort();
    memset(&again, 0, sizeof again);
    struct sse_parser p;
    sse_init(&p, 0, on_one, &again);
    if (sse_feed(&p, fwd, fwd_len) < 0 || sse_pending(&p) != 0 || again.blocks != 1)
        abort();
    sse_free(&p);
    const struct sse_event *e = &again.ev;
    if (!e->verbatim || e->has_data != ev->has_data || !same_span(e->data, e->data_len, ev->data, ev->data_len) ||
        e->has_id != ev->has_id || !same_span(e->id, e->id_len, ev->id, ev->id_len) || !e->event != !ev->event ||
        !same_span(e->event, e->event_len, ev->event, ev->event_len))
        abort();
}

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
    if (ev->lead > 1 || (ev->lead && ev->raw[0] != '\n') || (!ev->id && ev->id_len) || (!ev->event && ev->event_len))
        abort();
    if (ev->verbatim)
        check_verbatim(ev);
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
        /* The blocks are the same; their raw bytes are the input in order,
         * less what is pending (an LF after a CR that ended a piece starts
         * the next block, as its lead, instead of ending this one). */
        if (a.blocks != b.blocks || a.data_hash != b.data_hash)
            abort();
        if (a.raw_len + pa != size || memcmp(a.raw, data, a.raw_len) != 0 || b.raw_len + pb != size ||
            memcmp(b.raw, data, b.raw_len) != 0)
            abort();
    }
    return 0;
}
