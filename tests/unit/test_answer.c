/* Unit tests of the upstream-answer reader (src/answer.c): what an upstream
 * server may send toward a client, read as the most lenient client would
 * (issue 11, class 2): duplicate and case-folded keys, unreadable text, ids
 * that only a lenient client matches, server requests reusing the id, second
 * answers, GET streams, and the byte-exact streaming filter. */
#include <stdlib.h>
#include <string.h>
#include "answer.h"
#include "check.h"
#include "jsonrpc.h"

/* Hides names that start with 'h' and the name "delete_run"; records what it saw. */
struct hider {
    size_t calls, seen;
    char names[512];
    bool fail;
};

static int hide(void *arg, const struct list_item *items, size_t n, bool *keep)
{
    struct hider *h = arg;
    h->calls++;
    h->seen = n;
    h->names[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(h->names);
        snprintf(h->names + used, sizeof h->names - used, "%s%.*s", i ? "," : "", (int)items[i].name_len, items[i].name);
        keep[i] = !(items[i].name_len && items[i].name[0] == 'h') &&
                  !(items[i].name_len == 10 && memcmp(items[i].name, "delete_run", 10) == 0);
    }
    return h->fail ? -1 : 0;
}

static struct hider hider;
static const struct list_filter filter = {hide, &hider};
static char out_text[8192];
static struct answer_result res;

/* For check with no id: the GET stream was resumed with Last-Event-ID. */
static bool replay;

/* Runs answer_check for a request with id `id` (NULL: GET stream). */
static enum answer_verdict check(const char *id, bool answered, bool filtered, const char *msg)
{
    struct answer_req req = {.id = id,
                             .id_len = id ? strlen(id) : 0,
                             .answered = answered,
                             .replay = replay,
                             .filter = filtered ? &filter : NULL};
    struct evbuffer *out = evbuffer_new();
    memset(&hider, 0, sizeof hider);
    int rc = answer_check(&req, msg, strlen(msg), out, &res);
    size_t n = evbuffer_get_length(out);
    if (n >= sizeof out_text)
        n = sizeof out_text - 1;
    evbuffer_remove(out, out_text, n);
    out_text[n] = '\0';
    evbuffer_free(out);
    CHECK(rc == 0);
    CHECK(res.verdict == ANSWER_REWRITE || n == 0);
    return res.verdict;
}

#define LIST(id, tools) "{\"jsonrpc\":\"2.0\",\"id\":" id ",\"result\":{\"tools\":" tools "}}"

static void test_shapes(void)
{
    CHECK(check("5", false, true, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}") == ANSWER_PASS);
    CHECK(res.is_response && res.answers_request && res.is_error == 0);
    CHECK(check("5", false, true, "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-1,\"message\":\"x\"}}") == ANSWER_PASS);
    CHECK(res.answers_request && res.is_error == 1);
    CHECK(check("5", false, false, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"content\":[],\"isError\":true}}") == ANSWER_PASS);
    CHECK(res.is_error == 1);
    CHECK(check("5", false, false, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"isError\":false}}") == ANSWER_PASS);
    CHECK(res.is_error == 0);
    CHECK(check("5", false, false, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"isError\":\"true\"}}") == ANSWER_PASS);
    CHECK(res.is_error == 0);
    /* a substring is not the member */
    CHECK(check("5", false, false, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"content\":[{\"type\":\"text\","
                                   "\"text\":\"\\\"isError\\\":true\",\"isError\":true}]}}") == ANSWER_PASS);
    CHECK(res.is_error == 0);
    /* notifications and server requests pass and answer nothing */
    CHECK(check("5", false, true, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}") == ANSWER_PASS);
    CHECK(!res.is_response && !res.answers_request);
    CHECK(check("5", false, true, "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"sampling/createMessage\"}") == ANSWER_PASS);
    CHECK(!res.answers_request);
    /* not one well-formed JSON-RPC message: FAIL while waiting, else DROP */
    const char *bad[] = {
        "{\"id\":5,\"result\":{}}",
        "{\"jsonrpc\":\"1.0\",\"id\":5,\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{},\"error\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"x\",\"result\":{\"tools\":[]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{},\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":true,\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":[5],\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"method\":7}",
        "[{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}]",
        "{\"jsonrpc\":\"2.0\",\"result\":{}}",
        "null",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}} {}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"s\":\"\\ud800\"}}",       /* lone surrogate */
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"s\":\"\xff\"}}",          /* not UTF-8 */
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"n\":01}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        enum answer_verdict v = check("5", false, true, bad[i]);
        if (v != ANSWER_FAIL)
            fprintf(stderr, "bad %zu: verdict %d (%s)\n", i, v, res.why ? res.why : "");
        CHECK(v == ANSWER_FAIL && res.answers_request && res.is_error == 1 && res.why);
        CHECK(check("5", true, true, bad[i]) == ANSWER_DROP && !res.answers_request);
        CHECK(check(NULL, false, true, bad[i]) == ANSWER_DROP);
    }
    CHECK(check("5", false, true, bad[14]) == ANSWER_FAIL && strstr(res.detail, "surrogate"));
    /* no message at all (an SSE priming event's empty data): nothing to forward, nothing answered */
    CHECK(check("5", false, true, "") == ANSWER_DROP && !res.answers_request);
    CHECK(check("5", false, true, " \r\n") == ANSWER_DROP);
}

static void test_duplicates_and_folds(void)
{
    const char *bad[] = {
        /* duplicate keys: clients read the last copy */
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[]},\"result\":{\"tools\":[{\"name\":\"hidden\"}]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[],\"tools\":[{\"name\":\"hidden\"}]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"id\":6,\"result\":{\"tools\":[{\"name\":\"hidden\"}]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[{\"name\":\"a\",\"name\":\"hidden\"}]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[],\"t\\u006fols\":[{\"name\":\"hidden\"}]}}",
        /* keys a case-insensitive client (Go) reads as the real ones */
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"Result\":{\"tools\":[{\"name\":\"hidden\"}]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[]},\"RESULT\":{\"tools\":[{\"name\":\"hidden\"}]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"Tools\":[{\"name\":\"hidden\"}]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tool\\u017f\":[{\"name\":\"hidden\"}]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[{\"Name\":\"hidden\"}]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[{\"name\":\"a\",\"NAME\":\"hidden\"}]}}",
        "{\"jsonrpc\":\"2.0\",\"Id\":5,\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"\\u0131sError\":true}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"isError\":false,\"ISERROR\":true}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[{\"name\":\"a\",\"inputSchema\":{\"\\u212a\":1,\"k\":2}}]}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        enum answer_verdict v = check("5", false, true, bad[i]);
        if (v != ANSWER_FAIL)
            fprintf(stderr, "dup %zu: verdict %d\n", i, v);
        CHECK(v == ANSWER_FAIL && res.answers_request);
        CHECK(check(NULL, false, true, bad[i]) == ANSWER_DROP);
    }
}

static void test_depth(void)
{
    size_t depth = 1100; /* past cJSON's 1000 and warden's 64 */
    char *msg = malloc(depth * 2 + 128);
    int n = sprintf(msg, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[{\"name\":\"hidden\"}],\"x\":");
    for (size_t i = 0; i < depth; i++)
        msg[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        msg[n++] = ']';
    strcpy(msg + n, "}}");
    CHECK(check("5", false, true, msg) == ANSWER_FAIL && strstr(res.detail, "nesting"));
    CHECK(check(NULL, false, true, msg) == ANSWER_DROP);
    free(msg);
}

static void test_ids(void)
{
    /* exact: the same number text, or the same string after escapes */
    CHECK(check("5", false, false, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}") == ANSWER_PASS && res.answers_request);
    CHECK(check("\"abc\"", false, false, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\u0062c\",\"result\":{}}") == ANSWER_PASS &&
          res.answers_request);
    /* the same to a client doing Number(id), not exactly: FAIL */
    const char *lenient[][2] = {
        {"5", "\"5\""}, {"5", "5.0"}, {"5", "5e0"}, {"5", "50e-1"}, {"5", "\" 5 \""}, {"5", "\"0x5\""},
        {"5", "\"+5\""}, {"5", "\"5.\""}, {"\"5\"", "5"}, {"\"0x10\"", "16"}, {"0", "null"}, {"0", "\"\""},
        {"0", "-0"}, {"123456789012345678901", "123456789012345678900"}, {"5", "\"\\u00a05\\u3000\""},
    };
    for (size_t i = 0; i < sizeof lenient / sizeof *lenient; i++) {
        char msg[256];
        snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"tools\":[{\"name\":\"hidden\"}]}}",
                 lenient[i][1]);
        enum answer_verdict v = check(lenient[i][0], false, true, msg);
        if (v != ANSWER_FAIL)
            fprintf(stderr, "lenient %zu (%s ~ %s): verdict %d\n", i, lenient[i][0], lenient[i][1], v);
        CHECK(v == ANSWER_FAIL && res.answers_request && res.is_error == 1);
        /* once answered, it is a second response */
        CHECK(check(lenient[i][0], true, true, msg) == ANSWER_DROP);
    }
    /* different to every client: another request's response, dropped from this stream */
    const char *other[][2] = {{"5", "6"}, {"5", "\"5x\""}, {"5", "null"}, {"\"a\"", "\"A\""}, {"5", "\"0x6\""},
                              {"9007199254740993", "9007199254740995"}};
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        char msg[256];
        snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}", other[i][1]);
        CHECK(check(other[i][0], false, true, msg) == ANSWER_DROP && !res.answers_request);
    }
    /* a server request that reuses the id before the answer */
    CHECK(check("5", false, true, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"roots/list\"}") == ANSWER_FAIL &&
          res.answers_request);
    CHECK(check("5", false, true, "{\"jsonrpc\":\"2.0\",\"id\":\"5\",\"method\":\"roots/list\"}") == ANSWER_FAIL);
    CHECK(check("5", true, true, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"roots/list\"}") == ANSWER_PASS);
    CHECK(check("5", false, true, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"roots/list\"}") == ANSWER_PASS);
    CHECK(check("5", false, true, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"roots/list\"}") == ANSWER_FAIL);
    /* a second response */
    CHECK(check("5", true, true, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}") == ANSWER_DROP && res.is_response);
    CHECK(check("5", true, true, LIST("5", "[{\"name\":\"hidden\"}]")) == ANSWER_DROP);
}

static void test_filter(void)
{
    /* whitespace everywhere; first, middle, last and all removed */
    const struct {
        const char *tools, *want;
    } cases[] = {
        {"[ {\"name\":\"a\"} , {\"name\":\"h1\"} , {\"name\":\"b\"} ]", "[ {\"name\":\"a\"} , {\"name\":\"b\"} ]"},
        {"[{\"name\":\"h1\"},{\"name\":\"a\"},{\"name\":\"b\"}]", "[{\"name\":\"a\"},{\"name\":\"b\"}]"},
        {"[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"h1\"}]", "[{\"name\":\"a\"},{\"name\":\"b\"}]"},
        {"[\n  {\"name\":\"h1\"},\n  {\"name\":\"h2\"}\n]", "[\n  \n]"},
        {"[{\"name\":\"h1\"}]", "[]"},
        {"[{\"name\":\"a\"},{\"name\":\"h1\"},{\"name\":\"h2\"},{\"name\":\"b\"}]", "[{\"name\":\"a\"},{\"name\":\"b\"}]"},
        {"[{\"name\":\"h1\"},{\"name\":\"a\"},{\"name\":\"h2\"}]", "[{\"name\":\"a\"}]"},
        {"[{\"name\":\"delete\\u005frun\"},{\"name\":\"a\"}]", "[{\"name\":\"a\"}]"},
        {"[{\"name\":\"\\u0068idden\"},{\"name\":\"a\"}]", "[{\"name\":\"a\"}]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char msg[512], want[512];
        snprintf(msg, sizeof msg, " { \"jsonrpc\" : \"2.0\" , \"id\" : 123456789012345678901 , \"result\" : "
                 "{ \"tools\" : %s , \"nextCursor\" : 1e400 } } ", cases[i].tools);
        snprintf(want, sizeof want, " { \"jsonrpc\" : \"2.0\" , \"id\" : 123456789012345678901 , \"result\" : "
                 "{ \"tools\" : %s , \"nextCursor\" : 1e400 } } ", cases[i].want);
        enum answer_verdict v = check("123456789012345678901", false, true, msg);
        CHECK(v == ANSWER_REWRITE && res.answers_request && res.is_error == 0);
        CHECK_STR(out_text, want);
        struct rpc_error e;
        CHECK(json_scan(out_text, strlen(out_text), NULL, NULL, 0, &e) == 0);
        CHECK(hider.calls == 1);
    }
    CHECK(check("1", false, true, LIST("1", "[{\"name\":\"delete\\u005frun\"},{\"name\":\"caf\\u00e9\"}]")) == ANSWER_REWRITE);
    CHECK_STR(hider.names, "delete_run,café");
    /* nothing removed: the original passes */
    CHECK(check("1", false, true, LIST("1", "[{\"name\":\"a\",\"description\":\"h\"}]")) == ANSWER_PASS);
    CHECK(hider.calls == 1 && hider.seen == 1);
    CHECK(check("1", false, true, LIST("1", "[]")) == ANSWER_PASS && hider.calls == 0);
    /* no filter: not examined */
    CHECK(check("1", false, false, LIST("1", "[{\"name\":\"hidden\"}]")) == ANSWER_PASS && hider.calls == 0);
    /* a list that cannot be filtered with certainty */
    const char *bad[] = {"null", "{}", "{\"name\":\"hidden\"}", "[1]", "[{\"name\":\"a\"},{}]", "[{\"name\":5}]",
                         "[{\"name\":null}]", "[[{\"name\":\"a\"}]]", "\"tools\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char msg[256];
        snprintf(msg, sizeof msg, LIST("1", "%s"), bad[i]);
        CHECK(check("1", false, true, msg) == ANSWER_FAIL && res.answers_request);
        CHECK(check(NULL, false, true, msg) == ANSWER_DROP);
    }
    /* the policy failed: nothing is shown */
    struct answer_req req = {.id = "1", .id_len = 1, .filter = &filter};
    struct evbuffer *out = evbuffer_new();
    memset(&hider, 0, sizeof hider);
    hider.fail = true;
    const char *msg = LIST("1", "[{\"name\":\"a\"}]");
    CHECK(answer_check(&req, msg, strlen(msg), out, &res) == 0 && res.verdict == ANSWER_FAIL);
    CHECK(evbuffer_get_length(out) == 0);
    evbuffer_free(out);
    /* tools in any response are filtered, whatever was asked: a resumed GET stream, another id */
    replay = true;
    CHECK(check(NULL, false, true, LIST("77", "[{\"name\":\"h\"},{\"name\":\"a\"}]")) == ANSWER_REWRITE);
    CHECK_STR(out_text, LIST("77", "[{\"name\":\"a\"}]"));
    CHECK(!res.answers_request && res.is_response);
    CHECK(check(NULL, false, true, LIST("\"x\"", "[{\"name\":\"a\"}]")) == ANSWER_PASS);
    replay = false;
    /* a stream that answers no request and was not resumed carries no response at all (the
     * spec); a client reading every stream alike would take one for a request's answer */
    CHECK(check(NULL, false, true, LIST("77", "[{\"name\":\"a\"}]")) == ANSWER_DROP && res.is_response);
    CHECK(check(NULL, false, false, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}") == ANSWER_DROP);
    CHECK(check(NULL, false, false, "{\"jsonrpc\":\"2.0\",\"id\":\"3\",\"error\":{\"code\":1,\"message\":\"m\"}}") ==
          ANSWER_DROP);
    /* requests and notifications of the server still pass there */
    CHECK(check(NULL, false, false, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}") == ANSWER_PASS);
    CHECK(check(NULL, false, false, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}") == ANSWER_PASS);
    /* nested "tools" elsewhere is not the list, and a tool's own members are not looked at */
    CHECK(check("1", false, true, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"tools\":[{\"name\":\"h\"}]}]}}") ==
          ANSWER_PASS);
    CHECK(check("1", false, true, LIST("1", "[{\"name\":\"a\",\"inputSchema\":{\"Name\":1,\"tools\":[]}}]")) == ANSWER_PASS);
}

/* Many tools: the items array grows; escaped and plain names mixed. */
static void test_many(void)
{
    size_t n = 3000;
    char *msg = malloc(n * 40 + 128), *want = malloc(n * 40 + 128);
    int len = sprintf(msg, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[");
    int wlen = sprintf(want, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        bool hidden = i % 3 == 0;
        len += sprintf(msg + len, "%s{\"name\":\"%s\\u0074%zu\"}", i ? "," : "", hidden ? "h" : "k", i);
        if (!hidden) {
            wlen += sprintf(want + wlen, "%s{\"name\":\"k\\u0074%zu\"}", first ? "" : ",", i);
            first = false;
        }
    }
    strcpy(msg + len, "]}}");
    strcpy(want + wlen, "]}}");
    struct answer_req req = {.id = "1", .id_len = 1, .filter = &filter};
    struct evbuffer *out = evbuffer_new();
    memset(&hider, 0, sizeof hider);
    CHECK(answer_check(&req, msg, strlen(msg), out, &res) == 0 && res.verdict == ANSWER_REWRITE);
    CHECK(hider.seen == n);
    size_t olen = evbuffer_get_length(out);
    CHECK(olen == strlen(want) && memcmp(evbuffer_pullup(out, -1), want, olen) == 0);
    evbuffer_free(out);
    free(msg);
    free(want);
}

int main(void)
{
    test_shapes();
    test_duplicates_and_folds();
    test_depth();
    test_ids();
    test_filter();
    test_many();
    return check_report();
}
