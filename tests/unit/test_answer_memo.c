/* Unit tests of the notification memo (src/answer_memo.c): what it takes
 * for the same verdict as the last notification read whole (numbers alone
 * may differ, each still a JSON number as json_scan reads it), what it never
 * remembers, and that each text it matches is one answer_check passes. */
#include <stdlib.h>
#include <string.h>
#include "answer.h"
#include "answer_memo.h"
#include "check.h"

static const struct rpc_limits lim = {64, 4096, 4096};
static const char tmpl[] =
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":0,\"total\":1000}}";

/* What answer_check says of msg on a stream waiting for the answer to id 5. */
static bool passes_as_notification(const char *msg)
{
    struct answer_req req = {.id = "5", .id_len = 1, .limits = &lim};
    struct answer_result res;
    struct evbuffer *out = evbuffer_new();
    int rc = answer_check(&req, msg, strlen(msg), out, &res);
    evbuffer_free(out);
    return rc == 0 && res.verdict == ANSWER_PASS && !res.is_response && !res.answers_request && !res.is_error;
}

static bool matches(const struct answer_memo *m, const char *msg)
{
    bool same = answer_memo_matches(m, &lim, msg, strlen(msg));
    /* the memo's word is answer_check's verdict */
    if (same)
        CHECK(passes_as_notification(msg));
    return same;
}

/* A memo holding msg (which must pass as a notification). */
static struct answer_memo *memo_of(const char *msg)
{
    struct answer_memo *m = NULL;
    CHECK(passes_as_notification(msg));
    CHECK(answer_memo_keep(&m, &lim, msg, strlen(msg)) == 0 && m);
    return m;
}

int main(void)
{
    struct answer_memo *m = memo_of(tmpl);
    /* numbers may differ, in length and form */
    CHECK(matches(m, tmpl));
    CHECK(matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":17,\"progress\":999,\"total\":1000}}"));
    CHECK(matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":-1.5e3,\"progress\":0.25,\"total\":1E+2}}"));
    /* but only into JSON numbers, as json_scan reads them */
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":01,\"progress\":0,\"total\":1000}}"));
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1.,\"progress\":0,\"total\":1000}}"));
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1e,\"progress\":0,\"total\":1000}}"));
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":+1,\"progress\":0,\"total\":1000}}"));
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1-2,\"progress\":0,\"total\":1000}}"));
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"1\",\"progress\":0,\"total\":1000}}"));
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":true,\"progress\":0,\"total\":1000}}"));
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":,\"progress\":0,\"total\":1000}}"));
    /* anything else that differs: a key, a string, a space, more or less text, a second value */
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"Progress\":0,\"total\":1000}}"));
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progresz\",\"params\":{\"progressToken\":1,\"progress\":0,\"total\":1000}}"));
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":0,\"total\":1000} }"));
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":0,\"total\":1000}}{}"));
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":0,\"total\":1000}"));
    CHECK(!matches(m, ""));
    /* other limits: the verdict might differ */
    struct rpc_limits other = lim;
    other.max_depth = 1;
    CHECK(!answer_memo_matches(m, &other, tmpl, strlen(tmpl)));
    /* never remembered: a server's request (its id matters), a text with an escape, one too long or with too many numbers */
    static const char request[] = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}";
    CHECK(passes_as_notification(request)); /* so the memo must tell it by its id */
    CHECK(answer_memo_keep(&m, &lim, request, strlen(request)) == 0);
    CHECK(!matches(m, request));
    CHECK(!matches(m, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}"));
    CHECK(!matches(m, tmpl)); /* the memo forgot what it had */
    static const char escaped[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"a\\nb\",\"n\":1}}";
    CHECK(passes_as_notification(escaped));
    CHECK(answer_memo_keep(&m, &lim, escaped, strlen(escaped)) == 0);
    CHECK(!matches(m, escaped));
    char big[ANSWER_MEMO_MAX + 100];
    int n = snprintf(big, sizeof big, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"%0*d\"}}",
                     ANSWER_MEMO_MAX, 0);
    CHECK(n > ANSWER_MEMO_MAX && passes_as_notification(big));
    CHECK(answer_memo_keep(&m, &lim, big, strlen(big)) == 0);
    CHECK(!matches(m, big));
    char many[2048] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":{\"a\":[0";
    for (int i = 0; i < ANSWER_MEMO_NUMBERS; i++)
        strcat(many, ",1");
    strcat(many, "]}}");
    CHECK(passes_as_notification(many));
    CHECK(answer_memo_keep(&m, &lim, many, strlen(many)) == 0);
    CHECK(!matches(m, many));
    /* an "id" deeper down is no request's id: remembered */
    static const char deep_id[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":{\"id\":3}}";
    CHECK(passes_as_notification(deep_id));
    CHECK(answer_memo_keep(&m, &lim, deep_id, strlen(deep_id)) == 0);
    CHECK(matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":{\"id\":4}}"));
    /* and "id" as a value is no member */
    static const char id_value[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":[\"id\",1]}";
    CHECK(passes_as_notification(id_value));
    CHECK(answer_memo_keep(&m, &lim, id_value, strlen(id_value)) == 0);
    CHECK(matches(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":[\"id\",2]}"));
    answer_memo_free(m);
    CHECK(!answer_memo_matches(NULL, &lim, tmpl, strlen(tmpl)));
    return check_report();
}
