/* decisions.c: the recent decisions in memory, for the console's live view:
 * each one the audit log's line (audit.h's fields and order, already
 * escaped and redacted, without the newline), numbered in arrival order.
 *
 * Bounded by a count and a byte budget (texts plus per-entry overhead):
 * when either is reached the oldest decisions go first. One decision's text
 * over DECISIONS_MAX_ENTRY is not kept (counted in skipped): a huge argument
 * list must not flush the whole ring.
 *
 * Thread-safe: workers add (through audit.c's sink), the admin thread reads;
 * a mutex guards the ring and is held only to copy. */
#ifndef WARDEN_DECISIONS_H
#define WARDEN_DECISIONS_H
#include <stddef.h>
#include <stdint.h>
#include <event2/buffer.h>

struct decisions;

#define DECISIONS_COUNT 2000
#define DECISIONS_BYTES (4u << 20)
#define DECISIONS_MAX_ENTRY (64u << 10)

/* A ring of at most max_count decisions and max_bytes. NULL when out of
 * memory or max_count is 0; the caller frees it with decisions_free once
 * no thread uses it. */
struct decisions *decisions_new(size_t max_count, size_t max_bytes);
void decisions_free(struct decisions *d);

/* Keeps a copy of one audit line (a JSON object's text). Any thread. */
void decisions_add(struct decisions *d, const char *line, size_t len);

/* audit.c's sink signature: arg is the ring. */
void decisions_sink(void *arg, const char *line, size_t len);

/* Appends to out, oldest first, at most max of the decisions numbered after
 * `after`, each as the audit object with "seq":N first, separated by sep
 * (e.g. "," for a JSON array). Returns the last number written, or `after`
 * when none was. Any thread. */
uint64_t decisions_since(struct decisions *d, uint64_t after, size_t max, const char *sep, struct evbuffer *out);

/* The newest decision's number (0: none yet), and how many were not kept. */
uint64_t decisions_last(struct decisions *d);
uint64_t decisions_skipped(struct decisions *d);
/* Bytes counted now (texts and per-entry overhead). */
size_t decisions_bytes(struct decisions *d);
#endif
