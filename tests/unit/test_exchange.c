/* Unit tests of the answer half of an exchange (src/exchange.c) driven
 * through a fake transport, as both real transports drive it: a JSON answer,
 * an SSE stream with events before the answer, failures of every kind before
 * and after the head, backpressure, a stdio-style message stream, and a
 * deadline that passes (its timer callback called directly: no sleeping).
 * The client side is a real client connection on one end of a socketpair;
 * the test reads what warden wrote from the other end. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "check.h"
#include "client.h"
#include "config.h"
#include "http.h"
#include "metrics.h"
#include "transport.h"
#include "../../src/exchange.c"

/* What the fake transport was asked to do. */
static struct {
    int forwards, cancels, pauses, resumes;
} fake;

static void fake_forward(struct exchange *ex, const struct upstream_request *req) { (void)ex, (void)req; fake.forwards++; }
static void fake_cancel(struct exchange *ex) { (void)ex; fake.cancels++; }
static void fake_pause(struct exchange *ex) { (void)ex; fake.pauses++; }
static void fake_resume(struct exchange *ex) { (void)ex; fake.resumes++; }
static void fake_server(struct server_rt *s) { (void)s; }
static int fake_init(struct server_rt *s, struct worker *w) { (void)s, (void)w; return 0; }

static const struct transport fake_transport = {
    .name = "fake", .init = fake_init, .forward = fake_forward, .cancel = fake_cancel, .pause = fake_pause,
    .resume = fake_resume, .quiesce = fake_server, .reap = fake_server, .shutdown = fake_server,
};

static void never_called(struct client_conn *c) { (void)c; }

struct bench {
    struct config cfg;
    struct worker w;
    struct server_rt server;
    struct client_conn *c;
    int peer; /* the client's end of the socketpair */
};

static struct bench bench;

/* The worker's reaper, as worker.c has it; the bench forgets a freed client. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker *w = arg;
    struct client_conn *c;
    while ((c = TAILQ_FIRST(&w->client_graveyard))) {
        TAILQ_REMOVE(&w->client_graveyard, c, link);
        if (bench.c == c)
            bench.c = NULL;
        client_free(c);
    }
}

static void bench_attach(struct bench *b);

static void bench_init(struct bench *b)
{
    memset(b, 0, sizeof *b);
    const char *argv[] = {"--upstream", "http://127.0.0.1:9/mcp", NULL};
    char err[256];
    CHECK(config_from_args(2, (char **)argv, &b->cfg, err, sizeof err) == 0);
    b->w.base = event_base_new();
    b->w.cfg = &b->cfg;
    b->w.metrics = metrics_new();
    b->w.on_request = never_called;
    b->w.reaper = event_new(b->w.base, -1, 0, on_reap, &b->w);
    TAILQ_INIT(&b->w.clients);
    TAILQ_INIT(&b->w.client_graveyard);
    b->server.conf = &b->cfg.servers[0];
    b->server.transport = &fake_transport;
    b->server.worker = &b->w;
    b->peer = -1;
    bench_attach(b);
}

/* A new client connection on a new socketpair (the last one was closed). */
static void bench_attach(struct bench *b)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    if (b->peer >= 0)
        close(b->peer);
    b->peer = sv[1];
    b->c = client_attach(&b->w, bufferevent_socket_new(b->w.base, sv[0], BEV_OPT_CLOSE_ON_FREE), "127.0.0.1:1", false);
    CHECK(b->c != NULL);
}

static void bench_free(struct bench *b)
{
    if (b->c)
        client_close(b->c);
    on_reap(-1, 0, &b->w);
    close(b->peer);
    event_free(b->w.reaper);
    if (b->w.scratch)
        evbuffer_free(b->w.scratch);
    answer_memo_free(b->w.answer_memo);
    metrics_free(b->w.metrics);
    event_base_free(b->w.base);
    config_free(&b->cfg);
}

/* Starts an exchange for a POSTed request with id 7 (a tools/call when tool is set). */
static struct exchange *begin(struct bench *b)
{
    struct client_conn *c = b->c;
    c->state = CLIENT_BUSY;
    c->keep_alive = true;
    c->reader.head.method = HTTP_POST;
    c->reader.head.http_major = 1;
    c->reader.head.http_minor = 1;
    struct exchange *ex = &c->ex;
    exchange_begin(ex);
    ex->server = &b->server;
    ex->id_text = strdup("7");
    ex->id_len = 1;
    ex->has_id = true;
    memset(&fake, 0, sizeof fake);
    return ex;
}

/* Everything warden has written to the client so far (runs the loop so that
 * queued output goes out). Returns a static, NUL-terminated buffer. */
static const char *taken(struct bench *b)
{
    static char buf[1 << 20];
    static size_t len;
    len = 0;
    /* Until two rounds in a row bring nothing: the output is all out. */
    for (int quiet = 0, round = 0; quiet < 2 && round < 100000; round++) {
        event_base_loop(b->w.base, EVLOOP_NONBLOCK);
        ssize_t n;
        size_t before = len;
        while (len < sizeof buf - 1 && (n = recv(b->peer, buf + len, sizeof buf - 1 - len, 0)) > 0)
            len += (size_t)n;
        quiet = len == before ? quiet + 1 : 0;
    }
    buf[len] = '\0';
    return buf;
}

/* Feeds a raw HTTP response to the exchange as upstream_http does. */
struct feed {
    struct http_reader r;
    struct exchange *ex;
    bool complete;
};
static int feed_head(void *o) { struct feed *f = o; return exchange_head(f->ex, &f->r.head); }
static int feed_body(void *o, const char *at, size_t len) { struct feed *f = o; return exchange_body(f->ex, at, len); }
static int feed_complete(void *o) { ((struct feed *)o)->complete = true; return 0; }
static const struct http_reader_ops feed_ops = {feed_head, feed_body, feed_complete};

/* A JSON answer's raw response. */
static const char *json_response(const char *body)
{
    static char raw[4096];
    snprintf(raw, sizeof raw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    return raw;
}

/* Appends one chunk carrying text to raw. */
static void add_chunk(char *raw, size_t cap, const char *text)
{
    size_t used = strlen(raw);
    snprintf(raw + used, cap - used, "%zx\r\n%s\r\n", strlen(text), text);
}

static void feed_response(struct exchange *ex, const char *raw, bool finish)
{
    struct feed f = {.ex = ex};
    http_reader_init(&f.r, HTTP_RESPONSE, &feed_ops, &f, 65536, 100);
    http_reader_feed(&f.r, raw, strlen(raw));
    if (finish) {
        CHECK(f.complete);
        exchange_done(ex);
    }
    http_reader_free(&f.r);
}

static void test_json_answer(struct bench *b)
{
    struct exchange *ex = begin(b);
    feed_response(ex, json_response("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"a\":1}}"), true);
    const char *out = taken(b);
    CHECK(strstr(out, "HTTP/1.1 200 OK\r\n") == out);
    CHECK(strstr(out, "Content-Length: 41\r\n") != NULL);
    CHECK(strstr(out, "\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"a\":1}}") != NULL);
    CHECK(!ex->active);   /* reset: ready for the next request */
    CHECK(b->c->state == CLIENT_IDLE);
}

static void test_json_answer_for_another_id(struct bench *b)
{
    struct exchange *ex = begin(b);
    feed_response(ex, json_response("{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{\"a\":1}}"), true);
    const char *out = taken(b);
    CHECK(strstr(out, "\"id\":7,\"error\"") != NULL);
    CHECK(strstr(out, "not the response to this request") != NULL);
    CHECK(strstr(out, "\"id\":8") == NULL);
}

static void test_sse_events_before_answer(struct bench *b)
{
    struct exchange *ex = begin(b);
    char raw[2048] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    add_chunk(raw, sizeof raw, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                               "\"params\":{\"progressToken\":1,\"progress\":1}}\n\n");
    add_chunk(raw, sizeof raw, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n");
    strcat(raw, "0\r\n\r\n");
    feed_response(ex, raw, true);
    const char *out = taken(b);
    CHECK(strstr(out, "Transfer-Encoding: chunked\r\n") != NULL);
    const char *note = strstr(out, "notifications/progress");
    const char *answer = strstr(out, "\"id\":7,\"result\"");
    CHECK(note && answer && note < answer);
    CHECK(strstr(out, "0\r\n\r\n") != NULL);
    CHECK(b->c->state == CLIENT_IDLE);
}

static void test_failures_before_head(struct bench *b)
{
    for (int kind = UPSTREAM_CONNECT; kind <= UPSTREAM_INTERNAL; kind++) {
        struct exchange *ex = begin(b);
        exchange_failed(ex, (enum upstream_failure)kind, "broke");
        const char *out = taken(b);
        CHECK(strstr(out, "HTTP/1.1 200 OK\r\n") == out);   /* non-2xx would be a transport error in the SDK */
        CHECK(strstr(out, "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32603,") != NULL);
        CHECK(strstr(out, "broke") != NULL);
        CHECK(b->c->state == CLIENT_IDLE);
    }
}

static void test_failures_after_head(struct bench *b)
{
    for (int kind = UPSTREAM_CONNECT; kind <= UPSTREAM_INTERNAL; kind++) {
        struct exchange *ex = begin(b);
        feed_response(ex, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n", false);
        CHECK(ex->head_sent);
        exchange_failed(ex, (enum upstream_failure)kind, "broke mid-stream");
        const char *out = taken(b);
        CHECK(strstr(out, "text/event-stream") != NULL);
        CHECK(strstr(out, "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"error\"") != NULL);
        CHECK(strstr(out, "broke mid-stream") != NULL);
        CHECK(strstr(out, "0\r\n\r\n") != NULL);
        /* A stream cut short leaves the connection unusable: it closes once flushed. */
        CHECK(b->c == NULL);
        bench_free(b);
        bench_init(b);
    }
}

static void test_backpressure(struct bench *b)
{
    struct exchange *ex = begin(b);
    feed_response(ex, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n", false);
    static char block[64 * 1024];
    memset(block, 'x', sizeof block);
    for (int i = 0; i < 8 && !fake.pauses; i++) {
        CHECK(exchange_body(ex, block, sizeof block) == 0);
        exchange_flush(ex);   /* as the transport does after each read */
    }
    CHECK(fake.pauses == 1);
    CHECK(fake.resumes == 0);
    /* More output while paused asks nothing more of the transport. */
    CHECK(exchange_body(ex, block, sizeof block) == 0);
    CHECK(fake.pauses == 1);
    /* The client reads everything: below the low watermark the transport resumes. */
    size_t got = strlen(taken(b));
    for (int round = 0; round < 200 && fake.resumes == 0; round++)
        got += strlen(taken(b));
    CHECK(got > 5 * sizeof block);
    CHECK(fake.resumes == 1);
    exchange_done(ex);
    taken(b);
}

static void test_stdio_messages(struct bench *b)
{
    struct exchange *ex = begin(b);
    exchange_stream_start(ex, "abc123");
    const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"x\"}}";
    exchange_message(ex, note, sizeof note - 1);
    /* Raw CRs between tokens are whitespace to JSON but line ends to SSE. */
    const char answer[] = "{\"jsonrpc\":\"2.0\",\"id\":7,\r\r\"result\":{\"content\":[]}}";
    exchange_message(ex, answer, sizeof answer - 1);
    CHECK(ex->answered_id);
    CHECK(ex->is_error == 0);
    exchange_stream_end(ex);
    const char *out = taken(b);
    CHECK(strstr(out, "Mcp-Session-Id: abc123\r\n") != NULL);
    CHECK(strstr(out, "notifications/message") != NULL);
    CHECK(strstr(out, "data: {\"jsonrpc\":\"2.0\",\"id\":7,  \"result\":{\"content\":[]}}\n\n") != NULL);
    const char *body = strstr(out, "\r\n\r\n");
    CHECK(body && strchr(body + 4, '\r') == strstr(body + 4, "\r\n"));   /* CRs only in chunk framing */
    for (const char *p = body ? body + 4 : out; (p = strchr(p, '\r')); p += 2)
        CHECK(p[1] == '\n');
    CHECK(b->c->state == CLIENT_IDLE);
}

static void test_stdio_unreadable_answer_fails_closed(struct bench *b)
{
    struct exchange *ex = begin(b);
    exchange_stream_start(ex, "abc123");
    const char twice[] = "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{},\"result\":{\"x\":1}}";
    exchange_message(ex, twice, sizeof twice - 1);
    exchange_stream_end(ex);
    const char *out = taken(b);
    CHECK(strstr(out, "\"id\":7,\"error\"") != NULL);
    CHECK(strstr(out, "\"x\":1") == NULL);
}

static void test_deadline(struct bench *b)
{
    struct exchange *ex = begin(b);
    exchange_stream_start(ex, "abc123");
    exchange_expect(ex, 1000, "did not answer within");
    CHECK(evtimer_pending(ex->timer, NULL));
    on_deadline(-1, EV_TIMEOUT, ex);   /* the timer's callback, as the loop would call it */
    CHECK(fake.cancels >= 1);
    CHECK(!ex->active && !evtimer_pending(ex->timer, NULL));
    const char *out = taken(b);
    CHECK(strstr(out, "\"id\":7,\"error\"") != NULL);
    CHECK(strstr(out, "did not answer within 1000 ms") != NULL);
}

/* A client gone mid-exchange takes the deadline with it: it must not fire
 * on an exchange nobody waits for before the connection is freed. */
static void test_close_disarms_deadline(struct bench *b)
{
    bench_attach(b);
    struct exchange *ex = begin(b);
    exchange_stream_start(ex, "abc123");
    exchange_expect(ex, 1000, "did not answer within");
    CHECK(evtimer_pending(ex->timer, NULL));
    client_close(b->c);
    CHECK(fake.cancels == 1);
    CHECK(!ex->active && !evtimer_pending(ex->timer, NULL));
    on_reap(-1, 0, &b->w);
    CHECK(b->c == NULL);
}

/* The worker's on_request for the test below: the upstream answers at once. */
static int answered;
static void answer_at_once(struct client_conn *c)
{
    /* the request's buffers are in use while it is answered */
    CHECK(c->reader.head.buf != NULL && c->body != NULL && c->body_len == 2);
    struct exchange *ex = &c->ex;
    exchange_begin(ex);
    ex->server = &bench.server;
    ex->id_text = strdup("7");
    ex->id_len = 1;
    ex->has_id = true;
    answered++;
    feed_response(ex, json_response("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}"), true);
}

/* Two pipelined requests on a keep-alive connection, each answered; then
 * it waits for the next holding neither a head nor a body buffer (the idle
 * row of bench/run: 10,000 such connections). */
static void test_idle_connection_holds_no_buffer(struct bench *b)
{
    bench_attach(b);
    b->w.on_request = answer_at_once;
    const char *req = "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: 2\r\n\r\n{}";
    char two[512];
    int n = snprintf(two, sizeof two, "%s%s", req, req);
    CHECK(send(b->peer, two, (size_t)n, 0) == n);
    const char *out = taken(b);
    CHECK(answered == 2);
    const char *second = strstr(out, "HTTP/1.1 200 OK\r\n");
    CHECK(second && strstr(second + 1, "HTTP/1.1 200 OK\r\n"));
    CHECK(b->c->state == CLIENT_IDLE);
    CHECK(b->c->reader.head.buf == NULL && b->c->reader.head.headers == NULL && b->c->reader.head.fields == NULL);
    CHECK(b->c->body == NULL && b->c->body_cap == 0);
    b->w.on_request = never_called;
}

int main(void)
{
    struct bench *b = &bench;
    bench_init(b);
    test_json_answer(b);
    test_json_answer_for_another_id(b);
    test_sse_events_before_answer(b);
    test_failures_before_head(b);
    test_failures_after_head(b);
    test_backpressure(b);
    test_stdio_messages(b);
    test_stdio_unreadable_answer_fails_closed(b);
    test_deadline(b);
    test_close_disarms_deadline(b);
    test_idle_connection_holds_no_buffer(b);
    bench_free(b);
    return check_report();
}
