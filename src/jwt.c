#include "jwt.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include "jwks.h"

static const char *const status_texts[JWT_NSTATUS] = {
    [JWT_OK] = "valid",
    [JWT_TOO_LARGE] = "token too large",
    [JWT_MALFORMED] = "not a compact JWS (three base64url parts)",
    [JWT_BAD_BASE64] = "a part is not unpadded base64url",
    [JWT_BAD_JSON] = "header or payload is not a strict JSON object",
    [JWT_DUPLICATE_KEY] = "a member is repeated in the header or payload",
    [JWT_ALG_NONE] = "unsigned token (alg none)",
    [JWT_ALG_HMAC] = "HMAC tokens are not accepted",
    [JWT_ALG_NOT_ALLOWED] = "signature algorithm not allowed",
    [JWT_BAD_HEADER] = "header parameter not accepted",
    [JWT_UNKNOWN_KID] = "no key for this kid",
    [JWT_ALG_KEY_MISMATCH] = "algorithm does not suit the key",
    [JWT_BAD_SIGNATURE] = "signature does not verify",
    [JWT_MISSING_EXP] = "token has no exp",
    [JWT_EXPIRED] = "token expired",
    [JWT_NOT_YET_VALID] = "token not valid yet (nbf)",
    [JWT_ISSUED_IN_FUTURE] = "token issued in the future (iat)",
    [JWT_BAD_CLAIM] = "a claim has the wrong type",
    [JWT_WRONG_ISSUER] = "wrong issuer",
    [JWT_WRONG_AUDIENCE] = "wrong audience",
    [JWT_NO_PRINCIPAL] = "token names no principal",
    [JWT_NO_KEYS] = "no signing keys available",
    [JWT_INTERNAL] = "internal error",
};

const char *jwt_status_text(enum jwt_status st)
{
    return (unsigned)st < JWT_NSTATUS ? status_texts[st] : "?";
}

void jwt_token_clear(struct jwt_token *t)
{
    cJSON_Delete(t->header);
    cJSON_Delete(t->payload);
    free(t->sig);
    memset(t, 0, sizeof *t);
}

/* Decodes one part as a JSON object. */
static enum jwt_status decode_object(const char *s, size_t len, cJSON **out)
{
    size_t n;
    unsigned char *raw = jose_b64url_decode(s, len, &n);
    if (!raw)
        return JWT_BAD_BASE64;
    bool dup;
    cJSON *obj = jose_json_parse((const char *)raw, n, 8, &dup);
    free(raw);
    if (!obj)
        return dup ? JWT_DUPLICATE_KEY : JWT_BAD_JSON;
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return JWT_BAD_JSON;
    }
    *out = obj;
    return JWT_OK;
}

enum jwt_status jwt_decode(const char *token, size_t len, struct jwt_token *out)
{
    memset(out, 0, sizeof *out);
    out->alg = -1;
    if (len > JWT_MAX_BYTES)
        return JWT_TOO_LARGE;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(token + len - d1 - 1)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', (size_t)(token + len - d2 - 1)) || d1 == token || d2 == d1 + 1 ||
        d2 + 1 == token + len)
        return JWT_MALFORMED;
    struct jwt_token t = {.alg = -1};
    enum jwt_status st = decode_object(token, (size_t)(d1 - token), &t.header);
    if (st == JWT_OK)
        st = decode_object(d1 + 1, (size_t)(d2 - d1 - 1), &t.payload);
    if (st == JWT_OK) {
        t.sig = jose_b64url_decode(d2 + 1, (size_t)(token + len - d2 - 1), &t.sig_len);
        if (!t.sig)
            st = JWT_BAD_BASE64;
    }
    if (st != JWT_OK) {
        jwt_token_clear(&t);
        return st;
    }
    t.signing_len = (size_t)(d2 - token);
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(t.header, "alg");
    if (cJSON_IsString(alg))
        t.alg = jwt_alg_from_name(alg->valuestring);
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(t.header, "kid");
    if (cJSON_IsString(kid))
        t.kid = kid->valuestring;
    else if (kid) {
        jwt_token_clear(&t);
        return JWT_BAD_HEADER;
    }
    *out = t;
    return JWT_OK;
}

/* ---- signatures ---- */

static bool alg_suits_key(enum jwt_alg alg, const struct jwk *key)
{
    if (key->alg && strcmp(key->alg, jwt_alg_name(alg)) != 0)
        return false;
    switch (alg) {
    case JWT_RS256:
    case JWT_RS384:
    case JWT_RS512:
    case JWT_PS256:
        return key->type == JWK_RSA;
    case JWT_ES256:
        return key->type == JWK_EC_P256;
    case JWT_ES384:
        return key->type == JWK_EC_P384;
    case JWT_EDDSA:
        return key->type == JWK_ED25519;
    case JWT_NALGS:
        break;
    }
    return false;
}

/* JOSE signs ECDSA as r || s, each the curve's size; OpenSSL wants DER. */
static unsigned char *ecdsa_der(const unsigned char *sig, size_t len, size_t coord, size_t *der_len)
{
    if (len != 2 * coord)
        return NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)coord, NULL);
    BIGNUM *s = BN_bin2bn(sig + coord, (int)coord, NULL);
    unsigned char *der = NULL;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL;   /* owned by es now */
        int n = i2d_ECDSA_SIG(es, &der);
        if (n <= 0) {
            der = NULL;
        } else {
            *der_len = (size_t)n;
        }
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return der;
}

enum jwt_status jwt_check_signature(const struct jwt_token *t, const char *token, const struct jwk *key,
                                    const struct jwt_rules *rules)
{
    if (t->alg < 0 || !(rules->algs & (1u << t->alg)))
        return JWT_ALG_NOT_ALLOWED;
    enum jwt_alg alg = (enum jwt_alg)t->alg;
    if (!alg_suits_key(alg, key))
        return JWT_ALG_KEY_MISMATCH;
    const EVP_MD *md = NULL;
    switch (alg) {
    case JWT_RS256:
    case JWT_PS256:
    case JWT_ES256:
        md = EVP_sha256();
        break;
    case JWT_RS384:
    case JWT_ES384:
        md = EVP_sha384();
        break;
    case JWT_RS512:
        md = EVP_sha512();
        break;
    case JWT_EDDSA:
    case JWT_NALGS:
        break;
    }
    const unsigned char *sig = t->sig;
    size_t sig_len = t->sig_len;
    unsigned char *der = NULL;
    if (alg == JWT_ES256 || alg == JWT_ES384) {
        der = ecdsa_der(t->sig, t->sig_len, alg == JWT_ES256 ? 32 : 48, &sig_len);
        if (!der) {
            ERR_clear_error();
            return JWT_BAD_SIGNATURE;
        }
        sig = der;
    }
    enum jwt_status st = JWT_INTERNAL;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (mctx && EVP_DigestVerifyInit(mctx, &pctx, md, NULL, key->key) == 1) {
        bool ready = true;
        if (alg == JWT_PS256)
            ready = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
                    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
        else if (key->type == JWK_RSA)
            ready = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
        if (ready) {
            int rc = EVP_DigestVerify(mctx, sig, sig_len, (const unsigned char *)token, t->signing_len);
            st = rc == 1 ? JWT_OK : JWT_BAD_SIGNATURE;
        }
    }
    EVP_MD_CTX_free(mctx);
    OPENSSL_free(der);
    ERR_clear_error();
    return st;
}

/* ---- claims ---- */

/* A NumericDate claim: absent (false, *present false), a number (true),
 * or of another type (false, *present true). */
static bool numeric_claim(const cJSON *payload, const char *name, double *out, bool *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(payload, name);
    *present = v != NULL;
    if (!v || !cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return false;
    *out = v->valuedouble;
    return true;
}

static bool audience_matches(const cJSON *aud, const char *want)
{
    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, want) == 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, aud)
        if (cJSON_IsString(a) && strcmp(a->valuestring, want) == 0)
            return true;
    return false;
}

static bool audience_well_typed(const cJSON *aud)
{
    if (cJSON_IsString(aud))
        return true;
    if (!cJSON_IsArray(aud))
        return false;
    const cJSON *a;
    cJSON_ArrayForEach(a, aud)
        if (!cJSON_IsString(a))
            return false;
    return true;
}

enum jwt_status jwt_check_claims(const struct jwt_token *t, const struct jwt_rules *rules, double now)
{
    const cJSON *p = t->payload;
    double exp = 0, nbf = 0, iat = 0;
    bool present;
    if (!numeric_claim(p, "exp", &exp, &present))
        return present ? JWT_BAD_CLAIM : JWT_MISSING_EXP;
    if (now >= exp + rules->leeway_s)
        return JWT_EXPIRED;
    if (numeric_claim(p, "nbf", &nbf, &present)) {
        if (nbf > now + rules->leeway_s)
            return JWT_NOT_YET_VALID;
    } else if (present) {
        return JWT_BAD_CLAIM;
    }
    if (numeric_claim(p, "iat", &iat, &present)) {
        if (iat > now + rules->leeway_s)
            return JWT_ISSUED_IN_FUTURE;
    } else if (present) {
        return JWT_BAD_CLAIM;
    }
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(p, "iss");
    if (iss && !cJSON_IsString(iss))
        return JWT_BAD_CLAIM;
    if (!iss || strcmp(iss->valuestring, rules->issuer) != 0)
        return JWT_WRONG_ISSUER;
    const cJSON *aud = cJSON_GetObjectItemCaseSensitive(p, "aud");
    if (aud && !audience_well_typed(aud))
        return JWT_BAD_CLAIM;
    if (!aud || !audience_matches(aud, rules->audience))
        return JWT_WRONG_AUDIENCE;
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(p, "scope");
    if (scope && !cJSON_IsString(scope))
        return JWT_BAD_CLAIM;
    const cJSON *scp = cJSON_GetObjectItemCaseSensitive(p, "scp");
    if (scp && !audience_well_typed(scp))   /* a string or an array of strings, like aud */
        return JWT_BAD_CLAIM;
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(p, rules->principal_claim ? rules->principal_claim : "sub");
    if (who && !cJSON_IsString(who))
        return JWT_BAD_CLAIM;
    if (!who || !who->valuestring[0])
        return JWT_NO_PRINCIPAL;
    return JWT_OK;
}

/* Refused header parameters: keys named by the token itself (jku, x5u,
 * jwk, x5c) would let the sender pick the key; crit names extensions
 * warden does not understand. */
static bool header_acceptable(const cJSON *header)
{
    static const char *const refused[] = {"crit", "jku", "x5u", "jwk", "x5c", "b64", "zip", "enc"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        if (cJSON_GetObjectItemCaseSensitive(header, refused[i]))
            return false;
    const cJSON *typ = cJSON_GetObjectItemCaseSensitive(header, "typ");
    if (!typ)
        return true;
    return cJSON_IsString(typ) && (strcasecmp(typ->valuestring, "JWT") == 0 ||
                                   strcasecmp(typ->valuestring, "at+jwt") == 0 ||
                                   strcasecmp(typ->valuestring, "application/at+jwt") == 0);
}

enum jwt_status jwt_verify(const char *token, size_t len, const struct jwks *keys, const struct jwt_rules *rules,
                           double now, struct jwt_token *out)
{
    struct jwt_token t;
    enum jwt_status st = jwt_decode(token, len, &t);
    if (st != JWT_OK)
        return st;
    const struct jwk *key = NULL;
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(t.header, "alg");
    if (cJSON_IsString(alg) && strcasecmp(alg->valuestring, "none") == 0)
        st = JWT_ALG_NONE;
    else if (cJSON_IsString(alg) && strncasecmp(alg->valuestring, "HS", 2) == 0)
        st = JWT_ALG_HMAC;
    else if (t.alg < 0 || !(rules->algs & (1u << t.alg)))
        st = JWT_ALG_NOT_ALLOWED;
    else if (!header_acceptable(t.header))
        st = JWT_BAD_HEADER;
    else if (!keys || keys->n == 0)
        st = JWT_NO_KEYS;
    else if (!(key = jwks_find(keys, t.kid)))
        st = JWT_UNKNOWN_KID;
    else if ((st = jwt_check_signature(&t, token, key, rules)) == JWT_OK)
        st = jwt_check_claims(&t, rules, now);
    if (st != JWT_OK) {
        jwt_token_clear(&t);
        return st;
    }
    *out = t;
    return JWT_OK;
}

/* Appends the space-separated words of s to the list. */
static bool add_words(const char *s, char ***list, size_t *n, size_t *cap)
{
    while (*s) {
        while (*s == ' ')
            s++;
        size_t k = strcspn(s, " ");
        if (k == 0)
            break;
        if (*n + 2 > *cap) {
            size_t nc = *cap ? *cap * 2 : 8;
            char **grown = realloc(*list, nc * sizeof *grown);
            if (!grown)
                return false;
            *list = grown;
            *cap = nc;
        }
        char *w = malloc(k + 1);
        if (!w)
            return false;
        memcpy(w, s, k);
        w[k] = '\0';
        (*list)[(*n)++] = w;
        (*list)[*n] = NULL;
        s += k;
    }
    return true;
}

char **jwt_scopes(const struct jwt_token *t, size_t *n)
{
    char **list = calloc(1, sizeof *list);
    size_t cap = 1;
    *n = 0;
    if (!list)
        return NULL;
    bool ok = true;
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(t->payload, "scope");
    const cJSON *scp = cJSON_GetObjectItemCaseSensitive(t->payload, "scp");
    if (cJSON_IsString(scope))
        ok = add_words(scope->valuestring, &list, n, &cap);
    if (ok && cJSON_IsString(scp))
        ok = add_words(scp->valuestring, &list, n, &cap);
    const cJSON *s;
    if (ok && cJSON_IsArray(scp))
        cJSON_ArrayForEach(s, scp)
            if (ok && cJSON_IsString(s))
                ok = add_words(s->valuestring, &list, n, &cap);
    if (!ok) {
        for (size_t i = 0; i < *n; i++)
            free(list[i]);
        free(list);
        return NULL;
    }
    return list;
}
