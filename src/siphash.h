/* siphash.c: SipHash-1-3, a keyed hash for tables whose keys an attacker
 * chooses (session ids, tool names, policy keys). With a random key per
 * table nobody outside the process can aim keys at one bucket. */
#ifndef WARDEN_SIPHASH_H
#define WARDEN_SIPHASH_H
#include <stddef.h>
#include <stdint.h>

struct siphash_key {
    uint64_t k0, k1;
};

/* Fills *key from the kernel's random source. Returns 0, or -1 when no
 * random bytes could be had: the caller then refuses to build its table
 * rather than use a key anyone could guess. */
int siphash_key_random(struct siphash_key *key);

/* The 64-bit hash of data[0..len) under key. */
uint64_t siphash(const struct siphash_key *key, const void *data, size_t len);
#endif
