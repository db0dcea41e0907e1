/* Unit tests of the table-driven JSON reader (src/schema.c): every kind of
 * field, every kind of problem, several problems told together with the
 * right LINE:COL, and JSON pointers escaped as RFC 6901 says. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "schema.h"

struct inner {
    unsigned n;
};

struct sample {
    bool on;
    int level;
    unsigned count;
    size_t bytes;
    double window;
    char *name;
    char **list;
    int mode;
    struct inner inner;
    int custom_seen;
};

static void read_even(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    if (!cJSON_IsNumber(v) || (int)v->valuedouble % 2)
        schema_problem(doc, v, ptr, "must be even");
    else
        *(int *)dst = (int)v->valuedouble;
}

static const struct field inner_fields[] = {
    {.key = "n", .kind = FIELD_UINT, .offset = offsetof(struct inner, n), .min = 1, .max = 9, .required = true},
    {0},
};

static const char *const modes[] = {"fast", "safe", "off"};
static const char *const colors[] = {"red", "blue"};

static const struct field sample_fields[] = {
    {.key = "on", .kind = FIELD_BOOL, .offset = offsetof(struct sample, on)},
    {.key = "level", .kind = FIELD_INT, .offset = offsetof(struct sample, level), .min = 1, .max = 64},
    {.key = "count", .kind = FIELD_UINT, .offset = offsetof(struct sample, count), .min = 1, .max = 100},
    {.key = "bytes", .kind = FIELD_SIZE, .offset = offsetof(struct sample, bytes), .min = 1, .max = 1 << 20},
    {.key = "window", .kind = FIELD_SECONDS, .offset = offsetof(struct sample, window), .min = 0, .max = 60},
    {.key = "name", .kind = FIELD_STRING, .offset = offsetof(struct sample, name), .min = 1},
    {.key = "list", .kind = FIELD_STRINGS, .offset = offsetof(struct sample, list), .min = 1},
    {.key = "mode", .kind = FIELD_ENUM, .offset = offsetof(struct sample, mode), SCHEMA_NAMES(modes)},
    {.key = "color", .kind = FIELD_NOTE, SCHEMA_NAMES(colors)},
    {.key = "inner", .kind = FIELD_OBJECT, .offset = offsetof(struct sample, inner), .fields = inner_fields},
    {.key = "even", .kind = FIELD_CUSTOM, .offset = offsetof(struct sample, custom_seen), .custom = read_even},
    {.key = "comment", .kind = FIELD_ANY},
    {.key = "req", .kind = FIELD_BOOL, .offset = offsetof(struct sample, on), .required = true},
    {0},
};

/* Reads text through sample_fields; returns the number of problems, err holds them. */
static int read_text(const char *text, struct sample *s, char *err, size_t errlen)
{
    struct schema_doc doc;
    memset(s, 0, sizeof *s);
    schema_doc_init(&doc, "t.json", err, errlen);
    const cJSON *root = schema_parse_text(&doc, text, strlen(text));
    if (root)
        schema_read(&doc, root, "", sample_fields, s);
    int n = doc.problems;
    schema_doc_free(&doc);
    return n;
}

static void test_good(void)
{
    struct sample s;
    char err[2048];
    CHECK(read_text("{\"req\":true,\"on\":false,\"level\":64,\"count\":7,\"bytes\":1048576,\"window\":0.5,"
                    "\"name\":\"x\",\"list\":[\"a\",\"b\"],\"mode\":\"off\",\"color\":\"red\",\"inner\":{\"n\":3},"
                    "\"even\":4,\"comment\":[1,{\"any\":null}]}",
                    &s, err, sizeof err) == 0);
    CHECK_STR(err, "");
    CHECK(!s.on && s.level == 64 && s.count == 7 && s.bytes == 1048576 && s.window == 0.5);
    CHECK_STR(s.name, "x");
    CHECK(s.list && s.list[2] == NULL);
    CHECK_STR(s.list[1], "b");
    CHECK(s.mode == 2 && s.inner.n == 3 && s.custom_seen == 4);
    schema_free(sample_fields, &s);
    CHECK(s.name == NULL && s.list == NULL);
}

struct one_case {
    const char *text;
    const char *want;   /* the whole message */
};

/* One problem each, with its exact line. */
static const struct one_case one_problem[] = {
    {"{\"req\":true,\"on\":\"yes\"}", "t.json:1:18 /on: must be true or false"},
    {"{\"req\":true,\"count\":101}", "t.json:1:21 /count: must be a whole number from 1 to 100"},
    {"{\"req\":true,\"count\":2.5}", "t.json:1:21 /count: must be a whole number from 1 to 100"},
    {"{\"req\":true,\"level\":0}", "t.json:1:21 /level: must be a whole number from 1 to 64"},
    {"{\"req\":true,\"window\":0}", "t.json:1:22 /window: must be a number of seconds, more than 0 and at most 60"},
    {"{\"req\":true,\"name\":\"\"}", "t.json:1:20 /name: must be a non-empty string"},
    {"{\"req\":true,\"list\":[]}", "t.json:1:20 /list: must be an array of non-empty strings"},
    {"{\"req\":true,\"list\":[\"a\",7]}", "t.json:1:25 /list/1: must be a non-empty string"},
    {"{\"req\":true,\"mode\":\"quick\"}", "t.json:1:20 /mode: must be \"fast\", \"safe\" or \"off\", not \"quick\""},
    {"{\"req\":true,\"mode\":1}", "t.json:1:20 /mode: must be \"fast\", \"safe\" or \"off\""},
    {"{\"req\":true,\"color\":\"green\"}", "t.json:1:21 /color: must be \"red\" or \"blue\", not \"green\""},
    {"{\"req\":true,\"inner\":[]}", "t.json:1:21 /inner: must be an object"},
    {"{\"req\":true,\"inner\":{}}", "t.json:1:21 /inner/n: is missing; it must be a whole number from 1 to 9"},
    {"{\"req\":true,\"even\":3}", "t.json:1:20 /even: must be even"},
    {"{\"req\":true,\"levle\":3}", "t.json:1:13 /levle: unknown field \"levle\" (did you mean \"level\"?)"},
    {"{\"req\":true,\"zzzzzzzz\":3}",
     "t.json:1:13 /zzzzzzzz: unknown field \"zzzzzzzz\" (known: on, level, count, bytes, window, name, list, mode, "
     "color, inner, even, comment, req)"},
    {"{\"req\":true,\"on\":true,\"on\":false}",
     "t.json:1:23 /on: given twice (a server would read the last, warden refuses both)"},
    {"{}", "t.json:1:1 /req: is missing; it must be true or false"},
    {"[]", "t.json:1:1: must be an object"},
    {"{\"req\":true,", "t.json:1:13: not valid JSON"},
    {"{\"req\":true}x", "t.json:1:13: not valid JSON"},
};

static void test_one_problem(void)
{
    for (size_t i = 0; i < sizeof one_problem / sizeof *one_problem; i++) {
        struct sample s;
        char err[2048];
        int n = read_text(one_problem[i].text, &s, err, sizeof err);
        size_t len = strlen(err);
        if (len && err[len - 1] == '\n')
            err[len - 1] = '\0';
        if (n != 1 || strcmp(err, one_problem[i].want) != 0)
            fprintf(stderr, "case %zu: %d problems: %s\n", i, n, err);
        CHECK(n == 1);
        CHECK_STR(err, one_problem[i].want);
        schema_free(sample_fields, &s);
    }
}

/* Several problems on several lines are told together, each at its place;
 * columns count characters, not bytes. */
static void test_several(void)
{
    struct sample s;
    char err[2048];
    const char *text = "{\n"
                       "  \"req\": true,\n"
                       "  \"name\": \"h\xC3\xA9\", \"count\": -1,\n"
                       "\t\"mode\": \"x\",\n"
                       "  \"bogus\": {\"deep\": [1, 2]},\n"
                       "  \"inner\": {\"n\": 10, \"n\": 2}\n"
                       "}\n";
    CHECK(read_text(text, &s, err, sizeof err) == 5);
    CHECK_STR(err, "t.json:3:26 /count: must be a whole number from 1 to 100\n"
                   "t.json:4:10 /mode: must be \"fast\", \"safe\" or \"off\", not \"x\"\n"
                   "t.json:5:3 /bogus: unknown field \"bogus\" (known: on, level, count, bytes, window, name, list, "
                   "mode, color, inner, even, comment, req)\n"
                   "t.json:6:18 /inner/n: must be a whole number from 1 to 9\n"
                   "t.json:6:22 /inner/n: given twice (a server would read the last, warden refuses both)\n");
    schema_free(sample_fields, &s);
    /* a byte order mark is skipped, as cJSON does */
    CHECK(read_text("\xEF\xBB\xBF{\"req\":1}", &s, err, sizeof err) == 1);
    CHECK_STR(err, "t.json:1:8 /req: must be true or false\n");
    /* a full buffer still counts every problem and ends cleanly */
    char small[40];
    CHECK(read_text("{\"on\":1,\"level\":0,\"count\":0}", &s, small, sizeof small) == 4);
    CHECK(strlen(small) < sizeof small && strncmp(small, "t.json:1:7 /on", 14) == 0);
}

/* Object keys are escaped in pointers: "~" as "~0", "/" as "~1". */
static void read_map(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    schema_duplicates(doc, v, ptr);
    for (const cJSON *m = v->child; m; m = m->next) {
        char at[256];
        schema_pointer(at, sizeof at, ptr, m->string);
        if (!schema_is_repeat(m))
            schema_read(doc, m, at, sample_fields, dst);
    }
}

static void test_pointers(void)
{
    char out[64];
    schema_pointer(out, sizeof out, "/a", "b/c~d");
    CHECK_STR(out, "/a/b~1c~0d");
    schema_pointer(out, 8, "", "~~~~~~~~~~");
    CHECK(strlen(out) < 8 && strncmp(out, "/~0~0", 5) == 0);
    static const struct field map_fields[] = {
        {.key = "servers", .kind = FIELD_CUSTOM, .custom = read_map},
        {0},
    };
    struct sample s = {0};
    char err[1024];
    struct schema_doc doc;
    schema_doc_init(&doc, "m.json", err, sizeof err);
    const char *text = "{\"servers\": {\"a/b\": {\"req\": true, \"on\": 3}, \"c~d\": {\"req\": true, \"x~/\": 1},"
                       " \"c~d\": {}}}";
    const cJSON *root = schema_parse_text(&doc, text, strlen(text));
    CHECK(root != NULL);
    schema_read(&doc, root, "", map_fields, &s);
    CHECK(doc.problems == 3);
    CHECK_STR(err, "m.json:1:77 /servers/c~0d: given twice (a server would read the last, warden refuses both)\n"
                   "m.json:1:41 /servers/a~1b/on: must be true or false\n"
                   "m.json:1:66 /servers/c~0d/x~0~1: unknown field \"x~/\" (known: on, level, count, bytes, window, "
                   "name, list, mode, color, inner, even, comment, req)\n");
    schema_doc_free(&doc);
    schema_free(sample_fields, &s);
}

/* The command line has no file and no positions: "PTR: problem". */
static void test_command_line(void)
{
    char err[256];
    struct schema_doc doc;
    struct sample s = {0};
    schema_doc_init(&doc, NULL, err, sizeof err);
    cJSON *v = cJSON_CreateString("7");
    schema_read_field(&doc, &sample_fields[2], v, "--count 7", &s);
    cJSON_Delete(v);
    CHECK(doc.problems == 1);
    CHECK_STR(err, "--count 7: must be a whole number from 1 to 100\n");
    schema_doc_free(&doc);
    /* a file that cannot be read says so, with its name */
    schema_doc_init(&doc, "/nonexistent/warden.json", err, sizeof err);
    CHECK(schema_parse_file(&doc) == NULL);
    CHECK(strncmp(err, "/nonexistent/warden.json: cannot read: ", 39) == 0);
    schema_doc_free(&doc);
}

int main(void)
{
    test_good();
    test_one_problem();
    test_several();
    test_pointers();
    test_command_line();
    return check_report();
}
