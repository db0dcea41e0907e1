#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { CB_NONE, CB_URL, CB_FIELD, CB_VALUE };

static const char *skip_ows(const char *p, const char *end);

/* Appends bytes to the head buffer, refusing to grow past max_head (431). */
static int head_append(struct http_reader *r, const char *at, size_t len)
{
    struct http_head *h = &r->head;
    if (h->len + len > r->max_head) {
        r->status_on_error = 431;
        return -1;
    }
    if (h->len + len > h->cap) {
        size_t cap = h->cap ? h->cap : 1024;
        while (cap < h->len + len)
            cap *= 2;
        char *buf = realloc(h->buf, cap);
        if (!buf) {
            r->status_on_error = 503;
            return -1;
        }
        h->buf = buf;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, at, len);
    h->len += len;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_reader *r = p->data;
    if (r->last_cb != CB_URL)
        r->head.url_off = (uint32_t)r->head.len;
    r->last_cb = CB_URL;
    if (head_append(r, at, len) < 0)
        return -1;
    r->head.url_len = (uint32_t)(r->head.len - r->head.url_off);
    return 0;
}

/* A field name may arrive in several pieces when a read splits it: a new
 * header starts only after a value. */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_reader *r = p->data;
    struct http_head *h = &r->head;
    if (r->last_cb != CB_FIELD) {
        if (h->nheaders >= r->max_headers) {
            r->status_on_error = 431;
            return -1;
        }
        if (h->nheaders == h->headers_cap) {
            size_t cap = h->headers_cap ? h->headers_cap * 2 : 16;
            struct http_header *hs = realloc(h->headers, cap * sizeof *hs);
            if (!hs) {
                r->status_on_error = 503;
                return -1;
            }
            h->headers = hs;
            h->headers_cap = cap;
        }
        h->headers[h->nheaders++] = (struct http_header){.name_off = (uint32_t)h->len};
    }
    r->last_cb = CB_FIELD;
    if (head_append(r, at, len) < 0)
        return -1;
    struct http_header *hd = &h->headers[h->nheaders - 1];
    hd->name_len = (uint32_t)(h->len - hd->name_off);
    hd->value_off = (uint32_t)h->len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_reader *r = p->data;
    struct http_head *h = &r->head;
    r->last_cb = CB_VALUE;
    if (head_append(r, at, len) < 0)
        return -1;
    struct http_header *hd = &h->headers[h->nheaders - 1];
    hd->value_len = (uint32_t)(h->len - hd->value_off);
    return 0;
}

static int on_status(http_parser *p, const char *at, size_t len)
{
    (void)p, (void)at, (void)len;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_reader *r = p->data;
    struct http_head *h = &r->head;
    h->method = p->method;
    h->status = (int)p->status_code;
    h->http_major = p->http_major;
    h->http_minor = p->http_minor;
    h->keep_alive = http_should_keep_alive(p) != 0;
    h->chunked = (p->flags & F_CHUNKED) != 0;
    h->has_length = (p->flags & F_CONTENTLENGTH) != 0;
    h->content_length = h->has_length ? p->content_length : 0;
    r->in_body = true;
    if (r->ops->on_head(r->owner) < 0)
        return -1;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_reader *r = p->data;
    return r->ops->on_body(r->owner, at, len) < 0 ? -1 : 0;
}

/* Pauses after each message: the next pipelined one waits until this one is answered. */
static int on_message_complete(http_parser *p)
{
    struct http_reader *r = p->data;
    r->complete = true;
    http_parser_pause(p, 1);
    return r->ops->on_complete(r->owner) < 0 ? -1 : 0;
}

static const http_parser_settings parser_settings = {
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_reader_init(struct http_reader *r, enum http_parser_type type, const struct http_reader_ops *ops,
                      void *owner, size_t max_head, size_t max_headers)
{
    memset(r, 0, sizeof *r);
    http_parser_init(&r->parser, type);
    r->parser.data = r;
    r->ops = ops;
    r->owner = owner;
    r->max_head = max_head;
    r->max_headers = max_headers;
}

void http_reader_next(struct http_reader *r)
{
    enum http_parser_type type = (enum http_parser_type)r->parser.type;
    http_parser_init(&r->parser, type);
    r->parser.data = r;
    r->head.len = 0;
    r->head.nheaders = 0;
    r->head.url_off = r->head.url_len = 0;
    r->last_cb = CB_NONE;
    r->in_body = false;
    r->complete = false;
    r->status_on_error = 0;
}

void http_reader_free(struct http_reader *r)
{
    free(r->head.buf);
    free(r->head.headers);
    r->head.buf = NULL;
    r->head.headers = NULL;
    r->head.cap = r->head.headers_cap = 0;
}

size_t http_reader_feed(struct http_reader *r, const char *data, size_t len)
{
    if (r->complete || http_reader_failed(r, NULL, NULL))
        return 0;
    return http_parser_execute(&r->parser, &parser_settings, data, len);
}

bool http_reader_failed(const struct http_reader *r, int *status, const char **why)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (e == HPE_OK || e == HPE_PAUSED)
        return false;
    if (status)
        *status = r->status_on_error ? r->status_on_error : 400;
    if (why) {
        switch (r->status_on_error) {
        case 413: *why = "the body is larger than the limit"; break;
        case 417: *why = "only Expect: 100-continue is supported"; break;
        case 431: *why = "header fields too large"; break;
        case 501: *why = "only the chunked transfer coding is supported"; break;
        case 503: *why = "out of memory"; break;
        default: *why = http_errno_description(e);
        }
    }
    return true;
}

void http_reader_eof(struct http_reader *r)
{
    if (!r->complete && !http_reader_failed(r, NULL, NULL))
        http_parser_execute(&r->parser, &parser_settings, NULL, 0);
}

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int http_prescan_request(const char *p, size_t len, size_t max_head, size_t max_headers, size_t *head_len,
                         int *status, const char **why)
{
    size_t i = 0, nheaders = 0;
    /* RFC 9112 2.2: a server should ignore at least one empty line before the request-line. */
    while (i + 1 < len && p[i] == '\r' && p[i + 1] == '\n')
        i += 2;
    bool request_line = true;
    size_t scan_end = len < max_head + 2 ? len : max_head + 2;
    while (i < scan_end) {
        const char *nl = memchr(p + i, '\n', scan_end - i);
        if (!nl)
            break;
        size_t end = (size_t)(nl - p);
        if (end == i || p[end - 1] != '\r') {
            *status = 400, *why = "header lines must end with CRLF";
            return -1;
        }
        size_t line_len = end - 1 - i;
        if (memchr(p + i, '\r', line_len)) {
            *status = 400, *why = "bare CR in the request head";
            return -1;
        }
        if (line_len == 0) {
            *head_len = end + 1;
            return 1;
        }
        if (!request_line) {
            if (p[i] == ' ' || p[i] == '\t') {
                *status = 400, *why = "obsolete line folding is not accepted";
                return -1;
            }
            size_t k = i;
            while (k < end - 1 && is_tchar((unsigned char)p[k]))
                k++;
            if (k == i || k == end - 1 || p[k] != ':') {
                *status = 400, *why = "malformed header field name (whitespace before colon?)";
                return -1;
            }
            if (++nheaders > max_headers) {
                *status = 431, *why = "too many header fields";
                return -1;
            }
        }
        request_line = false;
        i = end + 1;
    }
    if (len >= max_head + 2) {
        *status = 431, *why = "request head too large";
        return -1;
    }
    return 0;
}

bool http_transfer_coding_supported(const struct http_head *h)
{
    size_t len;
    const char *te = http_header_get(h, "transfer-encoding", &len);
    if (!te)
        return true;
    const char *end = te + len;
    te = skip_ows(te, end);
    while (end > te && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return end - te == 7 && strncasecmp(te, "chunked", 7) == 0;
}

const char *http_header_get(const struct http_head *h, const char *name, size_t *value_len)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *hd = &h->headers[i];
        if (hd->name_len == nlen && strncasecmp(h->buf + hd->name_off, name, nlen) == 0) {
            *value_len = hd->value_len;
            return h->buf + hd->value_off;
        }
    }
    return NULL;
}

void http_header_at(const struct http_head *h, size_t i, const char **name, size_t *name_len, const char **value,
                    size_t *value_len)
{
    const struct http_header *hd = &h->headers[i];
    *name = h->buf + hd->name_off;
    *name_len = hd->name_len;
    *value = h->buf + hd->value_off;
    *value_len = hd->value_len;
}

bool http_is_hop_by_hop(const char *name, size_t len)
{
    static const char *const hop[] = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
                                      "proxy-authorization", "te", "trailer", "transfer-encoding",
                                      "upgrade", "content-length", "host", "expect"};
    for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
        if (strlen(hop[i]) == len && strncasecmp(hop[i], name, len) == 0)
            return true;
    return false;
}

/* Skips optional whitespace (RFC 9110 OWS) forward from p, up to end. */
static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

bool http_media_type_is(const char *value, size_t len, const char *type)
{
    const char *end = value + len;
    const char *p = skip_ows(value, end);
    size_t tlen = strlen(type);
    if ((size_t)(end - p) < tlen || strncasecmp(p, type, tlen) != 0)
        return false;
    p = skip_ows(p + tlen, end);
    return p == end || *p == ';';
}

const char *http_media_charset(const char *value, size_t len, size_t *charset_len)
{
    const char *end = value + len;
    const char *p = memchr(value, ';', len);
    while (p && p < end) {
        p = skip_ows(p + 1, end);
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *pend = semi ? semi : end;
        if (pend - p > 8 && strncasecmp(p, "charset=", 8) == 0) {
            const char *v = p + 8, *vend = pend;
            while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
                vend--;
            if (vend - v >= 2 && *v == '"' && vend[-1] == '"')
                v++, vend--;
            *charset_len = (size_t)(vend - v);
            return v;
        }
        p = semi;
    }
    return NULL;
}

const char *http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

bool http_token_listed(const char *list, size_t list_len, const char *name, size_t len)
{
    const char *v = list;
    const char *end = v ? v + list_len : NULL;
    while (v && v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        const char *tok = v;
        while (v < end && *v != ',' && *v != ' ' && *v != '\t')
            v++;
        if ((size_t)(v - tok) == len && strncasecmp(tok, name, len) == 0)
            return true;
    }
    return false;
}
