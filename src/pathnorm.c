#include "pathnorm.h"

#include <string.h>

long path_normalize(const char *in, size_t len, char *out, size_t cap, const char **why)
{
    if (len == 0) {
        *why = "not a path";
        return -1;
    }
    if (memchr(in, '\0', len) || memchr(in, '\\', len)) {
        *why = "NUL or backslash in path";
        return -1;
    }
    if (in[0] != '/') {
        *why = "relative path";
        return -1;
    }
    if (cap < len + 1) {
        *why = "path too long";
        return -1;
    }
    size_t o = 0;   /* out[0..o) is the normalized prefix, without a trailing '/' */
    size_t i = 0;
    while (i < len) {
        while (i < len && in[i] == '/')
            i++;
        size_t start = i;
        while (i < len && in[i] != '/')
            i++;
        size_t seg = i - start;
        if (seg == 0 || (seg == 1 && in[start] == '.'))
            continue;
        if (seg == 2 && in[start] == '.' && in[start + 1] == '.') {
            if (o == 0) {
                *why = "path escapes its root";
                return -1;
            }
            while (o > 0 && out[o - 1] != '/')
                o--;
            o--;    /* the '/' before the dropped segment */
            continue;
        }
        out[o++] = '/';
        memcpy(out + o, in + start, seg);
        o += seg;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return (long)o;
}

int path_is_under(const char *p, size_t len, const char *root)
{
    size_t rlen = strlen(root);
    if (rlen == 1 && root[0] == '/')
        return len > 0 && p[0] == '/';
    if (len < rlen || memcmp(p, root, rlen) != 0)
        return 0;
    return len == rlen || p[rlen] == '/';
}
