/* Unit tests of src/http_bridge.c without a proxy: the request a call writes,
 * and what the owner is told of the answers the proxy could give (JSON,
 * event streams, HTTP errors, answers too long or cut short), fed on a
 * bufferevent pair whose other end the test holds. The whole path, proxy
 * included, is tested end to end (tests/e2e/legacy-sse.test.mjs, stdio). */
#include "check.h"
#include "../../src/http_bridge.c"
#include <event2/event.h>

struct seen {
    char msg[8][512];
    size_t nmsg;
    int refused_status;
    char refused_id[32];
    char refused_body[128];
    bool refused_no_id;
    int nrefused;
    int nfinished;
    bool finished_initialize;
};

static void on_message(void *owner, const char *json, size_t len)
{
    struct seen *s = owner;
    if (s->nmsg < 8)
        snprintf(s->msg[s->nmsg], sizeof s->msg[0], "%.*s", (int)len, json);
    s->nmsg++;
}

static void on_refused(void *owner, const char *id, size_t id_len, int status, const char *body, size_t len)
{
    struct seen *s = owner;
    s->nrefused++;
    s->refused_status = status;
    s->refused_no_id = !id;
    snprintf(s->refused_id, sizeof s->refused_id, "%.*s", id ? (int)id_len : 0, id ? id : "");
    snprintf(s->refused_body, sizeof s->refused_body, "%.*s", body ? (int)len : 0, body ? body : "");
}

static void on_finished(void *owner, bool initialize)
{
    struct seen *s = owner;
    s->nfinished++;
    s->finished_initialize = initialize;
}

static const struct http_bridge_ops test_ops = {on_message, on_refused, on_finished};

struct rig {
    struct event_base *base;
    struct server_conf server;
    struct config cfg;
    struct worker w;
    struct http_bridge *b;
    struct seen seen;
    struct bufferevent *ends[8]; /* the proxy's end of each call */
    size_t nends;
    struct bufferevent *proxy; /* the last of them */
};

static void rig_init(struct rig *r, const char *path, size_t max_body)
{
    memset(r, 0, sizeof *r);
    r->base = event_base_new();
    r->server.path = "/mcp/first";
    r->cfg.servers = &r->server;
    r->cfg.nservers = 1;
    r->cfg.limits.max_sse_event_bytes = 1024;
    r->w.base = r->base;
    r->w.cfg = &r->cfg;
    struct http_bridge_conf conf = {.w = &r->w,
                                    .path = path,
                                    .host = "example.test",
                                    .addr = "test",
                                    .max_body = max_body,
                                    .ops = &test_ops,
                                    .owner = &r->seen};
    r->b = http_bridge_new(&conf);
    CHECK(r->base && r->b);
}

/* A call as start_call makes it, without the proxy: the test is its other end. */
static struct bridge_call *rig_call(struct rig *r, const char *id, bool initialize)
{
    struct bufferevent *pair[2];
    CHECK(bufferevent_pair_new(r->base, 0, pair) == 0);
    struct bridge_call *call = call_new(r->b, pair[1]);
    CHECK(call != NULL);
    if (id) {
        call->id_text = strdup(id);
        call->id_len = strlen(id);
    }
    call->is_initialize = initialize;
    CHECK(r->nends < 8);
    r->ends[r->nends++] = r->proxy = pair[0];
    return call;
}

/* The proxy answers `bytes`, then (close) closes its end. */
static void rig_answer(struct rig *r, const char *bytes, bool close)
{
    bufferevent_write(r->proxy, bytes, strlen(bytes));
    event_base_loop(r->base, EVLOOP_NONBLOCK);
    if (close) {
        bufferevent_flush(r->proxy, EV_WRITE, BEV_FINISHED);
        event_base_loop(r->base, EVLOOP_NONBLOCK);
    }
}

static void rig_free(struct rig *r)
{
    http_bridge_free(r->b);
    for (size_t i = 0; i < r->nends; i++)
        bufferevent_free(r->ends[i]);
    event_base_free(r->base);
}

static void check_request(struct http_bridge *b, const char *method, const char *json, const char *authorization,
                          const char *want)
{
    struct evbuffer *out = evbuffer_new();
    write_request(b, out, method, json, json ? strlen(json) : 0, authorization);
    size_t len = evbuffer_get_length(out);
    CHECK_MEM(evbuffer_pullup(out, -1), len, want);
    evbuffer_free(out);
}

static void test_request(void)
{
    struct rig r;
    rig_init(&r, "/mcp/a", 1024);
    check_request(r.b, "GET", NULL, NULL,
                  "GET /mcp/a HTTP/1.1\r\nHost: example.test\r\nAccept: application/json, text/event-stream\r\n"
                  "Connection: close\r\n\r\n");
    snprintf(r.b->session, sizeof r.b->session, "s-1");
    snprintf(r.b->protocol_version, sizeof r.b->protocol_version, "2025-06-18");
    check_request(r.b, "POST", "{\"x\":1}", "Bearer t",
                  "POST /mcp/a HTTP/1.1\r\nHost: example.test\r\nAccept: application/json, text/event-stream\r\n"
                  "Mcp-Session-Id: s-1\r\nMCP-Protocol-Version: 2025-06-18\r\nAuthorization: Bearer t\r\n"
                  "Content-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{\"x\":1}");
    rig_free(&r);

    /* No path: the worker's first server's, as the configuration has it now. */
    rig_init(&r, NULL, 1024);
    check_request(r.b, "DELETE", NULL, NULL,
                  "DELETE /mcp/first HTTP/1.1\r\nHost: example.test\r\nAccept: application/json, text/event-stream\r\n"
                  "Connection: close\r\n\r\n");
    r.server.path = "/mcp/reloaded";
    check_request(
        r.b, "DELETE", NULL, NULL,
        "DELETE /mcp/reloaded HTTP/1.1\r\nHost: example.test\r\nAccept: application/json, text/event-stream\r\n"
        "Connection: close\r\n\r\n");
    rig_free(&r);
}

/* One call, one answer: what the owner is told. */
struct answer_case {
    const char *what;
    const char *id; /* the request's id, or NULL: a notification */
    size_t max_body;
    const char *answer;  /* what the proxy writes */
    bool close;          /* and then it closes its end */
    const char *message; /* the one message the owner gets, exactly, or NULL */
    const char *error;   /* or: in the -32603 error warden makes for id */
    int refused;         /* or: the status ops.refused gets */
    const char *refused_body;
};

#define JSON_200(len) "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " #len "\r\n\r\n"
#define SSE_200 "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
#define DIGITS_60 "012345678901234567890123456789012345678901234567890123456789"

static const struct answer_case answer_cases[] = {
    {"a JSON answer", "7", 64, JSON_200(36) "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}", false,
     "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}", NULL, 0, NULL},
    {"exactly max_body", "6", 16, JSON_200(16) "{\"a\":\"01234567\"}", false, "{\"a\":\"01234567\"}", NULL, 0, NULL},
    {"a notification's 202", NULL, 64, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", false, NULL, NULL, 0,
     NULL},
    {"the proxy's own JSON-RPC error is the answer", "\"a\"", 128,
     "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 70\r\n\r\n"
     "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"error\":{\"code\":-32600,\"message\":\"not you\"}}",
     false, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"error\":{\"code\":-32600,\"message\":\"not you\"}}", NULL, 0, NULL},
    {"an error answering another id", "\"b\"", 64,
     "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 32\r\n\r\n"
     "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"x\":1}",
     false, NULL, NULL, 404, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"x\":1}"},
    {"a notification refused, empty body", NULL, 64, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
     false, NULL, NULL, 500, ""},
    {"an event stream: a priming event and a comment are no messages", "3", 64,
     SSE_200 "id: p\ndata:\n\n: keepalive\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n",
     true, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}", NULL, 0, NULL},
    {"an event past the worker's limit", "4", 64, SSE_200 "data: " DIGITS_60 DIGITS_60 "\n\n", false, NULL,
     "warden: the answer could not be read", 0, NULL},
    {"longer than max_body", "5", 16, JSON_200(17) "{\"a\":\"012345678\"}", false, NULL,
     "warden: the answer could not be read", 0, NULL},
    {"not HTTP", "8", 64, "SSH-2.0-OpenSSH\r\n\r\n", false, NULL, "warden: the answer could not be read", 0, NULL},
    {"cut short", "9", 64, JSON_200(10) "{\"a\"", true, NULL, "warden: the answer was cut short", 0, NULL},
    {"a notification's answer cut short", NULL, 64, JSON_200(10), true, NULL, NULL, 0, NULL},
};

static void test_answers(void)
{
    for (size_t i = 0; i < sizeof answer_cases / sizeof answer_cases[0]; i++) {
        const struct answer_case *t = &answer_cases[i];
        struct rig r;
        rig_init(&r, "/mcp", t->max_body);
        r.cfg.limits.max_sse_event_bytes = 100;
        rig_call(&r, t->id, false);
        CHECK(http_bridge_in_flight(r.b) && http_bridge_awaited(r.b) == (t->id != NULL));
        rig_answer(&r, t->answer, t->close);
        /* A second EOF on a finished call tells nothing more. */
        rig_answer(&r, "", true);
        size_t want_messages = t->message || t->error ? 1 : 0;
        if (r.seen.nmsg != want_messages || r.seen.nfinished != 1 || r.seen.finished_initialize)
            fprintf(stderr, "case \"%s\": %zu messages, finished %d times\n", t->what, r.seen.nmsg, r.seen.nfinished);
        CHECK(r.seen.nmsg == want_messages && r.seen.nfinished == 1 && !r.seen.finished_initialize);
        if (t->message)
            CHECK_STR(r.seen.msg[0], t->message);
        if (t->error) {
            char id[40];
            snprintf(id, sizeof id, "\"id\":%s", t->id);
            CHECK(strstr(r.seen.msg[0], id) && strstr(r.seen.msg[0], "-32603") && strstr(r.seen.msg[0], t->error));
        }
        CHECK(r.seen.nrefused == (t->refused ? 1 : 0) && r.seen.refused_status == t->refused);
        if (t->refused) {
            CHECK(r.seen.refused_no_id == !t->id);
            CHECK_STR(r.seen.refused_id, t->id ? t->id : "");
            CHECK_STR(r.seen.refused_body, t->refused_body);
        }
        CHECK(!http_bridge_in_flight(r.b) && !http_bridge_awaited(r.b));
        rig_free(&r);
    }
}

static void test_initialize(void)
{
    struct rig r;
    rig_init(&r, "/mcp", 1024);
    /* A refused initialize brings no session. */
    rig_call(&r, "0", true);
    rig_answer(&r,
               "HTTP/1.1 400 Bad Request\r\nMcp-Session-Id: bad\r\nContent-Type: application/json\r\n"
               "Content-Length: 2\r\n\r\n{}",
               false);
    CHECK(r.b->session[0] == '\0' && r.b->protocol_version[0] == '\0');
    CHECK(r.seen.nfinished == 1 && r.seen.finished_initialize && r.seen.nrefused == 1 && r.seen.nmsg == 0);
    /* Another request's answer is no initialize answer. */
    rig_call(&r, "1", false);
    rig_answer(&r,
               "HTTP/1.1 200 OK\r\nMcp-Session-Id: other\r\nContent-Type: application/json\r\n"
               "Content-Length: 2\r\n\r\n{}",
               false);
    CHECK(r.b->session[0] == '\0');
    http_bridge_reap(r.b);
    /* Nothing to end or stream without a session. */
    CHECK(!http_bridge_end_session(r.b, NULL));
    http_bridge_open_stream(r.b, NULL);
    CHECK(!http_bridge_in_flight(r.b) && !r.b->stream_opened && !r.b->deleting);

    rig_call(&r, "0", true);
    CHECK(http_bridge_awaited(r.b));
    rig_answer(&r,
               "HTTP/1.1 200 OK\r\nMcp-Session-Id: s-42\r\nContent-Type: application/json\r\n"
               "Content-Length: 66\r\n\r\n"
               "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":\"2025-06-18\"}}",
               false);
    CHECK_STR(r.b->session, "s-42");
    CHECK_STR(r.b->protocol_version, "2025-06-18");
    CHECK(r.seen.nmsg == 2 && r.seen.finished_initialize);
    rig_free(&r);
}

/* The server's messages on a stream reach the owner as they come. */
static void test_event_stream(void)
{
    struct rig r;
    rig_init(&r, "/mcp", 1024);
    rig_call(&r, NULL, false);
    rig_answer(&r, SSE_200 "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"n\"}\n\n", false);
    CHECK(r.seen.nmsg == 1 && r.seen.nfinished == 0);
    CHECK_STR(r.seen.msg[0], "{\"jsonrpc\":\"2.0\",\"method\":\"n\"}");
    rig_answer(&r, "data: {\"jsonrpc\":\"2.0\",\"method\":\"m\"}\n\n", true);
    CHECK(r.seen.nmsg == 2 && r.seen.nfinished == 1 && r.seen.nrefused == 0);
    CHECK_STR(r.seen.msg[1], "{\"jsonrpc\":\"2.0\",\"method\":\"m\"}");
    rig_free(&r);
}

static void test_drop_and_deleting(void)
{
    struct rig r;
    rig_init(&r, "/mcp", 1024);
    rig_call(&r, NULL, false);
    rig_call(&r, "1", true);
    CHECK(http_bridge_awaited(r.b));
    /* Once the session is being ended, every call is waited for. */
    r.b->deleting = true;
    rig_call(&r, NULL, false);
    CHECK(http_bridge_awaited(r.b));
    http_bridge_drop(r.b);
    CHECK(r.seen.nfinished == 3 && !http_bridge_in_flight(r.b) && !http_bridge_awaited(r.b));
    /* Dropped answers arrive to no one. */
    rig_answer(&r, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", true);
    CHECK(r.seen.nmsg == 0 && r.seen.nfinished == 3);
    http_bridge_reap(r.b);
    rig_free(&r);
}

int main(void)
{
    test_request();
    test_answers();
    test_initialize();
    test_event_stream();
    test_drop_and_deleting();
    return check_report();
}
