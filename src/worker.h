/* worker.c: one event loop with its listener, connections and server
 * runtimes (each with its transport, chosen here); warden runs one per
 * thread. Also where client connections are freed (the reaper; client.c
 * puts closed ones on the graveyard) and where a graceful stop is carried out. */
#ifndef WARDEN_WORKER_H
#define WARDEN_WORKER_H
#include "proxy-t.h"

/* Sets up worker `index` for cfg: its event base, timers, server runtimes
 * (without policies: reload.c loads them) and a listening socket bound with
 * SO_REUSEPORT. `rates` and `shared` are the process-wide stores. Returns 0,
 * or -1 with a message in err. */
int worker_init(struct worker *w, int index, const struct config *cfg, struct rate_store *rates,
                struct shared_store *shared, char *err, size_t errlen);

/* Runs the loop until the worker has stopped. */
void worker_run(struct worker *w);

/* Asks the worker to stop gracefully; safe from any thread. */
void worker_request_stop(struct worker *w);

/* Frees everything the worker owns (after worker_run returned). */
void worker_free(struct worker *w);
#endif
