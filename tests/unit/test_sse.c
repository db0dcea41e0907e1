/* Unit tests of the incremental SSE parser (src/sse.c): line ends of every
 * kind, fields, blocks of every kind, and the same result however the
 * stream is split. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "sse.h"

struct seen {
    int blocks, with_data;
    char log[8192];     /* one line per block: "data=<...>|id=<...>|event=<...>" */
    size_t log_len;
    char raw[8192];
    size_t raw_len;
    int stop_after;     /* stop when this many blocks were seen (0: never) */
    size_t last_event_len, last_id_len;
};

static int on_block(void *ctx, const struct sse_event *ev)
{
    struct seen *s = ctx;
    s->blocks++;
    if (ev->has_data)
        s->with_data++;
    s->log_len += (size_t)snprintf(s->log + s->log_len, sizeof s->log - s->log_len, "data%s=%.*s|id%s=%.*s|event=%.*s\n",
                                   ev->has_data ? "" : "(none)", (int)ev->data_len, ev->data, ev->has_id ? "" : "(none)",
                                   (int)ev->id_len, ev->id ? ev->id : "", (int)ev->event_len, ev->event ? ev->event : "");
    s->last_event_len = ev->event_len;
    s->last_id_len = ev->id_len;
    memcpy(s->raw + s->raw_len, ev->raw, ev->raw_len);
    s->raw_len += ev->raw_len;
    return s->stop_after && s->blocks >= s->stop_after ? -1 : 0;
}

/* Parses `stream` fed `step` bytes at a time. */
static int parse(const char *stream, size_t step, struct seen *s, size_t *pending)
{
    struct sse_parser p;
    sse_init(&p, 1024, on_block, s);
    size_t len = strlen(stream);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += step)
        rc = sse_feed(&p, stream + off, len - off < step ? len - off : step);
    *pending = sse_pending(&p);
    sse_free(&p);
    return rc;
}

static void expect(const char *stream, const char *want_log, int want_blocks)
{
    size_t len = strlen(stream);
    for (size_t step = 1; step <= len; step++) {
        struct seen s = {0};
        size_t pending;
        CHECK(parse(stream, step, &s, &pending) == 0);
        CHECK(s.blocks == want_blocks);
        CHECK_MEM(s.log, s.log_len, want_log);
        /* forwarding every block's raw bytes reproduces the stream, less what is pending */
        CHECK(s.raw_len + pending == len && memcmp(s.raw, stream, s.raw_len) == 0);
        if (check_failed)
            return;
    }
}

int main(void)
{
    /* LF, multi-line data, id, event, comments, retry, unknown fields */
    expect("event: message\nid: 7\ndata: {\"a\":1}\n\n: keepalive\n\nretry: 100\nfoo: bar\ndata:x\ndata\ndata:  two spaces\n\n",
           "data={\"a\":1}|id=7|event=message\n"
           "data(none)=|id(none)=|event=\n"
           "data=x\n\n two spaces|id(none)=|event=\n",
           3);
    /* CRLF (the Python SDK) and CR line ends */
    expect("data: a\r\ndata: b\r\n\r\nid: 9\r\rdata: c\r\r",
           "data=a\nb|id(none)=|event=\n"
           "data(none)=|id=9|event=\n"
           "data=c|id(none)=|event=\n",
           3);
    /* a 2025-11-25 priming event: an id with empty data */
    expect("id: prime-1\ndata:\n\n", "data=|id=prime-1|event=\n", 1);
    expect("id: prime-2\n\n", "data(none)=|id=prime-2|event=\n", 1);
    /* an empty block is a block too, so that bytes are never lost */
    expect("\n\ndata: z\n\n", "data(none)=|id(none)=|event=\ndata(none)=|id(none)=|event=\ndata=z|id(none)=|event=\n", 3);
    /* a BOM starts the stream */
    expect("\xEF\xBB\xBF" "data: bom\n\n", "data=bom|id(none)=|event=\n", 1);
    /* a type or id does not outlive its block */
    {
        struct seen s = {0};
        size_t pending;
        CHECK(parse("event: endpoint\nid: 3\ndata: x\n\ndata: y\n\n", 100, &s, &pending) == 0);
        CHECK_MEM(s.log, s.log_len, "data=x|id=3|event=endpoint\ndata=y|id(none)=|event=\n");
        CHECK(s.last_event_len == 0 && s.last_id_len == 0);
    }
    /* an id containing NUL is ignored */
    {
        static const char nul_id[] = "id: a\0b\ndata: q\n\n";
        struct seen s = {0};
        struct sse_parser p;
        sse_init(&p, 1024, on_block, &s);
        CHECK(sse_feed(&p, nul_id, sizeof nul_id - 1) == 0);
        CHECK_MEM(s.log, s.log_len, "data=q|id(none)=|event=\n");
        sse_free(&p);
    }
    /* an unfinished block is held, not sent */
    {
        struct seen s = {0};
        size_t pending;
        CHECK(parse("data: 1\n\ndata: 2\n", 3, &s, &pending) == 0);
        CHECK(s.blocks == 1 && pending == strlen("data: 2\n"));
    }
    /* a block over the limit fails, and the parser stays failed */
    {
        char big[3000];
        memset(big, 'x', sizeof big);
        memcpy(big, "data: ", 6);
        big[sizeof big - 1] = '\0';
        struct seen s = {0};
        struct sse_parser p;
        sse_init(&p, 1024, on_block, &s);
        CHECK(sse_feed(&p, big, strlen(big)) == -1);
        CHECK(sse_feed(&p, "\n\n", 2) == -1);
        CHECK(s.blocks == 0);
        sse_free(&p);
    }
    /* the callback can stop the parser */
    {
        struct seen s = {.stop_after = 1};
        size_t pending;
        CHECK(parse("data: 1\n\ndata: 2\n\n", 100, &s, &pending) == -1);
        CHECK(s.blocks == 1);
    }
    return check_report();
}
