/* toolmeta and a server listing its tools again: an unchanged definition is
 * not read again but made the newest; any changed byte, or another way of
 * reading it (trust_annotations, classing or not), is read afresh; what
 * toolmeta_remember set is never taken for a listed definition. */
#include <stdio.h>

#include "check.h"
#include "toolmeta.h"

static int listed(struct tool_meta *tm, const char *name, const char *json, bool trust)
{
    return toolmeta_remember_tool(tm, name, strlen(name), json, strlen(json), trust);
}

static bool hint(const struct tool_meta *tm, const char *name, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(toolmeta_lookup(tm, name, strlen(name)), key));
}

static void test_same_and_changed(void)
{
    struct tool_meta *tm = toolmeta_new(TOOLMETA_BYTES);
    CHECK(tm != NULL);
    if (!tm)
        return;
    static const char ro[] = "{\"name\":\"delete_a\",\"annotations\":{\"readOnlyHint\":true}}";
    static const char ro2[] = "{\"name\":\"delete_a\",\"annotations\":{\"readOnlyHint\":true} }";
    static const char dh[] = "{\"name\":\"delete_a\",\"annotations\":{\"destructiveHint\":true}}";
    CHECK(listed(tm, "delete_a", ro, true) == 0);
    CHECK(toolmeta_class(tm, "delete_a", 8) == RISK_READ);
    size_t used = toolmeta_bytes(tm);
    CHECK(listed(tm, "delete_a", ro, true) == 0);
    CHECK(toolmeta_class(tm, "delete_a", 8) == RISK_READ);
    CHECK(hint(tm, "delete_a", "readOnlyHint"));
    CHECK(toolmeta_bytes(tm) == used);
    /* the server's trust changed: the same bytes are classed again */
    CHECK(listed(tm, "delete_a", ro, false) == 0);
    CHECK(toolmeta_class(tm, "delete_a", 8) == RISK_DESTRUCTIVE);
    CHECK(listed(tm, "delete_a", ro, true) == 0);
    CHECK(toolmeta_class(tm, "delete_a", 8) == RISK_READ);
    /* one byte more (white space) is another definition, read again */
    CHECK(listed(tm, "delete_a", ro2, true) == 0);
    CHECK(toolmeta_class(tm, "delete_a", 8) == RISK_READ);
    CHECK(listed(tm, "delete_a", dh, true) == 0);
    CHECK(toolmeta_class(tm, "delete_a", 8) == RISK_DESTRUCTIVE);
    CHECK(!hint(tm, "delete_a", "readOnlyHint"));
    CHECK(hint(tm, "delete_a", "destructiveHint"));
    /* annotations set by hand are not a listed definition: listing the old
     * bytes again reads them */
    CHECK(listed(tm, "delete_a", ro, true) == 0);
    cJSON *other = cJSON_Parse("{\"title\":\"T\"}");
    CHECK(toolmeta_remember(tm, "delete_a", 8, other) == 0);
    cJSON_Delete(other);
    CHECK(toolmeta_class(tm, "delete_a", 8) == RISK_NONE);
    CHECK(listed(tm, "delete_a", ro, true) == 0);
    CHECK(toolmeta_class(tm, "delete_a", 8) == RISK_READ);
    CHECK(hint(tm, "delete_a", "readOnlyHint"));
    /* the annotations-only reading of the same bytes keeps no class: read again */
    CHECK(toolmeta_remember_raw(tm, "delete_a", 8, ro, sizeof ro - 1) == 0);
    CHECK(toolmeta_class(tm, "delete_a", 8) == RISK_NONE);
    CHECK(hint(tm, "delete_a", "readOnlyHint"));
    /* forgetting and listing again */
    CHECK(toolmeta_remember(tm, "delete_a", 8, NULL) == 0);
    CHECK(toolmeta_class(tm, "delete_a", 8) == RISK_NONE);
    CHECK(listed(tm, "delete_a", ro, true) == 0);
    CHECK(toolmeta_class(tm, "delete_a", 8) == RISK_READ);
    toolmeta_free(tm);
}

/* A tool listed again unchanged becomes the newest: a full store forgets
 * the tools not listed again first. */
static void test_order(void)
{
    struct tool_meta *tm = toolmeta_new(8192);
    CHECK(tm != NULL);
    if (!tm)
        return;
    static const char def[] = "{\"annotations\":{\"title\":\"kept\"}}";
    CHECK(listed(tm, "keep_me", def, false) == 0);
    char name[32];
    int forgotten_at = -1;
    for (int i = 0; i < 400 && forgotten_at < 0; i++) {
        int n = snprintf(name, sizeof name, "get_%d", i);
        CHECK(toolmeta_remember_tool(tm, name, (size_t)n, def, sizeof def - 1, false) == 0);
        CHECK(listed(tm, "keep_me", def, false) == 0);
        CHECK(toolmeta_bytes(tm) <= 8192);
        if (toolmeta_class(tm, "get_0", 5) == RISK_NONE)
            forgotten_at = i;
    }
    CHECK(forgotten_at > 0); /* the store filled and forgot the oldest */
    CHECK(toolmeta_class(tm, "keep_me", 7) == RISK_UNKNOWN);
    CHECK(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(toolmeta_lookup(tm, "keep_me", 7), "title")) != NULL);
    toolmeta_free(tm);
}

/* As the list filter gives tools: only the description and annotations
 * texts (and trust) are compared; a change in either is read again. */
static void test_listed(void)
{
    struct tool_meta *tm = toolmeta_new(TOOLMETA_BYTES);
    CHECK(tm != NULL);
    if (!tm)
        return;
    static const char raw[] = "{\"name\":\"get_a\",\"description\":\"Gets a\",\"annotations\":{\"readOnlyHint\":true}}";
    static const char raw2[] = "{\"name\":\"get_a\",\"description\":\"Deletes permanently\",\"annotations\":{}}";
    enum risk_class cls;
    struct list_item it = {.name = "get_a", .name_len = 5, .raw = raw, .raw_len = sizeof raw - 1};
    it.description = strstr(raw, "\"Gets a\"");
    it.description_len = 8;
    it.annotations = strstr(raw, "{\"readOnly");
    it.annotations_len = strlen(it.annotations) - 1;
    CHECK(toolmeta_remember_listed(tm, &it, false, &cls) == 0);
    CHECK(toolmeta_class(tm, "get_a", 5) == RISK_READ);
    CHECK(hint(tm, "get_a", "readOnlyHint"));
    size_t used = toolmeta_bytes(tm);
    CHECK(toolmeta_remember_listed(tm, &it, false, &cls) == 0);
    CHECK(toolmeta_bytes(tm) == used);
    CHECK(toolmeta_class(tm, "get_a", 5) == RISK_READ && cls == RISK_READ);
    /* the same bytes through the whole-object reading are another digest */
    CHECK(toolmeta_remember_tool(tm, "get_a", 5, raw, sizeof raw - 1, true) == 0);
    CHECK(toolmeta_remember_listed(tm, &it, true, &cls) == 0);
    CHECK(toolmeta_class(tm, "get_a", 5) == RISK_READ);
    /* a changed description and annotations */
    struct list_item it2 = {.name = "get_a", .name_len = 5, .raw = raw2, .raw_len = sizeof raw2 - 1};
    it2.description = strstr(raw2, "\"Deletes");
    it2.description_len = strlen("\"Deletes permanently\"");
    it2.annotations = strstr(raw2, "{}");
    it2.annotations_len = 2;
    CHECK(toolmeta_remember_listed(tm, &it2, true, &cls) == 0);
    CHECK(toolmeta_class(tm, "get_a", 5) == RISK_DESTRUCTIVE && cls == RISK_DESTRUCTIVE);
    CHECK(!hint(tm, "get_a", "readOnlyHint"));
    /* the description moved into nothing: absent differs from present */
    it2.description = NULL;
    it2.description_len = 0;
    CHECK(toolmeta_remember_listed(tm, &it2, true, &cls) == 0);
    CHECK(toolmeta_class(tm, "get_a", 5) == RISK_DESTRUCTIVE); /* the raw object still says it */
    CHECK(toolmeta_remember_listed(NULL, &it, false, &cls) == -1 && cls == RISK_NONE);
    toolmeta_free(tm);
}

int main(void)
{
    test_same_and_changed();
    test_listed();
    test_order();
    return check_report();
}
