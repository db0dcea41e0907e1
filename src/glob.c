#include "glob.h"

#include <string.h>

enum token { TOK_LITERAL, TOK_ANY, TOK_CLASS, TOK_STAR, TOK_GLOBSTAR };

/* The token starting at p (p < end): its kind and where the next one starts. */
static enum token token_at(const char *p, const char *end, const char **next)
{
    if (*p == '*') {
        const char *q = p + 1;
        while (q < end && *q == '*')
            q++;
        *next = q;
        return q - p > 1 ? TOK_GLOBSTAR : TOK_STAR;
    }
    if (*p == '?') {
        *next = p + 1;
        return TOK_ANY;
    }
    if (*p == '\\' && p + 1 < end) {
        *next = p + 2;
        return TOK_LITERAL;
    }
    if (*p == '[') {
        const char *q = p + 1;
        if (q < end && (*q == '!' || *q == '^'))
            q++;
        if (q < end && *q == ']')
            q++;
        while (q < end && *q != ']')
            q += *q == '\\' && q + 1 < end ? 2 : 1;
        if (q < end) {
            *next = q + 1;
            return TOK_CLASS;
        }
        /* an unclosed `[` is itself (glob_valid refuses it in policies) */
    }
    *next = p + 1;
    return TOK_LITERAL;
}

/* Whether c is in the class token [p, next): p at '[', next just past ']'. */
static bool class_match(const char *p, const char *next, unsigned char c)
{
    const char *end = next - 1;
    p++;
    bool negate = *p == '!' || *p == '^';
    if (negate)
        p++;
    bool hit = false;
    while (p < end) {
        unsigned char lo = (unsigned char)*p++;
        if (lo == '\\' && p < end)
            lo = (unsigned char)*p++;
        unsigned char hi = lo;
        if (p + 1 < end && p[0] == '-') {
            p++;
            hi = (unsigned char)*p++;
            if (hi == '\\' && p < end)
                hi = (unsigned char)*p++;
        }
        if (c >= lo && c <= hi)
            hit = true;
    }
    return hit != negate;
}

bool glob_valid(const char *pattern)
{
    if (strlen(pattern) > GLOB_MAX)
        return false;
    for (const char *p = pattern; *p; p++) {
        if (*p == '\\') {
            if (!*++p)
                return false;
        } else if (*p == '[') {
            const char *q = p + 1;
            if (*q == '!' || *q == '^')
                q++;
            if (*q == ']')
                q++;
            while (*q && *q != ']') {
                if (*q == '\\' && q[1])
                    q++;
                q++;
            }
            if (!*q)
                return false;
            p = q;
        }
    }
    return true;
}

bool glob_has_wildcard(const char *pattern)
{
    return strpbrk(pattern, "*?[\\") != NULL;
}

size_t glob_prefix_len(const char *pattern, size_t plen)
{
    size_t n = 0;
    while (n < plen && pattern[n] != '*' && pattern[n] != '?' && pattern[n] != '[' && pattern[n] != '\\')
        n++;
    return n;
}

/* Adds to a state set what the stars in it reach by matching nothing. States
 * are token starts, in increasing order, so one pass settles chains of stars. */
static void closure(const char *pat, const char *end, unsigned char *st)
{
    for (const char *p = pat, *next; p < end; p = next) {
        enum token t = token_at(p, end, &next);
        if (st[p - pat] && (t == TOK_STAR || t == TOK_GLOBSTAR))
            st[next - pat] = 1;
    }
}

/* The pattern's tail t[0..tlen) after its literal prefix against what
 * follows the prefix in the text, s[0..len), when the tail is one run of
 * stars and then plain characters (`debug_*`, `*_admin`, `a**b`): 1 or 0
 * by comparing the suffix (and looking for a `/` under a single star);
 * -1 when the tail is of any other shape. */
static int star_tail(const char *t, size_t tlen, const char *s, size_t len)
{
    size_t stars = 0;
    while (stars < tlen && t[stars] == '*')
        stars++;
    const char *suffix = t + stars;
    size_t slen = tlen - stars;
    if (!stars || glob_prefix_len(suffix, slen) != slen)
        return -1;
    if (len < slen || (slen && memcmp(s + len - slen, suffix, slen) != 0))
        return 0;
    return stars > 1 || !memchr(s, '/', len - slen);
}

bool glob_match_n(const char *pat, size_t plen, const char *s, size_t len)
{
    if (plen > GLOB_MAX)
        return false;
    size_t lit = glob_prefix_len(pat, plen);
    if (lit == plen)
        return plen == len && memcmp(pat, s, len) == 0;
    /* The literal prefix decides most misses without the automaton. */
    if (len < lit || memcmp(pat, s, lit) != 0)
        return false;
    int simple = star_tail(pat + lit, plen - lit, s + lit, len - lit);
    if (simple >= 0)
        return simple;
    /* The pattern's automaton, simulated: cur[k] is set when the text read
     * so far can end just before the token starting at pat[k]. */
    unsigned char a[GLOB_MAX + 1], b[GLOB_MAX + 1];
    unsigned char *cur = a, *nxt = b;
    const char *end = pat + plen;
    memset(cur, 0, plen + 1);
    cur[0] = 1;
    closure(pat, end, cur);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool alive = false;
        memset(nxt, 0, plen + 1);
        for (const char *p = pat, *next; p < end; p = next) {
            enum token t = token_at(p, end, &next);
            if (!cur[p - pat])
                continue;
            bool step = false;
            switch (t) {
            case TOK_STAR:
                if (c != '/')
                    nxt[p - pat] = 1, alive = true;
                break;
            case TOK_GLOBSTAR:
                nxt[p - pat] = 1, alive = true;
                break;
            case TOK_ANY:
                step = c != '/';
                break;
            case TOK_CLASS:
                step = c != '/' && class_match(p, next, c);
                break;
            case TOK_LITERAL:
                step = (unsigned char)(*p == '\\' && next - p == 2 ? p[1] : *p) == c;
                break;
            }
            if (step)
                nxt[next - pat] = 1, alive = true;
        }
        if (!alive)
            return false;
        closure(pat, end, nxt);
        unsigned char *tmp = cur;
        cur = nxt;
        nxt = tmp;
    }
    return cur[plen] != 0;
}

bool glob_match(const char *pattern, const char *s, size_t len)
{
    /* The literal prefix compared as it is read, without measuring the
     * pattern first: most misses end within its first bytes. */
    size_t i = 0;
    for (; pattern[i] && pattern[i] != '*' && pattern[i] != '?' && pattern[i] != '[' && pattern[i] != '\\'; i++)
        if (i == len || pattern[i] != s[i])
            return false;
    if (!pattern[i])
        return i == len && i <= GLOB_MAX;
    size_t plen = i + strlen(pattern + i);
    if (plen > GLOB_MAX)
        return false;
    int simple = star_tail(pattern + i, plen - i, s + i, len - i);
    return simple >= 0 ? simple : glob_match_n(pattern, plen, s, len);
}

double glob_cost(size_t plen, size_t len)
{
    return ((double)len + 1) * ((double)plen + 1);
}
