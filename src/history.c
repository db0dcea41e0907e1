#include "history.h"

#include <math.h>
#include <string.h>

void history_init(struct history *h)
{
    memset(h, 0, sizeof *h);
    for (size_t i = 0; i < HISTORY_MINUTES; i++)
        h->m[i].minute = -1;
}

static struct history_minute *slot(struct history *h, long long minute)
{
    struct history_minute *m = &h->m[(size_t)(minute % HISTORY_MINUTES)];
    if (m->minute != minute) {
        memset(m, 0, sizeof *m);
        m->minute = minute;
    }
    return m;
}

void history_add(struct history *h, const struct metrics_sample *now, double wall)
{
    if (h->have_last && wall >= 0) {
        struct history_minute *m = slot(h, (long long)(wall / 60));
        /* Counters only grow; a smaller value (never expected) adds nothing. */
        for (size_t i = 0; i < METRICS_DECISIONS; i++)
            m->calls[i] += now->calls[i] > h->last.calls[i] ? now->calls[i] - h->last.calls[i] : 0;
        for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++)
            m->latency[i] += now->latency[i] > h->last.latency[i] ? now->latency[i] - h->last.latency[i] : 0;
    }
    h->last = *now;
    h->have_last = true;
}

double history_quantile(const unsigned long long counts[METRICS_LATENCY_BUCKETS], double q)
{
    unsigned long long total = 0;
    for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++)
        total += counts[i];
    if (total == 0)
        return -1;
    double want = q * (double)total, seen = 0;
    for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
        seen += (double)counts[i];
        if (seen >= want && counts[i]) {
            double b = metrics_latency_bound(i);
            return isinf(b) ? 2 * metrics_latency_bound(i - 1) : b;
        }
    }
    return -1;
}

static void put_ms(struct evbuffer *out, const char *key, double seconds)
{
    if (seconds < 0)
        evbuffer_add_printf(out, ",\"%s\":null", key);
    else
        evbuffer_add_printf(out, ",\"%s\":%g", key, seconds * 1000);
}

void history_render(const struct history *h, double wall, struct evbuffer *out)
{
    long long last = (long long)(wall / 60);
    evbuffer_add_printf(out, "{\"minutes\":[");
    for (long long minute = last - HISTORY_MINUTES + 1; minute <= last; minute++) {
        static const struct history_minute empty;
        const struct history_minute *m = minute >= 0 ? &h->m[(size_t)(minute % HISTORY_MINUTES)] : &empty;
        if (m->minute != minute)
            m = &empty;
        evbuffer_add_printf(out, "%s{\"t\":%lld,\"calls\":{", minute == last - HISTORY_MINUTES + 1 ? "" : ",",
                            minute * 60);
        for (size_t i = 0; i < METRICS_DECISIONS; i++)
            evbuffer_add_printf(out, "%s\"%s\":%llu", i ? "," : "", metrics_decision_name(i), m->calls[i]);
        evbuffer_add(out, "}", 1);
        put_ms(out, "p50_ms", history_quantile(m->latency, 0.5));
        put_ms(out, "p99_ms", history_quantile(m->latency, 0.99));
        evbuffer_add(out, "}", 1);
    }
    evbuffer_add(out, "]}", 2);
}
