#include "scan.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "mcpclient.h"
#include "pins.h"
#include "riskclass.h"

#define SCAN_PROTOCOL "2025-06-18"
#define MAX_PAGES 1000
#define MAX_TOOLS 10000
#define WRITE_MAX 30
#define WRITE_WINDOW 3600

/* One tool as scanned. */
struct scanned {
    const cJSON *tool;          /* borrowed from the pages */
    const char *name;
    enum risk_class cls;
    char why[160];
    char summary[300];          /* the description's first line, cut */
};

struct scan {
    cJSON *pages;               /* owns every page's result */
    struct scanned *tools;
    size_t n;
    char *instructions;         /* the initialize result's "instructions" as JSON text, or NULL */
    char server[200];           /* serverInfo name and version */
    char source[600];
};

static void usage(FILE *out)
{
    fputs("usage: warden scan --upstream URL [--header 'Name: value']... [options]\n"
          "       warden scan [options] -- COMMAND [ARGS...]\n"
          "options:\n"
          "  --out PREFIX            write PREFIX.json (the policy) and PREFIX.test.json (its tests)\n"
          "  --format FORMAT         policy (default), table, or json ([{\"name\",\"class\",\"why\"}])\n"
          "  --pin FILE              also write FILE: the pins of every tool and of the instructions\n"
          "  --trust-annotations     the server's readOnlyHint/destructiveHint decide the classes\n"
          "  --timeout-ms N          per request (default 10000)\n",
          out);
}

/* ---- talking to the server ---- */

static bool scan_server(struct mcp_client *c, struct scan *s, bool trust, char *err, size_t errlen)
{
    cJSON *params = cJSON_CreateObject();
    cJSON *info = params ? cJSON_AddObjectToObject(params, "clientInfo") : NULL;
    if (!info || !cJSON_AddStringToObject(params, "protocolVersion", SCAN_PROTOCOL) ||
        !cJSON_AddObjectToObject(params, "capabilities") || !cJSON_AddStringToObject(info, "name", "warden-scan") ||
        !cJSON_AddStringToObject(info, "version", WARDEN_VERSION)) {
        cJSON_Delete(params);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    cJSON *init = mcp_client_request(c, "initialize", params, err, errlen);
    if (!init)
        return false;
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(init, "protocolVersion");
    const cJSON *si = cJSON_GetObjectItemCaseSensitive(init, "serverInfo");
    const cJSON *sn = cJSON_GetObjectItemCaseSensitive(si, "name"), *sv = cJSON_GetObjectItemCaseSensitive(si, "version");
    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(init, "instructions");
    if (cJSON_IsString(pv))
        mcp_client_set_protocol(c, pv->valuestring);
    snprintf(s->server, sizeof s->server, "%.100s %.60s", cJSON_IsString(sn) ? sn->valuestring : "(unnamed)",
             cJSON_IsString(sv) ? sv->valuestring : "");
    if (ins && !cJSON_IsString(ins)) {
        cJSON_Delete(init);
        snprintf(err, errlen, "initialize: \"instructions\" is not a string");
        return false;
    }
    s->instructions = ins ? cJSON_PrintUnformatted(ins) : NULL;
    cJSON_Delete(init);
    if (mcp_client_notify(c, "notifications/initialized", err, errlen) < 0)
        return false;
    if (!(s->pages = cJSON_CreateArray())) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    char cursor[1024] = "";
    for (int page = 0;; page++) {
        if (page == MAX_PAGES) {
            snprintf(err, errlen, "tools/list: more than %d pages", MAX_PAGES);
            return false;
        }
        cJSON *p = NULL;
        if (cursor[0] && (!(p = cJSON_CreateObject()) || !cJSON_AddStringToObject(p, "cursor", cursor))) {
            cJSON_Delete(p);
            snprintf(err, errlen, "out of memory");
            return false;
        }
        cJSON *result = mcp_client_request(c, "tools/list", p, err, errlen);
        if (!result)
            return false;
        cJSON_AddItemToArray(s->pages, result);
        const cJSON *tools = cJSON_GetObjectItemCaseSensitive(result, "tools");
        if (!cJSON_IsArray(tools)) {
            snprintf(err, errlen, "tools/list: the result has no \"tools\" array");
            return false;
        }
        const cJSON *t;
        cJSON_ArrayForEach(t, tools) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
            if (!cJSON_IsObject(t) || !cJSON_IsString(name) || !name->valuestring[0]) {
                fprintf(stderr, "warden scan: a tool without a name is skipped\n");
                continue;
            }
            bool dup = false;
            for (size_t i = 0; i < s->n && !dup; i++)
                dup = strcmp(s->tools[i].name, name->valuestring) == 0;
            if (dup) {
                fprintf(stderr, "warden scan: the tool %s is listed twice; the first is kept\n", name->valuestring);
                continue;
            }
            if (s->n == MAX_TOOLS) {
                snprintf(err, errlen, "tools/list: more than %d tools", MAX_TOOLS);
                return false;
            }
            struct scanned *grown = realloc(s->tools, (s->n + 1) * sizeof *grown);
            if (!grown) {
                snprintf(err, errlen, "out of memory");
                return false;
            }
            s->tools = grown;
            struct scanned *e = &s->tools[s->n++];
            memset(e, 0, sizeof *e);
            e->tool = t;
            e->name = name->valuestring;
            e->cls = riskclass_of_tool(t, trust, e->why, sizeof e->why);
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(t, "description");
            const char *text = cJSON_IsString(d) ? d->valuestring : "";
            while (*text == ' ' || *text == '\n' || *text == '\r' || *text == '\t')
                text++;
            size_t len = strcspn(text, "\r\n");
            if (len >= sizeof e->summary)
                len = sizeof e->summary - 1;
            memcpy(e->summary, text, len);
            /* cut between characters, never inside one */
            while (len && ((unsigned char)e->summary[len] & 0xC0) == 0x80)
                len--;
            e->summary[len] = '\0';
        }
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(result, "nextCursor");
        if (!cJSON_IsString(next) || !next->valuestring[0])
            break;
        if (strlen(next->valuestring) >= sizeof cursor || strcmp(next->valuestring, cursor) == 0) {
            snprintf(err, errlen, "tools/list: a nextCursor that is too long or repeats itself");
            return false;
        }
        snprintf(cursor, sizeof cursor, "%s", next->valuestring);
    }
    return true;
}

/* ---- writing ---- */

/* A JSON string of s (escaped by cJSON); "" when out of memory. */
static void put_string(FILE *f, const char *s)
{
    cJSON *j = cJSON_CreateString(s);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    fputs(text ? text : "\"\"", f);
    free(text);
    cJSON_Delete(j);
}

/* A tool name as a policy key: glob characters escaped, so the key names
 * this tool only. */
static void put_key(FILE *f, const char *name)
{
    size_t n = strlen(name);
    char *esc = malloc(2 * n + 1);
    if (!esc) {
        put_string(f, name);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strchr("*?[]\\", name[i]))
            esc[k++] = '\\';
        esc[k++] = name[i];
    }
    esc[k] = '\0';
    put_string(f, esc);
    free(esc);
}

static const char *rule_for(enum risk_class c)
{
    static char write_rule[80];
    snprintf(write_rule, sizeof write_rule, "\"rate_limit\": {\"max\": %d, \"window\": %d}", WRITE_MAX, WRITE_WINDOW);
    return c == RISK_READ ? "\"action\": \"allow\"" : c == RISK_WRITE ? write_rule : "\"action\": \"require_approval\"";
}

static const char *expect_for(enum risk_class c)
{
    return c == RISK_READ || c == RISK_WRITE ? "allow" : "require_approval";
}

static void counts(const struct scan *s, size_t out[RISK_NCLASSES])
{
    memset(out, 0, RISK_NCLASSES * sizeof *out);
    for (size_t i = 0; i < s->n; i++)
        out[s->tools[i].cls]++;
}

static void write_policy(FILE *f, const struct scan *s)
{
    size_t k[RISK_NCLASSES];
    counts(s, k);
    char when[40];
    time_t t = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d", gmtime(&t));
    char desc[1200];
    snprintf(desc, sizeof desc,
             "Written by warden scan from %s (server %s) on %s: %zu tools, %zu read, %zu write, %zu destructive, "
             "%zu unknown. Review every rule. Recommended: reads allowed, writes rate-limited, destructive and "
             "unknown tools await approval; \"classes\" applies the same to tools the server adds later.",
             s->source, s->server, when, s->n, k[RISK_READ], k[RISK_WRITE], k[RISK_DESTRUCTIVE], k[RISK_UNKNOWN]);
    fputs("{\n  \"version\": \"1\",\n  \"description\": ", f);
    put_string(f, desc);
    fputs(",\n  \"default\": \"deny\",\n  \"classes\": {\n", f);
    for (int c = RISK_READ; c < RISK_NCLASSES; c++)
        fprintf(f, "    \"%s\": {%s}%s\n", risk_class_name((enum risk_class)c), rule_for((enum risk_class)c),
                c + 1 < RISK_NCLASSES ? "," : "");
    fputs("  },\n  \"classes_of\": {\n", f);
    for (size_t i = 0; i < s->n; i++) {
        fputs("    ", f);
        put_key(f, s->tools[i].name);
        fprintf(f, ": \"%s\"%s\n", risk_class_name(s->tools[i].cls), i + 1 < s->n ? "," : "");
    }
    fputs("  },\n  \"tools\": {\n", f);
    for (size_t i = 0; i < s->n; i++) {
        const struct scanned *e = &s->tools[i];
        char note[600];
        snprintf(note, sizeof note, "%s (%s): %s", risk_class_name(e->cls), e->why, e->summary);
        fputs("    ", f);
        put_key(f, e->name);
        fprintf(f, ": {%s, \"description\": ", rule_for(e->cls));
        put_string(f, note);
        fprintf(f, "}%s\n", i + 1 < s->n ? "," : "");
    }
    fputs("  }\n}\n", f);
}

static void write_tests(FILE *f, const struct scan *s, const char *policy_file)
{
    fputs("{\n  \"description\": \"One case per tool scanned: the decision its recommended rule gives.\",\n"
          "  \"policies\": [",
          f);
    put_string(f, policy_file);
    fputs("],\n  \"cases\": [\n", f);
    for (size_t i = 0; i < s->n; i++) {
        fputs("    {\"tool\": ", f);
        put_string(f, s->tools[i].name);
        fprintf(f, ", \"expect\": \"%s\"}%s\n", expect_for(s->tools[i].cls), i + 1 < s->n ? "," : "");
    }
    fputs("  ]\n}\n", f);
}

static void write_table(FILE *f, const struct scan *s)
{
    int w = 4;
    for (size_t i = 0; i < s->n; i++)
        if ((int)strlen(s->tools[i].name) > w)
            w = (int)strlen(s->tools[i].name);
    fprintf(f, "%-*s  %-11s  %s\n", w, "TOOL", "CLASS", "WHY");
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "%-*s  %-11s  %s\n", w, s->tools[i].name, risk_class_name(s->tools[i].cls), s->tools[i].why);
    size_t k[RISK_NCLASSES];
    counts(s, k);
    fprintf(f, "%zu tools: %zu read, %zu write, %zu destructive, %zu unknown\n", s->n, k[RISK_READ], k[RISK_WRITE],
            k[RISK_DESTRUCTIVE], k[RISK_UNKNOWN]);
}

static void write_inventory_json(FILE *f, const struct scan *s)
{
    fputs("[\n", f);
    for (size_t i = 0; i < s->n; i++) {
        fputs("  {\"name\": ", f);
        put_string(f, s->tools[i].name);
        fprintf(f, ", \"class\": \"%s\", \"why\": ", risk_class_name(s->tools[i].cls));
        put_string(f, s->tools[i].why);
        fprintf(f, "}%s\n", i + 1 < s->n ? "," : "");
    }
    fputs("]\n", f);
}

static int write_pins(const struct scan *s, const char *path)
{
    char err[600];
    struct pin_entry *e = calloc(s->n + 1, sizeof *e), ins;
    size_t n = 0;
    int rc = 1;
    if (!e) {
        fprintf(stderr, "warden scan: out of memory\n");
        return 1;
    }
    bool have_ins = pin_entry_make(&ins, "instructions", "", 0, s->instructions,
                                   s->instructions ? strlen(s->instructions) : 0, err, sizeof err) == 0;
    if (!have_ins) {
        fprintf(stderr, "warden scan: the instructions cannot be pinned: %s\n", err);
        goto out;
    }
    for (size_t i = 0; i < s->n; i++) {
        char *text = cJSON_PrintUnformatted(s->tools[i].tool);
        int made = text ? pin_entry_make(&e[n], "tool", s->tools[i].name, strlen(s->tools[i].name), text,
                                         strlen(text), err, sizeof err) : -1;
        free(text);
        if (made < 0) {
            fprintf(stderr, "warden scan: %s cannot be pinned: %s\n", s->tools[i].name, text ? err : "out of memory");
            goto out;
        }
        n++;
    }
    char desc[900];
    snprintf(desc, sizeof desc, "Tool definitions of %s (server %s) approved with warden scan --pin", s->source, s->server);
    if (pins_file_write(path, desc, e, n, &ins, err, sizeof err) < 0) {
        fprintf(stderr, "warden scan: %s\n", err);
        goto out;
    }
    fprintf(stderr, "warden scan: pinned %zu tools and the instructions in %s\n", n, path);
    rc = 0;
out:
    if (have_ins)
        pin_entry_clear(&ins);
    pin_entries_free(e, n);
    return rc;
}

static int write_outputs(const struct scan *s, const char *out, const char *format)
{
    if (strcmp(format, "table") == 0) {
        write_table(stdout, s);
        return 0;
    }
    if (strcmp(format, "json") == 0) {
        write_inventory_json(stdout, s);
        return 0;
    }
    if (!out) {
        write_policy(stdout, s);
        return 0;
    }
    char *policy = NULL, *tests = NULL;
    if (asprintf(&policy, "%s.json", out) < 0 || asprintf(&tests, "%s.test.json", out) < 0) {
        free(policy);
        fprintf(stderr, "warden scan: out of memory\n");
        return 1;
    }
    int rc = 1;
    FILE *pf = fopen(policy, "w"), *tf = pf ? fopen(tests, "w") : NULL;
    if (!pf || !tf) {
        fprintf(stderr, "warden scan: cannot write %s: %m\n", pf ? tests : policy);
    } else {
        write_policy(pf, s);
        /* the test file names the policy relative to itself: both sit side by side */
        const char *base = strrchr(policy, '/');
        write_tests(tf, s, base ? base + 1 : policy);
        rc = 0;
    }
    if (pf && fclose(pf) != 0)
        rc = 1;
    if (tf && fclose(tf) != 0)
        rc = 1;
    if (rc == 0) {
        size_t k[RISK_NCLASSES];
        counts(s, k);
        fprintf(stderr, "warden scan: wrote %s and %s: %zu tools, %zu read, %zu write, %zu destructive, %zu unknown\n",
                policy, tests, s->n, k[RISK_READ], k[RISK_WRITE], k[RISK_DESTRUCTIVE], k[RISK_UNKNOWN]);
    }
    free(policy);
    free(tests);
    return rc;
}

int scan_main(int argc, char **argv)
{
    const char *url = NULL, *out = NULL, *format = "policy", *pin = NULL;
    const char **headers = calloc((size_t)argc + 1, sizeof *headers);
    size_t nheaders = 0;
    bool trust = false;
    unsigned timeout = 10000;
    char **command = NULL;
    if (!headers)
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--") == 0) {
            command = argv + i + 1;
            break;
        } else if (strcmp(a, "--upstream") == 0 && has_value) {
            url = argv[++i];
        } else if (strcmp(a, "--header") == 0 && has_value) {
            const char *h = argv[++i], *colon = strchr(h, ':');
            if (!colon || colon == h || strpbrk(h, "\r\n")) {
                fprintf(stderr, "warden scan: --header %s: must be 'Name: value' on one line\n", h);
                free(headers);
                return 2;
            }
            headers[nheaders++] = h;
        } else if (strcmp(a, "--out") == 0 && has_value) {
            out = argv[++i];
        } else if (strcmp(a, "--format") == 0 && has_value) {
            format = argv[++i];
        } else if (strcmp(a, "--pin") == 0 && has_value) {
            pin = argv[++i];
        } else if (strcmp(a, "--timeout-ms") == 0 && has_value) {
            char *end;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (*end || v == 0 || v > 3600000) {
                fprintf(stderr, "warden scan: --timeout-ms %s: a number of milliseconds, 1 to 3600000\n", argv[i]);
                free(headers);
                return 2;
            }
            timeout = (unsigned)v;
        } else if (strcmp(a, "--trust-annotations") == 0) {
            trust = true;
        } else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            free(headers);
            return 0;
        } else {
            fprintf(stderr, "warden scan: %s: unknown option or missing value\n", a);
            usage(stderr);
            free(headers);
            return 2;
        }
    }
    const char *problem = !url == !(command && command[0]) ? "give one of --upstream URL and -- COMMAND"
                        : strcmp(format, "policy") && strcmp(format, "table") && strcmp(format, "json")
                              ? "--format is policy, table or json"
                        : out && strcmp(format, "policy") ? "--out writes a policy: it goes without --format table|json"
                        : nheaders && !url ? "--header goes with --upstream"
                                           : NULL;
    if (problem) {
        fprintf(stderr, "warden scan: %s\n", problem);
        usage(stderr);
        free(headers);
        return 2;
    }
    /* a server that dies while we write to it must be an error, not our end */
    signal(SIGPIPE, SIG_IGN);
    struct mcp_client_opts o = {.url = url, .command = command, .headers = headers, .nheaders = nheaders,
                                .timeout_ms = timeout};
    struct scan s = {0};
    snprintf(s.source, sizeof s.source, "%s", url ? url : command[0]);
    char err[1024];
    int rc = 1;
    struct mcp_client *c = mcp_client_open(&o, err, sizeof err);
    if (!c || !scan_server(c, &s, trust, err, sizeof err))
        fprintf(stderr, "warden scan: %s: %s\n", s.source, err);
    else if ((rc = write_outputs(&s, out, format)) == 0 && pin)
        rc = write_pins(&s, pin);
    mcp_client_close(c);
    cJSON_Delete(s.pages);
    free(s.tools);
    free(s.instructions);
    free(headers);
    return rc;
}
