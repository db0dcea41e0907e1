#include "approval_elicit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "siphash.h"

#define BUCKETS 1024   /* a power of two */
#define MAX_ID 255

struct entry {
    char id[MAX_ID + 1];
    size_t len;
    struct entry *chain;          /* in its bucket */
    struct entry *next;           /* noted after this one */
};

struct elicit_sessions {
    pthread_mutex_t lock;
    struct siphash_key key;
    struct entry *buckets[BUCKETS];
    struct entry *oldest, *newest;
    size_t n;
};

struct elicit_sessions *elicit_sessions_new(void)
{
    struct elicit_sessions *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (siphash_key_random(&s->key) < 0 || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void elicit_sessions_free(struct elicit_sessions *s)
{
    if (!s)
        return;
    for (struct entry *e = s->oldest, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

bool elicit_wanted(const cJSON *params)
{
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(params, "protocolVersion");
    const cJSON *caps = cJSON_GetObjectItemCaseSensitive(params, "capabilities");
    const cJSON *elicitation = cJSON_GetObjectItemCaseSensitive(caps, "elicitation");
    return cJSON_IsString(version) && strcmp(version->valuestring, "2025-11-25") == 0 &&
           cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(elicitation, "url"));
}

static struct entry **slot(struct elicit_sessions *s, const char *id, size_t len)
{
    struct entry **p = &s->buckets[siphash(&s->key, id, len) & (BUCKETS - 1)];
    while (*p && ((*p)->len != len || memcmp((*p)->id, id, len) != 0))
        p = &(*p)->chain;
    return p;
}

void elicit_sessions_note(struct elicit_sessions *s, const char *id, size_t len)
{
    if (len == 0 || len > MAX_ID)
        return;
    pthread_mutex_lock(&s->lock);
    struct entry *e = NULL;
    if (!*slot(s, id, len)) {
        if (s->n >= ELICIT_MAX_SESSIONS) {
            /* Full: the session noted longest ago is forgotten, and its entry reused. */
            e = s->oldest;
            s->oldest = e->next;
            if (!s->oldest)
                s->newest = NULL;
            struct entry **p = slot(s, e->id, e->len);
            *p = e->chain;
            s->n--;
            memset(e, 0, sizeof *e);
        } else {
            e = calloc(1, sizeof *e);
        }
    }
    if (e) {
        memcpy(e->id, id, len);
        e->len = len;
        struct entry **p = slot(s, id, len);
        *p = e;
        if (s->newest)
            s->newest->next = e;
        else
            s->oldest = e;
        s->newest = e;
        s->n++;
    }
    pthread_mutex_unlock(&s->lock);
}

bool elicit_sessions_has(struct elicit_sessions *s, const char *id, size_t len)
{
    if (len == 0 || len > MAX_ID)
        return false;
    pthread_mutex_lock(&s->lock);
    bool found = *slot(s, id, len) != NULL;
    pthread_mutex_unlock(&s->lock);
    return found;
}
