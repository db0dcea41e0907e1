#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* States of the body (struct http_reader.body_state). The chunk-size line
 * and the trailer section are read byte by byte: they are short, and a
 * state per byte keeps every split of them alike. */
enum {
    B_NONE,        /* no body: complete after the head */
    B_LENGTH,      /* Content-Length bytes */
    B_EOF,         /* until the peer closes (responses) */
    B_SIZE,        /* chunk-size hex digits */
    B_SIZE_WS,     /* whitespace after them: an extension must follow */
    B_EXT_NAME0,   /* before an extension name */
    B_EXT_NAME,
    B_EXT_NAME_WS, /* after it: "=" or ";" */
    B_EXT_VAL0,    /* after "=" */
    B_EXT_TOKEN,
    B_EXT_QUOTED,
    B_EXT_ESC,     /* after a backslash in a quoted value */
    B_EXT_VAL_END, /* after the closing quote */
    B_EXT_VAL_WS,  /* after a value: ";" only */
    B_SIZE_LF,     /* the CR of the chunk-size line is read */
    B_DATA,        /* chunk data */
    B_DATA_CR,     /* the CRLF after chunk data */
    B_DATA_LF,
    B_TRAILER,     /* start of a trailer line (or of the final CRLF) */
    B_TRAILER_NAME,
    B_TRAILER_VALUE,
    B_TRAILER_LF,
    B_END_LF,      /* the final LF */
};

static const char *skip_ows(const char *p, const char *end);

/* Byte classes, one load per byte: C_TCHAR is RFC 9110 5.6.2's token set
 * (ALPHA, DIGIT and !#$%&'*+-.^_`|~); C_VALUE a byte of a field value or
 * reason phrase (HTAB, SP, VCHAR, obs-text: NUL, other controls and DEL are
 * refused, as libhttp-parser did); C_TARGET a byte of a request-target
 * (VCHAR, obs-text: no space or control). */
enum { C_TCHAR = 1, C_VALUE = 2, C_TARGET = 4 };
static const unsigned char byte_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6,
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
};

static bool is_tchar(unsigned char c)
{
    return byte_class[c] & C_TCHAR;
}

static bool is_value_char(unsigned char c)
{
    return byte_class[c] & C_VALUE;
}

/* Where the value bytes p[0..end-p) stop being value bytes (end when they
 * all are): eight at a time while none is below 0x20 (HTAB included) or DEL. */
static const char *skip_value(const char *p, const char *end)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        uint64_t del = x ^ (0x7f * ones);
        if (((x - 0x20 * ones) & ~x & highs) || ((del - ones) & ~del & highs))
            break;
        p += 8;
    }
    while (p < end && is_value_char((unsigned char)*p))
        p++;
    return p;
}

static const struct {
    const char *name;
    unsigned char len;
} methods[] = {
#define M(n) {#n, sizeof #n - 1}
    M(DELETE), M(GET), M(HEAD), M(POST), M(PUT), M(CONNECT), M(OPTIONS), M(TRACE), M(COPY), M(LOCK), M(MKCOL),
    M(MOVE), M(PROPFIND), M(PROPPATCH), M(SEARCH), M(UNLOCK), M(BIND), M(REBIND), M(UNBIND), M(ACL), M(REPORT),
    M(MKACTIVITY), M(CHECKOUT), M(MERGE), {"M-SEARCH", 8}, M(NOTIFY), M(SUBSCRIBE), M(UNSUBSCRIBE), M(PATCH),
    M(PURGE), M(MKCALENDAR), M(LINK), M(UNLINK), M(SOURCE),
#undef M
};

const char *http_method_str(enum http_method m)
{
    return (size_t)m < sizeof methods / sizeof *methods ? methods[m].name : "<unknown>";
}

/* Known field names, lower case, by enum http_field. */
static const char *const field_names[HF_COUNT] = {
    [HF_CONTENT_TYPE] = "content-type", [HF_CONTENT_LENGTH] = "content-length",
    [HF_TRANSFER_ENCODING] = "transfer-encoding", [HF_CONNECTION] = "connection", [HF_HOST] = "host",
    [HF_EXPECT] = "expect", [HF_ORIGIN] = "origin", [HF_AUTHORIZATION] = "authorization",
    [HF_MCP_SESSION_ID] = "mcp-session-id", [HF_MCP_PROTOCOL_VERSION] = "mcp-protocol-version",
    [HF_LAST_EVENT_ID] = "last-event-id", [HF_MCP_METHOD] = "mcp-method", [HF_MCP_NAME] = "mcp-name",
    [HF_USER_AGENT] = "user-agent", [HF_X_REQUEST_ID] = "x-request-id", [HF_TRACEPARENT] = "traceparent",
    [HF_X_FORWARDED_FOR] = "x-forwarded-for", [HF_X_AGENT_NAME] = "x-agent-name",
    [HF_CONTENT_ENCODING] = "content-encoding", [HF_KEEP_ALIVE] = "keep-alive",
    [HF_PROXY_CONNECTION] = "proxy-connection", [HF_PROXY_AUTHENTICATE] = "proxy-authenticate",
    [HF_PROXY_AUTHORIZATION] = "proxy-authorization", [HF_TE] = "te", [HF_TRAILER] = "trailer",
    [HF_UPGRADE] = "upgrade", [HF_ACCEPT_ENCODING] = "accept-encoding", [HF_ACCEPT] = "accept",
};

/* Fields that describe one connection, not the message, and Accept-Encoding
 * (not hop-by-hop, but passing it on would invite the server to compress the
 * answer, which warden must read and refuses): never forwarded. */
static const bool hop_by_hop[HF_COUNT] = {
    [HF_CONNECTION] = true, [HF_KEEP_ALIVE] = true, [HF_PROXY_CONNECTION] = true,
    [HF_PROXY_AUTHENTICATE] = true, [HF_PROXY_AUTHORIZATION] = true, [HF_TE] = true, [HF_TRAILER] = true,
    [HF_TRANSFER_ENCODING] = true, [HF_UPGRADE] = true, [HF_CONTENT_LENGTH] = true, [HF_HOST] = true,
    [HF_EXPECT] = true, [HF_ACCEPT_ENCODING] = true,
};

/* True when name[0..len) (len >= 2) is the lower-case `lit` (letters and
 * '-') ignoring case, a word at a time (the last word overlapping the one
 * before it): a letter's bit 0x40 puts 0x20 in the mask of its byte, so only
 * letters fold, and no byte but a letter's capital folds onto a letter. */
static inline bool name_eq(const char *name, const char *lit, size_t len)
{
    const uint64_t bit20 = 0x2020202020202020ULL;
    if (len >= 8) {
        uint64_t n, l;
        for (size_t i = 0; i + 8 < len; i += 8) {
            memcpy(&n, name + i, 8);
            memcpy(&l, lit + i, 8);
            if ((n | ((l >> 1) & bit20)) != l)
                return false;
        }
        memcpy(&n, name + len - 8, 8);
        memcpy(&l, lit + len - 8, 8);
        return (n | ((l >> 1) & bit20)) == l;
    }
    if (len >= 4) {
        uint32_t n0, n1, l0, l1;
        memcpy(&n0, name, 4);
        memcpy(&l0, lit, 4);
        memcpy(&n1, name + len - 4, 4);
        memcpy(&l1, lit + len - 4, 4);
        return (n0 | ((l0 >> 1) & (uint32_t)bit20)) == l0 && (n1 | ((l1 >> 1) & (uint32_t)bit20)) == l1;
    }
    uint16_t n0, n1, l0, l1;
    memcpy(&n0, name, 2);
    memcpy(&l0, lit, 2);
    memcpy(&n1, name + len - 2, 2);
    memcpy(&l1, lit + len - 2, 2);
    return (uint16_t)(n0 | ((l0 >> 1) & 0x2020)) == l0 && (uint16_t)(n1 | ((l1 >> 1) & 0x2020)) == l1;
}

/* name_eq where '_' also stands for '-'; *underscore tells whether one did. */
static bool name_is(const char *name, const char *lit, size_t len, bool *underscore)
{
    bool folded = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i], l = (unsigned char)lit[i];
        if (l == '-' && c == '_')
            folded = true;
        else if (l == '-' ? c != '-' : (c | 0x20) != l)   /* see name_eq: only a letter's capital folds */
            return false;
    }
    *underscore = folded;
    return true;
}

/* The one known field a name could be (HF_OTHER if none), by its length
 * and a letter or two. */
static inline enum http_field candidate(const char *n, size_t len)
{
    if (len < 2)
        return HF_OTHER;
    unsigned char c = (unsigned char)(n[0] | 0x20);
    switch (len) {
    case 2: return HF_TE;
    case 4: return HF_HOST;
    case 6: return c == 'e' ? HF_EXPECT : c == 'o' ? HF_ORIGIN : HF_ACCEPT;
    case 7: return c == 't' ? HF_TRAILER : HF_UPGRADE;
    case 8: return HF_MCP_NAME;
    case 10: return c == 'c' ? HF_CONNECTION : c == 'k' ? HF_KEEP_ALIVE : c == 'u' ? HF_USER_AGENT : HF_MCP_METHOD;
    case 11: return HF_TRACEPARENT;
    case 12: return c == 'c' ? HF_CONTENT_TYPE : (n[2] | 0x20) == 'r' ? HF_X_REQUEST_ID : HF_X_AGENT_NAME;
    case 13: return c == 'a' ? HF_AUTHORIZATION : HF_LAST_EVENT_ID;
    case 14: return c == 'c' ? HF_CONTENT_LENGTH : HF_MCP_SESSION_ID;
    case 15: return c == 'x' ? HF_X_FORWARDED_FOR : HF_ACCEPT_ENCODING;
    case 16: return c == 'p' ? HF_PROXY_CONNECTION : HF_CONTENT_ENCODING;
    case 17: return HF_TRANSFER_ENCODING;
    case 18: return HF_PROXY_AUTHENTICATE;
    case 19: return HF_PROXY_AUTHORIZATION;
    case 20: return HF_MCP_PROTOCOL_VERSION;
    default: return HF_OTHER;
    }
}

/* The known field a name is, ignoring case (HF_OTHER if none): the
 * candidate, confirmed by one comparison. */
static inline enum http_field classify(const char *n, size_t len)
{
    enum http_field f = candidate(n, len);
    return f != HF_OTHER && name_eq(n, field_names[f], len) ? f : HF_OTHER;
}

/* classify() where '_' also matches '-' (CGI-style servers read names so);
 * *underscore tells whether one did. Names with '_' are rare: only they
 * take the slow way. */
static enum http_field classify_folded(const char *n, size_t len, bool *underscore)
{
    *underscore = false;
    enum http_field f = classify(n, len);
    if (f != HF_OTHER || !memchr(n, '_', len))
        return f;
    f = candidate(n, len);
    return f != HF_OTHER && name_is(n, field_names[f], len, underscore) ? f : HF_OTHER;
}

/* Fields warden reads (proxy, client, stdio bridge, the headers policy.c
 * shows to Lua) or that a server reads as one value (RFC 9110 5.3 lets only
 * list-based fields repeat): a repeated one could be keyed on by warden from
 * one copy and read by the server from the other. Refused when repeated, in
 * both directions (names that occur only in requests do not matter in
 * responses). A field warden starts reading belongs here: the HF_ values
 * before HF_SINGLETONS. */
static bool singleton(enum http_field f)
{
    return f != HF_OTHER && f < HF_SINGLETONS;
}

/* Marks the reader failed with status and why; returns -1. */
static int refuse(struct http_reader *r, int status, const char *why)
{
    r->failed = true;
    if (!r->status_on_error)
        r->status_on_error = status;
    if (!r->why_on_error)
        r->why_on_error = why;
    return -1;
}

/* Makes room for len more head bytes (within max_head, checked by the caller). */
static int head_reserve(struct http_reader *r, size_t len)
{
    struct http_head *h = &r->head;
    if (h->len + len <= h->cap)
        return 0;
    size_t cap = h->cap ? h->cap : 1024;
    while (cap < h->len + len)
        cap *= 2;
    char *buf = realloc(h->buf, cap);
    if (!buf)
        return refuse(r, 503, "out of memory");
    h->buf = buf;
    h->cap = cap;
    return 0;
}

/* Reads "HTTP/1.x" at p (8 bytes available). */
static int read_version(struct http_reader *r, const char *p)
{
    if (memcmp(p, "HTTP/", 5) != 0 || p[5] != '1' || p[6] != '.' || p[7] < '0' || p[7] > '9')
        return refuse(r, 400, "invalid HTTP version (HTTP/1.x only)");
    r->head.http_major = 1;
    r->head.http_minor = (unsigned short)(p[7] - '0');
    return 0;
}

/* RFC 9112 3: method SP request-target SP HTTP-version, nothing more. */
static int request_line(struct http_reader *r, const char *b, size_t off, size_t eol)
{
    struct http_head *h = &r->head;
    const char *p = b + off, *end = b + eol;
    const char *m = p;
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    size_t mlen = (size_t)(p - m);
    size_t k = 0;
    while (k < sizeof methods / sizeof *methods && !(methods[k].len == mlen && memcmp(methods[k].name, m, mlen) == 0))
        k++;
    if (k == sizeof methods / sizeof *methods || p == end || *p != ' ')
        return refuse(r, 400, "invalid HTTP method");
    h->method = (unsigned)k;
    const char *t = ++p;
    while (p < end && (byte_class[(unsigned char)*p] & C_TARGET))
        p++;
    size_t tlen = (size_t)(p - t);
    bool form_ok = false;
    if (tlen == 0) {
        form_ok = false;
    } else if (*t == '/') {
        form_ok = true;                        /* origin-form */
    } else if (*t == '*') {
        form_ok = tlen == 1;                   /* asterisk-form */
    } else if (k == HTTP_CONNECT) {
        form_ok = true;                        /* authority-form */
    } else {
        const char *s = t;                     /* absolute-form: scheme "://" something */
        while (s < p && ((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z'))
            s++;
        form_ok = s > t && p - s > 3 && memcmp(s, "://", 3) == 0;
    }
    if (!form_ok)
        return refuse(r, 400, "invalid request-target");
    if (end - p != 9 || *p != ' ')
        return refuse(r, 400, "invalid request line (method SP target SP HTTP/1.x)");
    h->url_off = (uint32_t)(t - b);
    h->url_len = (uint32_t)tlen;
    return read_version(r, p + 1);
}

/* RFC 9112 4: HTTP-version SP 3DIGIT SP reason-phrase; the reason (and the
 * space before it) may be missing. */
static int status_line(struct http_reader *r, const char *b, size_t off, size_t eol)
{
    const char *p = b + off, *end = b + eol;
    if (end - p < 12 || p[8] != ' ')
        return refuse(r, 400, "invalid status line");
    if (read_version(r, p) < 0)
        return -1;
    p += 9;
    int status = 0;
    for (int i = 0; i < 3; i++, p++) {
        if (*p < '0' || *p > '9')
            return refuse(r, 400, "invalid status code");
        status = status * 10 + (*p - '0');
    }
    if (status < 100 || status > 599)
        return refuse(r, 400, "invalid status code");
    if (p < end && *p != ' ')
        return refuse(r, 400, "invalid status line");
    for (; p < end; p++)
        if (!is_value_char((unsigned char)*p))
            return refuse(r, 400, *p == '\r' ? "bare CR in the head" : "invalid character in the status line");
    r->head.status = status;
    return 0;
}

/* Reads a Content-Length value: digits alone (no sign, no list), no overflow. */
static int content_length(struct http_reader *r, const char *v, size_t len)
{
    struct http_head *h = &r->head;
    if (len == 0)
        return refuse(r, 400, "invalid Content-Length");
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9' || n > (UINT64_MAX - 9) / 10)
            return refuse(r, 400, "invalid Content-Length");
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    h->has_length = true;
    h->content_length = n;
    return 0;
}

/* field-name ":" OWS field-value OWS, the name a token, the value of
 * visible bytes, spaces and tabs. Records it, classified. */
static int header_line(struct http_reader *r, const char *b, size_t off, size_t eol)
{
    struct http_head *h = &r->head;
    const char *p = b + off, *end = b + eol;
    unsigned char c = (unsigned char)*p;
    if (c == ' ' || c == '\t')
        return refuse(r, 400, "obsolete line folding is not accepted");
    if (!is_tchar(c))
        return refuse(r, 400, c == '\r' ? "bare CR in the head" : "malformed header field name");
    if (h->nheaders >= r->max_headers)
        return refuse(r, 431, "too many header fields");
    const char *name = p;
    /* four bytes a test while they are all name bytes (the colon stops it) */
    const unsigned char *u = (const unsigned char *)p;
    while (end - (const char *)u >= 4 && (byte_class[u[0]] & byte_class[u[1]] & byte_class[u[2]] & byte_class[u[3]] & C_TCHAR))
        u += 4;
    p = (const char *)u;
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    if (p == end || *p != ':')
        return refuse(r, 400, p < end && *p == '\r' ? "bare CR in the head" : "malformed header field name (whitespace before colon?)");
    size_t nlen = (size_t)(p - name);
    p = skip_ows(p + 1, end);
    const char *value = p;
    p = skip_value(p, end);
    if (p < end)
        return refuse(r, 400, *p == '\r' ? "bare CR in the head" : "invalid character in a header field value");
    while (p > value && (p[-1] == ' ' || p[-1] == '\t'))
        p--;
    if (h->nheaders == h->headers_cap) {
        size_t cap = h->headers_cap ? h->headers_cap * 2 : 16;
        struct http_header *hs = realloc(h->headers, cap * sizeof *hs);
        if (!hs)
            return refuse(r, 503, "out of memory");
        h->headers = hs;
        uint8_t *fs = realloc(h->fields, cap);
        if (!fs)
            return refuse(r, 503, "out of memory");
        h->fields = fs;
        h->headers_cap = cap;
    }
    bool underscore;
    enum http_field folded = classify_folded(name, nlen, &underscore);
    enum http_field field = underscore ? HF_OTHER : folded;
    h->fields[h->nheaders] = (uint8_t)field;
    h->headers[h->nheaders] = (struct http_header){
        .name_off = (uint32_t)(name - b), .name_len = (uint32_t)nlen,
        .value_off = (uint32_t)(value - b), .value_len = (uint32_t)(p - value),
    };
    h->nheaders++;
    if (field != HF_OTHER && !h->first[field])
        h->first[field] = (uint32_t)h->nheaders;
    if (singleton(folded) && r->singles[folded] < 2)
        r->singles[folded]++;
    if (field == HF_CONTENT_LENGTH && r->singles[HF_CONTENT_LENGTH] == 1)
        return content_length(r, value, (size_t)(p - value));
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


/* Checks the complete head as a server behind warden would read it: fields
 * warden reads appear once (and are not spelt with '_'), Content-Type is one
 * well-formed media type, and the body is not coded. Returns NULL, or why
 * the head is refused (text in r->why_buf or static; status_on_error set
 * when it is not 400). */
static const char *head_check(struct http_reader *r)
{
    struct http_head *h = &r->head;
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *hd = &h->headers[i];
        const char *name = h->buf + hd->name_off;
        enum http_field f = (enum http_field)h->fields[i];
        bool underscore = false;
        /* a name with '_' is HF_OTHER as written: see what it stands for */
        if (f == HF_OTHER && memchr(name, '_', hd->name_len))
            f = classify_folded(name, hd->name_len, &underscore);
        if (f == HF_OTHER)
            continue;
        if (singleton(f)) {
            /* CGI-style servers (WSGI, PHP) read "Mcp_Session_Id" as Mcp-Session-Id; warden would not. */
            if (underscore) {
                snprintf(r->why_buf, sizeof r->why_buf, "the %.*s header field name has an underscore for a dash",
                         (int)(hd->name_len < 40 ? hd->name_len : 40), name);
                return r->why_buf;
            }
            /* the first copy of a repeated field is met first: the message names it */
            if (r->singles[f] > 1) {
                snprintf(r->why_buf, sizeof r->why_buf, "the %.*s header field appears more than once",
                         (int)(hd->name_len < 40 ? hd->name_len : 40), name);
                return r->why_buf;
            }
        }
        const char *value = h->buf + hd->value_off;
        if (f == HF_CONTENT_TYPE && !underscore &&
            (!media_type_valid(value, hd->value_len) || media_type_ambiguous(value, hd->value_len)))
            return "malformed Content-Type (one media type, each parameter once)";
        /* Warden reads every body it passes on; a coded one it cannot read
         * (and a client would decode) is refused, as RFC 9110 15.5.16 says. */
        if (f == HF_CONTENT_ENCODING && !underscore && !span_is(value, hd->value_len, "identity")) {
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

/* Completes the message: the owner hears of it, and the reader pauses. */
static int message_complete(struct http_reader *r)
{
    r->complete = true;
    if (r->ops->on_complete(r->owner) < 0)
        return refuse(r, 400, "the message was refused");
    return 0;
}

/* The head has ended: checks it as a whole, decides how the body is framed
 * (RFC 9112 6.3) and hands the head to the owner. */
static int head_done(struct http_reader *r)
{
    struct http_head *h = &r->head;
    bool te = h->first[HF_TRANSFER_ENCODING] != 0;
    /* RFC 9112 6.1: both is a smuggling attempt, not a message to guess at. */
    if (te && h->has_length)
        return refuse(r, 400, "both Content-Length and Transfer-Encoding");
    const char *why = head_check(r);
    if (why)
        return refuse(r, 400, why);
    size_t clen = 0;
    const char *conn = http_header_get(h, "connection", &clen);
    if (h->http_minor >= 1)
        h->keep_alive = !http_token_listed(conn, clen, "close", 5);
    else
        h->keep_alive = http_token_listed(conn, clen, "keep-alive", 10);
    h->chunked = te;
    if (r->type == HTTP_RESPONSE && (h->status < 200 || h->status == 204 || h->status == 304)) {
        /* RFC 9112 6.3: no body, whatever the fields say; a 1xx or 204 that
         * frames one anyway (RFC 9110 8.6 forbids it) is refused rather than
         * read one way here and another way by the next reader. */
        if (te || (h->has_length && h->content_length && h->status != 304))
            return refuse(r, 400, "a body framed on an answer that has none");
        h->chunked = false;
        r->body_state = B_NONE;
    } else if (te) {
        r->body_state = B_SIZE;
        r->remaining = 0;
        r->size_digits = false;
    } else if (h->has_length) {
        r->body_state = h->content_length ? B_LENGTH : B_NONE;
        r->remaining = h->content_length;
    } else if (r->type == HTTP_REQUEST) {
        r->body_state = B_NONE;
    } else {
        r->body_state = B_EOF;   /* read until the server closes */
        h->keep_alive = false;
    }
    r->in_body = true;
    if (r->ops->on_head(r->owner) < 0)
        return refuse(r, 400, "the message was refused");
    if (r->body_state == B_NONE)
        return message_complete(r);
    return 0;
}

/* States of the check of a line not yet whole (struct http_reader.partial). */
enum { P_START, P_FIRST, P_NAME, P_VALUE };

/* Checks the bytes b[from..end) of a head line whose LF has not arrived, so
 * that a line already refused is refused now, not when it ends (or never):
 * what this refuses, the whole line's check refuses with the same status.
 * Returns 0, or -1 when refused. */
static int partial_line(struct http_reader *r, const char *b, size_t from, size_t end)
{
    /* no LF in b[from..end): a CR before its last byte, or before its first, is bare */
    if (from > r->line_off && b[from - 1] == '\r' && from < end)
        return refuse(r, 400, "bare CR in the head");
    for (size_t i = from; i < end; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c == '\r') {
            if (i + 1 < end)
                return refuse(r, 400, "bare CR in the head");
            continue;
        }
        switch (r->partial) {
        case P_START:
            if (!r->first_line_read) {
                r->partial = P_FIRST;
                break;
            }
            if (c == ' ' || c == '\t')
                return refuse(r, 400, "obsolete line folding is not accepted");
            if (!is_tchar(c))
                return refuse(r, 400, "malformed header field name");
            if (r->head.nheaders >= r->max_headers)
                return refuse(r, 431, "too many header fields");
            r->partial = P_NAME;
            continue;
        case P_NAME:
            if (c == ':')
                r->partial = P_VALUE;
            else if (!is_tchar(c))
                return refuse(r, 400, "malformed header field name (whitespace before colon?)");
            continue;
        case P_VALUE:
            if (!is_value_char(c))
                return refuse(r, 400, "invalid character in a header field value");
            continue;
        default:
            break;
        }
        /* P_FIRST: the start line has no control byte, whatever its form */
        if (!is_value_char(c))
            return refuse(r, 400, "invalid character in the start line");
    }
    return 0;
}

/* Reads the complete lines of b[line_off..end); returns 1 when the head
 * ended (head.len is set to its length), 0 when more bytes are needed, -1
 * when refused. Each line is read once, when its LF has arrived. */
static int head_lines(struct http_reader *r, const char *b, size_t end)
{
    for (;;) {
        size_t off = r->line_off;
        const char *nl = memchr(b + r->scan_off, '\n', end - r->scan_off);
        if (!nl) {
            if (partial_line(r, b, r->scan_off, end) < 0)
                return -1;
            r->scan_off = end;
            return 0;
        }
        size_t lf = (size_t)(nl - b);
        if (lf == off || b[lf - 1] != '\r')
            return refuse(r, 400, "header lines must end with CRLF");
        size_t eol = lf - 1;
        r->line_off = r->scan_off = lf + 1;
        r->partial = P_START;
        if (eol == off) {
            /* RFC 9112 2.2: empty lines before the start line are ignored. */
            if (!r->first_line_read)
                continue;
            r->head.len = lf + 1;
            return 1;
        }
        int rc;
        if (!r->first_line_read) {
            r->first_line_read = true;
            rc = r->type == HTTP_REQUEST ? request_line(r, b, off, eol) : status_line(r, b, off, eol);
        } else {
            rc = header_line(r, b, off, eol);
        }
        if (rc < 0)
            return -1;
    }
}

/* Feeds bytes to a head not yet complete; returns how many belong to it.
 * A head that arrives whole is read where it lies and copied once; pieces
 * are gathered in head.buf. Either way offsets count from the head's start. */
static size_t head_feed(struct http_reader *r, const char *data, size_t len)
{
    struct http_head *h = &r->head;
    size_t old = h->len;
    if (len == 0)
        return 0;
    size_t room = r->max_head > old ? r->max_head - old : 0;
    size_t n = len < room ? len : room;
    int rc;
    if (old == 0) {
        rc = head_lines(r, data, n);
        size_t keep = rc == 1 ? h->len : n;
        if (rc >= 0) {
            h->len = 0;
            if (head_reserve(r, keep) < 0)
                return 0;
            memcpy(h->buf, data, keep);
            h->len = keep;
        }
    } else {
        if (head_reserve(r, n) < 0)
            return 0;
        memcpy(h->buf + old, data, n);
        h->len = old + n;
        rc = head_lines(r, h->buf, h->len);
    }
    if (rc < 0)
        return 0;
    if (rc == 0) {
        /* a head that is not over at max_head bytes is too large, whatever follows */
        if (h->len >= r->max_head)
            refuse(r, 431, "header fields too large");
        return n;
    }
    size_t used = h->len - old;
    head_done(r);
    return used;
}

/* Counts a byte of the trailer section of a chunked body against the head's
 * limits: RFC 9110 6.5.1 forbids merging trailer fields into the header
 * section, warden forwards the body with a Content-Length (there is no
 * trailer section to pass them on in), and MCP defines none. Dropping
 * rather than refusing keeps clients that send a checksum trailer working. */
static int trailer_byte(struct http_reader *r)
{
    if (++r->trailer_bytes > r->max_head)
        return refuse(r, 431, "trailer section too large");
    return 0;
}

/* Advances the chunk-size line, the CRLF after chunk data or the trailer
 * section by one byte. RFC 9112 7.1: chunk-size [ chunk-ext ] CRLF with
 * chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ). */
static int chunk_byte(struct http_reader *r, unsigned char c)
{
    bool ws = c == ' ' || c == '\t';
    switch (r->body_state) {
    case B_SIZE: {
        int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
        if (d >= 0) {
            if (r->remaining > (UINT64_MAX >> 4))
                return refuse(r, 400, "chunk size too large");
            r->remaining = r->remaining << 4 | (uint64_t)d;
            r->size_digits = true;
            return 0;
        }
        if (!r->size_digits)
            return refuse(r, 400, "invalid chunk size");
        if (c == '\r')
            r->body_state = B_SIZE_LF;
        else if (c == ';')
            r->body_state = B_EXT_NAME0;
        else if (ws)
            r->body_state = B_SIZE_WS;
        else
            return refuse(r, 400, "invalid chunk size");
        return 0;
    }
    case B_SIZE_WS:
    case B_EXT_VAL_WS:
        if (c == ';')
            r->body_state = B_EXT_NAME0;
        else if (!ws)
            return refuse(r, 400, "invalid chunk extension");
        return 0;
    case B_EXT_NAME0:
        if (is_tchar(c))
            r->body_state = B_EXT_NAME;
        else if (!ws)
            return refuse(r, 400, "invalid chunk extension");
        return 0;
    case B_EXT_NAME:
    case B_EXT_NAME_WS:
        if (c == '=')
            r->body_state = B_EXT_VAL0;
        else if (c == ';')
            r->body_state = B_EXT_NAME0;
        else if (ws)
            r->body_state = B_EXT_NAME_WS;
        else if (c == '\r' && r->body_state == B_EXT_NAME)
            r->body_state = B_SIZE_LF;
        else if (!is_tchar(c) || r->body_state == B_EXT_NAME_WS)
            return refuse(r, 400, "invalid chunk extension");
        return 0;
    case B_EXT_VAL0:
        if (c == '"')
            r->body_state = B_EXT_QUOTED;
        else if (is_tchar(c))
            r->body_state = B_EXT_TOKEN;
        else if (!ws)
            return refuse(r, 400, "invalid chunk extension");
        return 0;
    case B_EXT_TOKEN:
    case B_EXT_VAL_END:
        if (is_tchar(c) && r->body_state == B_EXT_TOKEN)
            return 0;
        if (c == '\r')
            r->body_state = B_SIZE_LF;
        else if (c == ';')
            r->body_state = B_EXT_NAME0;
        else if (ws)
            r->body_state = B_EXT_VAL_WS;
        else
            return refuse(r, 400, "invalid chunk extension");
        return 0;
    case B_EXT_QUOTED:
        if (c == '"')
            r->body_state = B_EXT_VAL_END;
        else if (c == '\\')
            r->body_state = B_EXT_ESC;
        else if (!is_value_char(c))
            return refuse(r, 400, "invalid chunk extension");
        return 0;
    case B_EXT_ESC:
        if (!is_value_char(c))
            return refuse(r, 400, "invalid chunk extension");
        r->body_state = B_EXT_QUOTED;
        return 0;
    case B_SIZE_LF:
        if (c != '\n')
            return refuse(r, 400, "chunk-size line must end with CRLF");
        r->body_state = r->remaining ? B_DATA : B_TRAILER;
        return 0;
    case B_DATA_CR:
        if (c != '\r')
            return refuse(r, 400, "chunk data must end with CRLF");
        r->body_state = B_DATA_LF;
        return 0;
    case B_DATA_LF:
        if (c != '\n')
            return refuse(r, 400, "chunk data must end with CRLF");
        r->body_state = B_SIZE;
        r->remaining = 0;
        r->size_digits = false;
        return 0;
    case B_TRAILER:
        if (trailer_byte(r) < 0)
            return -1;
        if (c == '\r') {
            r->body_state = B_END_LF;
            return 0;
        }
        if (ws)
            return refuse(r, 400, "obsolete line folding is not accepted");
        if (!is_tchar(c))
            return refuse(r, 400, "malformed trailer field name");
        if (++r->trailer_fields > r->max_headers)
            return refuse(r, 431, "trailer section too large");
        r->body_state = B_TRAILER_NAME;
        return 0;
    case B_TRAILER_NAME:
        if (trailer_byte(r) < 0)
            return -1;
        if (c == ':')
            r->body_state = B_TRAILER_VALUE;
        else if (!is_tchar(c))
            return refuse(r, 400, "malformed trailer field name");
        return 0;
    case B_TRAILER_VALUE:
        if (trailer_byte(r) < 0)
            return -1;
        if (c == '\r')
            r->body_state = B_TRAILER_LF;
        else if (!is_value_char(c))
            return refuse(r, 400, "invalid character in a trailer field value");
        return 0;
    case B_TRAILER_LF:
        if (trailer_byte(r) < 0)
            return -1;
        if (c != '\n')
            return refuse(r, 400, "bare CR in the trailer section");
        r->body_state = B_TRAILER;
        return 0;
    case B_END_LF:
        if (trailer_byte(r) < 0)
            return -1;
        if (c != '\n')
            return refuse(r, 400, "bare CR in the trailer section");
        return message_complete(r);
    default:
        return refuse(r, 400, "internal reader state");
    }
}

/* Feeds body bytes; returns how many belong to this message. */
static size_t body_feed(struct http_reader *r, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len && !r->complete && !r->failed) {
        if (r->body_state == B_LENGTH || r->body_state == B_DATA || r->body_state == B_EOF) {
            size_t n = len - off;
            if (r->body_state != B_EOF && r->remaining < n)
                n = (size_t)r->remaining;
            if (r->ops->on_body(r->owner, data + off, n) < 0) {
                refuse(r, 400, "the message was refused");
                return off;
            }
            off += n;
            if (r->body_state == B_EOF)
                continue;
            r->remaining -= n;
            if (r->remaining)
                continue;
            if (r->body_state == B_DATA)
                r->body_state = B_DATA_CR;
            else
                message_complete(r);
        } else {
            chunk_byte(r, (unsigned char)data[off++]);
        }
    }
    return off;
}

void http_reader_init(struct http_reader *r, enum http_message_type type, const struct http_reader_ops *ops,
                      void *owner, size_t max_head, size_t max_headers)
{
    memset(r, 0, sizeof *r);
    r->type = type;
    r->ops = ops;
    r->owner = owner;
    r->max_head = max_head;
    r->max_headers = max_headers;
}

void http_reader_next(struct http_reader *r)
{
    struct http_head *h = &r->head;
    h->len = 0;
    h->nheaders = 0;
    h->url_off = h->url_len = 0;
    h->status = 0;
    h->method = 0;
    h->http_major = h->http_minor = 0;
    h->keep_alive = h->chunked = h->has_length = false;
    h->content_length = 0;
    memset(h->first, 0, sizeof h->first);
    r->in_body = r->complete = r->failed = false;
    r->status_on_error = 0;
    r->why_on_error = NULL;
    r->first_line_read = false;
    r->line_off = r->scan_off = 0;
    r->partial = P_START;
    memset(r->singles, 0, sizeof r->singles);
    r->body_state = B_NONE;
    r->remaining = 0;
    r->size_digits = false;
    r->trailer_bytes = r->trailer_fields = 0;
}

void http_reader_free(struct http_reader *r)
{
    free(r->head.buf);
    free(r->head.headers);
    free(r->head.fields);
    r->head.buf = NULL;
    r->head.headers = NULL;
    r->head.fields = NULL;
    r->head.cap = r->head.headers_cap = 0;
    r->head.len = r->head.nheaders = 0;
}

size_t http_reader_feed(struct http_reader *r, const char *data, size_t len)
{
    if (r->complete || r->failed)
        return 0;
    size_t used = 0;
    if (!r->in_body) {
        used = head_feed(r, data, len);
        if (r->failed || !r->in_body || r->complete)
            return used;
    }
    return used + body_feed(r, data + used, len - used);
}

bool http_reader_failed(const struct http_reader *r, int *status, const char **why)
{
    if (!r->failed)
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
        default: *why = "malformed HTTP message";
        }
    }
    return true;
}

void http_reader_eof(struct http_reader *r)
{
    if (r->complete || r->failed)
        return;
    if (r->in_body && r->body_state == B_EOF) {
        message_complete(r);
        return;
    }
    /* leading empty lines alone are not a message begun */
    if (r->in_body || r->first_line_read || r->head.len > r->line_off)
        refuse(r, 400, "the peer closed before the message ended");
}

bool http_transfer_coding_supported(const struct http_head *h)
{
    size_t len;
    const char *te = http_header_field(h, HF_TRANSFER_ENCODING, &len);
    if (!te)
        return true;
    const char *end = te + len;
    te = skip_ows(te, end);
    while (end > te && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return end - te == 7 && strncasecmp(te, "chunked", 7) == 0;
}

const char *http_header_getn(const struct http_head *h, const char *name, size_t nlen, size_t *value_len)
{
    if (h->fields && nlen) {
        enum http_field f = classify(name, nlen);
        if (f != HF_OTHER) {
            uint32_t i = h->first[f];
            if (!i)
                return NULL;
            *value_len = h->headers[i - 1].value_len;
            return h->buf + h->headers[i - 1].value_off;
        }
    }
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *hd = &h->headers[i];
        if (hd->name_len == nlen && strncasecmp(h->buf + hd->name_off, name, nlen) == 0) {
            *value_len = hd->value_len;
            return h->buf + hd->value_off;
        }
    }
    return NULL;
}

const char *http_header_field(const struct http_head *h, enum http_field f, size_t *value_len)
{
    if (!h->fields)
        return http_header_get(h, field_names[f], value_len);
    uint32_t i = h->first[f];
    if (!i)
        return NULL;
    *value_len = h->headers[i - 1].value_len;
    return h->buf + h->headers[i - 1].value_off;
}

bool http_header_hop_by_hop(const struct http_head *h, size_t i)
{
    if (h->fields)
        return hop_by_hop[h->fields[i]];
    return http_is_hop_by_hop(h->buf + h->headers[i].name_off, h->headers[i].name_len);
}

bool http_is_hop_by_hop(const char *name, size_t len)
{
    return hop_by_hop[classify(name, len)];
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

bool http_connection_only_hop_by_hop(const char *list, size_t list_len)
{
    const char *v = list, *end = list + list_len;
    while (v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        const char *tok = v;
        while (v < end && *v != ',' && *v != ' ' && *v != '\t')
            v++;
        if (v > tok && !hop_by_hop[classify(tok, (size_t)(v - tok))])
            return false;
    }
    return true;
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
