/* jwks.c: JSON Web Key Sets (RFC 7517) as immutable, refcounted sets of
 * OpenSSL public keys, a holder that swaps them safely between threads, and
 * a fetcher that keeps a jwks_url's set fresh. */
#ifndef WARDEN_JWKS_H
#define WARDEN_JWKS_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>

typedef struct evp_pkey_st EVP_PKEY;
struct event_base;
struct evdns_base;
struct tls_client;

enum jwk_type {
    JWK_RSA,        /* kty RSA, at least 2048 bits: RS256/384/512, PS256 */
    JWK_EC_P256,    /* kty EC, crv P-256: ES256 */
    JWK_EC_P384,    /* kty EC, crv P-384: ES384 */
    JWK_ED25519,    /* kty OKP, crv Ed25519: EdDSA */
};

struct jwk {
    char *kid;              /* owned; NULL when the key has none */
    char *alg;              /* owned; the key's own "alg", NULL when absent */
    enum jwk_type type;
    EVP_PKEY *key;          /* owned */
};

/* An immutable set: readers hold a reference while they verify. */
struct jwks {
    atomic_int refs;
    struct jwk *keys;
    size_t n;
};

/* Bounds on a set: larger documents are refused, not cut. */
#define JWKS_MAX_BYTES (256 * 1024)
#define JWKS_MAX_KEYS 64

/* Parses a JWKS document ({"keys": [...]}, strict JSON). Keys warden cannot
 * verify with (another kty or curve, "use" other than "sig", symmetric
 * "oct" keys) are skipped; a usable key that is malformed (members missing,
 * not base64url, a point off its curve, an RSA key under 2048 bits, private
 * members present), two keys with the same kid, or a set with no usable key
 * make the whole document an error. Returns a set with one reference (the
 * caller's), or NULL with the reason in err. */
struct jwks *jwks_parse(const char *text, size_t len, char *err, size_t errlen);

/* The same, from a file (at most JWKS_MAX_BYTES). */
struct jwks *jwks_load_file(const char *file, char *err, size_t errlen);

struct jwks *jwks_ref(struct jwks *set);
/* Drops one reference; the last frees the set. NULL is ignored. */
void jwks_unref(struct jwks *set);

/* The key named kid; with kid NULL, the set's only key when it has exactly
 * one. NULL when none matches. */
const struct jwk *jwks_find(const struct jwks *set, const char *kid);

/* Where the current set lives: verifiers on any thread take a reference,
 * the fetcher swaps in a new set; a reader never sees a freed or half-built
 * set. */
struct jwks_holder {
    pthread_mutex_t lock;
    struct jwks *current;   /* one reference, owned; NULL before the first good set */
};

void jwks_holder_init(struct jwks_holder *h);
/* Drops the current set. */
void jwks_holder_destroy(struct jwks_holder *h);
/* A reference to the current set (the caller unrefs it), or NULL. */
struct jwks *jwks_holder_get(struct jwks_holder *h);
/* Installs set, taking over the caller's reference; the old set goes when
 * its last reader is done. */
void jwks_holder_set(struct jwks_holder *h, struct jwks *set);

/* Keeps a jwks_url's set in a holder: fetched at start, again every
 * refresh_s seconds, and on request (a token named a kid the set lacks) at
 * most once per min_gap_s. A failed fetch (unreachable, slow past
 * timeout_s, not 200, larger than JWKS_MAX_BYTES, not a valid set) keeps
 * the last good set and is logged. Runs on one event base (the first
 * worker's); jwks_fetcher_request() may be called from any thread. Nothing
 * blocks that loop: a host name is resolved with evdns on the same base
 * (/etc/hosts, then the nameservers of /etc/resolv.conf), and like every
 * other step of a fetch counts against timeout_s. */
struct jwks_fetcher;

struct jwks_fetcher_opts {
    const char *url;            /* https://..., or http:// to a loopback address */
    double refresh_s;           /* > 0 */
    double min_gap_s;           /* least time between two fetches (60) */
    double timeout_s;           /* one fetch, connect to last byte */
    struct tls_client *tls;     /* borrowed, for https:// (must outlive the fetcher) */
    struct evdns_base *dns;     /* borrowed resolver on the same base (tests point it at their own
                                 * nameserver); NULL: the fetcher makes its own from the system's
                                 * configuration when the URL names a host, not an IP address */
};

/* Checks the URL and starts the first fetch. Returns NULL with the reason
 * in err when the URL is not one warden fetches from. `holder` is borrowed
 * and must outlive the fetcher. */
struct jwks_fetcher *jwks_fetcher_new(struct event_base *base, const struct jwks_fetcher_opts *opts,
                                      struct jwks_holder *holder, char *err, size_t errlen);
/* Asks for a fetch soon (at most once per min_gap_s; extra asks are merged). */
void jwks_fetcher_request(struct jwks_fetcher *f);
/* How many fetches completed with a good set, and failed (for tests and /metrics). */
void jwks_fetcher_counts(const struct jwks_fetcher *f, unsigned *good, unsigned *failed);
/* Cancels a fetch under way and frees the fetcher (on its base's thread). */
void jwks_fetcher_free(struct jwks_fetcher *f);

/* True when url is one jwks_fetcher_new accepts; else false with why. */
bool jwks_url_acceptable(const char *url, char *why, size_t whylen);
#endif
