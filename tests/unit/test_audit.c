/* Unit tests of audit.c: lines parsed back with cJSON, redaction, rotation,
 * standard output, open errors and a full disk. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include "audit.h"
#include "check.h"
#include "metrics.h"

static char dir[] = "/tmp/warden-audit-XXXXXX";

/* The whole file as a string (caller frees); NULL when it cannot be read. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            buf = realloc(buf, cap);
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[len] = '\0';
    return buf;
}

/* The lines of a file parsed as JSON, into out (up to max); returns how many, -1 if one is not JSON. */
static int read_lines(const char *path, cJSON **out, int max)
{
    char *text = slurp(path);
    if (!text)
        return -1;
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_ParseWithOpts(line, NULL, 1);
        if (!j || n == max) {
            cJSON_Delete(j);
            n = -1;
            break;
        }
        out[n++] = j;
    }
    size_t len = strlen(text);
    free(text);
    /* Every line ends with a newline: the file's last byte is one. */
    if (n > 0 && len == 0)
        n = -1;
    return n;
}

static void free_lines(cJSON **l, int n)
{
    for (int i = 0; i < n; i++)
        cJSON_Delete(l[i]);
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is_null(const cJSON *o, const char *key)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void path_in_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static void test_line_format(void)
{
    char path[256], err[256];
    path_in_dir(path, sizeof path, "format.log");
    struct audit_log *a = audit_open(path, NULL, err, sizeof err);
    CHECK(a != NULL);
    const char *keys[] = {"password", "TOKEN"};
    CHECK(audit_log_values(a, keys, 2) == 0);
    cJSON *args = cJSON_Parse("{\"path\":\"/etc/x\",\"n\":42,\"opts\":{\"Password\":\"hunter2\",\"deep\":[{\"token\":{\"a\":1}},"
                              "{\"keep\":true}]},\"password\":\"top\"}");
    CHECK(args != NULL);
    const char *reason = "q\" b\\ nl\n tab\t ctl\x01 utf8 \xC3\xA9 bad \xff end";
    struct audit_event ev = {
        .wall = 1795590301.123456, .server = "fs", .session = "s-1", .client = "127.0.0.1:5000",
        .principal = "ci-bot", .principal_kind = "key",
        .method = "tools/call", .tool = "delete_file", .tool_class = "destructive", .decision = "deny", .rule = "fs.json#/rules/2",
        .reason = reason, .status = 200, .is_error = 0, .latency_ms = 12.5, .args = args,
    };
    audit_write(a, &ev);
    struct audit_event ev2 = {.server = "fs", .tool = "t", .decision = "hide", .rule = "", .status = -1, .is_error = -1,
                              .latency_ms = -1};
    audit_write(a, &ev2);
    audit_close(a);
    cJSON_Delete(args);

    cJSON *l[4];
    int n = read_lines(path, l, 4);
    CHECK(n == 2);
    if (n != 2)
        return;
    static const char *const order[] = {"time", "server", "session", "client", "principal", "principal_kind", "method",
                                        "tool", "tool_class", "decision", "rule", "reason", "status", "is_error", "latency_ms",
                                        "arg_keys", "args"};
    int i = 0;
    for (const cJSON *k = l[0]->child; k; k = k->next, i++)
        CHECK(i < 17 && strcmp(k->string, order[i]) == 0);
    CHECK(i == 17);
    CHECK_STR(str(l[0], "principal"), "ci-bot");
    CHECK_STR(str(l[0], "principal_kind"), "key");
    CHECK(is_null(l[1], "principal") && is_null(l[1], "principal_kind"));
    CHECK_STR(str(l[0], "time"), "2026-11-25T07:05:01.123456Z");
    CHECK_STR(str(l[0], "server"), "fs");
    CHECK_STR(str(l[0], "session"), "s-1");
    CHECK_STR(str(l[0], "client"), "127.0.0.1:5000");
    CHECK_STR(str(l[0], "method"), "tools/call");
    CHECK_STR(str(l[0], "tool"), "delete_file");
    CHECK_STR(str(l[0], "tool_class"), "destructive");
    CHECK_STR(str(l[0], "decision"), "deny");
    CHECK_STR(str(l[0], "rule"), "fs.json#/rules/2");
    CHECK_STR(str(l[0], "reason"), "q\" b\\ nl\n tab\t ctl\x01 utf8 \xC3\xA9 bad \xEF\xBF\xBD end");
    CHECK(cJSON_GetObjectItemCaseSensitive(l[0], "status")->valuedouble == 200);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(l[0], "is_error")));
    CHECK(cJSON_GetObjectItemCaseSensitive(l[0], "latency_ms")->valuedouble == 12.5);
    char *keys_text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(l[0], "arg_keys"));
    CHECK_STR(keys_text, "[\"path\",\"n\",\"opts\",\"password\"]");
    free(keys_text);
    char *args_text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(l[0], "args"));
    CHECK_STR(args_text, "{\"path\":\"/etc/x\",\"n\":42,\"opts\":{\"Password\":\"[redacted]\",\"deep\":[{\"token\":\"[redacted]\"},"
                         "{\"keep\":true}]},\"password\":\"[redacted]\"}");
    free(args_text);

    /* Unknowns are null; no args given: no keys; a time stamp of now has the same shape. */
    const char *t = str(l[1], "time");
    CHECK(t && strlen(t) == 27 && t[4] == '-' && t[10] == 'T' && t[19] == '.' && t[26] == 'Z');
    CHECK(is_null(l[1], "session") && is_null(l[1], "client") && is_null(l[1], "rule") && is_null(l[1], "reason"));
    CHECK(is_null(l[1], "status") && is_null(l[1], "is_error") && is_null(l[1], "latency_ms") && is_null(l[1], "args"));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l[1], "arg_keys")) == 0);
    free_lines(l, n);
}

static void test_keys_only_and_keep_args(void)
{
    char path[256], err[256];
    path_in_dir(path, sizeof path, "keys.log");
    struct audit_log *a = audit_open(path, NULL, err, sizeof err);
    CHECK(a != NULL);
    cJSON *args = cJSON_Parse("{\"secret\":\"v\",\"b\":[1,2],\"secret\":2}");
    cJSON *kept = audit_keep_args(a, args);
    char *kept_text = cJSON_PrintUnformatted(kept);
    CHECK_STR(kept_text, "{\"secret\":null,\"b\":null,\"secret\":null}");
    free(kept_text);
    struct audit_event ev = {.decision = "allow", .status = 200, .is_error = 1, .latency_ms = 0.25, .args = kept};
    audit_write(a, &ev);
    audit_close(a);
    cJSON *l[2];
    int n = read_lines(path, l, 2);
    CHECK(n == 1);
    if (n == 1) {
        CHECK(cJSON_GetObjectItemCaseSensitive(l[0], "args") == NULL);
        char *keys = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(l[0], "arg_keys"));
        CHECK_STR(keys, "[\"secret\",\"b\",\"secret\"]");   /* duplicates shown: smuggling is visible */
        free(keys);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(l[0], "is_error")));
        free_lines(l, n);
    }
    cJSON_Delete(kept);

    /* With values, the kept copy is already redacted: secrets do not wait in memory. */
    path_in_dir(path, sizeof path, "keep-values.log");
    a = audit_open(path, NULL, err, sizeof err);
    const char *rk[] = {"secret"};
    CHECK(audit_log_values(a, rk, 1) == 0);
    kept = audit_keep_args(a, args);
    kept_text = cJSON_PrintUnformatted(kept);
    CHECK_STR(kept_text, "{\"secret\":\"[redacted]\",\"b\":[1,2],\"secret\":\"[redacted]\"}");
    free(kept_text);
    CHECK(audit_keep_args(a, NULL) == NULL);
    cJSON_Delete(kept);
    audit_close(a);
    cJSON_Delete(args);
}

#define BEFORE 50
#define AFTER 30

static void test_reopen_after_rename(void)
{
    char path[256], old[256], err[256];
    path_in_dir(path, sizeof path, "rotate.log");
    path_in_dir(old, sizeof old, "rotate.log.1");
    struct audit_log *a = audit_open(path, NULL, err, sizeof err);
    CHECK(a != NULL);
    struct audit_event ev = {.tool = "before", .decision = "allow", .status = -1, .is_error = -1, .latency_ms = -1};
    for (int i = 0; i < BEFORE; i++)
        audit_write(a, &ev);
    CHECK(rename(path, old) == 0);
    audit_reopen(a);
    ev.tool = "after";
    for (int i = 0; i < AFTER; i++)
        audit_write(a, &ev);
    audit_close(a);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
    cJSON *l[BEFORE + AFTER];
    int n = read_lines(old, l, BEFORE + AFTER);
    CHECK(n == BEFORE);
    for (int i = 0; i < n; i++)
        CHECK_STR(str(l[i], "tool"), "before");
    free_lines(l, n);
    n = read_lines(path, l, BEFORE + AFTER);
    CHECK(n == AFTER);
    for (int i = 0; i < n; i++)
        CHECK_STR(str(l[i], "tool"), "after");
    free_lines(l, n);
}

static void test_stdout(void)
{
    char path[256], err[256];
    path_in_dir(path, sizeof path, "stdout.log");
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(saved >= 0 && fd >= 0 && dup2(fd, STDOUT_FILENO) == STDOUT_FILENO);
    close(fd);
    struct audit_log *a = audit_open("-", NULL, err, sizeof err);
    CHECK(a != NULL);
    struct audit_event ev = {.tool = "to-stdout", .decision = "deny", .status = -1, .is_error = -1, .latency_ms = -1};
    if (a) {
        audit_write(a, &ev);
        audit_reopen(a);   /* nothing to reopen: must not break the stream */
        audit_write(a, &ev);
        audit_close(a);
    }
    CHECK(dup2(saved, STDOUT_FILENO) == STDOUT_FILENO);
    close(saved);
    cJSON *l[3];
    int n = read_lines(path, l, 3);
    CHECK(n == 2);
    for (int i = 0; i < n; i++)
        CHECK_STR(str(l[i], "tool"), "to-stdout");
    free_lines(l, n);
}

static void test_open_errors(void)
{
    char err[256] = "";
    CHECK(audit_open("/nonexistent-warden-dir/audit.log", NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent-warden-dir/audit.log") != NULL);
    err[0] = '\0';
    CHECK(audit_open(dir, NULL, err, sizeof err) == NULL);   /* a directory */
    CHECK(strstr(err, "cannot open") != NULL);
}

static double dropped(struct metrics *m)
{
    struct evbuffer *b = evbuffer_new();
    metrics_render(m, b);
    evbuffer_add(b, "", 1);
    const char *text = (const char *)evbuffer_pullup(b, -1);
    const char *p = strstr(text, "\nwarden_audit_dropped_total ");
    double v = p ? strtod(p + 28, NULL) : -1;
    evbuffer_free(b);
    return v;
}

#define FULL_LINES 300

/* /dev/full fails every write with ENOSPC: nothing crashes, nothing blocks,
 * the queue stays bounded and every line is counted as lost. */
static void test_full_disk(void)
{
    struct metrics *m = metrics_new();
    char err[256];
    struct audit_log *a = audit_open("/dev/full", m, err, sizeof err);
    CHECK(a != NULL);
    if (!a) {
        metrics_free(m);
        return;
    }
    static char big[64 * 1024];
    memset(big, 'x', sizeof big - 1);
    struct audit_event ev = {.tool = "t", .decision = "allow", .reason = big, .status = -1, .is_error = -1, .latency_ms = -1};
    for (int i = 0; i < FULL_LINES; i++)
        audit_write(a, &ev);
    /* 300 lines of 64 KiB exceed the 16 MiB queue: some were refused at once. */
    CHECK(dropped(m) > 0);
    audit_close(a);
    CHECK(dropped(m) == FULL_LINES);
    metrics_free(m);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_line_format();
    test_keys_only_and_keep_args();
    test_reopen_after_rename();
    test_stdout();
    test_open_errors();
    test_full_disk();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_report();
}
