/* sha256.c: SHA-256 (FIPS 180-4), for comparing presented secrets with the
 * digests in the config (approvers) and for tool-definition pins (pins.c).
 * Small and self-contained until warden links OpenSSL. */
#ifndef WARDEN_SHA256_H
#define WARDEN_SHA256_H
#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES 32

struct sha256 {
    uint32_t h[8];
    uint64_t total;          /* bytes hashed so far */
    unsigned char block[64];
    size_t fill;             /* bytes waiting in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, unsigned char out[SHA256_BYTES]);
/* The digest of data[0..len) in one call. */
void sha256(const void *data, size_t len, unsigned char out[SHA256_BYTES]);

/* out gets 64 lower-case hex digits and a NUL (tool pins show digests so). */
void sha256_hex(const unsigned char digest[SHA256_BYTES], char out[2 * SHA256_BYTES + 1]);
#endif
