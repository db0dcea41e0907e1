/* Unit tests of how audit.c formats a line without printf: the time stamp
 * against gmtime for dates across four centuries (leap days, century years,
 * the end of a year), latency_ms against printf's %.3f, JSON escaping of
 * control characters, quotes and broken UTF-8, cut strings, a line that
 * outgrows the stack, and argument values. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "check.h"
#include "../../src/audit.c"

static void check_time(long long secs, long us)
{
    struct line l;
    line_init(&l);
    put_time(&l, (double)secs + (double)us / 1e6);
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    char want[64];
    snprintf(want, sizeof want, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
    CHECK_MEM(l.p, l.len, want);
    line_free(&l);
}

static void test_time(void)
{
    check_time(1, 0);
    check_time(951782400, 1);       /* 2000-02-29 */
    check_time(951868799, 999999);  /* 2000-02-29T23:59:59.999999 */
    check_time(1709164800, 500000); /* 2024-02-29 */
    check_time(1735689599, 123456); /* 2024-12-31T23:59:59 */
    check_time(1735689600, 0);      /* 2025-01-01 */
    check_time(4107542400LL, 42);   /* 2100-03-01 (2100 is no leap year) */
    check_time(253402300799LL, 0);  /* 9999-12-31T23:59:59 */
    /* every day of eight years around a leap and a century */
    for (long long day = 10957 - 4 * 366; day < 10957 + 4 * 366; day++)
        check_time(day * 86400 + 3723, 7);
    /* now (wall 0): the clock's, well formed */
    struct line l;
    line_init(&l);
    put_time(&l, 0);
    CHECK(l.len == 29 && l.p[0] == '"' && l.p[11] == 'T' && l.p[27] == 'Z');
    line_free(&l);
}

static void test_millis(void)
{
    const double v[] = {0, 0.0004, 0.0005, 0.001, 1.939, 2.0965, 12.3456, 999.9999, 1234567.891, 3600000, 0.1 + 0.2};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        struct line l;
        line_init(&l);
        put_millis(&l, v[i]);
        char want[64];
        snprintf(want, sizeof want, "%.3f", v[i]);
        /* a tie in the fourth decimal may round either way; nothing else may differ */
        double got = strtod((l.p[l.len] = '\0', l.p), NULL);
        CHECK(fabs(got - strtod(want, NULL)) <= 0.0010001);
        CHECK(strchr(l.p, '.') && strlen(strchr(l.p, '.')) == 4);
        line_free(&l);
    }
    for (int i = 0; i < 100000; i++) {
        double ms = i * 0.0173;
        struct line l;
        line_init(&l);
        put_millis(&l, ms);
        char want[64];
        snprintf(want, sizeof want, "%.3f", ms);
        if (fabs(ms * 1000 - floor(ms * 1000) - 0.5) > 1e-6) /* not a tie */
            CHECK_MEM(l.p, l.len, want);
        line_free(&l);
    }
}

static void test_strings(void)
{
    struct line l;
    line_init(&l);
    put_string(&l, "a\"b\\c\n\r\t\x01\x1f\x7f", (size_t)-1);
    CHECK_MEM(l.p, l.len, "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f\x7f\"");
    l.len = 0;
    put_string(&l, "caf\xc3\xa9 \xff \xed\xa0\x80 \xf0\x9f\x98\x80",
               (size_t)-1); /* é, a stray byte, a surrogate, an emoji */
    CHECK_MEM(l.p, l.len, "\"caf\xc3\xa9 \\ufffd \\ufffd\\ufffd\\ufffd \xf0\x9f\x98\x80\"");
    l.len = 0;
    put_string(&l, "abcdef\xc3\xa9", 7); /* cut inside a sequence: its first byte is not shown as itself */
    CHECK_MEM(l.p, l.len, "\"abcdef\\ufffd...\"");
    l.len = 0;
    PUT_FIELD(&l, "rule", "");
    PUT_FIELD(&l, "reason", NULL);
    PUT_FIELD(&l, "tool", "t");
    CHECK_MEM(l.p, l.len, ",\"rule\":null,\"reason\":null,\"tool\":\"t\"");
    line_free(&l);

    /* A line past the stack's room moves to the heap and keeps every byte. */
    static char big[20000];
    memset(big, '\x01', sizeof big - 1);
    line_init(&l);
    PUT_LIT(&l, "[");
    put_string(&l, big, (size_t)-1);
    CHECK(!l.failed && l.p != l.first && l.len == 1 + 2 + 6 * (sizeof big - 1));
    CHECK(memcmp(l.p + l.len - 7, "\\u0001\"", 7) == 0);
    line_free(&l);
}

static void test_values(void)
{
    struct audit_log a = {.nredact = 1};
    char *keys[] = {"Token"};
    a.redact = keys;
    cJSON *v =
        cJSON_Parse("{\"n\":3,\"f\":0.5,\"b\":true,\"z\":null,\"s\":\"x\",\"token\":\"secret\",\"l\":[1,false]}");
    struct line l;
    line_init(&l);
    put_value(&a, &l, v, 0);
    CHECK_MEM(l.p, l.len,
              "{\"n\":3,\"f\":0.5,\"b\":true,\"z\":null,\"s\":\"x\",\"token\":\"[redacted]\",\"l\":[1,false]}");
    line_free(&l);
    cJSON_Delete(v);
}

int main(void)
{
    test_time();
    test_millis();
    test_strings();
    test_values();
    return check_report();
}
