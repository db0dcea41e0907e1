/* state.c: one worker's connection to the Redis that several wardens share
 * ("state" in the config). Everything is asynchronous on the worker's event
 * loop (hiredis async with its libevent adapter): nothing here blocks.
 *
 * - Every command has a deadline (timeout_ms): past it its callback gets an
 *   error and a late reply is dropped.
 * - The connection is made again by itself, with a back-off of 100 ms
 *   doubling to 5 s. While it is down (and while a new one is being made)
 *   commands fail at once (state_command returns NULL): a dead Redis adds no
 *   wait to any call. After STATE_BREAKER_FAILURES commands in a row fail,
 *   the breaker opens: the connection is dropped and the back-off starts, so
 *   a Redis that hangs is not sent more work until it answers a PING again.
 * - Lua scripts are sent by their SHA-1 (EVALSHA), loaded on each new
 *   connection, and sent whole (EVAL) when Redis answers NOSCRIPT.
 * - Health (up, latency, errors by kind) is counted in a struct state_health
 *   shared by all workers, for /metrics and /healthz.
 *
 * Who frees what: state_new's caller frees the state with state_free (on its
 * loop's thread, before the loop is freed); a request belongs to the state
 * and is freed by it after its callback ran or it was cancelled. */
#ifndef WARDEN_STATE_H
#define WARDEN_STATE_H
#include <stdbool.h>
#include <stddef.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "config-t.h"

#define STATE_BREAKER_FAILURES 3
/* Subscriptions one state holds at most (worker 0 holds 4: approvals held and
 * expiring, pins, warden.shared; the other workers 2). */
#define STATE_MAX_SUBSCRIPTIONS 8
/* Keys, values and channels longer than this are refused (state_command returns NULL). */
#define STATE_MAX_ARG_BYTES (1u << 20)

struct redisReply; /* hiredis.h */
struct state;
struct state_req;

/* Health of the store, shared by every worker; every function is safe from
 * any thread. */
struct state_health;
struct state_health *state_health_new(void);
void state_health_free(struct state_health *h);
/* True when at least one worker has a working connection. */
bool state_health_up(const struct state_health *h);
/* warden_state_up, warden_state_latency_seconds (histogram),
 * warden_state_errors_total{kind} in the Prometheus text format. */
void state_health_render(const struct state_health *h, struct evbuffer *out);

/* A connection on base for conf (conf->redis must be set; conf must outlive
 * the state). Starts connecting at once. NULL with a message in err when
 * the address is malformed or memory runs out. `tag` names this worker in
 * script arguments (unique among all wardens' workers: see state_rate.c). */
struct state *state_new(struct event_base *base, const struct state_conf *conf, struct state_health *h, char *err,
                        size_t errlen);
/* Drops the connection; pending callbacks are not called. */
void state_free(struct state *st);
/* Connected, and answering. */
bool state_ready(const struct state *st);
/* The key prefix of every key (conf->key_prefix or "warden:"). */
const char *state_prefix(const struct state *st);
const struct state_conf *state_conf(const struct state *st);
/* Writes an id no other call of any warden writes (a random id of this
 * state, drawn once, and a counter) to buf; returns its length. */
size_t state_unique_id(struct state *st, char *buf, size_t cap);

/* What a command came to: r is the reply (an error reply is a reply), or
 * NULL with error saying why ("timeout", "connection lost", ...). r is
 * valid only during the callback. */
typedef void (*state_reply_fn)(void *arg, const struct redisReply *r, const char *error);

/* Sends argv[0..argc) (each argvlen bytes; copied). NULL when the store is
 * not ready or an argument is too long: then cb is never called. Otherwise
 * cb is called exactly once, unless state_cancel is called first. */
struct state_req *state_command(struct state *st, state_reply_fn cb, void *arg, int argc, const char **argv,
                                const size_t *argvlen);
/* A script: src is registered once per state (its SHA-1 is computed here)
 * and the same pointer given each time; then as state_command with EVALSHA. */
struct state_req *state_script(struct state *st, const char *src, state_reply_fn cb, void *arg, int nkeys, int argc,
                               const char **argv, const size_t *argvlen);
/* The callback will not be called; the request is freed when Redis answers
 * (or at once if it timed out already). Safe from inside any callback. */
void state_cancel(struct state_req *r);

/* --- a small generic API for stores built on the state (approvals, pins) --- */

/* GET key: cb gets a string reply or a nil reply. */
struct state_req *state_get(struct state *st, const char *key, state_reply_fn cb, void *arg);
/* SET key value PX ttl_ms (ttl_ms 0: no expiry); nx: only when absent (the
 * reply is nil when it existed). */
struct state_req *state_set(struct state *st, const char *key, const char *value, size_t value_len,
                            unsigned long long ttl_ms, bool nx, state_reply_fn cb, void *arg);
/* Deletes key only if it holds exactly value, atomically: an integer reply,
 * 1 when this call consumed it, 0 when it held something else or nothing.
 * (A grant used once: only one instance gets 1.) */
struct state_req *state_take(struct state *st, const char *key, const char *value, size_t value_len, state_reply_fn cb,
                             void *arg);
/* PUBLISH channel message: an integer reply (receivers). */
struct state_req *state_publish(struct state *st, const char *channel, const char *msg, size_t len, state_reply_fn cb,
                                void *arg);

/* Calls on_message for every message published on channel (a name under
 * the key prefix is the caller's choice), on this state's loop, for the
 * life of the state; subscriptions are made again after every reconnection
 * (messages published while the link is down are lost: readers that must
 * not miss one re-read their state on on_message(NULL) = "resubscribed").
 * Several subscriptions may name one channel: each hears every message.
 * Returns -1 when STATE_MAX_SUBSCRIPTIONS are taken or memory runs out. */
typedef void (*state_message_fn)(void *arg, const char *msg, size_t len);
int state_subscribe(struct state *st, const char *channel, state_message_fn on_message, void *arg);
#endif
