#include "approval_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include "approval.h"
#include "approval_redis.h"
#include "log.h"
#include "sha256.h"
#include "state.h"

/* An admin request waiting for Redis. libevent keeps an incoming request
 * whose reply is not sent yet even when its client goes away (the reply
 * then only frees it), so the request is answered whenever Redis answers:
 * within the state's timeout. */
struct shared_op {
    struct approval_http *h;
    struct evhttp_request *req;
    struct state_req *sr;
    enum { OP_LIST, OP_SHOW, OP_DECIDE } kind;
    const char *status; /* OP_LIST: one of statuses[], or NULL */
    bool approve;
    char id[APPROVAL_ID_LEN + 1];
    char who[128];
    struct shared_op *prev, *next;
};

struct approval_http {
    const struct config *cfg;
    struct approval_store *store;
    struct state *state;   /* approvals in Redis when set (worker 0's link: the admin listener's loop) */
    struct shared_op *ops; /* waiting for Redis */
};

struct approval_http *approval_http_new(const struct config *cfg, struct approval_store *store, struct state *state)
{
    struct approval_http *h = calloc(1, sizeof *h);
    if (h) {
        h->cfg = cfg;
        h->store = store;
        h->state = state;
    }
    return h;
}

void approval_http_free(struct approval_http *h)
{
    if (!h)
        return;
    /* The admin listener is gone, with its requests: only Redis's side is left. */
    while (h->ops) {
        struct shared_op *op = h->ops;
        h->ops = op->next;
        state_cancel(op->sr);
        free(op);
    }
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

static void op_free(struct shared_op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        op->h->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    free(op);
}

static void op_done(void *arg, const struct redisReply *r, const char *error)
{
    struct shared_op *op = arg;
    struct evhttp_request *req = op->req;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        send_error(req, 503, "Service Unavailable", "out of memory");
        op_free(op);
        return;
    }
    int got;
    switch (op->kind) {
    case OP_LIST:
        if (approval_redis_list_result(r, error, op->status, wall_now(), b))
            send_json(req, 200, "OK", b);
        else
            send_error(req, 503, "Service Unavailable", "the shared state (Redis) did not answer");
        break;
    case OP_SHOW:
        got = approval_redis_show_result(r, error, wall_now(), b);
        if (got > 0)
            send_json(req, 200, "OK", b);
        else if (got == 0)
            send_error(req, 404, "Not Found", "no approval request has that id");
        else
            send_error(req, 503, "Service Unavailable", "the shared state (Redis) did not answer");
        break;
    case OP_DECIDE:
        got = approval_redis_decide_result(r, error);
        if (got == APPROVAL_DECIDED) {
            log_info("approval %s %s by %s", op->id, op->approve ? "approved" : "denied", op->who);
            /* The audit line and the metrics of the decision, in this warden; answered with the record as decided. */
            struct approval_view v;
            char status[16];
            if (approval_redis_view(r, wall_now(), &v, status))
                approval_store_tell(op->h->store, "approval_decided", &v);
            approval_redis_show_result(r, error, wall_now(), b);
            send_json(req, 200, "OK", b);
        } else if (got == APPROVAL_NOT_FOUND) {
            send_error(req, 404, "Not Found", "no approval request has that id");
        } else if (got == APPROVAL_NOT_PENDING) {
            send_error(req, 409, "Conflict", "that approval request is no longer pending (decided, used or expired)");
        } else if (got == APPROVAL_SELF) {
            send_error(req, 403, "Forbidden", "the requester cannot approve its own call");
        } else {
            send_error(req, 503, "Service Unavailable", "the shared state (Redis) did not answer: nothing was decided");
        }
        break;
    }
    evbuffer_free(b);
    op_free(op);
}

/* Sends op's request to Redis; answers 503 when Redis cannot be asked (fail closed). */
static void op_start(struct approval_http *h, struct evhttp_request *req, struct shared_op *op, const char *reason)
{
    if (!op) {
        send_error(req, 503, "Service Unavailable", "out of memory");
        return;
    }
    op->h = h;
    op->req = req;
    switch (op->kind) {
    case OP_LIST:
        op->sr = approval_redis_list(h->state, wall_now(), h->cfg->approvals.max_requests, op_done, op);
        break;
    case OP_SHOW: op->sr = approval_redis_show(h->state, op->id, op_done, op); break;
    case OP_DECIDE:
        op->sr = approval_redis_decide(h->state, op->id, op->who, op->approve, reason, wall_now(), op_done, op);
        break;
    }
    if (!op->sr) {
        free(op);
        send_error(req, 503, "Service Unavailable", "the shared state (Redis) cannot be reached");
        return;
    }
    op->next = h->ops;
    if (h->ops)
        h->ops->prev = op;
    h->ops = op;
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

void approval_http_decide(struct approval_http *h, struct evhttp_request *req, const char *id, const char *who)
{
    struct approval_store *store = h->store;
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
    if (h->state) {
        struct shared_op *op = calloc(1, sizeof *op);
        if (op) {
            op->kind = OP_DECIDE;
            op->approve = approve;
            snprintf(op->id, sizeof op->id, "%s", id);
            snprintf(op->who, sizeof op->who, "%s", who);
        }
        op_start(h, req, op, why ? why->valuestring : "");
        cJSON_Delete(body);
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

void approval_http_list(struct approval_http *h, struct evhttp_request *req)
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
    if (h->state) {
        struct shared_op *op = calloc(1, sizeof *op);
        if (op) {
            op->kind = OP_LIST;
            op->status = status;
        }
        op_start(h, req, op, NULL);
        return;
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
        approval_http_list(h, req);
        return true;
    }
    if (strncmp(rest, "apr_", 4) != 0 || strlen(rest) != APPROVAL_ID_LEN || strchr(rest, '/')) {
        send_error(req, 404, "Not Found", "no such approval route");
        return true;
    }
    if (m == EVHTTP_REQ_GET && h->state) {
        struct shared_op *op = calloc(1, sizeof *op);
        if (op) {
            op->kind = OP_SHOW;
            snprintf(op->id, sizeof op->id, "%s", rest);
        }
        op_start(h, req, op, NULL);
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
    approval_http_decide(h, req, rest, who);
    return true;
}

void approval_http_metrics(void *arg, struct evbuffer *out)
{
    struct approval_http *h = arg;
    approval_store_metrics(h->store, out);
}
