/* libFuzzer harness for the upstream-answer reader (src/answer.c). Input:
 * one byte of flags (bit 0: the request is answered; bit 1: a GET stream,
 * no request; bit 2: no filter), one byte choosing the request's id, then
 * the server's message. Properties, checked with abort():
 *  1. the client never receives a hidden tool: whatever would reach it (the
 *     original on PASS, `out` on REWRITE) read by a lenient client (cJSON,
 *     last duplicate wins, keys matched under Unicode simple folding as Go
 *     does) has no hidden name in result.tools;
 *  2. REWRITE output is strict JSON, and reading it again changes nothing;
 *  3. a PASS/REWRITE of a response while the request waits is the answer to
 *     it, with an id of the same type and value;
 *  4. the streaming filter keeps exactly the tools a tree-based filter
 *     (cJSON: parse, delete hidden, list the rest) keeps, in order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "answer.h"
#include "jsonrpc.h"
#include "utf8.h"

static const char *const ids[] = {"5", "0", "\"5\"", "\"abc\"", "123456789012345678901", "-1", "\"\\u0035\"", "1"};

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

/* Appends the names of the tools in list (NUL-separated) to buf; returns the length used. */
static size_t names_of(const cJSON *list, char *buf, size_t cap)
{
    size_t n = 0;
    for (const cJSON *t = cJSON_IsArray(list) ? list->child : NULL; t; t = t->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        const char *s = cJSON_IsString(name) ? name->valuestring : "";
        size_t len = strlen(s) + 1;
        if (n + len > cap)
            abort();
        memcpy(buf + n, s, len);
        n += len;
    }
    return n;
}

static char names_a[1 << 17], names_b[1 << 17];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned flags = data[0];
    const char *id = flags & 2 ? NULL : ids[data[1] % (sizeof ids / sizeof *ids)];
    const char *msg = (const char *)data + 2;
    size_t len = size - 2;
    const struct list_filter filter = {hide, NULL};
    bool filtered = !(flags & 4);
    struct answer_req req = {id, id ? strlen(id) : 0, flags & 1, filtered ? &filter : NULL, NULL};
    struct evbuffer *out = evbuffer_new();
    struct answer_result res;
    if (!out || answer_check(&req, msg, len, out, &res) < 0)
        abort();
    if (res.verdict != ANSWER_REWRITE && evbuffer_get_length(out))
        abort();
    if (res.verdict != ANSWER_PASS && res.verdict != ANSWER_REWRITE) {
        if (!res.why)
            abort();
        evbuffer_free(out);
        return 0;
    }
    const char *sent = msg;
    size_t sent_len = len;
    if (res.verdict == ANSWER_REWRITE) {
        sent_len = evbuffer_get_length(out);
        sent = (const char *)evbuffer_pullup(out, -1);
        struct rpc_error err;
        if (!sent || json_scan(sent, sent_len, NULL, NULL, 0, &err) < 0)
            abort();
        struct evbuffer *again = evbuffer_new();
        struct answer_result res2;
        if (!again || answer_check(&req, sent, sent_len, again, &res2) < 0 || res2.verdict != ANSWER_PASS)
            abort();
        evbuffer_free(again);
    }
    cJSON *client = cJSON_ParseWithLength(sent, sent_len);
    if (!client)
        abort(); /* strict JSON that cJSON cannot read: the client might not either */
    /* 1 */
    const cJSON *tools = lenient_tools(client);
    if (filtered && cJSON_IsArray(tools))
        for (const cJSON *t = tools->child; t; t = t->next) {
            const cJSON *name = lenient_get(t, "name");
            if (cJSON_IsString(name) && hidden_name(name->valuestring, strlen(name->valuestring)))
                abort();
        }
    /* 3 */
    if (id && !(flags & 1) && res.is_response) {
        const char *mid;
        size_t mid_len;
        if (!res.answers_request || !rpc_find_id(sent, sent_len, &mid, &mid_len))
            abort();
        bool same = id[0] == '"' ? mid[0] == '"' && rpc_id_equal(mid, mid_len, id, strlen(id))
                                 : mid_len == strlen(id) && memcmp(mid, id, mid_len) == 0;
        if (!same)
            abort();
    }
    /* 4 */
    if (filtered && res.is_response && tools) {
        cJSON *tree = cJSON_ParseWithLength(msg, len);
        cJSON *list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tree, "result"), "tools");
        cJSON *t = cJSON_IsArray(list) ? list->child : NULL;
        while (t) {
            cJSON *next = t->next;
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
            if (cJSON_IsString(name) && hidden_name(name->valuestring, strlen(name->valuestring)))
                cJSON_Delete(cJSON_DetachItemViaPointer(list, t));
            t = next;
        }
        size_t a = names_of(list, names_a, sizeof names_a), b = names_of(tools, names_b, sizeof names_b);
        if (a != b || memcmp(names_a, names_b, a) != 0)
            abort();
        cJSON_Delete(tree);
    }
    cJSON_Delete(client);
    evbuffer_free(out);
    return 0;
}
