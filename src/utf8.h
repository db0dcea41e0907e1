/* utf8.c: recognising well-formed UTF-8, for output formats that must stay
 * valid text (audit lines, Prometheus labels) whatever bytes agents send. */
#ifndef WARDEN_UTF8_H
#define WARDEN_UTF8_H
#include <stddef.h>

/* The length (1 to 4) of the well-formed UTF-8 sequence that starts at s, of
 * the n bytes available; 0 when those bytes are not one (stray continuation
 * byte, overlong form, surrogate, beyond U+10FFFF, cut short). */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* The replacement character U+FFFD, written in place of a byte that is not UTF-8. */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"
#endif
