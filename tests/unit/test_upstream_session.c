/* Unit tests of the session bookkeeping the stdio and legacy SSE upstreams
 * share (src/upstream_session.c): requests wait by id and a second request
 * with a waiting id is refused; an answer goes to the request with its id
 * once (an upstream that answers an id twice, or an id nobody sent, finds no
 * request); a session that ends fails the requests in flight and ends its
 * stream; the backlog keeps to its budget; the reader is paused while any
 * client on the session is slow; and the 400/404/409 answers of requests
 * naming a session. exchange.c is replaced by fakes that record what each
 * exchange was told. */
#include <event2/event.h>
#include <event2/bufferevent.h>
#include "check.h"
#include "../../src/upstream_session.c"

/* What one exchange was told, by the fakes below. */
struct told {
    int status;             /* exchange_answer / _error; 0: none */
    int code;               /* JSON-RPC error code of an answer_error / answer_for_id */
    char text[160];         /* its message, or exchange_failed's what */
    int failed;             /* exchange_failed calls */
    enum upstream_failure kind;
    char messages[256];     /* exchange_message's messages, each ending in '|' */
    int started;
    char started_id[40];    /* the session id its stream named; "-" for none */
    int ended;              /* exchange_stream_end calls */
    unsigned expect_ms;
    const char *expect_what;
};

#define NEX 8
static struct exchange exs[NEX];
static struct told told[NEX];

static struct told *told_of(const struct exchange *ex)
{
    return &told[ex - exs];
}

void exchange_stream_start(struct exchange *ex, const char *session_id)
{
    struct told *t = told_of(ex);
    t->started++;
    snprintf(t->started_id, sizeof t->started_id, "%s", session_id ? session_id : "-");
}

void exchange_message(struct exchange *ex, const char *json, size_t len)
{
    struct told *t = told_of(ex);
    size_t have = strlen(t->messages);
    snprintf(t->messages + have, sizeof t->messages - have, "%.*s|", (int)len, json);
}

void exchange_stream_end(struct exchange *ex)
{
    told_of(ex)->ended++;
}

void exchange_failed(struct exchange *ex, enum upstream_failure kind, const char *what)
{
    struct told *t = told_of(ex);
    t->failed++;
    t->kind = kind;
    snprintf(t->text, sizeof t->text, "%s", what);
}

void exchange_answer(struct exchange *ex, int status, const char *extra_headers, const char *body, size_t len)
{
    (void)extra_headers, (void)body, (void)len;
    told_of(ex)->status = status;
}

void exchange_answer_error(struct exchange *ex, int status, int code, const char *message)
{
    struct told *t = told_of(ex);
    t->status = status;
    t->code = code;
    snprintf(t->text, sizeof t->text, "%s", message);
}

void exchange_answer_for_id(struct exchange *ex, int code, const char *message)
{
    exchange_answer_error(ex, 200, code, message);
}

void exchange_expect(struct exchange *ex, unsigned ms, const char *what)
{
    told_of(ex)->expect_ms = ms;
    told_of(ex)->expect_what = what;
}

void exchange_flush(struct exchange *ex)
{
    (void)ex;
}

/* A transport of the tests: records what the session asked of it. */
static struct {
    struct event *timer;
    int changed;                  /* changed hook calls */
    struct exchange *last_gone;
    int requests, messages, ends;
    bool message_ok;              /* what the message hook answers */
    enum upstream_failure end_kind;
    const char *end_why;
} tr;

static void tr_request(struct upstream_session *us, struct exchange *ex)
{
    tr.requests++;
    if (upsess_id_free(us, ex))
        upsess_wait(us, ex);
}

static bool tr_message(struct upstream_session *us, struct exchange *ex, enum rpc_kind kind)
{
    (void)us, (void)ex, (void)kind;
    tr.messages++;
    return tr.message_ok;
}

static void tr_end(struct upstream_session *us, enum upstream_failure kind, const char *why)
{
    tr.ends++;
    tr.end_kind = kind;
    tr.end_why = why;
    upsess_end(us, kind, why);
}

static void tr_changed(struct upstream_session *us, struct exchange *gone)
{
    tr.changed++;
    tr.last_gone = gone;
    upsess_idle_clock(us, tr.timer, 60);
}

static const struct upsess_ops tr_ops = {tr_request, tr_message, tr_end, tr_changed};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
}

static struct server_conf conf = {.name = "s", .first_byte_timeout_ms = 5000};
static struct server_rt server = {.conf = &conf};

/* A fresh exchange i with this JSON-RPC id (NULL: a notification) on the test server. */
static struct exchange *fresh(int i, const char *id)
{
    struct exchange *ex = &exs[i];
    memset(ex, 0, sizeof *ex);
    memset(&told[i], 0, sizeof told[i]);
    ex->server = &server;
    if (id) {
        ex->has_id = true;
        snprintf(ex->id_inline, sizeof ex->id_inline, "%s", id);
        ex->id_text = ex->id_inline;
        ex->id_len = strlen(id);
    }
    return ex;
}

static bool reading(struct bufferevent *in)
{
    return (bufferevent_get_enabled(in) & EV_READ) != 0;
}

static void test_make_id(void)
{
    char a[33], b[33];
    CHECK(upsess_make_id(a) == 0);
    CHECK(upsess_make_id(b) == 0);
    CHECK(strlen(a) == 32 && strspn(a, "0123456789abcdef") == 32);
    CHECK(strcmp(a, b) != 0);
}

/* Requests wait by id; answers find them once; unknown ids find none. */
static void test_ids(struct upstream_session *us)
{
    struct exchange *one = fresh(0, "1");
    tr_request(us, one);
    CHECK(one->upsess == us && TAILQ_FIRST(&us->pending) == one);
    CHECK(told[0].started == 1);
    CHECK_STR(told[0].started_id, us->id);
    CHECK(told[0].expect_ms == 5000);
    CHECK(!evtimer_pending(tr.timer, NULL));   /* something is open: no idle clock */

    /* The same id again, while the first waits: refused with an error for its id, never listed. */
    struct exchange *again = fresh(1, "1");
    tr_request(us, again);
    CHECK(again->upsess == NULL && told[1].started == 0);
    CHECK(told[1].code == RPC_INVALID_REQUEST);
    CHECK(strstr(told[1].text, "already in progress") != NULL);

    /* "1" is another id than 1, and waits beside it. */
    struct exchange *str = fresh(2, "\"1\"");
    tr_request(us, str);
    CHECK(str->upsess == us);

    /* An id nobody sent finds no request, and an exchange without an id
     * (as a GET's) is never taken for one, not even for an empty id. */
    struct exchange *no_id = fresh(3, NULL);
    upsess_wait(us, no_id);
    CHECK(upsess_waiting(us, "2", 1) == NULL);
    CHECK(upsess_waiting(us, "\"2\"", 3) == NULL);
    CHECK(upsess_waiting(us, "", 0) == NULL);
    CHECK(upsess_waiting(us, "1", 1) == one);
    CHECK(upsess_waiting(us, "\"1\"", 3) == str);
    upsess_detach(no_id);

    /* The answer: off the session, then the message, then the stream's end. */
    int changed = tr.changed;
    upsess_answer(one, "{\"id\":1}", 8);
    CHECK(one->upsess == NULL);
    CHECK_STR(told[0].messages, "{\"id\":1}|");
    CHECK(told[0].ended == 1);
    CHECK(tr.changed == changed + 1 && tr.last_gone == one);
    /* The same id answered twice: the second answer finds nobody. */
    CHECK(upsess_waiting(us, "1", 1) == NULL);
    /* Ids compare as JSON: "\u0031" is the string "1". */
    CHECK(upsess_waiting(us, "\"\\u0031\"", 8) == str);
    upsess_answer(str, "{\"id\":\"1\"}", 10);
    CHECK(TAILQ_EMPTY(&us->pending));
    CHECK(evtimer_pending(tr.timer, NULL));    /* nothing open: the idle clock runs */

    /* Detaching twice, or an exchange never attached, does nothing. */
    upsess_detach(one);
    upsess_detach(fresh(4, "4"));
    CHECK(tr.changed == changed + 2);
}

/* The backlog keeps to its budget and goes, in order, to the next stream. */
static void test_stream(struct upstream_session *us)
{
    CHECK(upsess_keep(us, "{\"a\":1}", 7));   /* 8 bytes with its newline */
    CHECK(upsess_keep(us, "{\"b\":2}", 7));   /* 16 */
    CHECK(!upsess_keep(us, "{}", 2));          /* 19 > 18: refused whole */
    CHECK(evbuffer_get_length(us->backlog) == 16);

    struct upstream_request get_req = {.head = &(struct http_head){.method = HTTP_GET}};
    struct exchange *get = fresh(0, NULL);
    snprintf(get->session, sizeof get->session, "%s", us->id);
    upsess_forward(get, &get_req, 30000, "bye");
    CHECK(us->stream == get && get->upsess == us);
    CHECK_STR(told[0].messages, "{\"a\":1}|{\"b\":2}|");
    CHECK(told[0].expect_ms == 30000 && told[0].expect_what && strcmp(told[0].expect_what, "sent nothing for") == 0);
    CHECK(evbuffer_get_length(us->backlog) == 0);

    /* One stream per session. */
    struct exchange *second = fresh(1, NULL);
    snprintf(second->session, sizeof second->session, "%s", us->id);
    upsess_forward(second, &get_req, 0, "bye");
    CHECK(told[1].status == 409 && second->upsess == NULL);

    upsess_detach(get);
    CHECK(us->stream == NULL && told[0].ended == 0);   /* a client that leaves is not told anything */
    struct exchange *third = fresh(2, NULL);
    snprintf(third->session, sizeof third->session, "%s", us->id);
    upsess_forward(third, &get_req, 0, "bye");
    CHECK(us->stream == third && told[2].expect_ms == 0);   /* no deadline asked for */
    upsess_detach(third);
}

/* The reader stops while any client on the session is slow. */
static void test_pause(struct upstream_session *us)
{
    struct exchange *a = fresh(0, "1"), *b = fresh(1, "2");
    tr_request(us, a);
    tr_request(us, b);
    CHECK(reading(us->in));
    upsess_pause(a);
    upsess_pause(a);   /* counted once */
    upsess_pause(b);
    CHECK(!reading(us->in) && us->paused == 2);
    upsess_resume(a);
    CHECK(!reading(us->in) && us->paused == 1);
    upsess_resume(a);  /* not paused any more: nothing */
    CHECK(us->paused == 1);
    upsess_detach(b);  /* a slow client that leaves is no longer slow */
    CHECK(reading(us->in) && us->paused == 0);
    upsess_detach(a);

    struct exchange *off = fresh(2, "3");
    upsess_pause(off);  /* on no session: nothing */
    CHECK(!off->upsess_paused && reading(us->in));
}

/* 400 without a session id, 404 for one that does not live; DELETE ends. */
static void test_forward(struct upstream_session *us)
{
    struct upstream_request post_req = {.head = &(struct http_head){.method = HTTP_POST}, .kind = RPC_NOTIFICATION};
    struct upstream_request del_req = {.head = &(struct http_head){.method = HTTP_DELETE}};

    struct exchange *no_id = fresh(0, NULL);
    upsess_forward(no_id, &post_req, 0, "bye");
    CHECK(told[0].status == 400 && told[0].code == RPC_INVALID_REQUEST);
    struct exchange *del_no_id = fresh(1, NULL);
    upsess_forward(del_no_id, &del_req, 0, "bye");
    CHECK(told[1].status == 404);
    struct exchange *unknown = fresh(2, NULL);
    snprintf(unknown->session, sizeof unknown->session, "%s", "0123456789abcdef0123456789abcdef");
    upsess_forward(unknown, &post_req, 0, "bye");
    CHECK(told[2].status == 404);

    /* A notification: delivered, then 202; not delivered: the transport answered. */
    struct exchange *note = fresh(3, NULL);
    snprintf(note->session, sizeof note->session, "%s", us->id);
    tr.message_ok = true;
    upsess_forward(note, &post_req, 0, "bye");
    CHECK(tr.messages == 1 && told[3].status == 202);
    struct exchange *refused = fresh(4, NULL);
    snprintf(refused->session, sizeof refused->session, "%s", us->id);
    tr.message_ok = false;
    upsess_forward(refused, &post_req, 0, "bye");
    CHECK(tr.messages == 2 && told[4].status == 0);

    /* A request goes to the transport, which makes it wait. */
    struct upstream_request call = {.head = &(struct http_head){.method = HTTP_POST}, .kind = RPC_REQUEST};
    struct exchange *req = fresh(5, "7");
    snprintf(req->session, sizeof req->session, "%s", us->id);
    upsess_forward(req, &call, 0, "bye");
    CHECK(tr.requests > 0 && req->upsess == us);
    upsess_detach(req);
}

/* A session that ends with requests in flight fails them, ends its stream,
 * and waits on server->ended for its transport to free it. */
static void test_end(struct upstream_session *us)
{
    struct exchange *a = fresh(0, "1"), *b = fresh(1, "2");
    tr_request(us, a);
    tr_request(us, b);
    upsess_pause(a);
    struct upstream_request get_req = {.head = &(struct http_head){.method = HTTP_GET}};
    struct exchange *get = fresh(2, NULL);
    snprintf(get->session, sizeof get->session, "%s", us->id);
    upsess_forward(get, &get_req, 0, "bye");
    CHECK(us->stream == get);
    bufferevent_disable(us->in, EV_READ);   /* the transport stops reading first */

    struct upstream_request del_req = {.head = &(struct http_head){.method = HTTP_DELETE}};
    struct exchange *del = fresh(3, NULL);
    snprintf(del->session, sizeof del->session, "%s", us->id);
    upsess_forward(del, &del_req, 0, "ended by the client");
    CHECK(told[3].status == 200);
    CHECK(tr.ends == 1 && tr.end_kind == UPSTREAM_RESET && strcmp(tr.end_why, "ended by the client") == 0);
    CHECK(us->ending);
    CHECK(told[0].failed == 1 && told[0].kind == UPSTREAM_RESET);
    CHECK_STR(told[0].text, "ended by the client");
    CHECK(told[1].failed == 1 && told[0].ended == 0);
    CHECK(told[2].failed == 0 && told[2].ended == 1);   /* the stream ends, it does not fail */
    CHECK(a->upsess == NULL && b->upsess == NULL && get->upsess == NULL);
    CHECK(TAILQ_EMPTY(&us->pending) && us->stream == NULL);
    CHECK(!reading(us->in));                /* an ended session is not read again */
    CHECK(!evtimer_pending(tr.timer, NULL)); /* nor given an idle clock */
    CHECK(server.nsessions == 0 && TAILQ_EMPTY(&server.sessions) && TAILQ_FIRST(&server.ended) == us);
    CHECK(upsess_find(&server, us->id) == NULL);

    /* Once only. */
    upsess_end(us, UPSTREAM_INTERNAL, "again");
    CHECK(told[0].failed == 1 && TAILQ_FIRST(&server.ended) == us && TAILQ_NEXT(us, link) == NULL);
}

int main(void)
{
    struct event_base *base = event_base_new();
    struct bufferevent *pair[2];
    CHECK(base && bufferevent_pair_new(base, 0, pair) == 0);
    bufferevent_enable(pair[0], EV_READ);
    tr.timer = evtimer_new(base, on_timer, NULL);
    TAILQ_INIT(&server.sessions);
    TAILQ_INIT(&server.ended);

    test_make_id();

    char id[33];
    CHECK(upsess_make_id(id) == 0);
    struct upstream_session us = {0}, anon = {0};
    CHECK(upsess_init(&us, &server, NULL, &tr_ops, id, pair[0], 18) == 0);
    upsess_add(&us);
    CHECK(upsess_init(&anon, &server, NULL, &tr_ops, "", pair[0], 18) == 0);
    anon.anonymous = true;
    upsess_add(&anon);
    CHECK(server.nsessions == 2);
    CHECK(upsess_find(&server, id) == &us);
    CHECK(upsess_find(&server, "") == NULL);   /* an anonymous session cannot be named */

    /* An anonymous session's streams name no session. */
    struct exchange *modern = fresh(0, "1");
    tr_request(&anon, modern);
    CHECK_STR(told[0].started_id, "-");
    upsess_detach(modern);
    TAILQ_REMOVE(&server.sessions, &anon, link);
    server.nsessions--;
    upsess_clear(&anon);

    test_ids(&us);
    test_stream(&us);
    test_pause(&us);
    test_forward(&us);
    test_end(&us);

    upsess_clear(&us);
    CHECK(us.backlog == NULL);
    upsess_clear(&us);   /* clearing twice is harmless */
    event_free(tr.timer);
    bufferevent_free(pair[0]);
    bufferevent_free(pair[1]);
    event_base_free(base);
    return check_report();
}
