/* The console's per-minute history: increases land in their minute, the
 * hour wraps, quantiles come from bucket bounds, the JSON is whole. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <cjson/cJSON.h>

#include "check.h"
#include "history.h"

static cJSON *render(const struct history *h, double wall)
{
    struct evbuffer *b = evbuffer_new();
    history_render(h, wall, b);
    cJSON *j = cJSON_ParseWithLength((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
    evbuffer_free(b);
    return j;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int main(void)
{
    unsigned long long c[METRICS_LATENCY_BUCKETS] = {0};
    CHECK(history_quantile(c, 0.5) == -1);
    c[0] = 50;   /* <= 0.5 ms */
    c[7] = 49;   /* <= 100 ms */
    c[14] = 1;   /* +Inf */
    CHECK(history_quantile(c, 0.5) == 0.0005);
    CHECK(history_quantile(c, 0.99) == 0.1);
    CHECK(history_quantile(c, 1) == 20);

    struct history h;
    history_init(&h);
    struct metrics_sample s = {0};
    s.calls[0] = 100;   /* before the first sample: only the base */
    history_add(&h, &s, 600);
    s.calls[0] += 3;
    s.calls[1] += 2;
    s.latency[5] += 5;
    history_add(&h, &s, 610);
    s.calls[1] += 1;
    history_add(&h, &s, 670);   /* the next minute */
    cJSON *j = render(&h, 670);
    cJSON *mins = cJSON_GetObjectItemCaseSensitive(j, "minutes");
    CHECK(cJSON_GetArraySize(mins) == HISTORY_MINUTES);
    cJSON *prev = cJSON_GetArrayItem(mins, HISTORY_MINUTES - 2), *cur = cJSON_GetArrayItem(mins, HISTORY_MINUTES - 1);
    CHECK(num(prev, "t") == 600 && num(cur, "t") == 660);
    CHECK(num(cJSON_GetObjectItemCaseSensitive(prev, "calls"), "allow") == 3);
    CHECK(num(cJSON_GetObjectItemCaseSensitive(prev, "calls"), "deny") == 2);
    CHECK(num(cJSON_GetObjectItemCaseSensitive(cur, "calls"), "deny") == 1);
    CHECK(num(cJSON_GetObjectItemCaseSensitive(cur, "calls"), "allow") == 0);
    CHECK(num(prev, "p50_ms") == 25);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cur, "p99_ms")));
    cJSON_Delete(j);
    /* An hour later the old minutes are gone, not shown as new. */
    s.calls[2] += 7;
    history_add(&h, &s, 600 + 3600);
    j = render(&h, 600 + 3600);
    mins = cJSON_GetObjectItemCaseSensitive(j, "minutes");
    double allow = 0, hide = 0;
    cJSON *m;
    cJSON_ArrayForEach(m, mins) {
        allow += num(cJSON_GetObjectItemCaseSensitive(m, "calls"), "allow");
        hide += num(cJSON_GetObjectItemCaseSensitive(m, "calls"), "hide");
    }
    CHECK(allow == 0 && hide == 7);
    cJSON_Delete(j);
    return check_report();
}
