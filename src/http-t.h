/* Types of the HTTP/1.1 message reader (http.c). */
#ifndef WARDEN_HTTP_T_H
#define WARDEN_HTTP_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which messages a reader reads. */
enum http_message_type { HTTP_REQUEST, HTTP_RESPONSE };

/* The request methods the reader accepts (the set, and the numbers, that
 * libhttp-parser used: any other method is refused with 400). */
enum http_method {
    HTTP_DELETE, HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_CONNECT, HTTP_OPTIONS, HTTP_TRACE, HTTP_COPY,
    HTTP_LOCK, HTTP_MKCOL, HTTP_MOVE, HTTP_PROPFIND, HTTP_PROPPATCH, HTTP_SEARCH, HTTP_UNLOCK, HTTP_BIND,
    HTTP_REBIND, HTTP_UNBIND, HTTP_ACL, HTTP_REPORT, HTTP_MKACTIVITY, HTTP_CHECKOUT, HTTP_MERGE, HTTP_MSEARCH,
    HTTP_NOTIFY, HTTP_SUBSCRIBE, HTTP_UNSUBSCRIBE, HTTP_PATCH, HTTP_PURGE, HTTP_MKCALENDAR, HTTP_LINK,
    HTTP_UNLINK, HTTP_SOURCE,
};

/* Header fields the reader classifies as it reads them, so that lookups and
 * the hop-by-hop test compare numbers, not names. The first group are the
 * fields kept single (see singleton in http.c). */
enum http_field {
    HF_OTHER,
    HF_CONTENT_TYPE, HF_CONTENT_LENGTH, HF_TRANSFER_ENCODING, HF_CONNECTION, HF_HOST, HF_EXPECT, HF_ORIGIN,
    HF_AUTHORIZATION, HF_MCP_SESSION_ID, HF_MCP_PROTOCOL_VERSION, HF_LAST_EVENT_ID, HF_MCP_METHOD, HF_MCP_NAME,
    HF_USER_AGENT, HF_X_REQUEST_ID, HF_TRACEPARENT, HF_X_FORWARDED_FOR, HF_X_AGENT_NAME,
    HF_CONTENT_ENCODING, HF_KEEP_ALIVE, HF_PROXY_CONNECTION, HF_PROXY_AUTHENTICATE, HF_PROXY_AUTHORIZATION, HF_TE,
    HF_TRAILER, HF_UPGRADE, HF_ACCEPT_ENCODING, HF_ACCEPT,
    HF_COUNT
};
#define HF_SINGLETONS (HF_X_AGENT_NAME + 1)

/* One header field; offsets into http_head.buf so the array survives growth of buf. */
struct http_header {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
};

/* The head of one request or response: request line or status, and headers.
 * The reader owns buf and headers and reuses them from message to message. */
struct http_head {
    char *buf;               /* the head's bytes as they came from the wire */
    size_t len, cap;
    struct http_header *headers;
    uint8_t *fields;             /* enum http_field of each header, by the reader (NULL in heads built by hand) */
    size_t nheaders, headers_cap;
    uint32_t url_off, url_len;   /* requests */
    int status;                  /* responses */
    unsigned method;             /* enum http_method, requests */
    unsigned short http_major, http_minor;
    bool keep_alive;
    bool chunked;
    bool has_length;             /* a Content-Length was given */
    uint64_t content_length;
    uint32_t first[HF_COUNT];    /* with fields: 1 + index of the first header of each known field, 0 if none */
};

/* What the reader hands to its owner as a message is read. Each returns 0 to
 * go on or -1 to stop with an error the owner has already handled. */
struct http_reader_ops {
    int (*on_head)(void *owner);                               /* head complete */
    int (*on_body)(void *owner, const char *at, size_t len);   /* body bytes, de-chunked */
    int (*on_complete)(void *owner);                           /* message complete */
};

/* Reads HTTP/1.1 messages of one direction (requests from clients or
 * responses from upstreams), one at a time: it stops after each message so
 * that pipelined ones wait their turn. The head is read line by line as its
 * lines complete (each line once), the body by Content-Length, chunked
 * coding or the peer's close. */
struct http_reader {
    struct http_head head;
    const struct http_reader_ops *ops;
    void *owner;
    size_t max_head;         /* bytes the head may take (431 past it) */
    size_t max_headers;      /* header fields (431 past it) */
    enum http_message_type type;
    bool in_body;            /* the head is complete */
    bool complete;           /* the message is complete; reader paused */
    bool failed;             /* the stream is unreadable */
    int status_on_error;     /* HTTP status for the client when a callback refused */
    const char *why_on_error;    /* why the reader refused, when it did (static text or why_buf) */
    char why_buf[96];
    /* the head */
    bool first_line_read;    /* the request or status line has been read */
    size_t line_off;         /* where the line being read starts, in head.buf */
    size_t scan_off;         /* head.buf bytes before it searched for the line's LF */
    unsigned char partial;   /* how far the check of that line has got, while it is not whole */
    unsigned char singles[HF_SINGLETONS];   /* copies of each single field (2: more than one) */
    /* the body */
    unsigned char body_state;
    uint64_t remaining;      /* bytes left of the body or of the chunk */
    bool size_digits;        /* the chunk-size line has a digit */
    size_t trailer_bytes;    /* trailer section read so far (discarded, but within max_head) */
    size_t trailer_fields;
};
#endif
