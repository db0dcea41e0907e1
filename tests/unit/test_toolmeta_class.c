/* toolmeta keeps each listed tool's risk class beside its annotations. */
#include "check.h"
#include "toolmeta.h"

static int remember(struct tool_meta *tm, const char *name, const char *json, bool trust)
{
    return toolmeta_remember_tool(tm, name, strlen(name), json, strlen(json), trust);
}

int main(void)
{
    struct tool_meta *tm = toolmeta_new(TOOLMETA_BYTES);
    CHECK(tm != NULL);
    if (!tm)
        return check_report();
    size_t empty = toolmeta_bytes(tm);
    CHECK(toolmeta_class(tm, "x", 1) == RISK_NONE);
    CHECK(toolmeta_class(NULL, "x", 1) == RISK_NONE);
    /* no annotations: kept for the class */
    CHECK(remember(tm, "delete_x", "{\"name\":\"delete_x\"}", false) == 0);
    CHECK(toolmeta_class(tm, "delete_x", 8) == RISK_DESTRUCTIVE);
    CHECK(toolmeta_lookup(tm, "delete_x", 8) == NULL);
    CHECK(toolmeta_bytes(tm) > empty);
    /* annotations raise (untrusted) or decide (trusted) */
    CHECK(remember(tm, "get_x", "{\"name\":\"get_x\",\"annotations\":{\"destructiveHint\":true}}", false) == 0);
    CHECK(toolmeta_class(tm, "get_x", 5) == RISK_DESTRUCTIVE);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(toolmeta_lookup(tm, "get_x", 5), "destructiveHint")));
    CHECK(remember(tm, "delete_y", "{\"name\":\"delete_y\",\"annotations\":{\"readOnlyHint\":true}}", false) == 0);
    CHECK(toolmeta_class(tm, "delete_y", 8) == RISK_DESTRUCTIVE);
    CHECK(remember(tm, "delete_y", "{\"name\":\"delete_y\",\"annotations\":{\"readOnlyHint\":true}}", true) == 0);
    CHECK(toolmeta_class(tm, "delete_y", 8) == RISK_READ);
    /* the key's name is classed, not a name the object claims */
    CHECK(remember(tm, "drop_all", "{\"name\":\"get_all\"}", false) == 0);
    CHECK(toolmeta_class(tm, "drop_all", 8) == RISK_DESTRUCTIVE);
    /* a description phrase */
    CHECK(remember(tm, "set_z", "{\"name\":\"set_z\",\"description\":\"Irreversibly sets z\"}", false) == 0);
    CHECK(toolmeta_class(tm, "set_z", 5) == RISK_DESTRUCTIVE);
    /* junk forgets; the annotations-only API keeps no class */
    CHECK(remember(tm, "set_z", "[1]", false) == -1);
    CHECK(toolmeta_class(tm, "set_z", 5) == RISK_NONE);
    CHECK(toolmeta_remember_raw(tm, "get_x", 5, "{\"annotations\":{\"title\":\"X\"}}", 29) == 0);
    CHECK(toolmeta_class(tm, "get_x", 5) == RISK_NONE);
    CHECK(toolmeta_lookup(tm, "get_x", 5) != NULL);
    /* forgetting frees everything */
    CHECK(toolmeta_remember(tm, "get_x", 5, NULL) == 0);
    CHECK(toolmeta_remember(tm, "delete_x", 8, NULL) == 0);
    CHECK(toolmeta_remember(tm, "delete_y", 8, NULL) == 0);
    CHECK(toolmeta_remember(tm, "drop_all", 8, NULL) == 0);
    CHECK(toolmeta_bytes(tm) == empty);
    /* a full store forgets the oldest, classes included */
    struct tool_meta *small = toolmeta_new(4096);
    CHECK(small != NULL);
    char name[32];
    for (int i = 0; small && i < 200; i++) {
        int n = snprintf(name, sizeof name, "delete_%d", i);
        CHECK(toolmeta_remember_tool(small, name, (size_t)n, "{}", 2, false) == 0);
        CHECK(toolmeta_bytes(small) <= 4096);
    }
    CHECK(toolmeta_class(small, "delete_199", 10) == RISK_DESTRUCTIVE);
    CHECK(toolmeta_class(small, "delete_0", 8) == RISK_NONE);
    toolmeta_free(small);
    toolmeta_free(tm);
    return check_report();
}
