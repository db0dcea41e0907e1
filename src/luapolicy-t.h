/* Types of the Lua policy engine (luapolicy.c). */
#ifndef WARDEN_LUAPOLICY_T_H
#define WARDEN_LUAPOLICY_T_H
#include <stddef.h>
#include <cjson/cJSON.h>

/* Bounds on one policy; 0 means the built-in default (in brackets). */
struct lua_limits {
    size_t mem_bytes;           /* the policy's whole lua_State [16 MiB] */
    unsigned long instructions; /* VM instructions per call, and for loading [1,000,000] */
    unsigned wall_ms;           /* wall-clock time per call, and for loading [50 ms] */
    size_t max_string;          /* bytes of any string in the state, arguments
                                   included [64 KiB] */
};

/* One request header a policy may see; the proxy passes an allow-list. */
struct lua_header {
    const char *name;
    const char *value;
    size_t value_len;
};

/* What a tools/call decision may see beyond the message; all borrowed for the
 * duration of the call, any part may be empty. */
struct lua_call_extra {
    const struct lua_header *headers;
    size_t nheaders;
    const cJSON *tool_meta;     /* the tool's annotations as last listed, or NULL */
    const char *tool_class;     /* "read", "write", "destructive", "unknown" (riskclass.h), or NULL */
    const cJSON *principal;     /* the caller's principal document (auth.h), or NULL */
};
#endif
