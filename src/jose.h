/* jose.c: what JWS tokens (jwt.c) and key sets (jwks.c) both read: the
 * algorithms warden verifies, strict base64url, and strict JSON. */
#ifndef WARDEN_JOSE_H
#define WARDEN_JOSE_H
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

enum jwt_alg { JWT_RS256, JWT_RS384, JWT_RS512, JWT_PS256, JWT_ES256, JWT_ES384, JWT_EDDSA, JWT_NALGS };

/* The JOSE name of an algorithm ("RS256", ..., "EdDSA"). */
const char *jwt_alg_name(enum jwt_alg alg);
/* The algorithm named s, or -1 (none, HS*, and anything else warden does not verify). */
int jwt_alg_from_name(const char *s);

/* Decodes unpadded base64url (RFC 4648 §5) strictly: no padding, no other
 * alphabet, no whitespace, unused trailing bits zero. Returns a malloc'd
 * buffer (plus a NUL byte not counted in *out_len), or NULL. */
unsigned char *jose_b64url_decode(const char *s, size_t len, size_t *out_len);

/* Parses text[0..len) as strict JSON for JOSE: valid UTF-8, no NUL, at
 * most max_depth levels, and no member repeated in any object (cJSON
 * would keep the first and others the last). Returns the tree, or NULL
 * with *dup set when the only fault was a repeated member. */
cJSON *jose_json_parse(const char *text, size_t len, size_t max_depth, bool *dup);
#endif
