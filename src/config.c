#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#define DEFAULT_LISTEN_HOST "127.0.0.1"
#define DEFAULT_LISTEN_PORT 8931

static const struct limits_conf default_limits = {
    .max_header_bytes = 16384,
    .max_headers = 64,
    .max_body_bytes = 4 * 1024 * 1024,
    .max_json_depth = 64,
    .max_sse_event_bytes = 4 * 1024 * 1024,
    .max_connections = 10000,
    .header_timeout_ms = 10000,
    .body_timeout_ms = 30000,
    .keepalive_timeout_ms = 75000,
    .shutdown_grace_ms = 10000,
};

/* Error reporting: one line naming where and what. */
static int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A NULL-terminated list of strings, grown one by one. */
static int list_push(char ***list, size_t *n, const char *s)
{
    char **l = realloc(*list, (*n + 2) * sizeof *l);
    if (!l)
        return -1;
    *list = l;
    if (!(l[*n] = strdup(s)))
        return -1;
    l[++*n] = NULL;
    return 0;
}

static void list_free(char **list)
{
    for (char **p = list; p && *p; p++)
        free(*p);
    free(list);
}

/* Parses HOST:PORT ([v6]:PORT too). */
static int parse_hostport(const char *s, char **host, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 1 || p > 65535 || colon[1] == '\0')
        return -1;
    size_t hl = (size_t)(colon - s);
    if (s[0] == '[') {
        if (hl < 3 || s[hl - 1] != ']')
            return -1;
    } else if (memchr(s, ':', hl)) {
        return -1;
    }
    *host = strndup(s, hl);
    *port = (uint16_t)p;
    return *host ? 0 : -1;
}

/* Fills the upstream parts of a server from its http:// URL. */
static int parse_url(struct server_conf *sc, const char *url, char *why, size_t whylen)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return errf(why, whylen, "https upstreams are not supported (no TLS in warden): put a TLS terminator in front");
    if (strncasecmp(url, "http://", 7) != 0)
        return errf(why, whylen, "must be an http:// URL");
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    size_t authority = slash ? (size_t)(slash - h) : strlen(h);
    if (authority == 0 || memchr(h, '@', authority) || memchr(h, '?', authority) || memchr(h, '#', authority))
        return errf(why, whylen, "must be http://HOST[:PORT][/PATH]");
    char *auth = strndup(h, authority);
    if (!auth)
        return errf(why, whylen, "out of memory");
    char *colon = strrchr(auth, ':');
    char *bracket = strrchr(auth, ']');
    long port = 80;
    if (colon && (!bracket || colon > bracket)) {
        char *end;
        port = strtol(colon + 1, &end, 10);
        if (*end || port < 1 || port > 65535) {
            free(auth);
            return errf(why, whylen, "has an invalid port");
        }
        *colon = '\0';
    }
    for (const char *c = auth; *c; c++) {
        if (!isalnum((unsigned char)*c) && !strchr(".-_[]:", *c)) {
            free(auth);
            return errf(why, whylen, "has an invalid host");
        }
    }
    sc->host = auth;
    sc->port = (uint16_t)port;
    char hh[300];
    snprintf(hh, sizeof hh, "%s:%ld", auth, port);
    sc->host_header = strdup(hh);
    const char *path = slash ? slash : "/";
    for (const char *c = path; *c; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return errf(why, whylen, "has a space or control character in its path");
    }
    sc->upstream_path = strdup(path);
    sc->url = strdup(url);
    if (!sc->host_header || !sc->upstream_path || !sc->url)
        return errf(why, whylen, "out of memory");
    return 0;
}

static void server_defaults(struct server_conf *sc)
{
    sc->connect_timeout_ms = 5000;
    sc->first_byte_timeout_ms = 60000;
    sc->sse_idle_timeout_ms = 300000;
    sc->max_connections = 256;
}

static void server_free(struct server_conf *sc)
{
    free(sc->name);
    free(sc->path);
    free(sc->url);
    free(sc->host);
    free(sc->host_header);
    free(sc->upstream_path);
    list_free(sc->command);
    list_free(sc->env);
    list_free(sc->policies);
    for (size_t i = 0; i < sc->nheaders; i++) {
        free(sc->headers[i].name);
        free(sc->headers[i].value);
    }
    free(sc->headers);
}

void config_free(struct config *cfg)
{
    free(cfg->listen_host);
    for (size_t i = 0; i < cfg->nservers; i++)
        server_free(&cfg->servers[i]);
    free(cfg->servers);
    list_free(cfg->allowed_origins);
    list_free(cfg->allowed_hosts);
    free(cfg->audit_log);
    free(cfg->admin_listen);
    free(cfg->log_level);
    free(cfg->source);
    memset(cfg, 0, sizeof *cfg);
}

static bool is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "[::1]") == 0 ||
           strcmp(host, "::1") == 0;
}

/* DNS-rebinding protection by default: loopback names on a loopback
 * listener; otherwise the listen host itself and no browser origins. */
static int default_origins_hosts(struct config *cfg)
{
    size_t no = 0, nh = 0;
    if (!cfg->allowed_hosts) {
        if (is_loopback(cfg->listen_host)) {
            if (list_push(&cfg->allowed_hosts, &nh, "localhost") || list_push(&cfg->allowed_hosts, &nh, "127.0.0.1") ||
                list_push(&cfg->allowed_hosts, &nh, "[::1]"))
                return -1;
        } else if (list_push(&cfg->allowed_hosts, &nh, cfg->listen_host)) {
            return -1;
        }
    }
    if (!cfg->allowed_origins) {
        if (is_loopback(cfg->listen_host)) {
            const char *o[] = {"http://localhost", "http://127.0.0.1", "http://[::1]",
                               "https://localhost", "https://127.0.0.1", "https://[::1]"};
            for (size_t i = 0; i < 6; i++)
                if (list_push(&cfg->allowed_origins, &no, o[i]))
                    return -1;
        } else {
            cfg->allowed_origins = calloc(1, sizeof *cfg->allowed_origins);
            if (!cfg->allowed_origins)
                return -1;
        }
    }
    return 0;
}

/* Splits "scheme://host[:port]" or "host[:port]" into host and port parts. */
static void split_port(const char *s, size_t len, size_t *host_len, const char **port, size_t *port_len)
{
    const char *end = s + len, *colon = NULL;
    const char *bracket = memchr(s, ']', len);
    for (const char *p = bracket ? bracket : s; p < end; p++)
        if (*p == ':')
            colon = p;
    if (colon) {
        *host_len = (size_t)(colon - s);
        *port = colon + 1;
        *port_len = (size_t)(end - colon - 1);
    } else {
        *host_len = len;
        *port = NULL;
        *port_len = 0;
    }
}

bool config_origin_allowed(const struct config *cfg, const char *origin, size_t len)
{
    const char *sep = len > 3 ? memmem(origin, len, "://", 3) : NULL;
    size_t head = sep ? (size_t)(sep - origin) + 3 : 0;
    size_t hlen;
    const char *port;
    size_t plen;
    split_port(origin + head, len - head, &hlen, &port, &plen);
    for (char **a = cfg->allowed_origins; a && *a; a++) {
        if (strcmp(*a, "*") == 0)
            return true;
        size_t alen = strlen(*a);
        const char *asep = strstr(*a, "://");
        size_t ahead = asep ? (size_t)(asep - *a) + 3 : 0;
        size_t ahlen;
        const char *aport;
        size_t aplen;
        split_port(*a + ahead, alen - ahead, &ahlen, &aport, &aplen);
        if (ahead != head || strncasecmp(*a, origin, head) != 0)
            continue;
        if (ahlen != hlen || strncasecmp(*a + ahead, origin + head, hlen) != 0)
            continue;
        if (!aport || (plen == aplen && memcmp(port, aport, plen) == 0))
            return true;
    }
    return false;
}

bool config_host_allowed(const struct config *cfg, const char *host, size_t len)
{
    size_t hlen;
    const char *port;
    size_t plen;
    split_port(host, len, &hlen, &port, &plen);
    for (char **a = cfg->allowed_hosts; a && *a; a++) {
        if (strcmp(*a, "*") == 0)
            return true;
        if (strlen(*a) == hlen && strncasecmp(*a, host, hlen) == 0)
            return true;
    }
    return false;
}

/* Replaces ${NAME} with the environment's value; an unset name is an error. */
static char *expand_env(const char *s, char *why, size_t whylen)
{
    size_t cap = strlen(s) + 1, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (const char *p = s; *p;) {
        const char *piece = p;
        size_t plen = 1;
        char name[256];
        if (p[0] == '$' && p[1] == '{') {
            const char *close = strchr(p + 2, '}');
            if (!close || close == p + 2 || (size_t)(close - p - 2) >= sizeof name) {
                free(out);
                errf(why, whylen, "has a malformed ${NAME}");
                return NULL;
            }
            memcpy(name, p + 2, (size_t)(close - p - 2));
            name[close - p - 2] = '\0';
            piece = getenv(name);
            if (!piece) {
                free(out);
                errf(why, whylen, "names the environment variable %s, which is not set", name);
                return NULL;
            }
            plen = strlen(piece);
            p = close + 1;
        } else {
            p++;
        }
        if (len + plen + 1 > cap) {
            while (len + plen + 1 > cap)
                cap *= 2;
            char *o = realloc(out, cap);
            if (!o) {
                free(out);
                return NULL;
            }
            out = o;
        }
        memcpy(out + len, piece, plen);
        len += plen;
    }
    out[len] = '\0';
    return out;
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    return true;
}

/* ---- the config file ---- */

/* Where we are in the file, for messages: "FILE: /servers/x/url: ..." */
struct jctx {
    const char *file;
    char *err;
    size_t errlen;
};

static int jerr(struct jctx *j, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int jerr(struct jctx *j, const char *path, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(j->err, j->errlen, "%s: %s: %s", j->file, path[0] ? path : "/", what);
    return -1;
}

/* Refuses members not in `known` and keys given twice (cJSON keeps both). */
static int check_members(struct jctx *j, const cJSON *obj, const char *path, const char *const *known)
{
    for (const cJSON *m = obj->child; m; m = m->next) {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = strcmp(*k, m->string) == 0;
        char at[700];
        snprintf(at, sizeof at, "%s/%s", path, m->string);
        if (!ok)
            return jerr(j, at, "unknown field \"%s\"", m->string);
        for (const cJSON *n = m->next; n; n = n->next)
            if (strcmp(n->string, m->string) == 0)
                return jerr(j, at, "given twice");
    }
    return 0;
}

/* The first key given twice among an object's members, or NULL. */
static const char *duplicate_key(const cJSON *obj)
{
    for (const cJSON *m = obj->child; m; m = m->next)
        for (const cJSON *n = m->next; n; n = n->next)
            if (strcmp(n->string, m->string) == 0)
                return m->string;
    return NULL;
}

static int get_uint(struct jctx *j, const cJSON *obj, const char *key, const char *path, unsigned long max,
                    unsigned long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return 0;
    char p[700];
    snprintf(p, sizeof p, "%s/%s", path, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > (double)max ||
        v->valuedouble != (double)(unsigned long)v->valuedouble)
        return jerr(j, p, "must be a whole number from 1 to %lu", max);
    *out = (unsigned long)v->valuedouble;
    return 0;
}

static int get_string(struct jctx *j, const cJSON *obj, const char *key, const char *path, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return 0;
    char p[700];
    snprintf(p, sizeof p, "%s/%s", path, key);
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return jerr(j, p, "must be a non-empty string");
    free(*out);
    *out = strdup(v->valuestring);
    return *out ? 0 : jerr(j, p, "out of memory");
}

static int get_string_list(struct jctx *j, const cJSON *obj, const char *key, const char *path, char ***out,
                           size_t *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return 0;
    char p[700];
    snprintf(p, sizeof p, "%s/%s", path, key);
    if (!cJSON_IsArray(v))
        return jerr(j, p, "must be an array of strings");
    size_t count = 0;
    if (!*out && !(*out = calloc(1, sizeof **out)))
        return jerr(j, p, "out of memory");
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e) || !e->valuestring[0])
            return jerr(j, p, "element %d must be a non-empty string", i);
        if (list_push(out, &count, e->valuestring))
            return jerr(j, p, "out of memory");
    }
    if (n)
        *n = count;
    return 0;
}

static int load_limits(struct jctx *j, const cJSON *lim, struct limits_conf *out)
{
    static const char *const known[] = {"max_header_bytes", "max_headers", "max_body_bytes", "max_json_depth",
                                        "max_sse_event_bytes", "max_connections", "header_timeout_ms",
                                        "body_timeout_ms", "keepalive_timeout_ms", "shutdown_grace_ms", NULL};
    if (!cJSON_IsObject(lim))
        return jerr(j, "/limits", "must be an object");
    if (check_members(j, lim, "/limits", known))
        return -1;
    struct { const char *key; unsigned long max; size_t *sz; unsigned *u; } f[] = {
        {"max_header_bytes", 1 << 20, &out->max_header_bytes, NULL},
        {"max_headers", 1000, &out->max_headers, NULL},
        {"max_body_bytes", 1UL << 30, &out->max_body_bytes, NULL},
        {"max_json_depth", 1000, &out->max_json_depth, NULL},
        {"max_sse_event_bytes", 1UL << 30, &out->max_sse_event_bytes, NULL},
        {"max_connections", 1000000, &out->max_connections, NULL},
        {"header_timeout_ms", 3600000, NULL, &out->header_timeout_ms},
        {"body_timeout_ms", 3600000, NULL, &out->body_timeout_ms},
        {"keepalive_timeout_ms", 3600000, NULL, &out->keepalive_timeout_ms},
        {"shutdown_grace_ms", 3600000, NULL, &out->shutdown_grace_ms},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        unsigned long v = f[i].sz ? *f[i].sz : *f[i].u;
        if (get_uint(j, lim, f[i].key, "/limits", f[i].max, &v))
            return -1;
        if (f[i].sz)
            *f[i].sz = v;
        else
            *f[i].u = (unsigned)v;
    }
    return 0;
}

/* Resolves a policy path written in the config file against the file's directory. */
static char *relative_to(const char *file, const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char *copy = strdup(file);
    if (!copy)
        return NULL;
    char *dir = dirname(copy);
    char *out = NULL;
    if (asprintf(&out, "%s/%s", dir, path) < 0)
        out = NULL;
    free(copy);
    return out;
}

static int load_server(struct jctx *j, const cJSON *s, struct server_conf *sc)
{
    static const char *const known[] = {"url", "command", "env", "policies", "headers", "pass_authorization",
                                        "connect_timeout_ms", "first_byte_timeout_ms", "sse_idle_timeout_ms",
                                        "max_connections", "description", NULL};
    char path[300], p[700];
    snprintf(path, sizeof path, "/servers/%s", sc->name);
    if (!cJSON_IsObject(s))
        return jerr(j, path, "must be an object");
    if (check_members(j, s, path, known))
        return -1;
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(s, "url");
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(s, "command");
    if (!url == !cmd)
        return jerr(j, path, "needs exactly one of \"url\" and \"command\"");
    if (url) {
        snprintf(p, sizeof p, "%s/url", path);
        char why[200];
        if (!cJSON_IsString(url))
            return jerr(j, p, "must be a string");
        if (parse_url(sc, url->valuestring, why, sizeof why))
            return jerr(j, p, "%s", why);
    } else {
        size_t n = 0;
        if (get_string_list(j, s, "command", path, &sc->command, &n))
            return -1;
        if (n == 0) {
            snprintf(p, sizeof p, "%s/command", path);
            return jerr(j, p, "must name a program");
        }
    }
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(s, "env");
    if (env) {
        size_t n = 0;
        snprintf(p, sizeof p, "%s/env", path);
        if (!cmd)
            return jerr(j, p, "only a stdio server (\"command\") has an environment");
        if (!cJSON_IsObject(env))
            return jerr(j, p, "must be an object of NAME: value");
        if (duplicate_key(env))
            return jerr(j, p, "\"%s\" is given twice", duplicate_key(env));
        if (!(sc->env = calloc(1, sizeof *sc->env)))
            return jerr(j, p, "out of memory");
        for (const cJSON *e = env->child; e; e = e->next) {
            char q[600], why[200];
            snprintf(q, sizeof q, "%s/%s", p, e->string);
            if (!cJSON_IsString(e) || !is_token(e->string) || strchr(e->string, '='))
                return jerr(j, q, "must be a string, under a valid variable name");
            char *v = expand_env(e->valuestring, why, sizeof why);
            if (!v)
                return jerr(j, q, "%s", why);
            char *kv = NULL;
            int rc = asprintf(&kv, "%s=%s", e->string, v);
            free(v);
            if (rc < 0 || list_push(&sc->env, &n, kv)) {
                free(kv);
                return jerr(j, q, "out of memory");
            }
            free(kv);
        }
    }
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(s, "policies");
    if (pol) {
        snprintf(p, sizeof p, "%s/policies", path);
        if (!cJSON_IsArray(pol))
            return jerr(j, p, "must be an array of file names");
        if (!sc->policies && !(sc->policies = calloc(1, sizeof *sc->policies)))
            return jerr(j, p, "out of memory");
        int i = 0;
        for (const cJSON *e = pol->child; e; e = e->next, i++) {
            if (!cJSON_IsString(e) || !e->valuestring[0])
                return jerr(j, p, "element %d must be a file name", i);
            char *resolved = relative_to(j->file, e->valuestring);
            if (!resolved || list_push(&sc->policies, &sc->npolicies, resolved)) {
                free(resolved);
                return jerr(j, p, "out of memory");
            }
            free(resolved);
        }
    }
    const cJSON *hdr = cJSON_GetObjectItemCaseSensitive(s, "headers");
    if (hdr) {
        snprintf(p, sizeof p, "%s/headers", path);
        if (!cJSON_IsObject(hdr))
            return jerr(j, p, "must be an object of Name: value");
        if (duplicate_key(hdr))
            return jerr(j, p, "\"%s\" is given twice", duplicate_key(hdr));
        size_t n = (size_t)cJSON_GetArraySize(hdr);
        if (!(sc->headers = calloc(n ? n : 1, sizeof *sc->headers)))
            return jerr(j, p, "out of memory");
        for (const cJSON *e = hdr->child; e; e = e->next) {
            char q[600], why[200];
            snprintf(q, sizeof q, "%s/%s", p, e->string);
            if (!is_token(e->string))
                return jerr(j, q, "is not a valid header name");
            static const char *const hop[] = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                                              "transfer-encoding", "upgrade", "content-length", "host", "expect"};
            for (size_t h = 0; h < sizeof hop / sizeof *hop; h++)
                if (strcasecmp(hop[h], e->string) == 0)
                    return jerr(j, q, "is a header warden sets itself");
            if (!cJSON_IsString(e))
                return jerr(j, q, "must be a string");
            char *v = expand_env(e->valuestring, why, sizeof why);
            if (!v)
                return jerr(j, q, "%s", why);
            if (strpbrk(v, "\r\n")) {
                free(v);
                return jerr(j, q, "must not contain CR or LF");
            }
            sc->headers[sc->nheaders].name = strdup(e->string);
            sc->headers[sc->nheaders].value = v;
            if (!sc->headers[sc->nheaders++].name)
                return jerr(j, q, "out of memory");
        }
    }
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(s, "pass_authorization");
    if (pa) {
        snprintf(p, sizeof p, "%s/pass_authorization", path);
        if (!cJSON_IsBool(pa))
            return jerr(j, p, "must be true or false");
        sc->pass_authorization = cJSON_IsTrue(pa);
    }
    unsigned long v;
    struct { const char *key; unsigned *dst; unsigned long max; } t[] = {
        {"connect_timeout_ms", &sc->connect_timeout_ms, 3600000},
        {"first_byte_timeout_ms", &sc->first_byte_timeout_ms, 86400000},
        {"sse_idle_timeout_ms", &sc->sse_idle_timeout_ms, 86400000},
        {"max_connections", &sc->max_connections, 100000},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        v = *t[i].dst;
        if (get_uint(j, s, t[i].key, path, t[i].max, &v))
            return -1;
        *t[i].dst = (unsigned)v;
    }
    return 0;
}

static int load_file(const char *file, struct config *cfg, char *err, size_t errlen)
{
    struct jctx j = {file, err, errlen};
    FILE *f = fopen(file, "rb");
    if (!f)
        return errf(err, errlen, "%s: cannot read: %s", file, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *t = realloc(text, cap + 1);
            if (!t) {
                free(text);
                fclose(f);
                return errf(err, errlen, "%s: out of memory", file);
            }
            text = t;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    text[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    if (!root) {
        size_t off = end ? (size_t)(end - text) : 0, line = 1, col = 1;
        for (size_t i = 0; i < off && i < len; i++) {
            if (text[i] == '\n')
                line++, col = 1;
            else
                col++;
        }
        free(text);
        return errf(err, errlen, "%s:%zu:%zu: not valid JSON", file, line, col);
    }
    free(text);
    int rc = -1;
    static const char *const known[] = {"listen", "workers", "log_level", "audit_log", "admin", "allowed_origins",
                                        "allowed_hosts", "limits", "servers", "description", NULL};
    if (!cJSON_IsObject(root)) {
        jerr(&j, "", "must be a JSON object");
        goto out;
    }
    if (check_members(&j, root, "", known))
        goto out;
    char *listen = NULL;
    if (get_string(&j, root, "listen", "", &listen))
        goto out;
    if (listen) {
        free(cfg->listen_host);
        cfg->listen_host = NULL;
        if (parse_hostport(listen, &cfg->listen_host, &cfg->listen_port)) {
            free(listen);
            jerr(&j, "/listen", "must be HOST:PORT");
            goto out;
        }
        free(listen);
    }
    unsigned long workers = (unsigned long)cfg->workers;
    if (get_uint(&j, root, "workers", "", 64, &workers))
        goto out;
    cfg->workers = (int)workers;
    if (get_string(&j, root, "log_level", "", &cfg->log_level) || get_string(&j, root, "audit_log", "", &cfg->audit_log) ||
        get_string(&j, root, "admin", "", &cfg->admin_listen))
        goto out;
    if (get_string_list(&j, root, "allowed_origins", "", &cfg->allowed_origins, NULL) ||
        get_string_list(&j, root, "allowed_hosts", "", &cfg->allowed_hosts, NULL))
        goto out;
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(root, "limits");
    if (lim && load_limits(&j, lim, &cfg->limits))
        goto out;
    const cJSON *servers = cJSON_GetObjectItemCaseSensitive(root, "servers");
    if (!cJSON_IsObject(servers) || !servers->child) {
        jerr(&j, "/servers", "must be an object naming at least one server");
        goto out;
    }
    size_t n = (size_t)cJSON_GetArraySize(servers);
    if (!(cfg->servers = calloc(n, sizeof *cfg->servers))) {
        jerr(&j, "/servers", "out of memory");
        goto out;
    }
    for (const cJSON *s = servers->child; s; s = s->next) {
        struct server_conf *sc = &cfg->servers[cfg->nservers++];
        server_defaults(sc);
        for (const char *c = s->string; *c; c++) {
            if (!isalnum((unsigned char)*c) && !strchr("_.-", *c)) {
                jerr(&j, "/servers", "server name \"%s\" may use only letters, digits, '_', '.' and '-'", s->string);
                goto out;
            }
        }
        for (const cJSON *o = s->next; o; o = o->next) {
            if (strcmp(o->string, s->string) == 0) {
                jerr(&j, "/servers", "server \"%s\" is given twice", s->string);
                goto out;
            }
        }
        sc->name = strdup(s->string);
        if (!sc->name || asprintf(&sc->path, "/mcp/%s", s->string) < 0) {
            sc->path = NULL;
            jerr(&j, "/servers", "out of memory");
            goto out;
        }
        if (!sc->policies && !(sc->policies = calloc(1, sizeof *sc->policies)))
            goto out;
        if (load_server(&j, s, sc))
            goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: warden --upstream URL [options]          serve one HTTP MCP server at /mcp\n"
            "       warden [options] -- COMMAND [ARGS...]    serve one stdio MCP server at /mcp\n"
            "       warden --config FILE                     serve the servers of a config file at /mcp/NAME\n"
            "       warden check FILE...                     validate policies\n"
            "       warden test FILE...                      run policy test cases\n"
            "options:\n"
            "  --listen HOST:PORT       where to listen (default 127.0.0.1:8931)\n"
            "  --policy FILE            a policy (JSON or Lua); repeatable\n"
            "  --stdio                  serve one client on stdin/stdout instead of listening\n"
            "  --workers N              event loops on threads (default: the number of CPUs)\n"
            "  --allow-origin ORIGIN    an allowed Origin (repeatable; replaces the defaults)\n"
            "  --allow-host HOST        an allowed Host (repeatable; replaces the defaults)\n"
            "  --pass-authorization     forward the client's Authorization header upstream\n"
            "  --audit-log FILE|-       write one JSON line per decision\n"
            "  --admin HOST:PORT        serve /metrics, /healthz and /policies there\n"
            "  --log-level LEVEL        debug, info, warn or error (default info)\n"
            "  --help, --version\n");
}

int config_from_args(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->limits = default_limits;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->workers = cpus > 0 ? (int)(cpus > 64 ? 64 : cpus) : 1;
    const char *upstream = NULL, *config_file = NULL, *listen = NULL;
    char **command = NULL, **policies = NULL, **origins = NULL, **hosts = NULL;
    size_t ncommand = 0, npolicies = 0, norigins = 0, nhosts = 0;
    bool pass_auth = false, workers_set = false;
    int rc = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(a, "--upstream") == 0 || strcmp(a, "--config") == 0 || strcmp(a, "--listen") == 0 ||
                     strcmp(a, "--policy") == 0 || strcmp(a, "--workers") == 0 || strcmp(a, "--audit-log") == 0 ||
                     strcmp(a, "--admin") == 0 || strcmp(a, "--log-level") == 0 ||
                     strcmp(a, "--allow-origin") == 0 || strcmp(a, "--allow-host") == 0;
        if (takes && !v) {
            errf(err, errlen, "%s needs a value", a);
            goto out;
        }
        if (strcmp(a, "--") == 0) {
            for (int k = i + 1; k < argc; k++)
                if (list_push(&command, &ncommand, argv[k]))
                    goto oom;
            if (!ncommand) {
                errf(err, errlen, "-- must be followed by the command of a stdio MCP server");
                goto out;
            }
            break;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            rc = 1;
            goto out;
        } else if (strcmp(a, "--version") == 0) {
            printf("warden %s\n", WARDEN_VERSION);
            rc = 1;
            goto out;
        } else if (strcmp(a, "--upstream") == 0) {
            upstream = v;
        } else if (strcmp(a, "--config") == 0) {
            config_file = v;
        } else if (strcmp(a, "--listen") == 0) {
            listen = v;
        } else if (strcmp(a, "--policy") == 0) {
            if (list_push(&policies, &npolicies, v))
                goto oom;
        } else if (strcmp(a, "--workers") == 0) {
            char *end;
            long w = strtol(v, &end, 10);
            if (*end || w < 1 || w > 64) {
                errf(err, errlen, "--workers must be a number from 1 to 64");
                goto out;
            }
            cfg->workers = (int)w;
            workers_set = true;
        } else if (strcmp(a, "--stdio") == 0) {
            cfg->stdio = true;
        } else if (strcmp(a, "--pass-authorization") == 0) {
            pass_auth = true;
        } else if (strcmp(a, "--audit-log") == 0) {
            free(cfg->audit_log);
            cfg->audit_log = xstrdup(v);
        } else if (strcmp(a, "--admin") == 0) {
            free(cfg->admin_listen);
            cfg->admin_listen = xstrdup(v);
        } else if (strcmp(a, "--log-level") == 0) {
            free(cfg->log_level);
            cfg->log_level = xstrdup(v);
        } else if (strcmp(a, "--allow-origin") == 0) {
            if (list_push(&origins, &norigins, v))
                goto oom;
        } else if (strcmp(a, "--allow-host") == 0) {
            if (list_push(&hosts, &nhosts, v))
                goto oom;
        } else {
            errf(err, errlen, "unknown option %s (see --help)", a);
            goto out;
        }
        if (takes)
            i++;
    }
    int sources = !!upstream + !!config_file + !!ncommand;
    if (sources != 1) {
        errf(err, errlen, sources ? "give only one of --upstream, --config and -- COMMAND"
                                  : "nothing to serve: give --upstream URL, --config FILE or -- COMMAND (see --help)");
        goto out;
    }
    if (config_file && npolicies) {
        errf(err, errlen, "--policy goes with --upstream or -- COMMAND; with --config, list policies in the file");
        goto out;
    }
    if (!(cfg->listen_host = strdup(DEFAULT_LISTEN_HOST)))
        goto oom;
    cfg->listen_port = DEFAULT_LISTEN_PORT;
    if (config_file) {
        if (!(cfg->source = strdup(config_file)))
            goto oom;
        int saved_workers = cfg->workers;
        if (load_file(config_file, cfg, err, errlen))
            goto out;
        if (workers_set)
            cfg->workers = saved_workers;
    } else {
        if (!(cfg->source = strdup("command line")) || !(cfg->servers = calloc(1, sizeof *cfg->servers)))
            goto oom;
        cfg->nservers = 1;
        struct server_conf *sc = &cfg->servers[0];
        server_defaults(sc);
        if (!(sc->name = strdup("")) || !(sc->path = strdup("/mcp")))
            goto oom;
        if (upstream) {
            char why[200];
            if (parse_url(sc, upstream, why, sizeof why)) {
                errf(err, errlen, "--upstream %s: %s", upstream, why);
                goto out;
            }
        } else {
            sc->command = command;
            command = NULL;
            /* A stdio server sees only what it needs: PATH and HOME, nothing else of warden's environment. */
            size_t n = 0;
            const char *keep[] = {"PATH", "HOME", "LANG", "TZ"};
            if (!(sc->env = calloc(1, sizeof *sc->env)))
                goto oom;
            for (size_t k = 0; k < 4; k++) {
                const char *val = getenv(keep[k]);
                char *kv = NULL;
                if (val && (asprintf(&kv, "%s=%s", keep[k], val) < 0 || list_push(&sc->env, &n, kv))) {
                    free(kv);
                    goto oom;
                }
                free(kv);
            }
        }
        sc->pass_authorization = pass_auth;
        sc->policies = policies ? policies : calloc(1, sizeof *policies);
        sc->npolicies = npolicies;
        policies = NULL;
        if (!sc->policies)
            goto oom;
    }
    if (listen) {
        free(cfg->listen_host);
        cfg->listen_host = NULL;
        if (parse_hostport(listen, &cfg->listen_host, &cfg->listen_port)) {
            errf(err, errlen, "--listen %s: must be HOST:PORT", listen);
            goto out;
        }
    }
    if (pass_auth)
        for (size_t i = 0; i < cfg->nservers; i++)
            cfg->servers[i].pass_authorization = true;
    if (origins) {
        list_free(cfg->allowed_origins);
        cfg->allowed_origins = origins;
        origins = NULL;
    }
    if (hosts) {
        list_free(cfg->allowed_hosts);
        cfg->allowed_hosts = hosts;
        hosts = NULL;
    }
    if (default_origins_hosts(cfg))
        goto oom;
    if (cfg->log_level && strcmp(cfg->log_level, "debug") && strcmp(cfg->log_level, "info") &&
        strcmp(cfg->log_level, "warn") && strcmp(cfg->log_level, "error")) {
        errf(err, errlen, "log level must be debug, info, warn or error, not %s", cfg->log_level);
        goto out;
    }
    rc = 0;
    goto out;
oom:
    errf(err, errlen, "out of memory");
out:
    list_free(command);
    list_free(policies);
    list_free(origins);
    list_free(hosts);
    if (rc != 0)
        config_free(cfg);
    return rc;
}
