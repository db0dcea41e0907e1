#include "auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <pwd.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "http.h"
#include "jwks.h"
#include "jwt.h"
#include "schema.h"

/* ---- principals ---- */

static const char *const kind_names[] = {"anonymous", "key", "jwt", "proxy", "local"};

const char *principal_kind_name(enum principal_kind kind)
{
    return (unsigned)kind < sizeof kind_names / sizeof *kind_names ? kind_names[kind] : "?";
}

void principal_clear(struct principal *p)
{
    if (!p->shared)
        cJSON_Delete(p->doc);
    memset(p, 0, sizeof *p);
}

/* The anonymous caller's document, {"id": "anonymous", "kind": "anonymous",
 * "labels": {}, "claims": {}, "scopes": []}, as principal_make would build it
 * but laid out at compile time: every unauthenticated call borrows it instead
 * of building and freeing eight nodes (which showed in per-call profiles).
 * Nothing writes it, so the worker threads share it without a lock. */
static char anon_name[] = "anonymous";
static char key_id[] = "id", key_kind[] = "kind", key_labels[] = "labels", key_claims[] = "claims",
            key_scopes[] = "scopes";
static cJSON anon_scopes, anon_claims, anon_labels, anon_kind, anon_id;
static cJSON anon_scopes = {.prev = &anon_claims, .type = cJSON_Array, .string = key_scopes};
static cJSON anon_claims = {.next = &anon_scopes, .prev = &anon_labels, .type = cJSON_Object, .string = key_claims};
static cJSON anon_labels = {.next = &anon_claims, .prev = &anon_kind, .type = cJSON_Object, .string = key_labels};
static cJSON anon_kind = {.next = &anon_labels, .prev = &anon_id, .type = cJSON_String,
                          .valuestring = anon_name, .string = key_kind};
static cJSON anon_id = {.next = &anon_kind, .prev = &anon_scopes, .type = cJSON_String,
                        .valuestring = anon_name, .string = key_id};
static cJSON anon_doc = {.child = &anon_id, .type = cJSON_Object};

/* The anonymous principal, borrowing anon_doc. */
static void principal_anonymous(struct principal *p)
{
    *p = (struct principal){.doc = &anon_doc, .id = anon_name, .kind = PRINCIPAL_ANONYMOUS, .shared = true};
}

/* Builds the principal's document; takes labels and claims (owned, may be
 * NULL for {}), copies the scopes. */
static int principal_build(struct principal *p, enum principal_kind kind, const char *id, cJSON *labels,
                           cJSON *claims, char *const *scopes, size_t nscopes)
{
    memset(p, 0, sizeof *p);
    cJSON *doc = cJSON_CreateObject();
    cJSON *sc = cJSON_CreateArray();
    if (!labels)
        labels = cJSON_CreateObject();
    if (!claims)
        claims = cJSON_CreateObject();
    cJSON *idv = cJSON_CreateString(id);
    if (!doc || !sc || !labels || !claims || !idv) {
        cJSON_Delete(doc);
        cJSON_Delete(sc);
        cJSON_Delete(labels);
        cJSON_Delete(claims);
        cJSON_Delete(idv);
        return -1;
    }
    cJSON_AddItemToObject(doc, "id", idv);
    cJSON_AddItemToObject(doc, "kind", cJSON_CreateString(principal_kind_name(kind)));
    cJSON_AddItemToObject(doc, "labels", labels);
    cJSON_AddItemToObject(doc, "claims", claims);
    cJSON_AddItemToObject(doc, "scopes", sc);
    bool ok = cJSON_GetObjectItemCaseSensitive(doc, "kind") != NULL;
    for (size_t i = 0; ok && i < nscopes; i++) {
        cJSON *s = cJSON_CreateString(scopes[i]);
        ok = s && cJSON_AddItemToArray(sc, s);
    }
    if (!ok) {
        cJSON_Delete(doc);
        return -1;
    }
    p->doc = doc;
    p->id = idv->valuestring;
    p->kind = kind;
    return 0;
}

int principal_make(struct principal *p, enum principal_kind kind, const char *id)
{
    return principal_build(p, kind, id, NULL, NULL, NULL, 0);
}

const cJSON *principal_lookup(const struct principal *p, const char *path)
{
    if (!p || !p->doc || !path)
        return NULL;
    const cJSON *v = p->doc;
    const char *s = path;
    while (v && *s) {
        size_t k = strcspn(s, ".");
        if (!cJSON_IsObject(v) || k == 0 || k >= 256)
            return NULL;
        char seg[256];
        memcpy(seg, s, k);
        seg[k] = '\0';
        v = cJSON_GetObjectItemCaseSensitive(v, seg);
        s += k;
        if (*s == '.')
            s++;
    }
    return v;
}

bool principal_has_scope(const struct principal *p, const char *s)
{
    const cJSON *e;
    const cJSON *scopes = principal_lookup(p, "scopes");
    cJSON_ArrayForEach(e, scopes)
        if (cJSON_IsString(e) && strcmp(e->valuestring, s) == 0)
            return true;
    return false;
}

/* ---- the config ---- */

struct api_key {
    char *id;
    char *sha256;           /* as written: 64 hex digits */
    unsigned char digest[32];
    cJSON *labels;          /* owned object of strings */
};

struct cidr {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned bits;
};

struct jwt_conf {
    char *issuer, *audience, *jwks_file, *jwks_url, *principal_claim;
    char **algorithms;
    char **required_scopes;
    unsigned leeway_s;
    unsigned jwks_refresh_s;
};

struct resource_conf {
    char **authorization_servers;
    char **scopes_supported;
};

struct auth {
    struct api_key *keys;
    size_t nkeys;
    bool has_jwt;
    struct jwt_conf jwt;
    struct jwt_rules rules;         /* points into jwt */
    struct jwks_holder jwks;
    struct jwks_fetcher *fetcher;   /* with a jwks_url, once started */
    bool anonymous;
    struct resource_conf meta;
    struct cidr *proxies;
    size_t nproxies;
    char *identity_header;
    char *public_url;               /* "https://HOST[:PORT]" clients use, or NULL: from the request */
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

#define MAX_PRINCIPAL_ID 200

static bool valid_id(const char *s)
{
    if (!s[0] || strlen(s) > MAX_PRINCIPAL_ID)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-@:", *s))
            return false;
    return true;
}

#define KEY(m) offsetof(struct api_key, m)

static void read_labels(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    cJSON **labels = dst;
    if (!cJSON_IsObject(v)) {
        schema_problem(doc, v, ptr, "must be an object of name: string");
        return;
    }
    if (schema_duplicates(doc, v, ptr))
        return;
    for (const cJSON *e = v->child; e; e = e->next) {
        char at[600];
        schema_pointer(at, sizeof at, ptr, e->string);
        if (!cJSON_IsString(e))
            schema_problem(doc, e, at, "a label's value must be a string");
        else if (strchr(e->string, '.'))
            schema_key_problem(doc, e, at, "a label name may not contain '.' (policies address labels.NAME)");
    }
    if (!(*labels = cJSON_Duplicate(v, 1)))
        schema_problem(doc, v, ptr, "out of memory");
}

static const struct field key_fields[] = {
    {.key = "id", .kind = FIELD_STRING, .offset = KEY(id), .min = 1, .required = true,
     .help = "the principal id policies and the audit log see"},
    {.key = "sha256", .kind = FIELD_STRING, .offset = KEY(sha256), .min = 1, .required = true,
     .help = "SHA-256 of the secret, 64 hex digits (warden key new ID)"},
    {.key = "labels", .kind = FIELD_CUSTOM, .offset = KEY(labels), .custom = read_labels,
     .help = "{name: string} for policies (principal labels.NAME)"},
    {.key = "description", .kind = FIELD_ANY, .help = "free text"},
    {0},
};

/* Reads the array v (api_keys, trusted_proxies) into a new table, room for
 * one entry of size bytes per element (zeroed; the auth owns it), handing
 * each element to read_elem with the table and the element's pointer; NULL,
 * the problem reported, when v is not an array (of `what`) or memory runs out. */
static void *read_table(struct schema_doc *doc, const cJSON *v, const char *ptr, const char *what, size_t size,
                        void (*read_elem)(struct schema_doc *doc, const cJSON *e, const char *at, void *table,
                                          struct auth *a),
                        struct auth *a)
{
    if (!cJSON_IsArray(v)) {
        schema_problem(doc, v, ptr, "must be an array of %s", what);
        return NULL;
    }
    size_t n = (size_t)cJSON_GetArraySize(v);
    void *table = calloc(n ? n : 1, size);
    if (!table) {
        schema_problem(doc, v, ptr, "out of memory");
        return NULL;
    }
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char at[600];
        snprintf(at, sizeof at, "%s/%d", ptr, i);
        read_elem(doc, e, at, table, a);
    }
    return table;
}

/* One element of api_keys, into the next of the table: its id and secret
 * well formed, neither used by an earlier key. */
static void read_api_key(struct schema_doc *doc, const cJSON *e, const char *at, void *table, struct auth *a)
{
    struct api_key *keys = table;
    if (!cJSON_IsObject(e)) {
        schema_problem(doc, e, at, "must be an object {\"id\", \"sha256\", \"labels\"}");
        return;
    }
    struct api_key *k = &keys[a->nkeys++];
    schema_read(doc, e, at, key_fields, k);
    char sub[640];
    if (k->id && !valid_id(k->id)) {
        snprintf(sub, sizeof sub, "%s/id", at);
        schema_problem(doc, cJSON_GetObjectItemCaseSensitive(e, "id"), sub,
                       "an id may use only letters, digits and _ . - @ : (at most 200)");
    }
    if (k->sha256) {
        bool ok = strlen(k->sha256) == 64;
        for (size_t j = 0; ok && j < 32; j++) {
            int hi = hexval(k->sha256[2 * j]), lo = hexval(k->sha256[2 * j + 1]);
            ok = hi >= 0 && lo >= 0;
            if (ok)
                k->digest[j] = (unsigned char)(hi << 4 | lo);
        }
        if (!ok) {
            snprintf(sub, sizeof sub, "%s/sha256", at);
            schema_problem(doc, cJSON_GetObjectItemCaseSensitive(e, "sha256"), sub,
                           "must be 64 hex digits (the SHA-256 of the secret; warden key new ID)");
        }
    }
    for (size_t j = 0; k->id && j + 1 < a->nkeys; j++) {
        if (keys[j].id && strcmp(keys[j].id, k->id) == 0) {
            snprintf(sub, sizeof sub, "%s/id", at);
            schema_problem(doc, cJSON_GetObjectItemCaseSensitive(e, "id"), sub, "the id %s is used twice", k->id);
        }
        if (k->sha256 && keys[j].sha256 && memcmp(keys[j].digest, k->digest, 32) == 0)
            schema_problem(doc, e, at, "the same secret as api_keys/%zu", j);
    }
}

static void read_api_keys(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct auth *a = dst;
    a->keys = read_table(doc, v, ptr, "{\"id\", \"sha256\", \"labels\"}", sizeof *a->keys, read_api_key, a);
}

#define JWT(m) offsetof(struct jwt_conf, m)
static const struct field jwt_fields[] = {
    {.key = "issuer", .kind = FIELD_STRING, .offset = JWT(issuer), .min = 1, .required = true,
     .help = "iss must be exactly this"},
    {.key = "audience", .kind = FIELD_STRING, .offset = JWT(audience), .min = 1, .required = true,
     .help = "aud must contain this (the resource: https://HOST/mcp/NAME)"},
    {.key = "jwks_file", .kind = FIELD_STRING, .offset = JWT(jwks_file), .min = 1,
     .help = "the issuer's public keys (JWKS), relative to the config file"},
    {.key = "jwks_url", .kind = FIELD_STRING, .offset = JWT(jwks_url), .min = 1,
     .help = "where to fetch them (https://, or http:// on loopback)"},
    {.key = "jwks_refresh_s", .kind = FIELD_UINT, .offset = JWT(jwks_refresh_s), .min = 60, .max = 86400,
     .help = "how often to fetch jwks_url again (default 3600)"},
    {.key = "algorithms", .kind = FIELD_STRINGS, .offset = JWT(algorithms), .min = 1,
     .help = "allowed: RS256 RS384 RS512 PS256 ES256 ES384 EdDSA (default all)"},
    {.key = "leeway_s", .kind = FIELD_UINT, .offset = JWT(leeway_s), .min = 0, .max = 600,
     .help = "clock skew allowed for exp, nbf, iat (default 60)"},
    {.key = "principal_claim", .kind = FIELD_STRING, .offset = JWT(principal_claim), .min = 1,
     .help = "the claim naming the principal (default sub)"},
    {.key = "required_scopes", .kind = FIELD_STRINGS, .offset = JWT(required_scopes),
     .help = "scopes every token must hold (else 403 insufficient_scope)"},
    {.key = "description", .kind = FIELD_ANY, .help = "free text"},
    {0},
};

#define RES(m) offsetof(struct resource_conf, m)
static const struct field resource_fields[] = {
    {.key = "authorization_servers", .kind = FIELD_STRINGS, .offset = RES(authorization_servers), .min = 1,
     .help = "issuer URLs clients log in with (default: the jwt issuer)"},
    {.key = "scopes_supported", .kind = FIELD_STRINGS, .offset = RES(scopes_supported),
     .help = "scopes a client may ask for"},
    {0},
};

/* "10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8". */
static bool parse_cidr(const char *s, struct cidr *out)
{
    char host[64];
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    if (hl == 0 || hl >= sizeof host)
        return false;
    memcpy(host, s, hl);
    host[hl] = '\0';
    unsigned max;
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return false;
    }
    out->bits = max;
    if (slash) {
        char *end;
        unsigned long b = strtoul(slash + 1, &end, 10);
        if (!slash[1] || *end || b > max || !isdigit((unsigned char)slash[1]))
            return false;
        out->bits = (unsigned)b;
    }
    return true;
}

/* One element of trusted_proxies, into the next of the table. */
static void read_proxy(struct schema_doc *doc, const cJSON *e, const char *at, void *table, struct auth *a)
{
    struct cidr *proxies = table;
    if (!cJSON_IsString(e) || !parse_cidr(e->valuestring, &proxies[a->nproxies]))
        schema_problem(doc, e, at, "must be an IP address or CIDR block (\"10.0.0.0/8\", \"::1\")");
    else
        a->nproxies++;
}

static void read_proxies(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct auth *a = dst;
    a->proxies = read_table(doc, v, ptr, "addresses or CIDR blocks", sizeof *a->proxies, read_proxy, a);
}

/* RFC 6749 §3.3: a scope token is visible ASCII but '"' and '\\'; it is
 * quoted into WWW-Authenticate values as it is. */
static void check_scopes(struct schema_doc *doc, const cJSON *owner, const char *key, const char *ptr)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(owner, key);
    int i = 0;
    for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next, i++) {
        if (!cJSON_IsString(e))
            continue;
        for (const char *c = e->valuestring; *c; c++) {
            if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7F || *c == '"' || *c == '\\') {
                char at[700];
                snprintf(at, sizeof at, "%s/%s/%d", ptr, key, i);
                schema_problem(doc, e, at, "a scope is visible ASCII without spaces, '\"' or '\\'");
                break;
            }
        }
    }
}

static void read_jwt(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct auth *a = dst;
    if (!cJSON_IsObject(v)) {
        schema_problem(doc, v, ptr, "must be an object");
        return;
    }
    a->has_jwt = true;
    a->jwt.leeway_s = 60;
    a->jwt.jwks_refresh_s = 3600;
    schema_read(doc, v, ptr, jwt_fields, &a->jwt);
    struct jwt_conf *j = &a->jwt;
    check_scopes(doc, v, "required_scopes", ptr);
    char at[600];
    if (!j->jwks_file == !j->jwks_url)
        schema_problem(doc, v, ptr, "needs exactly one of \"jwks_file\" and \"jwks_url\"");
    unsigned algs = 0;
    for (size_t i = 0; j->algorithms && j->algorithms[i]; i++) {
        int alg = jwt_alg_from_name(j->algorithms[i]);
        snprintf(at, sizeof at, "%s/algorithms/%zu", ptr, i);
        if (alg < 0)
            schema_problem(doc, cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(v, "algorithms"), (int)i), at,
                           "%s is not accepted: one of RS256 RS384 RS512 PS256 ES256 ES384 EdDSA (never none or "
                           "HS*)", j->algorithms[i]);
        else
            algs |= 1u << alg;
    }
    a->rules.issuer = j->issuer;
    a->rules.audience = j->audience;
    a->rules.algs = j->algorithms ? algs : (1u << JWT_NALGS) - 1;
    a->rules.leeway_s = j->leeway_s;
    a->rules.principal_claim = j->principal_claim;
    char why[400];
    if (j->jwks_url && !jwks_url_acceptable(j->jwks_url, why, sizeof why)) {
        schema_pointer(at, sizeof at, ptr, "jwks_url");
        schema_problem(doc, cJSON_GetObjectItemCaseSensitive(v, "jwks_url"), at, "%s", why);
    }
    if (j->jwks_file) {
        char path[4096];
        const char *slash = doc->file && j->jwks_file[0] != '/' ? strrchr(doc->file, '/') : NULL;
        if (slash)
            snprintf(path, sizeof path, "%.*s/%s", (int)(slash - doc->file), doc->file, j->jwks_file);
        else
            snprintf(path, sizeof path, "%s", j->jwks_file);
        struct jwks *set = jwks_load_file(path, why, sizeof why);
        schema_pointer(at, sizeof at, ptr, "jwks_file");
        if (!set)
            schema_problem(doc, cJSON_GetObjectItemCaseSensitive(v, "jwks_file"), at, "%s", why);
        else
            jwks_holder_set(&a->jwks, set);
    }
}

#define AUTH(m) offsetof(struct auth, m)
static const struct field auth_fields[] = {
    {.key = "api_keys", .kind = FIELD_CUSTOM, .custom = read_api_keys,
     .help = "[{id, sha256, labels}]: agents send Authorization: Bearer SECRET"},
    {.key = "jwt", .kind = FIELD_CUSTOM, .custom = read_jwt,
     .help = "{issuer, audience, jwks_file | jwks_url, algorithms, leeway_s, principal_claim, required_scopes}"},
    {.key = "anonymous", .kind = FIELD_BOOL, .offset = AUTH(anonymous),
     .help = "let callers without credentials in as \"anonymous\" (default false)"},
    {.key = "resource_metadata", .kind = FIELD_OBJECT, .offset = AUTH(meta), .fields = resource_fields,
     .help = "RFC 9728 metadata served at /.well-known/oauth-protected-resource/mcp/NAME"},
    {.key = "trusted_proxies", .kind = FIELD_CUSTOM, .custom = read_proxies,
     .help = "addresses whose identity_header is believed"},
    {.key = "identity_header", .kind = FIELD_STRING, .offset = AUTH(identity_header), .min = 1,
     .help = "a header naming the principal, set by a trusted TLS-terminating proxy"},
    {.key = "public_url", .kind = FIELD_STRING, .offset = AUTH(public_url), .min = 1,
     .help = "https://HOST[:PORT] as clients reach warden, for the metadata URLs (default: from the request)"},
    {.key = "description", .kind = FIELD_ANY, .help = "free text"},
    {0},
};

const char *auth_public_url(const struct auth *a)
{
    return a ? a->public_url : NULL;
}

void auth_read_field(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct auth **out = dst;
    if (!cJSON_IsObject(v)) {
        schema_problem(doc, v, ptr, "must be an object");
        return;
    }
    struct auth *a = calloc(1, sizeof *a);
    if (!a) {
        schema_problem(doc, v, ptr, "out of memory");
        return;
    }
    jwks_holder_init(&a->jwks);
    auth_free(*out);    /* a repeated member was already reported */
    *out = a;
    schema_read(doc, v, ptr, auth_fields, a);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(v, "resource_metadata");
    if (cJSON_IsObject(meta)) {
        char at[600];
        schema_pointer(at, sizeof at, ptr, "resource_metadata");
        check_scopes(doc, meta, "scopes_supported", at);
    }
    if (!a->nkeys && !a->has_jwt && !a->identity_header && !a->anonymous)
        schema_problem(doc, v, ptr, "accepts no one: give api_keys, jwt, identity_header or \"anonymous\": true");
    if (a->public_url) {
        size_t n = strlen(a->public_url);
        bool scheme = strncmp(a->public_url, "https://", 8) == 0 || strncmp(a->public_url, "http://", 7) == 0;
        const char *host = a->public_url + (scheme && a->public_url[4] == 's' ? 8 : 7);
        bool clean = scheme && *host && !strpbrk(host, "/\"?#@ \t\r\n");
        if (!clean || a->public_url[n - 1] == '/')
            schema_problem(doc, cJSON_GetObjectItemCaseSensitive(v, "public_url"), ptr,
                           "public_url is https://HOST[:PORT] (no path, no trailing slash)");
    }
    if (!a->identity_header != !a->nproxies)
        schema_problem(doc, v, ptr, "identity_header and trusted_proxies go together");
    if (a->identity_header && (!a->identity_header[0] || strpbrk(a->identity_header, " :\t\r\n") ||
                               strcasecmp(a->identity_header, "authorization") == 0))
        schema_problem(doc, cJSON_GetObjectItemCaseSensitive(v, "identity_header"), ptr,
                       "identity_header must be a header name other than Authorization");
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    auth_stop(a);
    for (size_t i = 0; i < a->nkeys; i++) {
        schema_free(key_fields, &a->keys[i]);
        cJSON_Delete(a->keys[i].labels);
    }
    free(a->keys);
    schema_free(jwt_fields, &a->jwt);
    schema_free(resource_fields, &a->meta);
    jwks_holder_destroy(&a->jwks);
    free(a->proxies);
    free(a->identity_header);
    free(a->public_url);
    free(a);
}

int auth_start(struct auth *a, struct event_base *base, struct tls_client *tls, char *err, size_t errlen)
{
    if (!a || !a->has_jwt || !a->jwt.jwks_url || a->fetcher)
        return 0;
    struct jwks_fetcher_opts o = {.url = a->jwt.jwks_url, .refresh_s = a->jwt.jwks_refresh_s, .min_gap_s = 60,
                                  .timeout_s = 10, .tls = tls};
    a->fetcher = jwks_fetcher_new(base, &o, &a->jwks, err, errlen);
    return a->fetcher ? 0 : -1;
}

void auth_stop(struct auth *a)
{
    if (a && a->fetcher) {
        jwks_fetcher_free(a->fetcher);
        a->fetcher = NULL;
    }
}

/* ---- authenticating a request ---- */

static enum auth_result fail(struct auth_failure *why, int status, const char *error, const char *desc)
{
    why->status = status;
    why->error = error;
    snprintf(why->description, sizeof why->description, "%s", desc);
    return status == 403 ? AUTH_FORBIDDEN : AUTH_UNAUTHORIZED;
}

static bool peer_trusted(const struct auth *a, const struct sockaddr *peer)
{
    if (!peer)
        return false;
    unsigned char addr[16];
    int family;
    if (peer->sa_family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)(const void *)peer)->sin_addr, 4);
        family = AF_INET;
    } else if (peer->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(addr, a6->s6_addr + 12, 4);
            family = AF_INET;
        } else {
            memcpy(addr, a6->s6_addr, 16);
            family = AF_INET6;
        }
    } else {
        return false;
    }
    for (size_t i = 0; i < a->nproxies; i++) {
        const struct cidr *c = &a->proxies[i];
        if (c->family != family)
            continue;
        unsigned full = c->bits / 8, rest = c->bits % 8;
        if (memcmp(addr, c->addr, full) != 0)
            continue;
        if (rest && ((addr[full] ^ c->addr[full]) & (0xFF << (8 - rest)) & 0xFF))
            continue;
        return true;
    }
    return false;
}

/* How many times the head carries name. */
static size_t header_count(const struct http_head *h, const char *name)
{
    size_t n = 0, nl = strlen(name);
    for (size_t i = 0; i < h->nheaders; i++) {
        const char *hn, *hv;
        size_t hnl, hvl;
        http_header_at(h, i, &hn, &hnl, &hv, &hvl);
        if (hnl == nl && strncasecmp(hn, name, nl) == 0)
            n++;
    }
    return n;
}

static bool token68(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (isalnum((unsigned char)s[i]) || strchr("-._~+/", s[i])))
        i++;
    if (i == 0)
        return false;
    while (i < n && s[i] == '=')
        i++;
    return i == n;
}

static enum auth_result from_proxy(const char *v, size_t vl, struct principal *out, struct auth_failure *why)
{
    char id[MAX_PRINCIPAL_ID + 1];
    if (vl == 0 || vl >= sizeof id)
        return fail(why, 401, "invalid_request", "the identity header is empty or too long");
    memcpy(id, v, vl);
    id[vl] = '\0';
    for (size_t i = 0; i < vl; i++)
        if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7F)
            return fail(why, 401, "invalid_request", "the identity header holds characters other than visible ASCII");
    if (principal_make(out, PRINCIPAL_PROXY, id) < 0)
        return fail(why, 401, "invalid_request", "out of memory");
    return AUTH_OK;
}

static enum auth_result from_jwt(struct auth *a, const char *tok, size_t len, struct principal *out,
                                 struct auth_failure *why)
{
    struct jwks *keys = jwks_holder_get(&a->jwks);
    struct jwt_token t;
    enum jwt_status st = jwt_verify(tok, len, keys, &a->rules, (double)time(NULL), &t);
    jwks_unref(keys);
    if ((st == JWT_UNKNOWN_KID || st == JWT_NO_KEYS) && a->fetcher)
        jwks_fetcher_request(a->fetcher);   /* a rotated key, or none yet: fetch again (at most once a minute) */
    if (st != JWT_OK)
        return fail(why, 401, "invalid_token", jwt_status_text(st));
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(t.payload, a->rules.principal_claim ? a->rules.principal_claim : "sub");
    /* Ids name rate-limit keys and audit lines: bounded like API key ids. */
    if (strlen(who->valuestring) > MAX_PRINCIPAL_ID) {
        jwt_token_clear(&t);
        return fail(why, 401, "invalid_token", "the principal claim is longer than 200 bytes");
    }
    size_t nscopes = 0;
    char **scopes = jwt_scopes(&t, &nscopes);
    cJSON *claims = t.payload;
    t.payload = NULL;       /* the principal owns it now */
    int rc = scopes ? principal_build(out, PRINCIPAL_JWT, who->valuestring, NULL, claims, scopes, nscopes) : -1;
    if (!scopes || rc < 0)
        cJSON_Delete(claims);
    for (size_t i = 0; scopes && i < nscopes; i++)
        free(scopes[i]);
    free(scopes);
    jwt_token_clear(&t);
    if (rc < 0)
        return fail(why, 401, "invalid_token", "out of memory");
    for (size_t i = 0; a->jwt.required_scopes && a->jwt.required_scopes[i]; i++) {
        if (!principal_has_scope(out, a->jwt.required_scopes[i])) {
            char d[160];
            snprintf(d, sizeof d, "the token lacks the scope %.100s", a->jwt.required_scopes[i]);
            principal_clear(out);
            return fail(why, 403, "insufficient_scope", d);
        }
    }
    return AUTH_OK;
}

enum auth_result auth_authenticate(struct auth *a, const struct http_head *head, const struct sockaddr *peer,
                                   struct principal *out, struct auth_failure *why)
{
    memset(out, 0, sizeof *out);
    memset(why, 0, sizeof *why);
    if (!a) {
        principal_anonymous(out);
        return AUTH_OK;
    }
    size_t vl = 0;
    const char *v;
    if (a->identity_header && head && peer_trusted(a, peer) &&
        (v = http_header_get(head, a->identity_header, &vl)) != NULL) {
        if (header_count(head, a->identity_header) > 1)
            return fail(why, 401, "invalid_request", "the identity header is repeated");
        return from_proxy(v, vl, out, why);
    }
    v = head ? http_header_field(head, HF_AUTHORIZATION, &vl) : NULL;
    if (!v) {
        if (a->anonymous) {
            principal_anonymous(out);
            return AUTH_OK;
        }
        return fail(why, 401, NULL, "credentials required");
    }
    /* RFC 6750 §2.1: "Bearer" 1*SP token68; nothing else is read. */
    if (vl < 7 || strncasecmp(v, "Bearer ", 7) != 0)
        return fail(why, 401, "invalid_request", "only Bearer credentials are accepted");
    size_t i = 7;
    while (i < vl && v[i] == ' ')
        i++;
    const char *tok = v + i;
    size_t tl = vl - i;
    if (!token68(tok, tl))
        return fail(why, 401, "invalid_request", "the Bearer credential is not a token68");
    if (tl > JWT_MAX_BYTES)
        return fail(why, 401, "invalid_token", "the credential is too long");

    /* Every key is compared, in constant time, whatever matched before. */
    unsigned char d[32];
    if (EVP_Digest(tok, tl, d, NULL, EVP_sha256(), NULL) != 1)
        return fail(why, 401, "invalid_token", "internal error");
    size_t found = a->nkeys;
    for (size_t k = 0; k < a->nkeys; k++) {
        int differ = CRYPTO_memcmp(d, a->keys[k].digest, sizeof d);
        if (!differ && found == a->nkeys)
            found = k;
    }
    OPENSSL_cleanse(d, sizeof d);
    if (found < a->nkeys) {
        const struct api_key *k = &a->keys[found];
        cJSON *labels = k->labels ? cJSON_Duplicate(k->labels, 1) : NULL;
        if ((k->labels && !labels) || principal_build(out, PRINCIPAL_KEY, k->id, labels, NULL, NULL, 0) < 0)
            return fail(why, 401, "invalid_token", "out of memory");
        return AUTH_OK;
    }
    if (a->has_jwt && memchr(tok, '.', tl))
        return from_jwt(a, tok, tl, out, why);
    return fail(why, 401, "invalid_token", "unknown credential");
}

/* ---- answers ---- */

void auth_metadata_path(const char *server_path, char *out, size_t outlen)
{
    snprintf(out, outlen, "/.well-known/oauth-protected-resource%s", server_path);
}

/* The scopes a challenge names: those every token needs, else those offered. */
static char *const *challenge_scopes(const struct auth *a)
{
    if (a->jwt.required_scopes && a->jwt.required_scopes[0])
        return a->jwt.required_scopes;
    return a->meta.scopes_supported;
}

char *auth_challenge(const struct auth *a, const struct auth_failure *why, const char *base_url,
                     const char *server_path, char *out, size_t outlen)
{
    char path[600];
    auth_metadata_path(server_path, path, sizeof path);
    size_t n = (size_t)snprintf(out, outlen, "Bearer resource_metadata=\"%s%s\"", base_url, path);
    char *const *scopes = a ? challenge_scopes(a) : NULL;
    for (size_t i = 0; scopes && scopes[i] && n < outlen; i++)
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", i ? " " : ", scope=\"", scopes[i]);
    if (scopes && scopes[0] && n < outlen)
        n += (size_t)snprintf(out + n, outlen - n, "\"");
    if (why && why->error && n < outlen) {
        /* The description is warden's own text: no quotes or backslashes to escape. */
        n += (size_t)snprintf(out + n, outlen - n, ", error=\"%s\", error_description=\"%s\"", why->error,
                              why->description);
    }
    (void)n;
    return out;
}

static cJSON *string_array(char *const *list)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && list && list[i]; i++) {
        cJSON *s = cJSON_CreateString(list[i]);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

char *auth_resource_metadata_json(const struct auth *a, const char *server_path, const char *base_url)
{
    cJSON *doc = cJSON_CreateObject();
    size_t rl = strlen(base_url) + strlen(server_path) + 1;
    char *resource = malloc(rl);
    char *text = NULL;
    if (doc && resource) {
        snprintf(resource, rl, "%s%s", base_url, server_path);
        char *issuer_only[] = {a && a->has_jwt ? a->jwt.issuer : NULL, NULL};
        char *const *servers = a && a->meta.authorization_servers ? a->meta.authorization_servers : issuer_only;
        cJSON *as = string_array(servers);
        cJSON *ss = a && a->meta.scopes_supported ? string_array(a->meta.scopes_supported) : NULL;
        static char *const header_only[] = {"header", NULL};
        cJSON *bm = string_array(header_only);
        if (cJSON_AddStringToObject(doc, "resource", resource) && as && bm) {
            cJSON_AddItemToObject(doc, "authorization_servers", as);
            as = NULL;
            if (ss) {
                cJSON_AddItemToObject(doc, "scopes_supported", ss);
                ss = NULL;
            }
            cJSON_AddItemToObject(doc, "bearer_methods_supported", bm);
            bm = NULL;
            text = cJSON_PrintUnformatted(doc);
        }
        cJSON_Delete(as);
        cJSON_Delete(ss);
        cJSON_Delete(bm);
    }
    free(resource);
    cJSON_Delete(doc);
    return text;
}

char *auth_local_id(const char *flag, char *err, size_t errlen)
{
    const char *id = flag ? flag : getenv("WARDEN_PRINCIPAL");
    const char *from = flag ? "--principal" : "WARDEN_PRINCIPAL";
    if (!id || !id[0]) {
        struct passwd *pw = getpwuid(geteuid());
        id = pw ? pw->pw_name : NULL;
        from = "the login name";
    }
    if (!id || !valid_id(id)) {
        snprintf(err, errlen, "%s%s%.200s: a principal id is 1 to 200 letters, digits and _ . - @ :", from,
                 id ? " " : "", id ? id : "");
        return NULL;
    }
    size_t n = strlen(id) + 1;
    char *copy = malloc(n);
    if (!copy)
        snprintf(err, errlen, "out of memory");
    else
        memcpy(copy, id, n);
    return copy;
}

/* ---- warden key new ID ---- */

int auth_key_main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "new") != 0) {
        fprintf(stderr, "usage: warden key new ID\n");
        return 2;
    }
    const char *id = argv[2];
    if (!valid_id(id)) {
        fprintf(stderr, "warden key: an id may use only letters, digits and _ . - @ : (at most 200)\n");
        return 2;
    }
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        fprintf(stderr, "warden key: no randomness available\n");
        return 1;
    }
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char secret[64] = "wdn_";
    size_t o = 4;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < sizeof raw; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            secret[o++] = al[(acc >> bits) & 63];
        }
    }
    if (bits)
        secret[o++] = al[(acc << (6 - bits)) & 63];
    secret[o] = '\0';
    OPENSSL_cleanse(raw, sizeof raw);
    unsigned char d[32];
    char hex[65];
    if (EVP_Digest(secret, o, d, NULL, EVP_sha256(), NULL) != 1) {
        OPENSSL_cleanse(secret, sizeof secret);
        return 1;
    }
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    printf("secret (shown once; the agent sends \"Authorization: Bearer SECRET\"):\n%s\n"
           "add to \"auth\": {\"api_keys\": [...]}:\n{\"id\": \"%s\", \"sha256\": \"%s\", \"labels\": {}}\n",
           secret, id, hex);
    OPENSSL_cleanse(secret, sizeof secret);
    return fflush(stdout) == 0 ? 0 : 1;
}
