/* The tool annotations store: lookups, replacement, forgetting, the byte
 * budget (oldest forgotten first), the per-tool cap, raw tool objects. */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "toolmeta.h"

static int remember_json(struct tool_meta *tm, const char *name, const char *json)
{
    cJSON *j = cJSON_Parse(json);
    int rc = toolmeta_remember(tm, name, strlen(name), j);
    cJSON_Delete(j);
    return rc;
}

static const cJSON *lookup(const struct tool_meta *tm, const char *name)
{
    return toolmeta_lookup(tm, name, strlen(name));
}

/* A lookup gives what was remembered, by exact name bytes. */
static void test_basics(void)
{
    CHECK(toolmeta_new(10) == NULL);
    CHECK(toolmeta_lookup(NULL, "x", 1) == NULL);
    CHECK(toolmeta_remember_raw(NULL, "x", 1, "{}", 2) == -1);
    struct tool_meta *tm = toolmeta_new(TOOLMETA_BYTES);
    CHECK(tm != NULL);
    if (!tm)
        return;
    size_t empty = toolmeta_bytes(tm);
    CHECK(remember_json(tm, "delete", "{\"destructiveHint\":true}") == 0);
    const cJSON *a = lookup(tm, "delete");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "destructiveHint")));
    CHECK(lookup(tm, "Delete") == NULL);
    CHECK(toolmeta_lookup(tm, "delete", 5) == NULL);
    /* A name with a NUL is its own name. */
    CHECK(toolmeta_remember(tm, "a\0b", 3, cJSON_GetObjectItemCaseSensitive(a, "destructiveHint")) == 0);
    CHECK(toolmeta_lookup(tm, "a\0b", 3) == NULL); /* not an object: forgotten */
    /* Replacement. */
    CHECK(remember_json(tm, "delete", "{\"readOnlyHint\":true}") == 0);
    a = lookup(tm, "delete");
    CHECK(cJSON_GetObjectItemCaseSensitive(a, "destructiveHint") == NULL);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "readOnlyHint")));
    /* NULL forgets; so does a refused remember. */
    CHECK(toolmeta_remember(tm, "delete", 6, NULL) == 0);
    CHECK(lookup(tm, "delete") == NULL);
    CHECK(toolmeta_bytes(tm) == empty);
    CHECK(remember_json(tm, "x", "{\"title\":\"X\"}") == 0);
    char *huge = malloc(TOOLMETA_MAX_ENTRY + 100);
    if (huge) {
        int n = snprintf(huge, 40, "{\"title\":\"");
        memset(huge + n, 'a', TOOLMETA_MAX_ENTRY);
        strcpy(huge + n + TOOLMETA_MAX_ENTRY, "\"}");
        CHECK(remember_json(tm, "x", huge) == -1);
        CHECK(lookup(tm, "x") == NULL);
        CHECK(toolmeta_bytes(tm) == empty);
        free(huge);
    }
    toolmeta_free(tm);
}

/* The case: 40 answers of many tools with large annotations grew
 * memory by 87 MiB. The budget holds, the newest tools are kept, the oldest
 * went first. */
static void test_budget(void)
{
    size_t budget = 256 << 10;
    struct tool_meta *tm = toolmeta_new(budget);
    CHECK(tm != NULL);
    if (!tm)
        return;
    char *ann = malloc(12000);
    if (!ann) {
        toolmeta_free(tm);
        return;
    }
    int n = snprintf(ann, 40, "{\"title\":\"");
    memset(ann + n, 't', 10000);
    strcpy(ann + n + 10000, "\"}");
    cJSON *j = cJSON_Parse(ann);
    char name[64];
    int refused = 0;
    for (int answer = 0; answer < 40; answer++) {
        for (int t = 0; t < 200; t++) {
            snprintf(name, sizeof name, "tool_%d_%d", answer, t);
            refused += toolmeta_remember(tm, name, strlen(name), j) != 0;
            CHECK(toolmeta_bytes(tm) <= budget);
        }
    }
    CHECK(refused == 0);
    CHECK(lookup(tm, "tool_39_199") != NULL);
    CHECK(lookup(tm, "tool_0_0") == NULL);
    /* About budget / 10 KB tools fit, and the ones kept are the newest. */
    int kept = 0;
    for (int t = 199; t >= 0; t--) {
        snprintf(name, sizeof name, "tool_39_%d", t);
        if (!lookup(tm, name))
            break;
        kept++;
    }
    CHECK(kept >= 20 && kept <= 26);
    /* Small entries: many fit and the bucket array grows within the budget. */
    for (int t = 0; t < 5000; t++) {
        snprintf(name, sizeof name, "s%d", t);
        CHECK(remember_json(tm, name, "{\"readOnlyHint\":false}") == 0);
        CHECK(toolmeta_bytes(tm) <= budget);
    }
    CHECK(lookup(tm, "s4999") != NULL);
    cJSON_Delete(j);
    free(ann);
    toolmeta_free(tm);
}

/* From raw tool objects, as a tools/list answer carries them. */
static void test_raw(void)
{
    struct tool_meta *tm = toolmeta_new(TOOLMETA_BYTES);
    CHECK(tm != NULL);
    if (!tm)
        return;
    static const char tool[] = "{\"name\":\"rm\",\"inputSchema\":{\"type\":\"object\"},"
                               "\"annotations\":{\"destructiveHint\":true,\"title\":\"Remove\"}}  \n";
    CHECK(toolmeta_remember_raw(tm, "rm", 2, tool, sizeof tool - 1) == 0);
    const cJSON *a = lookup(tm, "rm");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "destructiveHint")));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "title")), "Remove");
    /* Only the bytes given are read: a prefix is not an object. */
    CHECK(toolmeta_remember_raw(tm, "rm", 2, tool, 20) == -1);
    CHECK(lookup(tm, "rm") == NULL);
    CHECK(toolmeta_remember_raw(tm, "rm", 2, tool, sizeof tool - 1) == 0);
    static const char bare[] = "{\"name\":\"rm\"}";
    CHECK(toolmeta_remember_raw(tm, "rm", 2, bare, sizeof bare - 1) == 0);
    CHECK(lookup(tm, "rm") == NULL);
    static const char junk[] = "{\"name\":\"rm\"} {}";
    CHECK(toolmeta_remember_raw(tm, "rm", 2, junk, sizeof junk - 1) == -1);
    static const char arr[] = "[1]";
    CHECK(toolmeta_remember_raw(tm, "rm", 2, arr, sizeof arr - 1) == -1);
    toolmeta_free(tm);
}

int main(void)
{
    test_basics();
    test_budget();
    test_raw();
    return check_report();
}
