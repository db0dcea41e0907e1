#include "approval_expiry.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include "approval_redis.h"

/* One lookup in flight. */
struct lookup {
    struct approval_expiry *x;
    struct state_req *req; /* NULL once answered */
    char id[APPROVAL_ID_LEN + 1];
};

struct approval_expiry {
    struct state *st;
    struct approval_store *store;
    struct event *tick;
    struct lookup inflight[APPROVAL_EXPIRY_INFLIGHT];
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_show(void *arg, const struct redisReply *r, const char *error)
{
    struct lookup *l = arg;
    struct approval_expiry *x = l->x;
    l->req = NULL;
    double now = wall_now();
    struct approval_view v;
    char status[16];
    if (error || !r || r->type != REDIS_REPLY_ARRAY) {
        approval_store_tracked_settle(x->store, l->id, NULL, 0, now);
    } else if (!approval_redis_view(r, now, &v, status)) {
        approval_store_tracked_settle(x->store, l->id, "gone", 0, now);
    } else {
        /* the local store's line for a request that expired undecided, or a grant unused */
        if (strcmp(status, "expired") == 0)
            approval_store_tell(x->store, "approval_expired", &v);
        approval_store_tracked_settle(x->store, l->id, status, v.expires, now);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct approval_expiry *x = arg;
    if (!state_ready(x->st))
        return;
    char ids[APPROVAL_EXPIRY_INFLIGHT][APPROVAL_ID_LEN + 1];
    size_t free_slots = 0;
    for (size_t i = 0; i < APPROVAL_EXPIRY_INFLIGHT; i++)
        free_slots += x->inflight[i].req == NULL;
    double now = wall_now();
    size_t n = approval_store_tracked_due(x->store, now, ids, free_slots);
    for (size_t i = 0, slot = 0; i < n; i++) {
        while (x->inflight[slot].req)
            slot++;
        struct lookup *l = &x->inflight[slot];
        memcpy(l->id, ids[i], sizeof l->id);
        if (!(l->req = approval_redis_show(x->st, l->id, on_show, l)))
            approval_store_tracked_settle(x->store, l->id, NULL, 0, now);
    }
}

/* id NULL: subscribed (again): decisions may have been missed. */
static void on_decided(void *arg, const char *id, size_t len)
{
    struct approval_expiry *x = arg;
    if (id)
        approval_store_tracked_decided(x->store, id, len);
    else
        approval_store_tracked_recheck(x->store);
}

struct approval_expiry *approval_expiry_new(struct event_base *base, struct state *st, struct approval_store *store)
{
    struct approval_expiry *x = calloc(1, sizeof *x);
    char chan[300];
    if (!x)
        return NULL;
    x->st = st;
    x->store = store;
    for (size_t i = 0; i < APPROVAL_EXPIRY_INFLIGHT; i++)
        x->inflight[i].x = x;
    approval_redis_channel(st, chan, sizeof chan);
    if (!(x->tick = event_new(base, -1, EV_PERSIST, on_tick, x)) ||
        event_add(x->tick, &(struct timeval){.tv_sec = 1}) < 0 || state_subscribe(st, chan, on_decided, x) < 0) {
        approval_expiry_free(x);
        return NULL;
    }
    return x;
}

void approval_expiry_free(struct approval_expiry *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < APPROVAL_EXPIRY_INFLIGHT; i++)
        state_cancel(x->inflight[i].req);
    if (x->tick)
        event_free(x->tick);
    free(x);
}
