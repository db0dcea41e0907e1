#include "glob.h"

#include <string.h>

/* Matches one character against the class starting at *pp (just after '[');
 * advances *pp past the closing ']'. */
static bool class_match(const char **pp, unsigned char c)
{
    const char *p = *pp;
    bool negate = *p == '!' || *p == '^';
    if (negate)
        p++;
    bool hit = false;
    const char *start = p;
    while (*p && (*p != ']' || p == start)) {
        unsigned char lo = (unsigned char)*p++;
        if (lo == '\\' && *p)
            lo = (unsigned char)*p++;
        unsigned char hi = lo;
        if (p[0] == '-' && p[1] && p[1] != ']') {
            p++;
            hi = (unsigned char)*p++;
            if (hi == '\\' && *p)
                hi = (unsigned char)*p++;
        }
        if (c >= lo && c <= hi)
            hit = true;
    }
    *pp = *p == ']' ? p + 1 : p;
    return hit != negate;
}

bool glob_valid(const char *pattern)
{
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

bool glob_match(const char *pattern, const char *s, size_t len)
{
    const char *p = pattern, *star_p = NULL;
    size_t i = 0, star_i = 0;
    while (i < len) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            if (!*p)
                return true;
            star_p = p;
            star_i = i;
            continue;
        }
        const char *next = p;
        bool ok = false;
        if (*p == '?') {
            ok = true;
            next = p + 1;
        } else if (*p == '[') {
            next = p + 1;
            ok = class_match(&next, (unsigned char)s[i]);
        } else if (*p == '\\' && p[1]) {
            ok = p[1] == s[i];
            next = p + 2;
        } else if (*p) {
            ok = *p == s[i];
            next = p + 1;
        }
        if (ok) {
            p = next;
            i++;
        } else if (star_p) {
            /* Let the last star take one more character and try again from there. */
            p = star_p;
            i = ++star_i;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return !*p;
}
