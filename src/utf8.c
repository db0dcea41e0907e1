#include "utf8.h"

#include <stdio.h>
#include <string.h>

/* Follows the table of well-formed byte sequences in the Unicode standard
 * (table 3-7): the second byte's range depends on the first byte, which is
 * what rules out overlong forms, surrogates and code points past U+10FFFF. */
size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned char b = s[0];
    if (b < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* The length of the sequence lead byte b starts (0: not a lead byte). */
static size_t lead_len(unsigned char b)
{
    return b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
}

/* See utf8.h: looks back over continuation bytes for the lead byte of the
 * last sequence, and drops it when it wants more bytes than are there. */
size_t utf8_cut(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char b = u[n - k];
        if (b >= 0x80 && b <= 0xBF)
            continue;
        size_t want = lead_len(b);
        return want > k ? n - k : n;
    }
    return n;
}

/* See utf8.h. */
size_t utf8_copy(char *dst, size_t size, const char *src, size_t len)
{
    size_t n = len;
    if (n > size - 1)
        n = utf8_cut(src, size - 1);
    memmove(dst, src, n);
    dst[n] = '\0';
    return n;
}

/* See utf8.h. */
size_t utf8_vsnprintf(char *dst, size_t size, const char *fmt, va_list ap)
{
    int w = vsnprintf(dst, size, fmt, ap);
    if (w < 0) {
        dst[0] = '\0';
        return 0;
    }
    if ((size_t)w < size)
        return (size_t)w;
    size_t n = utf8_cut(dst, size - 1);
    dst[n] = '\0';
    return n;
}

/* See utf8.h. */
size_t utf8_snprintf(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = utf8_vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    return n;
}
