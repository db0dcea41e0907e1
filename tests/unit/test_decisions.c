/* The decisions ring: numbering, reading after a number, the count and byte
 * budgets (oldest first), oversized lines, and audit.c's sink feeding it
 * with and without a file. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "audit.h"
#include "check.h"
#include "decisions.h"

/* Everything after `after` as a parsed JSON array (caller frees). */
static cJSON *since(struct decisions *d, uint64_t after, size_t max, uint64_t *last)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "[", 1);
    uint64_t l = decisions_since(d, after, max, ",", b);
    if (last)
        *last = l;
    evbuffer_add(b, "]", 1);
    cJSON *j = cJSON_ParseWithLength((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
    evbuffer_free(b);
    return j;
}

static void add(struct decisions *d, int n)
{
    char line[64];
    int len = snprintf(line, sizeof line, "{\"tool\":\"t%d\"}", n);
    decisions_add(d, line, (size_t)len);
}

static int seq_at(const cJSON *arr, int i)
{
    return (int)cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, i), "seq")->valuedouble;
}

static void test_ring(void)
{
    CHECK(decisions_new(0, 100) == NULL);
    struct decisions *d = decisions_new(3, DECISIONS_BYTES);
    CHECK(decisions_last(d) == 0);
    cJSON *a = since(d, 0, 10, NULL);
    CHECK(cJSON_GetArraySize(a) == 0);
    cJSON_Delete(a);
    for (int i = 1; i <= 5; i++)
        add(d, i);
    CHECK(decisions_last(d) == 5);
    uint64_t last;
    a = since(d, 0, 10, &last);
    /* Count full: the oldest went first; 3, 4, 5 are left. */
    CHECK(cJSON_GetArraySize(a) == 3);
    CHECK(seq_at(a, 0) == 3 && seq_at(a, 2) == 5);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(a, 0), "tool")->valuestring, "t3");
    CHECK(last == 5);
    cJSON_Delete(a);
    a = since(d, 4, 10, &last);
    CHECK(cJSON_GetArraySize(a) == 1 && seq_at(a, 0) == 5 && last == 5);
    cJSON_Delete(a);
    a = since(d, 5, 10, &last);
    CHECK(cJSON_GetArraySize(a) == 0 && last == 5);
    cJSON_Delete(a);
    a = since(d, 99, 10, &last);
    CHECK(cJSON_GetArraySize(a) == 0 && last == 99);
    cJSON_Delete(a);
    a = since(d, 0, 2, &last);
    CHECK(cJSON_GetArraySize(a) == 2 && last == 4);
    cJSON_Delete(a);
    /* Not a JSON object, or empty: not kept, counted. */
    decisions_add(d, "[1]", 3);
    decisions_add(d, "{}", 2);
    CHECK(decisions_skipped(d) == 2);
    CHECK(decisions_last(d) == 5);
    decisions_free(d);
    decisions_free(NULL);
}

static void test_bytes(void)
{
    /* Room for about three short lines: the byte budget evicts before the count does. */
    struct decisions *d = decisions_new(100, 3 * (64 + 24 + 16));
    for (int i = 1; i <= 20; i++)
        add(d, i);
    CHECK(decisions_bytes(d) <= 3 * (64 + 24 + 16));
    cJSON *a = since(d, 0, 100, NULL);
    int n = cJSON_GetArraySize(a);
    CHECK(n >= 1 && n < 20);
    CHECK(seq_at(a, n - 1) == 20);
    cJSON_Delete(a);
    /* A line larger than the whole budget is skipped and evicts nothing. */
    size_t big = 4096;
    char *line = malloc(big);
    memset(line, 'x', big);
    line[0] = '{';
    line[big - 1] = '}';
    decisions_add(d, line, big);
    CHECK(decisions_skipped(d) == 1);
    a = since(d, 0, 100, NULL);
    CHECK(cJSON_GetArraySize(a) == n);
    cJSON_Delete(a);
    free(line);
    decisions_free(d);
    /* Past DECISIONS_MAX_ENTRY, even a roomy ring skips it. */
    d = decisions_new(10, 1u << 30);
    line = malloc(DECISIONS_MAX_ENTRY + 2);
    memset(line, ' ', DECISIONS_MAX_ENTRY + 2);
    line[0] = '{';
    line[DECISIONS_MAX_ENTRY + 1] = '}';
    decisions_add(d, line, DECISIONS_MAX_ENTRY + 2);
    CHECK(decisions_skipped(d) == 1 && decisions_last(d) == 0);
    free(line);
    decisions_free(d);
}

/* audit.c hands every line to the sink, with a file and without one. */
static void test_audit_sink(void)
{
    char err[256];
    struct decisions *d = decisions_new(10, DECISIONS_BYTES);
    struct audit_log *a = audit_open(NULL, NULL, err, sizeof err);
    CHECK(a != NULL);
    audit_set_sink(a, decisions_sink, d);
    cJSON *args = cJSON_Parse("{\"alias\":\"prod\",\"n\":1}");
    struct audit_event ev = {.server = "registry", .session = "s1", .tool = "delete_model", .decision = "deny",
                             .rule = "p.json:/tools/delete_model", .reason = "no <b>", .status = -1,
                             .is_error = -1, .latency_ms = -1, .args = args};
    audit_write(a, &ev);
    audit_reopen(a);   /* no file: nothing to do */
    audit_close(a);
    cJSON *arr = since(d, 0, 10, NULL);
    CHECK(cJSON_GetArraySize(arr) == 1);
    cJSON *one = cJSON_GetArrayItem(arr, 0);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(one, "tool")->valuestring, "delete_model");
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(one, "decision")->valuestring, "deny");
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(one, "reason")->valuestring, "no <b>");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(one, "arg_keys")) == 2);
    cJSON_Delete(arr);

    char path[] = "/tmp/warden-test-decisions-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    a = audit_open(path, NULL, err, sizeof err);
    CHECK(a != NULL);
    audit_set_sink(a, decisions_sink, d);
    ev.decision = "allow";
    audit_write(a, &ev);
    audit_close(a);
    arr = since(d, 1, 10, NULL);
    CHECK(cJSON_GetArraySize(arr) == 1);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 0), "decision")->valuestring, "allow");
    cJSON_Delete(arr);
    FILE *f = fopen(path, "r");
    char buf[2048] = "";
    CHECK(f && fgets(buf, sizeof buf, f));
    CHECK(strstr(buf, "\"decision\":\"allow\"") != NULL);
    if (f)
        fclose(f);
    unlink(path);
    cJSON_Delete(args);
    decisions_free(d);
}

int main(void)
{
    test_ring();
    test_bytes();
    test_audit_sink();
    return check_report();
}
