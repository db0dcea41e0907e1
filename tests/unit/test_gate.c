/* gate.c: the auth of each server, the metadata routes and the complete
 * 401/403 answers a listener sends, from a real config file. */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "auth.h"
#include "check.h"
#include "config.h"
#include "gate.h"
#include "http-t.h"

static char dir[] = "/tmp/warden-test-gate-XXXXXX";

struct fake_head {
    struct http_head h;
    char buf[4096];
    struct http_header hdr[4];
};

static struct http_head *head_of(struct fake_head *f, unsigned method, const char *const *fields, size_t n)
{
    memset(f, 0, sizeof *f);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(fields[i], ':');
        size_t nl = (size_t)(colon - fields[i]), vl = strlen(colon + 2);
        memcpy(f->buf + o, fields[i], nl);
        f->hdr[i] = (struct http_header){(uint32_t)o, (uint32_t)nl, (uint32_t)(o + nl), (uint32_t)vl};
        memcpy(f->buf + o + nl, colon + 2, vl);
        o += nl + vl;
    }
    f->h.buf = f->buf;
    f->h.len = o;
    f->h.headers = f->hdr;
    f->h.nheaders = n;
    f->h.method = method;
    return &f->h;
}

static void sha256_hex(const char *s, char *hex)
{
    unsigned char d[32];
    EVP_Digest(s, strlen(s), d, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", d[i]);
}

static bool metadata(const struct config *cfg, const char *path, struct http_head *h, struct gate_answer *a)
{
    return gate_metadata(cfg, path, strlen(path), h, false, a);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    char hex[65], text[1200], file[200], err[4096];
    sha256_hex("wdn_s3cret", hex);
    snprintf(text, sizeof text,
             "{\"auth\": {\"api_keys\": [{\"id\": \"ci-bot\", \"sha256\": \"%s\"}],"
             " \"resource_metadata\": {\"authorization_servers\": [\"https://idp.test\"], \"scopes_supported\": [\"mcp:tools\"]}},"
             " \"servers\": {\"reg\": {\"url\": \"http://127.0.0.1:3001/mcp\"},"
             "  \"open\": {\"url\": \"http://127.0.0.1:3002/mcp\", \"auth\": {\"anonymous\": true, \"public_url\": \"https://gw.test\"}}}}",
             hex);
    snprintf(file, sizeof file, "%s/w.json", dir);
    FILE *f = fopen(file, "w");
    fputs(text, f);
    fclose(f);
    struct config cfg;
    char *args[] = {"--config", file, NULL};
    int rc = config_from_args(2, args, &cfg, err, sizeof err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const struct server_conf *reg = &cfg.servers[0], *open = &cfg.servers[1];
    CHECK(gate_auth_for(&cfg, reg) == cfg.auth && gate_auth_for(&cfg, open) == open->auth);

    struct fake_head fh;
    struct gate_answer a;
    const char *host[] = {"Host: warden.test:8443"};
    CHECK(metadata(&cfg, "/.well-known/oauth-protected-resource/mcp/reg", head_of(&fh, HTTP_GET, host, 1), &a));
    CHECK(a.status == 200);
    CHECK_STR(a.body, "{\"resource\":\"http://warden.test:8443/mcp/reg\",\"authorization_servers\":[\"https://idp.test\"],"
                      "\"scopes_supported\":[\"mcp:tools\"],\"bearer_methods_supported\":[\"header\"]}");
    gate_answer_clear(&a);
    CHECK(gate_metadata(&cfg, "/.well-known/oauth-protected-resource/mcp/reg", 45, head_of(&fh, HTTP_GET, host, 1),
                        true, &a));
    CHECK(a.body && strstr(a.body, "\"resource\":\"https://warden.test:8443/mcp/reg\""));
    gate_answer_clear(&a);
    CHECK(metadata(&cfg, "/.well-known/oauth-protected-resource/mcp/open", head_of(&fh, HTTP_GET, host, 1), &a));
    CHECK(a.status == 200 && strstr(a.body, "\"resource\":\"https://gw.test/mcp/open\""));
    gate_answer_clear(&a);
    CHECK(metadata(&cfg, "/.well-known/oauth-protected-resource/mcp/reg", head_of(&fh, HTTP_POST, host, 1), &a));
    CHECK(a.status == 405 && strcmp(a.headers, "Allow: GET\r\n") == 0);
    gate_answer_clear(&a);
    const char *evil[] = {"Host: x\"y"};
    CHECK(metadata(&cfg, "/.well-known/oauth-protected-resource/mcp/reg", head_of(&fh, HTTP_GET, evil, 1), &a));
    CHECK(a.status == 400);
    gate_answer_clear(&a);
    CHECK(!metadata(&cfg, "/.well-known/oauth-protected-resource/mcp/none", head_of(&fh, HTTP_GET, host, 1), &a));
    CHECK(!metadata(&cfg, "/.well-known/oauth-protected-resource", head_of(&fh, HTTP_GET, host, 1), &a));
    CHECK(!metadata(&cfg, "/mcp/reg", head_of(&fh, HTTP_GET, host, 1), &a));

    /* No credentials: 401 naming the metadata; a good key passes; an open server lets all in. */
    struct principal p;
    CHECK(!gate_check(&cfg, reg, head_of(&fh, HTTP_POST, host, 1), NULL, false, &p, &a));
    CHECK(a.status == 401);
    CHECK_STR(a.headers, "WWW-Authenticate: Bearer resource_metadata=\"http://warden.test:8443/.well-known/"
                         "oauth-protected-resource/mcp/reg\", scope=\"mcp:tools\"\r\n");
    CHECK_STR(a.body, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"Unauthorized: credentials required\"}}");
    gate_answer_clear(&a);
    const char *bad[] = {"Host: warden.test:8443", "Authorization: Bearer wdn_nope"};
    CHECK(!gate_check(&cfg, reg, head_of(&fh, HTTP_POST, bad, 2), NULL, false, &p, &a));
    CHECK(strstr(a.headers, "error=\"invalid_token\"") != NULL);
    gate_answer_clear(&a);
    const char *good[] = {"Host: warden.test:8443", "Authorization: Bearer wdn_s3cret"};
    CHECK(gate_check(&cfg, reg, head_of(&fh, HTTP_POST, good, 2), NULL, false, &p, &a));
    CHECK_STR(p.id, "ci-bot");
    principal_clear(&p);
    CHECK(gate_check(&cfg, open, head_of(&fh, HTTP_POST, host, 1), NULL, false, &p, &a));
    CHECK(p.kind == PRINCIPAL_ANONYMOUS);
    principal_clear(&p);
    config_free(&cfg);

    /* A config without auth: metadata paths are 404, everyone is anonymous. */
    f = fopen(file, "w");
    fputs("{\"servers\": {\"reg\": {\"url\": \"http://127.0.0.1:3001/mcp\"}}}", f);
    fclose(f);
    CHECK(config_from_args(2, args, &cfg, err, sizeof err) == 0);
    CHECK(metadata(&cfg, "/.well-known/oauth-protected-resource/mcp/reg", head_of(&fh, HTTP_GET, host, 1), &a));
    CHECK(a.status == 404);
    gate_answer_clear(&a);
    CHECK(gate_check(&cfg, &cfg.servers[0], head_of(&fh, HTTP_POST, host, 1), NULL, false, &p, &a));
    principal_clear(&p);
    config_free(&cfg);
    remove(file);
    remove(dir);
    return check_report();
}
