/* admin.c: the operator's listener (--admin HOST:PORT, loopback by default):
 * GET /metrics (Prometheus), /healthz and /policies (what is loaded). It is
 * never the agents' endpoint, so it may use libevent's evhttp. */
#ifndef WARDEN_ADMIN_H
#define WARDEN_ADMIN_H
#include <stddef.h>
#include <event2/buffer.h>
#include <event2/event.h>

struct admin;
struct metrics;

/* Writes the JSON body of /policies. */
typedef void (*admin_describe_fn)(void *arg, struct evbuffer *out);

struct admin *admin_start(struct event_base *base, const char *listen, struct metrics *m, admin_describe_fn describe,
                          void *arg, char *err, size_t errlen);
void admin_free(struct admin *a);
#endif
