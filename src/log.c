#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "utf8.h"

/* The one process-wide setting: every thread logs at the same level. */
static enum log_level min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_set_level(const char *name)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            min_level = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Copies a formatted message into out as safe text: peers' bytes reach log
 * messages (a server's error body, a child's stderr), and none may forge a
 * record. A newline continues the record on an indented line (every record
 * starts with its time at the margin), other control bytes become \xHH,
 * bytes that are not UTF-8 become U+FFFD. Stops before a character that
 * would not fit, so a cut never splits one. Returns the length written. */
static size_t sanitize(const char *msg, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)msg;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        char esc[4];
        const char *piece = (const char *)p + i;
        size_t plen = utf8_seq_len(p + i, len - i), used = plen;
        if (p[i] == '\n') {
            piece = "\n    ", plen = 5, used = 1;
        } else if (p[i] < 0x20 || p[i] == 0x7f) {
            esc[0] = '\\', esc[1] = 'x', esc[2] = hex[p[i] >> 4], esc[3] = hex[p[i] & 15];
            piece = esc, plen = 4, used = 1;
        } else if (plen == 0) {
            piece = UTF8_REPLACEMENT, plen = 3, used = 1;
        }
        if (n + plen > cap)
            break;
        memcpy(out + n, piece, plen);
        n += plen;
        i += used;
    }
    return n;
}

/* Formats the whole line first so that lines from several threads never interleave. */
void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char msg[2048], line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t mlen = m < 0 ? 0 : (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1;
    size_t len = (size_t)n + sanitize(msg, mlen, line + n, sizeof line - (size_t)n - 1);
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}
