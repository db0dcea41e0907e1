/* Types of the HTTP/1.1 message reader (http.c). */
#ifndef WARDEN_HTTP_T_H
#define WARDEN_HTTP_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <http_parser.h>

/* One header field; offsets into http_head.buf so the array survives growth of buf. */
struct http_header {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
};

/* The head of one request or response: request line or status, and headers.
 * The reader owns buf and headers and reuses them from message to message. */
struct http_head {
    char *buf;               /* url and header bytes, copied from the wire */
    size_t len, cap;
    struct http_header *headers;
    size_t nheaders, headers_cap;
    uint32_t url_off, url_len;   /* requests */
    int status;                  /* responses */
    unsigned method;             /* enum http_method, requests */
    unsigned short http_major, http_minor;
    bool keep_alive;
    bool chunked;
    bool has_length;             /* a Content-Length was given */
    uint64_t content_length;
};

/* The line syntax of a head as it arrives, checked byte by byte before
 * libhttp-parser reads it (the parser accepts bare LF, obs-fold and
 * whitespace before a colon; a peer behind warden may read those otherwise). */
struct http_head_lint {
    unsigned char state;
    size_t nheaders;
};

/* What the reader hands to its owner as a message is read. Each returns 0 to
 * go on or -1 to stop with an error the owner has already handled. */
struct http_reader_ops {
    int (*on_head)(void *owner);                               /* head complete */
    int (*on_body)(void *owner, const char *at, size_t len);   /* body bytes, de-chunked */
    int (*on_complete)(void *owner);                           /* message complete */
};

/* Reads HTTP/1.1 messages of one direction (requests from clients or
 * responses from upstreams) with Debian's libhttp-parser, one at a time:
 * it pauses after each message so that pipelined ones wait their turn. */
struct http_reader {
    http_parser parser;
    struct http_head head;
    const struct http_reader_ops *ops;
    void *owner;
    size_t max_head;         /* bytes the head may take (431 past it) */
    size_t max_headers;      /* header fields (431 past it) */
    int last_cb;             /* which head callback ran last, to join split fields */
    bool in_body;            /* the head is complete */
    bool complete;           /* the message is complete; reader paused */
    int status_on_error;     /* HTTP status for the client when a callback refused */
    const char *why_on_error;    /* why the reader refused, when it did (static text or why_buf) */
    char why_buf[96];
    bool refused;            /* the reader's own checks refused the stream */
    struct http_head_lint lint;  /* line syntax of the head, checked before the parser sees it */
    size_t trailer_bytes;    /* trailer section read so far (discarded, but within max_head) */
    size_t trailer_fields;
};
#endif
