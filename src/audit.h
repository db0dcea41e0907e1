/* audit.c: the audit log: one JSON object per line for every decision on a
 * tool call, written by a thread of its own so that a slow or full disk
 * never blocks an event loop; SIGUSR1 reopens the file for rotation. */
#ifndef WARDEN_AUDIT_H
#define WARDEN_AUDIT_H
#include <stdbool.h>
#include <cjson/cJSON.h>

struct audit_log;
struct metrics;

/* One line's content; every pointer is borrowed for the call. Unknown
 * outcomes: status -1, is_error -1, latency_ms < 0. */
struct audit_event {
    const char *server, *session, *client, *method, *tool;
    const char *decision;        /* allow, deny, hide, rate_limit, require_approval, error */
    const char *rule, *reason;
    int status;
    int is_error;
    double latency_ms;
    const cJSON *args;           /* its top-level keys are logged, never the values */
};

/* Opens path for appending ("-" is standard output) and starts the writer.
 * Returns NULL with a message in err. `m` counts dropped lines (may be NULL). */
struct audit_log *audit_open(const char *path, struct metrics *m, char *err, size_t errlen);

/* Queues one line; never blocks on the disk. Safe from any thread. */
void audit_write(struct audit_log *a, const struct audit_event *ev);

/* Reopens the file between two lines (log rotation). Safe from any thread. */
void audit_reopen(struct audit_log *a);

/* Writes what is queued, stops the writer and frees everything. */
void audit_close(struct audit_log *a);
#endif
