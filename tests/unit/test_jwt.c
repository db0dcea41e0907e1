/* jwt.c and jwks.c: tokens signed here with OpenSSL for every algorithm,
 * each kind of bad token refused for its own reason, key sets parsed
 * strictly, and a jwks_url fetched from a loopback server. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <sys/socket.h>
#include "check.h"
#include "jose_fixture.h"
#include "jwks.h"
#include "jwt.h"
#include "tls.h"

#define ISS "https://idp.test/realms/eng"
#define AUD "https://warden.test/mcp/registry"

static EVP_PKEY *rsa, *p256, *p384, *ed;
static struct jwks *keys;
static double now;

static const struct jwt_rules all_rules = {
    .issuer = ISS, .audience = AUD, .algs = (1u << JWT_NALGS) - 1, .leeway_s = 30, .principal_claim = NULL};

static char payload_buf[4096];

static const char *claims(const char *extra)
{
    snprintf(payload_buf, sizeof payload_buf,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"alice\",\"exp\":%.0f,\"iat\":%.0f%s%s}",
             now + 300, now - 10, extra[0] ? "," : "", extra);
    return payload_buf;
}

static enum jwt_status verify_with(const char *token, const struct jwt_rules *rules)
{
    struct jwt_token t;
    enum jwt_status st = jwt_verify(token, strlen(token), keys, rules, now, &t);
    if (st == JWT_OK)
        jwt_token_clear(&t);
    return st;
}

static enum jwt_status verify(const char *token)
{
    return verify_with(token, &all_rules);
}

/* Signs and verifies; frees the token. */
static enum jwt_status signed_status(EVP_PKEY *k, const char *alg, const char *header, const char *payload)
{
    char *tok = fx_sign(k, alg, header, payload);
    enum jwt_status st = verify(tok);
    free(tok);
    return st;
}

static void setup(void)
{
    now = (double)time(NULL);
    rsa = fx_keygen("RSA");
    p256 = fx_keygen("P-256");
    p384 = fx_keygen("P-384");
    ed = fx_keygen("Ed25519");
    char a[1200], b[400], c[400], d[300], set[3000];
    fx_jwk(rsa, "rsa1", NULL, a, sizeof a);
    fx_jwk(p256, "ec256", "ES256", b, sizeof b);
    fx_jwk(p384, "ec384", NULL, c, sizeof c);
    fx_jwk(ed, "ed1", NULL, d, sizeof d);
    snprintf(set, sizeof set, "{\"keys\":[%s,%s,%s,%s,{\"kty\":\"RSA\",\"use\":\"enc\",\"kid\":\"e\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", a, b, c, d);
    char err[300];
    keys = jwks_parse(set, strlen(set), err, sizeof err);
    CHECK(keys != NULL);
    if (!keys) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    CHECK(keys->n == 4);    /* the encryption key is skipped */
}

static void test_algorithms(void)
{
    const char *rsa_algs[] = {"RS256", "RS384", "RS512", "PS256"};
    for (size_t i = 0; i < 4; i++) {
        char h[100];
        snprintf(h, sizeof h, "{\"alg\":\"%s\",\"kid\":\"rsa1\",\"typ\":\"JWT\"}", rsa_algs[i]);
        CHECK(signed_status(rsa, rsa_algs[i], h, claims("")) == JWT_OK);
    }
    CHECK(signed_status(p256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec256\"}", claims("")) == JWT_OK);
    CHECK(signed_status(p384, "ES384", "{\"alg\":\"ES384\",\"kid\":\"ec384\"}", claims("")) == JWT_OK);
    CHECK(signed_status(ed, "EdDSA", "{\"alg\":\"EdDSA\",\"kid\":\"ed1\",\"typ\":\"at+jwt\"}", claims("")) == JWT_OK);

    /* Only the algorithms the deployment allows. */
    struct jwt_rules rs_only = all_rules;
    rs_only.algs = 1u << JWT_RS256;
    char *tok = fx_sign(p256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec256\"}", claims(""));
    CHECK(verify_with(tok, &rs_only) == JWT_ALG_NOT_ALLOWED);
    CHECK(verify(tok) == JWT_OK);
    free(tok);

    /* An allowed algorithm with a key of another kind. */
    CHECK(signed_status(p256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", claims("")) == JWT_ALG_KEY_MISMATCH);
    CHECK(signed_status(p384, "ES384", "{\"alg\":\"ES384\",\"kid\":\"ec256\"}", claims("")) == JWT_ALG_KEY_MISMATCH);
    /* The JWK says ES256; nothing else may use it. */
    CHECK(signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"ec256\"}", claims("")) == JWT_ALG_KEY_MISMATCH);
    /* Without a kid, a set of several keys names none. */
    CHECK(signed_status(rsa, "RS256", "{\"alg\":\"RS256\"}", claims("")) == JWT_UNKNOWN_KID);
}

/* Every refusal the brief lists, each with its own reason. */
static void test_refusals(void)
{
    enum jwt_status seen[32];
    size_t n = 0;
    char *tok;

    /* expired, past the leeway */
    char extra[200];
    snprintf(payload_buf, sizeof payload_buf, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"a\",\"exp\":%.0f}",
             now - 31);
    CHECK((seen[n++] = signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", payload_buf)) == JWT_EXPIRED);
    /* ... but inside the leeway it passes */
    snprintf(payload_buf, sizeof payload_buf, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"a\",\"exp\":%.0f}",
             now - 29);
    CHECK(signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", payload_buf) == JWT_OK);

    /* wrong audience, also inside an array; the right one in an array passes */
    snprintf(payload_buf, sizeof payload_buf,
             "{\"iss\":\"" ISS "\",\"aud\":[\"https://other.test\",\"" AUD "/x\"],\"sub\":\"a\",\"exp\":%.0f}", now + 60);
    CHECK((seen[n++] = signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", payload_buf)) ==
          JWT_WRONG_AUDIENCE);
    snprintf(payload_buf, sizeof payload_buf,
             "{\"iss\":\"" ISS "\",\"aud\":[\"https://other.test\",\"" AUD "\"],\"sub\":\"a\",\"exp\":%.0f}", now + 60);
    CHECK(signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", payload_buf) == JWT_OK);

    /* wrong issuer (a prefix is not the issuer) */
    snprintf(payload_buf, sizeof payload_buf, "{\"iss\":\"" ISS "x\",\"aud\":\"" AUD "\",\"sub\":\"a\",\"exp\":%.0f}",
             now + 60);
    CHECK((seen[n++] = signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", payload_buf)) ==
          JWT_WRONG_ISSUER);

    /* alg none, with an empty signature and with one */
    char h[200], p[2000];
    fx_b64url_str("{\"alg\":\"none\",\"kid\":\"rsa1\"}", h, sizeof h);
    fx_b64url_str(claims(""), p, sizeof p);
    char none[2300];
    snprintf(none, sizeof none, "%s.%s.", h, p);
    CHECK(verify(none) == JWT_MALFORMED);
    snprintf(none, sizeof none, "%s.%s.AAAA", h, p);
    CHECK((seen[n++] = verify(none)) == JWT_ALG_NONE);

    /* HS256 with the RSA public key (its PEM) as the HMAC secret */
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, rsa);
    char *pem;
    long pemlen = BIO_get_mem_data(bio, &pem);
    tok = fx_sign_hs256((const unsigned char *)pem, (size_t)pemlen, "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", claims(""));
    CHECK((seen[n++] = verify(tok)) == JWT_ALG_HMAC);
    free(tok);
    BIO_free(bio);

    /* bad signature: another key's, and one flipped byte */
    EVP_PKEY *other = fx_keygen("RSA");
    CHECK((seen[n++] = signed_status(other, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", claims(""))) ==
          JWT_BAD_SIGNATURE);
    EVP_PKEY_free(other);
    tok = fx_sign(p256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec256\"}", claims(""));
    size_t tl = strlen(tok);
    tok[tl - 5] = tok[tl - 5] == 'A' ? 'B' : 'A';
    CHECK(verify(tok) == JWT_BAD_SIGNATURE);
    free(tok);
    tok = fx_sign(ed, "EdDSA", "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}", claims(""));
    tl = strlen(tok);
    tok[tl - 10] = tok[tl - 10] == 'A' ? 'B' : 'A';
    CHECK(verify(tok) == JWT_BAD_SIGNATURE);
    free(tok);

    /* unknown kid */
    CHECK((seen[n++] = signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa2\"}", claims(""))) ==
          JWT_UNKNOWN_KID);

    /* nbf in the future, iat in the future */
    snprintf(extra, sizeof extra, "\"nbf\":%.0f", now + 120);
    CHECK((seen[n++] = signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", claims(extra))) ==
          JWT_NOT_YET_VALID);
    snprintf(payload_buf, sizeof payload_buf,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"a\",\"exp\":%.0f,\"iat\":%.0f}", now + 600, now + 120);
    CHECK((seen[n++] = signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", payload_buf)) ==
          JWT_ISSUED_IN_FUTURE);

    /* missing exp; exp of the wrong type */
    CHECK((seen[n++] = signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                                     "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"a\"}")) == JWT_MISSING_EXP);
    CHECK((seen[n++] = signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                                     "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"a\",\"exp\":\"9999999999\"}")) ==
          JWT_BAD_CLAIM);

    /* duplicate claim keys: cJSON would read the first sub, a server the last */
    CHECK((seen[n++] = signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                                     claims("\"sub\":\"admin\""))) == JWT_DUPLICATE_KEY);
    CHECK(signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"alg\":\"RS256\"}", claims("")) ==
          JWT_DUPLICATE_KEY);
    CHECK(signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", claims("\"x\":{\"a\":1,\"a\":2}")) ==
          JWT_DUPLICATE_KEY);

    /* bad base64: padding, the other alphabet, trailing bits */
    tok = fx_sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", claims(""));
    char *bad = malloc(strlen(tok) + 4);
    char *dot = strchr(tok, '.');
    snprintf(bad, strlen(tok) + 4, "%.*s=%s", (int)(dot - tok), tok, dot);
    CHECK((seen[n++] = verify(bad)) == JWT_BAD_BASE64);
    strcpy(bad, tok);
    bad[2] = '+';
    CHECK(verify(bad) == JWT_BAD_BASE64);
    /* "eyJ" + "hbG" ...: the header's last character carries unused bits; set one */
    strcpy(bad, tok);
    size_t hl = (size_t)(strchr(bad, '.') - bad);
    if (hl % 4 != 0) {
        char *last = bad + hl - 1;
        const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        int v = (int)(strchr(al, *last) - al);
        *last = al[v ^ 1];
        CHECK(verify(bad) == JWT_BAD_BASE64);
    }
    free(bad);
    free(tok);

    /* headers that would let the token choose its key */
    CHECK((seen[n++] = signed_status(rsa, "RS256",
                                     "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"jku\":\"https://evil.test/k\"}",
                                     claims(""))) == JWT_BAD_HEADER);
    CHECK(signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"exp\"]}", claims("")) ==
          JWT_BAD_HEADER);

    /* a NUL hidden in the issuer */
    CHECK((seen[n++] = signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                                     "{\"iss\":\"" ISS "\\u0000evil\",\"aud\":\"" AUD "\",\"sub\":\"a\",\"exp\":9999999999}")) ==
          JWT_BAD_JSON);
    /* no principal */
    snprintf(payload_buf, sizeof payload_buf, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%.0f}", now + 60);
    CHECK((seen[n++] = signed_status(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", payload_buf)) ==
          JWT_NO_PRINCIPAL);

    /* structure and size */
    CHECK((seen[n++] = verify("a.b")) == JWT_MALFORMED);
    CHECK(verify("a.b.c.d") == JWT_MALFORMED);
    char *huge = malloc(JWT_MAX_BYTES + 2);
    memset(huge, 'A', JWT_MAX_BYTES + 1);
    huge[JWT_MAX_BYTES + 1] = '\0';
    CHECK((seen[n++] = verify(huge)) == JWT_TOO_LARGE);
    free(huge);

    /* every reason is its own */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            CHECK(seen[i] != seen[j]);
    for (int s = 0; s < JWT_NSTATUS; s++)
        CHECK(jwt_status_text((enum jwt_status)s)[0] != '?');
}

static void test_scopes(void)
{
    char *tok = fx_sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", claims("\"scope\":\"mcp:tools  mcp:read\""));
    struct jwt_token t;
    CHECK(jwt_verify(tok, strlen(tok), keys, &all_rules, now, &t) == JWT_OK);
    size_t n;
    char **s = jwt_scopes(&t, &n);
    CHECK(n == 2 && s && strcmp(s[0], "mcp:tools") == 0 && strcmp(s[1], "mcp:read") == 0 && s[2] == NULL);
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
    jwt_token_clear(&t);
    free(tok);

    tok = fx_sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", claims("\"scp\":[\"a\",\"b\"]"));
    CHECK(jwt_verify(tok, strlen(tok), keys, &all_rules, now, &t) == JWT_OK);
    s = jwt_scopes(&t, &n);
    CHECK(n == 2 && strcmp(s[1], "b") == 0);
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
    jwt_token_clear(&t);
    free(tok);

    /* another principal claim */
    struct jwt_rules by_email = all_rules;
    by_email.principal_claim = "email";
    tok = fx_sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", claims(""));
    CHECK(verify_with(tok, &by_email) == JWT_NO_PRINCIPAL);
    free(tok);
}

static void test_b64url(void)
{
    size_t n;
    unsigned char *b = jose_b64url_decode("aGVsbG8", 7, &n);
    CHECK(b && n == 5 && memcmp(b, "hello", 5) == 0);
    free(b);
    CHECK(jose_b64url_decode("aGVsbG8=", 8, &n) == NULL);
    CHECK(jose_b64url_decode("aGVsbG9", 7, &n) == NULL);    /* non-zero leftover bits */
    CHECK(jose_b64url_decode("a", 1, &n) == NULL);
    CHECK(jose_b64url_decode("a b", 3, &n) == NULL);
    b = jose_b64url_decode("", 0, &n);
    CHECK(b && n == 0);
    free(b);
}

static struct jwks *parse(const char *text, char *err)
{
    return jwks_parse(text, strlen(text), err, 300);
}

static void test_jwks_parse(void)
{
    char err[300], jwk[1500], set[3500];
    EVP_PKEY *small = fx_keygen("RSA1024");
    fx_jwk(small, "s", NULL, jwk, sizeof jwk);
    snprintf(set, sizeof set, "{\"keys\":[%s]}", jwk);
    CHECK(parse(set, err) == NULL && strstr(err, "1024 bits"));
    EVP_PKEY_free(small);

    fx_jwk(rsa, "r", NULL, jwk, sizeof jwk);
    snprintf(set, sizeof set, "{\"keys\":[%s,%s]}", jwk, jwk);
    CHECK(parse(set, err) == NULL && strstr(err, "used twice"));

    jwk[strlen(jwk) - 1] = '\0';
    snprintf(set, sizeof set, "{\"keys\":[%s,\"d\":\"AQAB\"}]}", jwk);
    CHECK(parse(set, err) == NULL && strstr(err, "private member \"d\""));

    /* a P-256 point moved off the curve */
    fx_jwk(p256, "e", NULL, jwk, sizeof jwk);
    char *y = strstr(jwk, "\"y\":\"") + 5;
    y[3] = y[3] == 'A' ? 'B' : 'A';
    snprintf(set, sizeof set, "{\"keys\":[%s]}", jwk);
    CHECK(parse(set, err) == NULL && strstr(err, "not a point of P-256"));

    CHECK(parse("{\"keys\":[{\"kty\":\"oct\",\"k\":\"AQAB\"}]}", err) == NULL && strstr(err, "no key warden can verify"));
    CHECK(parse("{\"keys\":[],\"keys\":[]}", err) == NULL && strstr(err, "repeated"));
    CHECK(parse("{\"keys\":{}}", err) == NULL && strstr(err, "\"keys\" array"));
    CHECK(parse("[1,]", err) == NULL && strstr(err, "strict JSON"));
    CHECK(parse("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AQAB\"}]}", err) == NULL &&
          strstr(err, "not 32"));

    /* the holder: a reader's reference outlives a swap */
    struct jwks_holder h;
    jwks_holder_init(&h);
    CHECK(jwks_holder_get(&h) == NULL);
    jwks_holder_set(&h, jwks_ref(keys));
    struct jwks *held = jwks_holder_get(&h);
    CHECK(held == keys);
    fx_jwk(ed, "only", NULL, jwk, sizeof jwk);
    snprintf(set, sizeof set, "{\"keys\":[%s]}", jwk);
    jwks_holder_set(&h, parse(set, err));
    CHECK(jwks_find(held, "rsa1") != NULL);
    jwks_unref(held);
    held = jwks_holder_get(&h);
    CHECK(held && held->n == 1 && jwks_find(held, NULL) == &held->keys[0]);
    jwks_unref(held);
    jwks_holder_destroy(&h);
}

/* ---- the fetcher, against an evhttp server on loopback ---- */

struct server {
    int hits;
    int status;
    const char *body;
    size_t repeat;      /* the body is sent this many times (a flood) */
};

static void serve(struct evhttp_request *req, void *arg)
{
    struct server *s = arg;
    s->hits++;
    struct evbuffer *b = evbuffer_new();
    for (size_t i = 0; i < (s->repeat ? s->repeat : 1); i++)
        evbuffer_add(b, s->body, strlen(s->body));
    evhttp_send_reply(req, s->status, "x", b);
    evbuffer_free(b);
}

struct waiter {
    struct jwks_fetcher *f;
    unsigned want;      /* good + failed to reach */
    struct event_base *base;
};

static void poll_counts(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct waiter *w = arg;
    unsigned g, b;
    jwks_fetcher_counts(w->f, &g, &b);
    if (g + b >= w->want)
        event_base_loopbreak(w->base);
}

/* Runs the loop until the fetcher has finished `want` fetches in all. */
static void run_until(struct event_base *base, struct jwks_fetcher *f, unsigned want)
{
    struct waiter w = {f, want, base};
    struct event *tick = event_new(base, -1, EV_PERSIST, poll_counts, &w);
    struct timeval tv = {0, 2000};
    event_add(tick, &tv);
    event_base_dispatch(base);
    event_free(tick);
}

static struct evhttp *listen_http(struct event_base *base, struct server *s, int *port)
{
    struct evhttp *http = evhttp_new(base);
    evhttp_set_gencb(http, serve, s);
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl);
    *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return http;
}

static void test_fetcher(void)
{
    struct event_base *base = event_base_new();
    char jwk[400], set[600], err[300];
    fx_jwk(ed, "ed1", NULL, jwk, sizeof jwk);
    snprintf(set, sizeof set, "{\"keys\":[%s]}", jwk);
    struct server s = {.status = 200, .body = set};
    int port;
    struct evhttp *http = listen_http(base, &s, &port);
    char url[100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/jwks.json", port);

    struct jwks_holder h;
    jwks_holder_init(&h);
    struct jwks_fetcher_opts o = {.url = url, .refresh_s = 3600, .min_gap_s = 60, .timeout_s = 5};
    struct jwks_fetcher *f = jwks_fetcher_new(base, &o, &h, err, sizeof err);
    CHECK(f != NULL);
    run_until(base, f, 1);
    struct jwks *got = jwks_holder_get(&h);
    CHECK(got && jwks_find(got, "ed1"));
    jwks_unref(got);
    CHECK(s.hits == 1);

    /* An unknown kid asks again; inside the minute the ask waits for its turn. */
    jwks_fetcher_request(f);
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK(s.hits == 1);
    jwks_fetcher_free(f);

    /* With no gap the ask fetches at once; a broken answer keeps the last good set. */
    o.min_gap_s = 1e-6;
    f = jwks_fetcher_new(base, &o, &h, err, sizeof err);
    run_until(base, f, 1);
    s.status = 500;
    jwks_fetcher_request(f);
    run_until(base, f, 2);
    unsigned good, failed;
    jwks_fetcher_counts(f, &good, &failed);
    CHECK(good == 1 && failed == 1);
    s.status = 200;
    s.body = "{\"keys\":[]}";
    jwks_fetcher_request(f);
    run_until(base, f, 3);
    s.body = "{\"keys\":[";
    s.repeat = JWKS_MAX_BYTES / 8;      /* past the byte budget */
    jwks_fetcher_request(f);
    run_until(base, f, 4);
    jwks_fetcher_counts(f, &good, &failed);
    CHECK(good == 1 && failed == 3);
    got = jwks_holder_get(&h);
    CHECK(got && jwks_find(got, "ed1"));
    jwks_unref(got);
    jwks_fetcher_free(f);

    /* Nothing listens: a failure, not a hang. */
    evhttp_free(http);
    f = jwks_fetcher_new(base, &o, &h, err, sizeof err);
    run_until(base, f, 1);
    jwks_fetcher_counts(f, &good, &failed);
    CHECK(good == 0 && failed == 1);
    jwks_fetcher_free(f);
    jwks_holder_destroy(&h);
    event_base_free(base);

    CHECK(!jwks_url_acceptable("http://idp.example/jwks", err, sizeof err));
    CHECK(strstr(err, "https://") != NULL);
    CHECK(jwks_url_acceptable("https://idp.example/jwks", err, sizeof err));
    CHECK(jwks_url_acceptable("http://localhost:9/jwks", err, sizeof err));
    CHECK(!jwks_url_acceptable("https://user@idp.example/jwks", err, sizeof err));
    CHECK(!jwks_url_acceptable("jwks.json", err, sizeof err));
}

/* https:// with the CA made for this run, and with the wrong one. */
static struct bufferevent *tls_bevcb(struct event_base *base, void *arg)
{
    return tls_bev_accept(base, -1, arg, BEV_OPT_CLOSE_ON_FREE);
}

static void test_fetcher_https(void)
{
    char dir[] = "/tmp/warden-jwks-XXXXXX";
    if (!mkdtemp(dir))
        return;
    char cmd[200], a[150], b[150], c[150], w[150], err[300];
    snprintf(cmd, sizeof cmd, "sh tests/tls/make-certs.sh %s", dir);
    CHECK(system(cmd) == 0);
    snprintf(a, sizeof a, "%s/server.crt", dir);
    snprintf(b, sizeof b, "%s/server.key", dir);
    snprintf(c, sizeof c, "%s/ca.crt", dir);
    snprintf(w, sizeof w, "%s/wrongca.crt", dir);
    struct tls_server *ts = tls_server_new(a, b, err, sizeof err);
    struct tls_client *good = tls_client_new(c, err, sizeof err);
    struct tls_client *wrong = tls_client_new(w, err, sizeof err);
    CHECK(ts && good && wrong);

    struct event_base *base = event_base_new();
    char jwk[400], set[600];
    fx_jwk(ed, "ed1", NULL, jwk, sizeof jwk);
    snprintf(set, sizeof set, "{\"keys\":[%s]}", jwk);
    struct server s = {.status = 200, .body = set};
    int port;
    struct evhttp *http = listen_http(base, &s, &port);
    evhttp_set_bevcb(http, tls_bevcb, ts);
    char url[100];
    snprintf(url, sizeof url, "https://localhost:%d/jwks.json", port);
    struct jwks_holder h;
    jwks_holder_init(&h);
    struct jwks_fetcher_opts o = {.url = url, .refresh_s = 3600, .min_gap_s = 60, .timeout_s = 5, .tls = good};
    struct jwks_fetcher *f = jwks_fetcher_new(base, &o, &h, err, sizeof err);
    run_until(base, f, 1);
    unsigned g, fl;
    jwks_fetcher_counts(f, &g, &fl);
    CHECK(g == 1 && fl == 0);
    jwks_fetcher_free(f);
    jwks_holder_destroy(&h);

    jwks_holder_init(&h);
    o.tls = wrong;
    f = jwks_fetcher_new(base, &o, &h, err, sizeof err);
    run_until(base, f, 1);
    jwks_fetcher_counts(f, &g, &fl);
    CHECK(g == 0 && fl == 1);
    CHECK(jwks_holder_get(&h) == NULL);
    CHECK(s.hits == 1);
    jwks_fetcher_free(f);
    jwks_holder_destroy(&h);

    o.tls = NULL;
    CHECK(jwks_fetcher_new(base, &o, &h, err, sizeof err) == NULL);

    evhttp_free(http);
    event_base_free(base);
    tls_client_free(good);
    tls_client_free(wrong);
    tls_server_free(ts);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);  /* the flooding test server writes to a closed socket */
    evthread_use_pthreads();
    setup();
    test_algorithms();
    test_refusals();
    test_scopes();
    test_b64url();
    test_jwks_parse();
    test_fetcher();
    test_fetcher_https();
    jwks_unref(keys);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
    return check_report();
}
