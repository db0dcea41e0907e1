/* tls.c: OpenSSL 3 contexts for warden's two sides (a listener's certificate,
 * renewable while warden runs; the verification of https:// upstreams) and
 * the bufferevents that speak TLS over a socket. */
#ifndef WARDEN_TLS_H
#define WARDEN_TLS_H
#include <stddef.h>
#include <event2/bufferevent.h>
#include <event2/util.h>

struct event_base;
typedef struct ssl_st SSL;

/* A listener's certificate and key: TLS 1.2 and later only. The current
 * SSL_CTX sits behind a mutex; every worker thread may take new sessions
 * from it while the main thread reloads it. */
struct tls_server;

/* Reads the PEM certificate chain and private key (which must match).
 * Returns the server, or NULL with the reason in err. Connections hold
 * their own reference to the context they began with, so tls_server_free()
 * may come once no thread takes new sessions from it, open ones or not. */
struct tls_server *tls_server_new(const char *cert_file, const char *key_file, char *err, size_t errlen);

/* Reads the same files again into a new SSL_CTX and swaps it in: the next
 * connections present the renewed certificate, the open ones keep theirs.
 * Returns 0, or -1 with the reason in err and the old context still in
 * force (a half-written renewal never takes the listener down). */
int tls_server_reload(struct tls_server *ts, char *err, size_t errlen);

void tls_server_free(struct tls_server *ts);

/* A new server-side SSL from the current context (the SSL holds its own
 * reference to that context). NULL when OpenSSL fails. */
SSL *tls_server_session(struct tls_server *ts);

/* How warden verifies upstream servers: the system's trust store, or only
 * the CAs in ca_file when it is not NULL; TLS 1.2 and later; ALPN
 * "http/1.1". There is no way to turn verification off. */
struct tls_client;

/* Returns the client context, or NULL with the reason in err. */
struct tls_client *tls_client_new(const char *ca_file, char *err, size_t errlen);
void tls_client_free(struct tls_client *tc);

/* A new client-side SSL that will only complete its handshake with a
 * server whose certificate chains to the trusted CAs and names `host` (a
 * DNS name, matched against the certificate's names, or an IP literal,
 * matched against its IP addresses). SNI carries a DNS name (never an IP
 * literal, RFC 6066). NULL with the reason in err. */
SSL *tls_client_session(struct tls_client *tc, const char *host, char *err, size_t errlen);

/* A bufferevent that accepts TLS on the connected socket fd (from a
 * listener) with the current certificate of ts. `options` as for
 * bufferevent_socket_new (BEV_OPT_CLOSE_ON_FREE closes fd; the SSL is
 * always freed with the bufferevent). BEV_EVENT_CONNECTED reports the
 * completed handshake; a failed one reports BEV_EVENT_ERROR (its reason:
 * tls_error_string). On failure returns NULL and fd is left open. */
struct bufferevent *tls_bev_accept(struct event_base *base, evutil_socket_t fd, struct tls_server *ts, int options);

/* A bufferevent that begins a TLS handshake as a client on fd, for `host`
 * (see tls_client_session). fd may be -1: then connect it with
 * bufferevent_socket_connect() and the handshake starts once it is
 * connected. BEV_EVENT_CONNECTED means TCP and TLS are both up and the
 * certificate verified. NULL with the reason in err (fd left open). */
struct bufferevent *tls_bev_connect(struct event_base *base, evutil_socket_t fd, struct tls_client *tc,
                                    const char *host, int options, char *err, size_t errlen);

/* Why a TLS bufferevent failed, for the log: the first OpenSSL error it
 * recorded and, when the certificate was refused, the verifier's reason. */
void tls_error_string(struct bufferevent *bev, char *out, size_t outlen);
#endif
