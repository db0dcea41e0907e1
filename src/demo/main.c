/* warden-demo-registry: the demo model registry as an MCP server on
 * stdin/stdout (newline-delimited JSON-RPC), for warden's quick start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsonrpc.h"
#include "registry.h"

#define MAX_LINE (4 * 1024 * 1024)

static const char *const versions[] = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"};

/* Writes one JSON-RPC response, echoing the request's id byte for byte. */
static void respond(const char *id, size_t id_len, cJSON *result, int code, const char *message)
{
    fputs("{\"jsonrpc\":\"2.0\",\"id\":", stdout);
    if (id)
        fwrite(id, 1, id_len, stdout);
    else
        fputs("null", stdout);
    if (result) {
        char *text = cJSON_PrintUnformatted(result);
        printf(",\"result\":%s}\n", text ? text : "{}");
        free(text);
    } else {
        cJSON *msg = cJSON_CreateString(message);
        char *text = cJSON_PrintUnformatted(msg);
        printf(",\"error\":{\"code\":%d,\"message\":%s}}\n", code, text ? text : "\"error\"");
        free(text);
        cJSON_Delete(msg);
    }
    fflush(stdout);
}

static cJSON *initialize_result(const cJSON *params)
{
    const cJSON *asked = cJSON_GetObjectItemCaseSensitive(params, "protocolVersion");
    const char *version = "2025-06-18";
    for (size_t i = 0; i < sizeof versions / sizeof *versions; i++)
        if (cJSON_IsString(asked) && !strcmp(asked->valuestring, versions[i]))
            version = versions[i];
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "protocolVersion", version);
    cJSON_AddBoolToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(r, "capabilities"), "tools"), "listChanged", false);
    cJSON *info = cJSON_AddObjectToObject(r, "serverInfo");
    cJSON_AddStringToObject(info, "name", "warden-demo-registry");
    cJSON_AddStringToObject(info, "version", "1.0.0");
    cJSON_AddStringToObject(r, "instructions", "A demo MLflow model registry: experiments, runs and registered models.");
    return r;
}

/* Handles one line; requests get exactly one answer, notifications none. */
static void handle(struct registry *reg, const char *line, size_t len)
{
    struct rpc_msg msg;
    struct rpc_error err;
    if (rpc_parse(line, len, NULL, &msg, &err) < 0) {
        const char *id = NULL;
        size_t id_len = 0;
        if (err.code != RPC_PARSE_ERROR)
            rpc_find_id(line, len, &id, &id_len);
        respond(id, id_len, NULL, err.code, err.message);
        return;
    }
    if (msg.kind != RPC_REQUEST) {
        rpc_msg_clear(&msg);
        return;
    }
    cJSON *result = NULL;
    const cJSON *params = NULL, *args = NULL;
    if (rpc_msg_params(&msg, &params) < 0 || rpc_msg_args(&msg, &args) < 0)
        respond(msg.id_text, msg.id_len, NULL, RPC_INTERNAL_ERROR, "Out of memory");
    else if (!strcmp(msg.method, "initialize"))
        result = initialize_result(params);
    else if (!strcmp(msg.method, "ping"))
        result = cJSON_CreateObject();
    else if (!strcmp(msg.method, "tools/list"))
        result = registry_tool_list();
    else if (!strcmp(msg.method, "tools/call")) {
        result = registry_call(reg, msg.tool, args);
        if (!result) {
            char text[300];
            snprintf(text, sizeof text, "Unknown tool: %s", msg.tool);
            respond(msg.id_text, msg.id_len, NULL, RPC_INVALID_PARAMS, text);
        }
    } else {
        respond(msg.id_text, msg.id_len, NULL, RPC_METHOD_NOT_FOUND, "Method not found");
    }
    if (result)
        respond(msg.id_text, msg.id_len, result, 0, NULL);
    cJSON_Delete(result);
    rpc_msg_clear(&msg);
}

int main(void)
{
    struct registry *reg = registry_new();
    if (!reg) {
        fprintf(stderr, "warden-demo-registry: out of memory\n");
        return 1;
    }
    fprintf(stderr, "warden-demo-registry: serving MCP on stdio\n");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len > MAX_LINE) {
            respond(NULL, 0, NULL, RPC_INVALID_REQUEST, "message longer than 4 MiB");
            continue;
        }
        if (len)
            handle(reg, line, len);
    }
    free(line);
    registry_free(reg);
    return 0;
}
