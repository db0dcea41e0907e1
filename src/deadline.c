#include "deadline.h"

#include <time.h>

int deadline_init(struct deadline *d, struct event_base *base, event_callback_fn fn, void *arg)
{
    d->due = d->fires = 0;
    d->ev = evtimer_new(base, fn, arg);
    return d->ev ? 0 : -1;
}

void deadline_free(struct deadline *d)
{
    if (d->ev)
        event_free(d->ev);
    d->ev = NULL;
    d->due = d->fires = 0;
}

int64_t deadline_now(void)
{
    struct timespec ts;
    /* libevent's own timer clock unless it asked for a precise one: the
     * event then rarely fires before a deadline computed from it. */
#ifdef CLOCK_MONOTONIC_COARSE
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
#endif
        clock_gettime(CLOCK_MONOTONIC, &ts);
    /* never 0, which means "none" */
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 1;
}

/* Arms the event for `at`. */
static void arm(struct deadline *d, int64_t now, int64_t at)
{
    int64_t left = at - now;
    struct timeval tv = {.tv_sec = (time_t)(left / 1000000), .tv_usec = (suseconds_t)(left % 1000000)};
    if (evtimer_add(d->ev, &tv) == 0)
        d->fires = at;
}

void deadline_set(struct deadline *d, int64_t now, unsigned ms)
{
    d->due = now + (int64_t)ms * 1000;
    if (!d->fires || d->fires > d->due)
        arm(d, now, d->due);
}

void deadline_clear(struct deadline *d)
{
    d->due = 0;
}

void deadline_stop(struct deadline *d)
{
    d->due = d->fires = 0;
    evtimer_del(d->ev);
}

bool deadline_fired(struct deadline *d, int64_t now)
{
    d->fires = 0;
    if (!d->due)
        return false;
    if (now < d->due) {
        arm(d, now, d->due);
        return false;
    }
    d->due = 0;
    return true;
}
