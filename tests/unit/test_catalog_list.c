/* The catalog noting whole tools/list answers (catalog_note_list): a tool
 * listed again unchanged only gets its new "listed" time and becomes the
 * newest; a changed description or annotations is read again; names with a
 * NUL and objects that are not objects are skipped. */
#include <stdio.h>
#include <stdlib.h>

#include "catalog.h"
#include "check.h"

static const cJSON *field(const cJSON *snap, const char *name, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(snap, "reg"), name), key);
}

/* One item for the tool object raw, with its description and annotations found by key. */
static struct list_item item(const char *name, const char *raw)
{
    struct list_item it = {.name = name, .name_len = strlen(name), .raw = raw, .raw_len = strlen(raw)};
    const char *d = strstr(raw, "\"description\":"), *a = strstr(raw, "\"annotations\":");
    if (d) {
        it.description = d + 14;
        it.description_len = (size_t)(strchr(it.description + 1, '"') + 1 - it.description);
    }
    if (a) {
        it.annotations = a + 14;
        it.annotations_len = (size_t)(strchr(it.annotations, '}') + 1 - it.annotations);
    }
    return it;
}

int main(void)
{
    struct catalog *c = catalog_new(CATALOG_BYTES);
    CHECK(c != NULL);
    if (!c)
        return check_report();
    static const char a1[] = "{\"name\":\"a\",\"description\":\"first\",\"annotations\":{\"readOnlyHint\":true}}";
    static const char a2[] = "{\"name\":\"a\",\"description\":\"second\",\"annotations\":{\"readOnlyHint\":true}}";
    static const char a3[] = "{\"name\":\"a\",\"description\":\"second\",\"annotations\":{\"readOnlyHint\":false}}";
    struct list_item items[4] = {item("a", a1), item("b", "{\"name\":\"b\"}"), item("bad", "[1]"),
                                 {.name = "n\0l", .name_len = 3, .raw = a1, .raw_len = sizeof a1 - 1}};
    catalog_note_list(c, "reg", items, 4, 10);
    cJSON *s = catalog_snapshot(c);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "reg")) == 2);
    CHECK_STR(cJSON_GetStringValue(field(s, "a", "description")), "first");
    CHECK(field(s, "a", "listed")->valuedouble == 10);
    CHECK(field(s, "bad", "listed") == NULL);
    cJSON_Delete(s);
    size_t used = catalog_bytes(c);
    /* unchanged: the time is renewed, nothing else */
    catalog_note_list(c, "reg", items, 2, 20);
    s = catalog_snapshot(c);
    CHECK(field(s, "a", "listed")->valuedouble == 20 && field(s, "b", "listed")->valuedouble == 20);
    CHECK_STR(cJSON_GetStringValue(field(s, "a", "description")), "first");
    CHECK(catalog_bytes(c) == used);
    cJSON_Delete(s);
    /* a changed description, then changed annotations */
    items[0] = item("a", a2);
    catalog_note_list(c, "reg", items, 1, 30);
    s = catalog_snapshot(c);
    CHECK_STR(cJSON_GetStringValue(field(s, "a", "description")), "second");
    cJSON_Delete(s);
    items[0] = item("a", a3);
    catalog_note_list(c, "reg", items, 1, 40);
    s = catalog_snapshot(c);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(field(s, "a", "annotations"), "readOnlyHint")));
    cJSON_Delete(s);
    /* noted by another way (catalog_note_raw): the next listing reads it again */
    catalog_note_raw(c, "reg", "a", 1, a1, sizeof a1 - 1, 50);
    catalog_note_list(c, "reg", items, 1, 60);
    s = catalog_snapshot(c);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(field(s, "a", "annotations"), "readOnlyHint")));
    CHECK(field(s, "a", "listed")->valuedouble == 60);
    cJSON_Delete(s);
    catalog_note_list(NULL, "reg", items, 1, 70);
    catalog_free(c);

    /* A full catalog forgets the tools not listed again first. */
    struct catalog *small = catalog_new(8 * 700);
    CHECK(small != NULL);
    if (!small)
        return check_report();
    static const char keep_raw[] = "{\"name\":\"keep\",\"description\":\"k\"}";
    struct list_item keep = item("keep", keep_raw);
    char names[40][16], raws[40][64];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        snprintf(raws[i], sizeof raws[i], "{\"name\":\"%s\",\"description\":\"d\"}", names[i]);
        struct list_item it = item(names[i], raws[i]);
        catalog_note_list(small, "reg", &it, 1, i);
        catalog_note_list(small, "reg", &keep, 1, i);
        CHECK(catalog_bytes(small) <= 8 * 700);
    }
    s = catalog_snapshot(small);
    CHECK(field(s, "keep", "listed") != NULL && field(s, "t0", "listed") == NULL && field(s, "t39", "listed") != NULL);
    cJSON_Delete(s);
    catalog_free(small);
    return check_report();
}
