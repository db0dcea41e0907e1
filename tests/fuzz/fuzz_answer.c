/* libFuzzer harness for the upstream-answer reader (src/answer.c). Input:
 * one byte of flags (bit 0: the request is answered; bit 1: a GET stream,
 * no request; bit 2: no filter; bit 3: the id follows; bit 4: a list request
 * whose cache fields warden corrects; bit 5: the GET stream was resumed with
 * Last-Event-ID), one byte choosing
 * the request's id from a table (or, with bit 3, giving the length of the
 * id that follows: a JSON string or integer, as rpc_parse lets through),
 * then the server's message. Properties, checked with abort():
 *  1. the client never receives a hidden tool: whatever would reach it (the
 *     original on PASS, `out` on REWRITE) read by a lenient client (cJSON,
 *     last duplicate wins, keys matched under Unicode simple folding as Go
 *     does) has no hidden name in result.tools;
 *  2. REWRITE output is strict JSON, and reading it again changes nothing;
 *  3. a PASS/REWRITE of a response while the request waits is the answer to
 *     it, with an id of the same type and value;
 *  4. the streaming filter keeps exactly the tools a tree-based filter
 *     (cJSON: parse, delete hidden, list the rest) keeps, in order;
 *  5. with bit 4, the result that answers the request says cacheScope
 *     "private" and no ttlMs above the cap (1000);
 *  6. each tool the streaming reader hands the filter is what a tree reads
 *     there: its bytes are one JSON object inside the message, after the
 *     previous tool's; cJSON reads from them the name given, and a
 *     description and annotations exactly when given, with the same values
 *     as their texts;
 *  7. on a stream that answers no request and was not resumed (bit 1
 *     without bit 5), no response reaches the client. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "answer.h"
#include "jsonrpc.h"
#include "lenient_client.h"

static const char *const ids[] = {"5", "0", "\"5\"", "\"abc\"", "123456789012345678901", "-1", "\"\\u0035\"", "1"};

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

/* Parses text[0..len) alone (no trailing bytes), or NULL. */
static cJSON *parse_exact(const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (j && end != text + len) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Property 6 for one member the reader gave as text[0..len) (NULL: none). */
static void same_member(const cJSON *tool, const char *key, const char *text, size_t len, const char *raw,
                        size_t raw_len)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(tool, key);
    if (!text) {
        if (m)
            abort();
        return;
    }
    if (!m || text < raw || text + len > raw + raw_len)
        abort();
    cJSON *v = parse_exact(text, len);
    if (!v || !cJSON_Compare(v, m, true))
        abort();
    cJSON_Delete(v);
}

struct message {
    const char *start, *end;
};

/* hide(), after checking property 6 on every item. */
static int hide_checked(void *arg, const struct list_item *items, size_t n, bool *keep)
{
    const struct message *msg = arg;
    const char *after = msg->start;
    for (size_t i = 0; i < n; i++) {
        const struct list_item *it = &items[i];
        if (it->raw < after || it->raw + it->raw_len > msg->end || it->raw_len < 2)
            abort();
        after = it->raw + it->raw_len;
        cJSON *tool = parse_exact(it->raw, it->raw_len);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(tool, "name");
        if (!cJSON_IsObject(tool) || !cJSON_IsString(name) || strlen(name->valuestring) != it->name_len ||
            memcmp(name->valuestring, it->name, it->name_len) != 0)
            abort();
        same_member(tool, "description", it->description, it->description_len, it->raw, it->raw_len);
        same_member(tool, "annotations", it->annotations, it->annotations_len, it->raw, it->raw_len);
        cJSON_Delete(tool);
    }
    return hide(NULL, items, n, keep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned flags = data[0];
    const char *msg = (const char *)data + 2;
    size_t len = size - 2;
    char custom[256];
    const char *id = ids[data[1] % (sizeof ids / sizeof *ids)];
    if (flags & 8) {
        size_t idlen = data[1];
        struct rpc_error err;
        if (idlen == 0 || idlen > len || json_scan(msg, idlen, NULL, NULL, 0, &err) < 0)
            return 0;
        if (msg[0] != '"' && (memchr(msg, '.', idlen) || memchr(msg, 'e', idlen) || memchr(msg, 'E', idlen) ||
                              (msg[0] != '-' && (msg[0] < '0' || msg[0] > '9'))))
            return 0;
        memcpy(custom, msg, idlen);
        custom[idlen] = '\0';
        id = custom;
        msg += idlen;
        len -= idlen;
    }
    if (flags & 2)
        id = NULL;
    struct message bounds = {msg, msg + len};
    const struct list_filter filter = {hide_checked, &bounds};
    bool filtered = !(flags & 4);
    const struct answer_cache cache = {.private_scope = true, .insert = true, .max_ttl_ms = 1000};
    struct answer_req req = {.id = id,
                             .id_len = id ? strlen(id) : 0,
                             .answered = flags & 1,
                             .replay = flags & 32,
                             .filter = filtered ? &filter : NULL,
                             .cache = flags & 16 ? &cache : NULL};
    struct evbuffer *out = evbuffer_new();
    struct answer_result res;
    if (!out || answer_check(&req, msg, len, out, &res) < 0)
        abort();
    if (res.verdict != ANSWER_REWRITE && evbuffer_get_length(out))
        abort();
    if (!id && !(flags & 32) && res.is_response && (res.verdict == ANSWER_PASS || res.verdict == ANSWER_REWRITE))
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
        bounds = (struct message){sent, sent + sent_len};
        struct evbuffer *again = evbuffer_new();
        struct answer_result res2;
        if (!again || answer_check(&req, sent, sent_len, again, &res2) < 0 || res2.verdict != ANSWER_PASS)
            abort();
        evbuffer_free(again);
    }
    /* 1 (and what is forwarded is strict JSON, which cJSON must read too) */
    cJSON *client = filtered ? client_reads(sent, sent_len) : cJSON_ParseWithLength(sent, sent_len);
    if (!client)
        abort();
    const cJSON *tools = lenient_tools(client);
    /* 5: a list result that answers the request is private and its ttlMs within the cap */
    const cJSON *result = cJSON_GetObjectItem(client, "result");
    if ((flags & 16) && res.answers_request && res.is_response && cJSON_IsObject(result)) {
        const cJSON *scope = cJSON_GetObjectItem(result, "cacheScope");
        const cJSON *ttl = cJSON_GetObjectItem(result, "ttlMs");
        if (!cJSON_IsString(scope) || strcmp(scope->valuestring, "private") != 0)
            abort();
        if (cJSON_IsNumber(ttl) && ttl->valuedouble > 1000)
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
