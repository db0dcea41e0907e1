#include "era.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "base64.h"
#include "http.h"
#include "jsonrpc.h"
#include "reply.h"

/* The first stateless revision: from it on every result carries resultType. */
#define FIRST_MODERN "2026-07-28"

static const char *const cacheable_lists[] = {"tools/list", "prompts/list", "resources/list",
                                              "resources/templates/list"};

__attribute__((format(printf, 3, 4))) static int fail(struct era_error *err, int code, const char *fmt, ...)
{
    err->status = 400;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static bool span_is(const char *p, size_t len, const char *s)
{
    return p && strlen(s) == len && memcmp(p, s, len) == 0;
}

/* Dates in the same form compare as strings. */
static bool version_modern(const char *v, size_t len)
{
    return len == 10 && memcmp(v, FIRST_MODERN, 10) >= 0;
}

/* Decodes standard Base64 (padding optional) into out; returns the length,
 * or SIZE_MAX for text that is not Base64 or does not fit. */
static size_t b64_decode(const char *s, size_t len, char *out, size_t cap)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return SIZE_MAX;
    size_t n = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < len; i++) {
        int d = base64_digit((unsigned char)s[i], false);
        if (d < 0)
            return SIZE_MAX;
        acc = (acc << 6 | (unsigned)d) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= cap)
                return SIZE_MAX;
            out[n++] = (char)(acc >> bits & 0xff);
        }
    }
    return n;
}

/* A mirrored header's value as the client meant it: the "=?base64?...?="
 * sentinel decoded, a plain value as it is (visible ASCII, space, tab).
 * Returns the length in buf, or SIZE_MAX when the value is malformed. */
static size_t header_value(const char *v, size_t len, char *buf, size_t cap)
{
    static const char pre[] = "=?base64?", suf[] = "?=";
    if (len >= sizeof pre - 1 + sizeof suf - 1 && memcmp(v, pre, sizeof pre - 1) == 0 &&
        memcmp(v + len - (sizeof suf - 1), suf, sizeof suf - 1) == 0)
        return b64_decode(v + sizeof pre - 1, len - (sizeof pre - 1) - (sizeof suf - 1), buf, cap);
    if (len > cap)
        return SIZE_MAX;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || (unsigned char)v[i] > 0x7e)
            return SIZE_MAX;
    memcpy(buf, v, len);
    return len;
}

/* The body value Mcp-Name mirrors for this method ("" when it is not a
 * string), or NULL when it has none. */
static const char *name_source(const struct rpc_msg *msg, const char **field)
{
    *field = NULL;
    if (strcmp(msg->method, "tools/call") == 0 || strcmp(msg->method, "prompts/get") == 0) {
        *field = "name";
        return msg->name ? msg->name : "";
    }
    if (strcmp(msg->method, "resources/read") == 0) {
        *field = "uri";
        return msg->uri ? msg->uri : "";
    }
    return NULL;
}

static int check_name(const struct http_head *h, const struct rpc_msg *msg, bool modern, struct era_error *err)
{
    size_t vlen;
    const char *v = http_header_field(h, HF_MCP_NAME, &vlen);
    const char *field;
    const char *body = msg->method ? name_source(msg, &field) : NULL;
    if (!v) {
        if (modern && body)
            return fail(err, MCP_HEADER_MISMATCH, "Header mismatch: the Mcp-Name header is required for %s",
                        msg->method);
        return 0;
    }
    if (!body)
        return fail(err, MCP_HEADER_MISMATCH, "Header mismatch: Mcp-Name sent with %s, which names nothing",
                    msg->method ? msg->method : "a message without a method");
    char buf[1024];
    size_t n = header_value(v, vlen, buf, sizeof buf - 1);
    if (n == SIZE_MAX)
        return fail(err, MCP_HEADER_MISMATCH, "Header mismatch: the Mcp-Name header is malformed");
    buf[n] = '\0';
    if (strlen(body) != n || memcmp(body, buf, n) != 0)
        return fail(err, MCP_HEADER_MISMATCH, "Header mismatch: the Mcp-Name header does not match params.%s", field);
    return 0;
}

static int check_method(const struct http_head *h, const struct rpc_msg *msg, bool modern, struct era_error *err)
{
    size_t vlen;
    const char *v = http_header_field(h, HF_MCP_METHOD, &vlen);
    if (!v) {
        if (modern && msg->kind == RPC_REQUEST)
            return fail(err, MCP_HEADER_MISMATCH, "Header mismatch: the Mcp-Method header is required");
        return 0;
    }
    if (!msg->method || !span_is(v, vlen, msg->method))
        return fail(err, MCP_HEADER_MISMATCH,
                    "Header mismatch: the Mcp-Method header does not match the body's method %s",
                    msg->method ? msg->method : "(none)");
    return 0;
}

/* params._meta["io.modelcontextprotocol/protocolVersion"]: 1 with the
 * string, 0 when absent, -1 when it is not a string. */
static int body_version(const struct rpc_msg *msg, const char **v)
{
    if (msg->version_not_string)
        return -1;
    *v = msg->version;
    return msg->version != NULL;
}

static int check_version(const struct http_head *h, const struct rpc_msg *msg, bool *modern, struct era_error *err)
{
    size_t hlen;
    const char *hv = http_header_field(h, HF_MCP_PROTOCOL_VERSION, &hlen);
    const char *bv = NULL;
    int has_body = body_version(msg, &bv);
    if (has_body < 0)
        return fail(err, RPC_INVALID_PARAMS,
                    "Invalid params: _meta io.modelcontextprotocol/protocolVersion is not a string");
    if (bv && (!hv || !span_is(hv, hlen, bv)))
        return fail(err, MCP_HEADER_MISMATCH,
                    "Header mismatch: MCP-Protocol-Version does not match _meta protocolVersion %s", bv);
    *modern = (hv && version_modern(hv, hlen)) || (bv && version_modern(bv, strlen(bv)));
    /* As a 2026-07-28 server answers a request without its envelope. */
    if (*modern && !bv && msg->kind == RPC_REQUEST)
        return fail(err, RPC_INVALID_PARAMS,
                    "Invalid params: the MCP-Protocol-Version header names a %s revision, but the request has no "
                    "_meta io.modelcontextprotocol/protocolVersion",
                    FIRST_MODERN);
    return 0;
}

static int check_params(const struct http_head *h, struct era_error *err)
{
    for (size_t i = 0; i < h->nheaders; i++) {
        const char *name, *value;
        size_t nlen, vlen;
        http_header_at(h, i, &name, &nlen, &value, &vlen);
        /* A field the reader classified (Mcp-Session-Id...) is none; the
         * first letter rules out almost every other header without a call. */
        if (h->fields && h->fields[i] != HF_OTHER)
            continue;
        if (nlen > 10 && (name[0] | 0x20) == 'm' && strncasecmp(name, "mcp-param-", 10) == 0)
            return fail(err, MCP_HEADER_MISMATCH,
                        "Header mismatch: warden cannot check Mcp-Param-* headers against the tool's x-mcp-header "
                        "fields; send the call without them");
    }
    return 0;
}

int era_read(const struct http_head *h, struct rpc_msg *msg, struct era_req *out, struct era_error *err)
{
    *out = (struct era_req){0};
    bool modern = false;
    if (check_version(h, msg, &modern, err) < 0 || check_method(h, msg, modern, err) < 0 ||
        check_name(h, msg, modern, err) < 0 || check_params(h, err) < 0)
        return -1;
    out->modern = modern;
    if (msg->kind == RPC_REQUEST && msg->method) {
        out->task = msg->task;
        if (strcmp(msg->method, "subscriptions/listen") == 0) {
            const cJSON *params;
            if (rpc_msg_params(msg, &params) < 0) {
                fail(err, RPC_INTERNAL_ERROR, "Internal error: out of memory");
                err->status = 503;
                return -1;
            }
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(params, "notifications");
            out->listen_tools =
                cJSON_IsTrue(cJSON_IsObject(n) ? cJSON_GetObjectItemCaseSensitive(n, "toolsListChanged") : NULL);
        }
        for (size_t i = 0; i < sizeof cacheable_lists / sizeof cacheable_lists[0]; i++)
            out->list = out->list || strcmp(msg->method, cacheable_lists[i]) == 0;
    }
    return 0;
}

void era_format_answer(struct evbuffer *b, const struct era_req *e, const char *id, size_t id_len, enum era_answer kind,
                       int code, const char *text)
{
    if (kind == ERA_UNKNOWN_TOOL) {
        reply_format_rpc_error(b, id, id_len, RPC_INVALID_PARAMS, text);
    } else if (kind == ERA_ERROR) {
        reply_format_rpc_error(b, id, id_len, code, text);
    } else if (e && e->task) {
        /* The client asked for a task: a tool result would break its schema. */
        reply_format_rpc_error(b, id, id_len, RPC_INVALID_REQUEST, text);
    } else if (e && e->modern) {
        evbuffer_add_printf(b, "{\"jsonrpc\":\"2.0\",\"id\":");
        evbuffer_add(b, id, id_len);
        evbuffer_add_printf(b, ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":");
        json_append_string(b, text, strlen(text));
        evbuffer_add_printf(b, "}],\"isError\":true,\"resultType\":\"complete\"}}");
    } else {
        reply_format_tool_refusal(b, id, id_len, text);
    }
}

void era_format_input_required(struct evbuffer *b, const char *id, size_t id_len, const char *key,
                               const char *message, const char *url, const char *state)
{
    evbuffer_add_printf(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    evbuffer_add(b, id, id_len);
    evbuffer_add_printf(b, ",\"result\":{\"resultType\":\"input_required\",\"inputRequests\":{");
    json_append_string(b, key, strlen(key));
    evbuffer_add_printf(b, ":{\"method\":\"elicitation/create\",\"params\":{\"mode\":\"url\",\"message\":");
    json_append_string(b, message, strlen(message));
    evbuffer_add_printf(b, ",\"url\":");
    json_append_string(b, url, strlen(url));
    evbuffer_add_printf(b, "}}},\"requestState\":");
    json_append_string(b, state, strlen(state));
    evbuffer_add_printf(b, "}}");
}
