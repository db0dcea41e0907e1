#include "jwks.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <cjson/cJSON.h>
#include "jose.h"
#include "log.h"
#include "tls.h"

/* ---- one key ---- */

/* A base64url member of a JWK, decoded; exact_len > 0 demands that size. */
static unsigned char *member_bytes(const cJSON *jwk, const char *name, size_t exact_len, size_t *len, char *err,
                                   size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(jwk, name);
    if (!cJSON_IsString(v)) {
        snprintf(err, errlen, "\"%s\" missing or not a string", name);
        return NULL;
    }
    unsigned char *b = jose_b64url_decode(v->valuestring, strlen(v->valuestring), len);
    if (!b) {
        snprintf(err, errlen, "\"%s\" is not unpadded base64url", name);
    } else if ((exact_len && *len != exact_len) || *len == 0) {
        snprintf(err, errlen, "\"%s\" has %zu bytes, not %zu", name, *len, exact_len);
        free(b);
        b = NULL;
    }
    return b;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *key = NULL;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
    /* fromdata takes what it is given; a point off the curve must not pass. */
    if (key) {
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        if (!check || EVP_PKEY_public_check(check) != 1) {
            EVP_PKEY_free(key);
            key = NULL;
        }
        EVP_PKEY_CTX_free(check);
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return key;
}

static EVP_PKEY *rsa_key(const cJSON *jwk, char *err, size_t errlen)
{
    size_t nlen, elen;
    unsigned char *n = member_bytes(jwk, "n", 0, &nlen, err, errlen);
    unsigned char *e = n ? member_bytes(jwk, "e", 0, &elen, err, errlen) : NULL;
    EVP_PKEY *key = NULL;
    if (n && e) {
        BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        if (bn && be && BN_num_bits(bn) < 2048) {
            snprintf(err, errlen, "RSA key of %d bits (2048 at least)", BN_num_bits(bn));
        } else if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
                   OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1) {
            key = from_params("RSA", bld);
            if (!key)
                snprintf(err, errlen, "not a valid RSA public key");
        } else {
            snprintf(err, errlen, "out of memory");
        }
        OSSL_PARAM_BLD_free(bld);
        BN_free(bn);
        BN_free(be);
    }
    free(n);
    free(e);
    return key;
}

static EVP_PKEY *ec_key(const cJSON *jwk, const char *group, size_t coord, char *err, size_t errlen)
{
    size_t xlen, ylen;
    unsigned char *x = member_bytes(jwk, "x", coord, &xlen, err, errlen);
    unsigned char *y = x ? member_bytes(jwk, "y", coord, &ylen, err, errlen) : NULL;
    EVP_PKEY *key = NULL;
    if (x && y) {
        unsigned char point[1 + 2 * 48];
        point[0] = 0x04;    /* uncompressed */
        memcpy(point + 1, x, coord);
        memcpy(point + 1 + coord, y, coord);
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * coord) == 1)
            key = from_params("EC", bld);
        if (!key)
            snprintf(err, errlen, "not a point of %s", group);
        OSSL_PARAM_BLD_free(bld);
    }
    free(x);
    free(y);
    return key;
}

static EVP_PKEY *ed25519_key(const cJSON *jwk, char *err, size_t errlen)
{
    size_t xlen;
    unsigned char *x = member_bytes(jwk, "x", 32, &xlen, err, errlen);
    EVP_PKEY *key = x ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen) : NULL;
    if (x && !key)
        snprintf(err, errlen, "not a valid Ed25519 public key");
    free(x);
    return key;
}

static const char *string_member(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Reads one key. Returns 1 with *out filled, 0 for a key to skip, -1 with err. */
static int read_key(const cJSON *jwk, struct jwk *out, char *err, size_t errlen)
{
    if (!cJSON_IsObject(jwk)) {
        snprintf(err, errlen, "not an object");
        return -1;
    }
    const char *kty = string_member(jwk, "kty");
    const char *crv = string_member(jwk, "crv");
    const char *use = string_member(jwk, "use");
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(jwk, "kid");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(jwk, "alg");
    if (!kty) {
        snprintf(err, errlen, "\"kty\" missing or not a string");
        return -1;
    }
    if ((kid && !cJSON_IsString(kid)) || (alg && !cJSON_IsString(alg))) {
        snprintf(err, errlen, "\"kid\" and \"alg\" must be strings");
        return -1;
    }
    if (use && strcmp(use, "sig") != 0)
        return 0;
    enum jwk_type type;
    if (strcmp(kty, "RSA") == 0)
        type = JWK_RSA;
    else if (strcmp(kty, "EC") == 0 && crv && strcmp(crv, "P-256") == 0)
        type = JWK_EC_P256;
    else if (strcmp(kty, "EC") == 0 && crv && strcmp(crv, "P-384") == 0)
        type = JWK_EC_P384;
    else if (strcmp(kty, "OKP") == 0 && crv && strcmp(crv, "Ed25519") == 0)
        type = JWK_ED25519;
    else
        return 0;
    /* A published set holds public keys; private members mean the wrong file. */
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    for (size_t i = 0; i < sizeof private_members / sizeof *private_members; i++)
        if (cJSON_GetObjectItemCaseSensitive(jwk, private_members[i])) {
            snprintf(err, errlen, "holds the private member \"%s\": publish only public keys", private_members[i]);
            return -1;
        }
    if (alg && jwt_alg_from_name(alg->valuestring) < 0)
        return 0;   /* meant for an algorithm warden does not verify (RSA-OAEP, HS256...) */
    EVP_PKEY *key = NULL;
    switch (type) {
    case JWK_RSA:
        key = rsa_key(jwk, err, errlen);
        break;
    case JWK_EC_P256:
        key = ec_key(jwk, "P-256", 32, err, errlen);
        break;
    case JWK_EC_P384:
        key = ec_key(jwk, "P-384", 48, err, errlen);
        break;
    case JWK_ED25519:
        key = ed25519_key(jwk, err, errlen);
        break;
    }
    ERR_clear_error();
    if (!key)
        return -1;
    out->type = type;
    out->key = key;
    out->kid = kid ? dup_str(kid->valuestring) : NULL;
    out->alg = alg ? dup_str(alg->valuestring) : NULL;
    if ((kid && !out->kid) || (alg && !out->alg)) {
        snprintf(err, errlen, "out of memory");
        free(out->kid);
        free(out->alg);
        EVP_PKEY_free(key);
        return -1;
    }
    return 1;
}

static void set_free(struct jwks *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->keys[i].kid);
        free(set->keys[i].alg);
        EVP_PKEY_free(set->keys[i].key);
    }
    free(set->keys);
    free(set);
}

struct jwks *jwks_parse(const char *text, size_t len, char *err, size_t errlen)
{
    if (len > JWKS_MAX_BYTES) {
        snprintf(err, errlen, "key set larger than %d bytes", JWKS_MAX_BYTES);
        return NULL;
    }
    bool dup;
    cJSON *root = jose_json_parse(text, len, 8, &dup);
    if (!root) {
        snprintf(err, errlen, dup ? "a member is repeated in the key set" : "the key set is not strict JSON");
        return NULL;
    }
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
    struct jwks *set = NULL;
    int count = cJSON_GetArraySize(keys);
    if (!cJSON_IsObject(root) || !cJSON_IsArray(keys)) {
        snprintf(err, errlen, "a key set is an object with a \"keys\" array");
    } else if (count > JWKS_MAX_KEYS) {
        snprintf(err, errlen, "more than %d keys", JWKS_MAX_KEYS);
    } else if (!(set = calloc(1, sizeof *set)) || !(set->keys = calloc((size_t)count + 1, sizeof *set->keys))) {
        snprintf(err, errlen, "out of memory");
        free(set);
        set = NULL;
    } else {
        atomic_init(&set->refs, 1);
        int i = 0;
        const cJSON *k;
        char why[200];
        cJSON_ArrayForEach(k, keys) {
            int rc = read_key(k, &set->keys[set->n], why, sizeof why);
            if (rc < 0) {
                snprintf(err, errlen, "key %d: %s", i, why);
                break;
            }
            if (rc > 0) {
                const char *kid = set->keys[set->n].kid;
                set->n++;
                if (kid && jwks_find(set, kid) != &set->keys[set->n - 1]) {
                    snprintf(err, errlen, "key %d: kid \"%.100s\" is used twice", i, kid);
                    break;
                }
            }
            i++;
        }
        if (i == count && set->n == 0)
            snprintf(err, errlen, "no key warden can verify with (RSA, EC P-256/P-384, Ed25519 for \"sig\")");
        if (i != count || set->n == 0) {
            set_free(set);
            set = NULL;
        }
    }
    cJSON_Delete(root);
    return set;
}

struct jwks *jwks_load_file(const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", file, strerror(errno));
        return NULL;
    }
    char *buf = malloc(JWKS_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, JWKS_MAX_BYTES + 1, f) : 0;
    bool failed = !buf || ferror(f);
    fclose(f);
    struct jwks *set = NULL;
    char why[300] = "";
    if (failed)
        snprintf(err, errlen, "%s: cannot read", file);
    else if (!(set = jwks_parse(buf, n, why, sizeof why)))
        snprintf(err, errlen, "%s: %s", file, why);
    free(buf);
    return set;
}

struct jwks *jwks_ref(struct jwks *set)
{
    if (set)
        atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void jwks_unref(struct jwks *set)
{
    if (set && atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) == 1)
        set_free(set);
}

const struct jwk *jwks_find(const struct jwks *set, const char *kid)
{
    if (!set)
        return NULL;
    if (!kid)
        return set->n == 1 ? &set->keys[0] : NULL;
    for (size_t i = 0; i < set->n; i++)
        if (set->keys[i].kid && strcmp(set->keys[i].kid, kid) == 0)
            return &set->keys[i];
    return NULL;
}

/* ---- the holder ---- */

void jwks_holder_init(struct jwks_holder *h)
{
    pthread_mutex_init(&h->lock, NULL);
    h->current = NULL;
}

void jwks_holder_destroy(struct jwks_holder *h)
{
    jwks_unref(h->current);
    h->current = NULL;
    pthread_mutex_destroy(&h->lock);
}

struct jwks *jwks_holder_get(struct jwks_holder *h)
{
    pthread_mutex_lock(&h->lock);
    struct jwks *set = jwks_ref(h->current);
    pthread_mutex_unlock(&h->lock);
    return set;
}

void jwks_holder_set(struct jwks_holder *h, struct jwks *set)
{
    pthread_mutex_lock(&h->lock);
    struct jwks *old = h->current;
    h->current = set;
    pthread_mutex_unlock(&h->lock);
    jwks_unref(old);
}

/* ---- the fetcher ---- */

struct jwks_fetcher {
    struct event_base *base;
    struct jwks_holder *holder;     /* borrowed */
    struct tls_client *tls;         /* borrowed */
    struct evdns_base *dns;         /* NULL for an IP address; owned when own_dns */
    bool own_dns;
    char *url, *host, *target;      /* owned */
    int port;
    bool https;
    double refresh_s, min_gap_s, timeout_s;
    struct event *timer;            /* the next fetch */
    struct event *kick;             /* jwks_fetcher_request, from any thread */
    struct event *reap;             /* frees a finished connection outside its callback */
    struct event *deadline;         /* ends a fetch at timeout_s: evhttp's own timeouts do not cover the
                                     * name lookup */
    struct evhttp_connection *conn; /* the fetch under way, or NULL */
    struct evhttp_connection *dead; /* a finished one, freed by reap */
    double last_start;              /* monotonic seconds; -inf before the first */
    double next_at;                 /* when timer fires */
    unsigned good, failed;
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timeval tv_of(double s)
{
    if (s < 0)
        s = 0;
    struct timeval tv = {.tv_sec = (time_t)s, .tv_usec = (suseconds_t)((s - floor(s)) * 1e6)};
    return tv;
}

static void schedule(struct jwks_fetcher *f, double at)
{
    f->next_at = at;
    struct timeval tv = tv_of(at - mono_now());
    evtimer_add(f->timer, &tv);
}

static bool loopback_host(const char *host)
{
    return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0 ||
           strncmp(host, "127.", 4) == 0;
}

bool jwks_url_acceptable(const char *url, char *why, size_t whylen)
{
    struct evhttp_uri *u = evhttp_uri_parse_with_flags(url, 0);
    bool ok = false;
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    if (!u || !scheme || !host || !host[0])
        snprintf(why, whylen, "%s: not an absolute URL", url);
    else if (evhttp_uri_get_userinfo(u) || evhttp_uri_get_fragment(u))
        snprintf(why, whylen, "%s: user info and fragments are not accepted", url);
    else if (strcasecmp(scheme, "https") == 0)
        ok = true;
    else if (strcasecmp(scheme, "http") == 0 && loopback_host(host))
        ok = true;
    else
        snprintf(why, whylen, "%s: keys are fetched over https:// (http:// only from a loopback address)", url);
    if (u)
        evhttp_uri_free(u);
    return ok;
}

static void fail_fetch(struct jwks_fetcher *f, const char *what, const char *detail)
{
    f->failed++;
    log_warn("jwks %s: %s%s; keeping the last good key set", f->url, what, detail);
}

static void on_response(struct evhttp_request *req, void *arg)
{
    struct jwks_fetcher *f = arg;
    evtimer_del(f->deadline);
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (code == 0) {
        fail_fetch(f, "no answer (unreachable, refused TLS, too slow or too large)", "");
    } else if (code != 200) {
        char c[16];
        snprintf(c, sizeof c, "%d", code);
        fail_fetch(f, "answered ", c);
    } else {
        struct evbuffer *body = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(body);
        const char *text = (const char *)evbuffer_pullup(body, -1);
        char err[300] = "";
        struct jwks *set = text || len == 0 ? jwks_parse(text ? text : "", len, err, sizeof err) : NULL;
        if (set) {
            jwks_holder_set(f->holder, set);
            f->good++;
            log_info("jwks %s: %zu keys", f->url, set->n);
        } else {
            fail_fetch(f, err[0] ? err : "out of memory", "");
        }
    }
    /* The connection is freed after this callback returns, by reap. */
    f->dead = f->conn;
    f->conn = NULL;
    event_active(f->reap, EV_TIMEOUT, 0);
    schedule(f, mono_now() + f->refresh_s);
}

static void start_fetch(struct jwks_fetcher *f)
{
    if (f->conn)
        return;
    f->last_start = mono_now();
    char err[256] = "";
    struct bufferevent *bev;
    if (f->https)
        bev = tls_bev_connect(f->base, -1, f->tls, f->host, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, err,
                              sizeof err);
    else
        bev = bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    struct evhttp_connection *conn =
        bev ? evhttp_connection_base_bufferevent_new(f->base, f->dns, bev, f->host, (unsigned short)f->port) : NULL;
    if (!conn) {
        if (bev)
            bufferevent_free(bev);
        fail_fetch(f, "cannot start: ", err[0] ? err : "out of memory");
        schedule(f, mono_now() + f->min_gap_s);
        return;
    }
    struct timeval tv = tv_of(f->timeout_s);
    evhttp_connection_set_timeout_tv(conn, &tv);
    evhttp_connection_set_retries(conn, 0);
    evhttp_connection_set_max_body_size(conn, JWKS_MAX_BYTES);
    evhttp_connection_set_max_headers_size(conn, 16384);
    struct evhttp_request *req = evhttp_request_new(on_response, f);
    struct evkeyvalq *h = req ? evhttp_request_get_output_headers(req) : NULL;
    if (!req || evhttp_add_header(h, "Host", f->host) != 0 || evhttp_add_header(h, "Accept", "application/json") != 0 ||
        evhttp_add_header(h, "Connection", "close") != 0) {
        if (req)
            evhttp_request_free(req);
        evhttp_connection_free(conn);
        fail_fetch(f, "cannot start: ", "out of memory");
        schedule(f, mono_now() + f->min_gap_s);
        return;
    }
    f->conn = conn;
    /* evhttp_make_request frees req itself when it fails. */
    if (evhttp_make_request(conn, req, EVHTTP_REQ_GET, f->target) != 0) {
        f->conn = NULL;
        evhttp_connection_free(conn);
        fail_fetch(f, "cannot start: ", "the request was refused");
        schedule(f, mono_now() + f->min_gap_s);
        return;
    }
    struct timeval dl = tv_of(f->timeout_s);
    evtimer_add(f->deadline, &dl);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct jwks_fetcher *f = arg;
    if (!f->conn)
        return;
    /* Not inside the connection's own callback, so it can go now; freeing
     * it does not call on_response. */
    evhttp_connection_free(f->conn);
    f->conn = NULL;
    fail_fetch(f, "no answer within the timeout (name lookup included)", "");
    schedule(f, mono_now() + f->refresh_s);
}

/* True for an IPv4 or IPv6 address (bracketed or not): nothing to resolve. */
static bool ip_literal(const char *host)
{
    unsigned char addr[16];
    char bare[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof bare) {
        memcpy(bare, host + 1, n - 2);
        bare[n - 2] = '\0';
        host = bare;
    }
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_fetch(arg);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct jwks_fetcher *f = arg;
    if (f->conn)
        return;     /* the fetch under way brings the newest set */
    double at = f->last_start + f->min_gap_s;
    if (at < f->next_at)
        schedule(f, at);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct jwks_fetcher *f = arg;
    if (f->dead)
        evhttp_connection_free(f->dead);
    f->dead = NULL;
}

struct jwks_fetcher *jwks_fetcher_new(struct event_base *base, const struct jwks_fetcher_opts *opts,
                                      struct jwks_holder *holder, char *err, size_t errlen)
{
    if (!jwks_url_acceptable(opts->url, err, errlen))
        return NULL;
    struct evhttp_uri *u = evhttp_uri_parse_with_flags(opts->url, 0);
    struct jwks_fetcher *f = calloc(1, sizeof *f);
    if (!u || !f) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    f->base = base;
    f->holder = holder;
    f->tls = opts->tls;
    f->https = strcasecmp(evhttp_uri_get_scheme(u), "https") == 0;
    f->port = evhttp_uri_get_port(u);
    if (f->port < 0)
        f->port = f->https ? 443 : 80;
    f->refresh_s = opts->refresh_s > 0 ? opts->refresh_s : 3600;
    f->min_gap_s = opts->min_gap_s > 0 ? opts->min_gap_s : 60;
    f->timeout_s = opts->timeout_s > 0 ? opts->timeout_s : 10;
    f->last_start = -INFINITY;
    f->next_at = INFINITY;
    const char *path = evhttp_uri_get_path(u);
    const char *query = evhttp_uri_get_query(u);
    size_t tlen = strlen(path && path[0] ? path : "/") + (query ? strlen(query) + 1 : 0) + 1;
    f->url = dup_str(opts->url);
    f->host = dup_str(evhttp_uri_get_host(u));
    f->target = malloc(tlen);
    if (f->target)
        snprintf(f->target, tlen, "%s%s%s", path && path[0] ? path : "/", query ? "?" : "", query ? query : "");
    f->timer = evtimer_new(base, on_timer, f);
    f->kick = event_new(base, -1, 0, on_kick, f);
    f->reap = event_new(base, -1, 0, on_reap, f);
    f->deadline = evtimer_new(base, on_deadline, f);
    if (!f->url || !f->host || !f->target || !f->timer || !f->kick || !f->reap || !f->deadline) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* A host name is looked up on this loop, never with a blocking
     * getaddrinfo that would stall the worker's clients. Without active
     * lookups the resolver holds no events, so the loop can end. */
    if (!ip_literal(f->host)) {
        f->dns = opts->dns;
        if (!f->dns) {
            f->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
            f->own_dns = f->dns != NULL;
        }
        if (!f->dns) {
            snprintf(err, errlen, "%s: cannot set up a resolver for %s", opts->url, f->host);
            goto fail;
        }
    }
    if (f->https && !f->tls) {
        snprintf(err, errlen, "%s: https needs a TLS client context", opts->url);
        goto fail;
    }
    evhttp_uri_free(u);
    start_fetch(f);
    return f;
fail:
    if (u)
        evhttp_uri_free(u);
    jwks_fetcher_free(f);
    return NULL;
}

void jwks_fetcher_request(struct jwks_fetcher *f)
{
    event_active(f->kick, EV_TIMEOUT, 0);
}

void jwks_fetcher_counts(const struct jwks_fetcher *f, unsigned *good, unsigned *failed)
{
    *good = f->good;
    *failed = f->failed;
}

void jwks_fetcher_free(struct jwks_fetcher *f)
{
    if (!f)
        return;
    if (f->conn)
        evhttp_connection_free(f->conn);
    if (f->dead)
        evhttp_connection_free(f->dead);
    if (f->timer)
        event_free(f->timer);
    if (f->kick)
        event_free(f->kick);
    if (f->reap)
        event_free(f->reap);
    if (f->deadline)
        event_free(f->deadline);
    /* Lookups still pending end here, with their callbacks (which release
     * the connections' bufferevents). */
    if (f->own_dns)
        evdns_base_free(f->dns, 1);
    free(f->url);
    free(f->host);
    free(f->target);
    free(f);
}
