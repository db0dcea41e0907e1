#include "answer_memo.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct answer_memo {
    bool valid;
    struct rpc_limits lim;
    size_t len, n;
    struct {
        uint16_t start, end;
    } num[ANSWER_MEMO_NUMBERS];
    char text[ANSWER_MEMO_MAX];
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Where the JSON number at s[i] ends, as json_scan's scan_number reads it
 * (a minus, no leading zero, a fraction and an exponent each with digits,
 * and no digit, '.', '-' or '+' right after); 0 when none stands there. */
static size_t number_end(const char *s, size_t i, size_t len)
{
    size_t p = i;
    if (p < len && s[p] == '-')
        p++;
    if (p >= len)
        return 0;
    if (s[p] == '0') {
        p++;
    } else if (s[p] >= '1' && s[p] <= '9') {
        while (p < len && is_digit(s[p]))
            p++;
    } else {
        return 0;
    }
    if (p < len && s[p] == '.') {
        p++;
        if (p >= len || !is_digit(s[p]))
            return 0;
        while (p < len && is_digit(s[p]))
            p++;
    }
    if (p < len && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < len && (s[p] == '+' || s[p] == '-'))
            p++;
        if (p >= len || !is_digit(s[p]))
            return 0;
        while (p < len && is_digit(s[p]))
            p++;
    }
    if (p < len && (is_digit(s[p]) || s[p] == '.' || s[p] == '-' || s[p] == '+'))
        return 0;
    return p;
}

static bool same_limits(const struct rpc_limits *a, const struct rpc_limits *b)
{
    return a->max_depth == b->max_depth && a->max_string == b->max_string && a->max_members == b->max_members;
}

bool answer_memo_matches(const struct answer_memo *m, const struct rpc_limits *lim, const char *json, size_t len)
{
    if (!m || !m->valid || !same_limits(&m->lim, lim))
        return false;
    size_t pt = 0, pn = 0;
    for (size_t k = 0; k < m->n; k++) {
        size_t seg = m->num[k].start - pt;
        if (len - pn < seg || memcmp(json + pn, m->text + pt, seg) != 0)
            return false;
        pn += seg;
        size_t end = number_end(json, pn, len);
        if (!end)
            return false;
        pn = end;
        pt = m->num[k].end;
    }
    size_t tail = m->len - pt;
    return len - pn == tail && memcmp(json + pn, m->text + pt, tail) == 0;
}

/* Finds the number tokens of a text json_scan accepted (so every string
 * ends at the next quote: there is no backslash) and whether its top
 * object has an "id" member. False when there are too many numbers. */
static bool read_template(struct answer_memo *m, bool *has_id)
{
    const char *s = m->text;
    size_t len = m->len, depth = 0;
    *has_id = false;
    m->n = 0;
    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (c == '"') {
            const char *q = memchr(s + i + 1, '"', len - i - 1);
            size_t end = q ? (size_t)(q - s) + 1 : len;
            if (depth == 1 && end - i == 4 && memcmp(s + i, "\"id\"", 4) == 0) {
                size_t j = end;
                while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r'))
                    j++;
                if (j < len && s[j] == ':')
                    *has_id = true;
            }
            i = end;
        } else if (c == '-' || is_digit(c)) {
            if (m->n == ANSWER_MEMO_NUMBERS)
                return false;
            size_t start = i;
            while (i < len && (is_digit(s[i]) || s[i] == '-' || s[i] == '+' || s[i] == '.' || s[i] == 'e' || s[i] == 'E'))
                i++;
            m->num[m->n].start = (uint16_t)start;
            m->num[m->n].end = (uint16_t)i;
            m->n++;
        } else {
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']')
                depth--;
            i++;
        }
    }
    return true;
}

int answer_memo_keep(struct answer_memo **m, const struct rpc_limits *lim, const char *json, size_t len)
{
    if (!*m && !(*m = calloc(1, sizeof **m)))
        return -1;
    struct answer_memo *memo = *m;
    memo->valid = false;
    if (len > ANSWER_MEMO_MAX || memchr(json, '\\', len))
        return 0;
    memcpy(memo->text, json, len);
    memo->len = len;
    memo->lim = *lim;
    bool has_id;
    memo->valid = read_template(memo, &has_id) && !has_id;
    return 0;
}

void answer_memo_free(struct answer_memo *m)
{
    free(m);
}
