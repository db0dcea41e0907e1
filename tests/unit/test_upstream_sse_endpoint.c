/* Unit test of the legacy SSE upstream's endpoint event (src/upstream_sse.c,
 * its session from src/upstream_session.c): the requests that waited for
 * the event are POSTed once each, in order, even when one fails at once and
 * its client's next request, on the same exchange (a client connection has
 * one, reused), joins the list and goes at once. The exchange's side and the
 * connect are fakes: a failed request's "client" sends its next request
 * straight from the failure, as client_finish_exchange would on a pipelined
 * connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include "check.h"
#include "config.h"
#include "proxy-t.h"

static struct {
    char posted[8][64]; /* the bodies POSTed, in order */
    int nposted;
    const char *fail_body; /* the connect of the POST carrying it fails, once */
    int failed;
} fake;

static struct upstream_session *session_of_test;
static void next_request(struct exchange *ex);

static int fake_connect(struct bufferevent *bev, const struct sockaddr *sa, int len)
{
    (void)sa, (void)len;
    /* The output is frozen at its start until connected: read it by peeking. */
    struct evbuffer_iovec v[8];
    int nv = evbuffer_peek(bufferevent_get_output(bev), -1, NULL, v, 8);
    char buf[1024];
    size_t n = 0;
    for (int i = 0; i < nv && i < 8; i++) {
        if (n + v[i].iov_len >= sizeof buf)
            return -1;
        memcpy(buf + n, v[i].iov_base, v[i].iov_len);
        n += v[i].iov_len;
    }
    buf[n] = '\0';
    const char *body = strstr(buf, "\r\n\r\n");
    if (!body || strncmp(buf, "POST ", 5) != 0) /* the session's own GET stream */
        return 0;
    body += 4;
    if (fake.fail_body && strcmp(body, fake.fail_body) == 0 && !fake.failed++)
        return -1;
    if (fake.nposted < 8)
        snprintf(fake.posted[fake.nposted++], sizeof fake.posted[0], "%s", body);
    return 0;
}

static void fake_failed(struct exchange *ex, enum upstream_failure kind, const char *what)
{
    (void)kind, (void)what;
    if (session_of_test)
        next_request(ex);
}
static void fake_noop(struct exchange *ex) { (void)ex; }
static void fake_stream_start(struct exchange *ex, const char *id) { (void)ex, (void)id; }
static void fake_expect(struct exchange *ex, unsigned ms, const char *what) { (void)ex, (void)ms, (void)what; }
static void fake_message(struct exchange *ex, const char *json, size_t len) { (void)ex, (void)json, (void)len; }
static void fake_answer(struct exchange *ex, int status, const char *h, const char *body, size_t len)
{
    (void)ex, (void)status, (void)h, (void)body, (void)len;
}
static void fake_answer_error(struct exchange *ex, int status, int code, const char *m) { (void)ex, (void)status, (void)code, (void)m; }
static void fake_answer_for_id(struct exchange *ex, int code, const char *m) { (void)ex, (void)code, (void)m; }

#define bufferevent_socket_connect fake_connect
#define exchange_failed fake_failed
#define exchange_flush fake_noop
#define exchange_stream_end fake_noop
#define exchange_stream_start fake_stream_start
#define exchange_expect fake_expect
#define exchange_message fake_message
#define exchange_answer fake_answer
#define exchange_answer_error fake_answer_error
#define exchange_answer_for_id fake_answer_for_id
#include "../../src/upstream_session.c"
#include "../../src/upstream_sse.c"

/* A request with this id and body on ex, waiting on the session. */
static void request(struct exchange *ex, const char *id, const char *body)
{
    ex->has_id = true;
    ex->id_text = (char *)id;
    ex->id_len = strlen(id);
    ex->body = strdup(body);
    ex->body_len = strlen(body);
    wait_on(session_of_test, ex);
}

/* The failed exchange's client sends its next request (the pipelined one). */
static void next_request(struct exchange *ex)
{
    free(ex->body);
    ex->body = NULL;
    request(ex, "3", "third");
}

static void test_waiting_requests_go_once(void)
{
    struct config cfg = {0};
    const char *argv[] = {"--upstream", "http://127.0.0.1:9/sse", NULL};
    char err[256];
    CHECK(config_from_args(2, (char **)argv, &cfg, err, sizeof err) == 0);
    struct worker w = {0};
    w.base = event_base_new();
    w.cfg = &cfg;
    struct server_rt s = {0};
    s.conf = &cfg.servers[0];
    s.worker = &w;
    CHECK(sse_transport_init(&s, &w) == 0);
    struct sse_up *up = open_session(&s);
    CHECK(up != NULL);
    session_of_test = &up->sess;
    struct exchange a = {0}, b = {0};
    request(&a, "1", "first");
    request(&b, "2", "second");
    CHECK(fake.nposted == 0); /* no endpoint yet */
    /* a's POST fails at once; its client's next request goes on a, at once */
    fake.fail_body = "first";
    struct sse_event ev = {.event = "endpoint", .event_len = 8, .data = "/message?sessionId=1", .data_len = 20};
    CHECK(on_event(up, &ev) == 0);
    CHECK(fake.failed == 1);
    /* a's next request went from inside the walk, then b's: each once */
    CHECK(fake.nposted == 2);
    CHECK_STR(fake.posted[0], "third");
    CHECK_STR(fake.posted[1], "second");
    /* the end: the requests still waiting fail, the session is reaped */
    session_of_test = NULL;
    end_session(&up->sess, UPSTREAM_RESET, "test over");
    on_reap(-1, 0, &s);
    free(a.body);
    free(b.body);
    event_free(s.sse_reaper);
    event_base_free(w.base);
    config_free(&cfg);
}

int main(void)
{
    test_waiting_requests_go_once();
    return check_report();
}
