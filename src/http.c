#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { CB_NONE, CB_URL, CB_FIELD, CB_VALUE };

/* States of struct http_head_lint. */
enum { L_FIRST_START, L_EMPTY_CR, L_FIRST, L_FIRST_CR, L_LINE_START, L_NAME, L_VALUE, L_VALUE_CR, L_END_CR, L_DONE };

static const char *skip_ows(const char *p, const char *end);
static bool is_tchar(unsigned char c);

/* Fields warden reads (proxy, client, stdio bridge, the headers policy.c
 * shows to Lua) or that a server reads as one value (RFC 9110 5.3 lets only
 * list-based fields repeat): a repeated one could be keyed on by warden from
 * one copy and read by the server from the other. Refused when repeated, in
 * both directions (names that occur only in requests do not matter in
 * responses). A field warden starts reading belongs here. */
static const char *const singleton_fields[] = {
    "content-type", "content-length", "transfer-encoding", "connection", "host", "expect", "origin",
    "authorization", "mcp-session-id", "mcp-protocol-version", "last-event-id", "mcp-method", "mcp-name",
    "user-agent", "x-request-id", "traceparent", "x-forwarded-for", "x-agent-name",
};

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

/* Counts a piece of the trailer section of a chunked body against the head's
 * limits, and drops it: RFC 9110 6.5.1 forbids merging trailer fields into
 * the header section, warden forwards the body with a Content-Length (there
 * is no trailer section to pass them on in), and MCP defines none. Dropping
 * rather than refusing keeps clients that send a checksum trailer working. */
static int trailer_piece(struct http_reader *r, size_t len, bool new_field)
{
    r->trailer_bytes += len;
    if (new_field)
        r->trailer_fields++;
    if (r->trailer_bytes > r->max_head || r->trailer_fields > r->max_headers) {
        r->status_on_error = 431;
        r->why_on_error = "trailer section too large";
        return -1;
    }
    return 0;
}

/* A field name may arrive in several pieces when a read splits it: a new
 * header starts only after a value. */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_reader *r = p->data;
    struct http_head *h = &r->head;
    if (r->in_body) {
        bool new_field = r->last_cb != CB_FIELD;
        r->last_cb = CB_FIELD;
        return trailer_piece(r, len, new_field);
    }
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
    if (r->in_body)
        return trailer_piece(r, len, false);
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

static bool span_is(const char *p, size_t len, const char *lit)
{
    size_t l = strlen(lit);
    return len == l && strncasecmp(p, lit, l) == 0;
}

/* Skips a token; returns where it ends (p when there is none). */
static const char *skip_token(const char *p, const char *end)
{
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    return p;
}

/* Skips a quoted-string (RFC 9110 5.6.4) starting at its quote; returns NULL when malformed. */
static const char *skip_quoted(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            if (++p == end || (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f))
                return NULL;
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return NULL;
        }
    }
    return NULL;
}

/* RFC 9110 8.3.1: type "/" subtype *( OWS ";" OWS [ name "=" value ] ), with
 * each parameter name at most once: one reader takes the first charset and
 * another the last, and lenient readers look for substrings. */
static bool media_type_valid(const char *v, size_t len)
{
    const char *end = v + len;
    const char *p = skip_token(v, end);
    if (p == v || p == end || *p != '/')
        return false;
    const char *sub = p + 1;
    p = skip_token(sub, end);
    if (p == sub)
        return false;
    enum { MAX_PARAMS = 8 };
    const char *names[MAX_PARAMS];
    size_t name_lens[MAX_PARAMS], nparams = 0;
    for (;;) {
        p = skip_ows(p, end);
        if (p == end)
            return true;
        if (*p != ';')
            return false;
        p = skip_ows(p + 1, end);
        if (p == end || *p == ';')
            continue;
        const char *name = p;
        p = skip_token(name, end);
        if (p == name || p == end || *p != '=')
            return false;
        for (size_t i = 0; i < nparams; i++)
            if (name_lens[i] == (size_t)(p - name) && strncasecmp(names[i], name, name_lens[i]) == 0)
                return false;
        if (nparams == MAX_PARAMS)
            return false;
        names[nparams] = name;
        name_lens[nparams++] = (size_t)(p - name);
        p++;
        if (p < end && *p == '"') {
            p = skip_quoted(p, end);
            if (!p)
                return false;
        } else {
            const char *val = p;
            p = skip_token(val, end);
            if (p == val)
                return false;
        }
    }
}

/* True when two field names are one for a lenient server: case ignored, and
 * '_' taken for '-' as CGI-style servers do when they make HTTP_* variables. */
static bool names_fold_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        char x = a[i] == '_' ? '-' : a[i], y = b[i] == '_' ? '-' : b[i];
        if (x == y)
            continue;
        char lower = (char)(x | 0x20);
        if (lower != (y | 0x20) || lower < 'a' || lower > 'z')
            return false;
    }
    return true;
}

/* True when needle occurs in p[0..len), ignoring case. */
static bool span_contains(const char *p, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp(p + i, needle, n) == 0)
            return true;
    return false;
}

/* True when a Content-Type names JSON or an event stream somewhere without
 * being exactly that type: readers in the field match a prefix (the Python
 * SDK takes "application/json-seq" for JSON) or a substring (older
 * TypeScript SDKs), and warden would relay such a body unread. */
static bool media_type_ambiguous(const char *v, size_t len)
{
    static const char *const types[] = {"application/json", "text/event-stream"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (span_contains(v, len, types[i]) && !http_media_type_is(v, len, types[i]))
            return true;
    return false;
}

/* Checks the complete head as a server behind warden would read it: values
 * lose their trailing whitespace (RFC 9110 5.5; the parser keeps it), fields
 * warden reads appear once, and Content-Type is one well-formed media type.
 * Returns NULL, or why the head is refused (text in r->why_buf or static). */
static const char *head_check(struct http_reader *r)
{
    struct http_head *h = &r->head;
    for (size_t i = 0; i < h->nheaders; i++) {
        struct http_header *hd = &h->headers[i];
        while (hd->value_len && (h->buf[hd->value_off + hd->value_len - 1] == ' ' ||
                                 h->buf[hd->value_off + hd->value_len - 1] == '\t'))
            hd->value_len--;
    }
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *hd = &h->headers[i];
        const char *name = h->buf + hd->name_off;
        bool singleton = false;
        /* The first letter decides most names at once (the list's names begin
         * with a lower-case letter, and only that letter or its capital folds to it). */
        for (size_t k = 0; k < sizeof singleton_fields / sizeof *singleton_fields && !singleton; k++)
            singleton = hd->name_len && (name[0] | 0x20) == singleton_fields[k][0] &&
                        names_fold_equal(name, hd->name_len, singleton_fields[k], strlen(singleton_fields[k]));
        /* CGI-style servers (WSGI, PHP) read "Mcp_Session_Id" as Mcp-Session-Id; warden would not. */
        if (singleton && memchr(name, '_', hd->name_len)) {
            snprintf(r->why_buf, sizeof r->why_buf, "the %.*s header field name has an underscore for a dash",
                     (int)(hd->name_len < 40 ? hd->name_len : 40), name);
            return r->why_buf;
        }
        for (size_t j = i + 1; singleton && j < h->nheaders; j++) {
            const struct http_header *other = &h->headers[j];
            if (names_fold_equal(h->buf + other->name_off, other->name_len, name, hd->name_len)) {
                snprintf(r->why_buf, sizeof r->why_buf, "the %.*s header field appears more than once",
                         (int)(hd->name_len < 40 ? hd->name_len : 40), name);
                return r->why_buf;
            }
        }
        const char *value = h->buf + hd->value_off;
        if (span_is(name, hd->name_len, "content-type") &&
            (!media_type_valid(value, hd->value_len) || media_type_ambiguous(value, hd->value_len)))
            return "malformed Content-Type (one media type, each parameter once)";
        /* Warden reads every body it passes on; a coded one it cannot read
         * (and a client would decode) is refused, as RFC 9110 15.5.16 says. */
        if (span_is(name, hd->name_len, "content-encoding") && !span_is(value, hd->value_len, "identity")) {
            r->status_on_error = 415;
            return "warden reads every body: Content-Encoding is not accepted";
        }
    }
    /* Any other coding, in an answer too, would make warden read coded bytes as the body. */
    if (!http_transfer_coding_supported(h)) {
        r->status_on_error = 501;
        return "only the chunked transfer coding is supported";
    }
    return NULL;
}

static int on_headers_complete(http_parser *p)
{
    struct http_reader *r = p->data;
    struct http_head *h = &r->head;
    const char *why = head_check(r);
    if (why) {
        if (!r->status_on_error)
            r->status_on_error = 400;
        r->why_on_error = why;
        return -1;
    }
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
    r->why_on_error = NULL;
    r->refused = false;
    r->lint = (struct http_head_lint){0};
    r->trailer_bytes = r->trailer_fields = 0;
}

void http_reader_free(struct http_reader *r)
{
    free(r->head.buf);
    free(r->head.headers);
    r->head.buf = NULL;
    r->head.headers = NULL;
    r->head.cap = r->head.headers_cap = 0;
}

/* Advances the line-syntax check of a head (not yet L_DONE) over p[0..len).
 * Returns 1 when the head ended (*used counts the bytes through its last
 * LF), 0 when more is needed (*used = len), -1 with *status and *why when a
 * line is refused. */
static int lint_feed(struct http_head_lint *l, const char *p, size_t len, size_t max_headers, size_t *used,
                     int *status, const char **why)
{
    *status = 400;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        switch (l->state) {
        case L_FIRST:
        case L_VALUE: {
            /* Only the line's end matters here (http_parser judges the
             * bytes): skip to it at once instead of byte by byte. */
            const char *cr = memchr(p + i, '\r', len - i);
            size_t stop = cr ? (size_t)(cr - p) : len;
            if (memchr(p + i, '\n', stop - i)) {
                *why = "header lines must end with CRLF";
                return -1;
            }
            if (cr)
                l->state = l->state == L_FIRST ? L_FIRST_CR : L_VALUE_CR;
            i = stop;   /* the CR, consumed; or len - 1 + 1: the end of the input */
            if (!cr)
                i--;
            break;
        }
        case L_FIRST_START:
            if (c == '\n') {
                *why = "header lines must end with CRLF";
                return -1;
            }
            /* RFC 9112 2.2: empty lines before the request-line are ignored. */
            l->state = c == '\r' ? (l->state == L_FIRST_START ? L_EMPTY_CR : L_FIRST_CR) : L_FIRST;
            break;
        case L_EMPTY_CR:
        case L_FIRST_CR:
        case L_VALUE_CR:
        case L_END_CR:
            if (c != '\n') {
                *why = "bare CR in the head";
                return -1;
            }
            if (l->state == L_END_CR) {
                l->state = L_DONE;
                *used = i + 1;
                return 1;
            }
            l->state = l->state == L_EMPTY_CR ? L_FIRST_START : L_LINE_START;
            break;
        case L_LINE_START:
            if (c == '\r') {
                l->state = L_END_CR;
            } else if (c == ' ' || c == '\t') {
                *why = "obsolete line folding is not accepted";
                return -1;
            } else if (c == '\n') {
                *why = "header lines must end with CRLF";
                return -1;
            } else if (!is_tchar(c)) {
                *why = "malformed header field name";
                return -1;
            } else if (++l->nheaders > max_headers) {
                *status = 431, *why = "too many header fields";
                return -1;
            } else {
                l->state = L_NAME;
            }
            break;
        case L_NAME:
            if (c == ':') {
                l->state = L_VALUE;
            } else if (!is_tchar(c)) {
                *why = "malformed header field name (whitespace before colon?)";
                return -1;
            }
            break;
        }
    }
    *used = len;
    return 0;
}

size_t http_reader_feed(struct http_reader *r, const char *data, size_t len)
{
    if (r->complete || http_reader_failed(r, NULL, NULL))
        return 0;
    if (r->lint.state != L_DONE) {
        size_t used;
        int status;
        const char *why;
        if (lint_feed(&r->lint, data, len, r->max_headers, &used, &status, &why) < 0) {
            r->refused = true;
            r->status_on_error = status;
            r->why_on_error = why;
            return 0;
        }
    }
    return http_parser_execute(&r->parser, &parser_settings, data, len);
}

bool http_reader_failed(const struct http_reader *r, int *status, const char **why)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (!r->refused && (e == HPE_OK || e == HPE_PAUSED))
        return false;
    if (status)
        *status = r->status_on_error ? r->status_on_error : 400;
    if (why && r->why_on_error) {
        *why = r->why_on_error;
    } else if (why) {
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
/* RFC 9110 5.6.2: ALPHA, DIGIT and !#$%&'*+-.^_`|~, as two bit masks of
 * ASCII (bytes 0-63, 64-127): one test per byte of every header name. */
static bool is_tchar(unsigned char c)
{
    static const unsigned long long tchar_lo = 0x03ff6cfa00000000ULL, tchar_hi = 0x57ffffffc7fffffeULL;
    return c < 64 ? (tchar_lo >> c) & 1 : c < 128 && (tchar_hi >> (c - 64)) & 1;
}

int http_prescan_request(const char *p, size_t len, size_t max_head, size_t max_headers, size_t *head_len,
                         int *status, const char **why)
{
    struct http_head_lint lint = {0};
    size_t scan = len < max_head + 2 ? len : max_head + 2;
    int r = lint_feed(&lint, p, scan, max_headers, head_len, status, why);
    if (r != 0)
        return r;
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
    /* accept-encoding is not hop-by-hop, but passing it on would invite the
     * server to compress the answer, which warden must read (and refuses). */
    static const char *const hop[] = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
                                      "proxy-authorization", "te", "trailer", "transfer-encoding",
                                      "upgrade", "content-length", "host", "expect", "accept-encoding"};
    /* The first letter rules out most names before any strlen (every name
     * above begins with a lower-case letter: only it or its capital match). */
    for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
        if (len && (name[0] | 0x20) == hop[i][0] && strlen(hop[i]) == len && strncasecmp(hop[i], name, len) == 0)
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
