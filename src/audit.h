/* audit.c: the audit log: one JSON object per line for every decision on a
 * tool call, written by a thread of its own so that a slow or full disk
 * never blocks an event loop; SIGUSR1 reopens the file for rotation.
 *
 * A line (keys in this order; strings escaped, bytes that are not UTF-8 as U+FFFD):
 *   {"time":"2026-11-25T07:05:01.123456Z","server":..,"session":..,"client":..,
 *    "principal":..,"principal_kind":..,"method":..,"tool":..,"tool_class":..,"decision":..,"rule":..,"reason":..,
 *    ["shadow_decision":..,"shadow_rule":..,]   (only when the server has shadow policies)
 *    ["approval_id":..,]["approver":..,]     (only for calls that went to approval)
 *    "status":200|null,
 *    "is_error":true|false|null,"latency_ms":1.234|null,"arg_keys":[..],"args":{..}}
 * "args" only when audit_log_values() was called. Missing strings are null.
 * Lines the log had to drop are reported by a line of their own when writing
 * works again: {"time":..,"event":"audit_dropped","dropped":N}. */
#ifndef WARDEN_AUDIT_H
#define WARDEN_AUDIT_H
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

struct audit_log;
struct metrics;

/* One line's content; every pointer is borrowed for the call. */
struct audit_event {
    double wall;                 /* CLOCK_REALTIME seconds of the decision; 0: now */
    const char *server, *session, *client, *method, *tool;
    const char *tool_class;      /* read, write, destructive, unknown (decision.tool_class); NULL: null */
    const char *principal, *principal_kind;   /* who called (auth.h: id, kind name) */
    const char *decision;        /* allow, deny, hide, rate_limit, require_approval, error; or
                                  * approval_requested, approval_decided, approval_expired, approval_consumed */
    const char *rule, *reason;   /* "" is written as null */
    const char *shadow_decision; /* what shadow policies would have decided; NULL: no shadow keys written */
    const char *shadow_rule;     /* the shadow rule that decided ("" or NULL: null) */
    int status;                  /* the upstream's HTTP status; -1: none */
    int is_error;                /* the tool result's isError: -1 unknown, 0, 1 */
    double latency_ms;           /* < 0: unknown */
    const cJSON *args;           /* the call's arguments object, or NULL */
    const char *approval_id;     /* the approval request the line is about (approval.h); NULL: no key written */
    const char *approver;        /* approval_decided: who decided; NULL: no key written */
};

/* Opens path for appending (O_APPEND|O_CREAT, mode 0640; "-" is standard
 * output) and starts the writer thread. path NULL: no file and no thread,
 * the lines go only to the sink (audit_set_sink), e.g. for the console. `m` counts dropped lines (may be
 * NULL; it must outlive the log). Returns NULL with a message in err. The
 * caller frees the log with audit_close. */
struct audit_log *audit_open(const char *path, struct metrics *m, char *err, size_t errlen);

/* Also log the argument values ("args"), with the value of every key named in
 * redact_keys (compared ignoring case) replaced by "[redacted]" at any depth.
 * The keys are copied. Call before the log is shared with other threads.
 * Returns -1 when out of memory. */
int audit_log_values(struct audit_log *a, const char *const *redact_keys, size_t nredact);

/* Every line, once formatted (without its newline), also goes to sink(arg,
 * line, len) on the writing thread, before it is queued for the file; the
 * sink must be thread-safe and quick (it must not block on I/O). Lines the
 * file drops still reach the sink. Call before the log is shared with other
 * threads; arg must outlive the log. */
typedef void (*audit_sink_fn)(void *arg, const char *line, size_t len);
void audit_set_sink(struct audit_log *a, audit_sink_fn sink, void *arg);

/* What a caller must keep of a call's arguments to audit it later (when the
 * upstream has answered): the keys only, or the redacted values when values
 * are logged. The caller frees it with cJSON_Delete; NULL when out of memory
 * or args is NULL. Safe from any thread. */
cJSON *audit_keep_args(const struct audit_log *a, const cJSON *args);

/* Formats one line on the caller's thread and queues it; never blocks on the
 * disk: when the queue is full the line is dropped and counted. Any thread. */
void audit_write(struct audit_log *a, const struct audit_event *ev);

/* Makes the writer close and reopen the path between two lines (log
 * rotation); nothing queued is lost. Any thread, e.g. on SIGUSR1. */
void audit_reopen(struct audit_log *a);

/* Writes what is queued (one last try if the file is failing), stops the
 * writer and frees everything. NULL is allowed. */
void audit_close(struct audit_log *a);
#endif
