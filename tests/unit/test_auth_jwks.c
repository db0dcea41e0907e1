/* auth.c with a jwks_url: tokens are refused until the first key set
 * arrives, accepted after; a rotated key is fetched again on its unknown
 * kid (the fetch is asked for by the refusal itself). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include "auth.h"
#include "check.h"
#include "http-t.h"
#include "jose_fixture.h"
#include "schema.h"

struct server {
    char body[2000];
    int hits;
};

static void serve(struct evhttp_request *req, void *arg)
{
    struct server *s = arg;
    s->hits++;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, s->body, strlen(s->body));
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

struct fake_head {
    struct http_head h;
    char buf[4096];
    struct http_header hdr[1];
};

static enum auth_result authn(struct auth *a, const char *token, struct principal *p, struct auth_failure *why)
{
    struct fake_head f = {0};
    int n = snprintf(f.buf, sizeof f.buf, "AuthorizationBearer %s", token);
    f.hdr[0] = (struct http_header){0, 13, 13, (uint32_t)(n - 13)};
    f.h.buf = f.buf;
    f.h.len = (size_t)n;
    f.h.headers = f.hdr;
    f.h.nheaders = 1;
    return auth_authenticate(a, &f.h, NULL, p, why);
}

/* Runs the loop until the server has answered `hits` fetches and the
 * answers were read. */
static void run_until_hits(struct event_base *base, struct server *s, int hits)
{
    while (s->hits < hits)
        event_base_loop(base, EVLOOP_ONCE);
    for (int i = 0; i < 50; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    struct event_base *base = event_base_new();
    struct server s = {.hits = 0};
    EVP_PKEY *k1 = fx_keygen("Ed25519"), *k2 = fx_keygen("Ed25519");
    char jwk[300];
    fx_jwk(k1, "one", NULL, jwk, sizeof jwk);
    snprintf(s.body, sizeof s.body, "{\"keys\":[%s]}", jwk);
    struct evhttp *http = evhttp_new(base);
    evhttp_set_gencb(http, serve, &s);
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sin, &sl);

    char cfg[600], err[2000];
    snprintf(cfg, sizeof cfg,
             "{\"jwt\": {\"issuer\": \"https://idp.test\", \"audience\": \"https://w.test/mcp/r\", "
             "\"jwks_url\": \"http://127.0.0.1:%d/certs\"}}", ntohs(sin.sin_port));
    struct schema_doc doc;
    schema_doc_init(&doc, "w.json", err, sizeof err);
    const cJSON *root = schema_parse_text(&doc, cfg, strlen(cfg));
    struct auth *a = NULL;
    auth_read_field(&doc, NULL, root, "/auth", &a);
    CHECK(doc.problems == 0 && a != NULL);
    schema_doc_free(&doc);

    char payload[300];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"https://idp.test\",\"aud\":\"https://w.test/mcp/r\",\"sub\":\"svc\",\"exp\":%.0f}",
             (double)time(NULL) + 600);
    char *t1 = fx_sign(k1, "EdDSA", "{\"alg\":\"EdDSA\",\"kid\":\"one\"}", payload);
    char *t2 = fx_sign(k2, "EdDSA", "{\"alg\":\"EdDSA\",\"kid\":\"two\"}", payload);
    struct principal p;
    struct auth_failure why;

    /* Before the first set: refused, not crashed. */
    CHECK(authn(a, t1, &p, &why) == AUTH_UNAUTHORIZED);
    CHECK_STR(why.description, "no signing keys available");
    CHECK(auth_start(a, base, NULL, err, sizeof err) == 0);
    run_until_hits(base, &s, 1);
    CHECK(authn(a, t1, &p, &why) == AUTH_OK);
    CHECK(p.kind == PRINCIPAL_JWT && strcmp(p.id, "svc") == 0);
    principal_clear(&p);

    /* The issuer rotates to key "two": the first token with it is refused
     * and asks for a fetch; within the minute the ask waits, so it stays
     * refused, and no second fetch happens yet. */
    fx_jwk(k2, "two", NULL, jwk, sizeof jwk);
    snprintf(s.body, sizeof s.body, "{\"keys\":[%s]}", jwk);
    CHECK(authn(a, t2, &p, &why) == AUTH_UNAUTHORIZED);
    CHECK_STR(why.description, "no key for this kid");
    for (int i = 0; i < 20; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK(s.hits == 1);
    CHECK(authn(a, t1, &p, &why) == AUTH_OK);   /* the last good set still serves */
    principal_clear(&p);

    auth_stop(a);
    auth_free(a);
    free(t1);
    free(t2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    evhttp_free(http);
    event_base_free(base);
    return check_report();
}
