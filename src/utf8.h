/* utf8.c: recognising well-formed UTF-8, for output formats that must stay
 * valid text (audit lines, Prometheus labels) whatever bytes agents send,
 * and cutting text to fit a buffer without splitting a character. */
#ifndef WARDEN_UTF8_H
#define WARDEN_UTF8_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length (1 to 4) of the well-formed UTF-8 sequence that starts at s, of
 * the n bytes available; 0 when those bytes are not one (stray continuation
 * byte, overlong form, surrogate, beyond U+10FFFF, cut short). */
size_t utf8_seq_len(const unsigned char *s, size_t n);
/* Writes code point cp (at most 0x10FFFF) as UTF-8 into out[0..4); returns the length. */
size_t utf8_encode(uint32_t cp, char *out);

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
/* Unicode simple case folding, as Go's encoding/json matches object keys to
 * struct fields (bytes.EqualFold: two texts are equal when they have as many
 * code points and each pair folds to the same one). The table is every
 * mapping of status C and S of CaseFolding.txt (Unicode 14; Go 1.21+ uses 15.0,
 * which added no case pairs), for every script, so it is the equivalence that
 * unicode.SimpleFold iterates: ASCII case, U+017F (long s) ~ s, U+212A
 * (Kelvin) ~ k, U+212B ~ U+00E5, Greek final sigma, Cherokee, Deseret...
 * Turkic mappings (status T) and full foldings (F, e.g. U+00DF ~ "ss") are
 * not simple folds: Go does not apply them, nor do these functions. Bytes
 * that are not UTF-8 fold to U+FFFD, as Go decodes them. */
uint32_t utf8_simple_fold(uint32_t cp);

/* Orders two UTF-8 texts by their folded code points: 0 exactly when Go's
 * bytes.EqualFold(a, b) is true. */
int utf8_fold_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* True when s[0..n) is the ASCII text `ascii` to some case-insensitive
 * reader: ASCII case, plus the four code points that such readers take for
 * an ASCII letter: U+017F and U+212A (Go's simple folding: s, k), U+0131 and
 * U+0130 (.NET's OrdinalIgnoreCase and Java's equalsIgnoreCase upper- or
 * lower-case them to I, i). Any other non-ASCII character is no ASCII letter
 * to them. For keys warden reads, which are ASCII. */
bool utf8_ascii_alike(const char *s, size_t n, const char *ascii);

/* Writes to out the form of key s[0..n) that every case-insensitive reader
 * above agrees on: simple folding, and U+0130/U+0131 as i. Two keys one of
 * those readers takes for the same have the same form. out needs room for
 * 3 * n bytes (a byte that is not UTF-8 becomes U+FFFD); returns the length. */
size_t utf8_key_fold(const char *s, size_t n, char *out);

/* The replacement character U+FFFD, written in place of a byte that is not UTF-8. */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"
#endif
