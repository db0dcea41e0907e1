#include "reply.h"

#include <string.h>
#include "http.h"

void json_append_string(struct evbuffer *buf, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char out[512];
    size_t n = 0;
    out[n++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (n > sizeof out - 8) {
            evbuffer_add(buf, out, n);
            n = 0;
        }
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else if (ch < 0x20) {
            out[n++] = '\\';
            switch (ch) {
            case '\n': out[n++] = 'n'; break;
            case '\r': out[n++] = 'r'; break;
            case '\t': out[n++] = 't'; break;
            default:
                out[n++] = 'u';
                out[n++] = '0';
                out[n++] = '0';
                out[n++] = hex[ch >> 4];
                out[n++] = hex[ch & 15];
            }
        } else {
            out[n++] = (char)ch;
        }
    }
    out[n++] = '"';
    evbuffer_add(buf, out, n);
}

void json_append_line(struct evbuffer *out, const char *json, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (json[i] == '\n' || json[i] == '\r') {
            evbuffer_add(out, json + start, i - start);
            evbuffer_add(out, " ", 1);
            start = i + 1;
        }
    }
    evbuffer_add(out, json + start, len - start);
    evbuffer_add(out, "\n", 1);
}

char *reply_put_uint(char *p, unsigned long long v)
{
    char digits[REPLY_UINT_MAX];
    size_t n = 0;
    do {
        digits[sizeof digits - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return reply_put(p, digits + sizeof digits - n, n);
}

int reply_format_answer(struct evbuffer *out, int status, const char *content_type, const char *extra_headers,
                        const char *body, size_t len, bool closing)
{
    const char *reason = http_reason(status);
    size_t reason_len = strlen(reason), type_len = strlen(content_type);
    size_t extra_len = extra_headers ? strlen(extra_headers) : 0;
    size_t need = sizeof "HTTP/1.1 \r\nContent-Type: \r\nContent-Length: \r\nConnection: close\r\n\r\n" +
                  2 * REPLY_UINT_MAX + reason_len + type_len + extra_len + len;
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) < 1)
        return -1;
    char *start = v.iov_base, *p = start;
    p = REPLY_PUT_LIT(p, "HTTP/1.1 ");
    p = reply_put_uint(p, status > 0 ? (unsigned)status : 0);
    *p++ = ' ';
    p = reply_put(p, reason, reason_len);
    p = REPLY_PUT_LIT(p, "\r\nContent-Type: ");
    p = reply_put(p, content_type, type_len);
    p = REPLY_PUT_LIT(p, "\r\nContent-Length: ");
    p = reply_put_uint(p, len);
    p = REPLY_PUT_LIT(p, "\r\n");
    p = reply_put(p, extra_headers, extra_len);
    if (closing)
        p = REPLY_PUT_LIT(p, "Connection: close\r\n");
    p = REPLY_PUT_LIT(p, "\r\n");
    p = reply_put(p, body, len);
    v.iov_len = (size_t)(p - start);
    return evbuffer_commit_space(out, &v, 1);
}

void reply_format_rpc_error(struct evbuffer *buf, const char *id, size_t id_len, int code, const char *message)
{
    char code_text[REPLY_UINT_MAX + 1], *p = code_text;
    if (code < 0)
        *p++ = '-';
    p = reply_put_uint(p, code < 0 ? 0ull - (unsigned long long)code : (unsigned long long)code);
    static const char pre[] = "{\"jsonrpc\":\"2.0\",\"id\":", mid[] = ",\"error\":{\"code\":", msg[] = ",\"message\":";
    evbuffer_add(buf, pre, sizeof pre - 1);
    if (id)
        evbuffer_add(buf, id, id_len);
    else
        evbuffer_add(buf, "null", 4);
    evbuffer_add(buf, mid, sizeof mid - 1);
    evbuffer_add(buf, code_text, (size_t)(p - code_text));
    evbuffer_add(buf, msg, sizeof msg - 1);
    json_append_string(buf, message, strlen(message));
    evbuffer_add(buf, "}}", 2);
}

void reply_format_tool_refusal(struct evbuffer *buf, const char *id, size_t id_len, const char *text)
{
    static const char pre[] = "{\"jsonrpc\":\"2.0\",\"id\":",
                      mid[] = ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":",
                      post[] = "}],\"isError\":true}}";
    evbuffer_add(buf, pre, sizeof pre - 1);
    evbuffer_add(buf, id, id_len);
    evbuffer_add(buf, mid, sizeof mid - 1);
    json_append_string(buf, text, strlen(text));
    evbuffer_add(buf, post, sizeof post - 1);
}
