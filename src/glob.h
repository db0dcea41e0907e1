/* glob.c: the one glob dialect of warden, used by JSON policies (tool names,
 * `hide`, `matches`) and by Lua's warden.lib.glob:
 *   `*`   any run of characters except `/` (within one path segment)
 *   `**`  any run of characters, `/` included (two or more stars)
 *   `?`   one character except `/`
 *   `[a-z0-9]`, `[!x]` (or `[^x]`): one character of (not of) the class, never `/`
 *   `\x`  the character x itself
 * and every other character itself. The pattern matches the whole string.
 * Tool names have no `/`, so for them `*` and `**` are the same. */
#ifndef WARDEN_GLOB_H
#define WARDEN_GLOB_H
#include <stdbool.h>
#include <stddef.h>

/* Patterns longer than this are refused (glob_valid) and never match: the
 * matcher's state then lives on the stack, with no allocation to fail. */
#define GLOB_MAX 1024

/* True when the pattern is well formed: every `[` closed, no trailing `\`,
 * at most GLOB_MAX bytes. */
bool glob_valid(const char *pattern);
/* True when pattern has a wildcard at all (else it names one exact string). */
bool glob_has_wildcard(const char *pattern);
/* How many leading bytes of the pattern are plain characters, each matching
 * only itself: every string the pattern matches starts with them. Lets a
 * caller with many patterns index them by this literal prefix. */
size_t glob_prefix_len(const char *pattern, size_t plen);
/* Matches s[0..len) against the NUL-terminated pattern. */
bool glob_match(const char *pattern, const char *s, size_t len);
/* The same for a pattern of plen bytes (it may hold NUL bytes). */
bool glob_match_n(const char *pattern, size_t plen, const char *s, size_t len);
/* An upper bound of the steps glob_match_n takes: (len + 1) x (plen + 1).
 * The matcher simulates the pattern's automaton, so time never grows
 * exponentially; callers with a budget (Lua) charge this before matching. */
double glob_cost(size_t plen, size_t len);
#endif
