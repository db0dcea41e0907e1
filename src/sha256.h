/* sha256.c: SHA-256 (FIPS 180-4), for tool-definition pins. Incremental:
 * init, update any number of times, final. No allocation. */
#ifndef WARDEN_SHA256_H
#define WARDEN_SHA256_H
#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES 32

struct sha256 {
    uint32_t h[8];
    uint64_t bytes;          /* message length so far */
    unsigned char block[64];
    size_t fill;             /* bytes waiting in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, unsigned char out[SHA256_BYTES]);

/* out gets 64 lower-case hex digits and a NUL. */
void sha256_hex(const unsigned char digest[SHA256_BYTES], char out[2 * SHA256_BYTES + 1]);
#endif
