/* Unit tests of the incremental SSE parser (src/sse.c): line ends of every
 * kind, fields, blocks of every kind, and the same result however the
 * stream is split; which blocks can be forwarded byte for byte. */
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
    const char *piece;  /* the bytes being fed */
    size_t piece_len;
    size_t fed;         /* bytes fed so far, this piece included */
    char flags[64];     /* per block: 'v' verbatim, '-' not, 'o' not because its last CR ended a piece */
    size_t nflags;
    char fwd[8192];     /* the verbatim blocks as forwarded: raw from lead on */
    size_t fwd_len;
    char vlog[8192];    /* the log lines of the verbatim blocks */
    size_t vlog_len;
    bool bad;           /* a block broke a rule of struct sse_event */
};

static size_t log_block(char *log, size_t cap, const struct sse_event *ev)
{
    return (size_t)snprintf(log, cap, "data%s=%.*s|id%s=%.*s|event=%.*s\n", ev->has_data ? "" : "(none)",
                            (int)ev->data_len, ev->data, ev->has_id ? "" : "(none)", (int)ev->id_len,
                            ev->id ? ev->id : "", (int)ev->event_len, ev->event ? ev->event : "");
}

static int on_block(void *ctx, const struct sse_event *ev)
{
    struct seen *s = ctx;
    s->blocks++;
    if (ev->has_data)
        s->with_data++;
    s->log_len += log_block(s->log + s->log_len, sizeof s->log - s->log_len, ev);
    memcpy(s->raw + s->raw_len, ev->raw, ev->raw_len);
    s->raw_len += ev->raw_len;
    /* absent fields have no length; a lead is the one LF of a CRLF; raw_in_input means inside the piece */
    if ((!ev->event && ev->event_len) || (!ev->id && ev->id_len) || ev->lead > 1 || (ev->lead && ev->raw[0] != '\n') ||
        (ev->raw_in_input && (ev->raw < s->piece || ev->raw + ev->raw_len > s->piece + s->piece_len)))
        s->bad = true;
    bool open_cr = ev->raw_len > 0 && ev->raw[ev->raw_len - 1] == '\r' && s->raw_len == s->fed;
    if (s->nflags < sizeof s->flags)
        s->flags[s->nflags++] = ev->verbatim ? 'v' : open_cr ? 'o' : '-';
    if (ev->verbatim) {
        memcpy(s->fwd + s->fwd_len, ev->raw + ev->lead, ev->raw_len - ev->lead);
        s->fwd_len += ev->raw_len - ev->lead;
        s->vlog_len += log_block(s->vlog + s->vlog_len, sizeof s->vlog - s->vlog_len, ev);
    }
    return s->stop_after && s->blocks >= s->stop_after ? -1 : 0;
}

/* Parses stream[0..len) fed `step` bytes at a time. */
static int parse_n(const char *stream, size_t len, size_t step, struct seen *s, size_t *pending)
{
    struct sse_parser p;
    sse_init(&p, 1024, on_block, s);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += step) {
        s->piece = stream + off;
        s->piece_len = len - off < step ? len - off : step;
        s->fed = off + s->piece_len;
        rc = sse_feed(&p, s->piece, s->piece_len);
    }
    *pending = sse_pending(&p);
    sse_free(&p);
    return rc;
}

static int parse(const char *stream, size_t step, struct seen *s, size_t *pending)
{
    return parse_n(stream, strlen(stream), step, s, pending);
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

/* Which blocks of `stream` are verbatim (want: 'v' or '-' per block), however
 * it is split; a block whose blank line's CR ended a piece is not ('o').
 * Forwarding the verbatim blocks from their lead on gives a stream that
 * reads as those blocks did, each verbatim again. */
static void expect_verbatim_n(const char *stream, size_t len, const char *want)
{
    for (size_t step = 1; step <= len; step++) {
        struct seen s = {0};
        size_t pending;
        CHECK(parse_n(stream, len, step, &s, &pending) == 0);
        CHECK(!s.bad);
        CHECK(s.nflags == strlen(want));
        for (size_t i = 0; i < s.nflags && i < strlen(want); i++)
            CHECK(s.flags[i] == want[i] || s.flags[i] == 'o');
        struct seen again = {0};
        char fwd[8192];
        memcpy(fwd, s.fwd, s.fwd_len);
        fwd[s.fwd_len] = '\0';
        CHECK(parse(fwd, s.fwd_len ? s.fwd_len : 1, &again, &pending) == 0 && pending == 0);
        CHECK_MEM(again.log, again.log_len, s.vlog);
        CHECK(again.nflags == 0 || memchr(again.flags, '-', again.nflags) == NULL);
        if (check_failed)
            return;
    }
}

static void expect_verbatim(const char *stream, const char *want)
{
    expect_verbatim_n(stream, strlen(stream), want);
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
    /* byte for byte: exact fields, comments, retry, LF or CRLF throughout, empty blocks */
    expect_verbatim("data: a\n\n: c\n\nid: 1\nevent: e\nretry: 5\ndata: b\ndata: c\n\n\n", "vvvv");
    expect_verbatim("data: a\r\n\r\nid: 2\r\n: c\r\ndata: b\r\n\r\n", "vv");
    expect_verbatim("id: p\ndata:\n\ndata\n\n", "vv");
    /* written anew: names a lenient reader may fold or trim, a lone CR, mixed ends, a BOM */
    expect_verbatim("Data: x\n\n data: y\n\ndata : z\n\nfoo: 1\ndata: w\n\n", "----");
    {
        static const char nul_name[] = "data\0x: v\n\ndata: w\n\n";
        expect_verbatim_n(nul_name, sizeof nul_name - 1, "-v");
    }
    expect_verbatim("data: a\r\rdata: b\n\n", "-v");
    expect_verbatim("data: a\r\n\ndata: b\n\r\ndata: c\n\n", "--v");
    expect_verbatim("\xEF\xBB\xBF" "data: a\n\ndata: b\n\n", "-v");
    expect_verbatim("\n\xEF\xBB\xBF" "data: a\n\n", "v-");
    /* a type or id does not outlive its block */
    {
        struct seen s = {0};
        size_t pending;
        CHECK(parse("event: endpoint\nid: 3\ndata: x\n\ndata: y\n\n", 100, &s, &pending) == 0);
        CHECK(!s.bad);
        CHECK_MEM(s.log, s.log_len, "data=x|id=3|event=endpoint\ndata=y|id(none)=|event=\n");
    }
    /* a CR that ends a piece: an LF next is the next block's lead */
    {
        struct seen s = {0};
        size_t pending;
        CHECK(parse("data: a\r\n\r\ndata: b\r\n\r\n", 10, &s, &pending) == 0);
        CHECK(!s.bad && s.nflags == 2 && s.flags[0] == 'o' && s.flags[1] == 'v');
        CHECK_MEM(s.fwd, s.fwd_len, "data: b\r\n\r\n");
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
