#include "registry.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The whole registry is one JSON tree: it is what the tools return anyway. */
struct registry {
    cJSON *experiments;   /* array of experiment objects */
    cJSON *runs;          /* array of run objects */
    cJSON *models;        /* array of registered models, each with versions and aliases */
    cJSON *logged;        /* array of logged models */
    double clock;         /* milliseconds, advanced by every write */
};

/* ---- the tools' declarations ---- */

enum kind { RO, W, W_IDEMPOTENT, DESTRUCTIVE };

struct param {
    const char *name;
    const char *type;     /* JSON Schema type; "array" items are strings unless noted in `items` */
    bool required;
    const char *items;
};

struct failure;

/* Runs one tool whose arguments passed the schema check; NULL after fail(). */
typedef cJSON *tool_fn(struct registry *r, const cJSON *args, struct failure *f);

struct tool {
    const char *name;
    const char *description;
    enum kind kind;
    tool_fn *run;
    struct param params[6];   /* ended by an entry without a name */
};

/* ---- the seeded state ---- */

static cJSON *obj(const char *json)
{
    return cJSON_Parse(json);
}

struct registry *registry_new(void)
{
    struct registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->clock = 1764000000000.0;
    r->experiments = obj("[{\"experiment_id\":\"1\",\"name\":\"fraud-detection\",\"artifact_location\":\"mlflow-artifacts:/1\","
                         "\"lifecycle_stage\":\"active\",\"creation_time\":1763000000000,\"last_update_time\":1763900000000,"
                         "\"tags\":{\"team\":\"risk\"}},"
                         "{\"experiment_id\":\"2\",\"name\":\"churn-prediction\",\"artifact_location\":\"mlflow-artifacts:/2\","
                         "\"lifecycle_stage\":\"active\",\"creation_time\":1763100000000,\"last_update_time\":1763800000000,"
                         "\"tags\":{\"team\":\"growth\"}}]");
    r->runs = cJSON_CreateArray();
    const struct { const char *id, *exp, *model, *depth, *lr, *parent; double auc, recall, f1; } seed[] = {
        {"a1f0c3", "1", "xgboost", "4", "0.1", NULL, 0.91, 0.78, 0.80},
        {"b2e1d4", "1", "xgboost", "6", "0.05", NULL, 0.94, 0.83, 0.85},
        {"c3d2e5", "1", "lightgbm", "8", "0.05", NULL, 0.96, 0.88, 0.89},
        {"d4c3f6", "1", "lightgbm", "8", "0.02", NULL, 0.95, 0.86, 0.87},
        {"e5b4a7", "1", "lightgbm", "10", "0.02", "d4c3f6", 0.93, 0.84, 0.85},
        {"f6a5b8", "2", "logreg", "0", "0.5", NULL, 0.81, 0.70, 0.72},
        {"a7f6c9", "2", "random_forest", "12", "0", NULL, 0.86, 0.74, 0.77},
    };
    for (size_t i = 0; i < sizeof seed / sizeof *seed; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "{\"run_id\":\"%s\",\"experiment_id\":\"%s\",\"status\":\"FINISHED\",\"start_time\":%zu,\"end_time\":%zu,"
                 "\"artifact_uri\":\"mlflow-artifacts:/%s/%s/artifacts\",\"lifecycle_stage\":\"active\","
                 "\"metrics\":{\"auc\":%g,\"recall\":%g,\"f1\":%g},"
                 "\"params\":{\"model_type\":\"%s\",\"max_depth\":\"%s\",\"learning_rate\":\"%s\"},"
                 "\"tags\":{\"mlflow.runName\":\"run-%zu\",\"dataset\":\"transactions-2026-10\"%s%s%s}}",
                 seed[i].id, seed[i].exp, (size_t)1763200000000 + i * 3600000, (size_t)1763200900000 + i * 3600000,
                 seed[i].exp, seed[i].id, seed[i].auc, seed[i].recall, seed[i].f1, seed[i].model, seed[i].depth,
                 seed[i].lr, i + 1, seed[i].parent ? ",\"mlflow.parentRunId\":\"" : "",
                 seed[i].parent ? seed[i].parent : "", seed[i].parent ? "\"" : "");
        cJSON_AddItemToArray(r->runs, obj(text));
    }
    r->models = obj("[{\"name\":\"fraud-detector\",\"creation_timestamp\":1763300000000,\"last_updated_timestamp\":1763900000000,"
                    "\"description\":\"Scores card transactions for fraud\",\"tags\":{\"problem_type\":\"classification\"},"
                    "\"aliases\":{\"champion\":\"3\",\"challenger\":\"2\"},\"versions\":["
                    "{\"version\":\"1\",\"run_id\":\"a1f0c3\",\"current_stage\":\"Archived\",\"description\":\"first baseline\"},"
                    "{\"version\":\"2\",\"run_id\":\"b2e1d4\",\"current_stage\":\"Staging\",\"description\":\"tuned xgboost\"},"
                    "{\"version\":\"3\",\"run_id\":\"c3d2e5\",\"current_stage\":\"Production\",\"description\":\"lightgbm\"}]},"
                    "{\"name\":\"churn-model\",\"creation_timestamp\":1763400000000,\"last_updated_timestamp\":1763800000000,"
                    "\"description\":\"Predicts customer churn\",\"tags\":{},\"aliases\":{\"champion\":\"1\"},\"versions\":["
                    "{\"version\":\"1\",\"run_id\":\"a7f6c9\",\"current_stage\":\"Production\",\"description\":\"\"}]}]");
    r->logged = obj("[{\"model_id\":\"m-fraud-3\",\"name\":\"model\",\"experiment_id\":\"1\",\"source_run_id\":\"c3d2e5\","
                    "\"status\":\"READY\",\"metrics\":{\"auc\":0.96}},"
                    "{\"model_id\":\"m-fraud-2\",\"name\":\"model\",\"experiment_id\":\"1\",\"source_run_id\":\"b2e1d4\","
                    "\"status\":\"READY\",\"metrics\":{\"auc\":0.94}},"
                    "{\"model_id\":\"m-churn-1\",\"name\":\"model\",\"experiment_id\":\"2\",\"source_run_id\":\"a7f6c9\","
                    "\"status\":\"READY\",\"metrics\":{\"auc\":0.86}}]");
    cJSON *m;
    cJSON_ArrayForEach(m, r->models) {
        cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(m, "versions")) {
            cJSON_AddStringToObject(v, "name", cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring);
            cJSON_AddStringToObject(v, "status", "READY");
            cJSON_AddNumberToObject(v, "creation_timestamp", 1763300000000.0);
            cJSON_AddNumberToObject(v, "last_updated_timestamp", 1763300000000.0);
            cJSON_AddItemToObject(v, "tags", cJSON_CreateObject());
            char src[128];
            snprintf(src, sizeof src, "runs:/%s/model", cJSON_GetObjectItemCaseSensitive(v, "run_id")->valuestring);
            cJSON_AddStringToObject(v, "source", src);
        }
    }
    if (!r->experiments || !r->models || !r->logged) {
        registry_free(r);
        return NULL;
    }
    return r;
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    cJSON_Delete(r->experiments);
    cJSON_Delete(r->runs);
    cJSON_Delete(r->models);
    cJSON_Delete(r->logged);
    free(r);
}

/* ---- helpers ---- */

/* A failed call: the error text goes back as a tool result with isError. */
struct failure {
    char message[512];
};

static cJSON *fail(struct failure *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cJSON *fail(struct failure *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    return NULL;
}

static const char *str_arg(const cJSON *args, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long int_arg(const cJSON *args, const char *name, long dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : dflt;
}

static cJSON *find_by(cJSON *array, const char *key, const char *value)
{
    cJSON *e;
    cJSON_ArrayForEach(e, array) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, key);
        if (cJSON_IsString(k) && strcmp(k->valuestring, value) == 0)
            return e;
    }
    return NULL;
}

static bool active(const cJSON *o)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "lifecycle_stage");
    return !cJSON_IsString(s) || strcmp(s->valuestring, "active") == 0;
}

static cJSON *experiment(struct registry *r, const char *id, struct failure *f)
{
    cJSON *e = find_by(r->experiments, "experiment_id", id);
    if (!e || !active(e))
        return fail(f, "Experiment '%s' does not exist.", id);
    return e;
}

static cJSON *run(struct registry *r, const char *id, struct failure *f)
{
    cJSON *x = find_by(r->runs, "run_id", id);
    if (!x)
        return fail(f, "Run '%s' not found.", id);
    return x;
}

static cJSON *model(struct registry *r, const char *name, struct failure *f)
{
    cJSON *m = find_by(r->models, "name", name);
    if (!m)
        return fail(f, "Registered Model with name=%s not found", name);
    return m;
}

static cJSON *version(struct registry *r, const char *name, const char *v, struct failure *f)
{
    cJSON *m = model(r, name, f);
    if (!m)
        return NULL;
    cJSON *mv = find_by(cJSON_GetObjectItemCaseSensitive(m, "versions"), "version", v);
    if (!mv)
        return fail(f, "Model Version (name=%s, version=%s) not found", name, v);
    return mv;
}

static cJSON *dup(const cJSON *o)
{
    return cJSON_Duplicate(o, 1);
}

/* A copy of o with only the listed members. */
static cJSON *pick(const cJSON *o, const char *const *keys)
{
    cJSON *out = cJSON_CreateObject();
    for (; *keys; keys++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, *keys);
        cJSON_AddItemToObject(out, *keys, v ? dup(v) : cJSON_CreateNull());
    }
    return out;
}

/* The runs of an experiment, active, in order, sliced by offset and limit. */
static cJSON *runs_of(struct registry *r, const char *exp, long offset, long limit, const char *const *keys,
                      bool (*keep)(const cJSON *run, const void *arg), const void *arg)
{
    cJSON *out = cJSON_CreateArray(), *x;
    long seen = 0;
    cJSON_ArrayForEach(x, r->runs) {
        if (!active(x) || strcmp(cJSON_GetObjectItemCaseSensitive(x, "experiment_id")->valuestring, exp) != 0)
            continue;
        if (keep && !keep(x, arg))
            continue;
        if (seen++ < offset)
            continue;
        if (cJSON_GetArraySize(out) >= limit)
            break;
        cJSON_AddItemToArray(out, pick(x, keys));
    }
    return out;
}

static const char *const run_keys[] = {"run_id", "experiment_id", "status", "start_time", "end_time", "metrics",
                                       "params", "tags", NULL};

static int name_order(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted union of the keys of one member object across an experiment's runs
 * (the first 64: the demo's runs have a handful). Sorted here rather than by
 * cJSON_InsertItemInArray, which drops (and leaks) some middle inserts. */
static cJSON *keys_across_runs(struct registry *r, const char *exp, const char *member)
{
    const char *found[64];
    size_t n = 0;
    cJSON *x, *k;
    cJSON_ArrayForEach(x, r->runs) {
        if (!active(x) || strcmp(cJSON_GetObjectItemCaseSensitive(x, "experiment_id")->valuestring, exp) != 0)
            continue;
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(x, member)) {
            bool present = false;
            for (size_t i = 0; i < n && !present; i++)
                present = strcmp(found[i], k->string) == 0;
            if (!present && n < sizeof found / sizeof *found)
                found[n++] = k->string;
        }
    }
    qsort(found, n, sizeof *found, name_order);
    cJSON *names = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(names, cJSON_CreateString(found[i]));
    return names;
}

/* "metrics.auc > 0.9": the one clause query_runs understands; "" keeps all. */
static bool query_keeps(const cJSON *x, const void *arg)
{
    const char *q = arg;
    char section[16], key[64], op[3];
    double value;
    if (!q[0] || sscanf(q, "%15[a-z].%63[^ <>=!] %2[<>=!] %lf", section, key, op, &value) != 4)
        return true;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(x, section), key);
    double got = cJSON_IsNumber(v) ? v->valuedouble : cJSON_IsString(v) ? atof(v->valuestring) : NAN;
    if (isnan(got))
        return false;
    if (!strcmp(op, ">")) return got > value;
    if (!strcmp(op, ">=")) return got >= value;
    if (!strcmp(op, "<")) return got < value;
    if (!strcmp(op, "<=")) return got <= value;
    if (!strcmp(op, "!=")) return got != value;
    return got == value;
}

static bool tags_keep(const cJSON *x, const void *arg)
{
    const cJSON *want = arg, *t;
    cJSON_ArrayForEach(t, want) {
        const cJSON *have = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(x, "tags"), t->string);
        if (!cJSON_IsString(have) || !cJSON_IsString(t) || strcmp(have->valuestring, t->valuestring) != 0)
            return false;
    }
    return true;
}

static void set_tag(cJSON *o, const char *key, const char *value)
{
    cJSON *tags = cJSON_GetObjectItemCaseSensitive(o, "tags");
    if (!tags)
        tags = cJSON_AddObjectToObject(o, "tags");
    cJSON_DeleteItemFromObjectCaseSensitive(tags, key);
    cJSON_AddStringToObject(tags, key, value);
}

static cJSON *success(const char *k1, const char *v1, const char *k2, const char *v2, const char *k3, const char *v3)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "success", true);
    if (k1) cJSON_AddStringToObject(o, k1, v1);
    if (k2) cJSON_AddStringToObject(o, k2, v2);
    if (k3) cJSON_AddStringToObject(o, k3, v3);
    return o;
}

/* Adds a new version of model `name` (created if needed) from a run. */
static cJSON *add_version(struct registry *r, const char *name, const char *run_id, const char *source)
{
    cJSON *m = find_by(r->models, "name", name);
    if (!m) {
        m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "name", name);
        cJSON_AddNumberToObject(m, "creation_timestamp", r->clock);
        cJSON_AddNumberToObject(m, "last_updated_timestamp", r->clock);
        cJSON_AddStringToObject(m, "description", "");
        cJSON_AddObjectToObject(m, "tags");
        cJSON_AddObjectToObject(m, "aliases");
        cJSON_AddArrayToObject(m, "versions");
        cJSON_AddItemToArray(r->models, m);
    }
    cJSON *versions = cJSON_GetObjectItemCaseSensitive(m, "versions");
    int next = 1;
    cJSON *v;
    cJSON_ArrayForEach(v, versions) {
        int n = atoi(cJSON_GetObjectItemCaseSensitive(v, "version")->valuestring);
        if (n >= next)
            next = n + 1;
    }
    char num[16];
    snprintf(num, sizeof num, "%d", next);
    v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", name);
    cJSON_AddStringToObject(v, "version", num);
    cJSON_AddStringToObject(v, "run_id", run_id ? run_id : "");
    cJSON_AddStringToObject(v, "current_stage", "None");
    cJSON_AddStringToObject(v, "description", "");
    cJSON_AddStringToObject(v, "status", "READY");
    cJSON_AddStringToObject(v, "source", source);
    cJSON_AddNumberToObject(v, "creation_timestamp", r->clock);
    cJSON_AddNumberToObject(v, "last_updated_timestamp", r->clock);
    cJSON_AddObjectToObject(v, "tags");
    cJSON_AddItemToArray(versions, v);
    return v;
}

static const char *const version_keys[] = {"name", "version", "creation_timestamp", "last_updated_timestamp",
                                           "current_stage", "description", "run_id", "status", "tags", NULL};

/* ---- the tools, each a function of the table below ---- */

/* get_experiments and search_experiments: one filter, two shapes. */
static cJSON *list_experiments(struct registry *r, const cJSON *a, bool full)
{
    const char *filter = str_arg(a, "filter_string");
    char needle[128] = "";
    if (filter) {
        const char *q = strchr(filter, '\'');
        if (q)
            sscanf(q + 1, "%127[^'%%]", needle);
    }
    long max = int_arg(a, "max_results", 100);
    cJSON *out = cJSON_CreateArray(), *e;
    cJSON_ArrayForEach(e, r->experiments) {
        if (!active(e) || cJSON_GetArraySize(out) >= max)
            continue;
        if (needle[0] && !strstr(cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring, needle))
            continue;
        if (!full) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToObject(o, "name", dup(cJSON_GetObjectItemCaseSensitive(e, "name")));
            cJSON_AddItemToObject(o, "id", dup(cJSON_GetObjectItemCaseSensitive(e, "experiment_id")));
            cJSON_AddItemToArray(out, o);
        } else {
            cJSON_AddItemToArray(out, dup(e));
        }
    }
    return out;
}

static cJSON *tool_get_experiments(struct registry *r, const cJSON *a, struct failure *f)
{
    (void)f;
    return list_experiments(r, a, false);
}

static cJSON *tool_search_experiments(struct registry *r, const cJSON *a, struct failure *f)
{
    (void)f;
    return list_experiments(r, a, true);
}

/* The metric, param or tag names of an experiment's runs. */
static cJSON *experiment_keys(struct registry *r, const cJSON *a, struct failure *f, const char *member)
{
    const char *exp = str_arg(a, "experiment_id");
    if (!experiment(r, exp, f))
        return NULL;
    return keys_across_runs(r, exp, member);
}

static cJSON *tool_get_experiment_metrics(struct registry *r, const cJSON *a, struct failure *f)
{
    return experiment_keys(r, a, f, "metrics");
}

static cJSON *tool_get_experiment_params(struct registry *r, const cJSON *a, struct failure *f)
{
    return experiment_keys(r, a, f, "params");
}

static cJSON *tool_get_experiment_tags(struct registry *r, const cJSON *a, struct failure *f)
{
    return experiment_keys(r, a, f, "tags");
}

/* A page (limit, offset) of an experiment's runs that `keep` keeps. */
static cJSON *runs_page(struct registry *r, const cJSON *a, struct failure *f, const char *const *keys,
                        bool (*keep)(const cJSON *run, const void *arg), const void *arg)
{
    const char *exp = str_arg(a, "experiment_id");
    if (!experiment(r, exp, f))
        return NULL;
    return runs_of(r, exp, int_arg(a, "offset", 0), int_arg(a, "limit", 3), keys, keep, arg);
}

static cJSON *tool_get_runs(struct registry *r, const cJSON *a, struct failure *f)
{
    return runs_page(r, a, f, run_keys, NULL, NULL);
}

static cJSON *tool_query_runs(struct registry *r, const cJSON *a, struct failure *f)
{
    return runs_page(r, a, f, (const char *const[]){"run_id", "experiment_id", "status", "metrics", "params", NULL},
                     query_keeps, str_arg(a, "query"));
}

static cJSON *tool_search_runs_by_tags(struct registry *r, const cJSON *a, struct failure *f)
{
    return runs_page(r, a, f,
                     (const char *const[]){"run_id", "experiment_id", "status", "metrics", "params", "tags", NULL},
                     tags_keep, cJSON_GetObjectItemCaseSensitive(a, "tags"));
}

static cJSON *tool_get_run(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *x = run(r, str_arg(a, "run_id"), f);
    if (!x)
        return NULL;
    cJSON *o = pick(x, (const char *const[]){"run_id", "experiment_id", "status", "start_time", "end_time", "artifact_uri",
                                             "lifecycle_stage", "metrics", "params", "tags", NULL});
    cJSON_AddArrayToObject(o, "inputs");
    return o;
}

static cJSON *tool_get_run_metrics(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *x = run(r, str_arg(a, "run_id"), f);
    return x ? dup(cJSON_GetObjectItemCaseSensitive(x, "metrics")) : NULL;
}

static cJSON *tool_get_parent_run(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *x = run(r, str_arg(a, "run_id"), f);
    if (!x)
        return NULL;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(x, "tags"), "mlflow.parentRunId");
    cJSON *parent = cJSON_IsString(p) ? find_by(r->runs, "run_id", p->valuestring) : NULL;
    return parent ? pick(parent, run_keys) : cJSON_CreateNull();
}

static cJSON *tool_get_run_artifacts(struct registry *r, const cJSON *a, struct failure *f)
{
    const char *id = str_arg(a, "run_id");
    if (!run(r, id, f))
        return NULL;
    const char *path = str_arg(a, "path");
    cJSON *out = cJSON_CreateArray();
    const char *entries[][3] = {{"", "model", "1"}, {"", "metrics.json", "0"}, {"model", "model/MLmodel", "0"},
                                {"model", "model/model.pkl", "0"}};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(entries[i][0], path ? path : ""))
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "run_id", id);
        cJSON_AddStringToObject(o, "path", entries[i][1]);
        cJSON_AddBoolToObject(o, "is_dir", entries[i][2][0] == '1');
        if (entries[i][2][0] == '1')
            cJSON_AddNullToObject(o, "file_size");
        else
            cJSON_AddNumberToObject(o, "file_size", 512);
        cJSON_AddItemToArray(out, o);
    }
    return out;
}

/* The artifact_path of a call, when the run has that artifact; NULL after failing. */
static const char *artifact(struct registry *r, const cJSON *a, struct failure *f)
{
    const char *id = str_arg(a, "run_id");
    if (!run(r, id, f))
        return NULL;
    const char *path = str_arg(a, "artifact_path");
    if (strcmp(path, "metrics.json") && strcmp(path, "model/MLmodel") && strcmp(path, "model/model.pkl"))
        return fail(f, "artifact %s not found in run %s", path, id), NULL;
    return path;
}

static cJSON *tool_get_run_artifact(struct registry *r, const cJSON *a, struct failure *f)
{
    const char *path = artifact(r, a, f), *id = str_arg(a, "run_id");
    if (!path)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    char local[256];
    snprintf(local, sizeof local, "/tmp/warden-demo-artifacts/%s/%s", id, path);
    cJSON_AddStringToObject(o, "local_path", local);
    cJSON_AddStringToObject(o, "run_id", id);
    cJSON_AddStringToObject(o, "artifact_path", path);
    cJSON_AddNumberToObject(o, "size_bytes", 512);
    return o;
}

static cJSON *tool_get_artifact_content(struct registry *r, const cJSON *a, struct failure *f)
{
    const char *path = artifact(r, a, f);
    if (!path)
        return NULL;
    if (!strcmp(path, "metrics.json")) {
        char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(run(r, str_arg(a, "run_id"), f), "metrics"));
        cJSON *content = cJSON_CreateString(text ? text : "{}");
        free(text);
        return content;
    }
    return cJSON_CreateString(!strcmp(path, "model/MLmodel") ? "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"
                                                              : "(binary model file)");
}

static cJSON *tool_get_logged_model(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *m = find_by(r->logged, "model_id", str_arg(a, "model_id"));
    return m ? dup(m) : fail(f, "Logged model %s not found", str_arg(a, "model_id"));
}

static cJSON *tool_search_logged_models(struct registry *r, const cJSON *a, struct failure *f)
{
    (void)f;
    long max = int_arg(a, "max_results", 5);
    cJSON *out = cJSON_CreateArray(), *m;
    cJSON_ArrayForEach(m, r->logged) {
        cJSON *id;
        bool wanted = false;
        cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(a, "experiment_ids"))
            wanted = wanted || (cJSON_IsString(id) && !strcmp(id->valuestring, cJSON_GetObjectItemCaseSensitive(m, "experiment_id")->valuestring));
        if (wanted && cJSON_GetArraySize(out) < max)
            cJSON_AddItemToArray(out, dup(m));
    }
    return out;
}

static cJSON *tool_health(struct registry *r, const cJSON *a, struct failure *f)
{
    (void)r;
    (void)a;
    (void)f;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    cJSON_AddStringToObject(o, "tracking_uri", "demo://in-memory");
    return o;
}

static cJSON *tool_get_experiment_by_name(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *e = find_by(r->experiments, "name", str_arg(a, "name"));
    if (!e || !active(e))
        return fail(f, "Experiment with name '%s' not found", str_arg(a, "name"));
    return pick(e, (const char *const[]){"experiment_id", "name", "artifact_location", "lifecycle_stage", "tags", NULL});
}

static cJSON *tool_get_run_metric(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *x = run(r, str_arg(a, "run_id"), f);
    if (!x)
        return NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(x, "metrics"), str_arg(a, "metric_name"));
    cJSON *out = cJSON_CreateArray();
    for (int step = 0; cJSON_IsNumber(m) && step < 3; step++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "step", step);
        cJSON_AddNumberToObject(p, "timestamp", 1763200000000.0 + step * 60000);
        cJSON_AddNumberToObject(p, "value", m->valuedouble * (0.9 + 0.05 * step));
        cJSON_AddItemToArray(out, p);
    }
    return out;
}

static cJSON *tool_get_best_run(struct registry *r, const cJSON *a, struct failure *f)
{
    const char *exp = str_arg(a, "experiment_id"), *metric = str_arg(a, "metric");
    if (!experiment(r, exp, f))
        return NULL;
    const cJSON *asc = cJSON_GetObjectItemCaseSensitive(a, "ascending");
    cJSON *best = NULL, *x;
    double best_v = 0;
    cJSON_ArrayForEach(x, r->runs) {
        if (!active(x) || strcmp(cJSON_GetObjectItemCaseSensitive(x, "experiment_id")->valuestring, exp) != 0)
            continue;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(x, "metrics"), metric);
        if (!cJSON_IsNumber(v))
            continue;
        if (!best || (cJSON_IsTrue(asc) ? v->valuedouble < best_v : v->valuedouble > best_v)) {
            best = x;
            best_v = v->valuedouble;
        }
    }
    if (!best)
        return fail(f, "No runs found in experiment %s with metric %s", exp, metric);
    cJSON *o = pick(best, (const char *const[]){"run_id", "experiment_id", "status", "metrics", "params", "tags", NULL});
    cJSON_AddNumberToObject(o, "best_metric_value", best_v);
    return o;
}

static cJSON *tool_compare_runs(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *out = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(out, "runs"), *id;
    cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(a, "run_ids")) {
        cJSON *x = cJSON_IsString(id) ? run(r, id->valuestring, f) : NULL;
        if (!x) {
            cJSON_Delete(out);
            return cJSON_IsString(id) ? NULL : fail(f, "run_ids must be strings");
        }
        cJSON_AddItemToArray(list, pick(x, (const char *const[]){"run_id", "status", "start_time", "metrics", "params", NULL}));
    }
    cJSON_AddItemToObject(out, "all_metrics", keys_across_runs(r, str_arg(a, "experiment_id"), "metrics"));
    cJSON_AddItemToObject(out, "all_params", keys_across_runs(r, str_arg(a, "experiment_id"), "params"));
    return out;
}

static cJSON *tool_get_registered_models(struct registry *r, const cJSON *a, struct failure *f)
{
    (void)a;
    (void)f;
    cJSON *out = cJSON_CreateArray(), *m;
    cJSON_ArrayForEach(m, r->models)
        cJSON_AddItemToArray(out, pick(m, (const char *const[]){"name", "creation_timestamp", "last_updated_timestamp",
                                                               "description", "tags", NULL}));
    return out;
}

static cJSON *tool_get_model_versions(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *m = model(r, str_arg(a, "model_name"), f), *v, *out;
    if (!m)
        return NULL;
    out = cJSON_CreateArray();
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(m, "versions"))
        cJSON_AddItemToArray(out, pick(v, version_keys));
    return out;
}

static cJSON *tool_get_model_version(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *v = version(r, str_arg(a, "model_name"), str_arg(a, "version"), f);
    if (!v)
        return NULL;
    cJSON *o = pick(v, version_keys);
    cJSON_AddItemToObject(o, "source", dup(cJSON_GetObjectItemCaseSensitive(v, "source")));
    cJSON *x = find_by(r->runs, "run_id", cJSON_GetObjectItemCaseSensitive(v, "run_id")->valuestring);
    cJSON_AddItemToObject(o, "run_metrics", x ? dup(cJSON_GetObjectItemCaseSensitive(x, "metrics")) : cJSON_CreateObject());
    cJSON_AddItemToObject(o, "run_params", x ? dup(cJSON_GetObjectItemCaseSensitive(x, "params")) : cJSON_CreateObject());
    return o;
}

static cJSON *tool_get_registered_model(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *m = model(r, str_arg(a, "name"), f);
    if (!m)
        return NULL;
    cJSON *o = pick(m, (const char *const[]){"name", "creation_timestamp", "last_updated_timestamp", "description", "tags",
                                             "aliases", NULL});
    cJSON *latest = cJSON_AddArrayToObject(o, "latest_versions"), *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(m, "versions"))
        cJSON_AddItemToArray(latest, pick(v, (const char *const[]){"version", "current_stage", "status", "run_id", "description", NULL}));
    return o;
}

static cJSON *tool_get_model_version_by_alias(struct registry *r, const cJSON *a, struct failure *f)
{
    const char *name = str_arg(a, "name"), *alias = str_arg(a, "alias");
    cJSON *m = model(r, name, f);
    if (!m)
        return NULL;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "aliases"), alias);
    if (!cJSON_IsString(ver))
        return fail(f, "Registered model alias %s not found.", alias);
    cJSON *v = version(r, name, ver->valuestring, f);
    if (!v)
        return NULL;
    cJSON *o = pick(v, (const char *const[]){"name", "version", "current_stage", "status", "run_id", "creation_timestamp",
                                             "last_updated_timestamp", "description", "tags", "source", NULL});
    cJSON_AddStringToObject(o, "alias", alias);
    return o;
}

static cJSON *tool_get_latest_versions(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *m = model(r, str_arg(a, "name"), f), *v;
    if (!m)
        return NULL;
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(a, "stages");
    cJSON *out = cJSON_CreateArray();
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(m, "versions")) {
        const char *stage = cJSON_GetObjectItemCaseSensitive(v, "current_stage")->valuestring;
        bool wanted = !cJSON_IsArray(stages);
        cJSON *s;
        cJSON_ArrayForEach(s, stages)
            wanted = wanted || (cJSON_IsString(s) && !strcmp(s->valuestring, stage));
        if (wanted)
            cJSON_AddItemToArray(out, pick(v, version_keys));
    }
    return out;
}

static cJSON *tool_register_model(struct registry *r, const cJSON *a, struct failure *f)
{
    const char *uri = str_arg(a, "model_uri"), *run_id = NULL;
    char idbuf[64] = "";
    if (!strncmp(uri, "runs:/", 6) && sscanf(uri + 6, "%63[^/]", idbuf) == 1) {
        if (!run(r, idbuf, f))
            return NULL;
        run_id = idbuf;
    } else if (!strncmp(uri, "models:/", 8)) {
        cJSON *lm = find_by(r->logged, "model_id", uri + 8);
        if (!lm)
            return fail(f, "Logged model %s not found", uri + 8);
        run_id = cJSON_GetObjectItemCaseSensitive(lm, "source_run_id")->valuestring;
    } else {
        return fail(f, "model_uri must be runs:/RUN_ID/PATH or models:/MODEL_ID");
    }
    cJSON *v = add_version(r, str_arg(a, "model_name"), run_id, uri), *tag;
    cJSON_ArrayForEach(tag, cJSON_GetObjectItemCaseSensitive(a, "tags"))
        if (cJSON_IsString(tag))
            set_tag(v, tag->string, tag->valuestring);
    return pick(v, (const char *const[]){"name", "version", "status", "source", "run_id", NULL});
}

static cJSON *tool_set_registered_model_tag(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *m = model(r, str_arg(a, "name"), f);
    if (!m)
        return NULL;
    set_tag(m, str_arg(a, "key"), str_arg(a, "value"));
    return success("name", str_arg(a, "name"), "key", str_arg(a, "key"), "value", str_arg(a, "value"));
}

static cJSON *tool_set_model_alias(struct registry *r, const cJSON *a, struct failure *f)
{
    const char *name = str_arg(a, "name"), *alias = str_arg(a, "alias"), *ver = str_arg(a, "version");
    if (!version(r, name, ver, f))
        return NULL;
    cJSON *aliases = cJSON_GetObjectItemCaseSensitive(model(r, name, f), "aliases");
    cJSON_DeleteItemFromObjectCaseSensitive(aliases, alias);
    cJSON_AddStringToObject(aliases, alias, ver);
    return success("name", name, "alias", alias, "version", ver);
}

static cJSON *tool_set_run_tag(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *x = run(r, str_arg(a, "run_id"), f);
    if (!x)
        return NULL;
    set_tag(x, str_arg(a, "key"), str_arg(a, "value"));
    return success("run_id", str_arg(a, "run_id"), "key", str_arg(a, "key"), "value", str_arg(a, "value"));
}

static cJSON *tool_set_experiment_tag(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *e = experiment(r, str_arg(a, "experiment_id"), f);
    if (!e)
        return NULL;
    set_tag(e, str_arg(a, "key"), str_arg(a, "value"));
    return success("experiment_id", str_arg(a, "experiment_id"), "key", str_arg(a, "key"), "value", str_arg(a, "value"));
}

static cJSON *tool_update_model_version(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *v = version(r, str_arg(a, "name"), str_arg(a, "version"), f);
    if (!v)
        return NULL;
    cJSON_ReplaceItemInObjectCaseSensitive(v, "description", cJSON_CreateString(str_arg(a, "description")));
    return pick(v, (const char *const[]){"name", "version", "description", "current_stage", "status", NULL});
}

static cJSON *tool_copy_model_version(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *src = version(r, str_arg(a, "src_model_name"), str_arg(a, "src_version"), f);
    if (!src)
        return NULL;
    char uri[256];
    snprintf(uri, sizeof uri, "models:/%s/%s", str_arg(a, "src_model_name"), str_arg(a, "src_version"));
    cJSON *v = add_version(r, str_arg(a, "dst_model_name"), cJSON_GetObjectItemCaseSensitive(src, "run_id")->valuestring, uri);
    return pick(v, (const char *const[]){"name", "version", "status", "source", "run_id", NULL});
}

static cJSON *tool_transition_model_version_stage(struct registry *r, const cJSON *a, struct failure *f)
{
    const char *stage = str_arg(a, "stage");
    if (strcmp(stage, "Staging") && strcmp(stage, "Production") && strcmp(stage, "Archived") && strcmp(stage, "None"))
        return fail(f, "Invalid stage '%s': use Staging, Production, Archived or None", stage);
    cJSON *v = version(r, str_arg(a, "name"), str_arg(a, "version"), f), *o;
    if (!v)
        return NULL;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "archive_existing"))) {
        cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(model(r, str_arg(a, "name"), f), "versions"))
            if (!strcmp(cJSON_GetObjectItemCaseSensitive(o, "current_stage")->valuestring, stage))
                cJSON_ReplaceItemInObjectCaseSensitive(o, "current_stage", cJSON_CreateString("Archived"));
    }
    cJSON_ReplaceItemInObjectCaseSensitive(v, "current_stage", cJSON_CreateString(stage));
    return pick(v, (const char *const[]){"name", "version", "current_stage", "status", NULL});
}

static cJSON *tool_delete_model_alias(struct registry *r, const cJSON *a, struct failure *f)
{
    const char *name = str_arg(a, "name"), *alias = str_arg(a, "alias");
    cJSON *m = model(r, name, f);
    if (!m)
        return NULL;
    cJSON *aliases = cJSON_GetObjectItemCaseSensitive(m, "aliases");
    if (!cJSON_GetObjectItemCaseSensitive(aliases, alias))
        return fail(f, "Registered model alias %s not found.", alias);
    cJSON_DeleteItemFromObjectCaseSensitive(aliases, alias);
    return success("name", name, "alias", alias, NULL, NULL);
}

static cJSON *tool_delete_model_version(struct registry *r, const cJSON *a, struct failure *f)
{
    const char *name = str_arg(a, "name"), *ver = str_arg(a, "version");
    if (!version(r, name, ver, f))
        return NULL;
    cJSON *m = model(r, name, f), *versions = cJSON_GetObjectItemCaseSensitive(m, "versions");
    for (int i = 0; i < cJSON_GetArraySize(versions); i++)
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(versions, i), "version")->valuestring, ver))
            cJSON_DeleteItemFromArray(versions, i--);
    cJSON *aliases = cJSON_GetObjectItemCaseSensitive(m, "aliases"), *al = aliases->child;
    while (al) {
        cJSON *next = al->next;
        if (cJSON_IsString(al) && !strcmp(al->valuestring, ver))
            cJSON_Delete(cJSON_DetachItemViaPointer(aliases, al));
        al = next;
    }
    return success("name", name, "version", ver, NULL, NULL);
}

static cJSON *tool_delete_registered_model(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *m = model(r, str_arg(a, "name"), f);
    if (!m)
        return NULL;
    cJSON_Delete(cJSON_DetachItemViaPointer(r->models, m));
    return success("name", str_arg(a, "name"), NULL, NULL, NULL, NULL);
}

static cJSON *tool_delete_run(struct registry *r, const cJSON *a, struct failure *f)
{
    cJSON *x = run(r, str_arg(a, "run_id"), f);
    if (!x)
        return NULL;
    cJSON_ReplaceItemInObjectCaseSensitive(x, "lifecycle_stage", cJSON_CreateString("deleted"));
    return success("run_id", str_arg(a, "run_id"), NULL, NULL, NULL, NULL);
}

static cJSON *tool_delete_experiment(struct registry *r, const cJSON *a, struct failure *f)
{
    const char *exp = str_arg(a, "experiment_id");
    cJSON *e = experiment(r, exp, f), *x;
    if (!e)
        return NULL;
    cJSON_ReplaceItemInObjectCaseSensitive(e, "lifecycle_stage", cJSON_CreateString("deleted"));
    cJSON_ArrayForEach(x, r->runs)
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(x, "experiment_id")->valuestring, exp))
            cJSON_ReplaceItemInObjectCaseSensitive(x, "lifecycle_stage", cJSON_CreateString("deleted"));
    return success("experiment_id", exp, NULL, NULL, NULL, NULL);
}

static const struct tool tools[] = {
    {"get_experiments", "Get all experiments", RO, tool_get_experiments, {{0}}},
    {"search_experiments", "Search experiments with optional filtering and sorting.", RO, tool_search_experiments,
     {{"filter_string", "string", false, 0}, {"order_by", "array", false, "string"}, {"max_results", "integer", false, 0}}},
    {"get_experiment_by_name", "Get experiment details by name (more convenient than ID)", RO, tool_get_experiment_by_name, {{"name", "string", true, 0}}},
    {"get_experiment_metrics", "Get all unique metric names used across all runs in an experiment", RO, tool_get_experiment_metrics,
     {{"experiment_id", "string", true, 0}}},
    {"get_experiment_params", "Get all unique parameter names used across all runs in an experiment", RO, tool_get_experiment_params,
     {{"experiment_id", "string", true, 0}}},
    {"get_experiment_tags", "Get all unique tag keys used across all runs in an experiment", RO, tool_get_experiment_tags,
     {{"experiment_id", "string", true, 0}}},
    {"get_runs", "Get runs for a specific experiment with full details.", RO, tool_get_runs,
     {{"experiment_id", "string", true, 0}, {"limit", "integer", false, 0}, {"offset", "integer", false, 0},
      {"order_by", "array", false, "string"}}},
    {"get_run", "Get detailed information about a specific run.", RO, tool_get_run, {{"run_id", "string", true, 0}}},
    {"get_parent_run", "Get the parent run of a nested run. Returns None if the run has no parent.", RO, tool_get_parent_run,
     {{"run_id", "string", true, 0}}},
    {"query_runs", "Query runs using MLflow's filter syntax with optional sorting.", RO, tool_query_runs,
     {{"experiment_id", "string", true, 0}, {"query", "string", true, 0}, {"limit", "integer", false, 0},
      {"offset", "integer", false, 0}, {"order_by", "array", false, "string"}}},
    {"get_run_artifacts", "List artifacts for a specific run. Use 'path' to browse into directories.", RO, tool_get_run_artifacts,
     {{"run_id", "string", true, 0}, {"path", "string", false, 0}}},
    {"get_run_artifact", "Download and return the local path to a specific artifact", RO, tool_get_run_artifact,
     {{"run_id", "string", true, 0}, {"artifact_path", "string", true, 0}}},
    {"get_artifact_content", "Read and return artifact content (for text/json files)", RO, tool_get_artifact_content,
     {{"run_id", "string", true, 0}, {"artifact_path", "string", true, 0}}},
    {"get_run_metrics", "Get all metrics for a specific run with their latest values", RO, tool_get_run_metrics, {{"run_id", "string", true, 0}}},
    {"get_run_metric", "Get the full history of a specific metric for a run", RO, tool_get_run_metric,
     {{"run_id", "string", true, 0}, {"metric_name", "string", true, 0}}},
    {"get_best_run", "Get the best run by a specific metric (e.g., highest accuracy, lowest loss).", RO, tool_get_best_run,
     {{"experiment_id", "string", true, 0}, {"metric", "string", true, 0}, {"ascending", "boolean", false, 0}}},
    {"compare_runs", "Compare runs side-by-side with full metrics and params.", RO, tool_compare_runs,
     {{"experiment_id", "string", true, 0}, {"run_ids", "array", true, "string"}}},
    {"search_runs_by_tags", "Find runs with specific tags (e.g., {'team': 'nlp'}).", RO, tool_search_runs_by_tags,
     {{"experiment_id", "string", true, 0}, {"tags", "object", true, 0}, {"limit", "integer", false, 0},
      {"offset", "integer", false, 0}}},
    {"get_registered_models", "List all registered models in the model registry", RO, tool_get_registered_models, {{0}}},
    {"get_model_versions", "Get all versions of a registered model", RO, tool_get_model_versions, {{"model_name", "string", true, 0}}},
    {"get_model_version", "Get specific model version details (metrics, stage, run_id)", RO, tool_get_model_version,
     {{"model_name", "string", true, 0}, {"version", "string", true, 0}}},
    {"get_registered_model", "Get full details of a registered model including all versions and aliases.", RO, tool_get_registered_model,
     {{"name", "string", true, 0}}},
    {"get_model_version_by_alias", "Get a model version by its alias (e.g. 'champion', 'production').", RO, tool_get_model_version_by_alias,
     {{"name", "string", true, 0}, {"alias", "string", true, 0}}},
    {"get_latest_versions", "Get latest model versions for each stage (e.g. 'Staging', 'Production').", RO, tool_get_latest_versions,
     {{"name", "string", true, 0}, {"stages", "array", false, "string"}}},
    {"search_logged_models", "Search for logged models across one or more experiments.", RO, tool_search_logged_models,
     {{"experiment_ids", "array", true, "string"}, {"filter_string", "string", false, 0},
      {"max_results", "integer", false, 0}, {"datasets", "array", false, "object"}, {"order_by", "array", false, "object"}}},
    {"get_logged_model", "Get detailed information about a specific logged model by its ID.", RO, tool_get_logged_model,
     {{"model_id", "string", true, 0}}},
    {"health", "Check that the MLflow tracking server is reachable.", RO, tool_health, {{0}}},
    {"register_model", "Register a model into the model registry. Creates the registered model if it doesn't exist.", W, tool_register_model,
     {{"model_name", "string", true, 0}, {"model_uri", "string", true, 0}, {"tags", "object", false, 0}}},
    {"set_registered_model_tag", "Set a tag on a registered model (e.g. problem_type, team, framework).", W_IDEMPOTENT, tool_set_registered_model_tag,
     {{"name", "string", true, 0}, {"key", "string", true, 0}, {"value", "string", true, 0}}},
    {"set_model_alias", "Assign an alias to a specific model version (e.g. promote best model to 'champion').",
     W_IDEMPOTENT, tool_set_model_alias, {{"name", "string", true, 0}, {"alias", "string", true, 0}, {"version", "string", true, 0}}},
    {"set_run_tag", "Set a tag on a run (e.g. annotate best model, flag for review).", W_IDEMPOTENT, tool_set_run_tag,
     {{"run_id", "string", true, 0}, {"key", "string", true, 0}, {"value", "string", true, 0}}},
    {"set_experiment_tag", "Set a tag on an experiment.", W_IDEMPOTENT, tool_set_experiment_tag,
     {{"experiment_id", "string", true, 0}, {"key", "string", true, 0}, {"value", "string", true, 0}}},
    {"update_model_version", "Update the description of a model version.", W_IDEMPOTENT, tool_update_model_version,
     {{"name", "string", true, 0}, {"version", "string", true, 0}, {"description", "string", true, 0}}},
    {"copy_model_version", "Promote a model version to another registered model (MLflow 3 promotion pattern).", W, tool_copy_model_version,
     {{"src_model_name", "string", true, 0}, {"src_version", "string", true, 0}, {"dst_model_name", "string", true, 0}}},
    {"transition_model_version_stage", "Transition a model version to a new stage (Staging, Production, Archived).",
     DESTRUCTIVE, tool_transition_model_version_stage, {{"name", "string", true, 0}, {"version", "string", true, 0}, {"stage", "string", true, 0},
                   {"archive_existing", "boolean", false, 0}}},
    {"delete_model_alias", "Remove an alias from a registered model (e.g. revoke 'champion').", DESTRUCTIVE, tool_delete_model_alias,
     {{"name", "string", true, 0}, {"alias", "string", true, 0}}},
    {"delete_model_version", "Delete a specific model version from the registry. Irreversible.", DESTRUCTIVE, tool_delete_model_version,
     {{"name", "string", true, 0}, {"version", "string", true, 0}}},
    {"delete_registered_model", "Delete an entire registered model and all its versions. Irreversible.", DESTRUCTIVE, tool_delete_registered_model,
     {{"name", "string", true, 0}}},
    {"delete_run", "Delete a run. Moves it to the 'deleted' lifecycle stage.", DESTRUCTIVE, tool_delete_run, {{"run_id", "string", true, 0}}},
    {"delete_experiment", "Delete an experiment and all its runs.", DESTRUCTIVE, tool_delete_experiment, {{"experiment_id", "string", true, 0}}},
};
#define NTOOLS (sizeof tools / sizeof *tools)

cJSON *registry_tool_list(void)
{
    cJSON *result = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(result, "tools");
    for (size_t i = 0; i < NTOOLS; i++) {
        const struct tool *t = &tools[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "description", t->description);
        cJSON *schema = cJSON_AddObjectToObject(o, "inputSchema");
        cJSON_AddStringToObject(schema, "type", "object");
        cJSON *props = cJSON_AddObjectToObject(schema, "properties");
        cJSON *req = cJSON_AddArrayToObject(schema, "required");
        for (const struct param *p = t->params; p->name; p++) {
            cJSON *prop = cJSON_AddObjectToObject(props, p->name);
            cJSON_AddStringToObject(prop, "type", p->type);
            if (p->items)
                cJSON_AddStringToObject(cJSON_AddObjectToObject(prop, "items"), "type", p->items);
            if (p->required)
                cJSON_AddItemToArray(req, cJSON_CreateString(p->name));
        }
        cJSON *ann = cJSON_AddObjectToObject(o, "annotations");
        cJSON_AddBoolToObject(ann, "readOnlyHint", t->kind == RO);
        if (t->kind == W_IDEMPOTENT)
            cJSON_AddBoolToObject(ann, "idempotentHint", true);
        if (t->kind == DESTRUCTIVE)
            cJSON_AddBoolToObject(ann, "destructiveHint", true);
        cJSON_AddItemToArray(list, o);
    }
    return result;
}

/* Checks arguments against the tool's schema, as FastMCP's validation would. */
static bool check_args(const struct tool *t, const cJSON *args, struct failure *f)
{
    if (args && !cJSON_IsObject(args)) {
        fail(f, "arguments must be an object");
        return false;
    }
    for (const struct param *p = t->params; p->name; p++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, p->name);
        if (!v || cJSON_IsNull(v)) {
            if (p->required) {
                fail(f, "1 validation error for %sArguments\n%s\n  Field required", t->name, p->name);
                return false;
            }
            continue;
        }
        bool ok = !strcmp(p->type, "string") ? cJSON_IsString(v)
                  : !strcmp(p->type, "integer") ? cJSON_IsNumber(v) && v->valuedouble == (double)(long)v->valuedouble
                  : !strcmp(p->type, "boolean") ? cJSON_IsBool(v)
                  : !strcmp(p->type, "array") ? cJSON_IsArray(v)
                  : cJSON_IsObject(v);
        if (!ok) {
            fail(f, "1 validation error for %sArguments\n%s\n  Input should be a valid %s", t->name, p->name, p->type);
            return false;
        }
    }
    return true;
}

cJSON *registry_call(struct registry *r, const char *tool, const cJSON *args)
{
    const struct tool *t = NULL;
    for (size_t i = 0; i < NTOOLS && !t; i++)
        if (!strcmp(tools[i].name, tool))
            t = &tools[i];
    if (!t)
        return NULL;
    struct failure f = {{0}};
    cJSON *answer = NULL;
    if (check_args(t, args, &f)) {
        r->clock += 1000;
        answer = t->run(r, args, &f);
    }
    cJSON *result = cJSON_CreateObject();
    cJSON *content = cJSON_AddArrayToObject(result, "content");
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "type", "text");
    if (answer) {
        char *text = cJSON_PrintUnformatted(answer);
        cJSON_AddStringToObject(item, "text", text ? text : "null");
        free(text);
        cJSON_Delete(answer);
    } else {
        char msg[700];
        snprintf(msg, sizeof msg, "Error executing tool %s: %s", tool, f.message);
        cJSON_AddStringToObject(item, "text", msg);
        cJSON_AddBoolToObject(result, "isError", true);
    }
    cJSON_AddItemToArray(content, item);
    return result;
}
