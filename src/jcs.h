/* jcs.c: the canonical form of JSON text, as RFC 8785 (JSON Canonicalization
 * Scheme) defines it, read strictly from the bytes themselves (never through
 * cJSON, whose NUL-terminated strings would make "a\u0000b" and "a" equal):
 *  - no whitespace; object members sorted by their names' UTF-16 code units;
 *  - strings as UTF-8 with only \" \\ \b \f \n \r \t and \u00xx (lower-case
 *    hex, for the other controls) escaped; escapes in the input decoded,
 *    surrogate pairs joined;
 *  - numbers as IEEE 754 doubles written as ECMAScript's Number.toString
 *    writes them (shortest round-trip digits; 1e21 and up, and below 1e-6,
 *    in exponent form "1e+21"; -0 is "0"). So 1.0, 10e-1 and 1 are one
 *    number, and integers past 2^53 are rounded to the nearest double, as
 *    JCS does: two definitions differing only below a double's precision
 *    canonicalize alike. A number beyond a double's range (1e400) is refused.
 * Refused: anything that is not strict RFC 8259 JSON (UTF-8 not well formed,
 * lone surrogates, control bytes in strings, trailing text), duplicate member
 * names (after escapes are decoded), nesting deeper than max_depth, and output
 * beyond max_bytes. */
#ifndef WARDEN_JCS_H
#define WARDEN_JCS_H
#include <stddef.h>

/* Writes the canonical form of json[0..len) to *out (malloc'd, NUL-terminated,
 * the caller frees it) and its length to *out_len. Returns 0, or -1 with a
 * reason in err (and *out NULL). */
int jcs_canonicalize(const char *json, size_t len, size_t max_depth, size_t max_bytes, char **out, size_t *out_len,
                     char *err, size_t errlen);

#endif
