/* deadline.c: a timer re-armed lazily, for deadlines that move with every
 * request (a client's keep-alive and header timeouts, an upstream
 * connection's first-byte and idle ones). libevent's event_add costs about
 * 400 instructions; moving a deadline later only notes it, and the event is
 * re-armed for what is left when it fires early. Only a deadline earlier
 * than the event's calls event_add, and clearing one only notes it. A busy
 * connection so re-arms about once per timeout, not on every request.
 * Times are microseconds of the monotonic clock libevent itself uses. */
#ifndef WARDEN_DEADLINE_H
#define WARDEN_DEADLINE_H
#include <stdbool.h>
#include <stdint.h>
#include <event2/event.h>

struct deadline {
    struct event *ev; /* owned; its callback begins with deadline_fired */
    int64_t due;      /* when the deadline passes; 0: there is none */
    int64_t fires;    /* when ev fires; 0: ev is not pending */
};

/* Makes d's event: fn(fd, what, arg) runs when it fires. Returns -1 when out of memory. */
int deadline_init(struct deadline *d, struct event_base *base, event_callback_fn fn, void *arg);
/* Frees d's event (safe on a zeroed d). */
void deadline_free(struct deadline *d);
/* Now, for the calls below. */
int64_t deadline_now(void);
/* The deadline passes ms after now (replacing the one there was). */
void deadline_set(struct deadline *d, int64_t now, unsigned ms);
/* There is no deadline; the event may still fire, and deadline_fired then says false. */
void deadline_clear(struct deadline *d);
/* No deadline, and the event is removed too (the owner is going away). */
void deadline_stop(struct deadline *d);
/* The first call of the event's callback: true when the deadline has passed
 * (it is cleared: the owner acts on it); false when there is none, or when
 * the event fired before it (re-armed for what is left): return at once. */
bool deadline_fired(struct deadline *d, int64_t now);
#endif
