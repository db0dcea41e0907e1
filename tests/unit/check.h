/* A minimal assertion kit for warden's unit tests: each failed CHECK prints its
 * place and the test exits 1 at the end; the last line follows the plain
 * "N passed, N failed" form so CI can count checks. */
#ifndef WARDEN_TEST_CHECK_H
#define WARDEN_TEST_CHECK_H
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond) do { \
    if (cond) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_STR(got, want) do { \
    const char *g_ = (got), *w_ = (want); \
    if (g_ && w_ && strcmp(g_, w_) == 0) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); } \
} while (0)

#define CHECK_MEM(got, glen, want) do { \
    const char *w_ = (want); size_t wl_ = strlen(w_); \
    if ((size_t)(glen) == wl_ && memcmp((got), w_, wl_) == 0) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: got \"%.*s\", want \"%s\"\n", __FILE__, __LINE__, (int)(glen), (const char *)(got), w_); } \
} while (0)

static inline int check_report(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}
#endif
