/* Types of the incremental Server-Sent-Events parser (sse.c). */
#ifndef WARDEN_SSE_T_H
#define WARDEN_SSE_T_H
#include <stdbool.h>
#include <stddef.h>

/* One block of an event stream, from its first byte to the blank line that
 * ends it. `raw` is the block's bytes exactly as received (what a proxy
 * forwards untouched); the other fields are the decoded SSE fields. A block of
 * only comments or only an `id:` (a 2025-11-25 priming event) has has_data
 * false. All pointers are valid only during the callback. */
struct sse_event {
    const char *raw;
    size_t raw_len;
    bool has_data;      /* at least one data: line */
    const char *data;   /* data lines joined with \n, no trailing \n */
    size_t data_len;
    bool has_id;
    const char *id;
    size_t id_len;
    const char *event;  /* the event type; NULL when absent */
    size_t event_len;
};

/* Called once per complete block; returns 0 to go on, -1 to stop parsing. */
typedef int (*sse_block_cb)(void *ctx, const struct sse_event *ev);

/* The parser's state between chunks; fields are private to sse.c. */
struct sse_parser {
    sse_block_cb cb;
    void *ctx;
    size_t max_block;   /* bytes one block may reach before it is an error */
    char *buf;          /* the block being received, raw */
    size_t len, cap;
    size_t line_start;  /* offset in buf of the line being received */
    bool last_was_cr;   /* a CR ended the previous chunk: an LF next belongs to it */
    char *data;         /* decoded data of the block so far */
    size_t data_len, data_cap;
    bool has_data;
    size_t id_off, id_len, event_off, event_len; /* fields inside buf */
    bool has_id, has_event;
    bool seen_bytes;        /* past the stream's first line (where a BOM may stand) */
    bool failed;
};
#endif
