/* Unit tests of the log (src/log.c): peers' bytes in a message never forge
 * a record and never make the log invalid UTF-8. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "log.h"
#include "utf8.h"

/* Logs msg at warn level into a temporary file standing for stderr; returns what was written (caller frees). */
static char *logged(const char *msg)
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *tmp = tmpfile();
    if (saved < 0 || !tmp || dup2(fileno(tmp), STDERR_FILENO) < 0)
        return NULL;
    log_warn("peer said: %s", msg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    long size = ftell(tmp);
    char *out = calloc(1, (size_t)(size > 0 ? size : 0) + 1);
    rewind(tmp);
    if (out && size > 0 && fread(out, 1, (size_t)size, tmp) != (size_t)size) {
        free(out);
        out = NULL;
    }
    fclose(tmp);
    return out;
}

static bool valid_utf8(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

/* Every line is a record (time at the margin) or a continuation (indented). */
static bool records_unforged(const char *s, int *records)
{
    *records = 0;
    for (const char *line = s; *line; ) {
        const char *nl = strchr(line, '\n');
        if (!nl)
            return false;   /* every record ends with a newline */
        if (line[0] >= '0' && line[0] <= '9')
            (*records)++;
        else if (strncmp(line, "    ", 4) != 0)
            return false;
        line = nl + 1;
    }
    return true;
}

int main(void)
{
    int records;
    char *out = logged("ok\n2026-01-01T00:00:00.000Z error forged record\rX\x1b[31m");
    CHECK(out && records_unforged(out, &records) && records == 1);
    CHECK(out && strstr(out, "\n    2026-01-01T00:00:00.000Z error forged") && strstr(out, "\\x0dX\\x1b[31m"));
    free(out);

    out = logged("bad \xff\xc0\xaf bytes \xe2\x82");
    CHECK(out && valid_utf8(out) && strstr(out, "bad " UTF8_REPLACEMENT UTF8_REPLACEMENT UTF8_REPLACEMENT " bytes"));
    free(out);

    /* a message past the line's size is cut between characters */
    char big[5000] = "";
    for (int i = 0; i < 1600; i++)
        strcat(big, "\xc3\xa9");   /* é, two bytes */
    out = logged(big);
    CHECK(out && valid_utf8(out) && records_unforged(out, &records) && records == 1);
    CHECK(out && strlen(out) <= 2048);
    free(out);

    /* control bytes expand fourfold; the line still ends whole */
    char ctl[3000];
    memset(ctl, '\x01', sizeof ctl - 1);
    ctl[sizeof ctl - 1] = '\0';
    out = logged(ctl);
    CHECK(out && records_unforged(out, &records) && records == 1 && strlen(out) <= 2048);
    free(out);
    return check_report();
}
