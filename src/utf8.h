/* utf8.c: recognising well-formed UTF-8, for output formats that must stay
 * valid text (audit lines, Prometheus labels) whatever bytes agents send,
 * and cutting text to fit a buffer without splitting a character. */
#ifndef WARDEN_UTF8_H
#define WARDEN_UTF8_H
#include <stdarg.h>
#include <stddef.h>

/* The length (1 to 4) of the well-formed UTF-8 sequence that starts at s, of
 * the n bytes available; 0 when those bytes are not one (stray continuation
 * byte, overlong form, surrogate, beyond U+10FFFF, cut short). */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* The length of s[0..n) without the first bytes of a UTF-8 sequence that
 * n cuts short (at most 3 bytes, a lead byte and its continuations), so
 * that text cut to fit a buffer never ends inside a character. Bytes that
 * are not part of such a sequence are left alone. */
size_t utf8_cut(const char *s, size_t n);

/* Copies src[0..len) into dst (size > 0) NUL-terminated, cut at a character
 * boundary when it does not fit; returns the bytes copied. */
size_t utf8_copy(char *dst, size_t size, const char *src, size_t len);

/* snprintf and vsnprintf into dst (size > 0) that cut text too long for dst
 * at a character boundary; return the length written. */
size_t utf8_snprintf(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t utf8_vsnprintf(char *dst, size_t size, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* The replacement character U+FFFD, written in place of a byte that is not UTF-8. */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"
#endif
