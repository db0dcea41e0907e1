/* pins_table: the process's pins keyed by server name (a config reload adds
 * and removes servers, so an index would name another server), shared within
 * a generation, loaded again for a new generation or a new path, and bounded. */
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "pins.h"

static char dir[] = "/tmp/warden-test-pins-table-XXXXXX";

static const char tool_a[] = "{\"name\":\"get_a\",\"description\":\"Reads a.\"}";
static const char tool_b[] = "{\"name\":\"delete_b\",\"description\":\"Deletes b.\"}";

/* A pins file at dir/file pinning the one tool json named name. */
static void write_pins(const char *file, const char *name, const char *json, char *path, size_t pathlen)
{
    char err[300];
    struct pin_entry e;
    snprintf(path, pathlen, "%s/%s", dir, file);
    CHECK(pin_entry_make(&e, "tool", name, strlen(name), json, strlen(json), err, sizeof err) == 0);
    CHECK(pins_file_write(path, NULL, &e, 1, NULL, err, sizeof err) == 0);
    pin_entry_clear(&e);
}

static enum pin_status check(const struct pins *p, const char *name, const char *json)
{
    return pins_check(p, name, strlen(name), json, strlen(json), NULL);
}

static void test_by_name(void)
{
    char a[300], b[300], err[1000];
    write_pins("a.json", "get_a", tool_a, a, sizeof a);
    write_pins("b.json", "delete_b", tool_b, b, sizeof b);
    struct pins_table *t = pins_table_new();
    CHECK(t != NULL);
    struct pins *a1 = pins_table_get(t, "alpha", 1, a, err, sizeof err);
    struct pins *b1 = pins_table_get(t, "beta", 1, b, err, sizeof err);
    CHECK(a1 && b1 && a1 != b1);
    CHECK(check(a1, "get_a", tool_a) == PIN_OK && check(b1, "delete_b", tool_b) == PIN_OK);
    /* another worker of the same generation shares the struct */
    struct pins *a1again = pins_table_get(t, "alpha", 1, a, err, sizeof err);
    CHECK(a1again == a1);
    /* a reload that removed "alpha": "beta" keeps its own pins whatever its place in the config */
    struct pins *b2 = pins_table_get(t, "beta", 2, b, err, sizeof err);
    CHECK(b2 && check(b2, "delete_b", tool_b) == PIN_OK && check(b2, "get_a", tool_a) == PIN_NEW);
    /* a server given another pins file in the same generation gets that file */
    struct pins *b2a = pins_table_get(t, "beta", 2, a, err, sizeof err);
    CHECK(b2a && b2a != b2 && check(b2a, "get_a", tool_a) == PIN_OK);
    /* a missing file fails the load, with its name */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.json", dir);
    CHECK(pins_table_get(t, "gamma", 2, missing, err, sizeof err) == NULL);
    CHECK(strstr(err, "none.json") != NULL);
    pins_free(a1);
    pins_free(a1again);
    pins_free(b1);
    pins_free(b2);
    pins_free(b2a);
    pins_table_free(t);
}

/* Full of one generation's servers, a new name is refused; a slot of an older
 * generation is reused. */
static void test_bound(void)
{
    char a[300], err[1000], name[32];
    write_pins("a.json", "get_a", tool_a, a, sizeof a);
    struct pins_table *t = pins_table_new();
    bool all = true;
    for (unsigned i = 0; i < PINS_TABLE_MAX; i++) {
        snprintf(name, sizeof name, "s%u", i);
        struct pins *p = pins_table_get(t, name, i == 0 ? 1 : 2, a, err, sizeof err);
        all = all && p;
        pins_free(p);
    }
    CHECK(all);
    struct pins *p = pins_table_get(t, "late", 2, a, err, sizeof err);
    CHECK(p != NULL); /* took s0's slot, of generation 1 */
    pins_free(p);
    CHECK(pins_table_get(t, "later", 2, a, err, sizeof err) == NULL);
    CHECK(strstr(err, "no room") != NULL);
    pins_table_free(t);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    test_by_name();
    test_bound();
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_report();
}
