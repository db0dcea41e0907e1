/* schema.c: reads a JSON document into C structs described by tables of
 * fields (key, kind, offset, bounds, names, callback), and reports every
 * problem, not only the first, as "FILE:LINE:COL /json/pointer: problem".
 * The config file, the command line and the policy files are read with it. */
#ifndef WARDEN_SCHEMA_H
#define WARDEN_SCHEMA_H
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

enum field_kind {
    FIELD_BOOL,     /* bool */
    FIELD_INT,      /* int: a whole number in [min, max] */
    FIELD_UINT,     /* unsigned: a whole number in [min, max] */
    FIELD_SIZE,     /* size_t: a whole number in [min, max] */
    FIELD_SECONDS,  /* double: a number more than min, at most max */
    FIELD_STRING,   /* char *, owned by the struct: at least min bytes; one of names[] when names is set */
    FIELD_STRINGS,  /* char **, NULL-terminated, owned: an array of non-empty strings, at least min of them */
    FIELD_ENUM,     /* int: the index in names[] of the string given (NULL names are not accepted) */
    FIELD_OBJECT,   /* a nested struct at offset, read with the table `fields` */
    FIELD_CUSTOM,   /* read by `custom` */
    FIELD_NOTE,     /* a string that is checked (one of names[] when set) and not kept */
    FIELD_ANY,      /* any value, not kept */
};

struct schema_doc;
struct field;

/* Reads value v (at pointer ptr) into dst, which is the struct's base plus
 * the field's offset; reports problems with schema_problem. */
typedef void (*field_reader)(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr,
                             void *dst);

/* One member of a JSON object, or one command-line option, or both. Tables
 * end with an entry whose key and flag are both NULL. */
struct field {
    const char *key;            /* the JSON member, or NULL for a flag alone */
    enum field_kind kind;
    size_t offset;              /* where the value goes in the struct the table reads */
    double min, max;            /* bounds (see the kinds) */
    const char *const *names;   /* FIELD_ENUM and FIELD_STRING: the accepted strings */
    size_t nnames;
    field_reader custom;        /* FIELD_CUSTOM */
    const struct field *fields; /* FIELD_OBJECT */
    bool required;
    const char *expect;         /* what a wrong value is told ("must be ..."), instead of the kind's own words */
    /* The command line (config.c): "--listen", "HOST:PORT" (NULL for a
     * switch), and the help line; both --help and the flag parser use them. */
    const char *flag, *metavar, *help;
    bool repeat;                /* the flag may be given again (FIELD_STRINGS: the values add up) */
};

#define SCHEMA_NAMES(a) .names = (a), .nnames = sizeof(a) / sizeof *(a)

/* One document being read, and the problems found so far. The problems are
 * written to a caller's buffer, one per line ('\n' between them); past its
 * end they are still counted. */
struct schema_doc {
    const char *file;       /* named in every message; NULL for the command line ("PTR: problem") */
    char *text;             /* owned: the file's bytes, for positions */
    size_t len;
    cJSON *root;            /* owned; NULL until parsed */
    struct schema_pos *pos; /* owned: where each value of root begins, sorted by node */
    size_t npos;
    char *err;              /* borrowed */
    size_t errlen, used;
    int problems;
    char *warn;             /* borrowed; NULL: warnings are not wanted (set after schema_doc_init) */
    size_t warnlen, warnused;
    int warnings;
};

/* Starts a document writing its problems to err (emptied). `file` is
 * borrowed for the document's life. */
void schema_doc_init(struct schema_doc *doc, const char *file, char *err, size_t errlen);

/* Reads doc->file (at most 16 MiB) and parses it as strict JSON, recording
 * where every value and key begins. Returns the root, or NULL after
 * reporting why ("FILE: cannot read: ...", "FILE:LINE:COL: not valid JSON"). */
const cJSON *schema_parse_file(struct schema_doc *doc);

/* The same for text already in memory (copied). */
const cJSON *schema_parse_text(struct schema_doc *doc, const char *text, size_t len);

/* Frees what the document owns (not the err buffer). */
void schema_doc_free(struct schema_doc *doc);

/* Reports one problem at value v (its line and column when known) and JSON
 * pointer ptr: "FILE:LINE:COL /a/b: what". */
void schema_problem(struct schema_doc *doc, const cJSON *v, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reports something legal but probably wrong at value v, in the same form
 * with "warning: " before the text, to doc->warn; nothing when it is NULL. */
void schema_warning(struct schema_doc *doc, const cJSON *v, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The same at the key of member m (an unknown or repeated key, a bad name). */
void schema_key_problem(struct schema_doc *doc, const cJSON *m, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reads object v (at ptr) into the struct at base through fields: unknown
 * and repeated members, wrong types, bounds and names are reported, and so
 * is a required member that is missing. Custom readers see every value once. */
void schema_read(struct schema_doc *doc, const cJSON *v, const char *ptr, const struct field *fields, void *base);

/* Reads one value through one field into the struct at base. */
void schema_read_field(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *base);

/* Reports each member key of object v given more than once (for objects
 * whose keys are names, read without a table). Returns how many. */
int schema_duplicates(struct schema_doc *doc, const cJSON *v, const char *ptr);

/* True when member m is a repeat of an earlier member of its object. */
bool schema_is_repeat(const cJSON *m);

/* Writes base + "/" + seg, escaping "~" as "~0" and "/" as "~1" (RFC 6901). */
void schema_pointer(char *out, size_t outlen, const char *base, const char *seg);

/* Frees what a table stored into the struct at base (strings, lists, nested
 * objects); custom fields are the caller's. */
void schema_free(const struct field *fields, void *base);
#endif
