/* jcs: RFC 8785 canonical JSON (its own examples and number vectors), and
 * SHA-256 (FIPS 180-4 vectors). */
#include <stdint.h>
#include <stdlib.h>
#include "check.h"
#include "jcs.h"
#include "sha256.h"

static char *canon(const char *json)
{
    char *out = NULL, err[200];
    size_t len;
    if (jcs_canonicalize(json, strlen(json), 64, 1 << 20, &out, &len, err, sizeof err) < 0)
        return NULL;
    CHECK(strlen(out) == len);
    return out;
}

#define CANON(in, want) do { char *c_ = canon(in); CHECK_STR(c_, want); free(c_); } while (0)
#define REFUSED(in) do { char *c_ = canon(in); CHECK(c_ == NULL); free(c_); } while (0)

static void test_rfc_examples(void)
{
    /* RFC 8785 3.2.2 */
    CANON("{\n  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n"
          "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
          "  \"literals\": [null, true, false]\n}",
          "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
          "\"string\":\"\xE2\x82\xAC$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
    /* RFC 8785 3.2.3: by UTF-16 code units, so the emoji (D83D) sorts before U+FB33 */
    CANON("{\"\\u20ac\":1,\"\\r\":2,\"\\ufb33\":3,\"1\":4,\"\\ud83d\\ude00\":5,\"\\u0080\":6,\"\\u00f6\":7}",
          "{\"\\r\":2,\"1\":4,\"\xC2\x80\":6,\"\xC3\xB6\":7,\"\xE2\x82\xAC\":1,\"\xF0\x9F\x98\x80\":5,\"\xEF\xAC\xB3\":3}");
    /* raw UTF-8 in the input is the same as its escapes */
    CANON("{\"b\":\"\xF0\x9F\x98\x80\",\"a\":\"\\ud83d\\ude00\"}", "{\"a\":\"\xF0\x9F\x98\x80\",\"b\":\"\xF0\x9F\x98\x80\"}");
    /* a prefix sorts first; empty key first of all */
    CANON("{\"ab\":1,\"a\":2,\"\":3}", "{\"\":3,\"a\":2,\"ab\":1}");
    CANON(" [ ] ", "[]");
    CANON("{\"a\":{\"z\":[1,{\"y\":2,\"x\":1}],\"b\":{}}}", "{\"a\":{\"b\":{},\"z\":[1,{\"x\":1,\"y\":2}]}}");
    /* escapes: only the named ones and \\u00xx for other controls; DEL and U+2028 stay as they are */
    CANON("\"\\u0001\\u001f\\b\\f\\t\\u007f\\u2028\"", "\"\\u0001\\u001f\\b\\f\\t\x7f\xE2\x80\xA8\"");
    CANON("\"a\\u0000b\"", "\"a\\u0000b\"");
}

static double from_bits(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* RFC 8785 Appendix B: IEEE 754 bit patterns and their ECMAScript text. */
static void test_numbers(void)
{
    static const struct { uint64_t bits; const char *text; } v[] = {
        {0x0000000000000000, "0"}, {0x8000000000000000, "0"}, {0x0000000000000001, "5e-324"},
        {0x8000000000000001, "-5e-324"}, {0x7fefffffffffffff, "1.7976931348623157e+308"},
        {0xffefffffffffffff, "-1.7976931348623157e+308"}, {0x4340000000000000, "9007199254740992"},
        {0xc340000000000000, "-9007199254740992"}, {0x4430000000000000, "295147905179352830000"},
        {0x44b52d02c7e14af5, "9.999999999999997e+22"}, {0x44b52d02c7e14af6, "1e+23"},
        {0x44b52d02c7e14af7, "1.0000000000000001e+23"}, {0x444b1ae4d6e2ef4e, "999999999999999700000"},
        {0x444b1ae4d6e2ef4f, "999999999999999900000"}, {0x444b1ae4d6e2ef50, "1e+21"},
        {0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"}, {0x3eb0c6f7a0b5ed8d, "0.000001"},
        {0x41b3de4355555553, "333333333.3333332"}, {0x41b3de4355555554, "333333333.33333325"},
        {0x41b3de4355555555, "333333333.3333333"}, {0x41b3de4355555556, "333333333.3333334"},
        {0x41b3de4355555557, "333333333.33333343"}, {0xbecbf647612f3696, "-0.0000033333333333333333"},
        {0x43143ff3c1cb0959, "1424953923781206.2"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char in[64];
        snprintf(in, sizeof in, "%.17g", from_bits(v[i].bits));
        char *c = canon(in);
        if (!c || strcmp(c, v[i].text) != 0)
            fprintf(stderr, "%s -> %s, want %s\n", in, c ? c : "(refused)", v[i].text);
        CHECK(c && strcmp(c, v[i].text) == 0);
        free(c);
    }
    CANON("[1.0,10e-1,1E0,-0.0,100,1e2,0.1,123456789012345678901234567890]",
          "[1,1,1,0,100,100,0.1,1.2345678901234568e+29]");
    CANON("9007199254740993", "9007199254740992");   /* past 2^53: the nearest double, as JCS says */
    REFUSED("1e400");
    REFUSED("-1e400");
}

static void test_refusals(void)
{
    REFUSED("{\"a\":1,\"a\":2}");
    REFUSED("{\"a\":1,\"\\u0061\":2}");                 /* the same name once decoded */
    REFUSED("\"\\ud800\"");
    REFUSED("\"\\udc00x\"");
    REFUSED("\"\\ud800\\u0041\"");
    REFUSED("\"\xC0\xAF\"");                            /* overlong */
    REFUSED("\"\xED\xA0\x80\"");                        /* an encoded surrogate */
    REFUSED("\"a\nb\"");
    REFUSED("\"\\x\"");
    REFUSED("[1,]");
    REFUSED("{\"a\":1,}");
    REFUSED("01");
    REFUSED("1.");
    REFUSED(".5");
    REFUSED("+1");
    REFUSED("1e");
    REFUSED("tru");
    REFUSED("nul");
    REFUSED("[] []");
    REFUSED("");
    REFUSED("\"abc");
    REFUSED("{\"a\" 1}");
    REFUSED("{1:2}");
    /* depth and size bounds */
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    char *out = NULL, err[200];
    size_t len;
    CHECK(jcs_canonicalize(deep, 200, 64, 1 << 20, &out, &len, err, sizeof err) < 0 && out == NULL);
    CHECK(jcs_canonicalize(deep, 200, 100, 1 << 20, &out, &len, err, sizeof err) == 0);
    free(out);
    CHECK(jcs_canonicalize("\"0123456789\"", 12, 8, 10, &out, &len, err, sizeof err) < 0);
    CHECK(strstr(err, "too large") != NULL);
    CHECK(jcs_canonicalize("[1e20]", 6, 8, 10, &out, &len, err, sizeof err) < 0);   /* grows past the bound */
    /* only len bytes are read */
    CHECK(jcs_canonicalize("[1] trailing", 3, 8, 100, &out, &len, err, sizeof err) == 0);
    CHECK_STR(out, "[1]");
    free(out);
    CHECK(jcs_canonicalize("{\"a\":\"x\0y\"}", 11, 8, 100, &out, &len, err, sizeof err) < 0);  /* raw NUL */
}

static void hex_of(const char *msg, size_t len, char *out)
{
    struct sha256 s;
    unsigned char d[SHA256_BYTES];
    sha256_init(&s);
    sha256_update(&s, msg, len);
    sha256_final(&s, d);
    sha256_hex(d, out);
}

static void test_sha256(void)
{
    char hex[65];
    hex_of("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(two, strlen(two), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* a million 'a's, fed in uneven pieces */
    struct sha256 s;
    unsigned char d[SHA256_BYTES];
    char chunk[997];
    memset(chunk, 'a', sizeof chunk);
    sha256_init(&s);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        sha256_update(&s, chunk, n);
        left -= n;
    }
    sha256_final(&s, d);
    sha256_hex(d, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

int main(void)
{
    test_rfc_examples();
    test_numbers();
    test_refusals();
    test_sha256();
    return check_report();
}
