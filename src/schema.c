#include "schema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE_BYTES (16u * 1024 * 1024)
#define NOWHERE SIZE_MAX

/* Where a value of the tree begins in the text, and where its key does. */
struct schema_pos {
    const cJSON *node;
    size_t value_at, key_at;
};

void schema_doc_init(struct schema_doc *doc, const char *file, char *err, size_t errlen)
{
    memset(doc, 0, sizeof *doc);
    doc->file = file;
    doc->err = err;
    doc->errlen = errlen;
    if (errlen)
        err[0] = '\0';
}

void schema_doc_free(struct schema_doc *doc)
{
    cJSON_Delete(doc->root);
    free(doc->text);
    free(doc->pos);
    doc->root = NULL;
    doc->text = NULL;
    doc->pos = NULL;
    doc->npos = 0;
}

/* Line and column (in characters: UTF-8 continuation bytes do not count) of a byte offset. */
static void line_col(const char *text, size_t off, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    size_t start = strncmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;    /* a byte order mark is no column */
    for (size_t i = start; i < off; i++) {
        if (text[i] == '\n')
            ++*line, *col = 1;
        else if (((unsigned char)text[i] & 0xC0) != 0x80)
            ++*col;
    }
}

/* Appends one line "FILE[:LINE:COL][ PTR]: what\n" to the document's buffer (no PTR for the root). */
static void vreport(struct schema_doc *doc, size_t off, const char *ptr, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void vreport(struct schema_doc *doc, size_t off, const char *ptr, const char *fmt, va_list ap)
{
    doc->problems++;
    if (doc->used + 1 >= doc->errlen)
        return;
    char what[600], where[64] = "";
    vsnprintf(what, sizeof what, fmt, ap);
    if (off != NOWHERE && doc->text && off <= doc->len) {
        size_t line, col;
        line_col(doc->text, off, &line, &col);
        snprintf(where, sizeof where, ":%zu:%zu", line, col);
    }
    char *out = doc->err + doc->used;
    size_t room = doc->errlen - doc->used;
    int n;
    if (!doc->file)
        n = snprintf(out, room, "%s: %s\n", ptr ? ptr : "", what);
    else if (ptr && ptr[0])
        n = snprintf(out, room, "%s%s %s: %s\n", doc->file, where, ptr, what);
    else
        n = snprintf(out, room, "%s%s: %s\n", doc->file, where, what);
    if (n > 0)
        doc->used += (size_t)n < room ? (size_t)n : room - 1;
}

static void report(struct schema_doc *doc, size_t off, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(struct schema_doc *doc, size_t off, const char *ptr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(doc, off, ptr, fmt, ap);
    va_end(ap);
}

static const struct schema_pos *find_pos(const struct schema_doc *doc, const cJSON *v)
{
    size_t lo = 0, hi = doc->npos;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (doc->pos[mid].node == v)
            return &doc->pos[mid];
        if ((uintptr_t)doc->pos[mid].node < (uintptr_t)v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void schema_problem(struct schema_doc *doc, const cJSON *v, const char *ptr, const char *fmt, ...)
{
    const struct schema_pos *p = v && doc->used + 1 < doc->errlen ? find_pos(doc, v) : NULL;
    va_list ap;
    va_start(ap, fmt);
    vreport(doc, p ? p->value_at : NOWHERE, ptr, fmt, ap);
    va_end(ap);
}

void schema_warning(struct schema_doc *doc, const cJSON *v, const char *ptr, const char *fmt, ...)
{
    if (!doc->warn)
        return;
    /* the same line as a problem, written to the warnings buffer and counted there */
    struct schema_doc w = *doc;
    w.err = doc->warn;
    w.errlen = doc->warnlen;
    w.used = doc->warnused;
    w.problems = 0;
    const struct schema_pos *p = v && w.used + 1 < w.errlen ? find_pos(doc, v) : NULL;
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    report(&w, p ? p->value_at : NOWHERE, ptr, "warning: %s", what);
    doc->warnused = w.used;
    doc->warnings++;
}

void schema_key_problem(struct schema_doc *doc, const cJSON *m, const char *ptr, const char *fmt, ...)
{
    const struct schema_pos *p = doc->used + 1 < doc->errlen ? find_pos(doc, m) : NULL;
    va_list ap;
    va_start(ap, fmt);
    vreport(doc, p ? p->key_at : NOWHERE, ptr, fmt, ap);
    va_end(ap);
}

/* ---- positions: a second pass over text cJSON accepted, in step with its tree ---- */

struct walk {
    const char *s;
    size_t len, i;
    struct schema_pos *pos;
    size_t n;
};

static void skip_ws(struct walk *w)
{
    /* cJSON skips every byte up to the space as whitespace; so does this pass */
    while (w->i < w->len && (unsigned char)w->s[w->i] <= ' ')
        w->i++;
}

static void skip_string(struct walk *w)
{
    for (w->i++; w->i < w->len && w->s[w->i] != '"'; w->i++)
        if (w->s[w->i] == '\\')
            w->i++;
    w->i++;
}

static void walk_value(struct walk *w, const cJSON *node, size_t key_at)
{
    skip_ws(w);
    w->pos[w->n++] = (struct schema_pos){node, w->i, key_at};
    char open = w->i < w->len ? w->s[w->i] : '\0';
    if (open == '{' || open == '[') {
        w->i++;
        for (const cJSON *c = node->child; c; c = c->next) {
            skip_ws(w);
            if (w->i < w->len && w->s[w->i] == ',') {
                w->i++;
                skip_ws(w);
            }
            size_t key = w->i;
            if (open == '{') {
                skip_string(w);
                skip_ws(w);
                w->i++;   /* ':' */
            }
            walk_value(w, c, open == '{' ? key : NOWHERE);
        }
        skip_ws(w);
        w->i++;       /* the closing bracket */
    } else if (open == '"') {
        skip_string(w);
    } else {
        while (w->i < w->len && (unsigned char)w->s[w->i] > ' ' && !strchr(",]}", w->s[w->i]))
            w->i++;
    }
}

static size_t count_nodes(const cJSON *v)
{
    size_t n = 1;
    for (const cJSON *c = v->child; c; c = c->next)
        n += count_nodes(c);
    return n;
}

static int pos_order(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct schema_pos *)a)->node, y = (uintptr_t)((const struct schema_pos *)b)->node;
    return x < y ? -1 : x > y;
}

static const cJSON *parse_owned(struct schema_doc *doc)
{
    const char *end = NULL;
    doc->root = cJSON_ParseWithLengthOpts(doc->text, doc->len + 1, &end, 1);
    if (!doc->root) {
        size_t off = end && end >= doc->text ? (size_t)(end - doc->text) : 0;
        report(doc, off > doc->len ? doc->len : off, NULL, "not valid JSON");
        return NULL;
    }
    size_t n = count_nodes(doc->root);
    if (!(doc->pos = calloc(n, sizeof *doc->pos))) {
        report(doc, NOWHERE, NULL, "out of memory");
        return NULL;
    }
    struct walk w = {.s = doc->text, .len = doc->len, .pos = doc->pos};
    if (w.len >= 3 && memcmp(w.s, "\xEF\xBB\xBF", 3) == 0)
        w.i = 3;    /* cJSON skips a UTF-8 byte order mark */
    walk_value(&w, doc->root, NOWHERE);
    doc->npos = w.n;
    qsort(doc->pos, doc->npos, sizeof *doc->pos, pos_order);
    return doc->root;
}

const cJSON *schema_parse_text(struct schema_doc *doc, const char *text, size_t len)
{
    if (!(doc->text = malloc(len + 1))) {
        report(doc, NOWHERE, NULL, "out of memory");
        return NULL;
    }
    memcpy(doc->text, text, len);
    doc->text[len] = '\0';
    doc->len = len;
    return parse_owned(doc);
}

const cJSON *schema_parse_file(struct schema_doc *doc)
{
    FILE *f = fopen(doc->file, "rb");
    if (!f) {
        report(doc, NOWHERE, NULL, "cannot read: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 0, len = 0;
    char *buf = NULL;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *b = cap <= MAX_FILE_BYTES ? realloc(buf, cap + 1) : NULL;
            if (!b) {
                report(doc, NOWHERE, NULL, cap > MAX_FILE_BYTES ? "larger than 16 MiB" : "out of memory");
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int error = ferror(f) ? (errno ? errno : EIO) : 0;   /* EISDIR for a directory */
    fclose(f);
    if (error) {
        free(buf);
        report(doc, NOWHERE, NULL, "cannot read: %s", strerror(error));
        return NULL;
    }
    buf[len] = '\0';
    doc->text = buf;
    doc->len = len;
    return parse_owned(doc);
}

void schema_pointer(char *out, size_t outlen, const char *base, const char *seg)
{
    size_t n = (size_t)snprintf(out, outlen, "%s/", base);
    for (const char *s = seg; *s && n + 3 < outlen; s++) {
        if (*s == '~')
            out[n++] = '~', out[n++] = '0';
        else if (*s == '/')
            out[n++] = '~', out[n++] = '1';
        else
            out[n++] = *s;
    }
    out[n < outlen ? n : outlen - 1] = '\0';
}

bool schema_is_repeat(const cJSON *m)
{
    /* a member with a successor is a true predecessor; the first child's
     * prev is the last child, which has none */
    for (const cJSON *p = m->prev; p && p->next; p = p->prev)
        if (strcmp(p->string, m->string) == 0)
            return true;
    return false;
}

int schema_duplicates(struct schema_doc *doc, const cJSON *v, const char *ptr)
{
    int n = 0;
    for (const cJSON *m = v->child; m; m = m->next) {
        if (schema_is_repeat(m)) {
            char at[512];
            schema_pointer(at, sizeof at, ptr, m->string);
            schema_key_problem(doc, m, at, "given twice (a server would read the last, warden refuses both)");
            n++;
        }
    }
    return n;
}

/* ---- reading values ---- */

/* `"a", "b" or "c"` */
static void list_names(char *out, size_t outlen, const struct field *f)
{
    size_t n = 0, shown = 0, total = 0;
    out[0] = '\0';
    for (size_t i = 0; i < f->nnames; i++)
        total += f->names[i] != NULL;
    for (size_t i = 0; i < f->nnames && n < outlen; i++) {
        if (!f->names[i])
            continue;
        shown++;
        const char *sep = shown == 1 ? "" : shown == total ? " or " : ", ";
        int w = snprintf(out + n, outlen - n, "%s\"%s\"", sep, f->names[i]);
        n += w > 0 ? (size_t)w : 0;
    }
}

/* What a value of this field must be, for messages. */
static void expectation(char *out, size_t outlen, const struct field *f)
{
    char names[300];
    if (f->expect) {
        snprintf(out, outlen, "%s", f->expect);
        return;
    }
    switch (f->kind) {
    case FIELD_BOOL: snprintf(out, outlen, "must be true or false"); return;
    case FIELD_INT:
    case FIELD_UINT:
    case FIELD_SIZE: snprintf(out, outlen, "must be a whole number from %.0f to %.0f", f->min, f->max); return;
    case FIELD_SECONDS:
        snprintf(out, outlen, "must be a number of seconds, more than %.15g and at most %.15g", f->min, f->max);
        return;
    case FIELD_STRINGS: snprintf(out, outlen, "must be an array of non-empty strings"); return;
    case FIELD_OBJECT: snprintf(out, outlen, "must be an object"); return;
    case FIELD_STRING:
    case FIELD_NOTE:
    case FIELD_ENUM:
        if (f->names) {
            list_names(names, sizeof names, f);
            snprintf(out, outlen, "must be %s", names);
        } else {
            snprintf(out, outlen, f->min > 0 ? "must be a non-empty string" : "must be a string");
        }
        return;
    case FIELD_CUSTOM:
    case FIELD_ANY: snprintf(out, outlen, "is not valid"); return;
    }
}

static void wrong(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr)
{
    char want[400];
    expectation(want, sizeof want, f);
    if (f->names && cJSON_IsString(v))
        schema_problem(doc, v, ptr, "%s, not \"%.100s\"", want, v->valuestring);
    else
        schema_problem(doc, v, ptr, "%s", want);
}

/* The index of s in names, or -1. */
static int name_index(const struct field *f, const char *s)
{
    for (size_t i = 0; i < f->nnames; i++)
        if (f->names[i] && strcmp(f->names[i], s) == 0)
            return (int)i;
    return -1;
}

static bool whole_in_range(const struct field *f, const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= f->min && v->valuedouble <= f->max &&
           v->valuedouble == (double)(long long)v->valuedouble;
}

static void free_list(char **list)
{
    for (char **p = list; p && *p; p++)
        free(*p);
    free(list);
}

static void read_strings(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, char ***dst)
{
    if (!cJSON_IsArray(v)) {
        wrong(doc, f, v, ptr);
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(v), k = 0;
    char **list = calloc(n + 1, sizeof *list);
    if (!list) {
        schema_problem(doc, v, ptr, "out of memory");
        return;
    }
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char at[512];
        snprintf(at, sizeof at, "%s/%d", ptr, i);
        if (!cJSON_IsString(e) || !e->valuestring[0])
            schema_problem(doc, e, at, "must be a non-empty string");
        else if (!(list[k++] = strdup(e->valuestring)))
            schema_problem(doc, e, at, "out of memory");
    }
    if ((double)k < f->min)
        wrong(doc, f, v, ptr);
    free_list(*dst);
    *dst = list;
}

void schema_read_field(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *base)
{
    void *dst = (char *)base + f->offset;
    switch (f->kind) {
    case FIELD_BOOL:
        if (!cJSON_IsBool(v))
            wrong(doc, f, v, ptr);
        else
            *(bool *)dst = cJSON_IsTrue(v);
        return;
    case FIELD_INT:
    case FIELD_UINT:
    case FIELD_SIZE:
        if (!whole_in_range(f, v))
            wrong(doc, f, v, ptr);
        else if (f->kind == FIELD_INT)
            *(int *)dst = (int)v->valuedouble;
        else if (f->kind == FIELD_UINT)
            *(unsigned *)dst = (unsigned)v->valuedouble;
        else
            *(size_t *)dst = (size_t)v->valuedouble;
        return;
    case FIELD_SECONDS:
        if (!cJSON_IsNumber(v) || !(v->valuedouble > f->min) || v->valuedouble > f->max)
            wrong(doc, f, v, ptr);
        else
            *(double *)dst = v->valuedouble;
        return;
    case FIELD_STRING:
    case FIELD_NOTE:
    case FIELD_ENUM:
        if (!cJSON_IsString(v) || strlen(v->valuestring) < (size_t)f->min ||
            (f->names && name_index(f, v->valuestring) < 0)) {
            wrong(doc, f, v, ptr);
        } else if (f->kind == FIELD_ENUM) {
            *(int *)dst = name_index(f, v->valuestring);
        } else if (f->kind == FIELD_STRING) {
            char *s = strdup(v->valuestring);
            if (!s) {
                schema_problem(doc, v, ptr, "out of memory");
                return;
            }
            free(*(char **)dst);
            *(char **)dst = s;
        }
        return;
    case FIELD_STRINGS: read_strings(doc, f, v, ptr, dst); return;
    case FIELD_OBJECT:
        if (!cJSON_IsObject(v))
            wrong(doc, f, v, ptr);
        else
            schema_read(doc, v, ptr, f->fields, dst);
        return;
    case FIELD_CUSTOM: f->custom(doc, f, v, ptr, dst); return;
    case FIELD_ANY: return;
    }
}

/* Edit distance of two short keys, for "did you mean". */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return SIZE_MAX;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void unknown_member(struct schema_doc *doc, const cJSON *m, const char *ptr, const struct field *fields)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    char known[400];
    size_t n = 0;
    known[0] = '\0';
    for (const struct field *f = fields; f->key || f->flag; f++) {
        if (!f->key)
            continue;
        size_t d = distance(m->string, f->key);
        if (d < best_d)
            best = f->key, best_d = d;
        int w = snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "", f->key);
        n += w > 0 && (size_t)w < sizeof known - n ? (size_t)w : 0;
    }
    size_t longer = best ? strlen(best) : 0;
    if (strlen(m->string) > longer)
        longer = strlen(m->string);
    if (best && best_d <= 3 && best_d * 2 <= longer)
        schema_key_problem(doc, m, ptr, "unknown field \"%.100s\" (did you mean \"%s\"?)", m->string, best);
    else
        schema_key_problem(doc, m, ptr, "unknown field \"%.100s\" (known: %s)", m->string, known);
}

void schema_read(struct schema_doc *doc, const cJSON *v, const char *ptr, const struct field *fields, void *base)
{
    if (!cJSON_IsObject(v)) {
        schema_problem(doc, v, ptr, "must be an object");
        return;
    }
    for (const cJSON *m = v->child; m; m = m->next) {
        char at[512];
        schema_pointer(at, sizeof at, ptr, m->string);
        if (schema_is_repeat(m)) {
            schema_key_problem(doc, m, at, "given twice (a server would read the last, warden refuses both)");
            continue;
        }
        const struct field *f = fields;
        while ((f->key || f->flag) && !(f->key && strcmp(f->key, m->string) == 0))
            f++;
        if (!f->key)
            unknown_member(doc, m, at, fields);
        else
            schema_read_field(doc, f, m, at, base);
    }
    for (const struct field *f = fields; f->key || f->flag; f++) {
        if (f->key && f->required && !cJSON_GetObjectItemCaseSensitive(v, f->key)) {
            char at[512], want[400];
            schema_pointer(at, sizeof at, ptr, f->key);
            expectation(want, sizeof want, f);
            if (f->kind == FIELD_CUSTOM && !f->expect)
                schema_problem(doc, v, at, "is missing");
            else
                schema_problem(doc, v, at, "is missing; it %s", want);
        }
    }
}

void schema_free(const struct field *fields, void *base)
{
    for (const struct field *f = fields; f->key || f->flag; f++) {
        void *dst = (char *)base + f->offset;
        if (f->kind == FIELD_STRING) {
            free(*(char **)dst);
            *(char **)dst = NULL;
        } else if (f->kind == FIELD_STRINGS) {
            free_list(*(char ***)dst);
            *(char ***)dst = NULL;
        } else if (f->kind == FIELD_OBJECT) {
            schema_free(f->fields, dst);
        }
    }
}
