#include "decisions.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* What one kept decision costs beyond its text: the slot and malloc's header. */
#define ENTRY_OVERHEAD (sizeof(struct entry) + 24)

struct entry {
    uint64_t seq;
    char *text;         /* owned */
    size_t len;
};

struct decisions {
    pthread_mutex_t lock;
    struct entry *ring; /* max_count slots */
    size_t max_count, max_bytes;
    size_t head;        /* the oldest entry's slot */
    size_t count;
    size_t bytes;
    uint64_t last;      /* the newest number given */
    uint64_t skipped;
};

struct decisions *decisions_new(size_t max_count, size_t max_bytes)
{
    if (max_count == 0)
        return NULL;
    struct decisions *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (!(d->ring = calloc(max_count, sizeof *d->ring)) || pthread_mutex_init(&d->lock, NULL) != 0) {
        free(d->ring);
        free(d);
        return NULL;
    }
    d->max_count = max_count;
    d->max_bytes = max_bytes;
    return d;
}

void decisions_free(struct decisions *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->count; i++)
        free(d->ring[(d->head + i) % d->max_count].text);
    free(d->ring);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* Forgets the oldest decision. Lock held. */
static void drop_oldest(struct decisions *d)
{
    struct entry *e = &d->ring[d->head];
    d->bytes -= e->len + ENTRY_OVERHEAD;
    free(e->text);
    e->text = NULL;
    d->head = (d->head + 1) % d->max_count;
    d->count--;
}

void decisions_add(struct decisions *d, const char *line, size_t len)
{
    size_t cost = len + ENTRY_OVERHEAD;
    /* Only a JSON object can be numbered by inserting after its brace. */
    bool object = len > 2 && line[0] == '{' && line[len - 1] == '}';
    char *copy = object && len <= DECISIONS_MAX_ENTRY && cost <= d->max_bytes ? malloc(len) : NULL;
    pthread_mutex_lock(&d->lock);
    if (!copy) {
        d->skipped++;
        pthread_mutex_unlock(&d->lock);
        return;
    }
    memcpy(copy, line, len);
    while (d->count && (d->count == d->max_count || d->bytes + cost > d->max_bytes))
        drop_oldest(d);
    struct entry *e = &d->ring[(d->head + d->count) % d->max_count];
    e->seq = ++d->last;
    e->text = copy;
    e->len = len;
    d->count++;
    d->bytes += cost;
    pthread_mutex_unlock(&d->lock);
}

void decisions_sink(void *arg, const char *line, size_t len)
{
    decisions_add(arg, line, len);
}

uint64_t decisions_since(struct decisions *d, uint64_t after, size_t max, const char *sep, struct evbuffer *out)
{
    uint64_t last = after;
    size_t written = 0;
    pthread_mutex_lock(&d->lock);
    /* Numbers are consecutive in the ring: the first wanted is found by arithmetic. */
    size_t skip = 0;
    if (d->count && after >= d->ring[d->head].seq)
        skip = after - d->ring[d->head].seq + 1 < d->count ? (size_t)(after - d->ring[d->head].seq + 1) : d->count;
    for (size_t i = skip; i < d->count && written < max; i++, written++) {
        const struct entry *e = &d->ring[(d->head + i) % d->max_count];
        if (written)
            evbuffer_add(out, sep, strlen(sep));
        evbuffer_add_printf(out, "{\"seq\":%llu,", (unsigned long long)e->seq);
        evbuffer_add(out, e->text + 1, e->len - 1);
        last = e->seq;
    }
    pthread_mutex_unlock(&d->lock);
    return last;
}

uint64_t decisions_last(struct decisions *d)
{
    pthread_mutex_lock(&d->lock);
    uint64_t v = d->last;
    pthread_mutex_unlock(&d->lock);
    return v;
}

uint64_t decisions_skipped(struct decisions *d)
{
    pthread_mutex_lock(&d->lock);
    uint64_t v = d->skipped;
    pthread_mutex_unlock(&d->lock);
    return v;
}

size_t decisions_bytes(struct decisions *d)
{
    pthread_mutex_lock(&d->lock);
    size_t v = d->bytes;
    pthread_mutex_unlock(&d->lock);
    return v;
}
