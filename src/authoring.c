#include "authoring.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "jsonrpc.h"
#include "paths.h"
#include "policy.h"
#include "ratelimit.h"
#include "schema.h"
#include "sharedstore.h"

char *authoring_call_text(const char *tool, const cJSON *args, int id)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON *params = NULL;
    if (!msg || !cJSON_AddStringToObject(msg, "jsonrpc", "2.0") || !cJSON_AddNumberToObject(msg, "id", id) ||
        !cJSON_AddStringToObject(msg, "method", "tools/call") || !(params = cJSON_AddObjectToObject(msg, "params")) ||
        !cJSON_AddStringToObject(params, "name", tool) ||
        !cJSON_AddItemToObject(params, "arguments", args ? cJSON_Duplicate(args, 1) : cJSON_CreateObject())) {
        cJSON_Delete(msg);
        return NULL;
    }
    char *text = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    return text;
}

/* ---- warden check ---- */

static void check_usage(FILE *out)
{
    fputs("usage: warden check [--strict] [--tools FILE] POLICY...\n"
          "       warden check [--strict] --config FILE\n"
          "Validates policies (Lua ones are compiled and run in the sandbox) and prints every problem as\n"
          "FILE:LINE:COL /json/pointer: problem, and warnings for rules that can never apply as intended.\n"
          "  --config FILE  check a config file and every policy (and shadow policy) of every server\n"
          "  --tools FILE   what the server lists: a tools/list result ({\"tools\": [...]}), the JSON-RPC\n"
          "                 answer holding one, or an array of tools; warns about rules that match no\n"
          "                 listed tool and conditions on arguments a tool's inputSchema lacks\n"
          "  --strict       warnings are errors\n"
          "Exit status: 0 when everything loads (and, with --strict, nothing warns), 1 otherwise, 2 on usage errors.\n",
          out);
}

/* The tools array of a tools file, in one of the forms check_usage names. */
static const cJSON *tools_array(const cJSON *root)
{
    if (cJSON_IsArray(root))
        return root;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (cJSON_IsArray(t))
        return t;
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(root, "result");
    t = cJSON_GetObjectItemCaseSensitive(result, "tools");
    return cJSON_IsArray(t) ? t : NULL;
}

static cJSON *read_json_file(const char *path, char *err, size_t errlen)
{
    struct schema_doc doc;
    schema_doc_init(&doc, path, err, errlen);
    const cJSON *root = schema_parse_file(&doc);
    cJSON *copy = root ? cJSON_Duplicate(root, 1) : NULL;
    if (root && !copy)
        snprintf(err, errlen, "%s: out of memory", path);
    schema_doc_free(&doc);
    return copy;
}

/* Prints lines of text, each after prefix. */
static void print_lines(const char *prefix, const char *text)
{
    for (const char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        printf("%s%.*s\n", prefix, nl ? (int)(nl - line) : (int)strlen(line), line);
        if (!nl)
            break;
    }
}

/* True when the file parses as a JSON object with "servers": a config file. */
static bool looks_like_config(const char *path)
{
    char err[256];
    cJSON *root = read_json_file(path, err, sizeof err);
    bool yes = cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "servers");
    cJSON_Delete(root);
    return yes;
}

/* Loads one set the way warden would, prints its problems and warnings;
 * returns 0 when it loads (and, strict, warns of nothing). */
static int check_set(const char *label, const char *const *files, size_t n, const char *const *shadow,
                     size_t nshadow, const char *server, const cJSON *tools, bool strict, struct shared_store *shared)
{
    static char err[65536], warnings[65536];
    struct policy_load_opts opts = {.shadow = shadow, .nshadow = nshadow, .warnings = warnings,
                                    .warnlen = sizeof warnings, .tools = tools};
    struct policy_set *ps = policy_set_load_opts(files, n, shared, server, &opts, err, sizeof err);
    print_lines("", warnings);
    if (!ps) {
        print_lines("", err);
        return 1;
    }
    policy_set_free(ps);
    if (opts.nwarnings && strict) {
        printf("%s: %d warning%s (--strict)\n", label, opts.nwarnings, opts.nwarnings == 1 ? "" : "s");
        return 1;
    }
    printf("%s: ok%s\n", label, opts.nwarnings ? " (with warnings)" : "");
    return 0;
}

/* warden check --config FILE: the config as warden would read it, then
 * every server's policies as warden would load them. */
static int check_config(const char *file, bool strict, struct shared_store *shared)
{
    char *argv[] = {"--config", (char *)file};
    struct config cfg = {0};
    static char err[16384];
    int rc = config_from_args(2, argv, &cfg, err, sizeof err);
    if (rc != 0) {
        print_lines("", err);
        config_free(&cfg);
        return 1;
    }
    if (paths_set_lua_dir(cfg.lua_path, err, sizeof err) < 0) {
        printf("%s: %s\n", file, err);
        config_free(&cfg);
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; i < cfg.nservers; i++) {
        const struct server_conf *sc = &cfg.servers[i];
        char label[600];
        snprintf(label, sizeof label, "%s: server %s (%zu polic%s, %zu shadow)", file, sc->name, sc->npolicies,
                 sc->npolicies == 1 ? "y" : "ies", sc->nshadow_policies);
        bad |= check_set(label, (const char *const *)sc->policies, sc->npolicies,
                         (const char *const *)sc->shadow_policies, sc->nshadow_policies, sc->name, NULL, strict,
                         shared);
    }
    config_free(&cfg);
    return bad;
}

int authoring_check_main(int argc, char **argv)
{
    bool strict = false;
    const char *tools_file = NULL, *config_file = NULL;
    int first = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            check_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--strict") == 0) {
            strict = true;
        } else if ((strcmp(argv[i], "--tools") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            *(argv[i][2] == 't' ? &tools_file : &config_file) = argv[i + 1];
            i++;
        } else if (strcmp(argv[i], "--") == 0) {
            first = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "warden check: unknown option %s\n", argv[i]);
            check_usage(stderr);
            return 2;
        } else {
            first = i;
            break;
        }
    }
    if (config_file ? first < argc : first >= argc) {
        check_usage(stderr);
        return 2;
    }
    cJSON *tools_root = NULL;
    const cJSON *tools = NULL;
    if (tools_file) {
        char err[1024];
        if (!(tools_root = read_json_file(tools_file, err, sizeof err)) || !(tools = tools_array(tools_root))) {
            fprintf(stderr, "warden check: %s\n", tools_root ? "--tools: no \"tools\" array in the file" : err);
            cJSON_Delete(tools_root);
            return 2;
        }
    }
    struct shared_store *shared = shared_store_new(NULL);
    if (!shared) {
        cJSON_Delete(tools_root);
        return 2;
    }
    int bad = 0;
    if (config_file) {
        bad = check_config(config_file, strict, shared);
    } else {
        for (int i = first; i < argc; i++) {
            const char *one[] = {argv[i]};
            int rc = check_set(argv[i], one, 1, NULL, 0, "check", tools, strict, shared);
            if (rc && looks_like_config(argv[i]))
                printf("%s: this is a config file, not a policy: run warden check --config %s\n", argv[i], argv[i]);
            bad |= rc;
        }
    }
    shared_store_free(shared);
    cJSON_Delete(tools_root);
    return bad;
}

/* ---- warden explain ---- */

static void explain_usage(FILE *out)
{
    fputs("usage: warden explain --policy FILE... [--shadow-policy FILE...] --tool NAME [--args JSON] [--session ID]\n"
          "Decides one tools/call with the policies, as warden would (on a fresh rate-limit table), and prints\n"
          "every rule consulted, in order, with what it decided and why, then the decision.\n"
          "Exit status: 0 when the call is allowed, 1 when it is refused, 2 on usage errors.\n",
          out);
}

/* Appends a string to a growing list; false when out of memory. */
static bool push(const char ***list, size_t *n, const char *s)
{
    const char **grown = realloc(*list, (*n + 1) * sizeof *grown);
    if (!grown)
        return false;
    grown[(*n)++] = s;
    *list = grown;
    return true;
}

int authoring_explain_main(int argc, char **argv)
{
    const char **files = NULL, **shadow = NULL;
    size_t nfiles = 0, nshadow = 0;
    const char *tool = NULL, *args_text = "{}", *session = "explain";
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            explain_usage(stdout);
            rc = 0;
            goto out;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "warden explain: %s needs a value\n", a);
            explain_usage(stderr);
            goto out;
        }
        const char *v = argv[++i];
        bool ok = true;
        if (strcmp(a, "--policy") == 0)
            ok = push(&files, &nfiles, v);
        else if (strcmp(a, "--shadow-policy") == 0)
            ok = push(&shadow, &nshadow, v);
        else if (strcmp(a, "--tool") == 0)
            tool = v;
        else if (strcmp(a, "--args") == 0)
            args_text = v;
        else if (strcmp(a, "--session") == 0)
            session = v;
        else {
            fprintf(stderr, "warden explain: unknown option %s\n", a);
            explain_usage(stderr);
            goto out;
        }
        if (!ok) {
            fprintf(stderr, "warden explain: out of memory\n");
            goto out;
        }
    }
    if (!tool || nfiles + nshadow == 0) {
        explain_usage(stderr);
        goto out;
    }
    cJSON *args = cJSON_Parse(args_text);
    if (!cJSON_IsObject(args)) {
        fprintf(stderr, "warden explain: --args must be a JSON object, such as '{\"alias\": \"champion\"}'\n");
        cJSON_Delete(args);
        goto out;
    }
    char *text = authoring_call_text(tool, args, 1);
    cJSON_Delete(args);
    struct rpc_msg m;
    struct rpc_error e;
    if (!text || rpc_parse(text, strlen(text), NULL, &m, &e) < 0) {
        fprintf(stderr, "warden explain: the call is not a valid message: %s\n", text ? e.message : "out of memory");
        free(text);
        goto out;
    }
    struct shared_store *shared = shared_store_new(NULL);
    struct rate_store *rs = rate_store_new();
    static char err[65536], trace_buf[65536];
    struct policy_load_opts opts = {.shadow = shadow, .nshadow = nshadow};
    struct policy_set *ps = shared && rs ? policy_set_load_opts(files, nfiles, shared, "explain", &opts, err,
                                                                sizeof err)
                                         : NULL;
    if (!ps) {
        print_lines("", shared && rs ? err : "out of memory");
        rc = 1;
    } else {
        struct call_ctx ctx = {.server = "explain", .session = session, .session_len = strlen(session),
                               .client_addr = "explain", .now = 1000, .wall = 1000};
        struct policy_trace t = {.buf = trace_buf, .cap = sizeof trace_buf};
        struct decision d;
        policy_decide_traced(ps, rs, &m, &ctx, &d, &t);
        printf("tools/call %s %s\n", tool, args_text);
        print_lines("  ", trace_buf);
        rc = d.verdict == VERDICT_ALLOW || d.verdict == VERDICT_NONE ? 0 : 1;
        policy_set_free(ps);
    }
    rate_store_free(rs);
    shared_store_free(shared);
    rpc_msg_clear(&m);
    free(text);
out:
    free(files);
    free(shadow);
    return rc;
}
