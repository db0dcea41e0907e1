/* Unit tests of Unicode simple case folding (src/utf8.c), with the orbits
 * of Go's unicode.SimpleFold tests: keys in one orbit are one key to Go's
 * encoding/json, keys in different ones are not. */
#include <string.h>
#include "check.h"
#include "utf8.h"

/* Each string lists one whole orbit: all its characters fold together. */
static const char *const orbits[] = {
    "Aa", "\xce\xb4\xce\x94",                                   /* δΔ */
    "Kk\xe2\x84\xaa",                                           /* K k KELVIN SIGN */
    "Ss\xc5\xbf",                                               /* S s LONG S */
    "\xc3\x85\xc3\xa5\xe2\x84\xab",                             /* Å å ANGSTROM SIGN */
    "\xc2\xb5\xce\x9c\xce\xbc",                                 /* µ Μ μ */
    "\xcf\x81\xcf\xb1\xce\xa1",                                 /* ρ ϱ Ρ */
    "\xcd\x85\xce\x99\xce\xb9\xe1\xbe\xbe",                     /* ͅ Ι ι ι */
    "\xce\xa3\xcf\x83\xcf\x82",                                 /* Σ σ ς */
    "\xc7\x84\xc7\x85\xc7\x86",                                 /* Ǆ ǅ ǆ */
    "\xe1\xba\x9e\xc3\x9f",                                     /* ẞ ß */
    "\xce\xa9\xcf\x89\xe2\x84\xa6",                             /* Ω ω OHM SIGN */
    "\xd0\x96\xd0\xb6",                                         /* Ж ж */
    "\xe1\x8e\xb0\xea\xae\x80",                                 /* Cherokee Ᏸ ꮀ (upper before lower) */
    "\xf0\x90\x90\x80\xf0\x90\x90\xa8",                         /* Deseret 𐐀 𐐨 */
    "\xc4\xb0",                                                 /* İ alone: Turkic only */
    "\xc4\xb1",                                                 /* ı alone */
    "Ii",
};

/* The next character of s (UTF-8), as a separate string. */
static size_t next_char(const char *s, char *out)
{
    size_t n = utf8_seq_len((const unsigned char *)s, strlen(s));
    memcpy(out, s, n);
    out[n] = '\0';
    return n;
}

int main(void)
{
    size_t norbits = sizeof orbits / sizeof *orbits;
    for (size_t o = 0; o < norbits; o++) {
        for (const char *a = orbits[o]; *a;) {
            char ca[8];
            a += next_char(a, ca);
            for (size_t p = 0; p < norbits; p++) {
                for (const char *b = orbits[p]; *b;) {
                    char cb[8];
                    b += next_char(b, cb);
                    int c = utf8_fold_cmp(ca, strlen(ca), cb, strlen(cb));
                    if ((c == 0) != (o == p))
                        fprintf(stderr, "%s vs %s: %d\n", ca, cb, c);
                    CHECK((c == 0) == (o == p));
                    CHECK(c == -utf8_fold_cmp(cb, strlen(cb), ca, strlen(ca)));
                }
            }
        }
    }
    /* whole keys: as many code points, each pair folding together */
    CHECK(utf8_fold_cmp("arguments", 9, "ARGUMENT\xc5\xbf", 10) == 0);
    CHECK(utf8_fold_cmp("mask", 4, "MAS\xe2\x84\xaa", 6) == 0);
    CHECK(utf8_fold_cmp("ss", 2, "\xc3\x9f", 2) != 0); /* full folding, not simple */
    CHECK(utf8_fold_cmp("name", 4, "names", 5) < 0);
    CHECK(utf8_fold_cmp("", 0, "", 0) == 0);
    CHECK(utf8_fold_cmp("\xff", 1, "\xef\xbf\xbd", 3) == 0); /* not UTF-8 reads as U+FFFD, as in Go */
    /* ASCII to some case-insensitive reader */
    CHECK(utf8_ascii_alike("Params", 6, "params") && utf8_ascii_alike("PARAMS", 6, "params"));
    CHECK(utf8_ascii_alike("param\xc5\xbf", 7, "params"));            /* long s */
    CHECK(utf8_ascii_alike("\xe2\x84\xaa" "ey", 5, "key"));             /* Kelvin sign */
    CHECK(utf8_ascii_alike("\xc4\xb1" "d", 3, "id") && utf8_ascii_alike("\xc4\xb0" "D", 3, "id"));
    CHECK(!utf8_ascii_alike("param", 5, "params") && !utf8_ascii_alike("paramss", 7, "params"));
    CHECK(!utf8_ascii_alike("\xc5\xbf", 2, "k") && !utf8_ascii_alike("\xc3\xa9", 2, "e"));
    CHECK(!utf8_ascii_alike("\xc5", 1, "s") && utf8_ascii_alike("", 0, ""));
    CHECK(utf8_simple_fold('A') == 'a' && utf8_simple_fold(0x17F) == 's' && utf8_simple_fold(0x212A) == 'k');
    CHECK(utf8_simple_fold(0x130) == 0x130 && utf8_simple_fold(0x10FFFF) == 0x10FFFF);
    CHECK(utf8_simple_fold(0x1E9E) == 0xDF && utf8_simple_fold(0x13F8) == 0x13F0); /* Cherokee small ye */
    return check_report();
}
