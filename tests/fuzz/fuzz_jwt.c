/* libFuzzer harness for the JWT reader (src/jwt.c): any bytes as a token are
 * decoded strictly, then checked against a fixed key set and fixed rules;
 * nothing may crash, leak or read out of bounds, a token that decodes must
 * decode again the same way, and no forged token may verify. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "jwks.h"
#include "jwt.h"

/* An Ed25519 public key (RFC 8037 A.2) and an RSA-free set: without its
 * private key no input can carry a valid signature. */
static const char set_text[] =
    "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"k\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct jwks *keys;
    if (!keys) {
        char err[200];
        keys = jwks_parse(set_text, sizeof set_text - 1, err, sizeof err);
        if (!keys)
            abort();
    }
    const char *tok = (const char *)data;
    struct jwt_token t;
    enum jwt_status st = jwt_decode(tok, size, &t);
    if (st == JWT_OK) {
        struct jwt_token again;
        if (jwt_decode(tok, size, &again) != JWT_OK || again.sig_len != t.sig_len || again.alg != t.alg ||
            again.signing_len != t.signing_len || memcmp(again.sig, t.sig, t.sig_len) != 0)
            abort();
        jwt_token_clear(&again);
        struct jwt_rules rules = {.issuer = "https://idp.test", .audience = "https://warden.test/mcp/x",
                                  .algs = (1u << JWT_NALGS) - 1, .leeway_s = 60};
        (void)jwt_check_claims(&t, &rules, 1.7e9);
        size_t n;
        char **scopes = jwt_scopes(&t, &n);
        for (size_t i = 0; scopes && i < n; i++)
            free(scopes[i]);
        free(scopes);
        jwt_token_clear(&t);
        struct jwt_rules r2 = rules;
        struct jwt_token v;
        if (jwt_verify(tok, size, keys, &r2, 1.7e9, &v) == JWT_OK)
            abort();
    }
    /* The same bytes as a key set: bounded, strict, never a crash. */
    char err[300];
    struct jwks *set = jwks_parse(tok, size, err, sizeof err);
    jwks_unref(set);
    return 0;
}
