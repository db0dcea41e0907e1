/* Unit tests of what an exchange writes (src/exchange.c): the exact bytes of
 * the heads warden builds itself, with memcpy into one reserved piece, for a
 * held JSON answer (small: copied beside its head; large and chunked: its
 * buffer grown and handed to the output by reference), a streamed answer, an
 * HTTP/1.0 client, a connection that closes, warden's own answers and event
 * streams; the hop-by-hop headers they never pass on; the bound on a held
 * answer. The client is a real client connection on one end of a
 * socketpair; the test reads the other end. (test_exchange.c covers the
 * exchange's life; this file the bytes.) */
#include <limits.h>
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
#include "reply.h"
#include "transport.h"
#include "../../src/exchange.c"

static void fake_forward(struct exchange *ex, const struct upstream_request *req)
{
    (void)ex, (void)req;
}
static void fake_exchange(struct exchange *ex)
{
    (void)ex;
}
static void fake_server(struct server_rt *s)
{
    (void)s;
}
static int fake_init(struct server_rt *s, struct worker *w)
{
    (void)s, (void)w;
    return 0;
}
static const struct transport fake_transport = {
    .name = "fake",
    .init = fake_init,
    .forward = fake_forward,
    .cancel = fake_exchange,
    .pause = fake_exchange,
    .resume = fake_exchange,
    .quiesce = fake_server,
    .reap = fake_server,
    .shutdown = fake_server,
};

static void never_called(struct client_conn *c)
{
    (void)c;
}

static struct {
    struct config cfg;
    struct worker w;
    struct server_rt server;
    struct client_conn *c;
    int peer;
} B;

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    struct client_conn *c;
    while ((c = TAILQ_FIRST(&B.w.client_graveyard))) {
        TAILQ_REMOVE(&B.w.client_graveyard, c, link);
        if (B.c == c)
            B.c = NULL;
        client_free(c);
    }
}

/* A new client connection (the last one, if any, closed). */
static void attach(void)
{
    if (B.c)
        client_close(B.c);
    on_reap(-1, 0, NULL);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    if (B.peer >= 0)
        close(B.peer);
    B.peer = sv[1];
    B.c = client_attach(&B.w, bufferevent_socket_new(B.w.base, sv[0], BEV_OPT_CLOSE_ON_FREE), "127.0.0.1:1", false);
    CHECK(B.c != NULL);
}

/* An exchange for a POSTed request with id 7 from an HTTP/1.minor client. */
static struct exchange *begin(int minor, bool keep_alive)
{
    if (!B.c)
        attach();
    struct client_conn *c = B.c;
    c->state = CLIENT_BUSY;
    c->keep_alive = keep_alive;
    c->reader.head.method = HTTP_POST;
    c->reader.head.http_major = 1;
    c->reader.head.http_minor = (unsigned short)minor;
    struct exchange *ex = &c->ex;
    exchange_begin(ex);
    ex->server = &B.server;
    ex->id_text = strdup("7");
    ex->id_len = 1;
    ex->has_id = true;
    return ex;
}

/* Everything written to the client so far (NUL-terminated, static). */
static const char *taken(size_t *len_out)
{
    static char buf[1 << 21];
    size_t len = 0;
    for (int quiet = 0, round = 0; quiet < 2 && round < 100000; round++) {
        event_base_loop(B.w.base, EVLOOP_NONBLOCK);
        ssize_t n;
        size_t before = len;
        while (len < sizeof buf - 1 && (n = recv(B.peer, buf + len, sizeof buf - 1 - len, 0)) > 0)
            len += (size_t)n;
        quiet = len == before ? quiet + 1 : 0;
    }
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

/* Feeds a raw response as upstream_http does; its reader may be fed in pieces. */
struct feed {
    struct http_reader r;
    struct exchange *ex;
    bool complete;
};
static int feed_head(void *o)
{
    struct feed *f = o;
    return exchange_head(f->ex, &f->r.head);
}
static int feed_body(void *o, const char *at, size_t len)
{
    struct feed *f = o;
    return exchange_body(f->ex, at, len);
}
static int feed_complete(void *o)
{
    ((struct feed *)o)->complete = true;
    return 0;
}
static const struct http_reader_ops feed_ops = {feed_head, feed_body, feed_complete};

/* Returns whether the reader took it all without refusing; ends the exchange when complete. */
static bool feed(struct exchange *ex, const char *raw, size_t len)
{
    struct feed f = {.ex = ex};
    http_reader_init(&f.r, HTTP_RESPONSE, &feed_ops, &f, 65536, 100);
    size_t step = 1000; /* in pieces, as reads bring them */
    bool ok = true;
    for (size_t at = 0; at < len && ok; at += step) {
        size_t n = len - at < step ? len - at : step;
        ok = http_reader_feed(&f.r, raw + at, n) == n || f.complete;
        int status;
        const char *why;
        ok = ok && !http_reader_failed(&f.r, &status, &why);
    }
    if (ok && f.complete)
        exchange_done(ex);
    http_reader_free(&f.r);
    return ok;
}

static bool feed_str(struct exchange *ex, const char *raw)
{
    return feed(ex, raw, strlen(raw));
}

static const char answer7[] = "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"a\":1}}";

/* A JSON answer's raw response, with its length. */
static const char *json_response_for(const char *body)
{
    static char raw[4096];
    snprintf(raw, sizeof raw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    return raw;
}

/* A held JSON answer: the status line, the end-to-end headers in their order
 * (hop-by-hop ones and those Connection names dropped), our Content-Length,
 * then the body: byte for byte. */
static void test_held_answer_bytes(void)
{
    struct exchange *ex = begin(1, true);
    char raw[1024];
    snprintf(raw, sizeof raw,
             "HTTP/1.1 200 OK\r\nServer: up\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n"
             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nMcp-Session-Id: s9\r\n\r\n"
             "%zx\r\n%s\r\n0\r\n\r\n",
             strlen(answer7), answer7);
    CHECK(feed_str(ex, raw));
    size_t len;
    const char *out = taken(&len);
    char want[1024];
    snprintf(want, sizeof want,
             "HTTP/1.1 200 OK\r\nServer: up\r\nContent-Type: application/json\r\nMcp-Session-Id: s9\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(answer7), answer7);
    CHECK_STR(out, want);
    CHECK(B.c && B.c->state == CLIENT_IDLE && !ex->buffered);
}

/* A held answer far larger than its first room, chunked (no length to size
 * it by): grown as it arrives, sent whole after its head, by reference. */
static void test_held_large_answer(void)
{
    struct exchange *ex = begin(1, true);
    size_t n = 300 * 1000;
    char *text = malloc(n + 1);
    memset(text, 'x', n);
    text[n] = '\0';
    size_t body_len = n + sizeof "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"t\":\"\"}}" - 1;
    char *body = malloc(body_len + 1), *raw = malloc(body_len + 4096), *want = malloc(body_len + 256);
    snprintf(body, body_len + 1, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"t\":\"%s\"}}", text);
    CHECK(strlen(body) == body_len);
    int h =
        snprintf(raw, 256, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    size_t at = (size_t)h;
    /* chunks of 7000 bytes */
    for (size_t off = 0; off < body_len; off += 7000) {
        size_t k = body_len - off < 7000 ? body_len - off : 7000;
        at += (size_t)sprintf(raw + at, "%zx\r\n", k);
        memcpy(raw + at, body + off, k);
        at += k;
        memcpy(raw + at, "\r\n", 2);
        at += 2;
    }
    memcpy(raw + at, "0\r\n\r\n", 5);
    at += 5;
    CHECK(feed(ex, raw, at));
    size_t len;
    const char *out = taken(&len);
    int wh = snprintf(want, 256, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      body_len);
    memcpy(want + wh, body, body_len);
    CHECK(len == (size_t)wh + body_len && memcmp(out, want, len) == 0);
    CHECK(B.c && B.c->state == CLIENT_IDLE);
    free(text);
    free(body);
    free(raw);
    free(want);
}

/* The same bound as before: past max_sse_event_bytes a held answer is refused. */
static void test_held_answer_bound(void)
{
    size_t saved = B.cfg.limits.max_sse_event_bytes;
    B.cfg.limits.max_sse_event_bytes = 40; /* answer7 is 41 bytes */
    struct exchange *ex = begin(1, true);
    CHECK(!feed_str(ex, json_response_for(answer7)));
    enum upstream_failure kind;
    CHECK(exchange_refusal(ex, &kind) != NULL && kind == UPSTREAM_OVERSIZE);
    exchange_failed(ex, kind, "sent an answer larger than max_sse_event_bytes");
    const char *out = taken(NULL);
    CHECK(strstr(out, "\"id\":7,\"error\"") != NULL);
    CHECK(strstr(out, "larger than max_sse_event_bytes") != NULL);
    B.cfg.limits.max_sse_event_bytes = 41; /* exactly the bound: passes */
    ex = begin(1, true);
    CHECK(feed_str(ex, json_response_for(answer7)));
    out = taken(NULL);
    CHECK(strstr(out, answer7) != NULL);
    B.cfg.limits.max_sse_event_bytes = saved;
}

/* An answer that fails: warden's error, with its own length, after the upstream's head. */
static void test_held_answer_failed(void)
{
    struct exchange *ex = begin(1, true);
    CHECK(feed_str(ex, json_response_for("{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{}}")));
    size_t len;
    const char *out = taken(&len);
    const char *cl = strstr(out, "Content-Length: "), *body = strstr(out, "\r\n\r\n");
    CHECK(cl && body);
    if (cl && body) {
        CHECK(strtoul(cl + 16, NULL, 10) == len - (size_t)(body + 4 - out));
        CHECK(strncmp(body + 4, "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32603,\"message\":", 56) == 0);
    }
}

/* A streamed answer (not JSON) with a length: its head goes out at once, framed by it. */
static void test_streamed_head(void)
{
    struct exchange *ex = begin(1, true);
    CHECK(feed_str(ex, "HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\nProxy-Connection: x\r\nTE: trailers\r\n"
                       "Content-Length: 2\r\n\r\nok"));
    CHECK_STR(taken(NULL), "HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok");
    /* Without a length, to an HTTP/1.1 client: chunked. */
    ex = begin(1, true);
    CHECK(feed_str(ex, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "2\r\nok\r\n0\r\n\r\n"));
    CHECK_STR(taken(NULL), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "2\r\nok\r\n0\r\n\r\n");
    /* A 204 has no body: Content-Length 0. */
    ex = begin(1, true);
    CHECK(feed_str(ex, "HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n"));
    CHECK_STR(taken(NULL), "HTTP/1.1 204 No Content\r\nX-A: b\r\nContent-Length: 0\r\n\r\n");
}

/* An HTTP/1.0 client: a streamed answer ends with the connection, and says so. */
static void test_http10_and_closing(void)
{
    struct exchange *ex = begin(0, true);
    CHECK(feed_str(ex, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "2\r\nok\r\n0\r\n\r\n"));
    CHECK_STR(taken(NULL), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok");
    CHECK(B.c == NULL);
    /* A request that asked to close: its held answer says so too. */
    ex = begin(1, false);
    CHECK(feed_str(ex, json_response_for(answer7)));
    char want[512];
    snprintf(want, sizeof want,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
             strlen(answer7), answer7);
    CHECK_STR(taken(NULL), want);
    CHECK(B.c == NULL);
}

/* Warden's own answers and event streams. */
static void test_own_heads(void)
{
    struct exchange *ex = begin(1, true);
    exchange_answer(ex, 202, "X-One: 1\r\n", "", 0);
    CHECK_STR(taken(NULL),
              "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 0\r\nX-One: 1\r\n\r\n");
    ex = begin(1, true);
    exchange_answer_error(ex, 400, -32600, "bad \"x\"");
    CHECK_STR(taken(NULL),
              "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 73\r\n\r\n"
              "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"bad \\\"x\\\"\"}}");
    ex = begin(1, true);
    exchange_stream_start(ex, "abc123");
    exchange_stream_end(ex);
    const char *out = taken(NULL);
    static const char stream[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                                 "Mcp-Session-Id: abc123\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(strncmp(out, stream, sizeof stream - 1) == 0);
    ex = begin(0, true);
    exchange_hold_start(ex);
    exchange_answer(ex, 200, NULL, answer7, strlen(answer7));
    out = taken(NULL);
    static const char held[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                               "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n";
    CHECK(strncmp(out, held, sizeof held - 1) == 0);
    CHECK(strstr(out, answer7) != NULL);
    CHECK(B.c == NULL);
}

/* reply.c's pieces. */
static void test_reply(void)
{
    char buf[64];
    CHECK_MEM(buf, (size_t)(reply_put_uint(buf, 0) - buf), "0");
    CHECK_MEM(buf, (size_t)(reply_put_uint(buf, 10) - buf), "10");
    CHECK_MEM(buf, (size_t)(reply_put_uint(buf, ULLONG_MAX) - buf), "18446744073709551615");
    struct evbuffer *b = evbuffer_new();
    reply_format_rpc_error(b, "\"a\"", 3, -32700, "x");
    reply_format_rpc_error(b, NULL, 0, 42, "");
    size_t len = evbuffer_get_length(b);
    CHECK_MEM(evbuffer_pullup(b, -1), len,
              "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"error\":{\"code\":-32700,\"message\":\"x\"}}"
              "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":42,\"message\":\"\"}}");
    evbuffer_drain(b, len);
    reply_format_tool_refusal(b, "1", 1, "no");
    len = evbuffer_get_length(b);
    CHECK_MEM(evbuffer_pullup(b, -1), len,
              "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"no\"}],\"isError\":"
              "true}}");
    evbuffer_drain(b, len);
    CHECK(reply_format_answer(b, 413, "text/plain", NULL, "big", 3, true) == 0);
    len = evbuffer_get_length(b);
    CHECK_MEM(evbuffer_pullup(b, -1), len,
              "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: "
              "close\r\n\r\nbig");
    evbuffer_free(b);
}

int main(void)
{
    const char *argv[] = {"--upstream", "http://127.0.0.1:9/mcp", NULL};
    char err[256];
    CHECK(config_from_args(2, (char **)argv, &B.cfg, err, sizeof err) == 0);
    B.w.base = event_base_new();
    B.w.cfg = &B.cfg;
    B.w.metrics = metrics_new();
    B.w.on_request = never_called;
    B.w.reaper = event_new(B.w.base, -1, 0, on_reap, NULL);
    TAILQ_INIT(&B.w.clients);
    TAILQ_INIT(&B.w.client_graveyard);
    B.server.conf = &B.cfg.servers[0];
    B.server.transport = &fake_transport;
    B.server.worker = &B.w;
    B.peer = -1;
    test_reply();
    test_held_answer_bytes();
    test_held_large_answer();
    test_held_answer_bound();
    test_held_answer_failed();
    test_streamed_head();
    test_http10_and_closing();
    test_own_heads();
    if (B.c)
        client_close(B.c);
    on_reap(-1, 0, NULL);
    close(B.peer);
    event_free(B.w.reaper);
    if (B.w.scratch)
        evbuffer_free(B.w.scratch);
    metrics_free(B.w.metrics);
    event_base_free(B.w.base);
    config_free(&B.cfg);
    return check_report();
}
