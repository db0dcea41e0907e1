/* The differential check of the one-pass reader (src/jsonrpc.c) against
 * its oracle, the tree-reading reader it replaced (jsonrpc_reference.c):
 * on every text both must accept or refuse alike, refuse with the same code
 * and message, and read the same message: kind, id bytes, method, tool, the
 * trees of params and arguments, and every field warden reads without a
 * tree. Included by fuzz_jsonrpc.c and tests/unit/test_jsonrpc_diff.c. */
#include "jsonrpc_reference.c"

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_tree(const cJSON *a, const cJSON *b)
{
    return a == b || (a && b && cJSON_Compare(a, b, true));
}

/* A member of an object tree, or NULL (also when obj is not an object). */
static const cJSON *member_of(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static const char *string_of(const cJSON *v)
{
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The depth of j's deepest value (j at depth) and its longest string, keys
 * included, as Lua's bounds on arguments count them. */
static void measure(const cJSON *j, size_t depth, size_t *deepest, size_t *longest)
{
    if (depth > *deepest)
        *deepest = depth;
    if (cJSON_IsString(j) && strlen(j->valuestring) > *longest)
        *longest = strlen(j->valuestring);
    if (!cJSON_IsArray(j) && !cJSON_IsObject(j))
        return;
    for (const cJSON *e = j->child; e; e = e->next) {
        if (e->string && strlen(e->string) > *longest)
            *longest = strlen(e->string);
        measure(e, depth + 1, deepest, longest);
    }
}

/* What differs between two readings of one accepted message, or NULL. */
static const char *compare_msgs(struct rpc_msg *m, const struct ref_msg *r)
{
    if (m->kind != r->kind)
        return "kind";
    if (m->id_text != r->id_text || m->id_len != r->id_len)
        return "id";
    if (!same_text(m->method, r->method) || !same_text(m->tool, r->tool))
        return "method or tool";
    const cJSON *params, *args;
    if (rpc_msg_params(m, &params) < 0 || rpc_msg_args(m, &args) < 0)
        return "a tree could not be built";
    if (!same_tree(params, r->params) || (m->params_text != NULL) != (r->params != NULL))
        return "params";
    if (!same_tree(args, r->args) || (m->args_text != NULL) != (r->args != NULL))
        return "arguments";
    if (!same_text(m->name, string_of(member_of(r->params, "name"))) ||
        !same_text(m->uri, string_of(member_of(r->params, "uri"))))
        return "params.name or params.uri";
    const cJSON *version = member_of(member_of(r->params, "_meta"), "io.modelcontextprotocol/protocolVersion");
    if (!same_text(m->version, string_of(version)) || m->version_not_string != (version && !cJSON_IsString(version)))
        return "params._meta protocolVersion";
    if (m->task != cJSON_IsObject(member_of(r->params, "task")))
        return "params.task";
    size_t deepest = 0, longest = 0;
    if (r->args)
        measure(r->args, 0, &deepest, &longest);
    if (m->args_depth != deepest || m->args_longest != longest)
        return "the arguments' depth or longest string";
    return NULL;
}

/* NULL when rpc_parse and json_scan agree with the oracle on body[0..size)
 * under lim, else what differs. */
static const char *jsonrpc_diff(const char *body, size_t size, const struct rpc_limits *lim)
{
    struct rpc_msg m;
    struct ref_msg r;
    struct rpc_error e = {0}, re = {0};
    int rc = rpc_parse(body, size, lim, &m, &e);
    int rrc = ref_parse(body, size, lim, &r, &re);
    const char *why = NULL;
    if (rc != rrc)
        why = rc == 0 ? "rpc_parse accepts what the oracle refuses" : "rpc_parse refuses what the oracle accepts";
    else if (rc < 0 && (e.code != re.code || strcmp(e.message, re.message) != 0))
        why = "rpc_parse refuses with another error";
    else if (rc == 0)
        why = compare_msgs(&m, &r);
    if (rc == 0)
        rpc_msg_clear(&m);
    if (rrc == 0)
        ref_msg_clear(&r);
    if (why)
        return why;
    struct rpc_error a = {0}, b = {0};
    int x = json_scan(body, size, lim, NULL, 0, &a), y = ref_json_scan(body, size, lim, NULL, 0, &b);
    if (x != y || (x < 0 && (a.code != b.code || strcmp(a.message, b.message) != 0)))
        return "json_scan differs";
    return NULL;
}
