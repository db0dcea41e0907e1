/* history.c: the last hour of warden's own counters, minute by minute, for
 * the console's charts: tool calls by decision and the p50/p99 of request
 * latency. Fed with metrics samples (any interval; each sample's increase
 * counts in the minute it was taken), it keeps HISTORY_MINUTES minutes in a
 * fixed array: older minutes are overwritten. One thread (the admin's). */
#ifndef WARDEN_HISTORY_H
#define WARDEN_HISTORY_H
#include <stdbool.h>
#include <event2/buffer.h>
#include "metrics.h"

#define HISTORY_MINUTES 60

struct history_minute {
    long long minute;     /* wall seconds / 60; -1: empty */
    unsigned long long calls[METRICS_DECISIONS];
    unsigned long long latency[METRICS_LATENCY_BUCKETS];
};

struct history {
    struct history_minute m[HISTORY_MINUTES];
    struct metrics_sample last;
    bool have_last;
};

void history_init(struct history *h);

/* Adds what grew since the previous sample to the minute of `wall`. The
 * first sample only sets the base. */
void history_add(struct history *h, const struct metrics_sample *now, double wall);

/* The upper bound (seconds) of the bucket holding quantile q of counts,
 * or -1 when there are no counts; +Inf is reported as the last finite
 * bound's double (10 s bucket: "more than 10 s" shows as 20). */
double history_quantile(const unsigned long long counts[METRICS_LATENCY_BUCKETS], double q);

/* Appends {"minutes":[{"t":EPOCH_SECONDS,"calls":{"allow":N,..},"p50_ms":X|null,
 * "p99_ms":X|null},..]}: the HISTORY_MINUTES minutes up to `wall`, oldest
 * first, zero-filled where nothing was sampled. */
void history_render(const struct history *h, double wall, struct evbuffer *out);
#endif
