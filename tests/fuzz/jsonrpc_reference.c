/* The oracle of the differential tests of src/jsonrpc.c (fuzz_jsonrpc.c,
 * test_jsonrpc_diff.c): the strict reader as it was before rpc_parse became
 * one pass (a526243), kept word for word but for its names. It scans the
 * text strictly, then builds the whole cJSON tree and reads the message from
 * the tree, which is slow and simple: what the one pass must agree with. */

#include "jsonrpc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "utf8.h"

/* The message as the tree-reading rpc_parse gave it. */
struct ref_msg {
    enum rpc_kind kind;
    cJSON *root;
    const char *id_text;
    size_t id_len;
    const char *method;
    const cJSON *params;
    const char *tool;
    const cJSON *args;
};

#define DEFAULT_MAX_DEPTH 64
#define DEFAULT_MAX_STRING (1024 * 1024)
#define DEFAULT_MAX_MEMBERS 10000
/* Objects with more keys than this are checked for collisions by sorting. */
#define LINEAR_DUP_LIMIT 32

/* One key of an object being scanned: its decoded bytes live in the key arena. */
struct key_entry {
    size_t off, len;
};

/* The strict scanner: one pass over the text, no tree. The arena and the key
 * stack start in the scanner itself, so a message of ordinary size costs no
 * allocation. */
struct scanner {
    const char *start, *p, *end;
    const struct rpc_limits *lim;
    size_t depth;
    struct rpc_error *err;
    const struct json_watch *watch;
    char *arena;                 /* decoded keys of the objects open now */
    size_t arena_len, arena_cap;
    struct key_entry *keys;      /* stack of keys of the objects open now */
    size_t nkeys, keys_cap;
    char arena0[1024];
    struct key_entry keys0[64];
};

static void scanner_init(struct scanner *sc, const char *text, size_t len, const struct rpc_limits *lim,
                         const struct json_watch *watch, struct rpc_error *err)
{
    sc->start = sc->p = text;
    sc->end = text + len;
    sc->lim = lim;
    sc->depth = 0;
    sc->err = err;
    sc->watch = watch;
    sc->arena = sc->arena0;
    sc->arena_len = 0;
    sc->arena_cap = sizeof sc->arena0;
    sc->keys = sc->keys0;
    sc->nkeys = 0;
    sc->keys_cap = sizeof sc->keys0 / sizeof *sc->keys0;
}

static void scanner_free(struct scanner *sc)
{
    if (sc->arena != sc->arena0)
        free(sc->arena);
    if (sc->keys != sc->keys0)
        free(sc->keys);
}

/* Grows a buffer that may still be the scanner's inline one to cap bytes
 * (more than used; 0 is refused, as realloc would free the buffer). */
static void *grow(void *buf, const void *inline_buf, size_t used, size_t cap)
{
    if (cap <= used)
        return NULL;
    if (buf != inline_buf)
        return realloc(buf, cap);
    void *b = malloc(cap);
    if (b && used)
        memcpy(b, buf, used);
    return b;
}

static int fail(struct scanner *sc, int code, const char *what)
{
    snprintf(sc->err->message, sizeof sc->err->message, "%s at byte %zu", what, (size_t)(sc->p - sc->start));
    sc->err->code = code;
    return -1;
}

static void skip_ws(struct scanner *sc)
{
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
        sc->p++;
}

/* Appends decoded bytes of the key being read (keys only: values are not kept). */
static int arena_put(struct scanner *sc, const char *bytes, size_t n)
{
    if (n == 0)
        return 0;
    if (sc->arena_len + n > sc->arena_cap) {
        size_t cap = sc->arena_cap * 2;
        while (cap < sc->arena_len + n)
            cap *= 2;
        char *a = grow(sc->arena, sc->arena0, sc->arena_len, cap);
        if (!a)
            return fail(sc, RPC_INTERNAL_ERROR, "out of memory");
        sc->arena = a;
        sc->arena_cap = cap;
    }
    memcpy(sc->arena + sc->arena_len, bytes, n);
    sc->arena_len += n;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_hex4(struct scanner *sc, unsigned *out)
{
    if (sc->end - sc->p < 4)
        return fail(sc, RPC_PARSE_ERROR, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(sc->p[i]);
        if (h < 0)
            return fail(sc, RPC_PARSE_ERROR, "bad \\u escape");
        v = v << 4 | (unsigned)h;
    }
    sc->p += 4;
    *out = v;
    return 0;
}

/* Encodes a code point as UTF-8 into out; returns the length. */
static size_t ref_utf8_encode(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Bytes that stand for themselves in a string: printable ASCII but the quote
 * and the backslash. Runs of them are skipped in a tight loop. */
static const bool plain_byte[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* Reads a string (the opening quote is at p). Keys are decoded into the
 * arena so duplicates can be found after escapes are resolved. */
static int scan_string(struct scanner *sc, bool is_key)
{
    sc->p++;
    size_t decoded = 0;
    const char *run = sc->p;
    for (;;) {
        const char *q = sc->p, *stop = sc->end - q > 8 ? q + 8 : sc->end;
        while (q < stop && plain_byte[(unsigned char)*q])
            q++;
        if (q == stop) {
            /* A long run (text, descriptions): eight bytes at a time while
             * none is special (a quote, a backslash, a control character or
             * a byte of a multi-byte character). */
            while (sc->end - q >= 8) {
                uint64_t w;
                memcpy(&w, q, 8);
                uint64_t quote = w ^ 0x2222222222222222ULL, bslash = w ^ 0x5C5C5C5C5C5C5C5CULL;
                if ((w | (w - 0x2020202020202020ULL) | ((quote - 0x0101010101010101ULL) & ~quote) |
                     ((bslash - 0x0101010101010101ULL) & ~bslash)) & 0x8080808080808080ULL)
                    break;
                q += 8;
            }
            while (q < sc->end && plain_byte[(unsigned char)*q])
                q++;
        }
        sc->p = q;
        if (decoded + (size_t)(sc->p - run) > sc->lim->max_string)
            return fail(sc, RPC_PARSE_ERROR, "string longer than the limit");
        if (sc->p >= sc->end)
            return fail(sc, RPC_PARSE_ERROR, "unterminated string");
        unsigned char c = (unsigned char)*sc->p;
        if (c == '"' || c == '\\') {
            if (is_key && arena_put(sc, run, (size_t)(sc->p - run)) < 0)
                return -1;
            decoded += (size_t)(sc->p - run);
            if (c == '"') {
                sc->p++;
                break;
            }
            sc->p++;
            if (sc->p >= sc->end)
                return fail(sc, RPC_PARSE_ERROR, "unterminated escape");
            char e = *sc->p++, out[4];
            size_t n = 1;
            switch (e) {
            case '"': out[0] = '"'; break;
            case '\\': out[0] = '\\'; break;
            case '/': out[0] = '/'; break;
            case 'b': out[0] = '\b'; break;
            case 'f': out[0] = '\f'; break;
            case 'n': out[0] = '\n'; break;
            case 'r': out[0] = '\r'; break;
            case 't': out[0] = '\t'; break;
            case 'u': {
                unsigned cp;
                if (read_hex4(sc, &cp) < 0)
                    return -1;
                if (cp == 0)
                    return fail(sc, RPC_PARSE_ERROR, "\\u0000 (NUL) is not accepted in strings");
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return fail(sc, RPC_PARSE_ERROR, "lone low surrogate escape");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (sc->end - sc->p < 2 || sc->p[0] != '\\' || sc->p[1] != 'u')
                        return fail(sc, RPC_PARSE_ERROR, "lone high surrogate escape");
                    sc->p += 2;
                    if (read_hex4(sc, &lo) < 0)
                        return -1;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return fail(sc, RPC_PARSE_ERROR, "high surrogate not followed by a low one");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                n = ref_utf8_encode(cp, out);
                break;
            }
            default:
                return fail(sc, RPC_PARSE_ERROR, "invalid escape");
            }
            if (is_key && arena_put(sc, out, n) < 0)
                return -1;
            decoded += n;
            run = sc->p;
        } else if (c < 0x20) {
            return fail(sc, RPC_PARSE_ERROR, "raw control character in string");
        } else {
            size_t n = utf8_seq_len((const unsigned char *)sc->p, (size_t)(sc->end - sc->p));
            if (!n)
                return fail(sc, RPC_PARSE_ERROR, "invalid UTF-8");
            sc->p += n;
        }
        if (decoded + (size_t)(sc->p - run) > sc->lim->max_string)
            return fail(sc, RPC_PARSE_ERROR, "string longer than the limit");
    }
    return 0;
}

static int scan_number(struct scanner *sc)
{
    const char *p = sc->p;
    if (p < sc->end && *p == '-')
        p++;
    if (p >= sc->end)
        return fail(sc, RPC_PARSE_ERROR, "truncated number");
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < sc->end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return fail(sc, RPC_PARSE_ERROR, "invalid number");
    }
    if (p < sc->end && *p == '.') {
        p++;
        if (p >= sc->end || *p < '0' || *p > '9')
            return fail(sc, RPC_PARSE_ERROR, "invalid fraction");
        while (p < sc->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < sc->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < sc->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= sc->end || *p < '0' || *p > '9')
            return fail(sc, RPC_PARSE_ERROR, "invalid exponent");
        while (p < sc->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < sc->end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '+'))
        return fail(sc, RPC_PARSE_ERROR, "invalid number (leading zeros?)");
    sc->p = p;
    return 0;
}

static int scan_literal(struct scanner *sc, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, lit, n) != 0)
        return fail(sc, RPC_PARSE_ERROR, "invalid literal");
    sc->p += n;
    return 0;
}

/* Orders keys by their folded text, so keys a case-insensitive reader would
 * take for one end up side by side. */
static int key_cmp(const void *a, const void *b, void *arena)
{
    const char *sort_arena = arena;
    const struct key_entry *x = a, *y = b;
    return utf8_fold_cmp(sort_arena + x->off, x->len, sort_arena + y->off, y->len);
}

/* False when two keys cannot fold together: an ASCII first or last byte
 * that differs in more than the case bit. Most pairs stop here, which is
 * cheaper than hashing every key of every object. */
static bool may_fold_together(const char *a, size_t alen, const char *b, size_t blen)
{
    if (!alen || !blen)
        return alen == blen;
    unsigned char a0 = (unsigned char)a[0], b0 = (unsigned char)b[0];
    unsigned char a1 = (unsigned char)a[alen - 1], b1 = (unsigned char)b[blen - 1];
    if ((a0 | b0) < 0x80 && (a0 | 0x20) != (b0 | 0x20))
        return false;
    return (a1 | b1) >= 0x80 || (a1 | 0x20) == (b1 | 0x20);
}

/* How many bytes of a key (well-formed UTF-8) an error message shows: at
 * most 40, never part of a character. */
static int shown(const char *key, size_t len)
{
    size_t n = len > 40 ? 40 : len;
    while (n < len && n > 0 && ((unsigned char)key[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

/* Two keys of one object that fold together: an exact duplicate is not
 * strict JSON; keys that differ only in case are one key to Go's
 * encoding/json (which keeps the last) and two to everyone else. */
static int collision(struct scanner *sc, const struct key_entry *x, const struct key_entry *y)
{
    char what[160];
    int kx = shown(sc->arena + x->off, x->len), ky = shown(sc->arena + y->off, y->len);
    if (x->len == y->len && memcmp(sc->arena + x->off, sc->arena + y->off, x->len) == 0) {
        snprintf(what, sizeof what, "duplicate key \"%.*s\"", kx, sc->arena + x->off);
        return fail(sc, RPC_PARSE_ERROR, what);
    }
    snprintf(what, sizeof what, "keys \"%.*s\" and \"%.*s\" differ only in case (one key to case-insensitive readers)",
             kx, sc->arena + x->off, ky, sc->arena + y->off);
    return fail(sc, RPC_INVALID_REQUEST, what);
}

static int scan_value(struct scanner *sc, int ctx);

/* Tells the watcher a watched value has been read. */
static int watched(struct scanner *sc, int ctx, const char *vstart)
{
    if (!ctx || !sc->watch->value)
        return 0;
    return sc->watch->value(sc->watch->arg, ctx, vstart, sc->p, sc->err);
}

static int scan_object(struct scanner *sc, int ctx)
{
    sc->p++;
    size_t base = sc->nkeys, arena_base = sc->arena_len, members = 0;
    skip_ws(sc);
    if (sc->p < sc->end && *sc->p == '}') {
        sc->p++;
        return 0;
    }
    for (;;) {
        skip_ws(sc);
        if (sc->p >= sc->end || *sc->p != '"')
            return fail(sc, RPC_PARSE_ERROR, "expected a string key");
        size_t off = sc->arena_len;
        if (scan_string(sc, true) < 0)
            return -1;
        size_t klen = sc->arena_len - off;
        if (++members > sc->lim->max_members)
            return fail(sc, RPC_PARSE_ERROR, "object with more members than the limit");
        struct key_entry k = {off, klen};
        /* Up to the limit, each key against the ones before it: at most
         * LINEAR_DUP_LIMIT comparisons per key, so linear in the text. */
        if (members <= LINEAR_DUP_LIMIT) {
            const char *kb = sc->arena + off;
            for (size_t i = base; i < sc->nkeys; i++) {
                const char *ob = sc->arena + sc->keys[i].off;
                if (may_fold_together(ob, sc->keys[i].len, kb, klen) &&
                    utf8_fold_cmp(ob, sc->keys[i].len, kb, klen) == 0)
                    return collision(sc, &sc->keys[i], &k);
            }
        }
        if (sc->nkeys == sc->keys_cap) {
            size_t cap = sc->keys_cap * 2;
            struct key_entry *ks = grow(sc->keys, sc->keys0, sc->nkeys * sizeof *ks, cap * sizeof *ks);
            if (!ks)
                return fail(sc, RPC_INTERNAL_ERROR, "out of memory");
            sc->keys = ks;
            sc->keys_cap = cap;
        }
        sc->keys[sc->nkeys++] = k;
        int child = 0;
        if (ctx && (child = sc->watch->member(sc->watch->arg, ctx, sc->arena + off, klen, sc->err)) < 0)
            return -1;
        skip_ws(sc);
        if (sc->p >= sc->end || *sc->p != ':')
            return fail(sc, RPC_PARSE_ERROR, "expected ':'");
        sc->p++;
        skip_ws(sc);
        if (scan_value(sc, child) < 0)
            return -1;
        skip_ws(sc);
        if (sc->p < sc->end && *sc->p == ',') {
            sc->p++;
            continue;
        }
        if (sc->p < sc->end && *sc->p == '}') {
            sc->p++;
            break;
        }
        return fail(sc, RPC_PARSE_ERROR, "expected ',' or '}'");
    }
    if (members > LINEAR_DUP_LIMIT) {
        qsort_r(sc->keys + base, sc->nkeys - base, sizeof *sc->keys, key_cmp, sc->arena);
        for (size_t i = base + 1; i < sc->nkeys; i++)
            if (key_cmp(&sc->keys[i - 1], &sc->keys[i], sc->arena) == 0)
                return collision(sc, &sc->keys[i - 1], &sc->keys[i]);
    }
    sc->nkeys = base;
    sc->arena_len = arena_base;
    return 0;
}

static int scan_array(struct scanner *sc, int ctx)
{
    sc->p++;
    size_t members = 0;
    skip_ws(sc);
    if (sc->p < sc->end && *sc->p == ']') {
        sc->p++;
        return 0;
    }
    for (;;) {
        skip_ws(sc);
        if (++members > sc->lim->max_members)
            return fail(sc, RPC_PARSE_ERROR, "array with more elements than the limit");
        int child = 0;
        if (ctx && (child = sc->watch->member(sc->watch->arg, ctx, NULL, 0, sc->err)) < 0)
            return -1;
        if (scan_value(sc, child) < 0)
            return -1;
        skip_ws(sc);
        if (sc->p < sc->end && *sc->p == ',') {
            sc->p++;
            continue;
        }
        if (sc->p < sc->end && *sc->p == ']') {
            sc->p++;
            return 0;
        }
        return fail(sc, RPC_PARSE_ERROR, "expected ',' or ']'");
    }
}

static int scan_value(struct scanner *sc, int ctx)
{
    if (sc->p >= sc->end)
        return fail(sc, RPC_PARSE_ERROR, "unexpected end of text");
    const char *vstart = sc->p;
    int rc;
    switch (*sc->p) {
    case '{':
    case '[':
        if (++sc->depth > sc->lim->max_depth)
            return fail(sc, RPC_PARSE_ERROR, "nesting deeper than the limit");
        rc = *sc->p == '{' ? scan_object(sc, ctx) : scan_array(sc, ctx);
        sc->depth--;
        break;
    case '"':
        rc = scan_string(sc, false);
        break;
    case 't':
        rc = scan_literal(sc, "true");
        break;
    case 'f':
        rc = scan_literal(sc, "false");
        break;
    case 'n':
        rc = scan_literal(sc, "null");
        break;
    default:
        rc = scan_number(sc);
        break;
    }
    return rc < 0 ? -1 : watched(sc, ctx, vstart);
}

/* Copies the limits, with defaults for zeros. */
static struct rpc_limits effective_limits(const struct rpc_limits *lim)
{
    struct rpc_limits l = lim ? *lim : (struct rpc_limits){0};
    if (!l.max_depth)
        l.max_depth = DEFAULT_MAX_DEPTH;
    if (!l.max_string)
        l.max_string = DEFAULT_MAX_STRING;
    if (!l.max_members)
        l.max_members = DEFAULT_MAX_MEMBERS;
    return l;
}

static int ref_json_scan(const char *text, size_t len, const struct rpc_limits *lim, const struct json_watch *watch,
              int root, struct rpc_error *err)
{
    struct rpc_limits l = effective_limits(lim);
    struct scanner sc;
    scanner_init(&sc, text, len, &l, watch, err);
    int rc;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        rc = fail(&sc, RPC_PARSE_ERROR, "a byte order mark is not accepted");
    } else {
        skip_ws(&sc);
        rc = scan_value(&sc, watch ? root : 0);
        if (rc == 0) {
            skip_ws(&sc);
            if (sc.p != sc.end)
                rc = fail(&sc, RPC_PARSE_ERROR, "more than one JSON value");
        }
    }
    scanner_free(&sc);
    return rc;
}

static int invalid(struct rpc_error *err, int code, const char *message)
{
    err->code = code;
    snprintf(err->message, sizeof err->message, "%s", message);
    return -1;
}

static int ref_known_key(const char *key, size_t klen, const char *const *known, struct rpc_error *err)
{
    unsigned char c0 = klen ? (unsigned char)key[0] : 0;
    for (size_t i = 0; known[i]; i++) {
        /* An ASCII first byte that differs in more than the case bit rules
         * the key out: the common case, decided without a call. */
        if (c0 && c0 < 0x80 && (c0 | 0x20) != ((unsigned char)known[i][0] | 0x20))
            continue;
        size_t n = strlen(known[i]);
        if (klen == n && memcmp(key, known[i], n) == 0)
            return (int)i;
        if (utf8_ascii_alike(key, klen, known[i])) {
            err->code = RPC_INVALID_REQUEST;
            snprintf(err->message, sizeof err->message,
                     "Invalid Request: the key \"%.*s\" is \"%s\" to case-insensitive readers; spell it exactly",
                     shown(key, klen), key, known[i]);
            return -2;
        }
    }
    return -1;
}

/* The parts of a client message rpc_parse reads without the tree: the
 * top-level id's bytes, and the keys of the levels warden interprets. */
enum { CLIENT_ROOT = 1, CLIENT_ID, CLIENT_PARAMS };

struct client_watch {
    const char *id_start, *id_end;
};

static const char *const top_keys[] = {"jsonrpc", "id", "method", "params", "result", "error", NULL};
/* What tools/call reads of params; checked in the params of every method so
 * that no spelling of them reaches a server under another method either. */
static const char *const params_keys[] = {"name", "arguments", "_meta", NULL};

static int client_member(void *arg, int parent, const char *key, size_t klen, struct rpc_error *err)
{
    (void)arg;
    if (!key)
        return 0;
    if (parent == CLIENT_ROOT) {
        int k = ref_known_key(key, klen, top_keys, err);
        if (k == -2)
            return -1;
        return k == 3 ? CLIENT_PARAMS : k == 1 ? CLIENT_ID : 0;
    }
    if (parent == CLIENT_PARAMS && ref_known_key(key, klen, params_keys, err) == -2)
        return -1;
    return 0;
}

static int client_value(void *arg, int ctx, const char *start, const char *end, struct rpc_error *err)
{
    (void)err;
    struct client_watch *cw = arg;
    if (ctx == CLIENT_ID) {
        cw->id_start = start;
        cw->id_end = end;
    }
    return 0;
}

static bool is_notification_method(const char *method)
{
    return strncmp(method, "notifications/", 14) == 0;
}

static int ref_parse(const char *body, size_t len, const struct rpc_limits *lim, struct ref_msg *out, struct rpc_error *err)
{
    memset(out, 0, sizeof *out);
    struct client_watch cw = {0};
    const struct json_watch watch = {client_member, client_value, &cw};
    if (ref_json_scan(body, len, lim, &watch, CLIENT_ROOT, err) < 0)
        return -1;
    const char *id_start = cw.id_start, *id_end = cw.id_end;
    const char *first = body;
    while (first < body + len && (*first == ' ' || *first == '\t' || *first == '\n' || *first == '\r'))
        first++;
    if (*first == '[')
        return invalid(err, RPC_INVALID_REQUEST,
                       "Invalid Request: JSON-RPC batches are not supported; send one message per POST");
    if (*first != '{')
        return invalid(err, RPC_INVALID_REQUEST, "Invalid Request: a JSON-RPC message is a JSON object");
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root)
        return invalid(err, RPC_PARSE_ERROR, "Parse error");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "jsonrpc");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
    bool has_result = cJSON_GetObjectItemCaseSensitive(root, "result") != NULL;
    bool has_error = cJSON_GetObjectItemCaseSensitive(root, "error") != NULL;
    const char *msg = NULL;
    int code = RPC_INVALID_REQUEST;
    if (!cJSON_IsString(version) || strcmp(version->valuestring, "2.0") != 0) {
        msg = "Invalid Request: \"jsonrpc\" must be \"2.0\"";
    } else if (id_start) {
        /* Ids are strings or integers: never null, fractions, booleans or containers. */
        char c = *id_start;
        bool is_string = c == '"';
        bool is_integer = c == '-' || (c >= '0' && c <= '9');
        for (const char *q = id_start; is_integer && q < id_end; q++)
            if (*q == '.' || *q == 'e' || *q == 'E')
                is_integer = false;
        if (!is_string && !is_integer)
            msg = "Invalid Request: \"id\" must be a string or an integer";
    }
    if (!msg && method) {
        if (!cJSON_IsString(method))
            msg = "Invalid Request: \"method\" must be a string";
        else if (has_result || has_error)
            msg = "Invalid Request: a request carries no \"result\" or \"error\" (a message is a request, a "
                  "notification or a response, not several)";
        else if (params && !cJSON_IsObject(params) && !cJSON_IsArray(params))
            msg = "Invalid Request: \"params\" must be an object or an array";
        else if (!id_start && !is_notification_method(method->valuestring))
            /* A generic dispatcher runs any method it is sent, id or not:
             * without an id only notifications/ methods are what they say.
             * MCP defines no "$/" methods (LSP's cancel and progress), so
             * they are refused without an id like any other method. */
            msg = "Invalid Request: a request method sent as a notification (without \"id\", only "
                  "notifications/ methods are accepted)";
    } else if (!msg) {
        if (!id_start)
            msg = "Invalid Request: a message without \"method\" is a response and needs an \"id\"";
        else if (has_result == has_error)
            msg = "Invalid Request: a response has exactly one of \"result\" and \"error\"";
        else if (params)
            msg = "Invalid Request: a response carries no \"params\"";
    }
    if (!msg && method && strcmp(method->valuestring, "tools/call") == 0) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(params, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(params, "arguments");
        code = RPC_INVALID_PARAMS;
        if (!cJSON_IsObject(params))
            msg = "Invalid params: tools/call needs \"params\" as an object";
        else if (!cJSON_IsString(name))
            msg = "Invalid params: tools/call needs \"name\" as a string";
        else if (args && !cJSON_IsObject(args))
            msg = "Invalid params: tools/call \"arguments\" must be an object";
        else {
            out->tool = name->valuestring;
            out->args = args;
        }
    }
    if (msg) {
        cJSON_Delete(root);
        return invalid(err, code, msg);
    }
    out->root = root;
    out->method = method ? method->valuestring : NULL;
    out->params = params;
    out->kind = method ? (id_start ? RPC_REQUEST : RPC_NOTIFICATION) : RPC_RESPONSE;
    if (id_start) {
        out->id_text = id_start;
        out->id_len = (size_t)(id_end - id_start);
    }
    return 0;
}

static void ref_msg_clear(struct ref_msg *msg)
{
    cJSON_Delete(msg->root);
    memset(msg, 0, sizeof *msg);
}

