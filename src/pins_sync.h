/* pins_sync.c: keeps one worker's view of the runtime pin approvals
 * (pins.h, kept in Redis by pins_redis.c) in step with Redis. Subscribed to
 * "<prefix>pins", it reads a server's approvals again whenever any warden
 * approves one; it reads those of every pinned server of the worker when the
 * subscription is made (at start and after every reconnection, so a message
 * lost while the link was down is not lost), every PINS_SYNC_REFRESH_S
 * seconds (a server added by a reload, a key changed by hand), and again
 * PINS_SYNC_RETRY_MS after a read that got no answer. When what is approved
 * for a server changed, the worker's clients with an open stream of that
 * server get notifications/tools/list_changed (as a reload does).
 *
 * Fails closed: while Redis cannot answer, the approvals read last stay in
 * force and nothing new is approved; a reply that breaks the layout or the
 * budget (pins_redis.h) drops the runtime approvals (the pins file alone is
 * in force) until a good one is read.
 *
 * Who frees what: pins_sync_new's caller frees it with pins_sync_free on the
 * worker's thread, before the worker's state (state.h) is freed. */
#ifndef WARDEN_PINS_SYNC_H
#define WARDEN_PINS_SYNC_H
#include "proxy-t.h"

#define PINS_SYNC_REFRESH_S 30
#define PINS_SYNC_RETRY_MS 500

/* Subscribes w's state (w->state must be set) and tells of changes through
 * notify (exchange_notify_list_changed). NULL when memory runs out or the
 * state has no subscription left. */
struct pins_sync *pins_sync_new(struct worker *w, void (*notify)(struct server_rt *s));
void pins_sync_free(struct pins_sync *ps);
#endif
