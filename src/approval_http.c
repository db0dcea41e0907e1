#include "approval_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include "approval.h"
#include "approval_page.h"
#include "log.h"
#include "sha256.h"

#define COOKIE "warden_approver"

struct approval_http {
    const struct config *cfg;
    struct approval_store *store;
};

struct approval_http *approval_http_new(const struct config *cfg, struct approval_store *store)
{
    struct approval_http *h = calloc(1, sizeof *h);
    if (h) {
        h->cfg = cfg;
        h->store = store;
    }
    return h;
}

void approval_http_free(struct approval_http *h)
{
    free(h);
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void send_json(struct evhttp_request *req, int status, const char *reason, struct evbuffer *body)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", "application/json");
    evhttp_add_header(out, "Cache-Control", "no-store");
    evhttp_send_reply(req, status, reason, body);
}

static void send_error(struct evhttp_request *req, int status, const char *reason, const char *message)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    evbuffer_add_printf(b, "{\"error\":\"%s\"}", message); /* messages are warden's own, without quotes */
    if (status == 401)
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"warden approvals\"");
    send_json(req, status, reason, b);
    evbuffer_free(b);
}

/* The approver whose token hashes to the same SHA-256: every approver is
 * compared, every byte, whatever matched (no timing tells which). */
static const char *approver_of_token(const struct approval_http *h, const char *token, size_t len)
{
    unsigned char d[SHA256_BYTES];
    sha256(token, len, d);
    const char *who = NULL;
    for (size_t i = 0; i < h->cfg->napprovers; i++) {
        unsigned diff = 0;
        for (int k = 0; k < SHA256_BYTES; k++)
            diff |= (unsigned)(d[k] ^ h->cfg->approvers[i].sha256[k]);
        if (diff == 0 && !who)
            who = h->cfg->approvers[i].id;
    }
    return len ? who : NULL;
}

static void hex_of(const unsigned char d[SHA256_BYTES], char hex[2 * SHA256_BYTES + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_BYTES; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * SHA256_BYTES] = '\0';
}

/* The CSRF token of a cookie session: a digest of the token no page can compute without it. */
static void csrf_of(const char *token, size_t len, char hex[2 * SHA256_BYTES + 1])
{
    struct sha256 s;
    unsigned char d[SHA256_BYTES];
    sha256_init(&s);
    sha256_update(&s, "warden-approval-csrf\0", 21);
    sha256_update(&s, token, len);
    sha256_final(&s, d);
    hex_of(d, hex);
}

/* The cookie's value, or NULL. */
static const char *cookie_token(struct evhttp_request *req, size_t *len)
{
    const char *c = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
    for (const char *p = c; p && *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, ";");
        if (n > sizeof COOKIE && strncmp(p, COOKIE "=", sizeof COOKIE) == 0) {
            *len = n - sizeof COOKIE;
            return p + sizeof COOKIE;
        }
        p += n;
        if (*p == ';')
            p++;
    }
    return NULL;
}

/* Who the request is, or NULL (answered 401/403). by_cookie tells a browser session. */
static const char *authenticate(struct approval_http *h, struct evhttp_request *req, bool *by_cookie,
                                char csrf[2 * SHA256_BYTES + 1])
{
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    const char *who = NULL;
    *by_cookie = false;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        who = approver_of_token(h, auth + 7, strlen(auth + 7));
    } else {
        size_t len = 0;
        const char *tok = cookie_token(req, &len);
        if (tok && (who = approver_of_token(h, tok, len))) {
            *by_cookie = true;
            csrf_of(tok, len, csrf);
        }
    }
    if (!who)
        send_error(req, 401, "Unauthorized",
                   h->cfg->napprovers ? "an approver's token is required"
                                      : "no approvers are configured (\\\"approvers\\\")");
    return who;
}

static bool wants_html(struct evhttp_request *req)
{
    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
    return accept && strstr(accept, "text/html");
}

/* Reads a small JSON body; NULL (answered 400) when it is not an object. */
static cJSON *json_body(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *p = (const char *)evbuffer_pullup(in, -1);
    cJSON *v = p ? cJSON_ParseWithLength(p, len) : NULL;
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        send_error(req, 400, "Bad Request", "the body must be a JSON object");
        return NULL;
    }
    return v;
}

static void login(struct approval_http *h, struct evhttp_request *req)
{
    cJSON *body = json_body(req);
    if (!body)
        return;
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(body, "token");
    const char *who = cJSON_IsString(tok) ? approver_of_token(h, tok->valuestring, strlen(tok->valuestring)) : NULL;
    /* A cookie value cannot hold these; such a token is no approver's anyway. */
    if (who && strpbrk(tok->valuestring, "; \t\r\n\",\\"))
        who = NULL;
    if (!who) {
        cJSON_Delete(body);
        send_error(req, 401, "Unauthorized", "that is not an approver's token");
        return;
    }
    char *cookie = NULL;
    if (asprintf(&cookie, COOKIE "=%s; Path=/approvals; HttpOnly; SameSite=Strict", tok->valuestring) < 0) {
        cJSON_Delete(body);
        send_error(req, 503, "Service Unavailable", "out of memory");
        return;
    }
    char csrf[2 * SHA256_BYTES + 1];
    csrf_of(tok->valuestring, strlen(tok->valuestring), csrf);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", cookie);
    free(cookie);
    cJSON_Delete(body);
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        send_error(req, 503, "Service Unavailable", "out of memory");
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "approver", who);
    cJSON_AddStringToObject(out, "csrf", csrf);
    char *text = cJSON_PrintUnformatted(out);
    if (text)
        evbuffer_add(b, text, strlen(text));
    free(text);
    cJSON_Delete(out);
    send_json(req, 200, "OK", b);
    evbuffer_free(b);
}

static void decide(struct approval_http *h, struct evhttp_request *req, const char *id, const char *who)
{
    cJSON *body = json_body(req);
    if (!body)
        return;
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(body, "decision");
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(body, "reason");
    bool approve = cJSON_IsString(dec) && strcmp(dec->valuestring, "approve") == 0;
    bool deny = cJSON_IsString(dec) && strcmp(dec->valuestring, "deny") == 0;
    if ((!approve && !deny) || (why && (!cJSON_IsString(why) || strlen(why->valuestring) > 400))) {
        cJSON_Delete(body);
        send_error(
            req, 400, "Bad Request",
            "the body must be {\\\"decision\\\": \\\"approve\\\" or \\\"deny\\\", \\\"reason\\\": up to 400 bytes}");
        return;
    }
    enum approval_decision_result r =
        approval_store_decide(h->store, id, who, approve, why ? why->valuestring : "", wall_now());
    cJSON_Delete(body);
    switch (r) {
    case APPROVAL_NOT_FOUND: send_error(req, 404, "Not Found", "no approval request has that id"); return;
    case APPROVAL_NOT_PENDING:
        send_error(req, 409, "Conflict", "that approval request is no longer pending (decided, used or expired)");
        return;
    case APPROVAL_SELF: send_error(req, 403, "Forbidden", "the requester cannot approve its own call"); return;
    case APPROVAL_DECIDED: break;
    }
    log_info("approval %s %s by %s", id, approve ? "approved" : "denied", who);
    struct evbuffer *b = evbuffer_new();
    if (!b || !approval_store_show(h->store, id, wall_now(), b)) {
        if (b)
            evbuffer_free(b);
        send_error(req, 503, "Service Unavailable", "out of memory");
        return;
    }
    send_json(req, 200, "OK", b);
    evbuffer_free(b);
}

static const char *const statuses[] = {"pending", "approved", "denied", "expired", "consumed"};

static void list(struct approval_http *h, struct evhttp_request *req)
{
    struct evkeyvalq q;
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    const char *status = NULL;
    if (query && evhttp_parse_query_str(query, &q) == 0) {
        const char *s = evhttp_find_header(&q, "status");
        for (size_t i = 0; s && i < sizeof statuses / sizeof *statuses; i++)
            if (strcmp(s, statuses[i]) == 0)
                status = statuses[i];
        bool bad = s && !status;
        evhttp_clear_headers(&q);
        if (bad) {
            send_error(req, 400, "Bad Request", "status must be pending, approved, denied, expired or consumed");
            return;
        }
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        send_error(req, 503, "Service Unavailable", "out of memory");
        return;
    }
    approval_store_list(h->store, status, wall_now(), b);
    send_json(req, 200, "OK", b);
    evbuffer_free(b);
}

bool approval_http_route(void *arg, struct evhttp_request *req, const char *path)
{
    struct approval_http *h = arg;
    if (strcmp(path, "/approvals") != 0 && strncmp(path, "/approvals/", 11) != 0)
        return false;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const char *rest = path[10] ? path + 11 : "";
    if (m == EVHTTP_REQ_GET && approval_page_serve(req, rest, wants_html(req)))
        return true;
    if (strcmp(rest, "login") == 0) {
        if (m != EVHTTP_REQ_POST) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
            send_error(req, 405, "Method Not Allowed", "use POST");
        } else {
            login(h, req);
        }
        return true;
    }
    bool by_cookie;
    char csrf[2 * SHA256_BYTES + 1] = "";
    const char *who = authenticate(h, req, &by_cookie, csrf);
    if (!who)
        return true;
    if (strcmp(rest, "session") == 0 && m == EVHTTP_REQ_GET) {
        struct evbuffer *b = evbuffer_new();
        if (!b) {
            send_error(req, 503, "Service Unavailable", "out of memory");
            return true;
        }
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "approver", who);
        cJSON_AddStringToObject(out, "csrf", csrf);
        char *text = cJSON_PrintUnformatted(out);
        if (text)
            evbuffer_add(b, text, strlen(text));
        free(text);
        cJSON_Delete(out);
        send_json(req, 200, "OK", b);
        evbuffer_free(b);
        return true;
    }
    if (!rest[0] && m == EVHTTP_REQ_GET) {
        list(h, req);
        return true;
    }
    if (strncmp(rest, "apr_", 4) != 0 || strlen(rest) != APPROVAL_ID_LEN || strchr(rest, '/')) {
        send_error(req, 404, "Not Found", "no such approval route");
        return true;
    }
    if (m == EVHTTP_REQ_GET) {
        struct evbuffer *b = evbuffer_new();
        if (!b) {
            send_error(req, 503, "Service Unavailable", "out of memory");
        } else if (!approval_store_show(h->store, rest, wall_now(), b)) {
            send_error(req, 404, "Not Found", "no approval request has that id");
        } else {
            send_json(req, 200, "OK", b);
        }
        if (b)
            evbuffer_free(b);
        return true;
    }
    if (m != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, POST");
        send_error(req, 405, "Method Not Allowed", "use GET or POST");
        return true;
    }
    if (by_cookie) {
        /* A browser sends the cookie to any page's form: only our page knows the CSRF token. */
        const char *got = evhttp_find_header(evhttp_request_get_input_headers(req), "X-CSRF-Token");
        unsigned diff = !got || strlen(got) != strlen(csrf);
        for (size_t i = 0; !diff && csrf[i]; i++)
            diff |= (unsigned)(got[i] ^ csrf[i]);
        if (diff) {
            send_error(req, 403, "Forbidden", "X-CSRF-Token is missing or wrong");
            return true;
        }
    }
    decide(h, req, rest, who);
    return true;
}

void approval_http_metrics(void *arg, struct evbuffer *out)
{
    struct approval_http *h = arg;
    approval_store_metrics(h->store, out);
}
