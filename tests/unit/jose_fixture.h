/* Test keys and tokens made with OpenSSL at run time: a key of each kind
 * warden verifies, its public JWK, and compact JWS signed with it. */
#ifndef WARDEN_TEST_JOSE_FIXTURE_H
#define WARDEN_TEST_JOSE_FIXTURE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

static inline void fx_b64url(const unsigned char *in, size_t len, char *out, size_t cap)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < len && o + 2 < cap; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6 && o + 1 < cap) {
            bits -= 6;
            out[o++] = al[(acc >> bits) & 63];
        }
    }
    if (bits > 0 && o + 1 < cap)
        out[o++] = al[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

static inline void fx_b64url_str(const char *s, char *out, size_t cap)
{
    fx_b64url((const unsigned char *)s, strlen(s), out, cap);
}

static inline EVP_PKEY *fx_keygen(const char *kind)
{
    if (strcmp(kind, "RSA") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (strcmp(kind, "RSA1024") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    if (strcmp(kind, "P-256") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (strcmp(kind, "P-384") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

static inline void fx_bn_member(EVP_PKEY *k, const char *param, char *out, size_t cap)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(k, param, &bn);
    unsigned char buf[1024];
    int n = BN_bn2bin(bn, buf);
    fx_b64url(buf, (size_t)n, out, cap);
    BN_free(bn);
}

/* The public JWK of k as a JSON object text, with kid (and alg when not NULL). */
static inline void fx_jwk(EVP_PKEY *k, const char *kid, const char *alg, char *out, size_t cap)
{
    char a[64] = "";
    if (alg)
        snprintf(a, sizeof a, ",\"alg\":\"%s\"", alg);
    if (EVP_PKEY_is_a(k, "RSA")) {
        char n[700], e[32];
        fx_bn_member(k, OSSL_PKEY_PARAM_RSA_N, n, sizeof n);
        fx_bn_member(k, OSSL_PKEY_PARAM_RSA_E, e, sizeof e);
        snprintf(out, cap, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid, n, e, a);
    } else if (EVP_PKEY_is_a(k, "EC")) {
        unsigned char pt[200];
        size_t plen = 0;
        EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt, &plen);
        size_t c = (plen - 1) / 2;
        char x[100], y[100];
        fx_b64url(pt + 1, c, x, sizeof x);
        fx_b64url(pt + 1 + c, c, y, sizeof y);
        snprintf(out, cap, "{\"kty\":\"EC\",\"crv\":\"%s\",\"kid\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}",
                 c == 32 ? "P-256" : "P-384", kid, x, y, a);
    } else {
        unsigned char raw[32];
        size_t rlen = sizeof raw;
        EVP_PKEY_get_raw_public_key(k, raw, &rlen);
        char x[64];
        fx_b64url(raw, rlen, x, sizeof x);
        snprintf(out, cap, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"%s\",\"x\":\"%s\"%s}", kid, x, a);
    }
}

/* Signs header.payload (JSON texts) with k for alg; returns a malloc'd token. */
static inline char *fx_sign(EVP_PKEY *k, const char *alg, const char *header, const char *payload)
{
    char *input = malloc(16384);
    char *token = malloc(20000);
    char h[4096], p[8192];
    fx_b64url_str(header, h, sizeof h);
    fx_b64url_str(payload, p, sizeof p);
    snprintf(input, 16384, "%s.%s", h, p);
    const EVP_MD *md = NULL;
    if (!strcmp(alg, "RS256") || !strcmp(alg, "PS256") || !strcmp(alg, "ES256"))
        md = EVP_sha256();
    else if (!strcmp(alg, "RS384") || !strcmp(alg, "ES384"))
        md = EVP_sha384();
    else if (!strcmp(alg, "RS512"))
        md = EVP_sha512();
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    EVP_DigestSignInit(m, &pc, md, NULL, k);
    if (!strcmp(alg, "PS256")) {
        EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
    }
    unsigned char sig[1024];
    size_t slen = sizeof sig;
    EVP_DigestSign(m, sig, &slen, (const unsigned char *)input, strlen(input));
    EVP_MD_CTX_free(m);
    unsigned char raw[200];
    const unsigned char *s = sig;
    if (alg[0] == 'E' && alg[1] == 'S') {
        size_t c = !strcmp(alg, "ES256") ? 32 : 48;
        const unsigned char *d = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &d, (long)slen);
        memset(raw, 0, sizeof raw);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)c);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + c, (int)c);
        ECDSA_SIG_free(es);
        s = raw;
        slen = 2 * c;
    }
    char sb[2048];
    fx_b64url(s, slen, sb, sizeof sb);
    snprintf(token, 20000, "%s.%s", input, sb);
    free(input);
    return token;
}

/* HS256 over header.payload with key bytes as the secret. */
static inline char *fx_sign_hs256(const unsigned char *key, size_t keylen, const char *header, const char *payload)
{
    char h[4096], p[8192];
    fx_b64url_str(header, h, sizeof h);
    fx_b64url_str(payload, p, sizeof p);
    char *token = malloc(20000);
    snprintf(token, 20000, "%s.%s", h, p);
    unsigned char mac[64];
    size_t maclen = sizeof mac;
    EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, (const unsigned char *)token, strlen(token), mac,
              sizeof mac, &maclen);
    char sb[200];
    fx_b64url(mac, maclen, sb, sizeof sb);
    strcat(token, ".");
    strcat(token, sb);
    return token;
}
#endif
