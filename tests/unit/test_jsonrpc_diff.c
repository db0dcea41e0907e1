/* The one-pass reader (src/jsonrpc.c) against the tree-reading reader it
 * replaced (tests/fuzz/jsonrpc_reference.c), deterministically: seeds that
 * reach every field and rule, each truncated at every byte and with every
 * byte replaced by each of a set of bytes that matter to JSON, under the
 * default limits and under small ones. fuzz_jsonrpc.c does the same at
 * random. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "../fuzz/jsonrpc_diff.c"

static const char *const seeds[] = {
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"get_model_version_by_alias\","
    "\"arguments\":{\"name\":\"fraud-detector\",\"alias\":\"challenger\"}}}",
    "{\"jsonrpc\":\"\\u0032\\u002e\\u0030\",\"id\":\"a\\u00e9\\ud83d\\ude00\",\"method\":\"tools\\/call\",\"params\":"
    "{\"name\":\"get_\\u0078\\ud83d\\ude00\",\"arguments\":{\"a\":{\"b\":[1,\"\\u2603\",{\"c\":null}]},\"B\":\"x\\n\"},"
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2025-06-18\",\"progressToken\":7},\"task\":{}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":-0,\"method\":\"resources/read\",\"params\":{\"uri\":\"file:\\/\\/x\",\"_meta\":"
    "{\"io.modelcontextprotocol\\/protocolVersion\":5},\"task\":[]}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\",\"params\":{\"name\":7,\"arguments\":\"x\"}}",
    " {\"method\":\"notifications/progress\",\"params\":[{\"id\":5}],\"jsonrpc\":\"2.0\"}\n",
    "{\"jsonrpc\":\"2.0\",\"id\":\"s-1\",\"result\":{\"content\":[],\"isError\":false}}",
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32600,\"message\":\"x\"}}",
    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"Arguments\":{}}}",
    "{\"jsonrpc\":\"2.0\",\"\\u0130d\":1,\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":"
    "{\"alias\":1,\"ALIAS\":2}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":"
    "{\"k\":\"\\u017f\",\"s\":\"\\u212a\",\"\\u017f\":1,\"x\":[[[[{}]]]]}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1e3,\"method\":\"ping\",\"params\":{}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscriptions/listen\",\"params\":{\"notifications\":"
    "{\"toolsListChanged\":true}}}",
    /* The scanner's fast and slow paths side by side: strings longer than a
     * vector, keys read in place next to escaped and non-ASCII ones that
     * fold together with them, an object wider than the pairwise check,
     * nesting deeper than the scanner's first stack of containers. */
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a_tool_name_longer_than_16\","
    "\"arguments\":{\"description_of_it\":\"0123456789abcdef0123456789\\u00e9\",\"s\":1,\"\\u0073x\":2,"
    "\"\u017fy\":3,\"S1\":4,\"k\":[\"\\u212a\",\"\u212a\"]}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":"
    "{\"x\":{\"ab\":1,\"\\u0041B\":2},\"y\":{\"\u017f\":1,\"S\":2},\"\":{\"\":0,\"a\":1}}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"u\",\"arguments\":"
    "{\"t\":\"\u4e0d\u6b63\u691c\u51fa\\\"\u041c\u043e\u0434\u0435\u043b\u044c\u00e9\U0001F600x\\n\u0800\uffff\"}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"w\",\"arguments\":{"
    "\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"k10\":10,\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":14,\"k15\":15,\"k16\":16,\"k17\":17,\"k18\":18,\"k19\":19,\"k20\":20,\"k21\":21,\"k22\":22,\"k23\":23,\"k24\":24,\"k25\":25,\"k26\":26,\"k27\":27,\"k28\":28,\"k29\":29,\"k30\":30,\"k31\":31,\"k32\":32,\"k33\":33,\"K0\":0}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"d\",\"arguments\":{"
    "\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}",
};

/* Bytes whose change turns one JSON structure or string into another. */
static const char replacements[] = {'"', '\\', '{', '}', '[', ']', ',', ':', 'u', '0', 'e', '-', 'A', 'n', ' ',
                                    '\0', '\x01', '\x7f', '\x80', '\xc3', '\xed', '\xff'};

static size_t differences;

/* Under the default limits (k = 0), then under limits of k, up to max_k. */
static void diff_one(const char *text, size_t len, size_t max_k)
{
    for (size_t k = 0; k <= max_k; k++) {
        struct rpc_limits lim = {0};
        if (k)
            lim = (struct rpc_limits){.max_depth = k, .max_string = 3 * k, .max_members = k};
        const char *why = jsonrpc_diff(text, len, &lim);
        if (why && differences++ < 20)
            fprintf(stderr, "limits %zu: %s on %.*s\n", k, why, (int)len, text);
    }
}

static void test_seeds_and_mutations(void)
{
    for (size_t s = 0; s < sizeof seeds / sizeof *seeds; s++) {
        size_t len = strlen(seeds[s]);
        char *buf = malloc(len);
        CHECK(buf != NULL);
        if (!buf)
            return;
        for (size_t cut = 0; cut <= len; cut++)
            diff_one(seeds[s], cut, 8);
        for (size_t i = 0; i < len; i++) {
            memcpy(buf, seeds[s], len);
            for (size_t r = 0; r < sizeof replacements; r++) {
                buf[i] = replacements[r];
                diff_one(buf, len, 2);
            }
        }
        free(buf);
    }
    CHECK(differences == 0);
}

/* The fuzzer's seed corpus too (its files are inputs to the same check). */
static void test_corpus(void)
{
    const char *dir = "tests/fuzz/corpus/jsonrpc";
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    size_t files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[512], text[65536];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        if (!f)
            continue;
        size_t n = fread(text, 1, sizeof text, f);
        fclose(f);
        diff_one(text, n, 8);
        files++;
    }
    closedir(d);
    CHECK(files > 0 && differences == 0);
}

/* The check can fail: a reading that differs is told. */
static void test_oracle_disagrees(void)
{
    const char *text = seeds[0];
    struct rpc_msg m;
    struct ref_msg r;
    struct rpc_error e;
    CHECK(rpc_parse(text, strlen(text), NULL, &m, &e) == 0 && ref_parse(text, strlen(text), NULL, &r, &e) == 0);
    CHECK(compare_msgs(&m, &r) == NULL);
    m.args_depth++;
    CHECK(compare_msgs(&m, &r) != NULL);
    m.args_depth--;
    m.id_len--;
    CHECK(compare_msgs(&m, &r) != NULL);
    rpc_msg_clear(&m);
    ref_msg_clear(&r);
}

int main(void)
{
    test_seeds_and_mutations();
    test_corpus();
    test_oracle_disagrees();
    return check_report();
}
