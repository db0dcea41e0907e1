/* Unit tests of answer.c's cache fields (2026-07-28 ttlMs and cacheScope):
 * a list filtered for the caller becomes private, ttlMs is capped, and
 * everything else stays byte-exact, with and without tools cut out. */
#include <stdlib.h>
#include <string.h>
#include "answer.h"
#include "check.h"
#include "era.h"

/* Hides the tool named "h". */
static int hide_h(void *arg, const struct list_item *items, size_t n, bool *keep)
{
    (void)arg;
    for (size_t i = 0; i < n; i++)
        keep[i] = !(items[i].name_len == 1 && items[i].name[0] == 'h');
    return 0;
}

static const struct list_filter filter = {hide_h, NULL};
static char out_text[4096];

/* The text the client would receive for msg (the original on PASS). */
static enum answer_verdict run(const struct answer_cache *cache, bool filtered, const char *id, const char *msg)
{
    struct answer_req req = {.id = id, .id_len = strlen(id), .filter = filtered ? &filter : NULL, .cache = cache};
    struct evbuffer *out = evbuffer_new();
    struct answer_result res;
    CHECK(answer_check(&req, msg, strlen(msg), out, &res) == 0);
    size_t n = evbuffer_get_length(out);
    if (res.verdict == ANSWER_REWRITE) {
        memcpy(out_text, evbuffer_pullup(out, -1), n);
        out_text[n] = '\0';
    } else {
        snprintf(out_text, sizeof out_text, "%s", msg);
    }
    evbuffer_free(out);
    return res.verdict;
}

int main(void)
{
    const struct answer_cache priv = {.private_scope = true, .insert = true, .max_ttl_ms = 60000};
    const struct answer_cache cap_only = {.private_scope = false, .insert = true, .max_ttl_ms = 60000};
    const struct answer_cache legacy = {.private_scope = true, .insert = false, .max_ttl_ms = -1};

    /* public becomes private, the ttl is capped, all other bytes (odd spacing, big ids) are kept */
    CHECK(run(&priv, false, "12345678901234567890",
              "{\"jsonrpc\":\"2.0\", \"id\":12345678901234567890,\"result\":{ \"ttlMs\" : 3600000 ,"
              "\"cacheScope\":\"public\",\"tools\":[{\"name\":\"a\"}],\"n\":1.50}}") == ANSWER_REWRITE);
    CHECK_STR(out_text, "{\"jsonrpc\":\"2.0\", \"id\":12345678901234567890,\"result\":{ \"ttlMs\" : 60000 ,"
                        "\"cacheScope\":\"private\",\"tools\":[{\"name\":\"a\"}],\"n\":1.50}}");
    /* fields in the other order */
    CHECK(run(&priv, false, "1",
              "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"cacheScope\":\"public\",\"ttlMs\":7e9}}") == ANSWER_REWRITE);
    CHECK_STR(out_text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"cacheScope\":\"private\",\"ttlMs\":60000}}");
    /* already truthful: passed unchanged */
    CHECK(run(&priv, false, "1",
              "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"cacheScope\":\"private\",\"ttlMs\":60000}}") == ANSWER_PASS);
    /* a missing cacheScope is inserted on a modern request, also into an empty result */
    CHECK(run(&priv, false, "1", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}}") == ANSWER_REWRITE);
    CHECK_STR(out_text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"cacheScope\":\"private\",\"tools\":[]}}");
    CHECK(run(&priv, false, "1", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{ }}") == ANSWER_REWRITE);
    CHECK_STR(out_text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"cacheScope\":\"private\" }}");
    /* ...but not into a 2025 answer, where it is replaced only when present */
    CHECK(run(&legacy, false, "1", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}}") == ANSWER_PASS);
    CHECK(run(&legacy, false, "1", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"cacheScope\":5,\"ttlMs\":9e99}}") ==
          ANSWER_REWRITE);
    CHECK_STR(out_text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"cacheScope\":\"private\",\"ttlMs\":9e99}}");
    /* the cap alone leaves the scope */
    CHECK(run(&cap_only, false, "1",
              "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"cacheScope\":\"public\",\"ttlMs\":60001}}") ==
          ANSWER_REWRITE);
    CHECK_STR(out_text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"cacheScope\":\"public\",\"ttlMs\":60000}}");
    /* a long number is read whole */
    CHECK(run(&cap_only, false, "1",
              "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ttlMs\":"
              "100000000000000000000000000000000000000000000000000000000000000000000000}}") == ANSWER_REWRITE);
    CHECK_STR(out_text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ttlMs\":60000}}");
    /* with a tool cut out: both edits and the cut in one message */
    CHECK(
        run(&priv, true, "1",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ttlMs\":3600000,\"tools\":[{\"name\":\"a\"}, {\"name\":\"h\"},"
            " {\"name\":\"b\"}],\"cacheScope\":\"public\"}}") == ANSWER_REWRITE);
    CHECK_STR(out_text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ttlMs\":60000,\"tools\":[{\"name\":\"a\"}, "
                        "{\"name\":\"b\"}],\"cacheScope\":\"private\"}}");
    /* ...and the insertion before a filtered list */
    CHECK(run(&priv, true, "1",
              "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"h\"},{\"name\":\"a\"}]}}") ==
          ANSWER_REWRITE);
    CHECK_STR(out_text,
              "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"cacheScope\":\"private\",\"tools\":[{\"name\":\"a\"}]}}");
    /* errors, notifications and answers to other ids are not touched */
    CHECK(run(&priv, false, "1", "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-1,\"message\":\"x\"}}") ==
          ANSWER_PASS);
    CHECK(run(&priv, false, "1", "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":{\"ttlMs\":9e9}}") ==
          ANSWER_PASS);
    CHECK(run(&priv, false, "1", "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"ttlMs\":9e9}}") == ANSWER_DROP);
    /* a case variant of a cache key is refused, as a lenient client would read it as the key */
    CHECK(run(&priv, false, "1", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"TTLMs\":9e9}}") == ANSWER_FAIL);
    return check_report();
}
