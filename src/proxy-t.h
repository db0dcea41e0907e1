/* Types of the gateway's moving parts: a worker (one event loop), the
 * servers it fronts, client connections, the exchange of one request with
 * an upstream, and pooled upstream connections. Who owns what:
 * - a worker owns its client connections, its server runtimes and their pools;
 *   it holds them by pointer (worker->servers), so that a config reload can
 *   add and remove servers without moving a runtime exchanges point at. A
 *   server a reload removed is "retired": no new request reaches it, and the
 *   worker frees it once no client's exchange points at it any more (its
 *   calls and streams in flight finish on it first; worker.c);
 * - a server runtime built by a reload holds a reference to the config_gen
 *   its conf points into; the generation is freed when no runtime, worker or
 *   reloader holds one (reload.c);
 * - a client connection owns its exchange (at most one: requests on a
 *   connection are answered in order, one at a time);
 * - an upstream connection is owned by its pool; while it serves an exchange
 *   both point at each other, and whichever side fails first detaches the other;
 * - a session of a stdio or legacy SSE server is owned by its server runtime
 *   (upstream_session.h); the exchanges waiting on it are listed in it and
 *   point back at it, detached the same way;
 * - the exchange's answer half (exchange.c) is the only code that writes an
 *   upstream's answer to a client; transports (transport.h) call exchange.h only;
 * - connections are never freed inside their own callbacks: client connections
 *   go on the worker's graveyard, upstream connections on their pool's, and
 *   each graveyard is emptied by one reaper event. */
#ifndef WARDEN_PROXY_T_H
#define WARDEN_PROXY_T_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <cjson/cJSON.h>
#include "auth.h"
#include "deadline.h"
#include "tls.h"
#include "config-t.h"
#include "era-t.h"
#include "http-t.h"
#include "jsonrpc-t.h"
#include "policy-t.h"
#include "sse-t.h"

/* glibc's sys/queue.h lacks the removal-safe iterator. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar) \
    for ((var) = TAILQ_FIRST((head)); (var) && ((tvar) = TAILQ_NEXT((var), field), 1); (var) = (tvar))
#endif

struct worker;
struct exchange;
struct transport;
struct policy_set;
struct rate_store;
struct session_table;
struct tool_meta;
struct pins;
struct pins_table;
struct pins_sync;
struct rate_park;     /* proxy.c */
struct state;         /* state.h */
struct approval_hold;
struct approval_store;
struct elicit_sessions;
struct legacy_hub;    /* legacy_sse.h */

/* An upstream connection, idle in its pool or serving one exchange. */
struct upstream_conn {
    struct bufferevent *bev;      /* connects and writes; reads until connected */
    struct event *rev;            /* reads once connected (upstream_http.c's own readv), else NULL */
    bool reading;                 /* reads are wanted (not paused, not closed) */
    struct upstream_pool *pool;
    struct exchange *ex;          /* NULL while idle */
    struct http_reader reader;    /* responses */
    struct deadline timer;        /* connect, first byte, idle */
    TAILQ_ENTRY(upstream_conn) link;
    bool connected;
    bool in_idle;                 /* in the pool's idle list */
    bool got_bytes;               /* some response byte arrived for the current exchange */
    bool dead;                    /* on the graveyard */
};
TAILQ_HEAD(upstream_list, upstream_conn);
TAILQ_HEAD(exchange_list, exchange);
LIST_HEAD(listener_list, exchange);

/* The keep-alive connections of one worker to one server, and the exchanges
 * waiting for one when max_connections are busy. */
struct upstream_pool {
    struct worker *worker;
    struct server_rt *server;
    struct upstream_list idle;
    struct exchange_list waiting; /* oldest first; each waits until its wait_deadline */
    struct event *wait_timer;     /* fires at the first waiting exchange's deadline */
    struct upstream_list graveyard; /* closed connections, freed by reaper */
    struct event *reaper;
    unsigned open;                /* connections open: idle, busy or connecting */
};

struct upstream_session; /* upstream_session-t.h: one session of a stdio or legacy SSE server */
TAILQ_HEAD(upsess_list, upstream_session);

/* One generation of a server's policies in one worker. A reload swaps in a
 * new one; exchanges that started on the old one keep it alive (refs) until
 * they end, so calls in flight finish on the policies they started with. */
struct policy_gen {
    struct policy_set *set;       /* owned */
    struct pins *pins;            /* a reference (pins.h), when the server's pin_mode is not off; else NULL */
    unsigned refs;                /* the server runtime's, plus one per exchange using it */
    unsigned long number;
};

/* One config re-read on SIGHUP (reload.c), shared by every worker. Its refs:
 * the reloader's while it is the config in force, one per server runtime
 * built from it, one per worker that has yet to apply it. Counted on any
 * thread; freed only by the reloader, on worker 0's thread (where the jwks
 * fetchers of its auth objects run), once refs is 0. */
struct config_gen {
    struct config cfg;
    struct tls_client **tls; /* per server of cfg: how an https one is verified, else NULL (owned) */
    _Atomic unsigned refs;
    struct config_gen *next; /* the reloader's list */
};

/* One configured server as a worker runs it. */
struct server_rt {
    const struct server_conf *conf;
    struct config_gen *cgen;           /* the generation conf points into (a reference), NULL: main's startup config */
    const struct transport *transport; /* chosen once, when the worker starts */
    struct worker *worker;
    struct policy_gen *gen;       /* the policies in force; NULL: none, everything allowed */
    struct tool_meta *tool_meta;  /* tool name -> annotations, from the last tools/list answers (owned; toolmeta.h) */
    struct listener_list listeners; /* open streams a reload tells of list changes (exchange.c; zeroed is empty) */
    /* the HTTP transport's (upstream_http.c) */
    struct sockaddr_storage addr; /* the upstream, resolved at start */
    socklen_t addr_len;
    struct tls_client *tls;       /* https: how its certificate is verified (tls.h; borrowed from main), else NULL */
    struct upstream_pool pool;
    /* the stdio and legacy SSE transports' sessions (upstream_session.h) */
    struct upsess_list sessions;      /* live, at most conf->max_connections */
    struct upsess_list ended;         /* ended; freed by the transport (stdio once reaped, SSE by sse_reaper) */
    unsigned nsessions;               /* live sessions */
    /* the stdio transport's (upstream_stdio.c) */
    struct exchange_list spawn_waiting; /* initialize requests waiting out a restart back-off */
    struct event *spawn_timer;
    unsigned crashes;                 /* children that died young, in a row */
    double spawn_not_before;          /* CLOCK_MONOTONIC seconds */
    /* the legacy SSE transport's (upstream_sse.c) */
    struct event *sse_reaper;
};

/* How an upstream failed: the metrics' kind, and how the error is worded by the caller. */
enum upstream_failure {
    UPSTREAM_CONNECT,   /* cannot connect, or a child cannot be started */
    UPSTREAM_TIMEOUT,   /* connect, first byte, idle stream or answer deadline passed */
    UPSTREAM_BUSY,      /* no free connection or child slot in time */
    UPSTREAM_RESET,     /* the connection closed or failed */
    UPSTREAM_EXITED,    /* a stdio child exited */
    UPSTREAM_MALFORMED, /* a broken HTTP response or message */
    UPSTREAM_OVERSIZE,  /* an answer or event past max_sse_event_bytes */
    UPSTREAM_INTERNAL,  /* warden ran out of memory or is stopping */
};

/* How an answer is framed toward the client. */
enum framing {
    FRAME_LENGTH,     /* Content-Length known */
    FRAME_CHUNKED,    /* streamed, chunked */
    FRAME_CLOSE,      /* to an HTTP/1.0 client: ends with the connection */
};

/* What warden does with the bytes of an answer. */
enum body_kind {
    BODY_RAW,         /* pass through as they come */
    BODY_SSE,         /* text/event-stream: forwarded event by event */
    BODY_BUFFERED,    /* a JSON answer a filter must see whole */
};

/* One client request and what came of it. Lives inside its client connection. */
struct exchange {
    struct client_conn *client;
    struct server_rt *server;
    struct policy_gen *gen;       /* the policies this exchange decides with (a reference) */
    struct upstream_conn *up;
    struct evbuffer *request;     /* HTTP transport: the re-framed request (owned, reused) */
    TAILQ_ENTRY(exchange) wait_link; /* in a pool's waiting list, a session's pending list or spawn_waiting */
    bool waiting;                 /* in the pool's waiting list */
    double wait_deadline;         /* CLOCK_MONOTONIC seconds the wait for a pooled connection ends */
    struct event *timer;          /* the answer's deadline, for transports without their own (owned, kept across requests) */
    unsigned expect_ms;           /* what timer waits for, for the error text */
    const char *expect_what;      /* what passing it means, before " N ms" ("did not answer within"; static text) */
    bool paused;                  /* backpressure: the transport was told to stop reading */
    bool upsess_paused;           /* counted in upsess->paused */
    struct upstream_session *upsess; /* stdio and legacy SSE servers: the session it waits on (pending or its stream) */
    char *progress_token;         /* stdio servers: the request's _meta.progressToken as cJSON prints it (owned) */
    bool spawn_wait;              /* in server->spawn_waiting */
    bool active;
    unsigned method;              /* HTTP method (enum http_method) */
    bool has_id;                  /* a JSON-RPC request: failures answer its id */
    char *id_text;                /* copy of the id's original text: id_inline, or owned when longer */
    size_t id_len;
    char id_inline[24];           /* short ids (most are): no allocation per call */
    bool filter_list;             /* a tools/list whose answer a policy filters */
    bool resumed;                 /* a GET with Last-Event-ID: the replay may hold responses to earlier requests */
    bool pin_instructions;        /* an initialize whose answer's instructions are checked against the pins */
    char *body;                   /* stdio servers: the message, kept until a child takes it (owned) */
    size_t body_len;
    bool answered_id;             /* the response for id_text has gone to the client */
    const char *refusal;          /* why the exchange refused the upstream's answer (static text) */
    enum upstream_failure refusal_kind;
    double started;               /* CLOCK_MONOTONIC seconds when the request was complete */
    bool streaming;               /* counted in the open SSE streams gauge */
    int is_error;                 /* the answer's isError: -1 unknown, 0, 1 */
    char *audit_tool;             /* an allowed tools/call, audited when its answer is known (owned) */
    cJSON *audit_args;            /* its argument keys (owned) */
    struct shadow_verdict shadow; /* the tools/call's shadow verdict, for its audit line */
    enum risk_class tool_class;   /* the tools/call's tool class (decision.tool_class), for its audit line */
    struct principal principal;   /* who is calling (auth.h; owned, cleared when the exchange ends) */
    struct rate_park *park;       /* a tools/call waiting for the shared rate-limit state (owned; proxy.c) */
    void (*unpark)(struct exchange *ex); /* set with park: forgets it when the exchange ends first */
    /* a tools/call held for a person's approval (approval_hold.c) */
    struct approval_hold *hold;   /* owned by approval_hold.c; NULL when not held */
    void (*hold_end)(struct exchange *ex); /* frees hold; called when the exchange ends or is aborted */
    void (*hold_stop)(struct exchange *ex); /* warden is stopping: a call still waiting ends as pending */
    bool held_stream;             /* warden's own event stream is open: every answer is its final event */
    char approval_id[32];         /* the approval that let this call through, for its audit line; "" */
    bool elicit_url;              /* an initialize asking for URL elicitation: its session is noted */
    void (*on_reset)(void *arg);  /* a stream warden feeds itself (legacy_sse.c): told when the exchange ends */
    void *on_reset_arg;
    char session[256];            /* Mcp-Session-Id sent by the client, or "" */
    struct era_req era;           /* the request's era and kind, for warden's own answers (era.h) */
    bool listening;               /* in server->listeners: a GET stream or a subscriptions/listen stream */
    LIST_ENTRY(exchange) listen_link;
    /* the answer */
    enum framing framing;
    enum body_kind body_kind;
    bool head_sent;
    bool sse_ready;               /* sse is initialised */
    struct sse_parser sse;
    const char *sse_run;          /* verbatim events of the bytes being fed, not yet written: one span of them */
    size_t sse_run_len;
    char *buffered; /* BODY_BUFFERED: held_len bytes of head, then the body so far (owned) */
    size_t buffered_len, buffered_cap;
    size_t held_len; /* BODY_BUFFERED: the status line and headers at buffered's front, sent with the body */
    int status;
};

enum client_state {
    CLIENT_IDLE,      /* between requests: keep-alive timeout */
    CLIENT_HEAD,      /* reading a request head: header timeout */
    CLIENT_BODY,      /* reading a body: body timeout */
    CLIENT_BUSY,      /* a request is being answered */
};

/* One accepted client connection. */
struct client_conn {
    struct worker *worker;
    struct bufferevent *bev;      /* writes; reads too for a pair (no fd) */
    struct event *rev;            /* a socket's reads (client.c's own readv), NULL for a pair */
    bool read_paused;             /* rev is off: CLIENT_INPUT_HIGH bytes wait */
    struct http_reader reader;
    enum client_state state;
    char addr[64];                /* "IP:PORT" of the peer */
    struct sockaddr_storage peer; /* the same as a socket address (family AF_UNSPEC for stdio), for auth */
    bool tls;                     /* the connection speaks TLS: no writes straight to the socket */
    char *body;                   /* the request body being read (owned, reused) */
    size_t body_len, body_cap;
    bool keep_alive;              /* the current request allows another after it */
    bool close_when_flushed;
    bool dead;
    struct deadline timer; /* keep-alive, header or body timeout, by state */
    struct exchange ex;
    TAILQ_ENTRY(client_conn) link;
};
TAILQ_HEAD(client_list, client_conn);

/* One event loop and all it serves; several run side by side on threads. */
struct worker {
    int index;
    struct event_base *base;
    const struct config *cfg;
    struct evconnlistener *listener;
    struct server_rt **servers; /* the servers routed to (each owned; see the top of this file) */
    size_t nservers;
    struct server_rt **retired; /* removed by a reload, freed once no exchange uses them (owned) */
    size_t nretired;
    struct event *retire_timer;              /* looks for retired servers nothing uses any more */
    _Atomic(struct config_gen *) servers_to; /* a config whose servers to apply (a reference), or NULL */
    struct rate_store *rates;         /* shared by all workers */
    struct state *state;              /* this worker's link to the Redis of "state" (owned), or NULL */
    struct pins_sync *pins_sync;      /* runtime pin approvals kept in step with Redis (pins_sync.h; owned), or NULL */
    struct approval_store *approvals; /* shared by all workers (approval.h); NULL: approvals are refused */
    struct elicit_sessions *elicit;   /* sessions that take URL elicitation (approval_elicit.h); shared; may be NULL */
    struct shared_store *shared;      /* warden.shared of Lua policies, shared by all workers */
    struct metrics *metrics;          /* shared by all workers */
    struct audit_log *audit;          /* NULL when there is no audit log */
    struct tls_server *tls;           /* the listener's certificate (tls.h; shared, main's), or NULL: plain HTTP */
    struct catalog *catalog;          /* the tools listed, for the console; shared; may be NULL */
    struct session_table *sessions;   /* shared by all workers */
    struct pins_table *pins;          /* every server's pins, shared by all workers (pins.h) */
    struct legacy_hub *legacy;        /* legacy HTTP+SSE streams (legacy_sse.h); shared by all workers, main's */
    struct client_list clients;
    size_t nclients;
    struct client_list client_graveyard;
    struct event *reaper;
    struct event *stop_event;         /* made active from another thread to stop */
    struct event *grace_timer;
    struct event *sigchld;            /* when a transport runs children: they exited */
    struct event *reload_event;       /* made active from worker 0 to load a new generation */
    _Atomic unsigned long reload_to;  /* the generation number to load */
    bool stopping;
    void (*on_request)(struct client_conn *c); /* where a complete request goes (proxy_handle) */
    void (*on_policies_changed)(struct server_rt *s); /* a reload swapped s's policies (exchange_notify_list_changed) */
    struct rpc_limits rpc_limits;
    struct evbuffer *scratch;         /* exchange.c: a message it rewrites, empty between uses (owned; made on first use) */
    struct answer_memo *answer_memo;  /* exchange.c: the last notification it read whole (answer_memo.h; owned) */
};
#endif
