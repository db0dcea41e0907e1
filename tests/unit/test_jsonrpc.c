/* Unit tests of the strict JSON-RPC reader (src/jsonrpc.c): what it refuses,
 * how it classifies, and ids kept byte for byte. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "jsonrpc.h"
#include "utf8.h"

struct refusal {
    const char *text;
    int code;
};

static const struct refusal refused[] = {
    /* not strict JSON */
    {"", RPC_PARSE_ERROR},
    {"{", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",}", RPC_PARSE_ERROR},
    {"{'jsonrpc':'2.0'}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":01,\"method\":\"ping\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":-,\"method\":\"ping\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1.,\"method\":\"ping\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":.5,\"method\":\"ping\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1e,\"method\":\"ping\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} x", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}{}", RPC_PARSE_ERROR},
    {"\xEF\xBB\xBF{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pi\nng\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\\u0000\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\\ud800\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\\udc00\\ud800\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\\x\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\\u12\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xff\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xc0\xaf\"}", RPC_PARSE_ERROR},      /* overlong */
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xed\xa0\x80\"}", RPC_PARSE_ERROR},  /* UTF-8 surrogate */
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xf4\x90\x80\x80\"}", RPC_PARSE_ERROR}, /* > U+10FFFF */
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xe2\x82\"}", RPC_PARSE_ERROR},      /* truncated */
    {"{\"jsonrpc\":\"2.0\",\"id\":tru,\"method\":\"ping\"}", RPC_PARSE_ERROR},
    /* duplicate keys at every level, compared after escapes */
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"method\":\"tools/call\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"name\":\"b\"}}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"n\\u0061me\":\"b\"}}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":{\"x\":1,\"x\":2}}}", RPC_PARSE_ERROR},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":{\"x\":[{\"y\":1,\"y\":2}]}}}", RPC_PARSE_ERROR},
    /* not one JSON-RPC message */
    {"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", RPC_INVALID_REQUEST},
    {"\"ping\"", RPC_INVALID_REQUEST},
    {"{\"id\":1,\"method\":\"ping\"}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1e3,\"method\":\"ping\"}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":\"x\"}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"result\":{}}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{}}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"result\":{}}", RPC_INVALID_REQUEST},
    /* tools/call with wrong types */
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}", RPC_INVALID_PARAMS},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":[\"a\"]}", RPC_INVALID_PARAMS},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":[\"a\"]}}", RPC_INVALID_PARAMS},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":7}}", RPC_INVALID_PARAMS},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":\"x\"}}", RPC_INVALID_PARAMS},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":[1]}}", RPC_INVALID_PARAMS},
};

static void test_refusals(void)
{
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        struct rpc_msg m;
        struct rpc_error e = {0};
        int rc = rpc_parse(refused[i].text, strlen(refused[i].text), NULL, &m, &e);
        if (rc != -1 || e.code != refused[i].code)
            fprintf(stderr, "case %zu (%s): rc %d code %d message %s\n", i, refused[i].text, rc, e.code, e.message);
        CHECK(rc == -1 && e.code == refused[i].code);
        CHECK(!m.method && !m.strings && !m.params_text);
    }
}

/* Every truncation of a multi-byte character is refused. */
static void test_truncated_utf8(void)
{
    const char *chars[] = {"\xc3\xa9", "\xe2\x98\x83", "\xf0\x9f\x98\x80"};
    for (size_t c = 0; c < 3; c++) {
        for (size_t cut = 1; cut < strlen(chars[c]); cut++) {
            char text[128];
            int n = snprintf(text, sizeof text, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/a%.*s\"}", (int)cut, chars[c]);
            struct rpc_msg m;
            struct rpc_error e;
            CHECK(rpc_parse(text, (size_t)n, NULL, &m, &e) == -1 && e.code == RPC_PARSE_ERROR);
        }
        char whole[128];
        int n = snprintf(whole, sizeof whole, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/a%s\"}", chars[c]);
        struct rpc_msg m;
        struct rpc_error e;
        CHECK(rpc_parse(whole, (size_t)n, NULL, &m, &e) == 0);
        rpc_msg_clear(&m);
    }
}

static void test_classification(void)
{
    struct rpc_msg m;
    struct rpc_error e;
    const char *call = "{\"jsonrpc\":\"2.0\",\"id\":9007199254740993,\"method\":\"tools\\/call\","
                       "\"params\":{\"name\":\"delete\\u005fmodel_alias\",\"arguments\":{\"alias\":\"ch\\u0061mpion\"}}}";
    CHECK(rpc_parse(call, strlen(call), NULL, &m, &e) == 0);
    CHECK(m.kind == RPC_REQUEST);
    CHECK_STR(m.method, "tools/call");
    CHECK_STR(m.tool, "delete_model_alias");
    CHECK_MEM(m.id_text, m.id_len, "9007199254740993");
    const cJSON *args;
    CHECK(rpc_msg_args(&m, &args) == 0 && args && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(args, "alias")));
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(args, "alias")->valuestring, "champion");
    CHECK_MEM(m.args_text, m.args_len, "{\"alias\":\"ch\\u0061mpion\"}");
    CHECK(m.args_longest == 8 && m.args_depth == 1);
    rpc_msg_clear(&m);

    const char *ids[] = {"0", "-1", "\"caf\\u00e9-\\u2603\"", "\"café-☃\"", "\"\"", "123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        char text[256];
        int n = snprintf(text, sizeof text, "{\"jsonrpc\":\"2.0\",\"id\": %s ,\"method\":\"ping\"}", ids[i]);
        CHECK(rpc_parse(text, (size_t)n, NULL, &m, &e) == 0);
        CHECK_MEM(m.id_text, m.id_len, ids[i]);
        rpc_msg_clear(&m);
    }

    const char *notif = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    CHECK(rpc_parse(notif, strlen(notif), NULL, &m, &e) == 0 && m.kind == RPC_NOTIFICATION && !m.id_text);
    rpc_msg_clear(&m);
    const char *resp = "{\"jsonrpc\":\"2.0\",\"id\":\"s-1\",\"result\":{}}";
    CHECK(rpc_parse(resp, strlen(resp), NULL, &m, &e) == 0 && m.kind == RPC_RESPONSE && !m.method);
    rpc_msg_clear(&m);
    /* a nested "id" is not the message's id */
    const char *nested = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":{\"id\":5}}";
    CHECK(rpc_parse(nested, strlen(nested), NULL, &m, &e) == 0 && m.kind == RPC_NOTIFICATION);
    rpc_msg_clear(&m);
    /* tools/call without arguments */
    const char *noargs = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\"}}";
    CHECK(rpc_parse(noargs, strlen(noargs), NULL, &m, &e) == 0 && m.args_text == NULL);
    CHECK(rpc_msg_args(&m, &args) == 0 && args == NULL);
    rpc_msg_clear(&m);
}

/* Depth, width and length bombs stop at their limits. */
static void test_bombs(void)
{
    struct rpc_msg m;
    struct rpc_error e;
    size_t depth = 100;
    char *deep = malloc(depth * 2 + 64);
    int n = sprintf(deep, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":");
    for (size_t i = 0; i < depth; i++)
        deep[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    CHECK(rpc_parse(deep, (size_t)n, NULL, &m, &e) == -1 && strstr(e.message, "nesting"));
    struct rpc_limits lim = {.max_depth = 200};
    CHECK(rpc_parse(deep, (size_t)n, &lim, &m, &e) == 0);
    rpc_msg_clear(&m);
    free(deep);

    /* a wide object of distinct keys passes; one duplicate among 20000 keys is found */
    size_t width = 20000;
    char *wide = malloc(width * 16 + 128);
    n = sprintf(wide, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":{");
    for (size_t i = 0; i < width; i++)
        n += sprintf(wide + n, "%s\"k%zu\":1", i ? "," : "", i);
    n += sprintf(wide + n, "}}");
    struct rpc_limits wide_lim = {.max_members = 30000};
    CHECK(rpc_parse(wide, (size_t)n, &wide_lim, &m, &e) == 0);
    rpc_msg_clear(&m);
    CHECK(rpc_parse(wide, (size_t)n, NULL, &m, &e) == -1 && strstr(e.message, "members"));
    char *dup = strstr(wide, "\"k19999\"");
    memcpy(dup, "\"k12345\"", 8);
    CHECK(rpc_parse(wide, (size_t)n, &wide_lim, &m, &e) == -1 && strstr(e.message, "duplicate"));
    free(wide);

    struct rpc_limits small = {.max_string = 10};
    const char *longs = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"abcdefghijklmnop\"}";
    CHECK(rpc_parse(longs, strlen(longs), &small, &m, &e) == -1 && strstr(e.message, "string"));
}

#define CALL(params) "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":" params "}"

/* What a lenient server behind warden would read otherwise (issue 11, class 1). */
static const struct refusal lenient[] = {
    /* keys that fold together, at any depth, escaped or raw: Go keeps the last */
    {CALL("{\"name\":\"get_registered_model\",\"Name\":\"delete_registered_model\"}"), RPC_INVALID_REQUEST},
    {CALL("{\"name\":\"x\",\"arguments\":{\"alias\":\"a\",\"ALIAS\":\"b\"}}"), RPC_INVALID_REQUEST},
    {CALL("{\"name\":\"x\",\"arguments\":{\"s\":\"a\",\"\\u017f\":\"b\"}}"), RPC_INVALID_REQUEST},
    {CALL("{\"name\":\"x\",\"arguments\":{\"\xc5\xbf\":\"a\",\"S\":\"b\"}}"), RPC_INVALID_REQUEST},
    {CALL("{\"name\":\"x\",\"arguments\":{\"mask\":1,\"mas\\u212a\":2}}"), RPC_INVALID_REQUEST},
    {CALL("{\"name\":\"x\",\"arguments\":{\"\\u00e5\":1,\"\\u212b\":2}}"), RPC_INVALID_REQUEST},
    {CALL("{\"name\":\"x\",\"arguments\":{\"\xcf\x83\":1,\"\xcf\x82\":2}}"), RPC_INVALID_REQUEST},   /* sigma, final sigma */
    {CALL("{\"name\":\"x\",\"arguments\":{\"\xd0\x96\":1,\"\xd0\xb6\":2}}"), RPC_INVALID_REQUEST},   /* Cyrillic zhe */
    {CALL("{\"name\":\"x\",\"arguments\":{\"\xe1\xba\x9e\":1,\"\xc3\x9f\":2}}"), RPC_INVALID_REQUEST}, /* capital sharp s */
    {CALL("{\"name\":\"x\",\"arguments\":{\"a\":[{\"deep\":{\"x\":1,\"X\":2}}]}}"), RPC_INVALID_REQUEST},
    /* a case variant of a key warden reads, alone: the server reads the real key */
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"Params\":{}}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"Method\":\"tools/call\"}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"ID\":1,\"method\":\"tools/call\"}", RPC_INVALID_REQUEST},
    {"{\"JSONRPC\":\"2.0\",\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"Result\":{}}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"\\u0045rror\":{}}", RPC_INVALID_REQUEST},
    {CALL("{\"name\":\"x\",\"NAME\":\"y\"}"), RPC_INVALID_REQUEST},
    {CALL("{\"Name\":\"x\"}"), RPC_INVALID_REQUEST},
    {CALL("{\"name\":\"x\",\"Arguments\":{\"a\":1}}"), RPC_INVALID_REQUEST},
    {CALL("{\"name\":\"x\",\"argument\\u017f\":{\"a\":1}}"), RPC_INVALID_REQUEST},
    {CALL("{\"name\":\"x\",\"_META\":{}}"), RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"nAme\":\"x\"}}", RPC_INVALID_REQUEST},
    /* what .NET and Java readers take for ASCII: dotted and dotless i */
    {"{\"jsonrpc\":\"2.0\",\"\xc4\xb1" "d\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"\xc4\xb0" "D\":1}", RPC_INVALID_REQUEST},
    /* a request method without an id is not a notification */
    {"{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"delete\"}}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":1}}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"method\":\"Notifications/x\"}", RPC_INVALID_REQUEST},
    /* request and response fields together */
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"params\":{\"name\":\"x\"}}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{},\"method\":\"tools/call\"}", RPC_INVALID_REQUEST},
    {"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"result\":{}}", RPC_INVALID_REQUEST},
};

static void test_lenient_readers(void)
{
    for (size_t i = 0; i < sizeof lenient / sizeof *lenient; i++) {
        struct rpc_msg m;
        struct rpc_error e = {0};
        int rc = rpc_parse(lenient[i].text, strlen(lenient[i].text), NULL, &m, &e);
        if (rc != -1 || e.code != lenient[i].code)
            fprintf(stderr, "case %zu (%s): rc %d code %d message %s\n", i, lenient[i].text, rc, e.code, e.message);
        CHECK(rc == -1 && e.code == lenient[i].code);
        CHECK(!m.method && !m.strings && !m.params_text);
    }
    struct rpc_msg m;
    struct rpc_error e;
    const char *name = CALL("{\"name\":\"get\",\"Name\":\"delete\"}");
    CHECK(rpc_parse(name, strlen(name), NULL, &m, &e) == -1 && strstr(e.message, "differ only in case"));
    /* a long key is shown cut at a character boundary, never inside one */
    const char *longkey = CALL("{\"name\":\"x\",\"arguments\":{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\":1,"
                               "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xc3\x89\":2}}");
    CHECK(rpc_parse(longkey, strlen(longkey), NULL, &m, &e) == -1 && e.code == RPC_INVALID_REQUEST);
    for (const char *p = e.message; *p;) {
        size_t n = utf8_seq_len((const unsigned char *)p, strlen(p));
        CHECK(n > 0);
        p += n ? n : 1;
    }
    const char *notif = "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\"}";
    CHECK(rpc_parse(notif, strlen(notif), NULL, &m, &e) == -1 && strstr(e.message, "a request method sent as a notification"));

    /* Not folds (Go keeps them apart): full folding, Turkic dotted/dotless i,
     * and keys warden does not read spelled in any case. */
    const char *kept[] = {
        CALL("{\"name\":\"x\",\"arguments\":{\"ss\":1,\"\xc3\x9f\":2}}"),
        CALL("{\"name\":\"x\",\"arguments\":{\"i\":1,\"\xc4\xb1\":2,\"\xc4\xb0\":3}}"),
        CALL("{\"name\":\"x\",\"arguments\":{\"Alias\":\"a\",\"Name\":\"b\",\"ID\":3}}"),
        CALL("{\"name\":\"x\",\"_meta\":{\"progressToken\":1}}"),
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":1}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$/x\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"Tools\":[],\"Result\":1}}",
    };
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
        int rc = rpc_parse(kept[i], strlen(kept[i]), NULL, &m, &e);
        if (rc != 0)
            fprintf(stderr, "kept %zu (%s): %s\n", i, kept[i], e.message);
        CHECK(rc == 0);
        rpc_msg_clear(&m);
    }

    /* 20000 keys (the sorted path): one pair that folds together is found */
    size_t width = 20000;
    char *wide = malloc(width * 16 + 128);
    int n = sprintf(wide, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":{");
    for (size_t i = 0; i < width; i++)
        n += sprintf(wide + n, "%s\"k%zu\":1", i ? "," : "", i);
    n += sprintf(wide + n, "}}");
    struct rpc_limits wide_lim = {.max_members = 30000};
    char *k = strstr(wide, "\"k19999\"");
    memcpy(k, "\"K12345\"", 8);
    CHECK(rpc_parse(wide, (size_t)n, &wide_lim, &m, &e) == -1 && e.code == RPC_INVALID_REQUEST &&
          strstr(e.message, "differ only in case"));
    free(wide);
}

static void test_ids(void)
{
    const char *id;
    size_t len;
    const char *srv = "{\"result\":{\"id\":7,\"s\":\"\\\"id\\\":8\"},\"jsonrpc\":\"2.0\",\"\\u0069d\": \"x\" }";
    CHECK(rpc_find_id(srv, strlen(srv), &id, &len));
    CHECK_MEM(id, len, "\"x\"");
    CHECK(!rpc_find_id("[1]", 3, &id, &len));
    CHECK(!rpc_find_id("{\"a\":{\"id\":1}}", 14, &id, &len));
    CHECK(rpc_id_equal("1", 1, "1", 1));
    CHECK(!rpc_id_equal("1", 1, "\"1\"", 3));
    CHECK(rpc_id_equal("\"caf\\u00e9\"", 11, "\"café\"", strlen("\"café\"")));
    CHECK(!rpc_id_equal("\"a\"", 3, "\"b\"", 3));
    CHECK(rpc_id_equal("-0", 2, "0", 1));
    CHECK(!rpc_id_equal("9007199254740993", 16, "9007199254740992", 16));
    CHECK(!rpc_id_equal("12", 2, "1", 1));
}

/* A special byte at every offset of a long string is still seen (the
 * scanner skips long plain runs by words). */
static void test_long_runs(void)
{
    const struct {
        const char *tail;
        int ok;
    } tails[] = {{"\x01", 0}, {"\xff", 0}, {"\xc3", 0}, {"\xc3\xa9", 1}, {"\\n", 1}, {"\\u00e9", 1},
                 {"\\x", 0}, {"\x7f", 1}, {"\\\"", 1}, {"\\ud800", 0}};
    for (size_t k = 0; k < 40; k++) {
        for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) {
            char text[256];
            int n = snprintf(text, sizeof text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"k\":\"%.*s%sbcdefghijklmnopq\"}}",
                             (int)k, "0123456789012345678901234567890123456789", tails[i].tail);
            struct rpc_msg m;
            struct rpc_error e;
            int rc = rpc_parse(text, (size_t)n, NULL, &m, &e);
            if ((rc == 0) != tails[i].ok)
                fprintf(stderr, "offset %zu tail %zu: rc %d\n", k, i, rc);
            CHECK((rc == 0) == tails[i].ok);
            rpc_msg_clear(&m);
        }
    }
}

/* json_known_key: byte-exact keys by index, case variants refused, near
 * misses (a prefix, a longer key, an embedded NUL) are other keys. */
static void test_known_keys(void)
{
    static const char *const known[] = {"jsonrpc", "id", "method", NULL};
    struct rpc_error e = {0};
    CHECK(json_known_key("id", 2, known, &e) == 1);
    CHECK(json_known_key("method", 6, known, &e) == 2);
    CHECK(json_known_key("i", 1, known, &e) == -1);
    CHECK(json_known_key("idx", 3, known, &e) == -1);
    CHECK(json_known_key("id\0", 3, known, &e) == -1);
    CHECK(json_known_key("", 0, known, &e) == -1);
    CHECK(json_known_key("iD", 2, known, &e) == -2 && e.code == RPC_INVALID_REQUEST);
    CHECK(json_known_key("\xc4\xb1" "d", 3, known, &e) == -2);
}

/* A watcher of every value along one path: each container's first
 * member gets the next context, and each value's extent is kept. */
struct path_watch {
    const char *ends[300];
};

static int path_member(void *arg, int parent, const char *key, size_t klen, struct rpc_error *err)
{
    (void)arg, (void)key, (void)klen, (void)err;
    return parent < 299 ? parent + 1 : 0;
}

static int path_value(void *arg, int ctx, const char *start, const char *end, struct rpc_error *err)
{
    (void)start, (void)err;
    ((struct path_watch *)arg)->ends[ctx] = end;
    return 0;
}

/* Nesting deeper than the scanner's first stack of containers: read with
 * the watcher at every level (each value's end where its text ends), and
 * refused one level past the limit. */
static void test_deep_watch(void)
{
    enum { DEPTH = 200 };
    char text[4 * DEPTH + 8];
    size_t n = 0;
    for (int i = 0; i < DEPTH; i++) {
        text[n++] = i % 2 ? '[' : '{';
        if (i % 2 == 0)
            memcpy(text + n, "\"k\":", 4), n += 4;
    }
    text[n++] = '1';
    for (int i = DEPTH - 1; i >= 0; i--)
        text[n++] = i % 2 ? ']' : '}';
    struct path_watch pw = {{0}};
    const struct json_watch watch = {path_member, path_value, &pw};
    struct rpc_limits lim = {.max_depth = DEPTH};
    struct rpc_error e = {0};
    CHECK(json_scan(text, n, &lim, &watch, 1, &e) == 0);
    CHECK(pw.ends[1] == text + n);                 /* the root */
    CHECK(pw.ends[DEPTH] == text + n - (DEPTH - 1)); /* the innermost container */
    CHECK(pw.ends[DEPTH + 1] && *(pw.ends[DEPTH + 1] - 1) == '1');
    lim.max_depth = DEPTH - 1;
    CHECK(json_scan(text, n, &lim, &watch, 1, &e) < 0 && e.code == RPC_PARSE_ERROR &&
          strstr(e.message, "nesting deeper") != NULL);
}

int main(void)
{
    test_known_keys();
    test_deep_watch();
    test_refusals();
    test_truncated_utf8();
    test_classification();
    test_bombs();
    test_ids();
    test_lenient_readers();
    test_long_runs();
    return check_report();
}
