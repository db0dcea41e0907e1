/* pathnorm.c: POSIX path normalization for paths an agent controls, the C
 * twin of lua/warden/path.lua: "//" and "." collapse, ".." is resolved as
 * text (symbolic links are the server's business). JSON policies use it for
 * `path_under` and `path_matches`. */
#ifndef WARDEN_PATHNORM_H
#define WARDEN_PATHNORM_H
#include <stddef.h>

/* Normalizes the absolute path in[0..len) into out (cap bytes, NUL-terminated;
 * the result is never longer than the input). Returns its length, or -1 with
 * *why set (a static text) when the path is empty, relative (it is under
 * nothing: its base is the server's business), holds a NUL or a backslash
 * (another system's separator), climbs above "/" with "..", or does not fit. */
long path_normalize(const char *in, size_t len, char *out, size_t cap, const char **why);

/* True when the normalized path p[0..len) is root or inside it; root is
 * normalized too ("/" holds every absolute path). */
int path_is_under(const char *p, size_t len, const char *root);
#endif
