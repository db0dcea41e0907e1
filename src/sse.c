#include "sse.h"

#include <stdlib.h>
#include <string.h>

#define SSE_DEFAULT_MAX_BLOCK (1024 * 1024)

/* Kinds of line end (sse_parser.ends). END_OPEN: a CR, the last byte fed,
 * ended the block's blank line; whether an LF follows is not known yet (the
 * block goes out now all the same: no event waits for the next read). */
enum { END_LF = 1, END_CRLF = 2, END_CR = 4, END_OPEN = 8 };

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

/* Adds bytes to the block held in buf. */
static int append(struct sse_parser *p, const char *bytes, size_t n)
{
    if (n > p->max_block - p->len || reserve(&p->buf, &p->cap, p->len + n, p->max_block) < 0)
        return -1;
    memcpy(p->buf + p->len, bytes, n);
    p->len += n;
    return 0;
}

/* Forgets the dispatched block, keeping the buffers for the next one. */
static void reset_block(struct sse_parser *p)
{
    p->len = 0;
    p->line_start = 0;
    p->lead = 0;
    p->data_len = 0;
    p->data_lines = 0;
    p->has_id = p->has_event = false;
    p->ends = 0;
    p->odd = false;
}

/* A data line's value at base + off. One line is only pointed at; a second
 * one makes the data a copy, joined with \n. */
static int data_line(struct sse_parser *p, const char *base, size_t off, size_t len)
{
    if (p->data_lines == 0) {
        p->data_off = off;
        p->data_len = len;
        p->data_lines = 1;
        return 0;
    }
    if (reserve(&p->data, &p->data_cap, p->data_len + 1 + len, p->max_block + 1) < 0)
        return -1;
    if (p->data_lines == 1)
        memcpy(p->data, base + p->data_off, p->data_len);
    p->data[p->data_len++] = '\n';
    memcpy(p->data + p->data_len, base + off, len);
    p->data_len += len;
    p->data_lines++;
    return 0;
}

/* Interprets one complete, non-blank line [start, end) of the block at base. */
static int field(struct sse_parser *p, const char *base, size_t start, size_t end)
{
    const char *line = base + start;
    size_t len = end - start;
    if (line[0] == ':')
        return 0;   /* a comment */
    /* most lines are data lines: no search for their colon */
    const char *colon = len >= 5 && memcmp(line, "data:", 5) == 0 ? line + 4 : memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    size_t voff = colon ? name_len + 1 : len;
    if (colon && voff < len && line[voff] == ' ')
        voff++;
    size_t vlen = len - voff;
    if (name_len == 4 && memcmp(line, "data", 4) == 0)
        return data_line(p, base, start + voff, vlen);
    if (name_len == 2 && memcmp(line, "id", 2) == 0) {
        /* An id with NUL is ignored, as the HTML standard says. */
        if (!memchr(line + voff, '\0', vlen)) {
            p->has_id = true;
            p->id_off = start + voff;
            p->id_len = vlen;
        }
        return 0;
    }
    if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        p->has_event = true;
        p->event_off = start + voff;
        p->event_len = vlen;
        return 0;
    }
    /* retry changes nothing a proxy needs. Any other field the standard
     * ignores, but a lenient reader may fold or trim its name ("Data",
     * " data") into one it knows: such a block is not forwarded as it came. */
    if (!(name_len == 5 && memcmp(line, "retry", 5) == 0))
        p->odd = true;
    return 0;
}

/* The blank line ended the block at base, raw_len bytes: hand it over whole. */
static int dispatch(struct sse_parser *p, const char *base, size_t raw_len, bool in_input)
{
    struct sse_event ev = {
        .raw = base,
        .raw_len = raw_len,
        .lead = p->lead,
        .raw_in_input = in_input,
        .verbatim = !p->odd && (p->ends == END_LF || p->ends == END_CRLF),
        .has_data = p->data_lines > 0,
        .data = p->data_lines == 1 ? base + p->data_off : p->data_lines ? p->data : "",
        .data_len = p->data_len,
        .has_id = p->has_id,
        .id = p->has_id ? base + p->id_off : NULL,
        .id_len = p->has_id ? p->id_len : 0,
        .event = p->has_event ? base + p->event_off : NULL,
        .event_len = p->has_event ? p->event_len : 0,
    };
    int rc = p->cb(p->ctx, &ev);
    reset_block(p);
    return rc;
}

/* A line of the block at base ended: [start, end) is its text, `after` the
 * offset past its line end, of kind `kind`. Returns 1 when it was the blank
 * line that ends the block (handed over), 0 otherwise, -1 to stop. */
static int line_ended(struct sse_parser *p, const char *base, size_t start, size_t end, size_t after, unsigned kind,
                      bool in_input)
{
    if (after > p->max_block)
        return -1;
    if (!p->started) {
        p->started = true;
        /* A UTF-8 BOM at the very start of the stream is not part of the
         * first line; forwarded, it might no longer stand at the start. */
        if (end - start >= 3 && memcmp(base + start, "\xEF\xBB\xBF", 3) == 0) {
            start += 3;
            p->odd = true;
        }
    }
    bool blank = start == end;
    if (kind == END_OPEN && !blank) {
        /* The next byte says whether this CR was a CRLF's (sse_feed). */
        p->cr_in_block = true;
        kind = 0;
    }
    p->ends |= kind;
    if (!blank)
        return field(p, base, start, end) < 0 ? -1 : 0;
    if (kind == END_OPEN)
        p->cr_after_block = true;
    return dispatch(p, base, after, in_input) < 0 ? -1 : 1;
}

/* Where the next CR and the next LF are in the bytes being fed, as far as
 * known (end: none left; NULL: not searched yet). Each is searched for again
 * only once passed, so the bytes are searched about once for each. */
struct eols {
    const char *cr, *lf;
};

/* The first CR or LF at or after s (before end), or end. */
static const char *find_eol(struct eols *e, const char *s, const char *end)
{
    /* the blank line that ends an event, without a search */
    if (s < end && (*s == '\n' || *s == '\r'))
        return s;
    if (!e->lf || e->lf < s) {
        const char *f = memchr(s, '\n', (size_t)(end - s));
        e->lf = f ? f : end;
    }
    if (!e->cr || e->cr < s) {
        const char *f = memchr(s, '\r', (size_t)(end - s));
        e->cr = f ? f : end;
    }
    return e->cr < e->lf ? e->cr : e->lf;
}

/* The kind of the line end at eol (a CR or LF before end) and where the next line starts. */
static unsigned end_kind(const char *eol, const char *end, const char **next)
{
    if (*eol == '\n') {
        *next = eol + 1;
        return END_LF;
    }
    if (eol + 1 == end) {
        *next = end;
        return END_OPEN;
    }
    *next = eol + (eol[1] == '\n' ? 2 : 1);
    return eol[1] == '\n' ? END_CRLF : END_CR;
}

/* Lines are found with memchr, not byte by byte. A block that lies whole in
 * the bytes fed is handed over where it lies; only a block cut by the end
 * of the bytes is copied, into buf, and read on from there. */
int sse_feed(struct sse_parser *p, const char *bytes, size_t len)
{
    if (p->failed)
        return -1;
    if (len == 0)
        return 0;
    const char *at = bytes, *end = bytes + len;
    struct eols eols = {NULL, NULL};
    /* The byte after a CR that was the last one fed says what the CR was. */
    if (p->cr_after_block) {
        p->cr_after_block = false;
        if (*at == '\n')
            p->lead = 1;
    } else if (p->cr_in_block) {
        p->cr_in_block = false;
        if (*at == '\n') {
            if (append(p, at, 1) < 0)
                goto fail;
            at++;
            p->line_start = p->len;
            p->ends |= END_CRLF;
        } else {
            p->ends |= END_CR;
        }
    }
    /* A block begun in an earlier feed: read on in buf, line by line, until it ends. */
    while (p->len > 0 && at < end) {
        const char *eol = find_eol(&eols, at, end), *next;
        if (eol == end) {
            if (append(p, at, (size_t)(end - at)) < 0)
                goto fail;
            return 0;
        }
        unsigned kind = end_kind(eol, end, &next);
        size_t text_end = p->len + (size_t)(eol - at);
        if (append(p, at, (size_t)(next - at)) < 0)
            goto fail;
        at = next;
        size_t start = p->line_start;
        p->line_start = p->len;
        if (line_ended(p, p->buf, start, text_end, p->len, kind, false) < 0)
            goto fail;
    }
    /* Blocks in the bytes fed. */
    while (at < end) {
        const char *block = at, *line = at + p->lead;
        int r = 0;
        while (r == 0) {
            const char *eol = find_eol(&eols, line, end), *next;
            if (eol == end) {
                p->line_start = (size_t)(line - block);
                if (append(p, block, (size_t)(end - block)) < 0)
                    goto fail;
                return 0;
            }
            unsigned kind = end_kind(eol, end, &next);
            r = line_ended(p, block, (size_t)(line - block), (size_t)(eol - block), (size_t)(next - block), kind, true);
            if (r < 0)
                goto fail;
            line = next;
        }
        at = line;
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
