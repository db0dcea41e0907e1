/* The approval store: the digest binds principal, server, tool and the
 * canonical arguments; an identical call attaches; a grant is consumed
 * exactly once even when threads race for it; expiry; the budget; scope tool;
 * the requester cannot approve itself. Times are given, never waited for. */
#include "../../src/approval.c"

#include <event2/thread.h>
#include "check.h"

static int events_seen;
static void on_event(void *arg, const char *event, const struct approval_view *v)
{
    (void)arg, (void)v;
    if (strcmp(event, "approval_expired") == 0)
        events_seen++;
}

static void woken(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    ++*(int *)arg;
}

static cJSON *args_of(const char *json)
{
    return cJSON_Parse(json);
}

static struct approval_call call_of(const char *principal, const char *tool, const cJSON *args)
{
    return (struct approval_call){.principal = principal,
                                  .server = "registry",
                                  .tool = tool,
                                  .args = args,
                                  .rule = "p.json:/tools/x",
                                  .reason = "needs a person",
                                  .generation = 1,
                                  .opts = APPROVAL_OPTS_DEFAULT};
}

struct racer {
    struct approval_store *s;
    const struct approval_call *c;
    int granted;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct approval_answer a;
    for (int i = 0; i < 50; i++) {
        approval_store_call(r->s, r->c, 1100, &a);
        if (a.outcome == APPROVAL_GRANTED)
            r->granted++;
    }
    return NULL;
}

int main(void)
{
    CHECK(evthread_use_pthreads() == 0);
    struct approval_store *s = approval_store_new(NULL, on_event, NULL);
    CHECK(s != NULL);

    /* Canonical JSON: key order and spacing do not matter, values do. */
    cJSON *a1 = args_of("{\"b\": [1, 2.5, {\"y\":1,\"x\":null}], \"a\": \"x\"}");
    cJSON *a2 = args_of("{\"a\":\"x\",\"b\":[1,2.5,{\"x\":null,\"y\":1}]}");
    cJSON *a3 = args_of("{\"a\":\"y\",\"b\":[1,2.5,{\"x\":null,\"y\":1}]}");
    struct evbuffer *b = evbuffer_new();
    CHECK(approval_canonical_json(a1, b) == 0);
    evbuffer_add(b, "", 1);
    CHECK_STR((const char *)evbuffer_pullup(b, -1), "{\"a\":\"x\",\"b\":[1,2.5,{\"x\":null,\"y\":1}]}");
    evbuffer_free(b);

    struct approval_call c1 = call_of("alice-agent", "delete", a1);
    struct approval_answer r1, r2, r3;
    approval_store_call(s, &c1, 1000, &r1);
    CHECK(r1.outcome == APPROVAL_NEW);
    CHECK(strncmp(r1.id, "apr_", 4) == 0 && strlen(r1.id) == APPROVAL_ID_LEN);
    CHECK(r1.expires == 1900);
    /* The same call, keys in another order: the same record. */
    struct approval_call c2 = call_of("alice-agent", "delete", a2);
    approval_store_call(s, &c2, 1001, &r2);
    CHECK(r2.outcome == APPROVAL_ATTACHED);
    CHECK_STR(r2.id, r1.id);
    /* A changed argument, another principal, another tool: new records. */
    struct approval_call c3 = call_of("alice-agent", "delete", a3);
    approval_store_call(s, &c3, 1001, &r3);
    CHECK(r3.outcome == APPROVAL_NEW && strcmp(r3.id, r1.id) != 0);
    struct approval_call c4 = call_of("bob-agent", "delete", a1);
    approval_store_call(s, &c4, 1001, &r3);
    CHECK(r3.outcome == APPROVAL_NEW && strcmp(r3.id, r1.id) != 0);
    struct approval_call c5 = call_of("alice-agent", "drop", a1);
    approval_store_call(s, &c5, 1001, &r3);
    CHECK(r3.outcome == APPROVAL_NEW && strcmp(r3.id, r1.id) != 0);

    /* The requester cannot approve itself; others can, once. */
    CHECK(approval_store_decide(s, r1.id, "alice-agent", true, "", 1002) == APPROVAL_SELF);
    CHECK(approval_store_decide(s, "apr_nope", "bob", true, "", 1002) == APPROVAL_NOT_FOUND);
    CHECK(approval_store_decide(s, r1.id, "bob", true, "fine", 1002) == APPROVAL_DECIDED);
    CHECK(approval_store_decide(s, r1.id, "carol", false, "no", 1003) == APPROVAL_NOT_PENDING);

    /* Consumed exactly once, even by threads racing for it. */
    struct racer racers[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        racers[i] = (struct racer){s, &c1, 0};
        CHECK(pthread_create(&th[i], NULL, race, &racers[i]) == 0);
    }
    int granted = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        granted += racers[i].granted;
    }
    CHECK(granted == 1);
    /* After it was consumed (and one racer opened a new request), the same call waits again. */
    approval_store_call(s, &c1, 1100, &r2);
    CHECK(r2.outcome == APPROVAL_ATTACHED && strcmp(r2.id, r1.id) != 0);

    /* Denied: the call hears who and why. */
    struct approval_answer d;
    approval_store_call(s, &c3, 1200, &d);
    CHECK(d.outcome == APPROVAL_ATTACHED);
    CHECK(approval_store_decide(s, d.id, "carol", false, "not during the freeze", 1201) == APPROVAL_DECIDED);
    approval_store_call(s, &c3, 1202, &d);
    CHECK(d.outcome == APPROVAL_REFUSED);
    CHECK_STR(d.decided_by, "carol");
    CHECK_STR(d.decision_reason, "not during the freeze");

    /* Expiry: a pending request cannot be approved after its ttl. */
    struct approval_answer e;
    approval_store_call(s, &c4, 1300, &e);
    CHECK(e.outcome == APPROVAL_ATTACHED);
    events_seen = 0;
    CHECK(approval_store_decide(s, e.id, "carol", true, "", 1001 + 900) == APPROVAL_NOT_PENDING);
    CHECK(events_seen == 1);
    /* An approved grant unused past grant_ttl expires too. */
    approval_store_call(s, &c5, 1950, &e);
    CHECK(e.outcome == APPROVAL_NEW);
    CHECK(approval_store_decide(s, e.id, "carol", true, "", 1951) == APPROVAL_DECIDED);
    approval_store_call(s, &c5, 1951 + 601, &e);
    CHECK(e.outcome == APPROVAL_NEW);

    /* Waiters are woken by the decision (the event made active). */
    struct event_base *base = event_base_new();
    struct approval_waiter w = {0};
    int fired = 0;
    w.wake = event_new(base, -1, 0, woken, &fired);
    CHECK(approval_store_wait(s, e.id, &w) == 0);
    CHECK(approval_store_decide(s, e.id, "carol", true, "", 2600) == APPROVAL_DECIDED);
    CHECK(w.rec == NULL);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK(fired == 1);
    CHECK(approval_store_wait(s, e.id, &w) == -1); /* no longer pending */
    approval_store_unwait(s, &w);
    event_free(w.wake);
    event_base_free(base);

    /* Scope tool: one approval covers every call of that tool by that principal. */
    struct approval_call t1 = call_of("dave", "deploy", a1);
    t1.opts.scope = APPROVAL_SCOPE_TOOL;
    approval_store_call(s, &t1, 3000, &e);
    CHECK(e.outcome == APPROVAL_NEW);
    CHECK(approval_store_decide(s, e.id, "carol", true, "", 3001) == APPROVAL_DECIDED);
    struct approval_call t2 = call_of("dave", "deploy", a3);
    t2.opts.scope = APPROVAL_SCOPE_TOOL;
    approval_store_call(s, &t2, 3002, &e);
    CHECK(e.outcome == APPROVAL_GRANTED);
    approval_store_call(s, &t1, 3003, &e);
    CHECK(e.outcome == APPROVAL_GRANTED);
    approval_store_call(s, &t1, 3001 + 600, &e);
    CHECK(e.outcome == APPROVAL_NEW);
    /* Another principal is not covered. */
    struct approval_call t3 = call_of("erin", "deploy", a1);
    t3.opts.scope = APPROVAL_SCOPE_TOOL;
    approval_store_call(s, &t3, 3002, &e);
    CHECK(e.outcome == APPROVAL_NEW);
    approval_store_free(s);

    /* The budget: when full of pending records a new request is refused;
     * records that ended make room. */
    struct approval_limits lim = {.max_records = 2, .max_bytes = 1 << 20};
    s = approval_store_new(&lim, NULL, NULL);
    approval_store_call(s, &c1, 10, &r1);
    approval_store_call(s, &c3, 10, &r2);
    CHECK(r1.outcome == APPROVAL_NEW && r2.outcome == APPROVAL_NEW);
    approval_store_call(s, &c4, 10, &r3);
    CHECK(r3.outcome == APPROVAL_FULL);
    CHECK(approval_store_decide(s, r1.id, "bob", false, "", 11) == APPROVAL_DECIDED);
    approval_store_call(s, &c4, 12, &r3);
    CHECK(r3.outcome == APPROVAL_NEW);
    struct evbuffer *m = evbuffer_new();
    approval_store_metrics(s, m);
    evbuffer_add(m, "", 1);
    CHECK(
        strstr((const char *)evbuffer_pullup(m, -1), "warden_approvals_total{server=\"registry\",outcome=\"full\"} 1"));
    CHECK(strstr((const char *)evbuffer_pullup(m, -1), "warden_approvals_pending 2"));
    evbuffer_free(m);
    struct approval_limits tiny = {.max_records = 10, .max_bytes = 100};
    struct approval_store *t = approval_store_new(&tiny, NULL, NULL);
    approval_store_call(t, &c1, 10, &r1);
    CHECK(r1.outcome == APPROVAL_FULL);
    approval_store_free(t);
    approval_store_free(s);
    cJSON_Delete(a1);
    cJSON_Delete(a2);
    cJSON_Delete(a3);
    return check_report();
}
