#include "answer.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsonrpc.h"
#include "utf8.h"

/* Contexts of the values answer.c watches while the strict scanner reads a
 * message (see json_watch): the top level, result, result.tools, each tool
 * object with its name, description and annotations, result.ttlMs and
 * result.cacheScope. Nothing else is looked at. */
enum {
    W_ROOT = 1,
    W_JSONRPC,
    W_ID,
    W_METHOD,
    W_PARAMS,
    W_RESULT,
    W_ERROR,
    W_TOOLS,
    W_TOOL,
    W_NAME,
    W_DESCRIPTION,
    W_ANNOTATIONS,
    W_IS_ERROR,
    W_TTL,
    W_SCOPE,
};

/* The keys read at each level, in the order of the contexts they lead to. */
static const char *const top_keys[] = {"jsonrpc", "id", "method", "params", "result", "error", NULL};
static const char *const result_keys[] = {"tools", "isError", "ttlMs", "cacheScope", NULL};
static const char *const tool_keys[] = {"name", NULL};

/* A value's original text. */
struct span {
    const char *start, *end;
};

/* What one pass of the scanner gathered. `items` is one block: items_cap
 * items, then items_cap flags for decide() (used once the pass is over).
 * Names with escapes are decoded into `names`, sized once for the whole
 * message (decoding never grows a text), so their pointers stay put. */
struct reading {
    bool filtering;          /* gather result.tools (a filter is set) */
    struct span jsonrpc, id, method, result, error, tools, ttl, scope;
    bool has_params, is_error_true;
    bool tools_bad;          /* result.tools is not an array of objects with a string name */
    bool tool_named;         /* the tool being read has a string name */
    bool oom;
    size_t msg_len;
    struct list_item *items;
    size_t nitems, items_cap;
    char *names;
    size_t names_len;
};

/* The code point at *p in a JSON string literal's body (before `end`),
 * escapes resolved; advances *p. Returns UINT32_MAX at the closing quote or
 * on text that is not a string body (never expected after json_scan). */
static uint32_t lit_next(const char **p, const char *end)
{
    const unsigned char *s = (const unsigned char *)*p;
    if (*p >= end || *s == '"')
        return UINT32_MAX;
    if (*s != '\\') {
        size_t n = (size_t)(end - *p), len = 1;
        uint32_t cp = s[0];
        if (cp >= 0x80) {
            if (cp >= 0xF0 && n >= 4) {
                len = 4;
                cp = (cp & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
            } else if (cp >= 0xE0 && n >= 3) {
                len = 3;
                cp = (cp & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
            } else if (cp >= 0xC0 && n >= 2) {
                len = 2;
                cp = (cp & 0x1F) << 6 | (s[1] & 0x3F);
            } else {
                return UINT32_MAX;
            }
        }
        *p += len;
        return cp;
    }
    if (end - *p < 2)
        return UINT32_MAX;
    char e = (*p)[1];
    *p += 2;
    switch (e) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'u': break;
    default: return (unsigned char)e;
    }
    uint32_t cp = 0;
    for (int unit = 0; unit < 2; unit++) {
        uint32_t v = 0;
        if (end - *p < 4)
            return UINT32_MAX;
        for (int i = 0; i < 4; i++) {
            char c = (*p)[i];
            uint32_t h = c >= '0' && c <= '9' ? (uint32_t)(c - '0')
                         : c >= 'a' && c <= 'f' ? (uint32_t)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (uint32_t)(c - 'A' + 10) : 16;
            if (h == 16)
                return UINT32_MAX;
            v = v << 4 | h;
        }
        *p += 4;
        if (unit == 1)
            return 0x10000 + ((cp - 0xD800) << 10) + (v - 0xDC00);
        if (v < 0xD800 || v > 0xDBFF)
            return v;
        cp = v;
        if (end - *p < 2 || (*p)[0] != '\\' || (*p)[1] != 'u')
            return UINT32_MAX;
        *p += 2;
    }
    return UINT32_MAX;
}

/* Decodes the string literal s (quotes included) into out[0..cap); returns
 * the length, or SIZE_MAX when it does not fit. */
static size_t lit_decode(struct span s, char *out, size_t cap)
{
    const char *p = s.start + 1;
    size_t n = 0;
    for (uint32_t cp; (cp = lit_next(&p, s.end)) != UINT32_MAX;) {
        if (cap - n < 4)
            return SIZE_MAX;
        n += utf8_encode(cp, out + n);
    }
    return n;
}

/* True when the literal s decodes to exactly text (short texts only). */
static bool lit_is(struct span s, const char *text)
{
    char buf[16];
    size_t n = *s.start == '"' ? lit_decode(s, buf, sizeof buf) : SIZE_MAX;
    return n != SIZE_MAX && n == strlen(text) && memcmp(buf, text, n) == 0;
}

static int grow_items(struct reading *r)
{
    if (r->nitems < r->items_cap)
        return 0;
    size_t cap = r->items_cap ? r->items_cap * 2 : 32;
    struct list_item *items = realloc(r->items, cap * (sizeof *items + sizeof(bool)));
    if (!items)
        return -1;
    r->items = items;
    r->items_cap = cap;
    return 0;
}

/* Decodes a name that has escapes into r->names; returns its start. */
static const char *decoded_name(struct reading *r, struct span s, size_t *n)
{
    if (!r->names && !(r->names = malloc(r->msg_len + 4)))
        return NULL;
    *n = lit_decode(s, r->names + r->names_len, r->msg_len + 4 - r->names_len);
    if (*n == SIZE_MAX)
        return NULL;
    const char *name = r->names + r->names_len;
    r->names_len += *n;
    return name;
}

static int oom(struct reading *r, struct rpc_error *err)
{
    r->oom = true;
    err->code = RPC_INTERNAL_ERROR;
    snprintf(err->message, sizeof err->message, "out of memory");
    return -1;
}

static int on_member(void *arg, int parent, const char *key, size_t klen, struct rpc_error *err)
{
    struct reading *r = arg;
    int k;
    switch (parent) {
    case W_ROOT:
        if (!key)
            return 0;
        if ((k = json_known_key(key, klen, top_keys, err)) == -2)
            return -1;
        return k < 0 ? 0 : W_JSONRPC + k;
    case W_RESULT:
        if (!key)
            return 0;
        if ((k = json_known_key(key, klen, result_keys, err)) == -2)
            return -1;
        return k == 0 ? (r->filtering ? W_TOOLS : 0) : k == 1 ? W_IS_ERROR : k == 2 ? W_TTL : k == 3 ? W_SCOPE : 0;
    case W_TOOLS:
        if (key) /* tools is an object: refused when it ends */
            return 0;
        if (grow_items(r) < 0)
            return oom(r, err);
        r->items[r->nitems++] = (struct list_item){0};
        r->tool_named = false;
        return W_TOOL;
    case W_TOOL:
        if (!key)
            return 0;
        if ((k = json_known_key(key, klen, tool_keys, err)) == -2)
            return -1;
        if (k == 0)
            return W_NAME;
        /* Shown to a Lua on_list as a client's cJSON reads them: by exact
         * key (the scanner refused objects with two keys that fold together). */
        if (klen == 11 && memcmp(key, "description", 11) == 0)
            return W_DESCRIPTION;
        return klen == 11 && memcmp(key, "annotations", 11) == 0 ? W_ANNOTATIONS : 0;
    default:
        return 0;
    }
}

static int on_value(void *arg, int ctx, const char *start, const char *end, struct rpc_error *err)
{
    struct reading *r = arg;
    struct span s = {start, end};
    switch (ctx) {
    case W_JSONRPC: r->jsonrpc = s; break;
    case W_ID: r->id = s; break;
    case W_METHOD: r->method = s; break;
    case W_PARAMS: r->has_params = true; break;
    case W_RESULT: r->result = s; break;
    case W_ERROR: r->error = s; break;
    case W_IS_ERROR: r->is_error_true = *start == 't'; break;
    case W_TTL: r->ttl = s; break;
    case W_SCOPE: r->scope = s; break;
    case W_TOOLS:
        r->tools = s;
        if (*start != '[')
            r->tools_bad = true;
        break;
    case W_TOOL: {
        struct list_item *it = &r->items[r->nitems - 1];
        it->raw = start;
        it->raw_len = (size_t)(end - start);
        if (*start != '{' || !r->tool_named)
            r->tools_bad = true;
        break;
    }
    case W_DESCRIPTION:
        r->items[r->nitems - 1].description = start;
        r->items[r->nitems - 1].description_len = (size_t)(end - start);
        break;
    case W_ANNOTATIONS:
        r->items[r->nitems - 1].annotations = start;
        r->items[r->nitems - 1].annotations_len = (size_t)(end - start);
        break;
    case W_NAME: {
        struct list_item *it = &r->items[r->nitems - 1];
        if (*start != '"') {
            r->tools_bad = true;
            break;
        }
        r->tool_named = true;
        if (memchr(start, '\\', (size_t)(end - start))) {
            if (!(it->name = decoded_name(r, s, &it->name_len)))
                return oom(r, err);
        } else {
            it->name = start + 1;
            it->name_len = (size_t)(end - start) - 2;
        }
        break;
    }
    default:
        break;
    }
    return 0;
}

/* ---- ids ---- */

/* A value as JavaScript's Number() sees it: known, NaN (equal to nothing),
 * or unknown (too long to convert here: taken as possibly equal). */
struct num {
    enum { NUM_KNOWN, NUM_NAN, NUM_UNKNOWN } kind;
    double v;
};

/* JavaScript's StrWhiteSpaceChar: WhiteSpace and LineTerminator. */
static bool js_space(uint32_t c)
{
    return c == 0x09 || c == 0x0A || c == 0x0B || c == 0x0C || c == 0x0D || c == 0x20 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

static int digit_in(char c, int base)
{
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : c >= 'A' && c <= 'Z' ? c - 'A' + 10 : 99;
    return d < base ? d : -1;
}

/* Number(string) (ECMA-262 StringToNumber) of the literal s. */
static struct num string_number(struct span s)
{
    char buf[128];
    size_t n = 0, trimmed = 0; /* trimmed: the length without trailing white space */
    const char *p = s.start + 1;
    uint32_t cp;
    while ((cp = lit_next(&p, s.end)) != UINT32_MAX && js_space(cp))
        ;
    for (; cp != UINT32_MAX; cp = lit_next(&p, s.end)) {
        if (n + 4 >= sizeof buf)
            return (struct num){NUM_UNKNOWN, 0};
        n += utf8_encode(cp, buf + n);
        if (!js_space(cp))
            trimmed = n;
    }
    n = trimmed;
    buf[n] = '\0';
    if (n == 0)
        return (struct num){NUM_KNOWN, 0};
    if (n > 2 && buf[0] == '0' && strchr("xXoObB", buf[1])) {
        int base = buf[1] == 'x' || buf[1] == 'X' ? 16 : buf[1] == 'o' || buf[1] == 'O' ? 8 : 2;
        double v = 0;
        for (size_t i = 2; i < n; i++) {
            int d = digit_in(buf[i], base);
            if (d < 0)
                return (struct num){NUM_NAN, 0};
            v = v * base + d;
        }
        /* past 2^53 the rounding of this sum may differ from JavaScript's */
        return (struct num){v > 9007199254740992.0 ? NUM_UNKNOWN : NUM_KNOWN, v};
    }
    const char *q = buf;
    bool neg = *q == '-';
    if (*q == '+' || *q == '-')
        q++;
    if (strcmp(q, "Infinity") == 0)
        return (struct num){NUM_KNOWN, neg ? -INFINITY : INFINITY};
    /* StrDecimalLiteral: digits [. digits] | . digits, then [e [sign] digits] */
    size_t int_digits = 0, frac_digits = 0;
    while (*q >= '0' && *q <= '9')
        q++, int_digits++;
    if (*q == '.') {
        q++;
        while (*q >= '0' && *q <= '9')
            q++, frac_digits++;
    }
    if (!int_digits && !frac_digits)
        return (struct num){NUM_NAN, 0};
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-')
            q++;
        if (*q < '0' || *q > '9')
            return (struct num){NUM_NAN, 0};
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q)
        return (struct num){NUM_NAN, 0};
    return (struct num){NUM_KNOWN, strtod(buf, NULL)};
}

/* Number() of an id's text: a JSON number, a string, or null. */
static struct num id_number(struct span s)
{
    if (*s.start == '"')
        return string_number(s);
    if (*s.start == 'n')
        return (struct num){NUM_KNOWN, 0};
    char buf[400];
    size_t n = (size_t)(s.end - s.start);
    if (n >= sizeof buf)
        return (struct num){NUM_UNKNOWN, 0};
    memcpy(buf, s.start, n);
    buf[n] = '\0';
    return (struct num){NUM_KNOWN, strtod(buf, NULL)};
}

enum id_rel {
    ID_OTHER,   /* a different id to every client */
    ID_LENIENT, /* the same id to some client, not exactly */
    ID_EXACT,   /* the same type and value */
};

/* How the message's id relates to the request's: exact when both are the
 * same string (after escapes) or the same number text; lenient when a
 * client that converts ids with Number() (the TypeScript SDK does
 * Number(response.id)) could take one for the other. */
static enum id_rel id_relation(struct span req, struct span msg)
{
    size_t rlen = (size_t)(req.end - req.start), mlen = (size_t)(msg.end - msg.start);
    if (rlen == mlen && memcmp(req.start, msg.start, rlen) == 0)
        return ID_EXACT;
    if (*req.start == '"' && *msg.start == '"') {
        const char *a = req.start + 1, *b = msg.start + 1;
        uint32_t x, y;
        do {
            x = lit_next(&a, req.end);
            y = lit_next(&b, msg.end);
        } while (x == y && x != UINT32_MAX);
        if (x == y)
            return ID_EXACT;
    }
    struct num x = id_number(req), y = id_number(msg);
    if (x.kind == NUM_UNKNOWN || y.kind == NUM_UNKNOWN)
        return ID_LENIENT;
    if (x.kind == NUM_KNOWN && y.kind == NUM_KNOWN && x.v == y.v)
        return ID_LENIENT;
    return ID_OTHER;
}

/* ---- the verdict ---- */

static int verdict(struct answer_result *res, enum answer_verdict v, const char *why)
{
    res->verdict = v;
    res->why = why;
    if (v == ANSWER_FAIL && res->answers_request)
        res->is_error = 1;
    return 0;
}

/* Replacements of the original text: [at, end) becomes text (an insertion
 * when at == end). At most two, in the order of `at`, never inside a tool
 * object: result.cacheScope and result.ttlMs, or an insertion after the
 * result's opening brace. */
struct edit {
    const char *at, *end;
    char text[40];
    size_t len;
};
struct edits {
    struct edit e[2];
    size_t n;
};

static void edit_add(struct edits *ed, const char *at, const char *end, const char *text)
{
    struct edit *e = &ed->e[ed->n++];
    e->at = at;
    e->end = end;
    e->len = (size_t)snprintf(e->text, sizeof e->text, "%s", text);
    if (ed->n == 2 && ed->e[1].at < ed->e[0].at) {
        struct edit t = ed->e[0];
        ed->e[0] = ed->e[1];
        ed->e[1] = t;
    }
}

/* The value of a JSON number literal as a client's strtod reads it, or -1
 * when the value is not a number. A number inside an object is always
 * followed by a byte that cannot continue it (white space, comma, brace),
 * so strtod stops at its end, whatever its length. */
static double number_value(struct span s)
{
    if (!(*s.start == '-' || (*s.start >= '0' && *s.start <= '9')))
        return -1;
    char *end;
    double v = strtod(s.start, &end);
    return end == s.end ? v : -1;
}

/* What the cache fields of a list result need: cacheScope "private" when
 * the list was filtered for this caller (replaced, or inserted on a modern
 * request), ttlMs lowered to the cap. */
static void cache_edits(const struct answer_cache *c, const struct reading *r, struct edits *ed)
{
    ed->n = 0;
    if (!r->result.start || *r->result.start != '{')
        return;
    if (c->private_scope) {
        if (r->scope.start && !lit_is(r->scope, "private")) {
            edit_add(ed, r->scope.start, r->scope.end, "\"private\"");
        } else if (!r->scope.start && c->insert) {
            const char *p = r->result.start + 1;
            while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
                p++;
            edit_add(ed, r->result.start + 1, r->result.start + 1,
                     *p == '}' ? "\"cacheScope\":\"private\"" : "\"cacheScope\":\"private\",");
        }
    }
    if (c->max_ttl_ms >= 0 && r->ttl.start && number_value(r->ttl) > (double)c->max_ttl_ms) {
        char cap[24];
        snprintf(cap, sizeof cap, "%lld", c->max_ttl_ms);
        edit_add(ed, r->ttl.start, r->ttl.end, cap);
    }
}

/* Appends [p, end) of the message with the edits that start inside it. */
static int add_edited(struct evbuffer *out, const char *p, const char *end, const struct edits *ed)
{
    for (size_t i = 0; i < ed->n; i++) {
        const struct edit *e = &ed->e[i];
        if (e->at < p || e->at >= end)
            continue;
        if (evbuffer_add(out, p, (size_t)(e->at - p)) < 0 || evbuffer_add(out, e->text, e->len) < 0)
            return -1;
        p = e->end;
    }
    return evbuffer_add(out, p, (size_t)(end - p));
}

/* Writes the message without the tools whose keep[i] is false: the bytes
 * before the first tool, each kept tool preceded by the separator (white
 * space and comma) that preceded it, then the bytes after the last tool.
 * Everything else, ids and numbers included, is the original text. Tools
 * kept side by side are one run of the original bytes, added at once. */
static int write_filtered(const char *json, size_t len, const struct reading *r, const bool *keep,
                          const struct edits *ed, struct evbuffer *out)
{
    const struct list_item *items = r->items;
    const char *first = items[0].raw, *last_end = items[r->nitems - 1].raw + items[r->nitems - 1].raw_len;
    if (add_edited(out, json, first, ed) < 0)
        return -1;
    const char *run = NULL, *run_end = NULL;
    for (size_t i = 0; i < r->nitems; i++) {
        if (!keep[i])
            continue;
        const char *from = run ? items[i - 1].raw + items[i - 1].raw_len : items[i].raw;
        if (from != run_end) {
            if (run && evbuffer_add(out, run, (size_t)(run_end - run)) < 0)
                return -1;
            run = from;
        }
        run_end = items[i].raw + items[i].raw_len;
    }
    if (run && evbuffer_add(out, run, (size_t)(run_end - run)) < 0)
        return -1;
    return add_edited(out, last_end, json + len, ed);
}

/* The whole message with the cache edits (REWRITE), or PASS when there are none. */
static int rewrite_cache(const char *json, size_t len, const struct edits *ed, struct evbuffer *out,
                         struct answer_result *res)
{
    if (ed->n == 0)
        return verdict(res, ANSWER_PASS, NULL);
    if (add_edited(out, json, json + len, ed) < 0)
        return -1;
    return verdict(res, ANSWER_REWRITE, NULL);
}

/* Filters result.tools of a readable response. Returns the verdict for it:
 * PASS (nothing removed), REWRITE, or `bad` when the list cannot be filtered
 * with certainty; -1 when out of memory. */
static int filter_tools(const struct answer_req *req, struct reading *r, const char *json, size_t len,
                        const struct edits *ed, struct evbuffer *out, struct answer_result *res,
                        enum answer_verdict bad)
{
    if (r->tools_bad)
        return verdict(res, bad, "the tools list is not an array of objects each with a string name");
    if (r->nitems == 0)
        return rewrite_cache(json, len, ed, out, res);
    bool *keep = (bool *)(r->items + r->items_cap);
    memset(keep, 0, r->nitems * sizeof *keep);
    int rc = 0;
    if (req->filter->decide(req->filter->arg, r->items, r->nitems, keep) < 0) {
        verdict(res, bad, "the tools list policy failed");
    } else {
        size_t kept = 0;
        for (size_t i = 0; i < r->nitems; i++)
            kept += keep[i];
        if (kept == r->nitems)
            rc = rewrite_cache(json, len, ed, out, res);
        else if (write_filtered(json, len, r, keep, ed, out) < 0)
            rc = -1;
        else
            verdict(res, ANSWER_REWRITE, NULL);
    }
    return rc;
}

/* Decides about a message the scanner accepted. */
static int judge(const struct answer_req *req, struct reading *r, const char *json, size_t len,
                 struct evbuffer *out, struct answer_result *res)
{
    bool waiting = req->id && !req->answered;
    enum answer_verdict unreadable = waiting ? ANSWER_FAIL : ANSWER_DROP;
    res->answers_request = waiting;
    const char *first = json;
    while (*first == ' ' || *first == '\t' || *first == '\n' || *first == '\r')
        first++;
    if (*first != '{')
        return verdict(res, unreadable, "a server message that is not a JSON object");
    if (!r->jsonrpc.start || !lit_is(r->jsonrpc, "2.0"))
        return verdict(res, unreadable, "a server message without \"jsonrpc\": \"2.0\"");
    struct span req_id = {req->id, req->id ? req->id + req->id_len : NULL};
    if (r->method.start) {
        if (*r->method.start != '"')
            return verdict(res, unreadable, "a server message whose method is not a string");
        if (r->result.start || r->error.start)
            return verdict(res, unreadable, "a server message with both a method and a result or error");
        res->answers_request = false;
        if (!r->id.start)
            return verdict(res, ANSWER_PASS, NULL); /* a notification */
        if (*r->id.start != '"' && *r->id.start != '-' && (*r->id.start < '0' || *r->id.start > '9')) {
            res->answers_request = waiting;
            return verdict(res, unreadable, "a server request whose id is not a string or a number");
        }
        if (waiting && id_relation(req_id, r->id) != ID_OTHER) {
            res->answers_request = true;
            return verdict(res, ANSWER_FAIL, "a server request reuses the id of the request it has not answered");
        }
        return verdict(res, ANSWER_PASS, NULL);
    }
    if (!r->id.start)
        return verdict(res, unreadable, "a server response without an id");
    if (!r->result.start == !r->error.start)
        return verdict(res, unreadable, "a server response needs exactly one of result and error");
    if (r->has_params)
        return verdict(res, unreadable, "a server response with params");
    char c = *r->id.start;
    if (c != '"' && c != 'n' && c != '-' && (c < '0' || c > '9'))
        return verdict(res, unreadable, "a server response whose id is not a string, a number or null");
    res->is_response = true;
    res->answers_request = false;
    enum id_rel rel = req->id ? id_relation(req_id, r->id) : ID_OTHER;
    if (req->id && rel == ID_OTHER)
        return verdict(res, ANSWER_DROP, "a response to another request on this request's stream");
    if (req->id && req->answered)
        return verdict(res, ANSWER_DROP, "a second response for a request already answered");
    /* The server's own stream carries no response (the spec: only a resumed
     * stream replays one); a client that reads every stream alike would take
     * it for the answer to a request warden holds, refused or answers itself. */
    if (!req->id && !req->replay)
        return verdict(res, ANSWER_DROP, "a response on a stream that answers no request");
    if (rel == ID_LENIENT) {
        res->answers_request = true;
        return verdict(res, ANSWER_FAIL, "the response's id is the request's only to a lenient client (type or spelling differs)");
    }
    res->answers_request = rel == ID_EXACT;
    if (res->answers_request)
        res->is_error = r->error.start || r->is_error_true;
    struct edits ed = {.n = 0};
    if (req->cache && res->answers_request)
        cache_edits(req->cache, r, &ed);
    if (req->filter && r->tools.start)
        return filter_tools(req, r, json, len, &ed, out, res, res->answers_request ? ANSWER_FAIL : ANSWER_DROP);
    return rewrite_cache(json, len, &ed, out, res);
}

int answer_check(const struct answer_req *req, const char *json, size_t len, struct evbuffer *out,
                 struct answer_result *res)
{
    memset(res, 0, sizeof *res);
    /* An SSE event without data (a priming event, 2025-11-25) carries no
     * message: no client reads one from it. */
    size_t blank = 0;
    while (blank < len && (json[blank] == ' ' || json[blank] == '\t' || json[blank] == '\n' || json[blank] == '\r'))
        blank++;
    if (blank == len) {
        res->verdict = ANSWER_DROP;
        res->why = "no message (empty data)";
        return 0;
    }
    struct reading r = {.filtering = req->filter != NULL, .msg_len = len};
    const struct json_watch watch = {on_member, on_value, &r};
    struct rpc_error err;
    int rc = 0;
    if (json_scan(json, len, req->limits, &watch, W_ROOT, &err) < 0) {
        if (r.oom || err.code == RPC_INTERNAL_ERROR) {
            rc = -1;
        } else {
            bool waiting = req->id && !req->answered;
            res->answers_request = waiting;
            snprintf(res->detail, sizeof res->detail, "%s", err.message);
            verdict(res, waiting ? ANSWER_FAIL : ANSWER_DROP,
                    err.code == RPC_INVALID_REQUEST
                        ? "a server message a case-insensitive client would read otherwise"
                        : "a server message that is not strict JSON (syntax, UTF-8, surrogates, duplicate keys, depth or size)");
        }
    } else {
        rc = judge(req, &r, json, len, out, res);
    }
    if (rc < 0) {
        memset(res, 0, sizeof *res);
        res->verdict = ANSWER_FAIL;
        res->answers_request = req->id && !req->answered;
        res->is_error = res->answers_request;
        res->why = "out of memory";
    }
    free(r.items);
    free(r.names);
    return rc;
}
