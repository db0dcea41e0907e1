/* utf8.c: recognising well-formed UTF-8, for output formats that must stay
 * valid text (audit lines, Prometheus labels) whatever bytes agents send. */
#ifndef WARDEN_UTF8_H
#define WARDEN_UTF8_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length (1 to 4) of the well-formed UTF-8 sequence that starts at s, of
 * the n bytes available; 0 when those bytes are not one (stray continuation
 * byte, overlong form, surrogate, beyond U+10FFFF, cut short). */
size_t utf8_seq_len(const unsigned char *s, size_t n);

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

/* A hash of the folded text: texts that compare 0 above hash the same. */
uint64_t utf8_fold_hash(const char *s, size_t n);

/* The replacement character U+FFFD, written in place of a byte that is not UTF-8. */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"
#endif
