/* libFuzzer harness for the notification memo (src/answer_memo.c) against
 * answer_check: whatever the memo says matches the last notification it
 * kept must be a message answer_check passes as a notification, for a
 * stream waiting for an answer and for one that is not. Input: a template,
 * then NUL-separated pieces that replace its number tokens one by one (the
 * texts the memo is made for); the candidate is the template so changed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "answer.h"
#include "answer_memo.h"

static const struct rpc_limits lim = {16, 4096, 4096};

static bool passes(const char *id, const char *msg, size_t len)
{
    struct answer_req req = {.id = id, .id_len = id ? strlen(id) : 0, .limits = &lim};
    struct answer_result res;
    struct evbuffer *out = evbuffer_new();
    if (!out)
        abort();
    int rc = answer_check(&req, msg, len, out, &res);
    evbuffer_free(out);
    return rc == 0 && res.verdict == ANSWER_PASS && !res.is_response && !res.answers_request && !res.is_error;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    const char *in = (const char *)data;
    const char *nul = memchr(in, '\0', size);
    size_t tlen = nul ? (size_t)(nul - in) : size;
    static struct answer_memo *memo;
    if (!passes("5", in, tlen) || !passes(NULL, in, tlen) || answer_memo_keep(&memo, &lim, in, tlen) < 0)
        return 0;
    /* The candidate: the template with its number tokens replaced by the pieces after it. */
    static char cand[16384];
    size_t n = 0;
    const char *piece = nul ? nul + 1 : in + size, *end = in + size;
    bool in_string = false, has_id = false;
    size_t numbers = 0;
    for (size_t i = 0; i < tlen;) {
        char c = in[i];
        if (in_string) {
            cand[n++] = c;
            i++;
            if (c == '\\' && i < tlen)
                cand[n++] = in[i++];
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
            has_id |= tlen - i >= 4 && memcmp(in + i, "\"id\"", 4) == 0;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            numbers++;
            size_t start = i;
            while (i < tlen && strchr("0123456789+-.eE", in[i]) && in[i])
                i++;
            if (piece < end) {
                const char *stop = memchr(piece, '\0', (size_t)(end - piece));
                size_t plen = stop ? (size_t)(stop - piece) : (size_t)(end - piece);
                memcpy(cand + n, piece, plen);
                n += plen;
                piece = stop ? stop + 1 : end;
            } else {
                memcpy(cand + n, in + start, i - start);
                n += i - start;
            }
            continue;
        }
        cand[n++] = c;
        i++;
    }
    if (answer_memo_matches(memo, &lim, cand, n) && (!passes("5", cand, n) || !passes(NULL, cand, n)))
        abort();
    /* and a template it could keep is matched, unchanged */
    if (tlen <= ANSWER_MEMO_MAX && !memchr(in, '\\', tlen) && !has_id && numbers <= ANSWER_MEMO_NUMBERS &&
        !answer_memo_matches(memo, &lim, in, tlen))
        abort();
    return 0;
}
