#include "tls.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tls_server {
    char *cert_file, *key_file;
    pthread_mutex_t lock;   /* guards ctx: workers take sessions while SIGHUP swaps it */
    SSL_CTX *ctx;
};

struct tls_client {
    SSL_CTX *ctx;
};

/* The oldest OpenSSL error queued on this thread, then clears the queue so a
 * later message does not inherit it. */
static void openssl_reason(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_peek_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
    ERR_clear_error();
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* The settings both sides share: TLS 1.2 at least, no renegotiation, no
 * compression. */
static SSL_CTX *new_ctx(const SSL_METHOD *method, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx) {
        openssl_reason(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        openssl_reason(err, errlen, "cannot require TLS 1.2");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

static SSL_CTX *server_ctx_load(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = new_ctx(TLS_server_method(), err, errlen);
    if (!ctx)
        return NULL;
    char what[600];
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        snprintf(what, sizeof what, "%s: cannot read the certificate chain", cert_file);
        openssl_reason(err, errlen, what);
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH)
            snprintf(what, sizeof what, "%s: the key does not match the certificate %s", key_file, cert_file);
        else
            snprintf(what, sizeof what, "%s: cannot read the private key", key_file);
        openssl_reason(err, errlen, what);
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(what, sizeof what, "%s: the key does not match the certificate %s", key_file, cert_file);
        openssl_reason(err, errlen, what);
    } else {
        /* One listener has one name: there is nothing for ALPN to choose but HTTP/1.1. */
        return ctx;
    }
    SSL_CTX_free(ctx);
    return NULL;
}

struct tls_server *tls_server_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    struct tls_server *ts = calloc(1, sizeof *ts);
    if (!ts) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ts->cert_file = dup_str(cert_file);
    ts->key_file = dup_str(key_file);
    if (!ts->cert_file || !ts->key_file) {
        snprintf(err, errlen, "out of memory");
    } else if ((ts->ctx = server_ctx_load(cert_file, key_file, err, errlen)) != NULL) {
        pthread_mutex_init(&ts->lock, NULL);
        return ts;
    }
    free(ts->cert_file);
    free(ts->key_file);
    free(ts);
    return NULL;
}

int tls_server_reload(struct tls_server *ts, char *err, size_t errlen)
{
    SSL_CTX *fresh = server_ctx_load(ts->cert_file, ts->key_file, err, errlen);
    if (!fresh)
        return -1;
    pthread_mutex_lock(&ts->lock);
    SSL_CTX *old = ts->ctx;
    ts->ctx = fresh;
    pthread_mutex_unlock(&ts->lock);
    /* Open connections hold their own references: this drops only ours. */
    SSL_CTX_free(old);
    return 0;
}

void tls_server_free(struct tls_server *ts)
{
    if (!ts)
        return;
    SSL_CTX_free(ts->ctx);
    pthread_mutex_destroy(&ts->lock);
    free(ts->cert_file);
    free(ts->key_file);
    free(ts);
}

SSL *tls_server_session(struct tls_server *ts)
{
    pthread_mutex_lock(&ts->lock);
    SSL *ssl = SSL_new(ts->ctx);
    pthread_mutex_unlock(&ts->lock);
    if (!ssl)
        ERR_clear_error();
    return ssl;
}

struct tls_client *tls_client_new(const char *ca_file, char *err, size_t errlen)
{
    struct tls_client *tc = calloc(1, sizeof *tc);
    if (!tc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    tc->ctx = new_ctx(TLS_client_method(), err, errlen);
    if (!tc->ctx) {
        free(tc);
        return NULL;
    }
    int ok;
    char what[600];
    if (ca_file) {
        ok = SSL_CTX_load_verify_locations(tc->ctx, ca_file, NULL);
        snprintf(what, sizeof what, "%s: cannot read the CA certificates", ca_file);
    } else {
        ok = SSL_CTX_set_default_verify_paths(tc->ctx);
        snprintf(what, sizeof what, "cannot load the system's trusted certificates");
    }
    static const unsigned char alpn[] = "\x08http/1.1";
    if (ok != 1) {
        openssl_reason(err, errlen, what);
    } else if (SSL_CTX_set_alpn_protos(tc->ctx, alpn, sizeof alpn - 1) != 0) {
        openssl_reason(err, errlen, "cannot offer ALPN http/1.1");
    } else {
        SSL_CTX_set_verify(tc->ctx, SSL_VERIFY_PEER, NULL);
        return tc;
    }
    SSL_CTX_free(tc->ctx);
    free(tc);
    return NULL;
}

void tls_client_free(struct tls_client *tc)
{
    if (!tc)
        return;
    SSL_CTX_free(tc->ctx);
    free(tc);
}

static bool is_ip_literal(const char *host)
{
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
    if (!ip) {
        ERR_clear_error();
        return false;
    }
    ASN1_OCTET_STRING_free(ip);
    return true;
}

SSL *tls_client_session(struct tls_client *tc, const char *host, char *err, size_t errlen)
{
    if (!host || !host[0]) {
        snprintf(err, errlen, "TLS needs the server's host name");
        return NULL;
    }
    SSL *ssl = SSL_new(tc->ctx);
    if (!ssl) {
        openssl_reason(err, errlen, "cannot create a TLS session");
        return NULL;
    }
    /* SSL_set1_host takes an IP literal as an address to match against the
     * certificate's IP names, and anything else as a DNS name; without it
     * any certificate from a trusted CA would do. */
    if (SSL_set1_host(ssl, host) != 1) {
        openssl_reason(err, errlen, "cannot set the name to verify");
    } else if (!is_ip_literal(host) && SSL_set_tlsext_host_name(ssl, host) != 1) {
        openssl_reason(err, errlen, "cannot set the server name (SNI)");
    } else {
        return ssl;
    }
    SSL_free(ssl);
    return NULL;
}

struct bufferevent *tls_bev_accept(struct event_base *base, evutil_socket_t fd, struct tls_server *ts, int options)
{
    SSL *ssl = tls_server_session(ts);
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, options);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    /* Lets a peer that closes without close_notify end the stream (EOF), as
     * with plain TCP; HTTP framing tells a complete message from a cut one. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

struct bufferevent *tls_bev_connect(struct event_base *base, evutil_socket_t fd, struct tls_client *tc,
                                    const char *host, int options, char *err, size_t errlen)
{
    SSL *ssl = tls_client_session(tc, host, err, errlen);
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_CONNECTING, options);
    if (!bev) {
        SSL_free(ssl);
        snprintf(err, errlen, "cannot create a TLS bufferevent");
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

void tls_error_string(struct bufferevent *bev, char *out, size_t outlen)
{
    unsigned long e = bufferevent_get_openssl_error(bev);
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (vr != X509_V_OK)
        snprintf(out, outlen, "%s%scertificate refused: %s", buf, buf[0] ? "; " : "",
                 X509_verify_cert_error_string(vr));
    else
        snprintf(out, outlen, "%s", buf[0] ? buf : "connection closed during the TLS handshake");
}
