/* reload.c: policies while warden runs: loading a generation for a worker,
 * swapping it in at once, and reloading on SIGHUP or when a policy file
 * changes (inotify on its directory, so saves by rename are seen), with the
 * old generation kept whenever the new one fails to load. */
#ifndef WARDEN_RELOAD_H
#define WARDEN_RELOAD_H
#include <stddef.h>
#include <event2/buffer.h>
#include "proxy-t.h"

/* Loads generation `number` of every server's policies for worker w and,
 * only if all load, swaps them in. Returns 0, or -1 with every problem in
 * err (the old generation stays in force). Runs on the worker's thread (or
 * before the worker runs): Lua states belong to one thread. */
int reload_load_worker(struct worker *w, unsigned long number, char *err, size_t errlen);

/* Loads generation `number` of server s's policies and swaps it in (a
 * server a config reload adds; on s's worker's thread). Returns 0, or -1
 * with the problems in err (s keeps what it had). */
int reload_load_server(struct server_rt *s, unsigned long number, char *err, size_t errlen);

/* Drops one reference to a config generation, from any thread; the
 * reloader frees it (on worker 0's thread) once none is left. */
void config_gen_release(struct config_gen *g);

/* Drops one reference; the generation is freed with its last. */
void policy_gen_release(struct policy_gen *g);

/* Watches for SIGHUP and policy file changes on workers[0]'s loop and
 * reloads all workers. Returns NULL with a message in err on failure. */
/* Writes the JSON of /policies: the generation in force, when it was loaded,
 * and each server's policy files with their hashes. arg is the reloader. */
void reload_describe(void *arg, struct evbuffer *out);

struct reloader *reloader_new(struct worker *workers, int nworkers, char *err, size_t errlen);

/* Makes SIGHUP re-read the config too, as config_from_args(argc, argv)
 * reads it (argv is borrowed for the process's life): servers added,
 * removed or changed take effect at once; a config that does not parse, or
 * changes what cannot change live (confdiff.h), is refused with one log line
 * and shown in /policies, and the config in force stays. system_tls
 * verifies the jwks_url fetches of an added server's auth. sync makes a
 * worker serve a config's servers (worker_sync_servers; handed in so that
 * reload.c need not know worker.c), run here for workers[0] at once; the
 * other workers get the config in their servers_to and apply it on their
 * reload_event. */
typedef int (*reload_sync_fn)(struct worker *w, struct config_gen *g, unsigned long number, char *err, size_t errlen);
void reloader_watch_config(struct reloader *r, int argc, char **argv, struct tls_client *system_tls,
                           reload_sync_fn sync);

/* Stops watching (signals, files) and stops the jwks fetchers of the
 * configs it re-read: before workers[0]'s loop is freed. */
void reloader_stop(struct reloader *r);

/* Frees the reloader and the configs it re-read: after the workers, whose
 * server runtimes point into those configs, are freed. */
void reloader_free(struct reloader *r);
#endif
