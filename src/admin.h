/* admin.c: the operator's listener (--admin HOST:PORT; off unless configured,
 * and meant for loopback: it binds exactly what it is given, so give it
 * 127.0.0.1 or [::1] unless a firewall guards it). It answers
 *   GET /metrics   200 text/plain; version=0.0.4 (metrics_render)
 *   GET /healthz   200 {"status":"ok"}
 *   GET /policies  200 JSON written by the describe callback
 * other paths 404 and other methods 405, with a JSON error body. It is never
 * the agents' endpoint, so it may use libevent's evhttp. */
#ifndef WARDEN_ADMIN_H
#define WARDEN_ADMIN_H
#include <stdbool.h>
#include <stddef.h>
#include <event2/buffer.h>
#include <event2/event.h>

struct admin;
struct metrics;
struct evhttp_request;

/* Writes the JSON body of /policies (runs on the admin's event loop). */
typedef void (*admin_describe_fn)(void *arg, struct evbuffer *out);

/* Listens on listen ("HOST:PORT", "[v6]:PORT"; port 0 picks a free one) on
 * base, which must be the loop of the thread that later calls admin_free.
 * m and arg are borrowed and must outlive the admin; describe is required.
 * Returns NULL with a message in err. */
struct admin *admin_start(struct event_base *base, const char *listen, struct metrics *m, admin_describe_fn describe,
                          void *arg, char *err, size_t errlen);

/* More routes: route(arg, req, path) is asked first for every request and
 * returns true when it answered it; more_metrics appends families to
 * /metrics. Both run on the admin's loop; arg must outlive the admin. */
typedef bool (*admin_route_fn)(void *arg, struct evhttp_request *req, const char *path);
typedef void (*admin_metrics_fn)(void *arg, struct evbuffer *out);
void admin_add_routes(struct admin *a, admin_route_fn route, admin_metrics_fn more_metrics, void *arg);

/* The port actually bound (useful after port 0); 0 if unknown. */
int admin_port(const struct admin *a);

/* Closes the listener and its connections. NULL is allowed. */
void admin_free(struct admin *a);
#endif
