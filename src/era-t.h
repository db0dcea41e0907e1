/* Types of per-request era detection (era.c). */
#ifndef WARDEN_ERA_T_H
#define WARDEN_ERA_T_H
#include <stdbool.h>

/* The error code the 2026-07-28 revision gives headers that do not mirror
 * the body (schema: HeaderMismatchError). */
enum { MCP_HEADER_MISMATCH = -32020 };

/* What warden knows of the era of one client request, read once before any
 * policy, so that warden's own answers take the shape the client expects. */
struct era_req {
    bool modern; /* 2026-07-28 or later: stateless, resultType on every result */
    bool task;   /* a task-augmented request (2025-11-25 params.task): a plain result is not what it expects */
    bool list;   /* a cacheable list request (tools/list, prompts/list, resources/list, resources/templates/list) */
    bool listen_tools; /* subscriptions/listen asking for notifications/tools/list_changed */
};
#endif
