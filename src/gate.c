#include "gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "auth.h"
#include "http.h"
#include "jsonrpc-t.h"

#define METADATA_PREFIX "/.well-known/oauth-protected-resource"

void gate_answer_clear(struct gate_answer *a)
{
    free(a->body);
    memset(a, 0, sizeof *a);
}

/* An empty answer, as a zeroed one reads, without zeroing the 1.2 kB of
 * header room on every request (it showed in per-call profiles). */
static void answer_reset(struct gate_answer *a)
{
    a->status = 0;
    a->headers[0] = '\0';
    a->body = NULL;
    a->len = 0;
}

struct auth *gate_auth_for(const struct config *cfg, const struct server_conf *sc)
{
    return sc->auth ? sc->auth : cfg->auth;
}

/* A JSON-RPC error body with a null id, as warden's other HTTP refusals. */
static void error_answer(struct gate_answer *out, int status, const char *message)
{
    out->status = status;
    cJSON *doc = cJSON_CreateObject();
    cJSON *err = cJSON_CreateObject();
    if (doc && err && cJSON_AddStringToObject(doc, "jsonrpc", "2.0") && cJSON_AddNullToObject(doc, "id")) {
        cJSON_AddItemToObject(doc, "error", err);
        err = NULL;
        cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
        if (cJSON_AddNumberToObject(e, "code", RPC_INVALID_REQUEST) && cJSON_AddStringToObject(e, "message", message))
            out->body = cJSON_PrintUnformatted(doc);
    }
    cJSON_Delete(err);
    cJSON_Delete(doc);
    out->len = out->body ? strlen(out->body) : 0;
}

/* host[:port] as RFC 3986 allows it, and nothing that could leave a quoted
 * header parameter or a URL's authority. */
static bool plain_host(const char *h, size_t n)
{
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(".-:[]", c)))
            return false;
    }
    return true;
}

bool gate_base_url(const struct auth *a, const struct http_head *head, bool tls, char *out, size_t outlen)
{
    const char *pub = auth_public_url(a);
    if (pub) {
        snprintf(out, outlen, "%s", pub);
        return true;
    }
    size_t n;
    const char *host = head ? http_header_field(head, HF_HOST, &n) : NULL;
    if (!host || !plain_host(host, n))
        return false;
    snprintf(out, outlen, "%s://%.*s", tls ? "https" : "http", (int)n, host);
    return true;
}

bool gate_metadata(const struct config *cfg, const char *path, size_t len, const struct http_head *head, bool tls,
                   struct gate_answer *out)
{
    answer_reset(out);
    size_t plen = sizeof METADATA_PREFIX - 1;
    if (len <= plen || memcmp(path, METADATA_PREFIX, plen) != 0)
        return false;
    const struct server_conf *sc = NULL;
    for (size_t i = 0; i < cfg->nservers && !sc; i++) {
        const char *p = cfg->servers[i].path;
        if (strlen(p) == len - plen && memcmp(p, path + plen, len - plen) == 0)
            sc = &cfg->servers[i];
    }
    if (!sc)
        return false;
    struct auth *a = gate_auth_for(cfg, sc);
    char base[600];
    if (!a) {
        error_answer(out, 404, "this server does not require authorization");
    } else if (head && head->method != HTTP_GET) {
        error_answer(out, 405, "use GET");
        snprintf(out->headers, sizeof out->headers, "Allow: GET\r\n");
    } else if (!gate_base_url(a, head, tls, base, sizeof base)) {
        error_answer(out, 400, "a Host header naming host[:port] is required");
    } else {
        out->status = 200;
        out->body = auth_resource_metadata_json(a, sc->path, base);
        out->len = out->body ? strlen(out->body) : 0;
        if (!out->body)
            error_answer(out, 503, "out of memory");
    }
    return true;
}

bool gate_check(const struct config *cfg, const struct server_conf *sc, const struct http_head *head,
                const struct sockaddr *peer, bool tls, struct principal *principal, struct gate_answer *out)
{
    answer_reset(out);
    struct auth *a = gate_auth_for(cfg, sc);
    struct auth_failure why;
    if (auth_authenticate(a, head, peer, principal, &why) == AUTH_OK)
        return true;
    char base[600], challenge[1100];
    if (!gate_base_url(a, head, tls, base, sizeof base))
        snprintf(base, sizeof base, "%s", tls ? "https://localhost" : "http://localhost");
    auth_challenge(a, &why, base, sc->path, challenge, sizeof challenge);
    char message[300];
    snprintf(message, sizeof message, "%s: %s", why.status == 403 ? "Forbidden" : "Unauthorized", why.description);
    error_answer(out, why.status, message);
    snprintf(out->headers, sizeof out->headers, "WWW-Authenticate: %s\r\n", challenge);
    return false;
}
