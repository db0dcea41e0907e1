/* http.c: reads HTTP/1.1 requests and responses strictly, and answers the
 * questions the proxy asks of them (which header, which content type). */
#ifndef WARDEN_HTTP_H
#define WARDEN_HTTP_H
#include <stdbool.h>
#include <stddef.h>
#include "http-t.h"

/* Prepares a reader for requests (HTTP_REQUEST) or responses (HTTP_RESPONSE). */
void http_reader_init(struct http_reader *r, enum http_parser_type type, const struct http_reader_ops *ops,
                      void *owner, size_t max_head, size_t max_headers);
/* Forgets the last message so the next one can be read. */
void http_reader_next(struct http_reader *r);
/* Frees what the reader allocated. */
void http_reader_free(struct http_reader *r);

/* Feeds bytes; returns how many were consumed, which is fewer than len when
 * the message completed (the rest belongs to the next one) or on error.
 * Check http_reader_failed() after each call. In both directions the reader
 * refuses (400, or 431 past the limits) what a server or client behind warden
 * could read otherwise: the head lines http_prescan_request() refuses, a
 * repeated field that must be single (Content-Type, Content-Length, Host,
 * Mcp-Session-Id, Authorization, ...: see singleton_fields in http.c), a
 * Content-Type that is not one media type with each parameter once or that
 * names JSON or an event stream without being exactly that, (415) a
 * Content-Encoding other than identity, and (501) a transfer coding other
 * than a lone chunked. Values
 * lose trailing whitespace. The trailer section of a chunked body is counted
 * against max_head and max_headers and dropped: it never joins the head. */
size_t http_reader_feed(struct http_reader *r, const char *data, size_t len);
/* True when the stream is unreadable; *status is the HTTP status to answer. */
bool http_reader_failed(const struct http_reader *r, int *status, const char **why);
/* Tells the parser that the peer closed; completes a close-delimited body. */
void http_reader_eof(struct http_reader *r);

/* Checks a request head libhttp-parser would accept but HTTP/1.1 forbids or
 * makes ambiguous: bare LF, obs-fold continuation lines, whitespace before a
 * colon, header names that are not tokens, too many or too large headers.
 * p[0..len) is what has arrived. Returns 1 with *head_len when the head is
 * complete and strict, 0 when more bytes are needed, -1 with *status (400 or
 * 431) and *why otherwise. Leading empty lines (allowed by RFC 9112) count. */
int http_prescan_request(const char *p, size_t len, size_t max_head, size_t max_headers, size_t *head_len,
                         int *status, const char **why);

/* True unless the message names a transfer coding other than a lone
 * "chunked" (warden forwards JSON, never compressed or layered framing). */
bool http_transfer_coding_supported(const struct http_head *h);

/* The value of the first header named `name` (case-insensitive), or NULL.
 * For the fields the reader keeps single, the first is the only one. */
const char *http_header_get(const struct http_head *h, const char *name, size_t *value_len);
/* Name and value of the i-th header. */
void http_header_at(const struct http_head *h, size_t i, const char **name, size_t *name_len, const char **value,
                    size_t *value_len);
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
#endif
