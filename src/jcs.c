#include "jcs.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "utf8.h"

/* A growing output of at most max bytes. */
struct buf {
    char *data;
    size_t len, cap, max;
};

struct reader {
    const char *p, *end;
    size_t depth, max_depth, max_bytes;
    char *err;
    size_t errlen;
    bool failed;
};

static bool fail(struct reader *r, const char *msg)
{
    if (!r->failed)
        snprintf(r->err, r->errlen, "%s", msg);
    r->failed = true;
    return false;
}

static bool put(struct reader *r, struct buf *b, const void *data, size_t n)
{
    if (n > b->max - b->len)
        return fail(r, "the canonical form is too large");
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return fail(r, "out of memory");
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

static bool putc_(struct reader *r, struct buf *b, char c)
{
    return put(r, b, &c, 1);
}

static void skip_ws(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool read_u16(struct reader *r, unsigned *out)
{
    if (r->end - r->p < 4)
        return fail(r, "a \\u escape needs four hex digits");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(r->p[i]);
        if (h < 0)
            return fail(r, "a \\u escape needs four hex digits");
        v = v * 16 + (unsigned)h;
    }
    r->p += 4;
    *out = v;
    return true;
}

static bool put_utf8(struct reader *r, struct buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3F)), u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    return put(r, b, u, n);
}

/* Reads a string (at its opening quote) and appends its decoded UTF-8 bytes to b. */
static bool read_string(struct reader *r, struct buf *b)
{
    r->p++;
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            return true;
        }
        if (c < 0x20)
            return fail(r, "a control character in a string must be escaped");
        if (c == '\\') {
            if (r->end - r->p < 2)
                break;
            char e = r->p[1];
            r->p += 2;
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                static const char decoded[] = "\"\\/\b\f\n\r\t";
                if (!putc_(r, b, decoded[simple - "\"\\/bfnrt"]))
                    return false;
                continue;
            }
            if (e != 'u')
                return fail(r, "an unknown escape in a string");
            unsigned cp;
            if (!read_u16(r, &cp))
                return false;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail(r, "a lone low surrogate in a string");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
                    return fail(r, "a lone high surrogate in a string");
                r->p += 2;
                if (!read_u16(r, &lo))
                    return false;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(r, "a lone high surrogate in a string");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (!put_utf8(r, b, cp))
                return false;
            continue;
        }
        size_t n = utf8_seq_len((const unsigned char *)r->p, (size_t)(r->end - r->p));
        if (n == 0)
            return fail(r, "a string is not well-formed UTF-8");
        if (!put(r, b, r->p, n))
            return false;
        r->p += n;
    }
    return fail(r, "an unterminated string");
}

/* Writes decoded UTF-8 s[0..n) as a canonical JSON string. */
static bool write_string(struct reader *r, struct buf *b, const char *s, size_t n)
{
    if (!putc_(r, b, '"'))
        return false;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (!put(r, b, s + run, i - run))
            return false;
        char esc[8];
        const char *named = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                          : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
        if (!named) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            named = esc;
        }
        if (!put(r, b, named, strlen(named)))
            return false;
        run = i + 1;
    }
    return put(r, b, s + run, n - run) && putc_(r, b, '"');
}

/* ECMAScript's Number::toString of a finite double, into out (>= 32 bytes). */
static void es_number(double d, char *out)
{
    if (d == 0) {
        strcpy(out, "0");
        return;
    }
    char *o = out;
    if (d < 0) {
        *o++ = '-';
        d = -d;
    }
    char sci[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    /* sci is "D[.DDD]e[+-]XX": the digits without trailing zeros, and n, the decimal point's place. */
    char digits[20];
    size_t k = 0;
    const char *s = sci;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9')
            digits[k++] = *s;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = '\0';
    int n = atoi(s + 1) + 1;
    if ((int)k <= n && n <= 21) {
        o += sprintf(o, "%s", digits);
        for (int i = (int)k; i < n; i++)
            *o++ = '0';
        *o = '\0';
    } else if (0 < n && n <= 21) {
        sprintf(o, "%.*s.%s", n, digits, digits + n);
    } else if (-6 < n && n <= 0) {
        o += sprintf(o, "0.");
        for (int i = 0; i < -n; i++)
            *o++ = '0';
        sprintf(o, "%s", digits);
    } else {
        int e = n - 1;
        if (k == 1)
            sprintf(o, "%se%c%d", digits, e < 0 ? '-' : '+', e < 0 ? -e : e);
        else
            sprintf(o, "%c.%se%c%d", digits[0], digits + 1, e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
}

static bool read_number(struct reader *r, struct buf *b)
{
    const char *start = r->p, *p = r->p, *end = r->end;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return fail(r, "not a JSON value");
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return fail(r, "a number's fraction needs digits");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return fail(r, "a number's exponent needs digits");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    size_t n = (size_t)(p - start);
    char *text = malloc(n + 1);
    if (!text)
        return fail(r, "out of memory");
    memcpy(text, start, n);
    text[n] = '\0';
    double d = strtod(text, NULL);
    free(text);
    r->p = p;
    if (!isfinite(d))
        return fail(r, "a number beyond the range of a double");
    char out[40];
    es_number(d, out);
    return put(r, b, out, strlen(out));
}

/* The next UTF-16 code unit of UTF-8 s[*i..n) (well formed), with *pending
 * holding a low surrogate still to give. */
static unsigned next_unit(const unsigned char *s, size_t n, size_t *i, unsigned *pending)
{
    if (*pending) {
        unsigned u = *pending;
        *pending = 0;
        return u;
    }
    unsigned c = s[*i], cp;
    size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (len > n - *i)
        len = n - *i;
    cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; k < len; k++)
        cp = cp << 6 | (s[*i + k] & 0x3F);
    *i += len;
    if (cp < 0x10000)
        return cp;
    cp -= 0x10000;
    *pending = 0xDC00 + (cp & 0x3FF);
    return 0xD800 + (cp >> 10);
}

/* Compares two names by their UTF-16 code units, as JCS sorts. */
static int utf16_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0, j = 0;
    unsigned pa = 0, pb = 0;
    while ((i < an || pa) && (j < bn || pb)) {
        unsigned ua = next_unit((const unsigned char *)a, an, &i, &pa);
        unsigned ub = next_unit((const unsigned char *)b, bn, &j, &pb);
        if (ua != ub)
            return ua < ub ? -1 : 1;
    }
    bool amore = i < an || pa, bmore = j < bn || pb;
    return amore == bmore ? 0 : amore ? 1 : -1;
}

struct member {
    struct buf key, value;
};

static int member_order(const void *x, const void *y)
{
    const struct member *a = x, *b = y;
    return utf16_cmp(a->key.data ? a->key.data : "", a->key.len, b->key.data ? b->key.data : "", b->key.len);
}

static bool read_value(struct reader *r, struct buf *b);

static bool read_object(struct reader *r, struct buf *b)
{
    r->p++;
    struct member *m = NULL;
    size_t n = 0, cap = 0;
    bool ok = false;
    skip_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return put(r, b, "{}", 2);
    }
    for (;;) {
        skip_ws(r);
        if (r->p >= r->end || *r->p != '"') {
            fail(r, "an object member needs a string name");
            goto out;
        }
        if (n == cap) {
            size_t c = cap ? cap * 2 : 8;
            struct member *grown = realloc(m, c * sizeof *m);
            if (!grown) {
                fail(r, "out of memory");
                goto out;
            }
            m = grown;
            cap = c;
        }
        memset(&m[n], 0, sizeof m[n]);
        m[n].key.max = m[n].value.max = r->max_bytes;
        n++;
        if (!read_string(r, &m[n - 1].key))
            goto out;
        skip_ws(r);
        if (r->p >= r->end || *r->p != ':') {
            fail(r, "a member name needs a ':'");
            goto out;
        }
        r->p++;
        if (!read_value(r, &m[n - 1].value))
            goto out;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            break;
        }
        fail(r, "an object needs ',' or '}'");
        goto out;
    }
    qsort(m, n, sizeof *m, member_order);
    if (!putc_(r, b, '{'))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (i && member_order(&m[i - 1], &m[i]) == 0) {
            fail(r, "an object has the same member name twice");
            goto out;
        }
        if ((i && !putc_(r, b, ',')) || !write_string(r, b, m[i].key.data ? m[i].key.data : "", m[i].key.len) ||
            !putc_(r, b, ':') || !put(r, b, m[i].value.data, m[i].value.len))
            goto out;
    }
    ok = putc_(r, b, '}');
out:
    for (size_t i = 0; i < n; i++) {
        free(m[i].key.data);
        free(m[i].value.data);
    }
    free(m);
    return ok;
}

static bool read_array(struct reader *r, struct buf *b)
{
    r->p++;
    if (!putc_(r, b, '['))
        return false;
    skip_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return putc_(r, b, ']');
    }
    for (;;) {
        if (!read_value(r, b))
            return false;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            if (!putc_(r, b, ','))
                return false;
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return putc_(r, b, ']');
        }
        return fail(r, "an array needs ',' or ']'");
    }
}

static bool literal(struct reader *r, struct buf *b, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return fail(r, "not a JSON value");
    r->p += n;
    return put(r, b, word, n);
}

static bool read_value(struct reader *r, struct buf *b)
{
    skip_ws(r);
    if (r->p >= r->end)
        return fail(r, "a value is missing");
    char c = *r->p;
    if (c == '{' || c == '[') {
        if (++r->depth > r->max_depth)
            return fail(r, "nested too deeply");
        bool ok = c == '{' ? read_object(r, b) : read_array(r, b);
        r->depth--;
        return ok;
    }
    if (c == '"') {
        struct buf s = {.max = r->max_bytes};
        bool ok = read_string(r, &s) && write_string(r, b, s.data ? s.data : "", s.len);
        free(s.data);
        return ok;
    }
    if (c == 't')
        return literal(r, b, "true");
    if (c == 'f')
        return literal(r, b, "false");
    if (c == 'n')
        return literal(r, b, "null");
    return read_number(r, b);
}

int jcs_canonicalize(const char *json, size_t len, size_t max_depth, size_t max_bytes, char **out, size_t *out_len,
                     char *err, size_t errlen)
{
    struct reader r = {.p = json, .end = json + len, .max_depth = max_depth, .max_bytes = max_bytes, .err = err,
                       .errlen = errlen};
    struct buf b = {.max = max_bytes};
    *out = NULL;
    *out_len = 0;
    bool ok = read_value(&r, &b);
    if (ok) {
        skip_ws(&r);
        if (r.p != r.end)
            ok = fail(&r, "text after the JSON value");
    }
    if (ok && !b.data)
        ok = fail(&r, "out of memory");
    if (!ok) {
        free(b.data);
        return -1;
    }
    *out = b.data;
    *out_len = b.len;
    return 0;
}
