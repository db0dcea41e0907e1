/* The rate-limit table at its bounds, on a fake clock: a flood of made-up
 * session ids neither locks new agents out nor resets an agent's own limit,
 * one address cannot fill the table, emptied windows go first, the bytes
 * stay within budget; and the plain sliding log. */
#include <stdio.h>

#include "check.h"
#include "ratelimit.h"

/* One call of session `sess` from address `addr` against a limit of max
 * calls per window seconds; true when admitted. */
static bool call(struct rate_store *rs, const char *addr, const char *sess, unsigned max, double window, double now)
{
    char key[96];
    int len = snprintf(key, sizeof key, "srv\x1fpolicy\x1f/tools/x\x1f%s\x1fx", sess);
    struct rate_check c = {key, (size_t)len, max, window};
    size_t refused;
    double retry;
    return rate_admit(rs, addr, strlen(addr), &c, 1, now, &refused, &retry);
}

/* The sliding log itself, and retry_after. */
static void test_window(void)
{
    struct rate_store *rs = rate_store_new();
    CHECK(rs != NULL);
    if (!rs)
        return;
    CHECK(call(rs, "10.0.0.1", "a", 2, 10, 100));
    CHECK(call(rs, "10.0.0.1", "a", 2, 10, 101));
    CHECK(!call(rs, "10.0.0.1", "a", 2, 10, 105));
    char key[] = "srv\x1fpolicy\x1f/tools/x\x1f" "a\x1fx";
    struct rate_check c = {key, sizeof key - 1, 2, 10};
    size_t refused = 99;
    double retry = 0;
    CHECK(!rate_admit(rs, "10.0.0.1", 8, &c, 1, 106, &refused, &retry));
    CHECK(refused == 0 && retry == 4);
    CHECK(call(rs, "10.0.0.1", "a", 2, 10, 110.5));
    /* Another session has its own log. */
    CHECK(call(rs, "10.0.0.1", "b", 2, 10, 110.5));
    rate_store_free(rs);
}

/* The issue: made-up session ids filled the table in seconds and then every
 * new agent was refused. Now junk goes first, and an agent at its limit
 * stays limited whether the flood comes from elsewhere or from itself. */
static void test_flood(void)
{
    struct rate_store_limits lim = {.max_keys = 1000, .owner_keys = 100};
    struct rate_store *rs = rate_store_new_with(&lim);
    CHECK(rs != NULL);
    if (!rs)
        return;
    double now = 1000;
    /* An agent uses up its limit. */
    for (int i = 0; i < 5; i++)
        CHECK(call(rs, "10.0.0.1", "agent", 5, 3600, now));
    CHECK(!call(rs, "10.0.0.1", "agent", 5, 3600, now));
    /* Floods of made-up sessions from many addresses, then from the agent's own. */
    char addr[32], sess[32];
    int refused = 0;
    for (int i = 0; i < 20000; i++) {
        snprintf(addr, sizeof addr, "192.0.2.%d", i % 200);
        snprintf(sess, sizeof sess, "junk-%d", i);
        refused += !call(rs, addr, sess, 5, 3600, now + 1);
        CHECK(rate_store_keys(rs) <= lim.max_keys);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(sess, sizeof sess, "self-%d", i);
        refused += !call(rs, "10.0.0.1", sess, 5, 3600, now + 2);
    }
    CHECK(refused == 0);
    /* The agent is still limited; a new agent is admitted. */
    CHECK(!call(rs, "10.0.0.1", "agent", 5, 3600, now + 3));
    CHECK(call(rs, "10.0.0.2", "newcomer", 5, 3600, now + 3));
    CHECK(call(rs, "10.0.0.2", "newcomer", 5, 3600, now + 3));
    rate_store_free(rs);
}

/* One address holds at most owner_keys keys: its flood evicts its own
 * keys, never another address's. */
static void test_owner(void)
{
    struct rate_store_limits lim = {.max_keys = 1000, .owner_keys = 50};
    struct rate_store *rs = rate_store_new_with(&lim);
    CHECK(rs != NULL);
    if (!rs)
        return;
    char sess[32];
    for (int i = 0; i < 40; i++) {
        snprintf(sess, sizeof sess, "other-%d", i);
        CHECK(call(rs, "10.0.0.9", sess, 1, 60, 10));
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(sess, sizeof sess, "flood-%d", i);
        CHECK(call(rs, "10.0.0.1", sess, 1, 60, 10));
    }
    CHECK(rate_store_keys(rs) == 40 + 50);
    /* Every key of the other address is still there: each is at its limit. */
    for (int i = 0; i < 40; i++) {
        snprintf(sess, sizeof sess, "other-%d", i);
        CHECK(!call(rs, "10.0.0.9", sess, 1, 60, 11));
    }
    rate_store_free(rs);
}

/* Keys whose window has emptied go before any that still counts. */
static void test_expired_first(void)
{
    struct rate_store_limits lim = {.max_keys = 200, .owner_keys = 200};
    struct rate_store *rs = rate_store_new_with(&lim);
    CHECK(rs != NULL);
    if (!rs)
        return;
    char sess[32], addr[32];
    /* 20 live keys at their limit, 180 that expire at t=70. */
    for (int i = 0; i < 20; i++) {
        snprintf(sess, sizeof sess, "live-%d", i);
        CHECK(call(rs, "10.0.0.1", sess, 1, 3600, 10));
    }
    for (int i = 0; i < 180; i++) {
        snprintf(sess, sizeof sess, "old-%d", i);
        snprintf(addr, sizeof addr, "10.1.0.%d", i);
        CHECK(call(rs, addr, sess, 1, 60, 10));
    }
    CHECK(rate_store_keys(rs) == 200);
    for (int i = 0; i < 150; i++) {
        snprintf(sess, sizeof sess, "new-%d", i);
        CHECK(call(rs, "10.0.0.3", sess, 1, 3600, 100));
    }
    for (int i = 0; i < 20; i++) {
        snprintf(sess, sizeof sess, "live-%d", i);
        CHECK(!call(rs, "10.0.0.1", sess, 1, 3600, 101));
    }
    rate_store_free(rs);
}

/* Bytes: large logs evict others to stay within max_bytes; a log larger
 * than a quarter of the budget is refused as the table's own failure. */
static void test_bytes(void)
{
    struct rate_store_limits lim = {.max_keys = 1000, .max_bytes = 1u << 20, .owner_keys = 1000};
    struct rate_store *rs = rate_store_new_with(&lim);
    CHECK(rs != NULL);
    if (!rs)
        return;
    char sess[32];
    for (int i = 0; i < 500; i++) {
        snprintf(sess, sizeof sess, "s%d", i);
        CHECK(call(rs, "10.0.0.1", sess, 10000, 60, 10)); /* 80 KB logs */
        CHECK(rate_store_bytes(rs) <= lim.max_bytes);
    }
    CHECK(rate_store_keys(rs) < 13);
    char key[] = "huge";
    struct rate_check c = {key, 4, 100000, 60};
    size_t refused = 0;
    double retry = 0;
    CHECK(!rate_admit(rs, "10.0.0.1", 8, &c, 1, 10, &refused, &retry));
    CHECK(refused == 1 && retry > 0);
    rate_store_free(rs);
}

int main(void)
{
    test_window();
    test_flood();
    test_owner();
    test_expired_first();
    test_bytes();
    return check_report();
}
