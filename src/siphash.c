#include "siphash.h"

#include <string.h>
#include "randbytes.h"

/* See siphash.h. */
int siphash_key_random(struct siphash_key *key)
{
    unsigned char buf[16];
    if (randbytes(buf, sizeof buf) < 0)
        return -1;
    memcpy(&key->k0, buf, 8);
    memcpy(&key->k1, buf + 8, 8);
    return 0;
}

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

/* One SipRound over the state v[0..3]. */
static void round_(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13);
    v[1] ^= v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17);
    v[1] ^= v[2];
    v[2] = rotl(v[2], 32);
}

/* Little-endian 64-bit load of 8 bytes. */
static uint64_t load64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | p[i];
    return x;
}

/* SipHash-c-d: c rounds per word, d rounds to finish. */
static uint64_t sip(const struct siphash_key *key, const void *data, size_t len, int c, int d)
{
    const unsigned char *p = data;
    uint64_t v[4] = {
        key->k0 ^ 0x736f6d6570736575ULL,
        key->k1 ^ 0x646f72616e646f6dULL,
        key->k0 ^ 0x6c7967656e657261ULL,
        key->k1 ^ 0x7465646279746573ULL,
    };
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load64(p + i);
        v[3] ^= m;
        for (int r = 0; r < c; r++)
            round_(v);
        v[0] ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        last |= (uint64_t)p[whole + i] << (8 * i);
    v[3] ^= last;
    for (int r = 0; r < c; r++)
        round_(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    for (int r = 0; r < d; r++)
        round_(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* See siphash.h: 1-3, the variant for hash tables (2-4 is for MACs). */
uint64_t siphash(const struct siphash_key *key, const void *data, size_t len)
{
    return sip(key, data, len, 1, 3);
}
