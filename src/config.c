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
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include "pins.h"
#include "auth.h"
#include "policy.h"
#include "schema.h"

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
    .max_list_ttl_ms = 60000,
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
    sc->tls = strncasecmp(url, "https://", 8) == 0;
    if (!sc->tls && strncasecmp(url, "http://", 7) != 0)
        return errf(why, whylen, "must be an http:// or https:// URL");
    const char *h = url + (sc->tls ? 8 : 7);
    const char *slash = strchr(h, '/');
    size_t authority = slash ? (size_t)(slash - h) : strlen(h);
    if (authority == 0 || memchr(h, '@', authority) || memchr(h, '?', authority) || memchr(h, '#', authority))
        return errf(why, whylen, "must be http[s]://HOST[:PORT][/PATH]");
    char *auth = strndup(h, authority);
    if (!auth)
        return errf(why, whylen, "out of memory");
    char *colon = strrchr(auth, ':');
    char *bracket = strrchr(auth, ']');
    long port = sc->tls ? 443 : 80;
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
    sc->pin_mode = -1;
}

static void server_free(struct server_conf *sc)
{
    free(sc->name);
    free(sc->path);
    free(sc->url);
    free(sc->ca);
    free(sc->host);
    free(sc->host_header);
    free(sc->upstream_path);
    list_free(sc->command);
    list_free(sc->env);
    for (size_t i = 0; sc->policy_when && i < sc->npolicies; i++)
        free(sc->policy_when[i]);
    free(sc->policy_when);
    auth_free(sc->auth);
    free(sc->auth_text);
    list_free(sc->policies);
    free(sc->pins);
    list_free(sc->shadow_policies);
    for (size_t i = 0; i < sc->nheaders; i++) {
        free(sc->headers[i].name);
        free(sc->headers[i].value);
    }
    free(sc->headers);
}

void config_free(struct config *cfg)
{
    auth_free(cfg->auth);
    free(cfg->auth_text);
    free(cfg->principal);
    free(cfg->tls.cert);
    free(cfg->tls.key);
    free(cfg->listen_host);
    for (size_t i = 0; i < cfg->nservers; i++)
        server_free(&cfg->servers[i]);
    free(cfg->servers);
    list_free(cfg->allowed_origins);
    list_free(cfg->allowed_hosts);
    free(cfg->audit_log);
    free(cfg->admin_listen);
    for (size_t i = 0; i < cfg->napprovers; i++)
        free(cfg->approvers[i].id);
    free(cfg->approvers);
    free(cfg->log_level);
    free(cfg->source);
    free((char *)cfg->lua_path);
    free(cfg->state.redis);
    free(cfg->state.password_env);
    free(cfg->state.key_prefix);
    list_free(cfg->approvals.notify_command);
    free(cfg->approvals.webhook);
    free(cfg->approvals.state_key.env);
    OPENSSL_cleanse(cfg->approvals.state_key.bytes, sizeof cfg->approvals.state_key.bytes);
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

/* Resolves a path written in the config file (a policy, lua_path) against the file's directory. */
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

/* ---- the config file and the command line: one table ---- */

/* What the command line and the config file say. The flags without a config
 * key (the source, and two that the file says per server) live beside the
 * config they build, so that one table with one offset each reads both. */
struct cli {
    struct config cfg;
    char *upstream, *config_file;
    char **policies, **shadow_policies;
    bool pass_authorization;
    char *pins, *pin_mode;
    bool trust_annotations;
};

static void read_listen(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct config *cfg = dst;
    char *host = NULL;
    uint16_t port;
    if (!cJSON_IsString(v) || parse_hostport(v->valuestring, &host, &port)) {
        schema_problem(doc, v, ptr, "must be HOST:PORT");
        return;
    }
    free(cfg->listen_host);
    cfg->listen_host = host;
    cfg->listen_port = port;
}

/* lua_path: a directory that exists now; in a file, relative to the file's directory. */
/* A file named in the config (relative to it) or on the command line; it
 * must be readable now. */
static void read_file_path(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        schema_problem(doc, v, ptr, "must be the path of a file");
        return;
    }
    char *path = doc->file ? relative_to(doc->file, v->valuestring) : strdup(v->valuestring);
    if (!path) {
        schema_problem(doc, v, ptr, "out of memory");
    } else if (access(path, R_OK) != 0) {
        schema_problem(doc, v, ptr, "%s: %s", path, strerror(errno));
        free(path);
    } else {
        free(*(char **)dst);
        *(char **)dst = path;
    }
}

static void read_dir(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        schema_problem(doc, v, ptr, "must be the path of a directory");
        return;
    }
    char *path = doc->file ? relative_to(doc->file, v->valuestring) : strdup(v->valuestring);
    struct stat st;
    if (!path)
        schema_problem(doc, v, ptr, "out of memory");
    else if (stat(path, &st) != 0)
        schema_problem(doc, v, ptr, "%s%s%s", strcmp(path, v->valuestring) ? path : "",
                       strcmp(path, v->valuestring) ? ": " : "", strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        schema_problem(doc, v, ptr, "%s is not a directory", path);
    else {
        free((char *)*(const char **)dst);
        *(const char **)dst = path;
        return;
    }
    free(path);
}

static void read_url(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    char why[200];
    if (!cJSON_IsString(v))
        schema_problem(doc, v, ptr, "must be a string");
    else if (parse_url(dst, v->valuestring, why, sizeof why))
        schema_problem(doc, v, ptr, "%s", why);
}

static void read_transport(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct server_conf *sc = dst;
    if (!cJSON_IsString(v) || (strcmp(v->valuestring, "http") != 0 && strcmp(v->valuestring, "sse") != 0))
        schema_problem(doc, v, ptr, "must be \"http\" (Streamable HTTP) or \"sse\" (the legacy HTTP+SSE of 2024-11-05)");
    else
        sc->legacy_sse = strcmp(v->valuestring, "sse") == 0;
}

static void read_env(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    char ***env = dst;
    size_t n = 0;
    if (!cJSON_IsObject(v)) {
        schema_problem(doc, v, ptr, "must be an object of NAME: value");
        return;
    }
    if (schema_duplicates(doc, v, ptr))
        return;
    if (!(*env = calloc(1, sizeof **env))) {
        schema_problem(doc, v, ptr, "out of memory");
        return;
    }
    for (const cJSON *e = v->child; e; e = e->next) {
        char at[600], why[200] = "out of memory";
        schema_pointer(at, sizeof at, ptr, e->string);
        if (!cJSON_IsString(e) || !is_token(e->string) || strchr(e->string, '=')) {
            schema_problem(doc, e, at, "must be a string, under a valid variable name");
            continue;
        }
        char *value = expand_env(e->valuestring, why, sizeof why), *kv = NULL;
        if (!value) {
            schema_problem(doc, e, at, "%s", why);
            continue;
        }
        int rc = asprintf(&kv, "%s=%s", e->string, value);
        free(value);
        if (rc < 0 || list_push(env, &n, kv))
            schema_problem(doc, e, at, "out of memory");
        if (rc >= 0)
            free(kv);
    }
}

/* {"file": NAME, "when": CONDITION}: a policy bound to the callers for
 * whom the condition holds (policy.h, policy_set_bind). */
static bool read_bound_policy(struct schema_doc *doc, const cJSON *e, const char *at, const cJSON **file,
                              const cJSON **when)
{
    int before = doc->problems;
    schema_duplicates(doc, e, at);
    for (const cJSON *m = e->child; m; m = m->next) {
        char mat[700];
        schema_pointer(mat, sizeof mat, at, m->string);
        if (strcmp(m->string, "file") == 0)
            *file = m;
        else if (strcmp(m->string, "when") == 0 && policy_when_check(doc, m, mat))
            *when = m;
        else if (strcmp(m->string, "when") != 0 && strcmp(m->string, "description") != 0)
            schema_key_problem(doc, m, mat, "unknown field \"%s\" (known: file, when, description)", m->string);
    }
    if (*file == e) {
        schema_problem(doc, e, at, "needs \"file\"");
        return false;
    }
    if (!cJSON_GetObjectItemCaseSensitive(e, "when")) {
        schema_problem(doc, e, at, "needs \"when\" (a plain string names a policy for every caller)");
        return false;
    }
    return doc->problems == before;
}

/* Records the binding of the policy just added (NULL: none). */
static int push_when(struct server_conf *sc, const cJSON *when)
{
    char **grown = realloc(sc->policy_when, sc->npolicies * sizeof *grown);
    if (!grown)
        return -1;
    sc->policy_when = grown;
    grown[sc->npolicies - 1] = when ? cJSON_PrintUnformatted(when) : NULL;
    return when && !grown[sc->npolicies - 1] ? -1 : 0;
}

/* policies and shadow_policies: file names, resolved against the config file. */
static void read_policies(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    struct server_conf *sc = dst;
    bool shadow = strcmp(f->key, "shadow_policies") == 0;
    char ***list = shadow ? &sc->shadow_policies : &sc->policies;
    size_t *n = shadow ? &sc->nshadow_policies : &sc->npolicies;
    if (!cJSON_IsArray(v)) {
        schema_problem(doc, v, ptr, "must be an array of file names");
        return;
    }
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char at[600];
        snprintf(at, sizeof at, "%s/%d", ptr, i);
        const cJSON *file = e, *when = NULL;
        if (cJSON_IsObject(e) && !shadow && !read_bound_policy(doc, e, at, &file, &when))
            continue;
        if (!cJSON_IsString(file) || !file->valuestring[0]) {
            schema_problem(doc, e, at, shadow ? "must be a file name" : "must be a file name, or {\"file\": NAME, \"when\": CONDITION}");
            continue;
        }
        char *resolved = relative_to(doc->file, file->valuestring);
        if (!resolved || list_push(list, n, resolved) || (!shadow && push_when(sc, when)))
            schema_problem(doc, e, at, "out of memory");
        free(resolved);
    }
}

/* pins: a file name, relative to the config file. */
static void read_pins(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct server_conf *sc = dst;
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        schema_problem(doc, v, ptr, "must be a file name");
        return;
    }
    free(sc->pins);
    if (!(sc->pins = relative_to(doc->file, v->valuestring)))
        schema_problem(doc, v, ptr, "out of memory");
}

/* The pin mode once everything is read: block when only pins is given; a
 * mode that checks needs a pins file. Returns the problem, or NULL. */
static const char *settle_pin_mode(struct server_conf *sc)
{
    if (sc->pin_mode < 0)
        sc->pin_mode = sc->pins ? PIN_MODE_BLOCK : PIN_MODE_OFF;
    return sc->pin_mode != PIN_MODE_OFF && !sc->pins ? "pin_mode warn or block needs a pins file" : NULL;
}

static void read_headers(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct server_conf *sc = dst;
    static const char *const hop[] = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                                      "transfer-encoding", "upgrade", "content-length", "host", "expect"};
    if (!cJSON_IsObject(v)) {
        schema_problem(doc, v, ptr, "must be an object of Name: value");
        return;
    }
    if (schema_duplicates(doc, v, ptr))
        return;
    size_t n = (size_t)cJSON_GetArraySize(v);
    if (!(sc->headers = calloc(n ? n : 1, sizeof *sc->headers))) {
        schema_problem(doc, v, ptr, "out of memory");
        return;
    }
    for (const cJSON *e = v->child; e; e = e->next) {
        char at[600], why[200] = "out of memory";
        schema_pointer(at, sizeof at, ptr, e->string);
        bool hop_by_hop = false;
        for (size_t h = 0; h < sizeof hop / sizeof *hop; h++)
            hop_by_hop = hop_by_hop || strcasecmp(hop[h], e->string) == 0;
        if (!is_token(e->string)) {
            schema_problem(doc, e, at, "is not a valid header name");
            continue;
        }
        if (hop_by_hop) {
            schema_problem(doc, e, at, "is a header warden sets itself");
            continue;
        }
        if (!cJSON_IsString(e)) {
            schema_problem(doc, e, at, "must be a string");
            continue;
        }
        char *value = expand_env(e->valuestring, why, sizeof why);
        if (!value) {
            schema_problem(doc, e, at, "%s", why);
            continue;
        }
        if (strpbrk(value, "\r\n")) {
            free(value);
            schema_problem(doc, e, at, "must not contain CR or LF");
            continue;
        }
        struct header_conf *h = &sc->headers[sc->nheaders++];
        h->value = value;
        if (!(h->name = strdup(e->string)))
            schema_problem(doc, e, at, "out of memory");
    }
}

static const char *const pin_mode_names[] = {[PIN_MODE_OFF] = "off", [PIN_MODE_WARN] = "warn",
                                             [PIN_MODE_BLOCK] = "block"};

/* An "auth" object, and its JSON text: a config reload (confdiff.c) tells
 * by the text whether it changed, since a parsed auth cannot be compared. */
static void read_auth_text(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr,
                           struct auth **auth, char **text)
{
    auth_read_field(doc, f, v, ptr, auth);
    free(*text);
    if (!(*text = cJSON_PrintUnformatted(v)))
        schema_problem(doc, v, ptr, "out of memory");
}

static void read_server_auth(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    struct server_conf *sc = dst;
    read_auth_text(doc, f, v, ptr, &sc->auth, &sc->auth_text);
}

static void read_config_auth(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    struct config *cfg = dst;
    read_auth_text(doc, f, v, ptr, &cfg->auth, &cfg->auth_text);
}

#define SRV(m) offsetof(struct server_conf, m)
static const struct field server_fields[] = {
    {.key = "url", .kind = FIELD_CUSTOM, .custom = read_url,
     .help = "http[s]://HOST[:PORT][/PATH] of an HTTP server (https: certificate and name verified)"},
    {.key = "transport", .kind = FIELD_CUSTOM, .custom = read_transport,
     .help = "an HTTP server's transport: \"http\" (Streamable HTTP, the default) or \"sse\" (legacy HTTP+SSE, http:// only)"},
    {.key = "ca", .kind = FIELD_CUSTOM, .offset = SRV(ca), .custom = read_file_path,
     .help = "https: the CA certificates (PEM) to trust instead of the system's"},
    {.key = "command", .kind = FIELD_STRINGS, .offset = SRV(command), .min = 1,
     .expect = "must be an array of non-empty strings naming a program and its arguments",
     .help = "[PROGRAM, ARGS...] of a stdio server (one of url and command)"},
    {.key = "env", .kind = FIELD_CUSTOM, .offset = SRV(env), .custom = read_env,
     .help = "a stdio server's environment: {NAME: value}, ${VAR} expanded"},
    {.key = "policies", .kind = FIELD_CUSTOM, .custom = read_policies,
     .help = "policy files, relative to the config file; {\"file\", \"when\"} binds one to principals"},
    {.key = "shadow_policies", .kind = FIELD_CUSTOM, .custom = read_policies,
     .help = "policy files evaluated on every call and audited, never enforced"},
    {.key = "auth", .kind = FIELD_CUSTOM, .custom = read_server_auth,
     .help = "this server's own auth object, replacing the top-level one"},
    {.key = "headers", .kind = FIELD_CUSTOM, .custom = read_headers,
     .help = "{Name: value} added upstream, ${VAR} expanded"},
    {.key = "pass_authorization", .kind = FIELD_BOOL, .offset = SRV(pass_authorization),
     .help = "forward the client's Authorization header"},
    {.key = "connect_timeout_ms", .kind = FIELD_UINT, .offset = SRV(connect_timeout_ms), .min = 1, .max = 3600000,
     .help = "default 5000"},
    {.key = "first_byte_timeout_ms", .kind = FIELD_UINT, .offset = SRV(first_byte_timeout_ms), .min = 1,
     .max = 86400000, .help = "default 60000"},
    {.key = "sse_idle_timeout_ms", .kind = FIELD_UINT, .offset = SRV(sse_idle_timeout_ms), .min = 1,
     .max = 86400000, .help = "default 300000"},
    {.key = "max_connections", .kind = FIELD_UINT, .offset = SRV(max_connections), .min = 1, .max = 100000,
     .help = "upstream connections open at once, default 256"},
    {.key = "trust_annotations", .kind = FIELD_BOOL, .offset = SRV(trust_annotations),
     .help = "the server's readOnlyHint/destructiveHint decide tool classes (else they only raise them)"},
    {.key = "pins", .kind = FIELD_CUSTOM, .custom = read_pins,
     .help = "the file of approved tool definitions (warden scan --pin FILE), relative to the config file"},
    {.key = "pin_mode", .kind = FIELD_ENUM, .offset = SRV(pin_mode), SCHEMA_NAMES(pin_mode_names),
     .help = "off, warn or block (default: block with pins, else off)"},
    {.key = "description", .kind = FIELD_ANY, .help = "free text"},
    {0},
};

static bool valid_server_name(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
            return false;
    return true;
}

static void read_servers(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    struct config *cfg = dst;
    if (!cJSON_IsObject(v) || !v->child) {
        schema_problem(doc, v, ptr, "%s", f->expect);
        return;
    }
    schema_duplicates(doc, v, ptr);
    if (!(cfg->servers = calloc((size_t)cJSON_GetArraySize(v), sizeof *cfg->servers))) {
        schema_problem(doc, v, ptr, "out of memory");
        return;
    }
    for (const cJSON *s = v->child; s; s = s->next) {
        if (schema_is_repeat(s))
            continue;
        char at[512];
        schema_pointer(at, sizeof at, ptr, s->string);
        struct server_conf *sc = &cfg->servers[cfg->nservers++];
        server_defaults(sc);
        if (!valid_server_name(s->string))
            schema_key_problem(doc, s, at, "a server name may use only letters, digits, '_', '.' and '-'");
        if (!(sc->name = strdup(s->string)) || asprintf(&sc->path, "/mcp/%s", s->string) < 0 ||
            !(sc->policies = calloc(1, sizeof *sc->policies)) ||
            !(sc->shadow_policies = calloc(1, sizeof *sc->shadow_policies))) {
            schema_problem(doc, s, at, "out of memory");
            continue;
        }
        schema_read(doc, s, at, server_fields, sc);
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(s, "url");
        const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(s, "command");
        const cJSON *env = cJSON_GetObjectItemCaseSensitive(s, "env");
        if (cJSON_IsObject(s) && !url == !cmd)
            schema_problem(doc, s, at, "needs exactly one of \"url\" and \"command\"");
        const cJSON *transport = cJSON_GetObjectItemCaseSensitive(s, "transport");
        if (transport && (!url || sc->tls) && sc->legacy_sse) {
            char tr_at[600];
            schema_pointer(tr_at, sizeof tr_at, at, "transport");
            schema_problem(doc, transport, tr_at, "\"sse\" needs an http:// \"url\"");
        }
        const cJSON *ca = cJSON_GetObjectItemCaseSensitive(s, "ca");
        if (ca && !sc->tls) {
            char ca_at[600];
            schema_pointer(ca_at, sizeof ca_at, at, "ca");
            schema_problem(doc, ca, ca_at, "only an https:// server has a \"ca\"");
        }
        if (env && !cmd) {
            char env_at[600];
            schema_pointer(env_at, sizeof env_at, at, "env");
            schema_problem(doc, env, env_at, "only a stdio server (\"command\") has an environment");
        }
        const char *pin_problem = settle_pin_mode(sc);
        if (pin_problem)
            schema_problem(doc, s, at, "%s", pin_problem);
    }
}

/* request_state_key_env: the key is read at load, so that a missing or weak
 * one stops warden before it serves; its value is never written anywhere. */
static void read_state_key(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct request_state_key *k = dst;
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        schema_problem(doc, v, ptr, "must be the name of an environment variable");
        return;
    }
    const char *text = getenv(v->valuestring);
    size_t len = text ? strlen(text) : 0, n = len / 2;
    if (!text) {
        schema_problem(doc, v, ptr, "%s is not set", v->valuestring);
        return;
    }
    bool hex = len % 2 == 0;
    for (size_t i = 0; hex && i < len; i++)
        hex = isxdigit((unsigned char)text[i]) != 0;
    if (!hex || n < REQUEST_STATE_KEY_MIN || n > REQUEST_STATE_KEY_MAX) {
        schema_problem(doc, v, ptr,
                       "%s must hold %d to %d random bytes in hex (%d to %d hex digits, e.g. from openssl rand -hex "
                       "32); it holds %zu characters%s",
                       v->valuestring, REQUEST_STATE_KEY_MIN, REQUEST_STATE_KEY_MAX, 2 * REQUEST_STATE_KEY_MIN,
                       2 * REQUEST_STATE_KEY_MAX, len, hex ? "" : " that are not all hex digits");
        return;
    }
    char *env = strdup(v->valuestring);
    if (!env) {
        schema_problem(doc, v, ptr, "out of memory");
        return;
    }
    free(k->env);
    k->env = env;
    k->len = n;
    for (size_t i = 0; i < n; i++) {
        char pair[3] = {text[2 * i], text[2 * i + 1], '\0'};
        k->bytes[i] = (unsigned char)strtoul(pair, NULL, 16);
    }
}

#define APR(m) offsetof(struct approvals_conf, m)
static const struct field approvals_fields[] = {
    {.key = "notify_command", .kind = FIELD_STRINGS, .offset = APR(notify_command), .min = 1,
     .help = "argv run with each new approval request as JSON on stdin"},
    {.key = "webhook", .kind = FIELD_STRING, .offset = APR(webhook), .min = 8,
     .help = "an http:// URL each new approval request is POSTed to"},
    {.key = "max_requests", .kind = FIELD_SIZE, .offset = APR(max_requests), .min = 1, .max = 1000000,
     .help = "approval requests kept at once; default 1000"},
    {.key = "request_state_key_env", .kind = FIELD_CUSTOM, .offset = APR(state_key), .custom = read_state_key,
     .help = "the variable holding the key (hex, 32 to 64 bytes) every warden signs requestState with"},
    {0},
};

#define LIM(m) offsetof(struct limits_conf, m)
static const struct field limit_fields[] = {
    {.key = "max_header_bytes", .kind = FIELD_SIZE, .offset = LIM(max_header_bytes), .min = 1, .max = 1 << 20,
     .help = "431 past it; default 16384"},
    {.key = "max_headers", .kind = FIELD_SIZE, .offset = LIM(max_headers), .min = 1, .max = 1000,
     .help = "431 past it; default 64"},
    {.key = "max_body_bytes", .kind = FIELD_SIZE, .offset = LIM(max_body_bytes), .min = 1, .max = 1u << 30,
     .help = "413 past it; default 4 MiB"},
    {.key = "max_json_depth", .kind = FIELD_SIZE, .offset = LIM(max_json_depth), .min = 1, .max = 1000,
     .help = "-32700 past it; default 64"},
    {.key = "max_sse_event_bytes", .kind = FIELD_SIZE, .offset = LIM(max_sse_event_bytes), .min = 1,
     .max = 1u << 30, .help = "a larger upstream event ends the stream; default 4 MiB"},
    {.key = "max_connections", .kind = FIELD_SIZE, .offset = LIM(max_connections), .min = 1, .max = 1000000,
     .help = "client connections; default 10000"},
    {.key = "header_timeout_ms", .kind = FIELD_UINT, .offset = LIM(header_timeout_ms), .min = 1, .max = 3600000,
     .help = "408 past it; default 10000"},
    {.key = "body_timeout_ms", .kind = FIELD_UINT, .offset = LIM(body_timeout_ms), .min = 1, .max = 3600000,
     .help = "408 past it; default 30000"},
    {.key = "keepalive_timeout_ms", .kind = FIELD_UINT, .offset = LIM(keepalive_timeout_ms), .min = 1,
     .max = 3600000, .help = "default 75000"},
    {.key = "shutdown_grace_ms", .kind = FIELD_UINT, .offset = LIM(shutdown_grace_ms), .min = 1, .max = 3600000,
     .help = "how long in-flight requests may take after SIGTERM; default 10000"},
    {.key = "max_list_ttl_ms", .kind = FIELD_UINT, .offset = LIM(max_list_ttl_ms), .min = 0, .max = 86400000,
     .help = "a list's ttlMs is capped to it, so a reload reaches cached lists; default 60000"},
    {0},
};

static const struct field tls_fields[] = {
    {.key = "cert", .kind = FIELD_CUSTOM, .offset = offsetof(struct tls_conf, cert), .custom = read_file_path,
     .required = true, .help = "PEM certificate chain, relative to the config file; SIGHUP re-reads it"},
    {.key = "key", .kind = FIELD_CUSTOM, .offset = offsetof(struct tls_conf, key), .custom = read_file_path,
     .required = true, .help = "its PEM private key"},
    {0},
};

/* "approvers": [{"id": "alice", "sha256": "64 hex digits"}]: the accounts
 * of the admin console; ids are unique, digests are of the secret. */
static void read_approvers(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    struct config *cfg = dst;
    (void)f;
    if (!cJSON_IsArray(v)) {
        schema_problem(doc, v, ptr, "must be an array of {\"id\": NAME, \"sha256\": HEX}");
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(v);
    if (n && !(cfg->approvers = calloc(n, sizeof *cfg->approvers))) {
        schema_problem(doc, v, ptr, "out of memory");
        return;
    }
    size_t i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char at[512];
        snprintf(at, sizeof at, "%s/%zu", ptr, i);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *hex = cJSON_GetObjectItemCaseSensitive(e, "sha256");
        if (!cJSON_IsObject(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsString(id) || !cJSON_IsString(hex)) {
            schema_problem(doc, e, at, "must be {\"id\": NAME, \"sha256\": HEX} and nothing else");
            continue;
        }
        bool id_ok = id->valuestring[0] && strlen(id->valuestring) <= 64;
        for (const char *c = id->valuestring; *c; c++)
            id_ok = id_ok && (isalnum((unsigned char)*c) || strchr("_.@-", *c));
        if (!id_ok) {
            schema_problem(doc, id, at, "id: 1 to 64 letters, digits, '_', '.', '@' or '-'");
            continue;
        }
        struct approver_conf *ap = &cfg->approvers[cfg->napprovers];
        bool hex_ok = strlen(hex->valuestring) == 64;
        for (size_t k = 0; hex_ok && k < 32; k++) {
            unsigned b = 0;
            hex_ok = isxdigit((unsigned char)hex->valuestring[2 * k]) &&
                     isxdigit((unsigned char)hex->valuestring[2 * k + 1]) &&
                     sscanf(hex->valuestring + 2 * k, "%2x", &b) == 1;
            ap->sha256[k] = (unsigned char)b;
        }
        if (!hex_ok) {
            schema_problem(doc, hex, at, "sha256: must be 64 hex digits (the SHA-256 of the secret)");
            continue;
        }
        for (size_t k = 0; k < cfg->napprovers; k++)
            if (strcmp(cfg->approvers[k].id, id->valuestring) == 0)
                schema_problem(doc, id, at, "id %s appears twice", id->valuestring);
        if (!(ap->id = strdup(id->valuestring))) {
            schema_problem(doc, e, at, "out of memory");
            continue;
        }
        cfg->napprovers++;
    }
}

#define STATE(m) offsetof(struct state_conf, m)
static const char *const on_failure_names[] = {"closed", "local", "open"};
static const struct field state_fields[] = {
    {.key = "redis", .kind = FIELD_STRING, .offset = STATE(redis), .min = 1,
     .help = "redis://HOST:PORT/DB or unix:/path: share rate limits and warden.shared with other wardens"},
    {.key = "password_env", .kind = FIELD_STRING, .offset = STATE(password_env), .min = 1,
     .help = "the environment variable holding Redis's password"},
    {.key = "key_prefix", .kind = FIELD_STRING, .offset = STATE(key_prefix), .min = 1,
     .help = "before every key warden writes; default warden:"},
    {.key = "timeout_ms", .kind = FIELD_UINT, .offset = STATE(timeout_ms), .min = 1, .max = 60000,
     .help = "one Redis command's deadline; default 50"},
    {.key = "on_failure", .kind = FIELD_ENUM, SCHEMA_NAMES(on_failure_names), .offset = STATE(on_failure),
     .help = "closed (refuse limited calls), local (limits divided by instances) or open; default closed"},
    {.key = "instances", .kind = FIELD_UINT, .offset = STATE(instances), .min = 1, .max = 10000,
     .help = "how many wardens share the store (for on_failure local); default 1"},
    {0},
};


static const char *const log_levels[] = {"debug", "info", "warn", "error"};

/* Every flag and every top-level key of the config file: --help, the flag
 * parser and the file reader all read this table. */
#define CLI(m) offsetof(struct cli, m)
static const struct field options[] = {
    {.flag = "--upstream", .metavar = "URL", .kind = FIELD_STRING, .offset = CLI(upstream), .min = 1,
     .help = "the HTTP MCP server to serve at /mcp"},
    {.flag = "--config", .metavar = "FILE", .kind = FIELD_STRING, .offset = CLI(config_file), .min = 1,
     .help = "serve the servers of a config file at /mcp/NAME"},
    {.key = "listen", .flag = "--listen", .metavar = "HOST:PORT", .kind = FIELD_CUSTOM, .offset = CLI(cfg),
     .custom = read_listen, .help = "where to listen (default 127.0.0.1:8931)"},
    {.flag = "--policy", .metavar = "FILE", .kind = FIELD_STRINGS, .offset = CLI(policies), .repeat = true,
     .help = "a policy (JSON or Lua); repeatable"},
    {.flag = "--shadow-policy", .metavar = "FILE", .kind = FIELD_STRINGS, .offset = CLI(shadow_policies),
     .repeat = true, .help = "a policy evaluated and audited but never enforced; repeatable"},
    {.flag = "--principal", .metavar = "ID", .kind = FIELD_STRING, .offset = CLI(cfg.principal), .min = 1,
     .help = "--stdio: the caller's principal (default $WARDEN_PRINCIPAL, else the login name)"},
    {.flag = "--stdio", .kind = FIELD_BOOL, .offset = CLI(cfg.stdio),
     .help = "serve one client on stdin/stdout instead of listening"},
    {.key = "workers", .flag = "--workers", .metavar = "N", .kind = FIELD_INT, .offset = CLI(cfg.workers), .min = 1,
     .max = 64, .help = "event loops on threads (default: the number of CPUs)"},
    {.key = "allowed_origins", .flag = "--allow-origin", .metavar = "ORIGIN", .kind = FIELD_STRINGS,
     .offset = CLI(cfg.allowed_origins), .repeat = true,
     .help = "an allowed Origin (repeatable; replaces the defaults)"},
    {.key = "allowed_hosts", .flag = "--allow-host", .metavar = "HOST", .kind = FIELD_STRINGS,
     .offset = CLI(cfg.allowed_hosts), .repeat = true,
     .help = "an allowed Host (repeatable; replaces the defaults)"},
    {.flag = "--pass-authorization", .kind = FIELD_BOOL, .offset = CLI(pass_authorization),
     .help = "forward the client's Authorization header upstream"},
    {.flag = "--pins", .metavar = "FILE", .kind = FIELD_STRING, .offset = CLI(pins), .min = 1,
     .help = "approved tool definitions (warden scan --pin FILE)"},
    {.flag = "--pin-mode", .metavar = "MODE", .kind = FIELD_STRING, .offset = CLI(pin_mode), SCHEMA_NAMES(pin_mode_names),
     .min = 1, .help = "off, warn or block (default: block with --pins)"},
    {.flag = "--trust-annotations", .kind = FIELD_BOOL, .offset = CLI(trust_annotations),
     .help = "the server's annotations decide tool classes"},
    {.key = "audit_log", .flag = "--audit-log", .metavar = "FILE|-", .kind = FIELD_STRING,
     .offset = CLI(cfg.audit_log), .min = 1, .help = "write one JSON line per decision"},
    {.key = "admin", .flag = "--admin", .metavar = "HOST:PORT", .kind = FIELD_STRING, .offset = CLI(cfg.admin_listen),
     .min = 1, .help = "serve /metrics, /healthz and /policies there"},
    {.key = "approvers", .kind = FIELD_CUSTOM, .offset = CLI(cfg), .custom = read_approvers,
     .help = "[{id, sha256}]: who may log in to the console on the admin listener"},
    {.key = "log_level", .flag = "--log-level", .metavar = "LEVEL", .kind = FIELD_STRING, SCHEMA_NAMES(log_levels),
     .offset = CLI(cfg.log_level), .min = 1, .help = "debug, info, warn or error (default info)"},
    {.key = "lua_path", .flag = "--lua-path", .metavar = "DIR", .kind = FIELD_CUSTOM, .offset = CLI(cfg.lua_path),
     .custom = read_dir, .help = "a directory of Lua helper modules"},
    {.flag = "--tls-cert", .metavar = "FILE", .kind = FIELD_CUSTOM, .offset = CLI(cfg.tls.cert),
     .custom = read_file_path, .help = "serve HTTPS (TLS 1.2+) with this PEM certificate chain; SIGHUP re-reads it"},
    {.flag = "--tls-key", .metavar = "FILE", .kind = FIELD_CUSTOM, .offset = CLI(cfg.tls.key),
     .custom = read_file_path, .help = "the private key of --tls-cert (PEM)"},
    {.key = "tls", .kind = FIELD_OBJECT, .offset = CLI(cfg.tls), .fields = tls_fields,
     .help = "the listener's certificate (the admin listener uses it too):"},
    {.key = "limits", .kind = FIELD_OBJECT, .offset = CLI(cfg.limits), .fields = limit_fields,
     .help = "bounds on clients:"},
    {.key = "auth", .kind = FIELD_CUSTOM, .offset = CLI(cfg), .custom = read_config_auth,
     .help = "who may call: {api_keys, jwt, anonymous, resource_metadata, trusted_proxies, identity_header}"},
    {.key = "state", .kind = FIELD_OBJECT, .offset = CLI(cfg.state), .fields = state_fields,
     .help = "state shared by several wardens:"},
    {.key = "servers", .kind = FIELD_CUSTOM, .offset = CLI(cfg), .custom = read_servers, .required = true,
     .expect = "must be an object naming at least one server", .help = "{NAME: server}, each served at /mcp/NAME:"},
    {.key = "approvals", .kind = FIELD_OBJECT, .offset = CLI(cfg.approvals), .fields = approvals_fields,
     .help = "approval requests (approvers decide them on the admin listener):"},
    {.key = "description", .kind = FIELD_ANY, .help = "free text"},
    {0},
};

static void usage_keys(FILE *out, const struct field *fields, int indent)
{
    for (const struct field *f = fields; f->key || f->flag; f++) {
        if (!f->key)
            continue;
        fprintf(out, "  %*s%-*s %s%s%s\n", indent, "", 24 - indent, f->key, f->help,
                f->flag ? "; flag " : "", f->flag ? f->flag : "");
        if (f->kind == FIELD_OBJECT)
            usage_keys(out, f->fields, indent + 2);
        else if (f->custom == read_servers)
            usage_keys(out, server_fields, indent + 2);
    }
}

static void usage(FILE *out)
{
    fputs("usage: warden --upstream URL [options]          serve one HTTP MCP server at /mcp\n"
          "       warden [options] -- COMMAND [ARGS...]    serve one stdio MCP server at /mcp\n"
          "       warden --config FILE                     serve the servers of a config file at /mcp/NAME\n"
          "       warden check [--strict] [--tools FILE] FILE...  validate policies (see warden check --help)\n"
          "       warden check --config FILE               validate a config file and every policy it names\n"
          "       warden test [-v] [--format text|json|junit] FILE...  run policy test cases\n"
          "       warden explain --policy FILE... --tool NAME [--args JSON]  show how a call is decided\n"
          "       warden scan (--upstream URL | -- COMMAND) a server's tools: policy scaffold, inventory, pins\n"
          "       warden pins diff|approve PINS_FILE [TOOL] review and approve changed tool definitions\n"
          "       warden key new ID                        make an API key: its secret once, and its config line\n"
          "       warden approvals [--admin URL] list|show|approve|deny ...  decide approval requests\n"
          "options:\n",
          out);
    for (const struct field *f = options; f->key || f->flag; f++) {
        if (!f->flag)
            continue;
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", f->flag, f->metavar ? " " : "", f->metavar ? f->metavar : "");
        fprintf(out, "  %-24s %s\n", left, f->help);
    }
    fputs("  --help, --version\n"
          "config file keys (a JSON object; the flags win over it):\n",
          out);
    usage_keys(out, options, 0);
}

static const struct field *find_flag(const char *arg)
{
    for (const struct field *f = options; f->key || f->flag; f++)
        if (f->flag && strcmp(f->flag, arg) == 0)
            return f;
    return NULL;
}

/* A flag's text as the JSON value the table reads: digits are a number. */
static cJSON *flag_value(const struct field *f, const char *text)
{
    bool number = (f->kind == FIELD_INT || f->kind == FIELD_UINT || f->kind == FIELD_SIZE) && text[0] &&
                  strspn(text, "0123456789") == strlen(text) && strlen(text) < 16;
    return number ? cJSON_CreateNumber(strtod(text, NULL)) : cJSON_CreateString(text);
}

/* Reads the flags the command line gave (`given`: flag -> its text, an array
 * of texts for repeatable ones, true for switches) through the table. */
static void apply_flags(struct schema_doc *doc, const cJSON *given, struct cli *cli)
{
    for (const struct field *f = options; f->key || f->flag; f++) {
        const cJSON *text = f->flag ? cJSON_GetObjectItemCaseSensitive(given, f->flag) : NULL;
        if (!text)
            continue;
        char at[600];
        snprintf(at, sizeof at, "%s%s%s", f->flag, cJSON_IsString(text) ? " " : "",
                 cJSON_IsString(text) ? text->valuestring : "");
        cJSON *v = cJSON_IsString(text) ? flag_value(f, text->valuestring) : cJSON_Duplicate(text, 1);
        if (!v)
            schema_problem(doc, NULL, at, "out of memory");
        else
            schema_read_field(doc, f, v, at, cli);
        cJSON_Delete(v);
    }
}

/* Reads the config file into cli; returns its number of problems, written to err. */
static int read_config_file(const char *file, struct cli *cli, char *err, size_t errlen, size_t *used)
{
    struct schema_doc doc;
    schema_doc_init(&doc, file, err, errlen);
    const cJSON *root = schema_parse_file(&doc);
    if (root && !cJSON_IsObject(root))
        schema_problem(&doc, root, "", "must be a JSON object");
    else if (root)
        schema_read(&doc, root, "", options, cli);
    schema_doc_free(&doc);
    *used = doc.used;
    return doc.problems;
}

/* The one server of the command line: --upstream URL or -- COMMAND. */
static int command_line_server(struct cli *cli, char ***command, char *err, size_t errlen)
{
    struct config *cfg = &cli->cfg;
    if (!(cfg->source = strdup("command line")) || !(cfg->servers = calloc(1, sizeof *cfg->servers)))
        return errf(err, errlen, "out of memory");
    cfg->nservers = 1;
    struct server_conf *sc = &cfg->servers[0];
    server_defaults(sc);
    if (!(sc->name = strdup("")) || !(sc->path = strdup("/mcp")))
        return errf(err, errlen, "out of memory");
    sc->policies = cli->policies ? cli->policies : calloc(1, sizeof *sc->policies);
    cli->policies = NULL;
    if (!sc->policies)
        return errf(err, errlen, "out of memory");
    while (sc->policies[sc->npolicies])
        sc->npolicies++;
    sc->shadow_policies = cli->shadow_policies ? cli->shadow_policies : calloc(1, sizeof *sc->shadow_policies);
    cli->shadow_policies = NULL;
    if (!sc->shadow_policies)
        return errf(err, errlen, "out of memory");
    while (sc->shadow_policies[sc->nshadow_policies])
        sc->nshadow_policies++;
    if (cli->upstream) {
        char why[200];
        if (parse_url(sc, cli->upstream, why, sizeof why))
            return errf(err, errlen, "--upstream %s: %s", cli->upstream, why);
        return 0;
    }
    sc->command = *command;
    *command = NULL;
    /* A stdio server sees only what it needs: PATH and HOME, nothing else of warden's environment. */
    size_t n = 0;
    const char *keep[] = {"PATH", "HOME", "LANG", "TZ"};
    if (!(sc->env = calloc(1, sizeof *sc->env)))
        return errf(err, errlen, "out of memory");
    for (size_t k = 0; k < 4; k++) {
        const char *val = getenv(keep[k]);
        char *kv = NULL;
        if (val && (asprintf(&kv, "%s=%s", keep[k], val) < 0 || list_push(&sc->env, &n, kv))) {
            free(kv);
            return errf(err, errlen, "out of memory");
        }
        free(kv);
    }
    return 0;
}

int config_from_args(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    struct cli cli = {.cfg.limits = default_limits, .cfg.listen_port = DEFAULT_LISTEN_PORT,
                      .cfg.state = {.timeout_ms = 50, .instances = 1}};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cli.cfg.workers = cpus > 0 ? (int)(cpus > 64 ? 64 : cpus) : 1;
    char **command = NULL;
    size_t ncommand = 0;
    int rc = -1;
    cJSON *given = cJSON_CreateObject();
    if (!given || !(cli.cfg.listen_host = strdup(DEFAULT_LISTEN_HOST)))
        goto oom;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
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
        }
        const struct field *f = find_flag(a);
        if (!f) {
            errf(err, errlen, "unknown option %s (see --help)", a);
            goto out;
        }
        if (f->kind != FIELD_BOOL && i + 1 >= argc) {
            errf(err, errlen, "%s needs a value", a);
            goto out;
        }
        cJSON *v = f->kind == FIELD_BOOL ? cJSON_CreateTrue() : cJSON_CreateString(argv[++i]);
        cJSON *list = f->repeat ? cJSON_GetObjectItemCaseSensitive(given, a) : NULL;
        if (f->repeat && !list)
            list = cJSON_AddArrayToObject(given, a);
        else if (!f->repeat)
            cJSON_DeleteItemFromObjectCaseSensitive(given, a);
        if (!v || (f->repeat && !list)) {
            cJSON_Delete(v);
            goto oom;
        }
        if (!(list ? cJSON_AddItemToArray(list, v) : cJSON_AddItemToObject(given, a, v)))
            goto oom;
    }
    const cJSON *config_file = cJSON_GetObjectItemCaseSensitive(given, "--config");
    int sources = !!cJSON_GetObjectItemCaseSensitive(given, "--upstream") + !!config_file + !!ncommand;
    if (sources != 1) {
        errf(err, errlen, sources ? "give only one of --upstream, --config and -- COMMAND"
                                  : "nothing to serve: give --upstream URL, --config FILE or -- COMMAND (see --help)");
        goto out;
    }
    if (config_file && (cJSON_GetObjectItemCaseSensitive(given, "--pins") ||
                        cJSON_GetObjectItemCaseSensitive(given, "--pin-mode") ||
                        cJSON_GetObjectItemCaseSensitive(given, "--trust-annotations"))) {
        errf(err, errlen, "--pins, --pin-mode and --trust-annotations go with --upstream or -- COMMAND; with --config, "
                          "set pins, pin_mode and trust_annotations per server in the file");
        goto out;
    }
    if (config_file && (cJSON_GetObjectItemCaseSensitive(given, "--policy") ||
                        cJSON_GetObjectItemCaseSensitive(given, "--shadow-policy"))) {
        errf(err, errlen, "--policy and --shadow-policy go with --upstream or -- COMMAND; with --config, list "
                          "policies and shadow_policies in the file");
        goto out;
    }
    /* the file first, then the flags over it; every problem of both is told */
    size_t used = 0;
    int problems = 0;
    if (config_file) {
        if (!(cli.cfg.source = strdup(config_file->valuestring)))
            goto oom;
        problems = read_config_file(config_file->valuestring, &cli, err, errlen, &used);
    }
    struct schema_doc flags;
    schema_doc_init(&flags, NULL, err + used, errlen - used);
    apply_flags(&flags, given, &cli);
    if (problems + flags.problems) {
        size_t len = strlen(err);
        if (len && err[len - 1] == '\n')
            err[len - 1] = '\0';
        goto out;
    }
    if (!config_file) {
        if (command_line_server(&cli, &command, err, errlen))
            goto out;
        struct server_conf *sc = &cli.cfg.servers[0];
        sc->trust_annotations = cli.trust_annotations;
        sc->pins = cli.pins;
        cli.pins = NULL;
        for (int m = 0; cli.pin_mode && m < (int)(sizeof pin_mode_names / sizeof *pin_mode_names); m++)
            if (strcmp(cli.pin_mode, pin_mode_names[m]) == 0)
                sc->pin_mode = m;
        const char *pin_problem = settle_pin_mode(sc);
        if (pin_problem) {
            errf(err, errlen, "--pin-mode %s: %s (--pins FILE)", cli.pin_mode, pin_problem);
            goto out;
        }
    }
    if (cli.pass_authorization)
        for (size_t i = 0; i < cli.cfg.nservers; i++)
            cli.cfg.servers[i].pass_authorization = true;
    if (cli.cfg.principal && !cli.cfg.stdio) {
        errf(err, errlen, "--principal names the desktop user of --stdio; other callers authenticate (\"auth\")");
        goto out;
    }
    if (!cli.cfg.tls.cert != !cli.cfg.tls.key) {
        errf(err, errlen, "--tls-cert and --tls-key go together");
        goto out;
    }
    for (size_t i = 0; i < cli.cfg.nservers; i++) {
        const struct server_conf *sc = &cli.cfg.servers[i];
        /* The tokens agents present are for warden (MCP authorization: no token passthrough). */
        if (sc->pass_authorization && (sc->auth || cli.cfg.auth)) {
            errf(err, errlen, "%s: pass_authorization would send the credentials agents present to warden upstream; "
                 "it cannot go with auth", sc->name[0] ? sc->name : sc->path);
            goto out;
        }
    }
    if (default_origins_hosts(&cli.cfg))
        goto oom;
    *cfg = cli.cfg;
    memset(&cli.cfg, 0, sizeof cli.cfg);
    rc = 0;
    goto out;
oom:
    errf(err, errlen, "out of memory");
out:
    cJSON_Delete(given);
    list_free(command);
    list_free(cli.policies);
    list_free(cli.shadow_policies);
    free(cli.upstream);
    free(cli.config_file);
    free(cli.pins);
    free(cli.pin_mode);
    config_free(&cli.cfg);
    return rc;
}
