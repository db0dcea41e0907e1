/* The glob rules of a JSON policy are indexed by literal prefix (policy.c's
 * find_rule): differential test against the plain rule, "the longest glob
 * first, the first that matches wins", on random patterns and names over a
 * small alphabet so that prefixes, escapes, classes and stars collide often. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "glob.h"
#include "jsonrpc.h"
#include "policy.h"
#include "policy_file.h"
#include "ratelimit.h"

#define NPAT 300
#define NNAME 3000

static char dir[] = "/tmp/warden-test-globs-XXXXXX";
static unsigned long long rng = 0x9e3779b97f4a7c15ULL;

static unsigned pick(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* A random glob with at least one wildcard (exact names go to the other table). */
static void random_pattern(char *out, size_t cap)
{
    static const char *const parts[] = {"a", "b", "_", "ab", "a_", "*", "?", "[ab]", "[!a]", "\\\\*", "**"};
    do {
        out[0] = '\0';
        unsigned n = 1 + pick(5);
        for (unsigned i = 0; i < n && strlen(out) + 8 < cap; i++)
            strcat(out, parts[pick(sizeof parts / sizeof *parts)]);
    } while (!strpbrk(out, "*?["));
}

static void random_name(char *out, unsigned len)
{
    static const char alphabet[] = "ab_*";
    for (unsigned i = 0; i < len; i++)
        out[i] = alphabet[pick(sizeof alphabet - 1)];
    out[len] = '\0';
}

/* The JSON text of a pattern back to the glob it is (\\ is one backslash). */
static void unescape(const char *json, char *out)
{
    for (; *json; json++)
        *out++ = json[0] == '\\' && json[1] == '\\' ? *++json : *json;
    *out = '\0';
}

struct pat {
    char glob[64];
    int id;
};

static int rule_order(const void *a, const void *b)
{
    const struct pat *x = a, *y = b;
    size_t lx = strlen(x->glob), ly = strlen(y->glob);
    return lx != ly ? (lx > ly ? -1 : 1) : strcmp(x->glob, y->glob);
}

static void test_index_matches_linear_scan(void)
{
    static struct pat pats[NPAT];
    static char text[NPAT * 96 + 64];
    size_t n = 0;
    strcpy(text, "{\"version\":\"1\",\"tools\":{");
    for (int i = 0; n < NPAT && i < NPAT * 4; i++) {
        char json[64];
        random_pattern(json, sizeof json);
        unescape(json, pats[n].glob);
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup |= strcmp(pats[k].glob, pats[n].glob) == 0;
        if (dup)
            continue;
        pats[n].id = (int)n;
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s\"%s\":{\"action\":\"deny\",\"reason\":\"[rule %d]\"}",
                 n ? "," : "", json, (int)n);
        n++;
    }
    strcat(text, "}}\n");

    struct policy_set *ps = policy_from_text(dir, "globs.json", text);
    CHECK(ps != NULL);
    if (!ps)
        return;
    qsort(pats, n, sizeof *pats, rule_order);

    struct rate_store *rs = rate_store_new();
    int mismatches = 0;
    for (int i = 0; i < NNAME; i++) {
        char name[16], msg[256], want[32] = "";
        random_name(name, 1 + pick(8));
        for (size_t k = 0; k < n; k++)
            if (glob_match(pats[k].glob, name, strlen(name))) {
                snprintf(want, sizeof want, "[rule %d]", pats[k].id);
                break;
            }
        snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\"}}",
                 name);
        struct rpc_msg m;
        struct rpc_error e;
        if (rpc_parse(msg, strlen(msg), NULL, &m, &e) < 0) {
            CHECK(!"test message parses");
            continue;
        }
        struct call_ctx ctx = {.server = "s", .session = "t", .session_len = 1, .client_addr = "c", .now = 1};
        struct decision d;
        policy_decide(ps, rs, &m, &ctx, &d);
        rpc_msg_clear(&m);
        bool ok = want[0] ? d.verdict == VERDICT_DENY && strstr(d.reason, want) != NULL
                          : d.verdict != VERDICT_DENY;
        if (!ok && mismatches++ < 5)
            fprintf(stderr, "tool %s: want %s, got verdict %d reason %s\n", name, want[0] ? want : "allow",
                    (int)d.verdict, d.reason);
    }
    CHECK(mismatches == 0);
    rate_store_free(rs);
    policy_set_free(ps);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    test_index_matches_linear_scan();
    rmdir(dir);
    return check_report();
}
