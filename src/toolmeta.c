#include "toolmeta.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "siphash.h"

/* What malloc spends beyond the bytes asked for, at most (glibc: an 8-byte
 * header and rounding up to 16, so 23 for blocks below its mmap threshold). */
#define ALLOC_OVERHEAD 24
#define FIRST_BUCKETS 16

/* One tool; the name's bytes follow the struct. */
struct tm_entry {
    struct tm_entry *next;              /* bucket chain */
    struct tm_entry *older, *newer;     /* the order tools were remembered in */
    uint64_t hash;
    cJSON *annotations;                 /* owned; NULL when the tool had none */
    enum risk_class cls;                /* RISK_NONE when not classed */
    bool has_def;                       /* remembered from a raw tool object whose digest is def */
    uint64_t def;
    size_t cost;                        /* what this entry counts against the budget */
    size_t name_len;
    char name[];
};

struct tool_meta {
    struct siphash_key key;
    struct tm_entry **buckets;
    size_t nbuckets;                    /* a power of two */
    size_t count;
    size_t used;                        /* bytes counted, the store itself included */
    size_t max_bytes;
    struct tm_entry *oldest, *newest;
};

static size_t buckets_cost(size_t n)
{
    return n * sizeof(struct tm_entry *) + ALLOC_OVERHEAD;
}

/* See toolmeta.h. */
struct tool_meta *toolmeta_new(size_t max_bytes)
{
    size_t base = sizeof(struct tool_meta) + ALLOC_OVERHEAD + buckets_cost(FIRST_BUCKETS);
    if (max_bytes < base)
        return NULL;
    struct tool_meta *tm = calloc(1, sizeof *tm);
    if (!tm)
        return NULL;
    if (siphash_key_random(&tm->key) != 0 || !(tm->buckets = calloc(FIRST_BUCKETS, sizeof *tm->buckets))) {
        free(tm);
        return NULL;
    }
    tm->nbuckets = FIRST_BUCKETS;
    tm->used = base;
    tm->max_bytes = max_bytes;
    return tm;
}

/* See toolmeta.h. */
void toolmeta_free(struct tool_meta *tm)
{
    if (!tm)
        return;
    struct tm_entry *e = tm->oldest;
    while (e) {
        struct tm_entry *newer = e->newer;
        cJSON_Delete(e->annotations);
        free(e);
        e = newer;
    }
    free(tm->buckets);
    free(tm);
}

/* See toolmeta.h. */
size_t toolmeta_bytes(const struct tool_meta *tm)
{
    return tm->used;
}

static size_t string_cost(const char *s)
{
    return s ? strlen(s) + 1 + ALLOC_OVERHEAD : 0;
}

/* The heap bytes a copy of j and its following siblings would take, adding
 * to *cost; stops early (returns false) once *cost passes limit, so a huge
 * value is never walked whole. */
static bool json_cost(const cJSON *j, size_t limit, size_t *cost)
{
    for (; j; j = j->next) {
        *cost += sizeof(cJSON) + ALLOC_OVERHEAD + string_cost(j->string);
        if (cJSON_IsString(j) || cJSON_IsRaw(j))
            *cost += string_cost(j->valuestring);
        if (*cost > limit || (j->child && !json_cost(j->child, limit, cost)))
            return false;
    }
    return true;
}

static struct tm_entry **slot_of(const struct tool_meta *tm, uint64_t hash)
{
    return &tm->buckets[hash & (tm->nbuckets - 1)];
}

/* The entry of name, and in *link the pointer that points at it. */
static struct tm_entry *find(const struct tool_meta *tm, const char *name, size_t name_len, uint64_t hash,
                             struct tm_entry ***link)
{
    struct tm_entry **p = slot_of(tm, hash);
    for (; *p; p = &(*p)->next) {
        struct tm_entry *e = *p;
        if (e->hash == hash && e->name_len == name_len && memcmp(e->name, name, name_len) == 0) {
            if (link)
                *link = p;
            return e;
        }
    }
    return NULL;
}

/* Unlinks e from its chain and the order, and frees it. */
static void drop(struct tool_meta *tm, struct tm_entry *e)
{
    struct tm_entry **p = slot_of(tm, e->hash);
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    if (e->older)
        e->older->newer = e->newer;
    else
        tm->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        tm->newest = e->older;
    tm->used -= e->cost;
    tm->count--;
    cJSON_Delete(e->annotations);
    free(e);
}

/* Doubles the bucket array when chains grow past one entry on average and
 * the budget has room; otherwise chains just get longer (the entry count is
 * bounded by the budget anyway). */
static void maybe_grow(struct tool_meta *tm)
{
    if (tm->count <= tm->nbuckets || tm->nbuckets > SIZE_MAX / 2 / sizeof *tm->buckets)
        return;
    size_t n = tm->nbuckets * 2;
    size_t extra = buckets_cost(n) - buckets_cost(tm->nbuckets);
    if (tm->used + extra > tm->max_bytes)
        return;
    struct tm_entry **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (struct tm_entry *e = tm->oldest; e; e = e->newer) {
        e->next = b[e->hash & (n - 1)];
        b[e->hash & (n - 1)] = e;
    }
    free(tm->buckets);
    tm->buckets = b;
    tm->nbuckets = n;
    tm->used += extra;
}

/* Makes e the newest: a tool listed again is the last one to forget. */
static void touch(struct tool_meta *tm, struct tm_entry *e)
{
    if (e == tm->newest)
        return;
    if (e->older)
        e->older->newer = e->newer;
    else
        tm->oldest = e->newer;
    e->newer->older = e->older;
    e->older = tm->newest;
    e->newer = NULL;
    tm->newest->newer = e;
    tm->newest = e;
}

/* Replaces what is kept of name by annotations (if an object) and cls;
 * with neither, the tool is forgotten. def: the digest of the raw tool
 * object they were read from, or NULL. */
static int remember(struct tool_meta *tm, const char *name, size_t name_len, const cJSON *annotations,
                    enum risk_class cls, const uint64_t *def)
{
    if (!tm)
        return -1;
    uint64_t hash = siphash(&tm->key, name, name_len);
    struct tm_entry *old = find(tm, name, name_len, hash, NULL);
    if (old)
        drop(tm, old);
    if (!cJSON_IsObject(annotations))
        annotations = NULL;
    if (!annotations && cls == RISK_NONE)
        return 0;
    size_t base = sizeof(struct tool_meta) + ALLOC_OVERHEAD + buckets_cost(tm->nbuckets);
    size_t limit = TOOLMETA_MAX_ENTRY < tm->max_bytes - base ? TOOLMETA_MAX_ENTRY : tm->max_bytes - base;
    if (name_len > limit)
        return -1;
    size_t cost = sizeof(struct tm_entry) + name_len + ALLOC_OVERHEAD;
    if (annotations)
        cost += sizeof(cJSON) + ALLOC_OVERHEAD;
    if (cost > limit || (annotations && !json_cost(annotations->child, limit, &cost)) || cost > limit)
        return -1;
    struct tm_entry *e = malloc(sizeof *e + name_len);
    cJSON *copy = annotations ? cJSON_Duplicate(annotations, true) : NULL;
    if (!e || (annotations && !copy)) {
        free(e);
        cJSON_Delete(copy);
        return -1;
    }
    /* The oldest go first; the bucket array is part of `base`, so this ends. */
    while (tm->used + cost > tm->max_bytes && tm->oldest)
        drop(tm, tm->oldest);
    memcpy(e->name, name, name_len);
    e->name_len = name_len;
    e->hash = hash;
    e->annotations = copy;
    e->cls = cls;
    e->has_def = def != NULL;
    e->def = def ? *def : 0;
    e->cost = cost;
    struct tm_entry **slot = slot_of(tm, hash);
    e->next = *slot;
    *slot = e;
    e->newer = NULL;
    e->older = tm->newest;
    if (tm->newest)
        tm->newest->newer = e;
    else
        tm->oldest = e;
    tm->newest = e;
    tm->count++;
    tm->used += cost;
    maybe_grow(tm);
    return 0;
}

/* See toolmeta.h. */
int toolmeta_remember(struct tool_meta *tm, const char *name, size_t name_len, const cJSON *annotations)
{
    return remember(tm, name, name_len, annotations, RISK_NONE, NULL);
}

/* The annotations, and the class when classify, of one raw tool object.
 * cJSON reads the bytes given only; the caller's reader has refused
 * duplicate keys, so the one "annotations" found is the one.
 * A server lists the same definitions again and again: a tool whose object
 * has the digest it had when last remembered (same bytes, same way of
 * reading them) keeps what was read then, and is only made the newest. The
 * digest is SipHash under the store's random key, which the server never
 * sees, so it cannot make a changed definition look unchanged. */
static int remember_raw(struct tool_meta *tm, const char *name, size_t name_len, const char *tool_json, size_t len,
                        bool classify, bool trust_annotations)
{
    if (!tm)
        return -1;
    /* the low bits say how it was read (never 4: toolmeta_remember_listed's digests) */
    uint64_t def = (siphash(&tm->key, tool_json, len) & ~(uint64_t)7) | (classify ? 2u : 0u) | (trust_annotations ? 1u : 0u);
    struct tm_entry *known = find(tm, name, name_len, siphash(&tm->key, name, name_len), NULL);
    if (known && known->has_def && known->def == def) {
        touch(tm, known);
        return 0;
    }
    const char *end = NULL;
    cJSON *tool = cJSON_ParseWithLengthOpts(tool_json, len, &end, false);
    while (end && end < tool_json + len && strchr(" \t\r\n", *end) && *end)
        end++;
    if (!cJSON_IsObject(tool) || end != tool_json + len) {
        cJSON_Delete(tool);
        toolmeta_remember(tm, name, name_len, NULL);
        return -1;
    }
    enum risk_class cls = RISK_NONE;
    if (classify) {
        /* the name warden keys the tool by is the one classed, whatever the object says */
        const cJSON *desc = cJSON_GetObjectItemCaseSensitive(tool, "description");
        cls = riskclass_of(name, name_len, cJSON_IsString(desc) ? desc->valuestring : NULL,
                           cJSON_GetObjectItemCaseSensitive(tool, "annotations"), trust_annotations, NULL, 0);
    }
    int rc = remember(tm, name, name_len, cJSON_GetObjectItemCaseSensitive(tool, "annotations"), cls, &def);
    cJSON_Delete(tool);
    return rc;
}

/* See toolmeta.h. */
int toolmeta_remember_raw(struct tool_meta *tm, const char *name, size_t name_len, const char *tool_json,
                          size_t len)
{
    return remember_raw(tm, name, name_len, tool_json, len, false, false);
}

/* See toolmeta.h. */
int toolmeta_remember_tool(struct tool_meta *tm, const char *name, size_t name_len, const char *tool_json, size_t len,
                           bool trust_annotations)
{
    return remember_raw(tm, name, name_len, tool_json, len, true, trust_annotations);
}

/* See toolmeta.h. The description and annotations are hashed apart (the
 * second rotated) so that no split of the same bytes between them collides. */
int toolmeta_remember_listed(struct tool_meta *tm, const struct list_item *it, bool trust_annotations,
                             enum risk_class *cls)
{
    *cls = RISK_NONE;
    if (!tm)
        return -1;
    uint64_t d = it->description ? siphash(&tm->key, it->description, it->description_len) : 0;
    uint64_t a = it->annotations ? siphash(&tm->key, it->annotations, it->annotations_len) : 0;
    uint64_t def = (d ^ (a << 1 | a >> 63)) & ~(uint64_t)7;
    def |= 4u | 2u | (trust_annotations ? 1u : 0u);
    struct tm_entry *known = find(tm, it->name, it->name_len, siphash(&tm->key, it->name, it->name_len), NULL);
    if (known && known->has_def && known->def == def) {
        touch(tm, known);
        *cls = known->cls;
        return 0;
    }
    int rc = remember_raw(tm, it->name, it->name_len, it->raw, it->raw_len, true, trust_annotations);
    struct tm_entry *e = rc == 0 ? find(tm, it->name, it->name_len, siphash(&tm->key, it->name, it->name_len), NULL) : NULL;
    if (e) {
        e->def = def;
        *cls = e->cls;
    }
    return rc;
}

/* See toolmeta.h. */
enum risk_class toolmeta_class(const struct tool_meta *tm, const char *name, size_t name_len)
{
    if (!tm)
        return RISK_NONE;
    const struct tm_entry *e = find(tm, name, name_len, siphash(&tm->key, name, name_len), NULL);
    return e ? e->cls : RISK_NONE;
}

/* See toolmeta.h. */
const cJSON *toolmeta_lookup(const struct tool_meta *tm, const char *name, size_t name_len)
{
    if (!tm)
        return NULL;
    const struct tm_entry *e = find(tm, name, name_len, siphash(&tm->key, name, name_len), NULL);
    return e ? e->annotations : NULL;
}
