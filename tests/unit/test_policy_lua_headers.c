/* The request headers a Lua policy sees (call.headers): the allow-listed
 * fields of the head warden read, found by their class, never credentials,
 * and the same for a head built by hand (no classes). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "http.h"
#include "jsonrpc.h"
#include "policy.h"
#include "policy_file.h"
#include "ratelimit.h"

static char dir[] = "/tmp/warden-test-luahdr-XXXXXX";

static int on_head(void *o) { (void)o; return 0; }
static int on_body(void *o, const char *at, size_t len) { (void)o; (void)at; (void)len; return 0; }
static int on_complete(void *o) { (void)o; return 0; }
static const struct http_reader_ops ops = {on_head, on_body, on_complete};

/* The script lists what it sees, sorted, as the deny reason. */
static const char script[] =
    "return {on_call = function(call)\n"
    "  local seen = {}\n"
    "  for k, v in pairs(call.headers) do seen[#seen + 1] = k .. '=' .. v end\n"
    "  table.sort(seen)\n"
    "  return warden.deny(table.concat(seen, ';'))\n"
    "end}\n";

static void decide(struct policy_set *ps, const struct http_head *head, char *reason, size_t len)
{
    static const char text[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"t\"}}";
    struct rpc_msg m;
    struct rpc_error e;
    CHECK(rpc_parse(text, strlen(text), NULL, &m, &e) == 0);
    struct rate_store *rs = rate_store_new();
    struct call_ctx ctx = {.server = "s", .session = "sess", .session_len = 4, .client_addr = "c", .now = 100,
                           .head = head};
    struct decision d;
    policy_decide(ps, rs, &m, &ctx, &d);
    CHECK(d.verdict == VERDICT_DENY);
    /* the reason ends with " (policy FILE:LINE)" */
    snprintf(reason, len, "%s", d.reason);
    char *tail = strstr(reason, " (policy ");
    CHECK(tail != NULL);
    if (tail)
        *tail = '\0';
    rate_store_free(rs);
    rpc_msg_clear(&m);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    struct policy_set *ps = policy_from_text(dir, "p.lua", script);
    CHECK(ps != NULL);
    if (!ps)
        return check_report();
    static const char req[] = "POST /mcp HTTP/1.1\r\n"
                              "Host: a.test\r\n"
                              "User-Agent: ua/1\r\n"
                              "Authorization: Bearer secret\r\n"
                              "Cookie: c=1\r\n"
                              "X-Agent-Name: bot\r\n"
                              "MCP-Protocol-Version: 2025-06-18\r\n"
                              "traceparent: 00-ab-cd-01\r\n"
                              "X-Other: 1\r\n"
                              "Content-Length: 0\r\n\r\n";
    struct http_reader r;
    http_reader_init(&r, HTTP_REQUEST, &ops, NULL, 16384, 64);
    http_reader_feed(&r, req, sizeof req - 1);
    CHECK(r.in_body && !http_reader_failed(&r, NULL, NULL));
    char reason[512];
    decide(ps, &r.head, reason, sizeof reason);
    CHECK_STR(reason, "mcp-protocol-version=2025-06-18;traceparent=00-ab-cd-01;user-agent=ua/1;x-agent-name=bot");
    http_reader_free(&r);

    /* A head built by hand: found by name. */
    char buf[] = "User-Agentua/2authorizationBearer x";
    struct http_header hs[] = {
        {.name_off = 0, .name_len = 10, .value_off = 10, .value_len = 4},
        {.name_off = 14, .name_len = 13, .value_off = 27, .value_len = 8},
    };
    struct http_head h = {.buf = buf, .len = sizeof buf - 1, .headers = hs, .nheaders = 2};
    decide(ps, &h, reason, sizeof reason);
    CHECK_STR(reason, "user-agent=ua/2");

    policy_set_free(ps);
    rmdir(dir);
    return check_report();
}
