/* Approval records in a real redis-server started here, seen by two states
 * as two wardens would see them: a call made on one, decided on the other,
 * the grant consumed exactly once across both; an identical call attaches;
 * a denial refuses; self-approval, unknown and decided ids; scope tool;
 * the bound on records; listing and showing; the decision published to a
 * subscriber; and Redis gone: every request fails closed. Fails (never
 * skips) when redis-server is missing. Waiting is bounded by a safety
 * deadline, never asserted on. */
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <hiredis/hiredis.h>

#include "../../src/approval_redis.h"
#include "check.h"
#include "test_redis.h"

static struct event_base *base;
static struct test_redis redis;

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void spin(void)
{
    struct timeval tick = {0, 10000};
    event_base_loopexit(base, &tick);
    event_base_dispatch(base);
}

/* Runs the loop until *flag or a safety deadline (30 s: a hang, not a slow machine). */
static bool run_until(const bool *flag)
{
    double deadline = wall() + 30;
    while (!*flag && wall() < deadline)
        spin();
    return *flag;
}

static bool ready(struct state *st)
{
    double deadline = wall() + 30;
    while (!state_ready(st) && wall() < deadline)
        spin();
    return state_ready(st);
}

/* One reply, read with the module's result functions during the callback. */
struct got {
    bool done;
    int kind; /* 0 call, 1 decide, 2 list, 3 show */
    struct approval_answer a;
    int result;
    const char *status;
    char text[4096];
    struct approval_view view; /* of a decision: valid during the callback only */
    char view_status[16];
};

static void on_reply(void *arg, const redisReply *r, const char *error)
{
    struct got *g = arg;
    g->done = true;
    struct evbuffer *b = evbuffer_new();
    switch (g->kind) {
    case 0: approval_redis_call_result(r, error, &g->a); break;
    case 1:
        g->result = approval_redis_decide_result(r, error);
        if (g->result == APPROVAL_DECIDED) {
            char status[16];
            CHECK(approval_redis_view(r, wall(), &g->view, status));
            snprintf(g->view_status, sizeof g->view_status, "%s", status);
            CHECK(approval_redis_show_result(r, error, wall(), b) == 1);
        }
        break;
    case 2: g->result = approval_redis_list_result(r, error, g->status, wall(), b) ? 1 : -1; break;
    default: g->result = approval_redis_show_result(r, error, wall(), b); break;
    }
    size_t len = evbuffer_get_length(b);
    snprintf(g->text, sizeof g->text, "%.*s", (int)len, (const char *)evbuffer_pullup(b, -1));
    evbuffer_free(b);
}

static struct approval_call call_of(const char *principal, const char *tool, cJSON *args, int scope)
{
    struct approval_call c = {.principal = principal,
                              .server = "fs",
                              .tool = tool,
                              .args = args,
                              .rule = "p.json:/rules/0",
                              .reason = "writes need a person",
                              .generation = 3,
                              .opts = APPROVAL_OPTS_DEFAULT};
    c.opts.scope = scope;
    return c;
}

static struct approval_answer do_call(struct state *st, const struct approval_call *c, size_t max)
{
    struct got g = {.kind = 0};
    CHECK(approval_redis_call(st, c, wall(), max, on_reply, &g) != NULL);
    CHECK(run_until(&g.done));
    return g.a;
}

static int do_decide(struct state *st, const char *id, const char *who, bool approve)
{
    struct got g = {.kind = 1};
    CHECK(approval_redis_decide(st, id, who, approve, "looked at it", wall(), on_reply, &g) != NULL);
    CHECK(run_until(&g.done));
    return g.result;
}

struct heard {
    int resubscribed, messages;
    char last[64];
};

static void on_heard(void *arg, const char *msg, size_t len)
{
    struct heard *h = arg;
    if (!msg) {
        h->resubscribed++;
        return;
    }
    h->messages++;
    snprintf(h->last, sizeof h->last, "%.*s", (int)len, msg);
}

static void test_across(struct state *a, struct state *b)
{
    struct heard h = {0};
    char chan[128];
    approval_redis_channel(a, chan, sizeof chan);
    CHECK_STR(chan, "t:apr:decided");
    CHECK(state_subscribe(a, chan, on_heard, &h) == 0);
    for (int i = 0; i < 3000 && !h.resubscribed; i++)
        spin();
    CHECK(h.resubscribed > 0);

    cJSON *args = cJSON_Parse("{\"path\":\"/tmp/x\",\"mode\":1}");
    cJSON *same = cJSON_Parse("{\"mode\":1,\"path\":\"/tmp/x\"}");
    struct approval_call c = call_of("alice", "write", args, APPROVAL_SCOPE_CALL);
    struct approval_answer first = do_call(a, &c, 100);
    CHECK(first.outcome == APPROVAL_NEW && strncmp(first.id, "apr_", 4) == 0);
    CHECK(first.expires > wall() + 800);
    /* The same call (keys in another order) on the other warden: the same record. */
    struct approval_call c2 = call_of("alice", "write", same, APPROVAL_SCOPE_CALL);
    struct approval_answer again = do_call(b, &c2, 100);
    CHECK(again.outcome == APPROVAL_ATTACHED);
    CHECK_STR(again.id, first.id);

    CHECK(do_decide(b, first.id, "alice", true) == APPROVAL_SELF);
    CHECK(do_decide(b, "apr_nope", "bob", true) == APPROVAL_NOT_FOUND);
    CHECK(do_decide(b, "apr_aaaaaaaaaaaaaaaaaaaaaaaaaa", "bob", true) == APPROVAL_NOT_FOUND);
    struct got dg = {.kind = 1};
    CHECK(approval_redis_decide(b, first.id, "bob", true, "looked at it", wall(), on_reply, &dg) != NULL);
    CHECK(run_until(&dg.done) && dg.result == APPROVAL_DECIDED);
    /* The reply is the record as decided, whatever happens to it next. */
    CHECK_STR(dg.view_status, "approved");
    CHECK(strstr(dg.text, "\"status\":\"approved\"") != NULL && strstr(dg.text, first.id) != NULL);
    CHECK(do_decide(a, first.id, "carol", false) == APPROVAL_NOT_PENDING);
    /* The holder on a hears of it. */
    for (int i = 0; i < 3000 && !h.messages; i++)
        spin();
    CHECK(h.messages == 1);
    CHECK_STR(h.last, first.id);

    /* Both wardens ask at once: exactly one gets the grant. */
    struct got ga = {.kind = 0}, gb = {.kind = 0};
    CHECK(approval_redis_call(a, &c, wall(), 100, on_reply, &ga) != NULL);
    CHECK(approval_redis_call(b, &c2, wall(), 100, on_reply, &gb) != NULL);
    CHECK(run_until(&ga.done) && run_until(&gb.done));
    int granted = (ga.a.outcome == APPROVAL_GRANTED) + (gb.a.outcome == APPROVAL_GRANTED);
    CHECK(granted == 1);
    CHECK(ga.a.outcome == APPROVAL_NEW || gb.a.outcome == APPROVAL_NEW);
    const struct approval_answer *g1 = ga.a.outcome == APPROVAL_GRANTED ? &ga.a : &gb.a;
    const struct approval_answer *n1 = ga.a.outcome == APPROVAL_NEW ? &ga.a : &gb.a;
    CHECK_STR(g1->id, first.id);
    CHECK_STR(g1->decided_by, "bob");
    CHECK(strcmp(n1->id, first.id) != 0);

    /* Show and list, on either warden. */
    struct got s = {.kind = 3};
    CHECK(approval_redis_show(b, first.id, on_reply, &s) != NULL);
    CHECK(run_until(&s.done) && s.result == 1);
    CHECK(strstr(s.text, "\"status\":\"consumed\"") != NULL);
    CHECK(strstr(s.text, "\"arguments\":{\"mode\":1,\"path\":\"/tmp/x\"}") != NULL);
    CHECK(strstr(s.text, "\"decided_by\":\"bob\"") != NULL);
    CHECK(strstr(s.text, "\"policy_generation\":3") != NULL);
    s = (struct got){.kind = 3};
    CHECK(approval_redis_show(b, "apr_aaaaaaaaaaaaaaaaaaaaaaaaaa", on_reply, &s) != NULL);
    CHECK(run_until(&s.done) && s.result == 0);
    struct got l = {.kind = 2, .status = "pending"};
    CHECK(approval_redis_list(a, wall(), 100, on_reply, &l) != NULL);
    CHECK(run_until(&l.done) && l.result == 1);
    CHECK(strncmp(l.text, "{\"approvals\":[{", 15) == 0 && strstr(l.text, n1->id) && !strstr(l.text, first.id));

    /* A denial refuses the identical call, with the approver's reason. */
    CHECK(do_decide(a, n1->id, "bob", false) == APPROVAL_DECIDED);
    struct approval_answer refused = do_call(b, &c, 100);
    CHECK(refused.outcome == APPROVAL_REFUSED);
    CHECK_STR(refused.decision_reason, "looked at it");
    cJSON_Delete(args);
    cJSON_Delete(same);
}

static void test_scope_tool_and_full(struct state *a, struct state *b)
{
    cJSON *one = cJSON_Parse("{\"q\":1}"), *two = cJSON_Parse("{\"q\":2}");
    struct approval_call c1 = call_of("dave", "search", one, APPROVAL_SCOPE_TOOL);
    struct approval_call c2 = call_of("dave", "search", two, APPROVAL_SCOPE_TOOL);
    struct approval_answer r = do_call(a, &c1, 100);
    CHECK(r.outcome == APPROVAL_NEW);
    CHECK(do_decide(b, r.id, "erin", true) == APPROVAL_DECIDED);
    /* A tool-wide grant: other arguments pass too, again and again, until grant_ttl. */
    CHECK(do_call(b, &c2, 100).outcome == APPROVAL_GRANTED);
    CHECK(do_call(a, &c2, 100).outcome == APPROVAL_GRANTED);
    /* Full: a new request is refused, never a pending one evicted. */
    struct approval_call c3 = call_of("frank", "write", one, APPROVAL_SCOPE_CALL);
    CHECK(do_call(a, &c3, 1).outcome == APPROVAL_FULL);
    cJSON_Delete(one);
    cJSON_Delete(two);
}

struct told {
    int n;
    char event[32];
};

static void on_told(void *arg, const char *event, const struct approval_view *v)
{
    struct told *t = arg;
    t->n++;
    snprintf(t->event, sizeof t->event, "%s", event);
    CHECK_STR(v->server, "fs");
}

/* Records kept in Redis are counted and told by the local store of the warden that saw them. */
static void test_tell(void)
{
    struct told t = {0};
    struct approval_store *s = approval_store_new(NULL, on_told, &t);
    CHECK(s != NULL);
    struct approval_view v = {.id = "apr_x",
                              .principal = "alice",
                              .server = "fs",
                              .tool = "write",
                              .args_json = "{}",
                              .rule = "r",
                              .reason = "why",
                              .status = "approved",
                              .decided_by = "bob",
                              .decision_reason = "",
                              .scope = "call"};
    approval_store_tell(s, "approval_decided", &v);
    CHECK(t.n == 1);
    CHECK_STR(t.event, "approval_decided");
    struct evbuffer *out = evbuffer_new();
    approval_store_metrics(s, out);
    size_t len = evbuffer_get_length(out);
    const char *text = (const char *)evbuffer_pullup(out, -1);
    CHECK(text && memmem(text, len, "server=\"fs\",outcome=\"approved\"} 1", 33) != NULL);
    evbuffer_free(out);
    approval_store_free(s);
}

static void test_closed(struct state *a)
{
    test_redis_stop(&redis);
    for (int i = 0; i < 3000 && state_ready(a); i++)
        spin();
    CHECK(!state_ready(a));
    struct approval_call c = call_of("alice", "write", NULL, APPROVAL_SCOPE_CALL);
    struct got g = {.kind = 0};
    CHECK(approval_redis_call(a, &c, wall(), 100, on_reply, &g) == NULL);
    CHECK(approval_redis_decide(a, "apr_aaaaaaaaaaaaaaaaaaaaaaaaaa", "bob", true, "", wall(), on_reply, &g) == NULL);
    CHECK(approval_redis_list(a, wall(), 100, on_reply, &g) == NULL);
    /* And a reply that is no answer reads as failed. */
    struct approval_answer out;
    approval_redis_call_result(NULL, "connection lost", &out);
    CHECK(out.outcome == APPROVAL_FAILED);
    CHECK(approval_redis_decide_result(NULL, "timeout") == -1);
}

int main(void)
{
    if (!test_redis_available())
        return 1;
    redis.port = test_redis_free_port();
    CHECK(redis.port > 0 && test_redis_start(&redis));
    base = event_base_new();
    struct state_health *h = state_health_new();
    char url[64], err[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", redis.port);
    struct state_conf conf = {.redis = url, .key_prefix = "t:", .timeout_ms = 5000, .instances = 1};
    struct state *a = state_new(base, &conf, h, err, sizeof err);
    struct state *b = state_new(base, &conf, h, err, sizeof err);
    CHECK(a && b);
    if (a && b && ready(a) && ready(b)) {
        test_across(a, b);
        test_scope_tool_and_full(a, b);
        test_closed(a);
        test_tell();
    } else {
        CHECK(!"redis-server did not come up");
        test_redis_stop(&redis);
    }
    state_free(a);
    state_free(b);
    state_health_free(h);
    event_base_free(base);
    return check_report();
}
