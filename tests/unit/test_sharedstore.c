/* warden.shared's byte budget: the issue's RSS-growth case (2,500 writes of
 * 60 kB) stays within it, a full store refuses writes whole and a Lua
 * policy that hits it fails closed, expired keys and deletes give bytes
 * back; and its hash is keyed at random. */
#include "../../src/sharedstore.c"

#include <malloc.h>
#include <unistd.h>

#include "check.h"
#include "luapolicy.h"

static struct shared_value str_value(const char *s, size_t len)
{
    return (struct shared_value){.type = SHARED_STRING, .s = s, .len = len};
}

/* 2,500 writes of 60 kB grew RSS by 144 MiB; now they stop at the budget. */
static void test_issue_case(void)
{
    struct shared_store *st = shared_store_new(NULL);
    CHECK(st != NULL);
    if (!st)
        return;
    size_t empty = shared_store_bytes(st);
    CHECK(empty < SHARED_STORE_TOTAL / 32);
    static char value[60000];
    memset(value, 'v', sizeof value);
    struct shared_value v = str_value(value, sizeof value);
    int stored = 0, full = 0;
    for (int i = 0; i < 2500; i++) {
        char key[32];
        int klen = snprintf(key, sizeof key, "session:%d", i);
        const char *err = NULL;
        if (shared_store_set(st, key, (size_t)klen, &v, 0, 1, &err) == 0)
            stored++;
        else
            full += err && strcmp(err, "warden.shared is full") == 0;
        CHECK(shared_store_bytes(st) <= SHARED_STORE_TOTAL);
    }
    CHECK(stored + full == 2500);
    /* What the store counts covers what malloc really handed out for its
     * entries (usable size plus glibc's 8-byte header), so the budget bounds
     * the heap, not just the payload. */
    size_t real = 0, counted = 0;
    for (size_t b = 0; b < st->nbuckets; b++) {
        for (struct shared_entry *e = st->buckets[b]; e; e = e->next) {
            real += malloc_usable_size(e) + 8 + (e->s ? malloc_usable_size(e->s) + 8 : 0);
            counted += e->cost;
        }
    }
    CHECK(real <= counted);
    CHECK(counted >= (size_t)stored * sizeof value);
    /* The values alone are counted, so what is stored is what the budget allows. */
    CHECK((size_t)stored * sizeof value <= SHARED_STORE_TOTAL - empty);
    CHECK((size_t)(stored + 1) * (sizeof value + 200) > SHARED_STORE_TOTAL - empty);
    /* Small writes take what is left, then fail too; live keys stay. */
    struct shared_value one = {.type = SHARED_INT, .i = 1};
    const char *err = NULL;
    int small = 0;
    char key[32];
    for (; small < 100000; small++) {
        int klen = snprintf(key, sizeof key, "n%d", small);
        if (shared_store_set(st, key, (size_t)klen, &one, 0, 1, &err) != 0)
            break;
    }
    CHECK(small < 60000 / 64);
    CHECK_STR(err, "warden.shared is full");
    CHECK(shared_store_bytes(st) <= SHARED_STORE_TOTAL);
    CHECK(shared_store_set(st, "new", 3, &one, 0, 1, &err) == -1);
    char buf[SHARED_STORE_VALUE];
    struct shared_value got;
    shared_store_get(st, "session:0", 9, 1, &got, buf);
    CHECK(got.type == SHARED_STRING && got.len == sizeof value);
    /* Deleting gives the bytes back. */
    struct shared_value del = {.type = SHARED_NIL};
    CHECK(shared_store_set(st, "session:0", 9, &del, 0, 1, &err) == 0);
    CHECK(shared_store_set(st, "new", 3, &one, 0, 1, &err) == 0);
    shared_store_free(st);
}

/* A replacement that does not fit fails whole; expired keys make room. */
static void test_full(void)
{
    struct shared_limits lim = {.max_keys = 16, .max_value = 4096, .max_total = 0};
    struct shared_store *probe = shared_store_new(&lim);
    CHECK(probe != NULL);
    if (!probe)
        return;
    lim.max_total = shared_store_bytes(probe) + 2 * entry_cost(1, true, 4096) + entry_cost(1, true, 10);
    shared_store_free(probe);
    struct shared_store *st = shared_store_new(&lim);
    CHECK(st != NULL);
    if (!st)
        return;
    static char big[4096];
    memset(big, 'b', sizeof big);
    struct shared_value v = str_value(big, sizeof big), small = str_value("0123456789", 10);
    const char *err = NULL;
    CHECK(shared_store_set(st, "a", 1, &v, 0, 1, &err) == 0);
    CHECK(shared_store_set(st, "b", 1, &v, 10, 1, &err) == 0); /* expires at 11 */
    CHECK(shared_store_set(st, "c", 1, &small, 0, 1, &err) == 0);
    CHECK(shared_store_set(st, "d", 1, &small, 0, 1, &err) == -1);
    CHECK_STR(err, "warden.shared is full");
    long long n;
    CHECK(shared_store_incr(st, "e", 1, 1, 0, 1, &n, &err) == -1);
    CHECK_STR(err, "warden.shared is full");
    /* "c" cannot grow to 4 KiB: it keeps its value. */
    CHECK(shared_store_set(st, "c", 1, &v, 0, 1, &err) == -1);
    char buf[4096];
    struct shared_value got;
    shared_store_get(st, "c", 1, 1, &got, buf);
    CHECK(got.type == SHARED_STRING);
    CHECK_MEM(got.s, got.len, "0123456789");
    /* Shrinking always fits. */
    CHECK(shared_store_set(st, "a", 1, &small, 0, 1, &err) == 0);
    CHECK(shared_store_set(st, "c", 1, &v, 0, 1, &err) == 0);
    CHECK(shared_store_set(st, "d", 1, &v, 0, 1, &err) == -1);
    /* Once "b" has expired its bytes are free again. */
    CHECK(shared_store_set(st, "d", 1, &v, 0, 11, &err) == 0);
    shared_store_get(st, "b", 1, 11, &got, buf);
    CHECK(got.type == SHARED_NIL);
    CHECK(shared_store_bytes(st) <= lim.max_total);
    shared_store_free(st);
}

/* Two stores hash the same key differently: the key is random. */
static void test_seed(void)
{
    struct shared_store *a = shared_store_new(NULL), *b = shared_store_new(NULL);
    CHECK(a && b);
    if (a && b) {
        int same = 0;
        for (int i = 0; i < 8; i++) {
            char key[16];
            int len = snprintf(key, sizeof key, "k%d", i);
            same += hash_key(a, key, (size_t)len) == hash_key(b, key, (size_t)len);
        }
        CHECK(same < 8);
    }
    shared_store_free(a);
    shared_store_free(b);
}

/* A policy that fills the store fails closed, and the next call works. */
static void test_lua_full(void)
{
    char path[] = "/tmp/warden-shared-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    static const char src[] = "return { on_call = function(call)\n"
                              "  if call.tool == 'fill' then\n"
                              "    for i = 1, 1000 do warden.shared.set('k' .. i, ('x'):rep(60000)) end\n"
                              "  end\n"
                              "  return warden.allow('fine')\n"
                              "end }\n";
    CHECK(write(fd, src, sizeof src - 1) == (ssize_t)(sizeof src - 1));
    close(fd);
    struct shared_store *st = shared_store_new(&(struct shared_limits){.max_total = 4u << 20});
    char err[512];
    struct lua_policy *lp = st ? lua_policy_load(path, NULL, st, "srv", err, sizeof err) : NULL;
    CHECK(lp != NULL);
    if (lp) {
        struct rpc_msg msg = {.kind = RPC_REQUEST, .method = "tools/call", .tool = "fill", .id_text = "1", .id_len = 1};
        struct call_ctx ctx = {.server = "srv", .session = "s", .session_len = 1, .now = 1};
        struct decision d;
        lua_policy_on_call(lp, &msg, &ctx, NULL, &d);
        CHECK(d.verdict == VERDICT_ERROR);
        CHECK(shared_store_bytes(st) <= 4u << 20);
        msg.tool = "other";
        lua_policy_on_call(lp, &msg, &ctx, NULL, &d);
        CHECK(d.verdict == VERDICT_ALLOW);
    }
    lua_policy_free(lp);
    shared_store_free(st);
    unlink(path);
}

int main(void)
{
    test_issue_case();
    test_full();
    test_seed();
    test_lua_full();
    return check_report();
}
