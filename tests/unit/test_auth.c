/* auth.c: the "auth" config object, principals from API keys, JWTs and a
 * trusted proxy's header, the 401/403 answers and the RFC 9728 document. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "auth.h"
#include "check.h"
#include "http-t.h"
#include "jose_fixture.h"
#include "schema.h"

/* A head holding the given fields. */
struct fake_head {
    struct http_head h;
    char buf[16384];
    struct http_header hdr[8];
};

static struct http_head *head_of(struct fake_head *f, const char *const *fields, size_t n)
{
    memset(f, 0, sizeof *f);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(fields[i], ':');
        size_t nl = (size_t)(colon - fields[i]);
        const char *v = colon + 2;
        memcpy(f->buf + o, fields[i], nl);
        f->hdr[i].name_off = (uint32_t)o;
        f->hdr[i].name_len = (uint32_t)nl;
        o += nl;
        memcpy(f->buf + o, v, strlen(v));
        f->hdr[i].value_off = (uint32_t)o;
        f->hdr[i].value_len = (uint32_t)strlen(v);
        o += strlen(v);
    }
    f->h.buf = f->buf;
    f->h.len = o;
    f->h.headers = f->hdr;
    f->h.nheaders = n;
    return &f->h;
}

static char errbuf[4096];

/* Reads text as an "auth" object; returns it, NULL when problems were reported. */
static struct auth *read_auth(const char *file, const char *text)
{
    struct schema_doc doc;
    schema_doc_init(&doc, file, errbuf, sizeof errbuf);
    const cJSON *root = schema_parse_text(&doc, text, strlen(text));
    struct auth *a = NULL;
    if (root)
        auth_read_field(&doc, NULL, root, "/auth", &a);
    int problems = doc.problems;
    schema_doc_free(&doc);
    if (problems || !root) {
        auth_free(a);
        return NULL;
    }
    return a;
}

static void sha256_hex(const char *s, char *hex)
{
    unsigned char d[32];
    EVP_Digest(s, strlen(s), d, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", d[i]);
}

static enum auth_result authn(struct auth *a, const char *authz, struct principal *p, struct auth_failure *why)
{
    struct fake_head f;
    char field[12000];
    snprintf(field, sizeof field, "Authorization: %s", authz ? authz : "");
    const char *fields[] = {field};
    return auth_authenticate(a, head_of(&f, fields, authz ? 1 : 0), NULL, p, why);
}

static void test_api_keys(void)
{
    char h1[65], h2[65], cfg[1000];
    sha256_hex("wdn_secret-one", h1);
    sha256_hex("wdn_secret-two", h2);
    snprintf(cfg, sizeof cfg,
             "{\"api_keys\": [{\"id\": \"ci-bot\", \"sha256\": \"%s\", \"labels\": {\"team\": \"ci\"}},"
             " {\"id\": \"ml-agent\", \"sha256\": \"%s\", \"labels\": {\"team\": \"ml\"}}],"
             " \"resource_metadata\": {\"authorization_servers\": [\"https://idp.test\"], \"scopes_supported\": [\"mcp:tools\"]}}",
             h1, h2);
    struct auth *a = read_auth("w.json", cfg);
    CHECK(a != NULL);
    struct principal p;
    struct auth_failure why;
    CHECK(authn(a, "Bearer wdn_secret-two", &p, &why) == AUTH_OK);
    CHECK_STR(p.id, "ml-agent");
    CHECK(p.kind == PRINCIPAL_KEY);
    CHECK_STR(cJSON_GetStringValue(principal_lookup(&p, "labels.team")), "ml");
    CHECK_STR(cJSON_GetStringValue(principal_lookup(&p, "kind")), "key");
    CHECK(principal_lookup(&p, "labels.nope") == NULL);
    principal_clear(&p);
    CHECK(authn(a, "bearer   wdn_secret-one", &p, &why) == AUTH_OK);
    CHECK_STR(p.id, "ci-bot");
    principal_clear(&p);

    /* No credentials: 401 without an error code, pointing at the metadata. */
    CHECK(authn(a, NULL, &p, &why) == AUTH_UNAUTHORIZED);
    CHECK(why.status == 401 && why.error == NULL && p.doc == NULL);
    char ch[1000];
    auth_challenge(a, &why, "https://warden.test", "/mcp/registry", ch, sizeof ch);
    CHECK_STR(ch, "Bearer resource_metadata=\"https://warden.test/.well-known/oauth-protected-resource/mcp/registry\", "
                  "scope=\"mcp:tools\"");
    /* A wrong secret: invalid_token. */
    CHECK(authn(a, "Bearer wdn_secret-three", &p, &why) == AUTH_UNAUTHORIZED);
    CHECK_STR(why.error, "invalid_token");
    auth_challenge(a, &why, "https://warden.test", "/mcp/registry", ch, sizeof ch);
    CHECK(strstr(ch, ", error=\"invalid_token\", error_description=\"unknown credential\"") != NULL);
    CHECK(strstr(ch, "secret") == NULL);
    /* Other schemes and malformed credentials. */
    CHECK(authn(a, "Basic Y2k6Ym90", &p, &why) == AUTH_UNAUTHORIZED);
    CHECK_STR(why.error, "invalid_request");
    CHECK(authn(a, "Bearer", &p, &why) == AUTH_UNAUTHORIZED);
    CHECK(authn(a, "Bearer a b", &p, &why) == AUTH_UNAUTHORIZED);
    CHECK_STR(why.error, "invalid_request");
    CHECK(authn(a, "Bearer wdn_secret-one ", &p, &why) == AUTH_UNAUTHORIZED);

    char *meta = auth_resource_metadata_json(a, "/mcp/registry", "https://warden.test");
    CHECK_STR(meta, "{\"resource\":\"https://warden.test/mcp/registry\",\"authorization_servers\":[\"https://idp.test\"],"
                    "\"scopes_supported\":[\"mcp:tools\"],\"bearer_methods_supported\":[\"header\"]}");
    free(meta);
    char path[200];
    auth_metadata_path("/mcp/registry", path, sizeof path);
    CHECK_STR(path, "/.well-known/oauth-protected-resource/mcp/registry");
    auth_free(a);

    /* Anonymous when allowed; bad credentials are still refused then. */
    snprintf(cfg, sizeof cfg, "{\"api_keys\": [{\"id\": \"k\", \"sha256\": \"%s\"}], \"anonymous\": true}", h1);
    a = read_auth("w.json", cfg);
    CHECK(authn(a, NULL, &p, &why) == AUTH_OK);
    CHECK(p.kind == PRINCIPAL_ANONYMOUS);
    CHECK_STR(p.id, "anonymous");
    principal_clear(&p);
    CHECK(authn(a, "Bearer nope", &p, &why) == AUTH_UNAUTHORIZED);
    auth_free(a);

    /* Without auth everyone is anonymous. */
    CHECK(authn(NULL, "Bearer whatever", &p, &why) == AUTH_OK && p.kind == PRINCIPAL_ANONYMOUS);
    principal_clear(&p);
}

static void test_config_problems(void)
{
    CHECK(read_auth("w.json", "{}") == NULL);
    CHECK(strstr(errbuf, "accepts no one") != NULL);
    CHECK(read_auth("w.json", "{\"api_keys\": [{\"id\": \"a\", \"sha256\": \"00\"}]}") == NULL);
    CHECK(strstr(errbuf, "/auth/api_keys/0/sha256: must be 64 hex digits") != NULL);
    char h[65], cfg[600];
    sha256_hex("x", h);
    snprintf(cfg, sizeof cfg, "{\"api_keys\": [{\"id\": \"a\", \"sha256\": \"%s\"}, {\"id\": \"a\", \"sha256\": \"%s\"}]}", h, h);
    CHECK(read_auth("w.json", cfg) == NULL);
    CHECK(strstr(errbuf, "used twice") && strstr(errbuf, "the same secret"));
    snprintf(cfg, sizeof cfg, "{\"api_keys\": [{\"id\": \"a\", \"sha256\": \"%s\", \"secret\": \"x\"}]}", h);
    CHECK(read_auth("w.json", cfg) == NULL);
    CHECK(strstr(errbuf, "secret") != NULL);
    CHECK(read_auth("w.json", "{\"jwt\": {\"issuer\": \"i\", \"audience\": \"a\"}}") == NULL);
    CHECK(strstr(errbuf, "exactly one of \"jwks_file\" and \"jwks_url\"") != NULL);
    CHECK(read_auth("w.json", "{\"jwt\": {\"issuer\": \"i\", \"audience\": \"a\", \"jwks_url\": \"http://idp.test/k\", "
                              "\"algorithms\": [\"HS256\", \"none\"]}}") == NULL);
    CHECK(strstr(errbuf, "HS256 is not accepted") && strstr(errbuf, "none is not accepted") &&
          strstr(errbuf, "http:// only from a loopback"));
    CHECK(read_auth("w.json", "{\"jwt\": {\"issuer\": \"i\", \"audience\": \"a\", \"jwks_file\": \"missing.json\"}}") ==
          NULL);
    CHECK(strstr(errbuf, "missing.json") != NULL);
    CHECK(read_auth("w.json", "{\"identity_header\": \"X-User\"}") == NULL);
    CHECK(strstr(errbuf, "go together") != NULL);
    CHECK(read_auth("w.json", "{\"identity_header\": \"X-User\", \"trusted_proxies\": [\"10.0.0.0/33\"]}") == NULL);
    CHECK(strstr(errbuf, "CIDR") != NULL);
    CHECK(read_auth("w.json", "{\"anonymous\": true, \"resource_metadata\": {\"scopes_supported\": [\"a\\\"b\"]}}") ==
          NULL);
    CHECK(strstr(errbuf, "a scope is visible ASCII") != NULL);
}

static void test_proxy_header(void)
{
    struct auth *a = read_auth("w.json", "{\"identity_header\": \"X-Forwarded-User\", "
                                         "\"trusted_proxies\": [\"10.1.0.0/16\", \"::1\"]}");
    CHECK(a != NULL);
    struct sockaddr_in in4 = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    struct fake_head f;
    const char *fields[] = {"X-Forwarded-User: alice@example.com"};
    struct principal p;
    struct auth_failure why;

    inet_pton(AF_INET, "10.1.200.3", &in4.sin_addr);
    CHECK(auth_authenticate(a, head_of(&f, fields, 1), (struct sockaddr *)&in4, &p, &why) == AUTH_OK);
    CHECK_STR(p.id, "alice@example.com");
    CHECK(p.kind == PRINCIPAL_PROXY);
    principal_clear(&p);
    inet_pton(AF_INET6, "::ffff:10.1.0.9", &in6.sin6_addr);
    CHECK(auth_authenticate(a, head_of(&f, fields, 1), (struct sockaddr *)&in6, &p, &why) == AUTH_OK);
    principal_clear(&p);
    inet_pton(AF_INET6, "::1", &in6.sin6_addr);
    CHECK(auth_authenticate(a, head_of(&f, fields, 1), (struct sockaddr *)&in6, &p, &why) == AUTH_OK);
    principal_clear(&p);

    /* From anywhere else the header means nothing. */
    inet_pton(AF_INET, "10.2.0.1", &in4.sin_addr);
    CHECK(auth_authenticate(a, head_of(&f, fields, 1), (struct sockaddr *)&in4, &p, &why) == AUTH_UNAUTHORIZED);
    CHECK(auth_authenticate(a, head_of(&f, fields, 1), NULL, &p, &why) == AUTH_UNAUTHORIZED);

    const char *twice[] = {"X-Forwarded-User: alice", "x-forwarded-user: root"};
    inet_pton(AF_INET, "10.1.0.1", &in4.sin_addr);
    CHECK(auth_authenticate(a, head_of(&f, twice, 2), (struct sockaddr *)&in4, &p, &why) == AUTH_UNAUTHORIZED);
    CHECK(strstr(why.description, "repeated") != NULL);
    const char *spaced[] = {"X-Forwarded-User: alice bob"};
    CHECK(auth_authenticate(a, head_of(&f, spaced, 1), (struct sockaddr *)&in4, &p, &why) == AUTH_UNAUTHORIZED);
    auth_free(a);
}

static void test_jwt(void)
{
    char dir[] = "/tmp/warden-auth-XXXXXX";
    if (!mkdtemp(dir))
        return;
    EVP_PKEY *k = fx_keygen("P-256");
    char jwk[400], file[200], cfgpath[200], cfg[1000];
    fx_jwk(k, "k1", NULL, jwk, sizeof jwk);
    snprintf(file, sizeof file, "%s/jwks.json", dir);
    FILE *fp = fopen(file, "w");
    fprintf(fp, "{\"keys\":[%s]}", jwk);
    fclose(fp);
    snprintf(cfgpath, sizeof cfgpath, "%s/warden.json", dir);
    snprintf(cfg, sizeof cfg,
             "{\"jwt\": {\"issuer\": \"https://idp.test\", \"audience\": \"https://warden.test/mcp/r\", "
             "\"jwks_file\": \"jwks.json\", \"algorithms\": [\"ES256\"], \"required_scopes\": [\"mcp:tools\"], "
             "\"principal_claim\": \"email\"}}");
    struct auth *a = read_auth(cfgpath, cfg);     /* jwks.json is found beside the config */
    CHECK(a != NULL);
    if (!a) {
        fprintf(stderr, "%s\n", errbuf);
        return;
    }
    double now = (double)time(NULL);
    char payload[600], bearer[3000];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"https://idp.test\",\"aud\":\"https://warden.test/mcp/r\",\"sub\":\"u1\",\"email\":\"bob@x.test\","
             "\"exp\":%.0f,\"scope\":\"mcp:tools other\",\"groups\":[\"ml\"]}", now + 60);
    char *tok = fx_sign(k, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}", payload);
    snprintf(bearer, sizeof bearer, "Bearer %s", tok);
    free(tok);
    struct principal p;
    struct auth_failure why;
    CHECK(authn(a, bearer, &p, &why) == AUTH_OK);
    CHECK_STR(p.id, "bob@x.test");
    CHECK(p.kind == PRINCIPAL_JWT);
    CHECK_STR(cJSON_GetStringValue(principal_lookup(&p, "claims.sub")), "u1");
    CHECK(cJSON_IsArray(principal_lookup(&p, "claims.groups")));
    CHECK(principal_has_scope(&p, "other") && !principal_has_scope(&p, "x"));
    principal_clear(&p);

    /* A valid token without the required scope: 403 insufficient_scope. */
    snprintf(payload, sizeof payload,
             "{\"iss\":\"https://idp.test\",\"aud\":\"https://warden.test/mcp/r\",\"email\":\"bob@x.test\",\"exp\":%.0f}",
             now + 60);
    tok = fx_sign(k, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}", payload);
    snprintf(bearer, sizeof bearer, "Bearer %s", tok);
    free(tok);
    CHECK(authn(a, bearer, &p, &why) == AUTH_FORBIDDEN);
    CHECK(why.status == 403 && p.doc == NULL);
    CHECK_STR(why.error, "insufficient_scope");
    char ch[1000];
    auth_challenge(a, &why, "https://warden.test", "/mcp/r", ch, sizeof ch);
    CHECK_STR(ch, "Bearer resource_metadata=\"https://warden.test/.well-known/oauth-protected-resource/mcp/r\", "
                  "scope=\"mcp:tools\", error=\"insufficient_scope\", error_description=\"the token lacks the scope "
                  "mcp:tools\"");

    /* Expired: 401 invalid_token with the reason. */
    snprintf(payload, sizeof payload,
             "{\"iss\":\"https://idp.test\",\"aud\":\"https://warden.test/mcp/r\",\"email\":\"b\",\"exp\":%.0f,"
             "\"scope\":\"mcp:tools\"}", now - 3600);
    tok = fx_sign(k, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}", payload);
    snprintf(bearer, sizeof bearer, "Bearer %s", tok);
    free(tok);
    CHECK(authn(a, bearer, &p, &why) == AUTH_UNAUTHORIZED);
    CHECK_STR(why.error, "invalid_token");
    CHECK_STR(why.description, "token expired");

    /* A principal id longer than 200 bytes is refused (ids name limits and audit lines). */
    char longid[260];
    memset(longid, 'a', 250);
    longid[250] = '\0';
    snprintf(payload, sizeof payload,
             "{\"iss\":\"https://idp.test\",\"aud\":\"https://warden.test/mcp/r\",\"email\":\"%s\",\"exp\":%.0f,"
             "\"scope\":\"mcp:tools\"}", longid, now + 60);
    tok = fx_sign(k, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}", payload);
    snprintf(bearer, sizeof bearer, "Bearer %s", tok);
    free(tok);
    CHECK(authn(a, bearer, &p, &why) == AUTH_UNAUTHORIZED);
    CHECK(strstr(why.description, "longer than 200") != NULL);

    /* The metadata names the issuer when resource_metadata is not given. */
    char *meta = auth_resource_metadata_json(a, "/mcp/r", "https://warden.test");
    CHECK(strstr(meta, "\"authorization_servers\":[\"https://idp.test\"]") != NULL);
    free(meta);
    auth_free(a);
    EVP_PKEY_free(k);
    unlink(file);
    rmdir(dir);
}

static void test_key_new(void)
{
    char out[] = "/tmp/warden-key-XXXXXX";
    int fd = mkstemp(out);
    CHECK(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    char *argv[] = {"key", "new", "ci-bot", NULL};
    int rc = auth_key_main(3, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    CHECK(rc == 0);
    char text[1000] = "";
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    unlink(out);
    text[n > 0 ? n : 0] = '\0';
    char secret[100] = "", line[300] = "";
    const char *s = strstr(text, "wdn_");
    CHECK(s != NULL);
    if (s)
        sscanf(s, "%99s", secret);
    const char *j = strstr(text, "{\"id\"");
    CHECK(j != NULL);
    if (j)
        snprintf(line, sizeof line, "%.*s", (int)strcspn(j, "\n"), j);
    /* The printed line, pasted into a config, accepts the printed secret. */
    char cfg[500], bearer[200];
    snprintf(cfg, sizeof cfg, "{\"api_keys\": [%s]}", line);
    struct auth *a = read_auth("w.json", cfg);
    CHECK(a != NULL);
    snprintf(bearer, sizeof bearer, "Bearer %s", secret);
    struct principal p;
    struct auth_failure why;
    CHECK(a && authn(a, bearer, &p, &why) == AUTH_OK && strcmp(p.id, "ci-bot") == 0);
    principal_clear(&p);
    auth_free(a);
    char *bad[] = {"key", "new", "bad id", NULL};
    CHECK(auth_key_main(3, bad) == 2);
}

int main(void)
{
    test_api_keys();
    test_config_problems();
    test_proxy_header();
    test_jwt();
    test_key_new();
    return check_report();
}
