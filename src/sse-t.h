/* Types of the incremental Server-Sent-Events parser (sse.c). */
#ifndef WARDEN_SSE_T_H
#define WARDEN_SSE_T_H
#include <stdbool.h>
#include <stddef.h>

/* One block of an event stream, from its first byte to the blank line that
 * ends it. `raw` is the block's bytes exactly as received; the other fields
 * are the decoded SSE fields. A block of only comments or only an `id:` (a
 * 2025-11-25 priming event) has has_data false. Pointers are valid during
 * the callback; when raw_in_input, raw (and what points into it) stays valid
 * until sse_feed returns, being inside the bytes it was given. */
struct sse_event {
    const char *raw;
    size_t raw_len;
    size_t lead;        /* raw[0..lead) ends the previous block's line (the LF of a CRLF
                         * whose CR ended it in an earlier feed): a forward skips them */
    bool raw_in_input;
    /* raw[lead..] means the same to every SSE reader: the HTML standard's and
     * the lenient ones (lines split on LF or CRLF only, field names folded or
     * trimmed). True when each line is a comment or an exact data, id, event
     * or retry field and all line ends are LF, or all are CRLF: no lone CR,
     * no other field, no BOM. Otherwise only the decoded fields say it right. */
    bool verbatim;
    bool has_data;      /* at least one data: line */
    const char *data;   /* data lines joined with \n, no trailing \n; "" without data */
    size_t data_len;
    bool has_id;
    const char *id;
    size_t id_len;
    const char *event;  /* the event type; NULL when absent */
    size_t event_len;
};

/* Called once per complete block; returns 0 to go on, -1 to stop parsing. */
typedef int (*sse_block_cb)(void *ctx, const struct sse_event *ev);

/* The parser's state between chunks; fields are private to sse.c. Offsets
 * count from the current block's first byte, wherever the block lies: in the
 * bytes being fed or, when it began in an earlier feed, copied into buf. */
struct sse_parser {
    sse_block_cb cb;
    void *ctx;
    size_t max_block;   /* bytes one block may reach before it is an error */
    char *buf;          /* a block begun in an earlier feed, raw */
    size_t len, cap;
    size_t line_start;  /* offset of the line being received */
    size_t lead;        /* the block's leading LF of the previous block's CRLF (0 or 1) */
    char *data;         /* the data of a block with two or more data lines, joined */
    size_t data_len, data_cap;
    size_t data_off;    /* one data line: its value's offset (not copied) */
    unsigned data_lines;
    size_t id_off, id_len, event_off, event_len;
    bool has_id, has_event;
    unsigned ends;      /* the kinds of line end seen in the block (sse.c's END_*) */
    bool odd;           /* a line a lenient reader may read otherwise (not verbatim) */
    bool cr_in_block;   /* the last byte fed was a CR ending a line of the block */
    bool cr_after_block;/* the last byte fed was the CR that ended a block */
    bool started;       /* past the stream's first line (where a BOM may stand) */
    bool failed;
};
#endif
