/* SHA-256 against the FIPS 180-4 / NIST example vectors, whole and fed in pieces. */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "sha256.h"

static void hex(const unsigned char *d, char *out)
{
    for (int i = 0; i < SHA256_BYTES; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_one(const char *msg, size_t len, const char *want)
{
    unsigned char d[SHA256_BYTES];
    char h[2 * SHA256_BYTES + 1];
    sha256(msg, len, d);
    hex(d, h);
    CHECK_STR(h, want);
    /* Byte by byte, and split at every offset: the same digest. */
    for (size_t cut = 0; cut <= len && len < 200; cut++) {
        struct sha256 s;
        sha256_init(&s);
        sha256_update(&s, msg, cut);
        sha256_update(&s, msg + cut, len - cut);
        sha256_final(&s, d);
        hex(d, h);
        CHECK_STR(h, want);
    }
}

int main(void)
{
    check_one("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_one("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_one(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *four = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_one(four, strlen(four), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    /* 55, 56 and 64 bytes: padding that fits in one block, and one that needs two. */
    char a[1000];
    memset(a, 'a', sizeof a);
    check_one(a, 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    check_one(a, 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    check_one(a, 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
    /* One million 'a' (FIPS 180-2 appendix B.3). */
    struct sha256 s;
    sha256_init(&s);
    for (int i = 0; i < 1000; i++)
        sha256_update(&s, a, sizeof a);
    unsigned char d[SHA256_BYTES];
    char h[2 * SHA256_BYTES + 1];
    sha256_final(&s, d);
    hex(d, h);
    CHECK_STR(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    return check_report();
}
