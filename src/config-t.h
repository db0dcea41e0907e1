/* Types of warden's configuration (config.c): what the command line and the
 * config file say, validated, with every default filled in. */
#ifndef WARDEN_CONFIG_T_H
#define WARDEN_CONFIG_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A header warden adds to every request toward one server; the value is
 * resolved from the environment at load time ("${NAME}" in the file). */
struct header_conf {
    char *name;
    char *value;
};

/* One MCP server behind warden. */
struct server_conf {
    char *name;              /* "" with --upstream; the key in "servers" otherwise */
    char *path;              /* where clients reach it: "/mcp" or "/mcp/NAME" */
    char *url;               /* as written: http[s]://HOST[:PORT][/PATH] */
    bool tls;                /* https://: verified TLS (tls.h), with SNI and the host name checked */
    char *ca;                /* https: a PEM file of the CAs to trust instead of the system's, or NULL */
    char *host;              /* parsed from url */
    uint16_t port;
    char *host_header;       /* "HOST:PORT" as sent upstream */
    char *upstream_path;     /* path part of url, "/" when absent */
    char **command;          /* stdio server: argv, NULL-terminated; NULL for HTTP */
    bool legacy_sse;         /* "transport": "sse": an old HTTP+SSE (2024-11-05) server (upstream_sse.h) */
    char **env;              /* stdio server: "NAME=VALUE" entries, NULL-terminated */
    char **policies;         /* policy files, NULL-terminated (may be empty) */
    size_t npolicies;
    char **policy_when;      /* NULL, or npolicies entries: the JSON text of the `when` binding policy i to
                              * principals (policy_set_bind), NULL for a policy every caller gets */
    struct auth *auth;       /* this server's own "auth" (auth.h), replacing the top-level one; or NULL */
    char *auth_text;         /* its JSON text, for telling a reload's change (confdiff.h); or NULL */
    char **shadow_policies;  /* evaluated and audited, never enforced; NULL-terminated (may be empty) */
    size_t nshadow_policies;
    struct header_conf *headers;
    size_t nheaders;
    bool pass_authorization; /* forward the client's Authorization (off: the spec forbids passthrough) */
    unsigned connect_timeout_ms;
    unsigned first_byte_timeout_ms;
    unsigned sse_idle_timeout_ms;
    unsigned max_connections;   /* upstream connections, open at once */
    bool trust_annotations;     /* its annotations decide tool classes (riskclass.h), not only raise them */
    char *pins;                 /* the pins file (pins.h), or NULL */
    int pin_mode;               /* enum pin_mode (pins.h): off, warn, block; block when pins is set alone */
};

/* The key requestState is signed with (approval_elicit.h), given by the
 * operator so that several wardens share it: the variable's name, and the
 * bytes read from it at load (hex, 32 to 64 bytes). len 0: none given. */
#define REQUEST_STATE_KEY_MIN 32
#define REQUEST_STATE_KEY_MAX 64
struct request_state_key {
    char *env;
    size_t len;
    unsigned char bytes[REQUEST_STATE_KEY_MAX];
};

/* Approval requests (approval.h): who hears that one waits, and the store's bound. */
struct approvals_conf {
    char **notify_command;      /* argv run with the record as JSON on stdin, NULL-terminated; NULL: none */
    char *webhook;              /* http://HOST[:PORT]/PATH the record is POSTed to; NULL: none */
    size_t max_requests;        /* records kept at once; default 1000 */
    struct request_state_key state_key; /* request_state_key_env */
};

/* Bounds on clients; every refusal they cause has its own HTTP status. */
struct limits_conf {
    size_t max_header_bytes;    /* 431 */
    size_t max_headers;         /* 431 */
    size_t max_body_bytes;      /* 413 */
    size_t max_json_depth;      /* -32700 */
    size_t max_sse_event_bytes; /* an upstream event larger than this ends the stream */
    size_t max_connections;     /* client connections; past it new ones are closed at once */
    unsigned header_timeout_ms; /* 408 */
    unsigned body_timeout_ms;   /* 408 */
    unsigned keepalive_timeout_ms;
    unsigned shutdown_grace_ms; /* SIGTERM: how long in-flight requests may take */
    unsigned max_list_ttl_ms;   /* a list result's ttlMs (2026-07-28) is capped to this */
};

struct auth;   /* auth.h */

/* A TLS listener's certificate chain and key (PEM files); both NULL: plain HTTP. */
struct tls_conf {
    char *cert;
    char *key;
};

/* A person who may use the console (and decide approvals): the SHA-256 of
 * their secret, never the secret itself. */
struct approver_conf {
    char *id;
    unsigned char sha256[32];
};

/* "state": where instances share rate limits (and, later, approvals and
 * pins); redis NULL: everything stays in this process. */
enum state_on_failure { STATE_FAIL_CLOSED, STATE_FAIL_LOCAL, STATE_FAIL_OPEN };
struct state_conf {
    char *redis;                /* "redis://HOST:PORT/DB" or "unix:/path"; NULL when unset */
    char *password_env;         /* the variable holding Redis's password, or NULL */
    char *key_prefix;           /* before every key warden writes; NULL means "warden:" */
    unsigned timeout_ms;        /* one command's deadline */
    int on_failure;             /* enum state_on_failure */
    unsigned instances;         /* wardens sharing the store: "local" divides limits by it */
};

struct config {
    struct auth *auth;          /* the top-level "auth" object (auth.h), or NULL: no authentication */
    char *auth_text;            /* its JSON text, for telling a reload's change (confdiff.h); or NULL */
    struct tls_conf tls;        /* the listener's (and the admin listener's) TLS, or none */
    char *listen_host;
    uint16_t listen_port;
    struct server_conf *servers;
    size_t nservers;
    struct approvals_conf approvals;
    struct limits_conf limits;
    char **allowed_origins;     /* NULL-terminated; "*" allows any */
    char **allowed_hosts;       /* NULL-terminated; names without port */
    int workers;
    bool stdio;                 /* serve one client on stdin/stdout */
    char *principal;            /* --stdio: who the desktop user is (--principal), or NULL (auth.h) */
    char *audit_log;            /* NULL when off; "-" for stdout */
    char *admin_listen;         /* "HOST:PORT" or NULL */
    struct approver_conf *approvers;  /* the console's accounts, "approvers" in the file */
    size_t napprovers;
    char *log_level;
    char *source;               /* the config file, or "command line" */
    const char *lua_path;       /* a directory of Lua helper modules, owned; NULL when unset */
    struct state_conf state;
};
#endif
