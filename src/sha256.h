/* sha256.c: SHA-256 (FIPS 180-4), for the approval digest and hashed
 * approver tokens. Main links no crypto library; when OpenSSL arrives
 * (identity), this module may become a wrapper of EVP_Digest. */
#ifndef WARDEN_SHA256_H
#define WARDEN_SHA256_H
#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES 32

struct sha256 {
    uint32_t h[8];
    uint64_t length;        /* bytes hashed so far */
    unsigned char block[64];
    size_t used;            /* bytes in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, unsigned char out[SHA256_BYTES]);

/* The digest of data[0..len) at once. */
void sha256(const void *data, size_t len, unsigned char out[SHA256_BYTES]);

/* Writes the digest as 64 lowercase hex digits and a NUL into hex[65]. */
void sha256_hex(const unsigned char digest[SHA256_BYTES], char hex[2 * SHA256_BYTES + 1]);
#endif
