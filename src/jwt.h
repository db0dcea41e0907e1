/* jwt.c: verifies compact JWS access tokens (RFC 7515/7519) against a JWKS,
 * with OpenSSL EVP directly: strict base64url and JSON, an algorithm both
 * allowed and suited to the key, the signature, then the claims. */
#ifndef WARDEN_JWT_H
#define WARDEN_JWT_H
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "jose.h"

struct jwks;
struct jwk;


/* Why a token was refused: each check has its own reason. */
enum jwt_status {
    JWT_OK = 0,
    JWT_TOO_LARGE,          /* longer than JWT_MAX_BYTES */
    JWT_MALFORMED,          /* not three dot-separated parts */
    JWT_BAD_BASE64,         /* a part is not unpadded base64url */
    JWT_BAD_JSON,           /* header or payload not one strict JSON object */
    JWT_DUPLICATE_KEY,      /* a member given twice in header or payload */
    JWT_ALG_NONE,           /* alg "none": an unsigned token */
    JWT_ALG_HMAC,           /* alg HS256/384/512: never accepted (the verifier's key is public) */
    JWT_ALG_NOT_ALLOWED,    /* alg missing, unknown, or not in the allow-list */
    JWT_BAD_HEADER,         /* crit, jku, x5u, jwk, x5c, or a typ other than JWT / at+jwt */
    JWT_UNKNOWN_KID,        /* no key in the set has this kid */
    JWT_ALG_KEY_MISMATCH,   /* the key is not of the kind alg needs, or its own alg differs */
    JWT_BAD_SIGNATURE,
    JWT_MISSING_EXP,
    JWT_EXPIRED,
    JWT_NOT_YET_VALID,      /* nbf in the future (past the leeway) */
    JWT_ISSUED_IN_FUTURE,   /* iat in the future (past the leeway) */
    JWT_BAD_CLAIM,          /* exp, nbf, iat, iss, aud, scope, scp or the principal claim of the wrong type */
    JWT_WRONG_ISSUER,
    JWT_WRONG_AUDIENCE,
    JWT_NO_PRINCIPAL,       /* the principal claim is missing or empty */
    JWT_NO_KEYS,            /* no key set is available yet */
    JWT_INTERNAL,           /* OpenSSL or memory failed */
    JWT_NSTATUS
};

/* A short reason for logs and the WWW-Authenticate error_description
 * ("token expired"). Never includes the token. */
const char *jwt_status_text(enum jwt_status st);

#define JWT_MAX_BYTES 8192

/* A token split and decoded, not yet verified. */
struct jwt_token {
    cJSON *header, *payload;        /* owned */
    int alg;                        /* enum jwt_alg, or -1 when not one warden verifies */
    const char *kid;                /* in header, or NULL */
    size_t signing_len;             /* bytes of "HEADER.PAYLOAD" at the start of the token */
    unsigned char *sig;             /* owned */
    size_t sig_len;
};

/* Splits token[0..len) into its parts and decodes them strictly. Returns
 * JWT_OK (free with jwt_token_clear), or the reason (nothing to free). */
enum jwt_status jwt_decode(const char *token, size_t len, struct jwt_token *out);
void jwt_token_clear(struct jwt_token *t);

/* What a deployment accepts. */
struct jwt_rules {
    const char *issuer;             /* iss must be exactly this */
    const char *audience;           /* aud (a string or an array) must contain it */
    unsigned algs;                  /* bit (1u << enum jwt_alg) per allowed algorithm */
    double leeway_s;                /* for exp, nbf and iat */
    const char *principal_claim;    /* "sub" when NULL */
};

/* Checks the signature of a decoded token with key: alg must be allowed
 * and suit the key's type. */
enum jwt_status jwt_check_signature(const struct jwt_token *t, const char *token, const struct jwk *key,
                                    const struct jwt_rules *rules);

/* Checks the claims at time now (seconds since the epoch): exp required,
 * nbf and iat, iss, aud, the principal claim. */
enum jwt_status jwt_check_claims(const struct jwt_token *t, const struct jwt_rules *rules, double now);

/* The whole verification: decode, allow-listed alg, header, key by kid,
 * signature, claims. On JWT_OK *out holds the token (the caller clears
 * it); otherwise nothing is to be freed. */
enum jwt_status jwt_verify(const char *token, size_t len, const struct jwks *keys, const struct jwt_rules *rules,
                           double now, struct jwt_token *out);

/* The scopes of a verified token: "scope" (space-separated) or "scp" (an
 * array of strings, or a space-separated string). Returns a NULL-terminated
 * array of owned strings (the caller frees each and the array), an empty
 * one when there are none; NULL when out of memory. */
char **jwt_scopes(const struct jwt_token *t, size_t *n);
#endif
