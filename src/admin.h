/* admin.c: the operator's listener (--admin HOST:PORT; off unless configured,
 * and meant for loopback: it binds exactly what it is given, so give it
 * 127.0.0.1 or [::1] unless a firewall guards it). It answers
 *   GET /metrics   200 text/plain; version=0.0.4 (metrics_render)
 *   GET /healthz   200 {"status":"ok"}
 *   GET /policies  200 JSON written by the describe callback
 * and whatever the console answers (console.h, when one is set);
 * other paths 404 and other methods 405, with a JSON error body. It is never
 * the agents' endpoint, so it may use libevent's evhttp. */
#ifndef WARDEN_ADMIN_H
#define WARDEN_ADMIN_H
#include <stdbool.h>
#include <stddef.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "admin-t.h"

struct admin;
struct metrics;
struct evhttp_request;


/* Listens on listen ("HOST:PORT", "[v6]:PORT"; port 0 picks a free one) on
 * base, which must be the loop of the thread that later calls admin_free.
 * m and arg are borrowed and must outlive the admin; describe is required.
 * Returns NULL with a message in err. */
struct admin *admin_start(struct event_base *base, const char *listen, struct metrics *m, admin_describe_fn describe,
                          void *arg, char *err, size_t errlen);

/* /metrics and /healthz also report the shared state store (state.h); h is
 * borrowed and must outlive the admin. */
struct state_health;
void admin_set_state(struct admin *a, struct state_health *h);

/* Hands every request to the console first (console.h); c is borrowed
 * and must be freed before the admin. */
struct console;
void admin_set_console(struct admin *a, struct console *c);

/* TLS for the admin listener: make_bev(base, arg) returns the bufferevent
 * of each new connection (e.g. bufferevent_openssl_socket_new in accepting
 * state, fd -1); evhttp reads and writes through it. Call right after
 * admin_start. */
typedef struct bufferevent *(*admin_bev_fn)(struct event_base *base, void *arg);
void admin_set_bevcb(struct admin *a, admin_bev_fn make_bev, void *arg);
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
