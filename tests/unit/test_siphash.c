/* The keyed hash: the reference vector of the SipHash paper (run as 2-4,
 * the rounds the paper's vector uses), and keys that differ. */
#include "../../src/siphash.c"

#include "check.h"

int main(void)
{
    struct siphash_key k = {0, 0};
    unsigned char kb[16], msg[15];
    for (int i = 0; i < 16; i++)
        kb[i] = (unsigned char)i;
    for (int i = 0; i < 15; i++)
        msg[i] = (unsigned char)i;
    k.k0 = load64(kb);
    k.k1 = load64(kb + 8);
    CHECK(sip(&k, msg, sizeof msg, 2, 4) == 0xa129ca6149be45e5ULL);
    /* 1-3 differs from 2-4 and depends on every input and on the key. */
    uint64_t h = siphash(&k, msg, sizeof msg);
    CHECK(h != 0xa129ca6149be45e5ULL);
    CHECK(siphash(&k, msg, sizeof msg - 1) != h);
    struct siphash_key r1 = {0}, r2 = {0};
    CHECK(siphash_key_random(&r1) == 0 && siphash_key_random(&r2) == 0);
    CHECK(r1.k0 != r2.k0 || r1.k1 != r2.k1);
    CHECK(siphash(&r1, "session", 7) != siphash(&r2, "session", 7));
    return check_report();
}
