/* MCP's own channels for approvals (approval_elicit.c): the 2026-07-28
 * requestState (signed, bound to the call, expiring; anything altered is
 * forged) and the 2025-11-25 notice that reaches every worker when a watched
 * approval is decided. */
#include "../../src/approval_elicit.c"

#include <stdio.h>
#include "check.h"

struct told {
    int n;
    char session[64];
    char id[APPROVAL_ID_LEN + 1];
};

static void deliver(void *arg, const char *session, size_t len, const char *id)
{
    struct told *t = arg;
    t->n++;
    snprintf(t->session, sizeof t->session, "%.*s", (int)len, session);
    snprintf(t->id, sizeof t->id, "%s", id);
}

static void states(struct elicit_sessions *s)
{
    cJSON *args = cJSON_Parse("{\"b\":2,\"a\":[1,\"x\"]}");
    cJSON *same = cJSON_Parse("{\"a\":[1,\"x\"],\"b\":2}");
    cJSON *changed = cJSON_Parse("{\"a\":[1,\"y\"],\"b\":2}");
    unsigned char d[SHA256_BYTES], d_same[SHA256_BYTES], d_changed[SHA256_BYTES], d_other[SHA256_BYTES];
    CHECK(elicit_call_digest("alice", "registry", "delete", args, d) == 0);
    CHECK(elicit_call_digest("alice", "registry", "delete", same, d_same) == 0);
    CHECK(elicit_call_digest("alice", "registry", "delete", changed, d_changed) == 0);
    CHECK(elicit_call_digest("mallory", "registry", "delete", args, d_other) == 0);
    CHECK(memcmp(d, d_same, SHA256_BYTES) == 0);      /* key order does not matter */
    CHECK(memcmp(d, d_changed, SHA256_BYTES) != 0);
    CHECK(memcmp(d, d_other, SHA256_BYTES) != 0);

    const char *apr = "apr_abcdefghijklmnopqrstuvwxyz";
    CHECK(strlen(apr) == APPROVAL_ID_LEN);
    char st[ELICIT_STATE_MAX], id[APPROVAL_ID_LEN + 1] = "";
    elicit_state_sign(s, apr, 2000, d, st);
    CHECK(strncmp(st, "wd1.apr_", 8) == 0);
    CHECK(elicit_state_verify(s, st, strlen(st), d_same, 1999, id) == ELICIT_STATE_VALID);
    CHECK_STR(id, apr);
    /* Past its expiry; another call; another principal. */
    CHECK(elicit_state_verify(s, st, strlen(st), d, 2000, id) == ELICIT_STATE_EXPIRED);
    CHECK(elicit_state_verify(s, st, strlen(st), d_changed, 1000, id) == ELICIT_STATE_FORGED);
    CHECK(elicit_state_verify(s, st, strlen(st), d_other, 1000, id) == ELICIT_STATE_FORGED);
    /* Every byte changed, in turn, is forged (or, for the prefix, not warden's). */
    size_t len = strlen(st);
    for (size_t i = 0; i < len; i++) {
        char t[ELICIT_STATE_MAX];
        memcpy(t, st, len + 1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        enum elicit_state_check r = elicit_state_verify(s, t, len, d, 1000, id);
        CHECK(r == (i < 4 ? ELICIT_STATE_FOREIGN : ELICIT_STATE_FORGED));
    }
    /* A later expiry written in with the old mac; truncated; extended. */
    char later[ELICIT_STATE_MAX];
    snprintf(later, sizeof later, "wd1.%s.9999%s", apr, strchr(st + 4 + APPROVAL_ID_LEN + 1, '.'));
    CHECK(elicit_state_verify(s, later, strlen(later), d, 1000, id) == ELICIT_STATE_FORGED);
    CHECK(elicit_state_verify(s, st, len - 1, d, 1000, id) == ELICIT_STATE_FORGED);
    char longer[ELICIT_STATE_MAX + 1];
    snprintf(longer, sizeof longer, "%sA", st);
    CHECK(elicit_state_verify(s, longer, len + 1, d, 1000, id) == ELICIT_STATE_FORGED);
    CHECK(elicit_state_verify(s, "wd1.", 4, d, 1000, id) == ELICIT_STATE_FORGED);
    CHECK(elicit_state_verify(s, "upstream-state", 14, d, 1000, id) == ELICIT_STATE_FOREIGN);
    /* Another process (another key) made it: forged here. */
    struct elicit_sessions *other = elicit_sessions_new(1);
    CHECK(other != NULL);
    CHECK(elicit_state_verify(other, st, len, d, 1000, id) == ELICIT_STATE_FORGED);
    elicit_sessions_free(other);
    cJSON_Delete(args);
    cJSON_Delete(same);
    cJSON_Delete(changed);
}

static void capabilities(void)
{
    cJSON *yes = cJSON_Parse("{\"_meta\":{\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{\"url\":{}}}}}");
    cJSON *form = cJSON_Parse("{\"_meta\":{\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{}}}}");
    cJSON *none = cJSON_Parse("{\"_meta\":{}}");
    CHECK(elicit_modern_wanted(yes));
    CHECK(!elicit_modern_wanted(form));
    CHECK(!elicit_modern_wanted(none));
    CHECK(!elicit_modern_wanted(NULL));
    cJSON_Delete(yes);
    cJSON_Delete(form);
    cJSON_Delete(none);
}

/* Two workers on one loop each: worker 0 watches, a decision reaches both. */
static void notices(void)
{
    struct elicit_sessions *s = elicit_sessions_new(2);
    struct event_base *b0 = event_base_new(), *b1 = event_base_new();
    struct approval_store *store = approval_store_new(NULL, NULL, NULL);
    CHECK(s && b0 && b1 && store);
    struct told t0 = {0}, t1 = {0};
    CHECK(elicit_sessions_attach(s, 0, b0, deliver, &t0) == 0);
    CHECK(elicit_sessions_attach(s, 1, b1, deliver, &t1) == 0);
    CHECK(elicit_sessions_attach(s, 1, b1, deliver, &t1) == -1); /* once */
    CHECK(elicit_sessions_attach(s, 2, b1, deliver, &t1) == -1);

    cJSON *args = cJSON_Parse("{}");
    struct approval_call c = {.principal = "agent", .server = "registry", .tool = "delete", .args = args,
                              .rule = "r", .reason = "why", .opts = APPROVAL_OPTS_DEFAULT};
    struct approval_answer a;
    approval_store_call(store, &c, 1000, &a);
    CHECK(a.outcome == APPROVAL_NEW);
    elicit_sessions_watch(s, 0, store, "sess-1", 6, a.id);
    elicit_sessions_watch(s, 0, store, "sess-1", 6, a.id); /* the retry: still one watch */
    CHECK(s->posts[0].nwatches == 1);
    event_base_loop(b0, EVLOOP_NONBLOCK);
    event_base_loop(b1, EVLOOP_NONBLOCK);
    CHECK(t0.n == 0 && t1.n == 0); /* nothing decided yet */

    CHECK(approval_store_decide(store, a.id, "alice", true, "", 1001) == APPROVAL_DECIDED);
    event_base_loop(b0, EVLOOP_NONBLOCK); /* the watch fires and posts */
    event_base_loop(b0, EVLOOP_NONBLOCK); /* worker 0 delivers */
    event_base_loop(b1, EVLOOP_NONBLOCK); /* worker 1 delivers */
    CHECK(t0.n == 1 && t1.n == 1);
    CHECK_STR(t1.session, "sess-1");
    CHECK_STR(t1.id, a.id);
    CHECK(s->posts[0].nwatches == 0);

    /* Watching what was already decided tells at once. */
    elicit_sessions_watch(s, 0, store, "sess-2", 6, a.id);
    event_base_loop(b0, EVLOOP_NONBLOCK);
    event_base_loop(b0, EVLOOP_NONBLOCK);
    CHECK(t0.n == 2);
    CHECK_STR(t0.session, "sess-2");

    /* Bounds: the oldest watch goes; undelivered notices stop at the cap. */
    approval_store_call(store, &(struct approval_call){.principal = "agent", .server = "registry", .tool = "drop",
                                                       .args = args, .rule = "r", .reason = "why",
                                                       .opts = APPROVAL_OPTS_DEFAULT},
                        1002, &a);
    char sid[32];
    for (int i = 0; i < ELICIT_MAX_WATCHES + 5; i++) {
        int n = snprintf(sid, sizeof sid, "w%d", i);
        elicit_sessions_watch(s, 0, store, sid, (size_t)n, a.id);
    }
    CHECK(s->posts[0].nwatches == ELICIT_MAX_WATCHES);
    CHECK(strcmp(s->posts[0].oldest->session, "w5") == 0);
    for (int i = 0; i < ELICIT_MAX_NOTICES + 3; i++)
        post_all(s, "x", 1, a.id);
    CHECK(s->posts[1].ninbox == ELICIT_MAX_NOTICES);
    /* Freed with watches and notices outstanding (ASan: nothing leaks). */
    elicit_sessions_free(s);
    approval_store_free(store);
    event_base_free(b0);
    event_base_free(b1);
    cJSON_Delete(args);
}

/* body stripped of params.requestState and params.inputResponses reads as want (spaces aside). */
static void strip_case(const char *body, const char *want)
{
    char buf[512];
    size_t len = strlen(body);
    memcpy(buf, body, len + 1);
    struct rpc_limits lim = {0};
    CHECK(elicit_strip_retry(buf, len, &lim) == 0);
    CHECK(strlen(buf) == len); /* the same length: the framing stays */
    cJSON *got = cJSON_Parse(buf), *exp = cJSON_Parse(want);
    CHECK(got && exp);
    char *g = cJSON_PrintUnformatted(got), *e = cJSON_PrintUnformatted(exp);
    CHECK_STR(g, e);
    free(g);
    free(e);
    cJSON_Delete(got);
    cJSON_Delete(exp);
}

static void strips(void)
{
    strip_case("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"requestState\":\"wd1.x\"}}",
               "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"}}");
    strip_case("{\"params\": {\"requestState\" : \"a,b\" , \"inputResponses\":{\"k\":{\"action\":\"accept\"}},\n"
               " \"name\":\"echo\", \"arguments\":{\"requestState\":1}}, \"id\":2}",
               "{\"params\":{\"name\":\"echo\",\"arguments\":{\"requestState\":1}},\"id\":2}");
    strip_case("{\"params\":{\"name\":\"echo\",\"inputResponses\":{},\"arguments\":{},\"requestState\":\"s\"}}",
               "{\"params\":{\"name\":\"echo\",\"arguments\":{}}}");
    strip_case("{\"params\":{\"requestState\":\"s\",\"inputResponses\":[]}}", "{\"params\":{}}");
    /* An escaped key is the same key to every reader. */
    strip_case("{\"params\":{\"name\":\"e\",\"request\\u0053tate\":\"s\"}}", "{\"params\":{\"name\":\"e\"}}");
    strip_case("{\"params\":{\"name\":\"e\"}}", "{\"params\":{\"name\":\"e\"}}");
}

int main(void)
{
    strips();
    struct elicit_sessions *s = elicit_sessions_new(1);
    CHECK(s != NULL);
    states(s);
    elicit_sessions_free(s);
    capabilities();
    notices();
    return check_report();
}
