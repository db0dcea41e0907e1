#include "sse.h"

#include <stdlib.h>
#include <string.h>

#define SSE_DEFAULT_MAX_BLOCK (1024 * 1024)

void sse_init(struct sse_parser *p, size_t max_block, sse_block_cb cb, void *ctx)
{
    memset(p, 0, sizeof *p);
    p->cb = cb;
    p->ctx = ctx;
    p->max_block = max_block ? max_block : SSE_DEFAULT_MAX_BLOCK;
}

/* Grows *buf to hold `need` bytes, within the block limit. */
static int reserve(char **buf, size_t *cap, size_t need, size_t limit)
{
    if (need <= *cap)
        return 0;
    if (need > limit)
        return -1;
    size_t cap2 = *cap ? *cap : 256;
    while (cap2 < need)
        cap2 *= 2;
    if (cap2 > limit)
        cap2 = limit;
    char *b = realloc(*buf, cap2);
    if (!b)
        return -1;
    *buf = b;
    *cap = cap2;
    return 0;
}

/* Forgets the dispatched block, keeping the buffers for the next one. */
static void reset_block(struct sse_parser *p)
{
    p->len = 0;
    p->line_start = 0;
    p->data_len = 0;
    p->has_data = p->has_id = p->has_event = false;
}

/* Interprets one complete line (without its end) of the block in buf. */
static int process_line(struct sse_parser *p, size_t start, size_t end)
{
    const char *line = p->buf + start;
    size_t len = end - start;
    /* A UTF-8 BOM at the very start of the stream is not part of the first field. */
    if (!p->seen_bytes && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3;
        len -= 3;
        start += 3;
    }
    p->seen_bytes = true;
    if (len == 0 || line[0] == ':')
        return 0;
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    size_t voff = colon ? name_len + 1 : len;
    if (colon && voff < len && line[voff] == ' ')
        voff++;
    const char *value = line + voff;
    size_t vlen = len - voff;
    if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        size_t need = p->data_len + vlen + (p->has_data ? 1 : 0);
        if (reserve(&p->data, &p->data_cap, need + 1, p->max_block + 1) < 0)
            return -1;
        if (p->has_data)
            p->data[p->data_len++] = '\n';
        memcpy(p->data + p->data_len, value, vlen);
        p->data_len += vlen;
        p->has_data = true;
    } else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
        /* An id with NUL is ignored, as the HTML standard says. */
        if (!memchr(value, '\0', vlen)) {
            p->has_id = true;
            p->id_off = start + voff;
            p->id_len = vlen;
        }
    } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        p->has_event = true;
        p->event_off = start + voff;
        p->event_len = vlen;
    }
    /* retry and unknown fields change nothing a proxy needs. */
    return 0;
}

/* A blank line ended the block: hand it over whole. */
static int dispatch(struct sse_parser *p)
{
    struct sse_event ev = {
        .raw = p->buf,
        .raw_len = p->len,
        .has_data = p->has_data,
        .data = p->has_data ? p->data : "",
        .data_len = p->data_len,
        .has_id = p->has_id,
        .id = p->has_id ? p->buf + p->id_off : NULL,
        .id_len = p->has_id ? p->id_len : 0,
        .event = p->has_event ? p->buf + p->event_off : NULL,
        /* not the length of an earlier block's type: an "endpoint" one made
         * the next typeless event compare NULL with "endpoint" (a crash) */
        .event_len = p->has_event ? p->event_len : 0,
    };
    int rc = p->cb(p->ctx, &ev);
    reset_block(p);
    return rc;
}

int sse_feed(struct sse_parser *p, const char *bytes, size_t len)
{
    if (p->failed)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char ch = bytes[i];
        if (reserve(&p->buf, &p->cap, p->len + 1, p->max_block) < 0)
            goto fail;
        p->buf[p->len++] = ch;
        if (p->last_was_cr) {
            p->last_was_cr = false;
            if (ch == '\n') {
                /* The LF of a CRLF whose CR already ended the line: raw bytes, no line. */
                p->line_start = p->len;
                continue;
            }
        }
        if (ch != '\n' && ch != '\r')
            continue;
        p->last_was_cr = ch == '\r';
        size_t line_end = p->len - 1;
        bool blank = line_end == p->line_start;
        if (!blank && process_line(p, p->line_start, line_end) < 0)
            goto fail;
        p->line_start = p->len;
        /* A blank line ends the block now, even after a CR: an LF that may
         * follow starts the next block's raw bytes. */
        if (blank && dispatch(p) < 0)
            goto fail;
    }
    return 0;
fail:
    p->failed = true;
    return -1;
}

size_t sse_pending(const struct sse_parser *p)
{
    return p->len;
}

void sse_free(struct sse_parser *p)
{
    free(p->buf);
    free(p->data);
    p->buf = p->data = NULL;
    p->cap = p->data_cap = 0;
}
