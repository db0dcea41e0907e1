/* What a lenient client makes of a message, for the answer harnesses: it
 * reads with cJSON, takes the LAST of the keys that fold to the one it wants
 * (Unicode simple folding, as Go's encoding/json), and shows result.tools.
 * A tool is hidden when its name starts with 'h' or is "delete_run"; hide()
 * is the filter the harnesses give warden. */
#ifndef WARDEN_FUZZ_LENIENT_CLIENT_H
#define WARDEN_FUZZ_LENIENT_CLIENT_H
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "answer.h"
#include "utf8.h"

static bool hidden_name(const char *s, size_t n)
{
    return (n && s[0] == 'h') || (n == 10 && memcmp(s, "delete_run", 10) == 0);
}

static int hide(void *arg, const struct list_item *items, size_t n, bool *keep)
{
    (void)arg;
    for (size_t i = 0; i < n; i++)
        keep[i] = !hidden_name(items[i].name, items[i].name_len);
    return 0;
}

/* A lenient client's lookup: every key that folds to `key` matches, the last one wins. */
static const cJSON *lenient_get(const cJSON *obj, const char *key)
{
    const cJSON *found = NULL;
    if (!cJSON_IsObject(obj))
        return NULL;
    for (const cJSON *m = obj->child; m; m = m->next)
        if (m->string && utf8_fold_cmp(m->string, strlen(m->string), key, strlen(key)) == 0)
            found = m;
    return found;
}

/* The tools list a lenient client would show, or NULL. */
static const cJSON *lenient_tools(const cJSON *root)
{
    return lenient_get(lenient_get(root, "result"), "tools");
}

/* Aborts when a lenient client reading text[0..len) would show a hidden
 * tool; returns the parse (the caller frees it), never NULL: what warden
 * forwards is strict JSON, which cJSON must read too. */
static cJSON *client_reads(const char *text, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root)
        abort();
    const cJSON *tools = lenient_tools(root);
    if (cJSON_IsArray(tools))
        for (const cJSON *t = tools->child; t; t = t->next) {
            const cJSON *name = lenient_get(t, "name");
            if (cJSON_IsString(name) && hidden_name(name->valuestring, strlen(name->valuestring)))
                abort();
        }
    return root;
}
#endif
