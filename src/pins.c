#include "pins.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "jcs.h"
#include "log.h"
#include "schema.h"

static const char pin_domain[] = "warden-pin-v1";
static const char pending_description[] =
    "Definitions warden saw that are not pinned: warden pins diff, warden pins approve";

int pin_entry_make(struct pin_entry *e, const char *kind, const char *name, size_t name_len, const char *json,
                   size_t len, char *err, size_t errlen)
{
    memset(e, 0, sizeof *e);
    if (memchr(name, '\0', name_len)) {
        snprintf(err, errlen, "a name with a NUL byte cannot be pinned");
        return -1;
    }
    if (!json) {
        e->canonical = strdup("null");
        e->canonical_len = 4;
        if (!e->canonical) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    } else if (jcs_canonicalize(json, len, PINS_MAX_DEPTH, PINS_MAX_DEFINITION, &e->canonical, &e->canonical_len, err,
                                errlen) < 0) {
        return -1;
    }
    /* cJSON (which reads the pins file) cuts strings at U+0000: such a
     * definition could not be stored as it is, so it is never pinned. */
    if (memmem(e->canonical, e->canonical_len, "\\u0000", 6)) {
        snprintf(err, errlen, "a definition with U+0000 in a string cannot be pinned");
        pin_entry_clear(e);
        return -1;
    }
    if (!(e->name = malloc(name_len + 1))) {
        snprintf(err, errlen, "out of memory");
        pin_entry_clear(e);
        return -1;
    }
    memcpy(e->name, name, name_len);
    e->name[name_len] = '\0';
    struct sha256 h;
    sha256_init(&h);
    sha256_update(&h, pin_domain, sizeof pin_domain);   /* the NUL too */
    sha256_update(&h, kind, strlen(kind) + 1);
    sha256_update(&h, e->canonical, e->canonical_len);
    sha256_final(&h, e->digest);
    return 0;
}

void pin_entry_clear(struct pin_entry *e)
{
    free(e->name);
    free(e->canonical);
    memset(e, 0, sizeof *e);
}

void pin_entries_free(struct pin_entry *tools, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pin_entry_clear(&tools[i]);
    free(tools);
}

static int entry_order(const void *a, const void *b)
{
    return strcmp(((const struct pin_entry *)a)->name, ((const struct pin_entry *)b)->name);
}

/* ---- the file ---- */

static bool is_hex64(const char *s)
{
    if (strlen(s) != 2 * SHA256_BYTES)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* One {"sha256": HEX, "definition": ...} of the file into e; problems to doc. */
static bool read_entry(struct schema_doc *doc, const cJSON *v, const char *ptr, const char *kind, const char *name,
                       struct pin_entry *e)
{
    if (!cJSON_IsObject(v)) {
        schema_problem(doc, v, ptr, "must be {\"sha256\": HEX, \"definition\": ...}");
        return false;
    }
    const cJSON *hash = NULL, *def = NULL;
    bool ok = true;
    for (const cJSON *m = v->child; m; m = m->next) {
        char at[600];
        schema_pointer(at, sizeof at, ptr, m->string);
        if (strcmp(m->string, "sha256") == 0 && !hash)
            hash = m;
        else if (strcmp(m->string, "definition") == 0 && !def)
            def = m;
        else
            schema_key_problem(doc, m, at, "unknown or repeated (sha256 and definition only)"), ok = false;
    }
    if (!cJSON_IsString(hash) || !is_hex64(hash->valuestring)) {
        schema_problem(doc, hash ? hash : v, ptr, "needs \"sha256\": 64 lower-case hex digits");
        ok = false;
    }
    bool is_tool = strcmp(kind, "tool") == 0;
    if (is_tool ? !cJSON_IsObject(def) : !(cJSON_IsString(def) || cJSON_IsNull(def))) {
        schema_problem(doc, def ? def : v, ptr, is_tool ? "needs \"definition\": the tool object"
                                                        : "needs \"definition\": the instructions text or null");
        ok = false;
    } else if (is_tool) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(def, "name");
        if (!cJSON_IsString(n) || strcmp(n->valuestring, name) != 0) {
            schema_problem(doc, def, ptr, "the definition's \"name\" must be the key, \"%s\"", name);
            ok = false;
        }
    }
    if (!ok)
        return false;
    char *text = cJSON_PrintUnformatted(def);
    char why[200];
    int rc = text ? pin_entry_make(e, kind, name, strlen(name), text, strlen(text), why, sizeof why) : -1;
    free(text);
    if (rc < 0) {
        schema_problem(doc, def, ptr, "%s", text ? why : "out of memory");
        return false;
    }
    char hex[2 * SHA256_BYTES + 1];
    sha256_hex(e->digest, hex);
    if (strcmp(hex, hash->valuestring) != 0) {
        schema_problem(doc, hash, ptr, "the definition's pin is %s, not the sha256 written: approve it again "
                                       "(warden pins approve) rather than edit it by hand", hex);
        pin_entry_clear(e);
        return false;
    }
    return true;
}

int pins_file_read(const char *path, bool missing_ok, struct pin_entry **tools, size_t *n,
                   struct pin_entry *instructions, bool *has_instructions, char *err, size_t errlen)
{
    *tools = NULL;
    *n = 0;
    *has_instructions = false;
    memset(instructions, 0, sizeof *instructions);
    struct stat st;
    if (missing_ok && stat(path, &st) < 0 && errno == ENOENT) {
        err[0] = '\0';
        return 0;
    }
    struct schema_doc doc;
    schema_doc_init(&doc, path, err, errlen);
    const cJSON *root = schema_parse_file(&doc);
    struct pin_entry *out = NULL;
    size_t count = 0;
    if (root && !cJSON_IsObject(root))
        schema_problem(&doc, root, "", "a pins file is a JSON object {\"version\": 1, \"tools\": {...}}");
    else if (root) {
        const cJSON *version = NULL, *tl = NULL;
        for (const cJSON *m = root->child; m; m = m->next) {
            char at[600];
            schema_pointer(at, sizeof at, "", m->string);
            if (schema_is_repeat(m)) {
                schema_key_problem(&doc, m, at, "given twice");
            } else if (strcmp(m->string, "version") == 0) {
                version = m;
            } else if (strcmp(m->string, "description") == 0) {
                continue;
            } else if (strcmp(m->string, "tools") == 0) {
                tl = m;
            } else if (strcmp(m->string, "instructions") == 0) {
                if (read_entry(&doc, m, at, "instructions", "", instructions))
                    *has_instructions = true;
            } else {
                schema_key_problem(&doc, m, at, "unknown (version, description, instructions, tools)");
            }
        }
        if (!cJSON_IsNumber(version) || version->valuedouble != 1)
            schema_problem(&doc, version ? version : root, "/version", "must be 1");
        if (!cJSON_IsObject(tl)) {
            schema_problem(&doc, tl ? tl : root, "/tools", "must be an object of tool name: pin");
        } else if (cJSON_GetArraySize(tl) > PINS_MAX_TOOLS) {
            schema_problem(&doc, tl, "/tools", "more than %d tools", PINS_MAX_TOOLS);
        } else if (!(out = calloc((size_t)cJSON_GetArraySize(tl) + 1, sizeof *out))) {
            schema_problem(&doc, tl, "/tools", "out of memory");
        } else {
            for (const cJSON *t = tl->child; t; t = t->next) {
                char at[600];
                schema_pointer(at, sizeof at, "/tools", t->string);
                if (schema_is_repeat(t))
                    schema_key_problem(&doc, t, at, "given twice");
                else if (read_entry(&doc, t, at, "tool", t->string, &out[count]))
                    count++;
            }
        }
    }
    int problems = doc.problems;
    schema_doc_free(&doc);
    if (problems) {
        pin_entries_free(out, count);
        pin_entry_clear(instructions);
        *has_instructions = false;
        return -1;
    }
    qsort(out, count, sizeof *out, entry_order);
    *tools = out;
    *n = count;
    return 0;
}

static int entry_ptr_order(const void *a, const void *b)
{
    return entry_order(*(const struct pin_entry *const *)a, *(const struct pin_entry *const *)b);
}

static cJSON *entry_json(const struct pin_entry *e)
{
    cJSON *o = cJSON_CreateObject();
    char hex[2 * SHA256_BYTES + 1];
    sha256_hex(e->digest, hex);
    cJSON *def = cJSON_ParseWithLength(e->canonical, e->canonical_len);
    if (!o || !def || !cJSON_AddStringToObject(o, "sha256", hex) || !cJSON_AddItemToObject(o, "definition", def)) {
        cJSON_Delete(o);
        cJSON_Delete(def);
        return NULL;
    }
    return o;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int pins_file_write(const char *path, const char *description, const struct pin_entry *tools, size_t n,
                    const struct pin_entry *instructions, char *err, size_t errlen)
{
    const struct pin_entry **sorted = calloc(n + 1, sizeof *sorted);
    cJSON *root = cJSON_CreateObject();
    cJSON *tl = NULL;
    char *text = NULL;
    char tmp[4200] = "";
    int rc = -1, fd = -1;
    bool ok = sorted && root && cJSON_AddNumberToObject(root, "version", 1) &&
              (!description || cJSON_AddStringToObject(root, "description", description));
    if (ok && instructions) {
        cJSON *ins = entry_json(instructions);
        ok = ins && cJSON_AddItemToObject(root, "instructions", ins);
        if (!ok)
            cJSON_Delete(ins);
    }
    ok = ok && (tl = cJSON_AddObjectToObject(root, "tools"));
    for (size_t i = 0; ok && i < n; i++)
        sorted[i] = &tools[i];
    if (ok)
        qsort(sorted, n, sizeof *sorted, entry_ptr_order);
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *e = entry_json(sorted[i]);
        ok = e && cJSON_AddItemToObject(tl, sorted[i]->name, e);
        if (!ok)
            cJSON_Delete(e);
    }
    if (!ok || !(text = cJSON_Print(root))) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || write_all(fd, "\n", 1) < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: cannot replace: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0 && tmp[0])
        unlink(tmp);
    free(text);
    cJSON_Delete(root);
    free(sorted);
    return rc;
}

/* ---- runtime approvals ---- */

void pin_approval_set_clear(struct pin_approval_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->tools[i].name);
    free(s->tools);
    free(s->instructions.name);
    memset(s, 0, sizeof *s);
}

/* One server's runtime approvals, shared by its struct pins of every
 * generation (pins_table keeps it per server). */
struct pin_overlay {
    _Atomic unsigned refs;
    pthread_mutex_t lock;               /* guards what follows */
    struct pin_approval_set set;        /* tools sorted by name; none read yet: epoch "", version 0 */
    unsigned long long changes;
};

static struct pin_overlay *overlay_new(void)
{
    struct pin_overlay *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    pthread_mutex_init(&o->lock, NULL);
    o->refs = 1;
    return o;
}

static struct pin_overlay *overlay_ref(struct pin_overlay *o)
{
    atomic_fetch_add(&o->refs, 1);
    return o;
}

static void overlay_free(struct pin_overlay *o)
{
    if (!o || atomic_fetch_sub(&o->refs, 1) != 1)
        return;
    pin_approval_set_clear(&o->set);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

static int approval_order(const void *a, const void *b)
{
    return strcmp(((const struct pin_approval *)a)->name, ((const struct pin_approval *)b)->name);
}

/* The element of v[0..n) (each `size` bytes, sorted by the name string at
 * name_at within it) named name[0..name_len), or NULL. */
static const void *find_named(const void *v, size_t n, size_t size, size_t name_at, const char *name, size_t name_len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *elem = (const char *)v + mid * size;
        const char *mname = *(char *const *)(const void *)(elem + name_at);
        size_t mlen = strlen(mname);
        int c = memcmp(name, mname, name_len < mlen ? name_len : mlen);
        if (c == 0)
            c = name_len < mlen ? -1 : name_len > mlen ? 1 : 0;
        if (c == 0)
            return elem;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const struct pin_approval *find_approval(const struct pin_approval *v, size_t n, const char *name,
                                                size_t name_len)
{
    return find_named(v, n, sizeof *v, offsetof(struct pin_approval, name), name, name_len);
}

/* Whether two sets approve the same definitions over the same bases. */
static bool approval_eq(const struct pin_approval *a, const struct pin_approval *b)
{
    return ((!a->name && !b->name) || (a->name && b->name && strcmp(a->name, b->name) == 0)) &&
           memcmp(a->digest, b->digest, SHA256_BYTES) == 0 && a->has_base == b->has_base &&
           (!a->has_base || memcmp(a->base, b->base, SHA256_BYTES) == 0);
}

static bool same_approvals(const struct pin_approval_set *a, const struct pin_approval_set *b)
{
    if (a->n != b->n || a->has_instructions != b->has_instructions ||
        (a->has_instructions && !approval_eq(&a->instructions, &b->instructions)))
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!approval_eq(&a->tools[i], &b->tools[i]))
            return false;
    return true;
}

/* ---- the approved set and the pending record ---- */

struct pins {
    _Atomic unsigned refs;
    char *path, *pending_path;
    struct pin_entry *tools;            /* sorted by name; immutable */
    size_t n;
    struct pin_entry instructions;
    bool has_instructions;
    struct pin_overlay *overlay;        /* a reference; set before p is shared */
    pthread_mutex_t lock;               /* guards what follows */
    struct pin_entry *pending;          /* unsorted; at most PINS_MAX_TOOLS */
    size_t npending, pending_bytes;
    struct pin_entry pending_instructions;
    bool has_pending_instructions;
};

struct pins *pins_load(const char *path, char *err, size_t errlen)
{
    struct pins *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path)) || asprintf(&p->pending_path, "%s.pending", path) < 0) {
        if (p)
            free(p->path);
        free(p);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    p->refs = 1;
    if (!(p->overlay = overlay_new())) {
        snprintf(err, errlen, "%s: out of memory", path);
        pins_free(p);
        return NULL;
    }
    if (pins_file_read(path, false, &p->tools, &p->n, &p->instructions, &p->has_instructions, err, errlen) < 0) {
        pins_free(p);
        return NULL;
    }
    /* What an earlier run recorded stays pending; a record that cannot be
     * read is started over (it is warden's own scratch, never trusted). */
    char ignored[512];
    if (pins_file_read(p->pending_path, true, &p->pending, &p->npending, &p->pending_instructions,
                       &p->has_pending_instructions, ignored, sizeof ignored) < 0) {
        p->pending = NULL;
        p->npending = 0;
    }
    for (size_t i = 0; i < p->npending; i++)
        p->pending_bytes += p->pending[i].canonical_len;
    err[0] = '\0';
    return p;
}

struct pins *pins_ref(struct pins *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void pins_free(struct pins *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    pin_entries_free(p->tools, p->n);
    pin_entry_clear(&p->instructions);
    pin_entries_free(p->pending, p->npending);
    pin_entry_clear(&p->pending_instructions);
    overlay_free(p->overlay);
    pthread_mutex_destroy(&p->lock);
    free(p->path);
    free(p->pending_path);
    free(p);
}

const char *pins_path(const struct pins *p)
{
    return p->path;
}

static const struct pin_entry *find_pin(const struct pin_entry *v, size_t n, const char *name, size_t name_len)
{
    return find_named(v, n, sizeof *v, offsetof(struct pin_entry, name), name, name_len);
}

static enum pin_status compare(const unsigned char *pinned, const char *kind, const char *name, size_t name_len,
                               const char *json, size_t len, struct pin_seen *seen)
{
    struct pin_entry e;
    char why[200];
    int rc = pin_entry_make(&e, kind, name, name_len, json, len, why, sizeof why);
    if (seen) {
        seen->seen[0] = seen->pinned[0] = '\0';
        if (rc == 0)
            sha256_hex(e.digest, seen->seen);
        if (pinned)
            sha256_hex(pinned, seen->pinned);
    }
    enum pin_status st = !pinned ? PIN_NEW : rc == 0 && memcmp(e.digest, pinned, SHA256_BYTES) == 0 ? PIN_OK
                                                                                                          : PIN_CHANGED;
    if (rc == 0)
        pin_entry_clear(&e);
    return st;
}

bool pins_in_force(const struct pins *p, const char *name, size_t name_len, unsigned char out[SHA256_BYTES])
{
    const struct pin_entry *filed = name ? find_pin(p->tools, p->n, name, name_len)
                                         : p->has_instructions ? &p->instructions : NULL;
    struct pin_overlay *o = p->overlay;
    bool found = false;
    pthread_mutex_lock(&o->lock);
    const struct pin_approval *a = name ? find_approval(o->set.tools, o->set.n, name, name_len)
                                        : o->set.has_instructions ? &o->set.instructions : NULL;
    /* in force only over the file's pin it was approved over */
    if (a && (filed ? a->has_base && memcmp(a->base, filed->digest, SHA256_BYTES) == 0 : !a->has_base)) {
        memcpy(out, a->digest, SHA256_BYTES);
        found = true;
    }
    pthread_mutex_unlock(&o->lock);
    if (!found && filed) {
        memcpy(out, filed->digest, SHA256_BYTES);
        found = true;
    }
    return found;
}

enum pin_status pins_check(const struct pins *p, const char *name, size_t name_len, const char *tool_json, size_t len,
                           struct pin_seen *seen)
{
    unsigned char pinned[SHA256_BYTES];
    bool has = pins_in_force(p, name, name_len, pinned);
    return compare(has ? pinned : NULL, "tool", name, name_len, tool_json, len, seen);
}

enum pin_status pins_check_instructions(const struct pins *p, const char *json, size_t len, struct pin_seen *seen)
{
    unsigned char pinned[SHA256_BYTES];
    bool has = pins_in_force(p, NULL, 0, pinned);
    return compare(has ? pinned : NULL, "instructions", "", 0, json, len, seen);
}

const char *pins_instructions(const struct pins *p, size_t *len)
{
    unsigned char pinned[SHA256_BYTES];
    if (!p->has_instructions || !pins_in_force(p, NULL, 0, pinned) ||
        memcmp(pinned, p->instructions.digest, SHA256_BYTES) != 0)
        return NULL;
    *len = p->instructions.canonical_len;
    return p->instructions.canonical;
}

bool pins_refuses_call(struct pins *p, const char *name, size_t name_len)
{
    unsigned char pinned[SHA256_BYTES];
    if (!pins_in_force(p, name, name_len, pinned))
        return true;
    bool changed = false;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->npending && !changed; i++)
        changed = strlen(p->pending[i].name) == name_len && memcmp(p->pending[i].name, name, name_len) == 0 &&
                  memcmp(p->pending[i].digest, pinned, SHA256_BYTES) != 0;
    pthread_mutex_unlock(&p->lock);
    return changed;
}

/* Drops from the pending record what is now pinned as seen, and rewrites
 * FILE.pending when that changed it (so `warden pins diff` on this host
 * tells no approved definition as pending). */
static void prune_pending(struct pins *p)
{
    unsigned char pinned[SHA256_BYTES];
    pthread_mutex_lock(&p->lock);
    size_t kept = 0, before = p->npending;
    bool had_instructions = p->has_pending_instructions;
    for (size_t i = 0; i < p->npending; i++) {
        struct pin_entry *e = &p->pending[i];
        if (pins_in_force(p, e->name, strlen(e->name), pinned) && memcmp(pinned, e->digest, SHA256_BYTES) == 0) {
            p->pending_bytes -= e->canonical_len;
            pin_entry_clear(e);
        } else {
            p->pending[kept++] = *e;
        }
    }
    p->npending = kept;
    if (p->has_pending_instructions && pins_in_force(p, NULL, 0, pinned) &&
        memcmp(pinned, p->pending_instructions.digest, SHA256_BYTES) == 0) {
        pin_entry_clear(&p->pending_instructions);
        p->has_pending_instructions = false;
    }
    bool changed = kept != before || had_instructions != p->has_pending_instructions;
    bool left = kept || p->has_pending_instructions;
    char err[512];
    if (changed && left &&
        pins_file_write(p->pending_path, pending_description, p->pending, p->npending,
                        p->has_pending_instructions ? &p->pending_instructions : NULL, err, sizeof err) < 0)
        log_warn("%s: the approved definitions stay listed: %s", p->pending_path, err);
    else if (changed && !left && unlink(p->pending_path) < 0 && errno != ENOENT)
        log_warn("%s: the approved definitions stay listed: %s", p->pending_path, strerror(errno));
    pthread_mutex_unlock(&p->lock);
}

int pins_apply_approvals(struct pins *p, struct pin_approval_set *s)
{
    struct pin_overlay *o = p->overlay;
    if (s->n > 1)
        qsort(s->tools, s->n, sizeof *s->tools, approval_order);
    int rc;
    pthread_mutex_lock(&o->lock);
    if (strcmp(o->set.epoch, s->epoch) == 0 && s->version < o->set.version) {
        rc = -1;
    } else {
        rc = !same_approvals(&o->set, s);
        struct pin_approval_set old = o->set;
        o->set = *s;
        memset(s, 0, sizeof *s);
        pin_approval_set_clear(&old);
        if (rc)
            o->changes++;
    }
    pthread_mutex_unlock(&o->lock);
    if (rc < 0)
        pin_approval_set_clear(s);
    else if (rc)
        prune_pending(p);
    return rc;
}

unsigned long long pins_approvals_changes(const struct pins *p)
{
    pthread_mutex_lock(&p->overlay->lock);
    unsigned long long n = p->overlay->changes;
    pthread_mutex_unlock(&p->overlay->lock);
    return n;
}

int pins_note(struct pins *p, const char *name, size_t name_len, const char *json, size_t len, char *err,
              size_t errlen)
{
    struct pin_entry e;
    if (pin_entry_make(&e, name ? "tool" : "instructions", name ? name : "", name ? name_len : 0, json, len, err,
                       errlen) < 0)
        return -1;
    pthread_mutex_lock(&p->lock);
    int rc = 1;
    struct pin_entry *slot = NULL;
    if (!name) {
        slot = &p->pending_instructions;
        if (p->has_pending_instructions && memcmp(slot->digest, e.digest, SHA256_BYTES) == 0)
            goto out;
    } else {
        for (size_t i = 0; i < p->npending && !slot; i++)
            if (strlen(p->pending[i].name) == name_len && memcmp(p->pending[i].name, name, name_len) == 0)
                slot = &p->pending[i];
        if (slot && memcmp(slot->digest, e.digest, SHA256_BYTES) == 0)
            goto out;
        size_t bytes = p->pending_bytes - (slot ? slot->canonical_len : 0) + e.canonical_len;
        if (bytes > PINS_PENDING_BYTES || (!slot && p->npending >= PINS_MAX_TOOLS)) {
            snprintf(err, errlen, "%s: full (%u tools, %u bytes at most): not recorded", p->pending_path,
                     PINS_MAX_TOOLS, PINS_PENDING_BYTES);
            rc = -1;
            goto out;
        }
        if (!slot) {
            struct pin_entry *grown = realloc(p->pending, (p->npending + 1) * sizeof *grown);
            if (!grown) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                goto out;
            }
            p->pending = grown;
            slot = &p->pending[p->npending++];
            memset(slot, 0, sizeof *slot);
        }
        p->pending_bytes = bytes;
    }
    pin_entry_clear(slot);
    *slot = e;
    memset(&e, 0, sizeof e);
    if (!name)
        p->has_pending_instructions = true;
    rc = pins_file_write(p->pending_path, pending_description,
                         p->pending, p->npending, p->has_pending_instructions ? &p->pending_instructions : NULL, err,
                         errlen);
out:
    pthread_mutex_unlock(&p->lock);
    pin_entry_clear(&e);
    return rc;
}

bool pins_keep_listed(struct pins *p, enum pin_mode mode, const char *name, size_t name_len, const char *raw,
                      size_t raw_len, enum pin_status *st, struct pin_seen *seen, char *err, size_t errlen)
{
    err[0] = '\0';
    *st = PIN_OK;
    if (mode == PIN_MODE_OFF || !p)
        return true;
    *st = pins_check(p, name, name_len, raw, raw_len, seen);
    if (*st != PIN_OK)
        pins_note(p, name, name_len, raw, raw_len, err, errlen);
    if (mode != PIN_MODE_BLOCK)
        return true;
    return *st == PIN_OK && !pins_refuses_call(p, name, name_len);
}

bool pins_keep_instructions(struct pins *p, enum pin_mode mode, const char *raw, size_t raw_len, enum pin_status *st,
                            struct pin_seen *seen, char *err, size_t errlen)
{
    err[0] = '\0';
    *st = PIN_OK;
    if (mode == PIN_MODE_OFF || !p)
        return true;
    *st = pins_check_instructions(p, raw, raw_len, seen);
    if (*st != PIN_OK)
        pins_note(p, NULL, 0, raw, raw_len, err, errlen);
    return mode != PIN_MODE_BLOCK || *st == PIN_OK;
}

/* ---- one struct pins per server and generation, shared by the workers ---- */

struct pins_slot {
    char *server;                   /* the server's name (owned) */
    struct pins *p;                 /* a reference */
    struct pin_overlay *overlay;    /* the server's runtime approvals, for every generation (a reference) */
    unsigned long generation;
};

/* Keyed by server name, not index: a config reload adds and removes servers.
 * Few entries (one per pinned server), so a linear search. */
struct pins_table {
    pthread_mutex_t lock;
    struct pins_slot *slots;        /* [0..n) used, room for cap */
    size_t n, cap;
};

struct pins_table *pins_table_new(void)
{
    struct pins_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void pins_table_free(struct pins_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->slots[i].server);
        pins_free(t->slots[i].p);
        overlay_free(t->slots[i].overlay);
    }
    pthread_mutex_destroy(&t->lock);
    free(t->slots);
    free(t);
}

/* server's slot, or a new one: when the table is full, one of an older
 * generation is reused (a generation that loads holds its own references,
 * so a dropped slot only costs another load). NULL when every slot is of
 * this generation or memory runs out. Under t->lock. */
static struct pins_slot *table_slot(struct pins_table *t, const char *server, unsigned long generation)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->slots[i].server, server) == 0)
            return &t->slots[i];
    char *name = strdup(server);
    if (!name)
        return NULL;
    struct pins_slot *s = NULL;
    if (t->n == PINS_TABLE_MAX) {
        for (size_t i = 0; i < t->n && !s; i++)
            if (t->slots[i].generation != generation)
                s = &t->slots[i];
        if (!s) {
            free(name);
            return NULL;
        }
        free(s->server);
        pins_free(s->p);
        overlay_free(s->overlay);
    } else {
        if (t->n == t->cap) {
            size_t cap = t->cap ? 2 * t->cap : 8;
            struct pins_slot *v = realloc(t->slots, cap * sizeof *v);
            if (!v) {
                free(name);
                return NULL;
            }
            t->slots = v;
            t->cap = cap;
        }
        s = &t->slots[t->n++];
    }
    *s = (struct pins_slot){.server = name};
    return s;
}

struct pins *pins_table_get(struct pins_table *t, const char *server, unsigned long generation, const char *path,
                            char *err, size_t errlen)
{
    pthread_mutex_lock(&t->lock);
    struct pins_slot *s = table_slot(t, server, generation);
    struct pins *p = NULL;
    if (!s) {
        snprintf(err, errlen, "%s: no room for server %s's pins (out of memory, or over %u pinned servers)", path,
                 server, PINS_TABLE_MAX);
    } else if (s->p && s->generation == generation && strcmp(pins_path(s->p), path) == 0) {
        p = pins_ref(s->p);
    } else if ((p = pins_load(path, err, errlen))) {
        /* the server's runtime approvals carry over to its new pins */
        if (s->overlay) {
            overlay_free(p->overlay);
            p->overlay = overlay_ref(s->overlay);
        } else {
            s->overlay = overlay_ref(p->overlay);
        }
        pins_free(s->p);
        s->p = pins_ref(p);
        s->generation = generation;
    }
    pthread_mutex_unlock(&t->lock);
    return p;
}
