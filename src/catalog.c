#include "catalog.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "siphash.h"
#include "utf8.h"

#define NBUCKETS 1024
/* What one tool costs beyond its summary's text: the entry, the cJSON nodes
 * (about one per member) and malloc's headers. */
#define ENTRY_OVERHEAD 512

struct entry {
    struct entry *next;             /* bucket chain */
    struct entry *older, *newer;    /* the order tools were listed in */
    uint64_t hash;
    char *server, *name;            /* owned */
    cJSON *summary;                 /* owned: {"description", "annotations", "listed"} */
    size_t cost;
    bool has_def;                   /* noted by catalog_note_list from texts whose digest is def */
    uint64_t def;
};

struct catalog {
    pthread_mutex_t lock;
    struct siphash_key key;
    struct entry *buckets[NBUCKETS];
    struct entry *oldest, *newest;
    size_t used, max_bytes;
};

struct catalog *catalog_new(size_t max_bytes)
{
    struct catalog *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (siphash_key_random(&c->key) != 0 || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->max_bytes = max_bytes;
    return c;
}

static void drop(struct catalog *c, struct entry *e)
{
    struct entry **p = &c->buckets[e->hash % NBUCKETS];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->used -= e->cost;
    free(e->server);
    free(e->name);
    cJSON_Delete(e->summary);
    free(e);
}

void catalog_free(struct catalog *c)
{
    if (!c)
        return;
    while (c->oldest)
        drop(c, c->oldest);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* server and name[0..nl) joined by a byte neither holds as text. */
static uint64_t key_hash(const struct catalog *c, const char *server, const char *name, size_t nl)
{
    size_t sl = strlen(server);
    char buf[512];
    if (sl + nl + 1 > sizeof buf)
        return siphash(&c->key, name, nl) ^ siphash(&c->key, server, sl);
    memcpy(buf, server, sl);
    buf[sl] = '\0';
    memcpy(buf + sl + 1, name, nl);
    return siphash(&c->key, buf, sl + 1 + nl);
}

/* The summary kept of one tool object, and its cost; NULL when out of memory. */
static cJSON *summarize(const cJSON *tool, double wall, size_t *cost)
{
    cJSON *s = cJSON_CreateObject();
    if (!s)
        return NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(tool, "description");
    if (cJSON_IsString(d)) {
        char cut[CATALOG_MAX_DESCRIPTION + 1];
        utf8_snprintf(cut, sizeof cut, "%s", d->valuestring);
        cJSON_AddStringToObject(s, "description", cut);
    } else {
        cJSON_AddNullToObject(s, "description");
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(tool, "annotations");
    if (cJSON_IsObject(a))
        cJSON_AddItemToObject(s, "annotations", cJSON_Duplicate(a, true));
    else
        cJSON_AddNullToObject(s, "annotations");
    cJSON_AddNumberToObject(s, "listed", wall);
    char *text = cJSON_PrintUnformatted(s);
    if (!text) {
        cJSON_Delete(s);
        return NULL;
    }
    *cost = strlen(text) + ENTRY_OVERHEAD;
    free(text);
    if (*cost > CATALOG_MAX_ENTRY) {
        /* Annotations are the unbounded part: keep the tool without them. */
        cJSON_ReplaceItemInObjectCaseSensitive(s, "annotations", cJSON_CreateNull());
        *cost = ENTRY_OVERHEAD + CATALOG_MAX_DESCRIPTION + 64;
    }
    return s;
}

static void note_one(struct catalog *c, const char *server, const char *name, const cJSON *tool, double wall)
{
    size_t cost = 0;
    cJSON *summary = summarize(tool, wall, &cost);
    cost += strlen(server) + strlen(name);
    uint64_t h = key_hash(c, server, name, strlen(name));
    for (struct entry *e = c->buckets[h % NBUCKETS]; e; e = e->next) {
        if (e->hash == h && strcmp(e->server, server) == 0 && strcmp(e->name, name) == 0) {
            drop(c, e);
            break;
        }
    }
    if (!summary || cost > c->max_bytes) {
        cJSON_Delete(summary);
        return;
    }
    struct entry *e = calloc(1, sizeof *e);
    if (!e || !(e->server = strdup(server)) || !(e->name = strdup(name))) {
        if (e)
            free(e->server);
        free(e);
        cJSON_Delete(summary);
        return;
    }
    while (c->oldest && c->used + cost > c->max_bytes)
        drop(c, c->oldest);
    e->hash = h;
    e->summary = summary;
    e->cost = cost;
    e->next = c->buckets[h % NBUCKETS];
    c->buckets[h % NBUCKETS] = e;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->used += cost;
}

void catalog_note(struct catalog *c, const char *server, const cJSON *tools, double wall)
{
    if (!c || !cJSON_IsArray(tools))
        return;
    pthread_mutex_lock(&c->lock);
    for (const cJSON *t = tools->child; t; t = t->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (cJSON_IsObject(t) && cJSON_IsString(name))
            note_one(c, server ? server : "", name->valuestring, t, wall);
    }
    pthread_mutex_unlock(&c->lock);
}

/* catalog_note_raw with the lock held and a name without NUL; returns
 * whether the tool was noted. */
static bool note_raw(struct catalog *c, const char *server, const char *name, size_t name_len,
                     const char *tool_json, size_t len, double wall)
{
    cJSON *tool = cJSON_ParseWithLength(tool_json, len);
    char *n = cJSON_IsObject(tool) ? strndup(name, name_len) : NULL;
    if (n)
        note_one(c, server, n, tool, wall);
    free(n);
    cJSON_Delete(tool);
    return n != NULL;
}

void catalog_note_raw(struct catalog *c, const char *server, const char *name, size_t name_len,
                      const char *tool_json, size_t len, double wall)
{
    if (!c || memchr(name, '\0', name_len))
        return;
    pthread_mutex_lock(&c->lock);
    note_raw(c, server ? server : "", name, name_len, tool_json, len, wall);
    pthread_mutex_unlock(&c->lock);
}

/* The tool of server named name[0..nl) (no NUL inside), or NULL. */
static struct entry *find_listed(struct catalog *c, const char *server, const char *name, size_t nl, uint64_t h)
{
    for (struct entry *e = c->buckets[h % NBUCKETS]; e; e = e->next)
        if (e->hash == h && strcmp(e->server, server) == 0 && strlen(e->name) == nl && memcmp(e->name, name, nl) == 0)
            return e;
    return NULL;
}

/* Makes e the newest. */
static void touch(struct catalog *c, struct entry *e)
{
    if (e == c->newest)
        return;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer->older = e->older;
    e->older = c->newest;
    e->newer = NULL;
    c->newest->newer = e;
    c->newest = e;
}

void catalog_note_list(struct catalog *c, const char *server, const struct list_item *items, size_t n, double wall)
{
    if (!c)
        return;
    server = server ? server : "";
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        const struct list_item *it = &items[i];
        if (memchr(it->name, '\0', it->name_len))
            continue;
        /* the two texts hashed apart, the second rotated: no split of the same bytes collides */
        uint64_t d = it->description ? siphash(&c->key, it->description, it->description_len) : 0;
        uint64_t a = it->annotations ? siphash(&c->key, it->annotations, it->annotations_len) : 1;
        uint64_t def = d ^ (a << 1 | a >> 63);
        uint64_t h = key_hash(c, server, it->name, it->name_len);
        struct entry *e = find_listed(c, server, it->name, it->name_len, h);
        if (e && e->has_def && e->def == def) {
            cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(e->summary, "listed"), wall);
            touch(c, e);
            continue;
        }
        if (note_raw(c, server, it->name, it->name_len, it->raw, it->raw_len, wall) &&
            (e = find_listed(c, server, it->name, it->name_len, h))) {
            e->has_def = true;
            e->def = def;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

cJSON *catalog_snapshot(struct catalog *c)
{
    cJSON *all = cJSON_CreateObject();
    if (!all)
        return NULL;
    pthread_mutex_lock(&c->lock);
    bool ok = true;
    for (struct entry *e = c->oldest; e && ok; e = e->newer) {
        cJSON *srv = cJSON_GetObjectItemCaseSensitive(all, e->server);
        if (!srv && !(srv = cJSON_AddObjectToObject(all, e->server)))
            ok = false;
        cJSON *copy = ok ? cJSON_Duplicate(e->summary, true) : NULL;
        if (!copy || !cJSON_AddItemToObject(srv, e->name, copy)) {
            cJSON_Delete(copy);
            ok = false;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (!ok) {
        cJSON_Delete(all);
        return NULL;
    }
    return all;
}

size_t catalog_bytes(struct catalog *c)
{
    pthread_mutex_lock(&c->lock);
    size_t v = c->used;
    pthread_mutex_unlock(&c->lock);
    return v;
}
