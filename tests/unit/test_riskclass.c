/* riskclass: the name's verbs, the description's phrases and annotations
 * (raising only, unless trusted); the demo registry's 40 tools class as
 * their annotations say. */
#include "check.h"
#include "riskclass.h"
#include "../../src/demo/registry.c"

static enum risk_class of_json(const char *tool_json, bool trust)
{
    cJSON *t = cJSON_Parse(tool_json);
    enum risk_class c = riskclass_of_tool(t, trust, NULL, 0);
    cJSON_Delete(t);
    return c;
}

static enum risk_class name_class(const char *name)
{
    return riskclass_of_name(name, strlen(name), NULL, 0);
}

/* What the demo's annotations say, read as the spec asks of a trusted server. */
static enum risk_class annotated(const cJSON *tool)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(tool, "annotations");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "readOnlyHint")))
        return RISK_READ;
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "destructiveHint")) ? RISK_DESTRUCTIVE : RISK_WRITE;
}

static void test_names(void)
{
    CHECK(name_class("delete_run") == RISK_DESTRUCTIVE);
    CHECK(name_class("runDelete") == RISK_DESTRUCTIVE);          /* no verb before: "run" is execution */
    CHECK(name_class("userDelete") == RISK_DESTRUCTIVE);
    CHECK(name_class("get_run") == RISK_READ);                   /* the first verb decides */
    CHECK(name_class("getDeletedItems") == RISK_READ);
    CHECK(name_class("HTTPGet") == RISK_READ);
    CHECK(name_class("list-files") == RISK_READ);
    CHECK(name_class("Files.Write") == RISK_WRITE);
    CHECK(name_class("transition_model_version_stage") == RISK_WRITE);
    CHECK(name_class("createIssue") == RISK_WRITE);
    CHECK(name_class("refund_payment") == RISK_DESTRUCTIVE);
    CHECK(name_class("health") == RISK_READ);
    CHECK(name_class("frobnicate") == RISK_UNKNOWN);
    CHECK(name_class("") == RISK_UNKNOWN);
    CHECK(name_class("___") == RISK_UNKNOWN);
    char why[100];
    CHECK(riskclass_of_name("purge_cache", 11, why, sizeof why) == RISK_DESTRUCTIVE);
    CHECK_STR(why, "name verb \"purge\"");
    /* a word longer than any verb is skipped, never overflows */
    CHECK(name_class("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_get") == RISK_READ);
    CHECK(riskclass_of_name("get_x", 3, NULL, 0) == RISK_READ);  /* only len bytes are read */
}

static void test_description_and_annotations(void)
{
    CHECK(of_json("{\"name\":\"update_row\",\"description\":\"Rows are PERMANENTLY replaced\"}", false) == RISK_DESTRUCTIVE);
    CHECK(of_json("{\"name\":\"get_x\",\"description\":\"This cannot be undone.\"}", false) == RISK_DESTRUCTIVE);
    CHECK(of_json("{\"name\":\"get_x\",\"description\":\"Reads x.\"}", false) == RISK_READ);
    /* untrusted: raise only, and only explicit hints */
    CHECK(of_json("{\"name\":\"delete_x\",\"annotations\":{\"readOnlyHint\":true}}", false) == RISK_DESTRUCTIVE);
    CHECK(of_json("{\"name\":\"get_x\",\"annotations\":{\"readOnlyHint\":false}}", false) == RISK_WRITE);
    CHECK(of_json("{\"name\":\"get_x\",\"annotations\":{\"destructiveHint\":true}}", false) == RISK_DESTRUCTIVE);
    CHECK(of_json("{\"name\":\"get_x\",\"annotations\":{\"readOnlyHint\":true,\"destructiveHint\":true}}", false) == RISK_READ);
    CHECK(of_json("{\"name\":\"set_x\",\"annotations\":{\"destructiveHint\":false}}", false) == RISK_WRITE);
    CHECK(of_json("{\"name\":\"set_x\",\"annotations\":{}}", false) == RISK_WRITE);
    CHECK(of_json("{\"name\":\"frob\",\"annotations\":{\"readOnlyHint\":true}}", false) == RISK_UNKNOWN);
    CHECK(of_json("{\"name\":\"get_x\",\"annotations\":{\"readOnlyHint\":\"false\"}}", false) == RISK_READ);
    /* trusted: the annotations decide, lowering too */
    CHECK(of_json("{\"name\":\"delete_x\",\"annotations\":{\"readOnlyHint\":true}}", true) == RISK_READ);
    CHECK(of_json("{\"name\":\"frob\",\"annotations\":{\"readOnlyHint\":true}}", true) == RISK_READ);
    CHECK(of_json("{\"name\":\"delete_x\",\"annotations\":{\"destructiveHint\":false}}", true) == RISK_WRITE);
    CHECK(of_json("{\"name\":\"get_x\",\"annotations\":{\"readOnlyHint\":false}}", true) == RISK_DESTRUCTIVE);
    CHECK(of_json("{\"name\":\"set_x\",\"annotations\":{\"readOnlyHint\":false}}", true) == RISK_WRITE);
    CHECK(of_json("{\"name\":\"frob\",\"annotations\":{\"title\":\"Frob\"}}", true) == RISK_UNKNOWN);
    CHECK(of_json("{\"description\":\"no name\"}", true) == RISK_UNKNOWN);
    CHECK(risk_class_parse("destructive") == RISK_DESTRUCTIVE);
    CHECK(risk_class_parse("Read") == RISK_NONE);
    CHECK_STR(risk_class_name(RISK_UNKNOWN), "unknown");
}

/* The demo registry: every tool's class is what its annotations say, with
 * and without trusting them; 27 read, 7 write, 6 destructive. */
static void test_demo_registry(void)
{
    cJSON *list = registry_tool_list();
    const cJSON *t;
    int counts[RISK_NCLASSES] = {0}, n = 0;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(list, "tools")) {
        char why[160];
        enum risk_class c = riskclass_of_tool(t, false, why, sizeof why);
        enum risk_class trusted = riskclass_of_tool(t, true, NULL, 0);
        if (c != annotated(t) || trusted != annotated(t))
            fprintf(stderr, "%s: %s (%s), trusted %s\n", cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring,
                    risk_class_name(c), why, risk_class_name(trusted));
        CHECK(c == annotated(t));
        CHECK(trusted == annotated(t));
        counts[c]++;
        n++;
    }
    CHECK(n == 40);
    CHECK(counts[RISK_READ] == 27);
    CHECK(counts[RISK_WRITE] == 7);
    CHECK(counts[RISK_DESTRUCTIVE] == 6);
    cJSON_Delete(list);
}

int main(void)
{
    test_names();
    test_description_and_annotations();
    test_demo_registry();
    return check_report();
}
