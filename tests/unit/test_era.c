/* Unit tests of era.c: which era a request speaks, the 2026-07-28 request
 * metadata headers checked against the body (plain and Base64 Mcp-Name,
 * version header against _meta, missing or extra headers, Mcp-Param-*), and
 * the shape of warden's own answers per era and request kind. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "era.h"
#include "http.h"
#include "jsonrpc.h"

static int on_head(void *o)
{
    (void)o;
    return 0;
}
static int on_body(void *o, const char *at, size_t len)
{
    (void)o, (void)at, (void)len;
    return 0;
}
static int on_complete(void *o)
{
    (void)o;
    return 0;
}
static const struct http_reader_ops ops = {on_head, on_body, on_complete};

#define META "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}"
#define CALL(name) \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"" name "\"," META "}}"

static struct era_error err;
static struct era_req era;

/* era_read over a request with these header lines ("Name: value\r\n"...) and body. */
static int read_era(const char *headers, const char *body)
{
    char raw[4096];
    snprintf(raw, sizeof raw,
             "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s"
             "Content-Length: %zu\r\n\r\n%s",
             headers, strlen(body), body);
    struct http_reader r;
    http_reader_init(&r, HTTP_REQUEST, &ops, NULL, 16384, 64);
    http_reader_feed(&r, raw, strlen(raw));
    int status;
    const char *why;
    CHECK(!http_reader_failed(&r, &status, &why));
    struct rpc_msg msg;
    struct rpc_error perr;
    int rc = -2;
    if (rpc_parse(body, strlen(body), NULL, &msg, &perr) == 0) {
        memset(&err, 0, sizeof err);
        rc = era_read(&r.head, &msg, &era, &err);
        rpc_msg_clear(&msg);
    }
    http_reader_free(&r);
    return rc;
}

static const char *answer(const struct era_req *e, enum era_answer kind, const char *text)
{
    static char buf[1024];
    struct evbuffer *b = evbuffer_new();
    era_format_answer(b, e, "7", 1, kind, -32603, text);
    size_t n = evbuffer_get_length(b);
    memcpy(buf, evbuffer_pullup(b, -1), n);
    buf[n] = '\0';
    evbuffer_free(b);
    return buf;
}

int main(void)
{
    const char *modern = "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\n";
    char h[512];

    /* a modern call whose headers mirror the body, plain or Base64 */
    snprintf(h, sizeof h, "%sMcp-Name: echo\r\n", modern);
    CHECK(read_era(h, CALL("echo")) == 0 && era.modern && !era.task && !era.list);
    snprintf(h, sizeof h, "%sMcp-Name: =?base64?ZWNobw==?=\r\n", modern);
    CHECK(read_era(h, CALL("echo")) == 0);
    snprintf(h, sizeof h, "%sMcp-Name: =?base64?ZWNobw?=\r\n", modern); /* padding is optional */
    CHECK(read_era(h, CALL("echo")) == 0);
    /* a name outside ASCII arrives Base64-encoded: "é" */
    snprintf(h, sizeof h, "%sMcp-Name: =?base64?w6k=?=\r\n", modern);
    CHECK(read_era(h, CALL("\\u00e9")) == 0);

    /* mismatches: 400 -32020 */
    snprintf(h, sizeof h, "%sMcp-Name: delete_everything\r\n", modern);
    CHECK(read_era(h, CALL("echo")) == -1 && err.status == 400 && err.code == MCP_HEADER_MISMATCH);
    snprintf(h, sizeof h, "%sMcp-Name: =?base64?ZGVsZXRl?=\r\n", modern);
    CHECK(read_era(h, CALL("echo")) == -1 && err.code == MCP_HEADER_MISMATCH);
    snprintf(h, sizeof h, "%sMcp-Name: =?base64?not*base64?=\r\n", modern);
    CHECK(read_era(h, CALL("echo")) == -1 && err.code == MCP_HEADER_MISMATCH);
    snprintf(h, sizeof h, "%sMcp-Name: ECHO\r\n", modern); /* values are case-sensitive */
    CHECK(read_era(h, CALL("echo")) == -1);
    CHECK(read_era(modern, CALL("echo")) == -1 && strstr(err.message, "Mcp-Name header is required"));
    CHECK(read_era("MCP-Protocol-Version: 2026-07-28\r\nMcp-Name: echo\r\n", CALL("echo")) == -1 &&
          strstr(err.message, "Mcp-Method header is required"));
    CHECK(read_era("MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/list\r\nMcp-Name: echo\r\n", CALL("echo")) ==
          -1);
    CHECK(read_era("MCP-Protocol-Version: 2025-11-25\r\nMcp-Method: tools/call\r\nMcp-Name: echo\r\n", CALL("echo")) ==
              -1 &&
          err.code == MCP_HEADER_MISMATCH);
    CHECK(read_era("Mcp-Method: tools/call\r\nMcp-Name: echo\r\n", CALL("echo")) == -1); /* _meta without the header */
    /* the header says 2026-07-28, the body has no _meta version: -32602, as such a server answers */
    CHECK(read_era("MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/list\r\n",
                   "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}") == -1 &&
          err.status == 400 && err.code == -32602);
    snprintf(h, sizeof h, "%sMcp-Name: echo\r\nMcp-Param-Region: us\r\n", modern);
    CHECK(read_era(h, CALL("echo")) == -1 && strstr(err.message, "Mcp-Param"));

    /* a version warden does not know is the upstream's to refuse; a later date is modern */
    CHECK(read_era("MCP-Protocol-Version: 2099-01-01\r\nMcp-Method: tools/list\r\n",
                   "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":"
                   "{\"io.modelcontextprotocol/protocolVersion\":\"2099-01-01\"}}}") == 0 &&
          era.modern);
    CHECK(read_era("MCP-Protocol-Version: 1.0\r\n", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}") == 0 &&
          !era.modern);

    /* 2025 requests: headers optional, but checked when present */
    CHECK(read_era("MCP-Protocol-Version: 2025-06-18\r\n",
                   "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"}}") == 0 &&
          !era.modern);
    CHECK(read_era("MCP-Protocol-Version: 2025-06-18\r\nMcp-Name: rm\r\n",
                   "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"}}") == -1);
    CHECK(read_era("",
                   "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":\"file:///a\"}}") ==
          0);
    CHECK(read_era("Mcp-Name: file:///b\r\n",
                   "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":\"file:///a\"}}") ==
          -1);
    CHECK(read_era("Mcp-Name: x\r\n", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}") == -1);
    /* kinds */
    CHECK(read_era("", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/"
                       "call\",\"params\":{\"name\":\"a\",\"task\":{\"ttl\":1}}}") == 0 &&
          era.task);
    CHECK(read_era("", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/list\"}") == 0 && era.list);
    CHECK(
        read_era("MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: subscriptions/listen\r\n",
                 "{\"jsonrpc\":\"2.0\",\"id\":\"l\",\"method\":\"subscriptions/listen\",\"params\":{\"notifications\":"
                 "{\"toolsListChanged\":true}," META "}}") == 0 &&
        era.listen_tools);

    /* answers */
    struct era_req legacy = {0}, modern_req = {.modern = true}, task = {.task = true};
    CHECK_STR(answer(&legacy, ERA_REFUSED, "no"), "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":"
                                                  "\"text\",\"text\":\"no\"}],\"isError\":true}}");
    CHECK_STR(
        answer(&modern_req, ERA_REFUSED, "no"),
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"no\"}],\"isError\":true,"
        "\"resultType\":\"complete\"}}");
    CHECK_STR(answer(&task, ERA_REFUSED, "no"),
              "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32600,\"message\":\"no\"}}");
    CHECK_STR(answer(&modern_req, ERA_UNKNOWN_TOOL, "Unknown tool: x"),
              "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32602,\"message\":\"Unknown tool: x\"}}");
    CHECK_STR(answer(NULL, ERA_ERROR, "down"),
              "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32603,\"message\":\"down\"}}");
    return check_report();
}
