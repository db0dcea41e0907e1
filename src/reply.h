/* reply.c: formats the messages warden writes itself: an HTTP response head,
 * JSON-RPC errors for a request's id, policy refusals as tool results, and
 * the JSON string escaping they need. A formatter only: it appends to the
 * caller's buffer and knows nothing of connections or exchanges. */
#ifndef WARDEN_REPLY_H
#define WARDEN_REPLY_H
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <event2/buffer.h>

/* Heads are built in memory reserved once (evbuffer_reserve_space, or the
 * stack) with these, not with printf: each writes at p and returns the byte
 * after what it wrote. */
static inline char *reply_put(char *p, const void *bytes, size_t len)
{
    if (len) /* bytes may be NULL then */
        memcpy(p, bytes, len);
    return p + len;
}
#define REPLY_PUT_LIT(p, lit) reply_put((p), (lit), sizeof(lit) - 1)
/* v in decimal: at most REPLY_UINT_MAX bytes. */
#define REPLY_UINT_MAX 20
char *reply_put_uint(char *p, unsigned long long v);

/* Appends a whole answer: a status line, Content-Type, Content-Length,
 * extra_headers (NULL or CRLF-terminated lines), Connection: close when
 * `closing`, and the body of `len` bytes; in one piece of out. Returns 0, or
 * -1 when out of memory (nothing appended). */
int reply_format_answer(struct evbuffer *out, int status, const char *content_type, const char *extra_headers,
                        const char *body, size_t len, bool closing);

/* Appends the JSON-RPC error message for `id` (its original text, or NULL for null). */
void reply_format_rpc_error(struct evbuffer *buf, const char *id, size_t id_len, int code, const char *message);

/* Appends a tool result with isError true for `id`: how a policy refusal reaches
 * the model (a JSON-RPC error or a 4xx would become a transport error in the SDK). */
void reply_format_tool_refusal(struct evbuffer *buf, const char *id, size_t id_len, const char *text);

/* Appends one JSON-RPC message as one line of newline-delimited JSON (stdio
 * transports): strict JSON has raw CR and LF only between tokens, where a
 * space means the same. */
void json_append_line(struct evbuffer *out, const char *json, size_t len);

/* Appends s[0..len) as a JSON string literal, quotes included. */
void json_append_string(struct evbuffer *buf, const char *s, size_t len);
#endif
