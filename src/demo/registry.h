/* registry.c: the demo model registry: an in-memory MLflow-like store
 * (experiments, runs, registered models with versions and aliases) and the
 * 40 tools of the MLflow MCP server acting on it. */
#ifndef WARDEN_DEMO_REGISTRY_H
#define WARDEN_DEMO_REGISTRY_H
#include <stdbool.h>
#include <cjson/cJSON.h>

struct registry;

/* A registry seeded with a few experiments, runs and models, among them
 * fraud-detector versions 1-3 with aliases champion (3) and challenger (2). */
struct registry *registry_new(void);
void registry_free(struct registry *r);

/* The tools/list result: every tool with its schema and annotations (caller frees). */
cJSON *registry_tool_list(void);

/* Runs a tool. Returns a tools/call result (caller frees), or NULL when the
 * tool does not exist. Bad arguments and failed lookups are results with
 * isError true, as MCP asks. */
cJSON *registry_call(struct registry *r, const char *tool, const cJSON *args);
#endif
