#include "approval_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include "approval.h"
#include "log.h"
#include "sha256.h"

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

/* Who the request is, or NULL (answered 401). Only a bearer token: a
 * browser uses the console's session (console.c), whose POSTs carry its
 * CSRF token. */
static const char *authenticate(struct approval_http *h, struct evhttp_request *req)
{
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    const char *who = NULL;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
        who = approver_of_token(h, auth + 7, strlen(auth + 7));
    if (!who)
        send_error(req, 401, "Unauthorized",
                   h->cfg->napprovers ? "an approver's token is required"
                                      : "no approvers are configured (\\\"approvers\\\")");
    return who;
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

void approval_http_decide(struct approval_store *store, struct evhttp_request *req, const char *id, const char *who)
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
        approval_store_decide(store, id, who, approve, why ? why->valuestring : "", wall_now());
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
    if (!b || !approval_store_show(store, id, wall_now(), b)) {
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
    const char *who = authenticate(h, req);
    if (!who)
        return true;
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
    approval_http_decide(h->store, req, rest, who);
    return true;
}

void approval_http_metrics(void *arg, struct evbuffer *out)
{
    struct approval_http *h = arg;
    approval_store_metrics(h->store, out);
}
