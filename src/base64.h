/* base64.h: the digits of Base64 (RFC 4648 §4) and of base64url (§5), for
 * the decoders of era.c (the "=?base64?...?=" header sentinel, lenient) and
 * jose.c (JWS parts and JWKs, strict). Inline: they run once per byte. */
#ifndef WARDEN_BASE64_H
#define WARDEN_BASE64_H
#include <stdbool.h>

/* The value (0..63) of digit c in the standard alphabet, or in the URL one
 * when url ('-' and '_' where the standard has '+' and '/'); -1 for any
 * other byte. */
static inline int base64_digit(unsigned char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    return c == (url ? '_' : '/') ? 63 : -1;
}
#endif
