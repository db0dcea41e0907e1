/* The catalog of listed tools: notes, updates by name, snapshots, cut
 * descriptions, oversized annotations, and the byte budget (oldest first). */
#include <stdio.h>
#include <stdlib.h>

#include "catalog.h"
#include "check.h"

static void note(struct catalog *c, const char *server, const char *json, double wall)
{
    cJSON *t = cJSON_Parse(json);
    catalog_note(c, server, t, wall);
    cJSON_Delete(t);
}

static const cJSON *tool(const cJSON *snap, const char *server, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(snap, server), name);
}

int main(void)
{
    struct catalog *c = catalog_new(CATALOG_BYTES);
    CHECK(c != NULL);
    note(c, "reg", "[{\"name\":\"a\",\"description\":\"<script>x</script>\",\"annotations\":{\"readOnlyHint\":true}},"
                   "{\"name\":\"b\"}, 7, {\"description\":\"no name\"}, {\"name\":5}]", 10);
    note(c, "other", "[{\"name\":\"a\",\"description\":\"other a\"}]", 11);
    catalog_note(c, "reg", NULL, 1);
    cJSON *s = catalog_snapshot(c);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "reg")) == 2);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(tool(s, "reg", "a"), "description")->valuestring, "<script>x</script>");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(tool(s, "reg", "a"), "annotations"), "readOnlyHint")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(tool(s, "reg", "b"), "description")));
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(tool(s, "other", "a"), "description")->valuestring, "other a");
    CHECK(cJSON_GetObjectItemCaseSensitive(tool(s, "reg", "a"), "listed")->valuedouble == 10);
    cJSON_Delete(s);
    /* A new listing updates the tool. */
    note(c, "reg", "[{\"name\":\"a\",\"description\":\"new\"}]", 20);
    s = catalog_snapshot(c);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(tool(s, "reg", "a"), "description")->valuestring, "new");
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(tool(s, "reg", "a"), "annotations")));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "reg")) == 2);
    cJSON_Delete(s);
    /* Long descriptions are cut; huge annotations are not kept. */
    size_t big = 64 << 10;
    char *json = malloc(big + 200);
    int n = snprintf(json, 200, "[{\"name\":\"big\",\"description\":\"");
    memset(json + n, 'd', big);
    snprintf(json + n + big, 200, "\"}]");
    note(c, "reg", json, 30);
    s = catalog_snapshot(c);
    CHECK(strlen(cJSON_GetObjectItemCaseSensitive(tool(s, "reg", "big"), "description")->valuestring) ==
          CATALOG_MAX_DESCRIPTION);
    cJSON_Delete(s);
    snprintf(json, big + 200, "[{\"name\":\"ann\",\"annotations\":{\"x\":\"%0*d\"}}]", (int)(32 << 10), 0);
    note(c, "reg", json, 31);
    s = catalog_snapshot(c);
    CHECK(tool(s, "reg", "ann") != NULL);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(tool(s, "reg", "ann"), "annotations")));
    cJSON_Delete(s);
    free(json);
    CHECK(catalog_bytes(c) <= CATALOG_BYTES);
    /* From raw tool objects, as the exchange's list filter has them. */
    static const char raw[] = "{\"name\":\"r\",\"description\":\"raw <b>\",\"annotations\":{\"readOnlyHint\":false}}";
    catalog_note_raw(c, "reg", "r", 1, raw, sizeof raw - 1, 40);
    catalog_note_raw(c, "reg", "bad", 3, "[1]", 3, 40);
    catalog_note_raw(c, "reg", "nul\0", 4, raw, sizeof raw - 1, 40);
    s = catalog_snapshot(c);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(tool(s, "reg", "r"), "description")->valuestring, "raw <b>");
    CHECK(tool(s, "reg", "bad") == NULL && tool(s, "reg", "nul") == NULL);
    cJSON_Delete(s);
    catalog_free(c);

    /* Budget: about ten small tools; the first listed go first. */
    c = catalog_new(10 * 600);
    for (int i = 0; i < 40; i++) {
        char t[80];
        snprintf(t, sizeof t, "[{\"name\":\"t%d\"}]", i);
        note(c, "s", t, i);
    }
    CHECK(catalog_bytes(c) <= 10 * 600);
    s = catalog_snapshot(c);
    int kept = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "s"));
    CHECK(kept >= 5 && kept < 40);
    CHECK(tool(s, "s", "t39") != NULL);
    CHECK(tool(s, "s", "t0") == NULL);
    cJSON_Delete(s);
    catalog_free(c);
    catalog_free(NULL);
    return check_report();
}
