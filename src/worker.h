/* worker.c: one event loop with its listener, connections and server
 * runtimes (each with its transport, chosen here); warden runs one per
 * thread. Also where client connections are freed (the reaper; client.c
 * puts closed ones on the graveyard) and where a graceful stop is carried out. */
#ifndef WARDEN_WORKER_H
#define WARDEN_WORKER_H
#include "proxy-t.h"

/* Binds and listens on cfg's listen address, once per process, for all the
 * workers to share. Without SO_REUSEPORT on purpose: the kernel then refuses
 * the address to warden while any other process listens on it (another
 * warden, old or new), and to any other process, SO_REUSEPORT or not, while
 * warden holds it; so two wardens never split one port's connections. The
 * caller closes the descriptor once the workers have their own. Returns it,
 * or -1 with a message in err (naming the port when it is taken). */
evutil_socket_t worker_listen_socket(const struct config *cfg, char *err, size_t errlen);

/* Sets up worker `index` for cfg: its event base, timers, server runtimes
 * (without policies: reload.c loads them) and, when listen_fd is not -1, a
 * listener on its own duplicate of that socket (the worker owns the
 * duplicate; listen_fd stays the caller's). `rates` and `shared` are the
 * process-wide stores. Returns 0, or -1 with a message in err. */
int worker_init(struct worker *w, int index, const struct config *cfg, evutil_socket_t listen_fd,
                struct rate_store *rates, struct shared_store *shared, char *err, size_t errlen);

/* Makes w serve the servers of g (on w's thread): a server configured alike
 * keeps its runtime, sessions and streams; a new or changed one gets a
 * runtime of its own with policies of generation `number`; one no longer
 * there (or changed) is retired: no new request reaches it, and it is freed
 * once its exchanges in flight have ended. Nothing changes unless every new
 * runtime started: returns 0, or -1 with a message in err. */
int worker_sync_servers(struct worker *w, struct config_gen *g, unsigned long number, char *err, size_t errlen);

/* Runs the loop until the worker has stopped. */
void worker_run(struct worker *w);

/* Asks the worker to stop gracefully; safe from any thread. */
void worker_request_stop(struct worker *w);

/* Frees everything the worker owns (after worker_run returned). */
void worker_free(struct worker *w);
#endif
