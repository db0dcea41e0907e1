/* libFuzzer harness for a whole upstream event stream read by answer.c, as
 * the exchange reads a POST's SSE answer or a GET stream: the stream is cut
 * into events by sse.c and each event's data goes to answer_check, with the
 * request marked answered once its answer (or its failure) went out. Input:
 * one byte of flags (bit 0: a GET stream, no request; bit 1: no filter; bit
 * 2: the GET stream was resumed with Last-Event-ID), one
 * byte choosing the request's id, then the stream. Properties, checked with
 * abort(): no forwarded event shows a hidden tool to a lenient client (see
 * lenient_client.h); at most one event answers the request, and none after
 * it failed; a REWRITE is strict JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "answer.h"
#include "jsonrpc.h"
#include "lenient_client.h"
#include "sse.h"

static const char *const ids[] = {"5", "0", "\"5\"", "\"abc\"", "123456789012345678901", "1"};

struct stream {
    struct answer_req req;
    bool filtered;
    bool failed;
    unsigned answers;
    struct evbuffer *out;
};

static int on_event(void *ctx, const struct sse_event *ev)
{
    struct stream *s = ctx;
    if (!ev->has_data)
        return 0;
    struct answer_result res;
    if (answer_check(&s->req, ev->data, ev->data_len, s->out, &res) < 0)
        abort();
    const char *sent = ev->data;
    size_t sent_len = ev->data_len;
    switch (res.verdict) {
    case ANSWER_DROP:
        return 0;
    case ANSWER_FAIL:
        if (res.answers_request) {
            if (s->req.answered)
                abort();
            s->failed = true;
            s->req.answered = true; /* the exchange answered the client with an error */
        }
        return 0;
    case ANSWER_REWRITE: {
        sent_len = evbuffer_get_length(s->out);
        sent = (const char *)evbuffer_pullup(s->out, -1);
        struct rpc_error err;
        if (!sent || json_scan(sent, sent_len, NULL, NULL, 0, &err) < 0)
            abort();
        break;
    }
    case ANSWER_PASS:
        break;
    }
    if (res.answers_request) {
        if (s->req.answered || s->failed || ++s->answers > 1)
            abort();
        s->req.answered = true;
    }
    cJSON *client = s->filtered ? client_reads(sent, sent_len) : cJSON_ParseWithLength(sent, sent_len);
    if (!client)
        abort();
    cJSON_Delete(client);
    evbuffer_drain(s->out, evbuffer_get_length(s->out));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const struct list_filter filter = {hide, NULL};
    struct stream s = {0};
    const char *id = data[0] & 1 ? NULL : ids[data[1] % (sizeof ids / sizeof *ids)];
    s.filtered = !(data[0] & 2);
    s.req = (struct answer_req){.id = id,
                                .id_len = id ? strlen(id) : 0,
                                .replay = data[0] & 4,
                                .filter = s.filtered ? &filter : NULL};
    if (!(s.out = evbuffer_new()))
        abort();
    struct sse_parser p;
    sse_init(&p, 0, on_event, &s);
    sse_feed(&p, (const char *)data + 2, size - 2);
    sse_free(&p);
    evbuffer_free(s.out);
    return 0;
}
