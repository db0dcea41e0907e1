/* answer_memo.c: the last notification answer_check passed after reading it
 * whole, so that the next one that differs from it only in the digits of
 * its numbers is known to get the same verdict without being read again.
 * The notifications of a stream (progress above all) are alike but for
 * their numbers: one full read, then one comparison per event.
 *
 * Why the verdict is the same: answer_check's verdict on a notification (a
 * message with a method and no id) follows from the message's syntax, its
 * keys and strings, its structure (depth, members) and the limits it was
 * read under, never from the value of a number; nor does it depend on the
 * request the stream answers. A text equal to the remembered one byte for
 * byte outside the remembered one's number tokens, with a JSON number where
 * each of them stood (RFC 8259's grammar, read as json_scan reads it), has
 * the same keys, strings and structure: read under the same limits, it is
 * accepted and passed, as a notification, like the remembered one. Texts
 * with a backslash are never remembered, so that equal bytes are equal keys
 * and strings. Pure: no I/O, no globals. */
#ifndef WARDEN_ANSWER_MEMO_H
#define WARDEN_ANSWER_MEMO_H
#include <stdbool.h>
#include <stddef.h>
#include "jsonrpc-t.h"

/* Texts longer than this, or with more numbers, are not remembered. */
#define ANSWER_MEMO_MAX 1024
#define ANSWER_MEMO_NUMBERS 32

struct answer_memo;

/* True when json[0..len) is the remembered notification but for its
 * numbers, and lim the limits it was read under: answer_check would pass
 * it as a notification (ANSWER_PASS, not a response, answering no
 * request, is_error 0). False, without a verdict, otherwise (and when m is
 * NULL). */
bool answer_memo_matches(const struct answer_memo *m, const struct rpc_limits *lim, const char *json, size_t len);

/* Remembers json[0..len), which answer_check passed under lim as a message
 * answering no request and not a response, in place of what was remembered
 * (*m is made on first use; the caller frees it with answer_memo_free). A
 * text with a top-level "id" (a server's request), a backslash, more than
 * ANSWER_MEMO_MAX bytes or ANSWER_MEMO_NUMBERS numbers is not remembered
 * and the memo forgets what it had. Returns -1 when out of memory. */
int answer_memo_keep(struct answer_memo **m, const struct rpc_limits *lim, const char *json, size_t len);

void answer_memo_free(struct answer_memo *m);
#endif
