/* sse.c: an incremental text/event-stream parser (LF, CRLF and CR line ends,
 * multi-line data, id, event, retry, comments) that hands each complete block
 * to a callback the moment its terminating blank line arrives. */
#ifndef WARDEN_SSE_H
#define WARDEN_SSE_H
#include "sse-t.h"

/* Prepares *p; max_block bounds one block's raw size (0: 1 MiB). */
void sse_init(struct sse_parser *p, size_t max_block, sse_block_cb cb, void *ctx);

/* Feeds len bytes (any split, down to one byte at a time). Returns 0, or -1
 * when a block exceeded max_block or the callback asked to stop; after -1 the
 * parser refuses further input. */
int sse_feed(struct sse_parser *p, const char *bytes, size_t len);

/* Bytes of an unfinished block held back, waiting for its blank line. */
size_t sse_pending(const struct sse_parser *p);

/* Frees the parser's buffers. */
void sse_free(struct sse_parser *p);
#endif
