/* glob.c: shell-style patterns for tool names and argument values:
 * `*`, `?`, `[a-z0-9]`, `[!x]` and `\` escapes. */
#ifndef WARDEN_GLOB_H
#define WARDEN_GLOB_H
#include <stdbool.h>
#include <stddef.h>

/* True when the pattern is well formed (every `[` closed, no trailing `\`). */
bool glob_valid(const char *pattern);
/* True when pattern has a wildcard at all (else it names one exact string). */
bool glob_has_wildcard(const char *pattern);
/* Matches s[0..len) against the pattern. Time is O(len x pattern length) at
 * worst, never exponential: a single backtrack point is kept. */
bool glob_match(const char *pattern, const char *s, size_t len);
#endif
