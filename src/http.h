/* http.c: reads HTTP/1.1 requests and responses strictly, and answers the
 * questions the proxy asks of them (which header, which content type). */
#ifndef WARDEN_HTTP_H
#define WARDEN_HTTP_H
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include "http-t.h"

/* Prepares a reader for requests (HTTP_REQUEST) or responses (HTTP_RESPONSE). */
void http_reader_init(struct http_reader *r, enum http_message_type type, const struct http_reader_ops *ops,
                      void *owner, size_t max_head, size_t max_headers);
/* Forgets the last message so the next one can be read. */
void http_reader_next(struct http_reader *r);
/* Frees what the reader allocated. Between messages the reader stays
 * usable and allocates anew for the next head: an idle keep-alive connection
 * so holds no buffer. */
void http_reader_free(struct http_reader *r);

/* Feeds bytes; returns how many were consumed, which is fewer than len when
 * the message completed (the rest belongs to the next one) or on error.
 * Bytes of a head not yet complete are kept by the reader (the caller may
 * drop them). Check http_reader_failed() after each call. In both directions
 * the reader refuses (400, or 431 past the limits) what a server or client
 * behind warden could read otherwise:
 * - lines: bare LF or CR, obs-fold continuation lines, a field name that is
 *   not a token or has whitespace before its colon, control bytes (NUL...)
 *   in a value, more than max_headers fields or max_head bytes of head;
 * - the request line: a method outside enum http_method, a request-target
 *   that is not origin-form, absolute-form, "*" or (CONNECT) authority-form
 *   of visible bytes, a version other than HTTP/1.x, any extra space;
 * - the status line: other than "HTTP/1.x" SP three digits (100-599)
 *   [SP reason of visible bytes, space and tab];
 * - framing: Content-Length that is not digits alone or overflows, with a
 *   Transfer-Encoding too, or on a 1xx/204 answer (which has no body), and a
 *   chunk-size line that is not hex digits (no overflow), well-formed
 *   extensions and CRLF, chunk data not followed by CRLF;
 * - a repeated field that must be single (Content-Type, Content-Length,
 *   Host, Mcp-Session-Id, Authorization, ...: see singleton in http.c, names
 *   compared with '_' read as '-'), or such a field spelt with '_';
 * - a Content-Type that is not one media type with each parameter once or
 *   that names JSON or an event stream without being exactly that, (415) a
 *   Content-Encoding other than identity, and (501) a transfer coding other
 *   than a lone chunked.
 * Values lose leading and trailing whitespace. The trailer section of a
 * chunked body is checked like header lines, counted against max_head and
 * max_headers, and dropped: it never joins the head. */
size_t http_reader_feed(struct http_reader *r, const char *data, size_t len);
/* True when the stream is unreadable; *status is the HTTP status to answer. */
bool http_reader_failed(const struct http_reader *r, int *status, const char **why);
/* Tells the reader that the peer closed: completes a close-delimited body,
 * and fails a message cut short. */
void http_reader_eof(struct http_reader *r);

/* The name of a method (enum http_method), as written on the request line. */
const char *http_method_str(enum http_method m);

/* True unless the message names a transfer coding other than a lone
 * "chunked" (warden forwards JSON, never compressed or layered framing). */
bool http_transfer_coding_supported(const struct http_head *h);

/* The value of the first header named name[0..nlen) (case-insensitive), or
 * NULL. For the fields the reader keeps single, the first is the only one. */
const char *http_header_getn(const struct http_head *h, const char *name, size_t nlen, size_t *value_len);
/* http_header_getn() of a string; inline so that a literal's length is known
 * when compiling. */
static inline const char *http_header_get(const struct http_head *h, const char *name, size_t *value_len)
{
    return http_header_getn(h, name, strlen(name), value_len);
}
/* http_header_get() of a field the reader classifies (enum http_field, not
 * HF_OTHER), without comparing names when the reader classified the head. */
const char *http_header_field(const struct http_head *h, enum http_field f, size_t *value_len);
/* http_is_hop_by_hop() of the i-th header, from the reader's class when it
 * has one. */
bool http_header_hop_by_hop(const struct http_head *h, size_t i);
/* Name and value of the i-th header; inline: the loops over every header
 * that forward, size and check heads call it per field. */
static inline void http_header_at(const struct http_head *h, size_t i, const char **name, size_t *name_len,
                                  const char **value, size_t *value_len)
{
    const struct http_header *hd = &h->headers[i];
    *name = h->buf + hd->name_off;
    *name_len = hd->name_len;
    *value = h->buf + hd->value_off;
    *value_len = hd->value_len;
}
/* True for headers that describe one connection, not the message, and for
 * Accept-Encoding (warden reads the bodies it relays): never forwarded. */
bool http_is_hop_by_hop(const char *name, size_t len);
/* True when a Content-Type value is `type` (case-insensitive, parameters ignored). */
bool http_media_type_is(const char *value, size_t len, const char *type);
/* The charset parameter of a Content-Type value, or NULL. */
const char *http_media_charset(const char *value, size_t len, size_t *charset_len);
/* The standard reason phrase of a status code. */
const char *http_reason(int status);
/* True when a comma-separated header value (list; NULL: absent) names the token
 * `name`, case-insensitively: a header the Connection header names is hop-by-hop too. */
bool http_token_listed(const char *list, size_t list_len, const char *name, size_t len);
/* True when every token of a Connection value names a field that is never
 * forwarded anyway (http_is_hop_by_hop: "keep-alive", "upgrade"...): then
 * http_token_listed drops no other header, and callers skip it per header. */
bool http_connection_only_hop_by_hop(const char *list, size_t list_len);
#endif
