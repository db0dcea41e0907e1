/* Unit tests of metrics.c: the exposition text parsed back line by line. */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include "check.h"
#include "metrics.h"

#define MAX_SAMPLES 4096
#define MAX_LABELS 4

/* One sample line, labels unescaped. */
struct sample {
    char name[128];
    char key[MAX_LABELS][32];
    char val[MAX_LABELS][512];
    int nlabels;
    double value;
};

/* The families declared by # TYPE, and every sample. */
struct exposition {
    char types[64][128];
    int ntypes;
    struct sample s[MAX_SAMPLES];
    int n;
    int bad;        /* lines that do not follow the format */
};

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

/* Parses one sample line per the text format 0.0.4; returns -1 when it does not follow it. */
static int parse_sample(const char *p, struct sample *s)
{
    memset(s, 0, sizeof *s);
    size_t n = 0;
    while (name_char(p[n], n == 0) && n < sizeof s->name - 1)
        n++;
    if (!n)
        return -1;
    memcpy(s->name, p, n);
    p += n;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            if (s->nlabels == MAX_LABELS)
                return -1;
            size_t k = 0;
            while (name_char(p[k], k == 0) && k < sizeof s->key[0] - 1)
                k++;
            if (!k || p[k] != '=' || p[k + 1] != '"')
                return -1;
            memcpy(s->key[s->nlabels], p, k);
            p += k + 2;
            size_t v = 0;
            while (*p != '"') {
                if (!*p || *p == '\n' || v >= sizeof s->val[0] - 1)
                    return -1;
                if (*p == '\\') {
                    p++;
                    if (*p == 'n')
                        s->val[s->nlabels][v++] = '\n';
                    else if (*p == '\\' || *p == '"')
                        s->val[s->nlabels][v++] = *p;
                    else
                        return -1;
                    p++;
                } else {
                    s->val[s->nlabels][v++] = *p++;
                }
            }
            p++;
            s->nlabels++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                return -1;
        }
        p++;
    }
    if (*p != ' ')
        return -1;
    char *end;
    s->value = strtod(p + 1, &end);
    return *end == '\0' && end != p + 1 ? 0 : -1;
}

/* Renders m and parses every line; checks that each sample's family has # HELP and # TYPE first. */
static void scrape(struct metrics *m, struct exposition *e)
{
    struct evbuffer *b = evbuffer_new();
    metrics_render(m, b);
    evbuffer_add(b, "", 1);
    char *text = strdup((const char *)evbuffer_pullup(b, -1));
    evbuffer_free(b);
    memset(e, 0, sizeof *e);
    char help[128] = "";
    char *save = NULL;
    CHECK(text[strlen(text) - 1] == '\n');
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128], type[32];
        if (strncmp(line, "# HELP ", 7) == 0) {
            if (sscanf(line + 7, "%127s", help) != 1)
                e->bad++;
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            if (sscanf(line + 7, "%127s %31s", name, type) != 2 || strcmp(name, help) != 0 ||
                (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "histogram")))
                e->bad++;
            else if (e->ntypes < 64)
                strcpy(e->types[e->ntypes++], name);
        } else if (e->n < MAX_SAMPLES && parse_sample(line, &e->s[e->n]) == 0) {
            const char *fam = e->ntypes ? e->types[e->ntypes - 1] : "";
            if (strncmp(e->s[e->n].name, fam, strlen(fam)) != 0)
                e->bad++;
            e->n++;
        } else {
            fprintf(stderr, "bad line: %s\n", line);
            e->bad++;
        }
    }
    free(text);
}

/* The value of the sample with this name and labels ("k=v" pairs, all of them); NAN when absent. */
static double value(const struct exposition *e, const char *name, int nlabels, const char *const *kv)
{
    for (int i = 0; i < e->n; i++) {
        const struct sample *s = &e->s[i];
        if (strcmp(s->name, name) != 0 || s->nlabels != nlabels)
            continue;
        bool match = true;
        for (int l = 0; l < nlabels && match; l++)
            match = strcmp(s->key[l], kv[2 * l]) == 0 && strcmp(s->val[l], kv[2 * l + 1]) == 0;
        if (match)
            return s->value;
    }
    return NAN;
}

static double calls(const struct exposition *e, const char *server, const char *tool, const char *decision)
{
    const char *kv[] = {"server", server, "tool", tool, "decision", decision};
    return value(e, "warden_tool_calls_total", 3, kv);
}

static int count_named(const struct exposition *e, const char *name)
{
    int n = 0;
    for (int i = 0; i < e->n; i++)
        n += strcmp(e->s[i].name, name) == 0;
    return n;
}

static struct exposition ex;

static void test_families_and_escaping(void)
{
    struct metrics *m = metrics_new();
    CHECK(m != NULL);
    const char *odd = "we\"ird\\tool\nx";
    metrics_call(m, "srv", "read_file", "allow");
    metrics_call(m, "srv", "read_file", "allow");
    metrics_call(m, "srv", "delete", "deny");
    metrics_call(m, "srv", odd, "hide");
    metrics_call(m, "srv", "bad\xff" "utf8", "allow");
    metrics_call(m, "srv", "x", "no-such-decision");
    metrics_call(m, "srv", "x", "rate_limit");
    metrics_call(m, "srv", "x", "rate_limit");
    metrics_call(m, "other\"srv", "x", "require_approval");
    metrics_upstream_error(m, "srv", "timeout");
    metrics_upstream_error(m, "srv", "weird");
    metrics_lua_error(m, "memory");
    metrics_lua_error(m, "timeout");
    metrics_lua_error(m, "timeout");
    metrics_connections(m, 1);
    metrics_connections(m, 1);
    metrics_connections(m, -1);
    metrics_sse_streams(m, 1);
    metrics_reload(m, 1, 7);
    metrics_reload(m, 0, 7);
    metrics_reload(m, 0, 7);
    metrics_audit_dropped(m, 5);
    scrape(m, &ex);
    CHECK(ex.bad == 0);
    static const char *const families[] = {
        "warden_tool_calls_total", "warden_shadow_decisions_total", "warden_upstream_errors_total", "warden_rate_limited_total", "warden_open_sessions",
        "warden_request_duration_seconds", "warden_policy_eval_seconds", "warden_lua_errors_total",
        "warden_open_connections", "warden_open_sse_streams", "warden_policy_reloads_total",
        "warden_policy_generation", "warden_audit_dropped_total"};
    CHECK(ex.ntypes == (int)(sizeof families / sizeof *families));
    for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
        bool found = false;
        for (int t = 0; t < ex.ntypes; t++)
            found |= strcmp(ex.types[t], families[i]) == 0;
        CHECK(found);
    }
    CHECK(calls(&ex, "srv", "read_file", "allow") == 2);
    CHECK(calls(&ex, "srv", "delete", "deny") == 1);
    CHECK(calls(&ex, "srv", odd, "hide") == 1);
    CHECK(calls(&ex, "srv", "bad\xEF\xBF\xBDutf8", "allow") == 1);
    CHECK(calls(&ex, "srv", "x", "error") == 1);
    CHECK(calls(&ex, "srv", "x", "rate_limit") == 2);
    CHECK(calls(&ex, "other\"srv", "x", "require_approval") == 1);
    CHECK(isnan(calls(&ex, "srv", "delete", "allow")));   /* zero rows are left out */
    const char *rl[] = {"server", "srv"};
    CHECK(value(&ex, "warden_rate_limited_total", 1, rl) == 2);
    CHECK(count_named(&ex, "warden_rate_limited_total") == 1);
    const char *up1[] = {"server", "srv", "kind", "timeout"}, *up2[] = {"server", "srv", "kind", "other"};
    CHECK(value(&ex, "warden_upstream_errors_total", 2, up1) == 1);
    CHECK(value(&ex, "warden_upstream_errors_total", 2, up2) == 1);
    const char *l1[] = {"kind", "memory"}, *l2[] = {"kind", "timeout"}, *l3[] = {"kind", "error"};
    CHECK(value(&ex, "warden_lua_errors_total", 1, l1) == 1);
    CHECK(value(&ex, "warden_lua_errors_total", 1, l2) == 2);
    CHECK(value(&ex, "warden_lua_errors_total", 1, l3) == 0);
    CHECK(value(&ex, "warden_open_connections", 0, NULL) == 1);
    CHECK(value(&ex, "warden_open_sse_streams", 0, NULL) == 1);
    const char *ok[] = {"result", "ok"}, *failed[] = {"result", "failed"};
    CHECK(value(&ex, "warden_policy_reloads_total", 1, ok) == 1);
    CHECK(value(&ex, "warden_policy_reloads_total", 1, failed) == 2);
    CHECK(value(&ex, "warden_policy_generation", 0, NULL) == 7);
    CHECK(value(&ex, "warden_audit_dropped_total", 0, NULL) == 5);
    metrics_free(m);
}

static void test_histograms(void)
{
    struct metrics *m = metrics_new();
    const double obs[] = {0.0001, 0.0005, 0.003, 20, 0.7};
    for (size_t i = 0; i < sizeof obs / sizeof *obs; i++)
        metrics_request_seconds(m, obs[i]);
    metrics_policy_seconds(m, 2e-6);
    metrics_policy_seconds(m, -1);   /* counts as 0 */
    scrape(m, &ex);
    CHECK(ex.bad == 0);
    const char *le[][2] = {{"le", "0.0005"}, {"le", "0.001"}, {"le", "0.005"}, {"le", "0.5"}, {"le", "1"}, {"le", "10"}, {"le", "+Inf"}};
    const double want[] = {2, 2, 3, 3, 4, 4, 5};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        CHECK(value(&ex, "warden_request_duration_seconds_bucket", 1, le[i]) == want[i]);
    CHECK(value(&ex, "warden_request_duration_seconds_count", 0, NULL) == 5);
    CHECK(fabs(value(&ex, "warden_request_duration_seconds_sum", 0, NULL) - 20.7036) < 1e-9);
    CHECK(count_named(&ex, "warden_request_duration_seconds_bucket") == 15);
    CHECK(count_named(&ex, "warden_policy_eval_seconds_bucket") == 13);
    /* Cumulative: never decreasing, ending at +Inf = _count. */
    double prev = 0, last = -1;
    for (int i = 0; i < ex.n; i++) {
        if (strcmp(ex.s[i].name, "warden_policy_eval_seconds_bucket") != 0)
            continue;
        CHECK(ex.s[i].value >= prev);
        prev = last = ex.s[i].value;
    }
    CHECK(last == 2);
    const char *p1[] = {"le", "1e-06"}, *p2[] = {"le", "2.5e-06"};
    CHECK(value(&ex, "warden_policy_eval_seconds_bucket", 1, p1) == 1);
    CHECK(value(&ex, "warden_policy_eval_seconds_bucket", 1, p2) == 2);
    CHECK(value(&ex, "warden_policy_eval_seconds_count", 0, NULL) == 2);
    metrics_free(m);
}

static void test_label_cap(void)
{
    struct metrics *m = metrics_new();
    char tool[64];
    for (int i = 0; i < METRICS_MAX_TOOLS; i++) {
        snprintf(tool, sizeof tool, "tool-%d", i);
        metrics_call(m, "a", tool, "allow");
    }
    metrics_call(m, "a", "tool-5", "deny");        /* known: still its own row */
    metrics_call(m, "a", "one-too-many", "allow");
    metrics_call(m, "a", "another", "allow");
    metrics_call(m, "b", "late", "deny");
    char longname[METRICS_MAX_NAME + 2];
    memset(longname, 'l', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    metrics_call(m, "b", longname, "deny");
    scrape(m, &ex);
    CHECK(ex.bad == 0);
    CHECK(calls(&ex, "a", "tool-5", "deny") == 1);
    CHECK(calls(&ex, "a", "tool-999", "allow") == 1);
    CHECK(isnan(calls(&ex, "a", "one-too-many", "allow")));
    CHECK(calls(&ex, "a", "_other", "allow") == 2);
    CHECK(calls(&ex, "b", "_other", "deny") == 2);
    CHECK(count_named(&ex, "warden_tool_calls_total") == METRICS_MAX_TOOLS + 3);
    metrics_free(m);

    /* A long name counts under _other even far below the cap. */
    m = metrics_new();
    metrics_call(m, "a", longname, "allow");
    longname[METRICS_MAX_NAME] = '\0';
    metrics_call(m, "a", longname, "allow");
    scrape(m, &ex);
    CHECK(calls(&ex, "a", "_other", "allow") == 1);
    CHECK(calls(&ex, "a", longname, "allow") == 1);
    metrics_free(m);
}

#define THREADS 4
#define ROUNDS 50000

static void *hammer(void *arg)
{
    struct metrics *m = arg;
    static const char *const tools[] = {"a", "b", "c"};
    for (int i = 0; i < ROUNDS; i++) {
        metrics_call(m, "srv", tools[i % 3], i % 2 ? "allow" : "deny");
        metrics_request_seconds(m, 0.25);
        metrics_connections(m, 1);
        metrics_connections(m, i % 2 ? -1 : 0);
        metrics_upstream_error(m, i % 2 ? "srv" : "up2", "reset");
    }
    return NULL;
}

static void test_concurrency(void)
{
    struct metrics *m = metrics_new();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, hammer, m) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    scrape(m, &ex);
    CHECK(ex.bad == 0);
    double total = 0;
    for (int i = 0; i < ex.n; i++)
        if (strcmp(ex.s[i].name, "warden_tool_calls_total") == 0)
            total += ex.s[i].value;
    CHECK(total == THREADS * ROUNDS);
    CHECK(count_named(&ex, "warden_tool_calls_total") == 6);
    /* i % 3 and i % 2 together: each (tool, decision) pair gets a sixth of the rounds. */
    CHECK(calls(&ex, "srv", "b", "allow") == THREADS * (ROUNDS / 6 + (ROUNDS % 6 > 1)));
    CHECK(value(&ex, "warden_request_duration_seconds_count", 0, NULL) == THREADS * ROUNDS);
    CHECK(value(&ex, "warden_request_duration_seconds_sum", 0, NULL) == THREADS * ROUNDS * 0.25);
    CHECK(value(&ex, "warden_open_connections", 0, NULL) == THREADS * ROUNDS / 2);
    const char *u1[] = {"server", "srv", "kind", "reset"}, *u2[] = {"server", "up2", "kind", "reset"};
    CHECK(value(&ex, "warden_upstream_errors_total", 2, u1) == THREADS * ROUNDS / 2);
    CHECK(value(&ex, "warden_upstream_errors_total", 2, u2) == THREADS * ROUNDS / 2);
    metrics_free(m);
}

int main(void)
{
    test_families_and_escaping();
    test_histograms();
    test_label_cap();
    test_concurrency();
    return check_report();
}
