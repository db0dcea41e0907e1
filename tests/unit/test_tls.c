/* tls.c: handshakes between warden's server and client contexts over a
 * socketpair, with certificates the openssl CLI makes for this run
 * (tests/tls/make-certs.sh). */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "check.h"
#include "tls.h"

static char dir[64];

static const char *path(const char *name)
{
    static char buf[8][128];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

struct side {
    struct bufferevent *bev;
    int done;               /* 1 connected, -1 failed */
    char why[512];
    char peer_cn[128];      /* the certificate the client saw */
    struct side *other;
};

static void finish(struct side *s)
{
    if (s->done && s->other->done)
        event_base_loopbreak(bufferevent_get_base(s->bev));
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct side *s = arg;
    if (s->done)
        return;
    if (what & BEV_EVENT_CONNECTED) {
        s->done = 1;
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        X509 *cert = SSL_get1_peer_certificate(ssl);
        if (cert) {
            X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, s->peer_cn, sizeof s->peer_cn);
            X509_free(cert);
        }
    } else {
        s->done = -1;
        tls_error_string(bev, s->why, sizeof s->why);
        /* Closing our end tells the peer, who may still be waiting. */
        shutdown(bufferevent_getfd(bev), SHUT_RDWR);
    }
    finish(s);
}

/* Runs one handshake; returns 1 when both sides completed it. */
static int handshake(struct tls_server *ts, struct tls_client *tc, const char *host, struct side *cli,
                     struct side *srv, struct bufferevent **keep_client)
{
    struct event_base *base = event_base_new();
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    memset(cli, 0, sizeof *cli);
    memset(srv, 0, sizeof *srv);
    cli->other = srv;
    srv->other = cli;
    char err[256];
    srv->bev = tls_bev_accept(base, sv[0], ts, BEV_OPT_CLOSE_ON_FREE);
    cli->bev = tls_bev_connect(base, sv[1], tc, host, BEV_OPT_CLOSE_ON_FREE, err, sizeof err);
    CHECK(srv->bev && cli->bev);
    bufferevent_setcb(srv->bev, NULL, NULL, on_event, srv);
    bufferevent_setcb(cli->bev, NULL, NULL, on_event, cli);
    bufferevent_enable(srv->bev, EV_READ | EV_WRITE);
    bufferevent_enable(cli->bev, EV_READ | EV_WRITE);
    event_base_dispatch(base);
    bufferevent_free(srv->bev);
    if (keep_client) {
        *keep_client = cli->bev;    /* the caller frees it, with the base */
    } else {
        bufferevent_free(cli->bev);
        event_base_free(base);
    }
    return cli->done == 1 && srv->done == 1;
}

static void test_good_and_wrong(void)
{
    char err[512];
    struct tls_server *ts = tls_server_new(path("server.crt"), path("server.key"), err, sizeof err);
    CHECK(ts);
    struct tls_client *good = tls_client_new(path("ca.crt"), err, sizeof err);
    struct tls_client *wrong = tls_client_new(path("wrongca.crt"), err, sizeof err);
    CHECK(good && wrong);
    struct side c, s;

    CHECK(handshake(ts, good, "localhost", &c, &s, NULL));
    CHECK_STR(c.peer_cn, "warden-test-server");
    CHECK(handshake(ts, good, "127.0.0.1", &c, &s, NULL));

    /* A certificate from a CA warden was not told to trust. */
    CHECK(!handshake(ts, wrong, "localhost", &c, &s, NULL));
    CHECK(c.done == -1);
    CHECK(strstr(c.why, "unable to get local issuer certificate") != NULL);

    /* A trusted certificate for another name. */
    CHECK(!handshake(ts, good, "warden.example", &c, &s, NULL));
    CHECK(c.done == -1);
    CHECK(strstr(c.why, "hostname mismatch") != NULL);
    CHECK(!handshake(ts, good, "127.0.0.2", &c, &s, NULL));
    CHECK(strstr(c.why, "IP address mismatch") != NULL);

    tls_client_free(good);
    tls_client_free(wrong);
    tls_server_free(ts);
}

/* A client that offers at most TLS 1.1 is refused by the listener. */
static void test_old_protocol(void)
{
    char err[512];
    struct tls_server *ts = tls_server_new(path("server.crt"), path("server.key"), err, sizeof err);
    CHECK(ts);
    SSL *probe = tls_server_session(ts);
    CHECK(probe && SSL_get_min_proto_version(probe) == TLS1_2_VERSION);
    SSL_free(probe);

    struct event_base *base = event_base_new();
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    SSL_CTX *old = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(old, 0);     /* lets this client try TLS 1.1 at all */
    SSL_CTX_set_min_proto_version(old, TLS1_1_VERSION);
    SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
    SSL_CTX_set_cipher_list(old, "ALL:@SECLEVEL=0");
    struct side c = {0}, s = {0};
    c.other = &s;
    s.other = &c;
    s.bev = tls_bev_accept(base, sv[0], ts, BEV_OPT_CLOSE_ON_FREE);
    c.bev = bufferevent_openssl_socket_new(base, sv[1], SSL_new(old), BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s.bev, NULL, NULL, on_event, &s);
    bufferevent_setcb(c.bev, NULL, NULL, on_event, &c);
    bufferevent_enable(s.bev, EV_READ | EV_WRITE);
    bufferevent_enable(c.bev, EV_READ | EV_WRITE);
    event_base_dispatch(base);
    CHECK(s.done == -1);
    CHECK(strstr(s.why, "unsupported protocol") != NULL);
    bufferevent_free(s.bev);
    bufferevent_free(c.bev);
    event_base_free(base);
    SSL_CTX_free(old);
    tls_server_free(ts);
}

/* A renewal: new handshakes see the new certificate, one made before
 * keeps the old; a broken file leaves the last good one in force. */
static void test_reload(void)
{
    char err[512];
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s %s && cp %s %s", path("server.crt"), path("live.crt"), path("server.key"),
             path("live.key"));
    CHECK(system(cmd) == 0);
    struct tls_server *ts = tls_server_new(path("live.crt"), path("live.key"), err, sizeof err);
    struct tls_client *tc = tls_client_new(path("ca.crt"), err, sizeof err);
    CHECK(ts && tc);
    struct side c, s;
    struct bufferevent *before = NULL;
    CHECK(handshake(ts, tc, "localhost", &c, &s, &before));
    CHECK_STR(c.peer_cn, "warden-test-server");

    snprintf(cmd, sizeof cmd, "cp %s %s && cp %s %s", path("renewed.crt"), path("live.crt"), path("renewed.key"),
             path("live.key"));
    CHECK(system(cmd) == 0);
    CHECK(tls_server_reload(ts, err, sizeof err) == 0);
    CHECK(handshake(ts, tc, "localhost", &c, &s, NULL));
    CHECK_STR(c.peer_cn, "warden-test-renewed");

    /* The connection made before the swap still has its own context. */
    SSL *old = bufferevent_openssl_get_ssl(before);
    X509 *cert = SSL_get1_peer_certificate(old);
    CHECK(cert != NULL);
    char cn[128] = "";
    if (cert)
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    CHECK_STR(cn, "warden-test-server");
    X509_free(cert);
    struct event_base *base = bufferevent_get_base(before);
    bufferevent_free(before);
    event_base_free(base);

    /* A key that does not match the certificate: refused, the renewed one stays. */
    snprintf(cmd, sizeof cmd, "cp %s %s", path("server.key"), path("live.key"));
    CHECK(system(cmd) == 0);
    CHECK(tls_server_reload(ts, err, sizeof err) == -1);
    CHECK(strstr(err, "does not match") != NULL);
    CHECK(handshake(ts, tc, "localhost", &c, &s, NULL));
    CHECK_STR(c.peer_cn, "warden-test-renewed");

    tls_client_free(tc);
    tls_server_free(ts);
}

static void test_bad_files(void)
{
    char err[512];
    CHECK(tls_server_new(path("missing.crt"), path("server.key"), err, sizeof err) == NULL);
    CHECK(strstr(err, "missing.crt: cannot read the certificate chain") != NULL);
    CHECK(tls_server_new(path("server.crt"), path("renewed.key"), err, sizeof err) == NULL);
    CHECK(strstr(err, "does not match") != NULL);
    CHECK(tls_client_new(path("missing.crt"), err, sizeof err) == NULL);
    CHECK(strstr(err, "cannot read the CA certificates") != NULL);
    /* The system store loads (whatever it holds). */
    struct tls_client *sys = tls_client_new(NULL, err, sizeof err);
    CHECK(sys != NULL);
    CHECK(tls_client_session(sys, "", err, sizeof err) == NULL);
    tls_client_free(sys);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/warden-tls-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh tests/tls/make-certs.sh %s", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot make the test certificates\n");
        return 1;
    }
    test_good_and_wrong();
    test_old_protocol();
    test_reload();
    test_bad_files();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_report();
}
