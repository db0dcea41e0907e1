/* Unit tests of the lazily re-armed deadline (src/deadline.c), with made-up
 * times: when it calls event_add, what a later or earlier deadline does to
 * the pending event, an early firing that re-arms, a cleared deadline that
 * fires as nothing, and stop. No sleeping: the callback is called directly. */
#include <event2/event.h>
#include "check.h"
#include "deadline.h"

/* The loop never runs here: the event must never have fired by itself. */
static int fired;

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    fired++;
}

#define S 1000000 /* one second in the deadline's microseconds */

int main(void)
{
    struct event_base *base = event_base_new();
    struct deadline d;
    CHECK(deadline_init(&d, base, on_timer, &d) == 0);
    CHECK(!evtimer_pending(d.ev, NULL) && d.due == 0 && d.fires == 0);

    /* The first deadline arms the event for it. */
    int64_t t = 100 * S;
    deadline_set(&d, t, 10000);
    CHECK(d.due == t + 10 * S && d.fires == t + 10 * S && evtimer_pending(d.ev, NULL));

    /* A later one is only noted: the event still fires at the first. */
    deadline_set(&d, t + 1 * S, 75000);
    CHECK(d.due == t + 76 * S && d.fires == t + 10 * S);

    /* An earlier one than the event's re-arms it. */
    deadline_set(&d, t + 2 * S, 1000);
    CHECK(d.due == t + 3 * S && d.fires == t + 3 * S && evtimer_pending(d.ev, NULL));

    /* Firing before the deadline (it moved later since): re-armed for what is left, not passed. */
    deadline_set(&d, t + 2 * S + 500000, 2000);
    CHECK(d.due == t + 4 * S + 500000 && d.fires == t + 3 * S);
    CHECK(!deadline_fired(&d, t + 3 * S));
    CHECK(d.fires == t + 4 * S + 500000 && evtimer_pending(d.ev, NULL));

    /* Firing at or past it: passed, and there is no deadline any more. */
    CHECK(deadline_fired(&d, t + 4 * S + 500000));
    CHECK(d.due == 0 && d.fires == 0);
    /* ...nor does a second firing (the event re-added by nobody) pass anything. */
    CHECK(!deadline_fired(&d, t + 5 * S));

    /* Cleared: the event stays, and its firing is nothing; no re-arm. */
    deadline_set(&d, t + 6 * S, 1000);
    CHECK(d.fires == t + 7 * S);
    deadline_clear(&d);
    CHECK(d.due == 0 && evtimer_pending(d.ev, NULL));
    /* a deadline set again while the stale event is pending and earlier: only noted */
    deadline_set(&d, t + 6 * S + 1, 5000);
    CHECK(d.fires == t + 7 * S && d.due == t + 11 * S + 1);
    deadline_clear(&d);
    CHECK(!deadline_fired(&d, t + 7 * S));
    CHECK(d.fires == 0);
    /* with no event pending, a new deadline arms it again */
    deadline_set(&d, t + 8 * S, 1);
    CHECK(d.fires == t + 8 * S + 1000 && evtimer_pending(d.ev, NULL));

    /* Stop: no deadline and no event. */
    deadline_stop(&d);
    CHECK(d.due == 0 && d.fires == 0 && !evtimer_pending(d.ev, NULL));

    /* The clock is monotonic and never 0 (0 means none). */
    int64_t a = deadline_now(), b = deadline_now();
    CHECK(a > 0 && b >= a);

    deadline_free(&d);
    CHECK(d.ev == NULL);
    deadline_free(&d); /* safe twice, as on a zeroed deadline */
    CHECK(fired == 0);
    event_base_free(base);
    return check_report();
}
