#include "reply.h"

#include <stdio.h>
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

void reply_format_head(struct evbuffer *out, int status, const char *content_type, const char *extra_headers,
                       size_t len, bool closing)
{
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n", status,
                        http_reason(status), content_type, len, extra_headers ? extra_headers : "",
                        closing ? "Connection: close\r\n" : "");
}

void reply_format_rpc_error(struct evbuffer *buf, const char *id, size_t id_len, int code, const char *message)
{
    evbuffer_add_printf(buf, "{\"jsonrpc\":\"2.0\",\"id\":");
    if (id)
        evbuffer_add(buf, id, id_len);
    else
        evbuffer_add(buf, "null", 4);
    evbuffer_add_printf(buf, ",\"error\":{\"code\":%d,\"message\":", code);
    json_append_string(buf, message, strlen(message));
    evbuffer_add(buf, "}}", 2);
}

void reply_format_tool_refusal(struct evbuffer *buf, const char *id, size_t id_len, const char *text)
{
    evbuffer_add_printf(buf, "{\"jsonrpc\":\"2.0\",\"id\":");
    evbuffer_add(buf, id, id_len);
    evbuffer_add_printf(buf, ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":");
    json_append_string(buf, text, strlen(text));
    evbuffer_add_printf(buf, "}],\"isError\":true}}");
}
