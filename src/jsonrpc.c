#include "jsonrpc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "utf8.h"

#define DEFAULT_MAX_DEPTH 64
#define DEFAULT_MAX_STRING (1024 * 1024)
#define DEFAULT_MAX_MEMBERS 10000
/* Objects with more keys than this are checked for collisions by sorting. */
#define LINEAR_DUP_LIMIT 32

/* One key of an object being scanned: its bytes in the text when it has no
 * escape, else its decoded bytes in the key arena (at off). */
struct key_entry {
    const char *text;
    size_t off, len;
    bool ascii;     /* printable ASCII without escapes (read by the fast path) */
    uint32_t sig;   /* ascii_sig() of an ascii key */
};

/* One array or object open in the scan. */
struct frame {
    const char *start;              /* its '[' or '{' */
    size_t members;
    size_t keys_base, arena_base;   /* the key stack and arena as the object found them */
    int ctx;                        /* its watch context */
    char close;                     /* ']' or '}' */
    bool mixed;                     /* an object with a key that is not ascii */
};

/* The strict scanner: one pass over the text, no tree, no recursion. The
 * arena, the key stack and the stack of open containers start in the
 * scanner itself, so a message of ordinary size costs no allocation. */
struct scanner {
    const char *start, *p, *end;
    const struct rpc_limits *lim;
    size_t depth;
    struct rpc_error *err;
    const struct json_watch *watch;
    char *arena;                 /* decoded keys with escapes, of the objects open now */
    size_t arena_len, arena_cap;
    struct key_entry *keys;      /* stack of keys of the objects open now */
    size_t nkeys, keys_cap;
    struct frame *frames;        /* the containers open now: frames[depth - 1] the innermost */
    size_t frames_cap;
    struct key_entry key;        /* the key scan_key_string read last */
    size_t longest;              /* decoded bytes of the longest string read since it was zeroed */
    size_t deepest;              /* the greatest depth a value was read at since it was set */
    char arena0[1024];
    struct key_entry keys0[64];
    struct frame frames0[32];
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
    sc->frames = sc->frames0;
    sc->frames_cap = sizeof sc->frames0 / sizeof *sc->frames0;
    sc->longest = sc->deepest = 0;
}

static void scanner_free(struct scanner *sc)
{
    if (sc->arena != sc->arena0)
        free(sc->arena);
    if (sc->keys != sc->keys0)
        free(sc->keys);
    if (sc->frames != sc->frames0)
        free(sc->frames);
}

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

/* fail() at p, for the scan loop that keeps its position in a local. */
__attribute__((cold)) static int fail_at(struct scanner *sc, const char *p, int code, const char *what)
{
    sc->p = p;
    return fail(sc, code, what);
}

static const char *ws_run(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Most tokens follow the last directly: one comparison tells, inline. */
static inline const char *skip_ws(const char *p, const char *end)
{
    return p < end && (unsigned char)*p <= ' ' ? ws_run(p, end) : p;
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

/* The first byte of [q, end) that is not plain: sixteen bytes at a time
 * with SSE2 (a signed comparison with the space catches both the control
 * characters and the bytes of multi-byte characters), else eight at a time
 * (any quote, backslash, control character or byte of a multi-byte
 * character among them sets its byte's high bit in `special`, and the
 * lowest such bit is the first such byte: the borrows of the subtractions
 * only run upward); the last bytes of the text one by one. */
static inline const char *plain_run(const char *q, const char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(' ');
    while (end - q >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                       _mm_cmpgt_epi8(space, v));
        unsigned m = (unsigned)_mm_movemask_epi8(special);
        if (m)
            return q + __builtin_ctz(m);
        q += 16;
    }
#else
    while (end - q >= 8) {
        uint64_t w;
        memcpy(&w, q, 8);
        uint64_t quote = w ^ 0x2222222222222222ULL, bslash = w ^ 0x5C5C5C5C5C5C5C5CULL;
        uint64_t special = (w | (w - 0x2020202020202020ULL) | ((quote - 0x0101010101010101ULL) & ~quote) |
                            ((bslash - 0x0101010101010101ULL) & ~bslash)) & 0x8080808080808080ULL;
        if (special) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return q + (__builtin_ctzll(special) >> 3);
#else
            break;
#endif
        }
        q += 8;
    }
#endif
    while (q < end && plain_byte[(unsigned char)*q])
        q++;
    return q;
}

/* The length of the well-formed UTF-8 sequence at s (n bytes left), as
 * utf8_seq_len tells it; the common sequences (two bytes, three but for
 * E0 and ED, whose second byte has narrower bounds) decided inline. */
static inline size_t char_len(const unsigned char *s, size_t n)
{
    if (n >= 2 && s[0] >= 0xC2 && s[0] <= 0xDF && (s[1] & 0xC0) == 0x80)
        return 2;
    if (n >= 3 && s[0] >= 0xE1 && s[0] <= 0xEF && s[0] != 0xED && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80)
        return 3;
    return utf8_seq_len(s, n);
}

/* Reads a string (the opening quote is at sc->p). A key is left in sc->key
 * for the duplicate checks: as its text when it has no escape, else decoded
 * into the arena from its first escape on. Inlined into scan_key_string and
 * scan_value_string, so that a value's reading tests nothing for keys. */
static inline __attribute__((always_inline)) int scan_string_as(struct scanner *sc, const bool is_key)
{
    const char *p = sc->p + 1, *end = sc->end, *body = p, *run = p;
    const size_t max = sc->lim->max_string;
    size_t decoded = 0, arena_off = sc->arena_len;
    bool copying = false;
    for (;;) {
        p = plain_run(p, end);
        if (decoded + (size_t)(p - run) > max)
            return fail_at(sc, p, RPC_PARSE_ERROR, "string longer than the limit");
        if (p >= end)
            return fail_at(sc, p, RPC_PARSE_ERROR, "unterminated string");
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            /* A key is copied from its first escape on: its bytes so far, then every piece. */
            if (is_key && (copying || c == '\\')) {
                sc->p = p;
                if (arena_put(sc, run, (size_t)(p - run)) < 0)
                    return -1;
                copying = true;
            }
            decoded += (size_t)(p - run);
            if (c == '"') {
                p++;
                break;
            }
            p++;
            if (p >= end)
                return fail_at(sc, p, RPC_PARSE_ERROR, "unterminated escape");
            char e = *p++, out[4];
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
                sc->p = p;
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
                p = sc->p;
                n = utf8_encode(cp, out);
                break;
            }
            default:
                return fail_at(sc, p, RPC_PARSE_ERROR, "invalid escape");
            }
            if (is_key) {
                sc->p = p;
                if (arena_put(sc, out, n) < 0)
                    return -1;
            }
            decoded += n;
            run = p;
        } else if (c < 0x20) {
            return fail_at(sc, p, RPC_PARSE_ERROR, "raw control character in string");
        } else {
            /* A run of multi-byte characters, each held to the limit as it ends. */
            do {
                size_t n = char_len((const unsigned char *)p, (size_t)(end - p));
                if (!n)
                    return fail_at(sc, p, RPC_PARSE_ERROR, "invalid UTF-8");
                p += n;
                if (decoded + (size_t)(p - run) > max)
                    return fail_at(sc, p, RPC_PARSE_ERROR, "string longer than the limit");
            } while (p < end && (unsigned char)*p >= 0x80);
            continue;
        }
        if (decoded + (size_t)(p - run) > max)
            return fail_at(sc, p, RPC_PARSE_ERROR, "string longer than the limit");
    }
    sc->p = p;
    if (decoded > sc->longest)
        sc->longest = decoded;
    if (is_key)
        sc->key = (struct key_entry){copying ? NULL : body, arena_off, decoded, false, 0};
    return 0;
}

__attribute__((noinline)) static int scan_key_string(struct scanner *sc)
{
    return scan_string_as(sc, true);
}

__attribute__((noinline)) static int scan_value_string(struct scanner *sc)
{
    return scan_string_as(sc, false);
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

static const char *key_bytes(const struct scanner *sc, const struct key_entry *k)
{
    return k->text ? k->text : sc->arena + k->off;
}

/* Orders keys by their folded text, so keys a case-insensitive reader would
 * take for one end up side by side. */
static int key_cmp(const void *a, const void *b, void *scanner)
{
    const struct scanner *sc = scanner;
    const struct key_entry *x = a, *y = b;
    return utf8_fold_cmp(key_bytes(sc, x), x->len, key_bytes(sc, y), y->len);
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
    const char *bx = key_bytes(sc, x), *by = key_bytes(sc, y);
    int kx = shown(bx, x->len), ky = shown(by, y->len);
    if (x->len == y->len && memcmp(bx, by, x->len) == 0) {
        snprintf(what, sizeof what, "duplicate key \"%.*s\"", kx, bx);
        return fail(sc, RPC_PARSE_ERROR, what);
    }
    snprintf(what, sizeof what, "keys \"%.*s\" and \"%.*s\" differ only in case (one key to case-insensitive readers)",
             kx, bx, ky, by);
    return fail(sc, RPC_INVALID_REQUEST, what);
}

/* A signature of an ASCII key read in place, that keys folding together
 * with it share: its length and its first and last bytes with the case bit
 * set. Two ASCII keys fold together only when they are equal but for the
 * case of letters, so keys of different signatures are told apart with one
 * comparison. Its first and last bytes are in the text even for n = 0:
 * the closing and the opening quote ((k - 1)[n] is k[n - 1]). */
static inline uint32_t ascii_sig(const char *k, size_t n)
{
    return (uint32_t)n << 16 | ((uint32_t)(unsigned char)k[0] | 0x20) << 8 |
           ((uint32_t)(unsigned char)(k - 1)[n] | 0x20);
}

/* The first of the object's keys before k (from keys[base]) that folds
 * together with k, or NULL. */
static const struct key_entry *folds_with(const struct scanner *sc, size_t base, const struct key_entry *k)
{
    const char *kb = key_bytes(sc, k);
    for (size_t i = base; i < sc->nkeys; i++) {
        const struct key_entry *e = &sc->keys[i];
        if (e->ascii && k->ascii ? e->sig != k->sig : !may_fold_together(key_bytes(sc, e), e->len, kb, k->len))
            continue;
        if (utf8_fold_cmp(key_bytes(sc, e), e->len, kb, k->len) == 0)
            return e;
    }
    return NULL;
}

/* folds_with for an ascii key k in an object whose keys are all ascii. */
static inline const struct key_entry *ascii_folds_with(const struct scanner *sc, size_t base,
                                                       const struct key_entry *k)
{
    for (const struct key_entry *e = sc->keys + base, *last = sc->keys + sc->nkeys; e < last; e++)
        if (e->sig == k->sig && utf8_fold_cmp(e->text, e->len, k->text, k->len) == 0)
            return e;
    return NULL;
}

/* The collision check of an object wider than LINEAR_DUP_LIMIT, once it
 * has been read: its keys (from keys[base]) sorted by their folded text. */
static int wide_collisions(struct scanner *sc, size_t base)
{
    qsort_r(sc->keys + base, sc->nkeys - base, sizeof *sc->keys, key_cmp, sc);
    for (size_t i = base + 1; i < sc->nkeys; i++)
        if (key_cmp(&sc->keys[i - 1], &sc->keys[i], sc) == 0)
            return collision(sc, &sc->keys[i - 1], &sc->keys[i]);
    return 0;
}

/* Doubles a full stack of *cap entries of size bytes, first held in
 * inline_buf: the new stack, *cap doubled; NULL, the stack as it was, when
 * out of memory. */
static void *double_stack(void *stack, const void *inline_buf, size_t *cap, size_t size)
{
    void *s = grow(stack, inline_buf, *cap * size, *cap * 2 * size);
    if (s)
        *cap *= 2;
    return s;
}

/* Makes room for the frame of a container opened at sc->depth. */
static int push_frame(struct scanner *sc)
{
    if (sc->depth <= sc->frames_cap)
        return 0;
    struct frame *fs = double_stack(sc->frames, sc->frames0, &sc->frames_cap, sizeof *fs);
    if (fs)
        sc->frames = fs;
    return fs ? 0 : -1;
}

/* Doubles the key stack, full. */
static int grow_keys(struct scanner *sc)
{
    struct key_entry *ks = double_stack(sc->keys, sc->keys0, &sc->keys_cap, sizeof *ks);
    if (ks)
        sc->keys = ks;
    return ks ? 0 : -1;
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

/* Reads the string whose quote opens at p in place when it is plain:
 * printable ASCII up to its closing quote, at most max bytes. Returns the
 * text after it, its length in *n; NULL when scan_value_string or
 * scan_key_string must read it. Inlined: it runs on every string. */
static inline __attribute__((always_inline)) const char *plain_string(struct scanner *sc, const char *p,
                                                                       const char *end, size_t max, size_t *n)
{
    const char *q = plain_run(p + 1, end);
    *n = (size_t)(q - (p + 1));
    if (q >= end || *q != '"' || *n > max)
        return NULL;
    if (*n > sc->longest)
        sc->longest = *n;
    return q + 1;
}

/* Reads the whole text as one JSON value, root its context: one loop over
 * the text with the open containers on sc->frames. Strings of printable
 * ASCII (nearly all of them) are read in place by plain_run, keys included;
 * any other string is read again by scan_string_as, which resolves escapes,
 * checks UTF-8 and tells errors. Every error is told where, and as, a
 * recursive reader checking in document order would tell it. */
static int scan_text(struct scanner *sc, int root)
{
    const char *p = sc->p, *end = sc->end, *vstart, *q, *after;
    const size_t max_string = sc->lim->max_string, max_members = sc->lim->max_members;
    struct frame *top = NULL;   /* the innermost open container; NULL at the top level */
    int ctx = root;             /* the context of the value read next */
    struct key_entry *k;
    size_t n;
    if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        return fail(sc, RPC_PARSE_ERROR, "a byte order mark is not accepted");
value:
    if (p >= end)
        return fail_at(sc, p, RPC_PARSE_ERROR, "unexpected end of text");
    if (sc->depth > sc->deepest)
        sc->deepest = sc->depth;
    vstart = p;
    switch (*p) {
    case ' ':
    case '\t':
    case '\n':
    case '\r':
        p = ws_run(p, end);
        goto value;
    case '{':
    case '[':
        if (++sc->depth > sc->lim->max_depth)
            return fail_at(sc, p, RPC_PARSE_ERROR, "nesting deeper than the limit");
        if (push_frame(sc) < 0)
            return fail_at(sc, p, RPC_INTERNAL_ERROR, "out of memory");
        top = &sc->frames[sc->depth - 1];
        *top = (struct frame){p, 0, sc->nkeys, sc->arena_len, ctx, *p == '{' ? '}' : ']', false};
        p = skip_ws(p + 1, end);
        if (p < end && *p == top->close) {
            p++;
            goto close;
        }
        if (top->close == '}')
            goto key;
        goto element;
    case '"':
        if ((q = plain_string(sc, p, end, max_string, &n))) {
            p = q;
            break;
        }
        sc->p = p;
        if (scan_value_string(sc) < 0)
            return -1;
        p = sc->p;
        break;
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0)
            return fail_at(sc, p, RPC_PARSE_ERROR, "invalid literal");
        p += 4;
        break;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0)
            return fail_at(sc, p, RPC_PARSE_ERROR, "invalid literal");
        p += 5;
        break;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0)
            return fail_at(sc, p, RPC_PARSE_ERROR, "invalid literal");
        p += 4;
        break;
    default:
        sc->p = p;
        if (scan_number(sc) < 0)
            return -1;
        p = sc->p;
        break;
    }
read:
    /* The value [vstart, p) has been read, in context ctx. */
    if (ctx && sc->watch->value) {
        sc->p = p;
        if (sc->watch->value(sc->watch->arg, ctx, vstart, p, sc->err) < 0)
            return -1;
    }
    if (!top) {
        p = skip_ws(p, end);
        if (p != end)
            return fail_at(sc, p, RPC_PARSE_ERROR, "more than one JSON value");
        return 0;
    }
next:
    /* What follows a member: a comma, the container's end, or whitespace first. */
    if (p < end) {
        if (*p == ',') {
            p++;
            if (top->close == '}')
                goto key;
            goto element;
        }
        if (*p == top->close) {
            p++;
            goto close;
        }
        if ((unsigned char)*p <= ' ' && (after = ws_run(p, end)) != p) {
            p = after;
            goto next;
        }
    }
    return fail_at(sc, p, RPC_PARSE_ERROR, top->close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
close:
    /* The container `top` ends before p. */
    if (top->close == '}') {
        if (top->members > LINEAR_DUP_LIMIT) {
            sc->p = p;
            if (wide_collisions(sc, top->keys_base) < 0)
                return -1;
        }
        sc->nkeys = top->keys_base;
        sc->arena_len = top->arena_base;
    }
    ctx = top->ctx;
    vstart = top->start;
    top = --sc->depth ? &sc->frames[sc->depth - 1] : NULL;
    goto read;
key:
    if (p >= end || *p != '"') {
        p = skip_ws(p, end);
        if (p >= end || *p != '"')
            return fail_at(sc, p, RPC_PARSE_ERROR, "expected a string key");
    }
    /* The key is read into the next free entry of the key stack, and
     * counted once it is checked against the object's keys before it. */
    if (sc->nkeys == sc->keys_cap && grow_keys(sc) < 0)
        return fail_at(sc, p, RPC_INTERNAL_ERROR, "out of memory");
    k = &sc->keys[sc->nkeys];
    if ((q = plain_string(sc, p, end, max_string, &n))) {
        *k = (struct key_entry){p + 1, 0, n, true, ascii_sig(p + 1, n)};
        p = q;
    } else {
        sc->p = p;
        if (scan_key_string(sc) < 0)
            return -1;
        p = sc->p;
        *k = sc->key;
        top->mixed = true;
    }
    if (++top->members > max_members)
        return fail_at(sc, p, RPC_PARSE_ERROR, "object with more members than the limit");
    /* Up to the limit, each key against the ones before it: at most
     * LINEAR_DUP_LIMIT comparisons per key, so linear in the text. */
    if (top->members <= LINEAR_DUP_LIMIT && top->members > 1) {
        const struct key_entry *e =
            top->mixed ? folds_with(sc, top->keys_base, k) : ascii_folds_with(sc, top->keys_base, k);
        if (e) {
            sc->p = p;
            return collision(sc, e, k);
        }
    }
    sc->nkeys++;
    ctx = 0;
    if (top->ctx) {
        sc->p = p;
        /* The key's bytes are read before the value is: a nested object's keys may move the arena. */
        if ((ctx = sc->watch->member(sc->watch->arg, top->ctx, key_bytes(sc, k), k->len, sc->err)) < 0)
            return -1;
    }
    if (p >= end || *p != ':') {
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return fail_at(sc, p, RPC_PARSE_ERROR, "expected ':'");
    }
    p++;
    goto value;
element:
    if (++top->members > max_members)
        return fail_at(sc, skip_ws(p, end), RPC_PARSE_ERROR, "array with more elements than the limit");
    ctx = 0;
    if (top->ctx) {
        sc->p = p;
        if ((ctx = sc->watch->member(sc->watch->arg, top->ctx, NULL, 0, sc->err)) < 0)
            return -1;
    }
    goto value;
}

int json_scan(const char *text, size_t len, const struct rpc_limits *lim, const struct json_watch *watch,
              int root, struct rpc_error *err)
{
    struct rpc_limits l = effective_limits(lim);
    struct scanner sc;
    scanner_init(&sc, text, len, &l, watch, err);
    int rc = scan_text(&sc, watch ? root : 0);
    scanner_free(&sc);
    return rc;
}

/* The values of a client message rpc_parse reads, by their context in the
 * scan: the top level, params, and params._meta. */
enum {
    R_ROOT = 1,
    R_JSONRPC,
    R_ID,
    R_METHOD,
    R_PARAMS,
    P_NAME,
    P_URI,
    P_ARGS,
    P_META,
    P_TASK,
    M_VERSION,
    R_NCONTEXTS
};

/* A value's original text [p, end); p is NULL when the value is absent. */
struct span {
    const char *p, *end;
};

/* What rpc_parse's watch collects during the scan, read only once the scan
 * accepted the whole text (a wide object's duplicate keys are found at its
 * end, after the second value may have replaced the first here). */
struct reader {
    struct scanner *sc;          /* for the arguments' depth and longest string */
    struct span v[R_NCONTEXTS];  /* by context */
    bool has_result, has_error;
    size_t args_base;  /* the depth the arguments are read at */
    size_t args_longest, args_deepest;
};

static const char *const top_keys[] = {"jsonrpc", "id", "method", "params", "result", "error", NULL};
/* What tools/call reads of params; checked in the params of every method so
 * that no spelling of them reaches a server under another method either. */
static const char *const params_keys[] = {"name", "arguments", "_meta", NULL};
static const char version_key[] = "io.modelcontextprotocol/protocolVersion";

static bool key_is(const char *key, size_t klen, const char *lit, size_t litlen)
{
    return klen == litlen && memcmp(key, lit, litlen) == 0;
}

static int reader_member(void *arg, int parent, const char *key, size_t klen, struct rpc_error *err)
{
    struct reader *rd = arg;
    if (!key)
        return 0;
    if (parent == R_ROOT) {
        static const int contexts[] = {R_JSONRPC, R_ID, R_METHOD, R_PARAMS, 0, 0};
        int k = json_known_key(key, klen, top_keys, err);
        if (k < 0)
            return k == -2 ? -1 : 0;
        rd->has_result = rd->has_result || k == 4;
        rd->has_error = rd->has_error || k == 5;
        return contexts[k];
    }
    if (parent == R_PARAMS) {
        switch (json_known_key(key, klen, params_keys, err)) {
        case -2: return -1;
        case 0: return P_NAME;
        case 1:
            /* What Lua's bounds on arguments are checked against: counted from here. */
            rd->args_base = rd->sc->depth;
            rd->sc->deepest = rd->sc->depth;
            rd->sc->longest = 0;
            return P_ARGS;
        case 2: return P_META;
        default: break;
        }
        return key_is(key, klen, "uri", 3) ? P_URI : key_is(key, klen, "task", 4) ? P_TASK : 0;
    }
    if (parent == P_META)
        return key_is(key, klen, version_key, sizeof version_key - 1) ? M_VERSION : 0;
    return 0;
}

static int reader_value(void *arg, int ctx, const char *start, const char *end, struct rpc_error *err)
{
    (void)err;
    struct reader *rd = arg;
    rd->v[ctx] = (struct span){start, end};
    if (ctx == P_ARGS) {
        rd->args_longest = rd->sc->longest;
        rd->args_deepest = rd->sc->deepest - rd->args_base;
    }
    return 0;
}

static int invalid(struct rpc_error *err, int code, const char *message)
{
    err->code = code;
    snprintf(err->message, sizeof err->message, "%s", message);
    return -1;
}

/* json_known_key from known[i] on, where the quick loop below met a key
 * it could not decide (not exact, yet maybe a case variant): apart, so
 * that the quick loop calls nothing and saves no registers. */
__attribute__((noinline)) static int known_key_from(const char *key, size_t klen, const char *const *known,
                                                    size_t i, struct rpc_error *err)
{
    for (; known[i]; i++) {
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

int json_known_key(const char *key, size_t klen, const char *const *known, struct rpc_error *err)
{
    unsigned char c0 = klen ? (unsigned char)key[0] : 0;
    for (size_t i = 0; known[i]; i++) {
        /* An ASCII first byte that differs in more than the case bit rules
         * the key out: the common case. */
        if (c0 && c0 < 0x80 && (c0 | 0x20) != ((unsigned char)known[i][0] | 0x20))
            continue;
        /* Byte-exact when the bytes agree up to the end of both. */
        size_t j = 0;
        while (j < klen && known[i][j] && known[i][j] == key[j])
            j++;
        if (j == klen && !known[i][j])
            return (int)i;
        return known_key_from(key, klen, known, i, err);
    }
    return -1;
}

/* The JSON type of a value the scanner accepted, by its first byte. */
static char type_of(struct span v)
{
    switch (v.p ? *v.p : 0) {
    case 0: return 0;
    case '"': return 's';
    case '{': return 'o';
    case '[': return 'a';
    case 't': case 'f': return 'b';
    case 'n': return 'z';
    default: return 'n';
    }
}

/* Decodes a string literal the scanner accepted (quotes included) into out,
 * which has room for its length less one; returns out, NUL-terminated. */
static char *decode_valid(struct span v, char *out)
{
    const char *p = v.p + 1, *end = v.end - 1;
    char *o = out;
    for (;;) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        size_t n = (size_t)((bs ? bs : end) - p);
        memcpy(o, p, n);
        o += n;
        if (!bs)
            break;
        p = bs + 2;
        switch (bs[1]) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp = 0;
            for (int i = 0; i < 4; i++)
                cp = cp << 4 | (unsigned)hexval(p[i]);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo = 0;
                for (int i = 2; i < 6; i++)
                    lo = lo << 4 | (unsigned)hexval(p[i]);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            o += utf8_encode(cp, o);
            break;
        }
        default: *o++ = bs[1]; break;   /* " \ / */
        }
    }
    *o = '\0';
    return out;
}

/* Whether the accepted string literal v decodes to lit (a short ASCII text). */
static bool string_is(struct span v, const char *lit)
{
    size_t n = strlen(lit), len = (size_t)(v.end - v.p);
    if (len == n + 2 && memcmp(v.p + 1, lit, n) == 0)
        return true;
    /* Escaped, each decoded byte takes at most six: "\u0032.0" is "2.0". */
    char buf[64];
    if (len > n * 6 + 2 || len > sizeof buf || !memchr(v.p, '\\', len))
        return false;
    return strcmp(decode_valid(v, buf), lit) == 0;
}

static bool is_notification_method(const char *method)
{
    return strncmp(method, "notifications/", 14) == 0;
}

/* Decodes the strings warden reads into msg's storage (the heap only for
 * long ones). Returns -1 when out of memory. */
static int keep_strings(struct rpc_msg *msg, const struct reader *rd)
{
    static const int kept[] = {R_METHOD, P_NAME, P_URI, M_VERSION};
    const char **field[] = {&msg->method, &msg->name, &msg->uri, &msg->version};
    size_t need = 0;
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
        if (type_of(rd->v[kept[i]]) == 's')
            need += (size_t)(rd->v[kept[i]].end - rd->v[kept[i]].p);   /* the quotes make room for the NUL */
    msg->strings = need <= sizeof msg->small ? msg->small : malloc(need);
    if (!msg->strings)
        return -1;
    char *at = msg->strings;
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
        struct span v = rd->v[kept[i]];
        if (type_of(v) != 's')
            continue;
        *field[i] = decode_valid(v, at);
        at += v.end - v.p;
    }
    return 0;
}

/* Why a scanned message is not one JSON-RPC 2.0 message warden accepts;
 * NULL when it is. *code is set with the message. */
static const char *refusal(const struct rpc_msg *msg, const struct reader *rd, int *code)
{
    struct span id = rd->v[R_ID];
    char method = type_of(rd->v[R_METHOD]), params = type_of(rd->v[R_PARAMS]);
    *code = RPC_INVALID_REQUEST;
    if (type_of(rd->v[R_JSONRPC]) != 's' || !string_is(rd->v[R_JSONRPC], "2.0"))
        return "Invalid Request: \"jsonrpc\" must be \"2.0\"";
    if (id.p) {
        /* Ids are strings or integers: never null, fractions, booleans or containers. */
        char c = *id.p;
        bool is_string = c == '"';
        bool is_integer = c == '-' || (c >= '0' && c <= '9');
        for (const char *q = id.p; is_integer && q < id.end; q++)
            if (*q == '.' || *q == 'e' || *q == 'E')
                is_integer = false;
        if (!is_string && !is_integer)
            return "Invalid Request: \"id\" must be a string or an integer";
    }
    if (method) {
        if (method != 's')
            return "Invalid Request: \"method\" must be a string";
        if (rd->has_result || rd->has_error)
            return "Invalid Request: a request carries no \"result\" or \"error\" (a message is a request, a "
                   "notification or a response, not several)";
        if (params && params != 'o' && params != 'a')
            return "Invalid Request: \"params\" must be an object or an array";
        if (!id.p && !is_notification_method(msg->method))
            /* A generic dispatcher runs any method it is sent, id or not:
             * without an id only notifications/ methods are what they say.
             * MCP defines no "$/" methods (LSP's cancel and progress), so
             * they are refused without an id like any other method. */
            return "Invalid Request: a request method sent as a notification (without \"id\", only "
                   "notifications/ methods are accepted)";
    } else {
        if (!id.p)
            return "Invalid Request: a message without \"method\" is a response and needs an \"id\"";
        if (rd->has_result == rd->has_error)
            return "Invalid Request: a response has exactly one of \"result\" and \"error\"";
        if (params)
            return "Invalid Request: a response carries no \"params\"";
        return NULL;
    }
    if (strcmp(msg->method, "tools/call") == 0) {
        char args = type_of(rd->v[P_ARGS]);
        *code = RPC_INVALID_PARAMS;
        if (params != 'o')
            return "Invalid params: tools/call needs \"params\" as an object";
        if (!msg->name)
            return "Invalid params: tools/call needs \"name\" as a string";
        if (args && args != 'o')
            return "Invalid params: tools/call \"arguments\" must be an object";
    }
    return NULL;
}

int rpc_parse(const char *body, size_t len, const struct rpc_limits *lim, struct rpc_msg *out, struct rpc_error *err)
{
    memset(out, 0, sizeof *out);
    struct rpc_limits l = effective_limits(lim);
    struct scanner sc;
    struct reader rd = {.sc = &sc};
    const struct json_watch watch = {reader_member, reader_value, &rd};
    scanner_init(&sc, body, len, &l, &watch, err);
    int rc = scan_text(&sc, R_ROOT);
    scanner_free(&sc);
    if (rc < 0)
        return -1;
    const char *first = body;   /* a value follows: the scan accepted the text */
    while (*first == ' ' || *first == '\t' || *first == '\n' || *first == '\r')
        first++;
    if (*first == '[')
        return invalid(err, RPC_INVALID_REQUEST,
                       "Invalid Request: JSON-RPC batches are not supported; send one message per POST");
    if (*first != '{')
        return invalid(err, RPC_INVALID_REQUEST, "Invalid Request: a JSON-RPC message is a JSON object");
    if (keep_strings(out, &rd) < 0)
        return invalid(err, RPC_INTERNAL_ERROR, "Internal error: out of memory");
    int code;
    const char *why = refusal(out, &rd, &code);
    if (why) {
        rpc_msg_clear(out);
        return invalid(err, code, why);
    }
    struct span id = rd.v[R_ID];
    out->kind = out->method ? (id.p ? RPC_REQUEST : RPC_NOTIFICATION) : RPC_RESPONSE;
    if (id.p) {
        out->id_text = id.p;
        out->id_len = (size_t)(id.end - id.p);
    }
    if (rd.v[R_PARAMS].p) {
        out->params_text = rd.v[R_PARAMS].p;
        out->params_len = (size_t)(rd.v[R_PARAMS].end - rd.v[R_PARAMS].p);
    }
    out->version_not_string = rd.v[M_VERSION].p && !out->version;
    out->task = type_of(rd.v[P_TASK]) == 'o';
    if (out->method && strcmp(out->method, "tools/call") == 0) {
        out->tool = out->name;
        if (rd.v[P_ARGS].p) {
            out->args_text = rd.v[P_ARGS].p;
            out->args_len = (size_t)(rd.v[P_ARGS].end - rd.v[P_ARGS].p);
            out->args_longest = rd.args_longest;
            out->args_depth = rd.args_deepest;
        }
    }
    return 0;
}

/* Builds the tree of text [p, p + len), accepted by rpc_parse, into *tree once. */
static int build_tree(const char *p, size_t len, cJSON **tree, const cJSON **out)
{
    *out = NULL;
    if (!p)
        return 0;
    if (!*tree && !(*tree = cJSON_ParseWithLength(p, len)))
        return -1;
    *out = *tree;
    return 0;
}

int rpc_msg_params(struct rpc_msg *msg, const cJSON **out)
{
    return build_tree(msg->params_text, msg->params_len, &msg->params_tree, out);
}

int rpc_msg_args(struct rpc_msg *msg, const cJSON **out)
{
    return build_tree(msg->args_text, msg->args_len, &msg->args_tree, out);
}

void rpc_msg_clear(struct rpc_msg *msg)
{
    cJSON_Delete(msg->params_tree);
    cJSON_Delete(msg->args_tree);
    if (msg->strings != msg->small)
        free(msg->strings);
    memset(msg, 0, sizeof *msg);
}

/* Skips one JSON value leniently (server messages): strings with their
 * escapes, containers by nesting, anything else up to a delimiter. */
static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < end; p++) {
            if (*p == '"') {
                p = skip_value(p, end);
                if (!p)
                    return NULL;
                p--;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
        p++;
    return p;
}

/* Decodes a JSON string literal (quotes included) into out; returns the
 * length, or -1 when it does not fit or is malformed. */
static long decode_string(const char *s, size_t len, char *out, size_t cap)
{
    if (len < 2 || s[0] != '"' || s[len - 1] != '"')
        return -1;
    struct rpc_error err;
    struct rpc_limits lim = {.max_depth = 1, .max_string = cap, .max_members = 1};
    struct scanner sc;
    scanner_init(&sc, s, len, &lim, NULL, &err);
    long n = -1;
    if (scan_key_string(&sc) == 0 && sc.p == sc.end && sc.key.len <= cap) {
        if (sc.key.len)
            memcpy(out, key_bytes(&sc, &sc.key), sc.key.len);
        n = (long)sc.key.len;
    }
    scanner_free(&sc);
    return n;
}

bool rpc_find_id(const char *body, size_t len, const char **id, size_t *id_len)
{
    const char *end = body + len, *p = ws_run(body, end);
    if (p >= end || *p != '{')
        return false;
    p = ws_run(p + 1, end);
    while (p < end && *p == '"') {
        const char *kend = skip_value(p, end);
        if (!kend)
            return false;
        char key[8];
        long klen = decode_string(p, (size_t)(kend - p), key, sizeof key);
        p = ws_run(kend, end);
        if (p >= end || *p != ':')
            return false;
        p = ws_run(p + 1, end);
        const char *vend = skip_value(p, end);
        if (!vend)
            return false;
        if (klen == 2 && memcmp(key, "id", 2) == 0) {
            *id = p;
            *id_len = (size_t)(vend - p);
            return true;
        }
        p = ws_run(vend, end);
        if (p < end && *p == ',')
            p = ws_run(p + 1, end);
        else
            return false;
    }
    return false;
}

/* True for JSON number text without fraction or exponent. */
static bool is_integer_text(const char *s, size_t n)
{
    size_t i = s[0] == '-' ? 1 : 0;
    if (i >= n)
        return false;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool rpc_id_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen == blen && memcmp(a, b, alen) == 0)
        return true;
    if (!alen || !blen)
        return false;
    bool astr = a[0] == '"', bstr = b[0] == '"';
    if (astr != bstr)
        return false;
    if (astr) {
        char *da = malloc(alen), *db = malloc(blen);
        long la = da ? decode_string(a, alen, da, alen) : -1;
        long lb = db ? decode_string(b, blen, db, blen) : -1;
        bool eq = la >= 0 && la == lb && memcmp(da, db, (size_t)la) == 0;
        free(da);
        free(db);
        return eq;
    }
    if (is_integer_text(a, alen) && is_integer_text(b, blen)) {
        /* -0 and 0 are the same integer */
        bool az = (alen == 1 && a[0] == '0') || (alen == 2 && a[0] == '-' && a[1] == '0');
        bool bz = (blen == 1 && b[0] == '0') || (blen == 2 && b[0] == '-' && b[1] == '0');
        return az && bz;
    }
    char *ea, *eb;
    char ta[64], tb[64];
    if (alen >= sizeof ta || blen >= sizeof tb)
        return false;
    memcpy(ta, a, alen);
    ta[alen] = '\0';
    memcpy(tb, b, blen);
    tb[blen] = '\0';
    double x = strtod(ta, &ea), y = strtod(tb, &eb);
    return *ea == '\0' && *eb == '\0' && x == y;
}
