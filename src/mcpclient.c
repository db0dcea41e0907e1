#include "mcpclient.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "jcs.h"

#define MAX_HEAD_BYTES (64u << 10)

struct mcp_client {
    struct mcp_client_opts o;
    /* HTTP */
    char *host, *port, *path;
    char session[256];
    char *protocol;
    /* stdio */
    pid_t pid;
    int to_child, from_child;
    char *pending;                /* bytes read from the child past the last line */
    size_t npending;
    size_t pending_cap;     /* bytes allocated for pending */
    size_t scanned;         /* pending[0..scanned) holds no newline: a long line is searched once */
    long next_id;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int ms_left(double deadline)
{
    double left = deadline - now_ms();
    return left <= 0 ? 0 : left > 1e9 ? 1000000000 : (int)left;
}

/* Waits until fd is ready for events or the deadline passes: 0 ready, -1 not. */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int left = ms_left(deadline);
        if (left == 0)
            return -1;
        int n = poll(&p, 1, left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static int write_all(int fd, const char *s, size_t n, double deadline)
{
    while (n) {
        if (wait_fd(fd, POLLOUT, deadline) < 0)
            return -1;
        ssize_t w = write(fd, s, n);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads a message strictly; NULL with err when it is not one JSON value. */
static cJSON *parse_strict(const char *text, size_t len, size_t max, char *err, size_t errlen)
{
    char *canon = NULL, why[200];
    size_t clen;
    if (jcs_canonicalize(text, len, 64, max, &canon, &clen, why, sizeof why) < 0) {
        snprintf(err, errlen, "the server sent a message that is not strict JSON: %s", why);
        return NULL;
    }
    free(canon);
    cJSON *v = cJSON_ParseWithLength(text, len);
    if (!v)
        snprintf(err, errlen, "out of memory");
    return v;
}

/* ---- opening ---- */

static int parse_url(struct mcp_client *c, const char *url, char *err, size_t errlen)
{
    if (strncmp(url, "https://", 8) == 0)
        return snprintf(err, errlen, "%s: https is not supported yet (use http:// on loopback)", url), -1;
    if (strncmp(url, "http://", 7) != 0)
        return snprintf(err, errlen, "%s: the URL must start with http://", url), -1;
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hostport = slash ? (size_t)(slash - h) : strlen(h);
    const char *colon = NULL;
    if (hostport && h[0] == '[') {
        const char *close = memchr(h, ']', hostport);
        if (!close)
            return snprintf(err, errlen, "%s: an IPv6 host needs its ']'", url), -1;
        colon = close + 1 < h + hostport && close[1] == ':' ? close + 1 : NULL;
        c->host = strndup(h + 1, (size_t)(close - h - 1));
    } else {
        colon = memchr(h, ':', hostport);
        c->host = strndup(h, colon ? (size_t)(colon - h) : hostport);
    }
    c->port = colon ? strndup(colon + 1, (size_t)(h + hostport - colon - 1)) : strdup("80");
    c->path = strdup(slash ? slash : "/");
    if (!c->host || !c->port || !c->path)
        return snprintf(err, errlen, "out of memory"), -1;
    if (!c->host[0] || !c->port[0] || strspn(c->port, "0123456789") != strlen(c->port))
        return snprintf(err, errlen, "%s: not http://HOST[:PORT][/PATH]", url), -1;
    for (const char *p = c->path; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return snprintf(err, errlen, "%s: the path has a space or control byte", url), -1;
    return 0;
}

static int spawn(struct mcp_client *c, char *err, size_t errlen)
{
    int in[2], out[2], ready[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return snprintf(err, errlen, "pipe: %s", strerror(errno)), -1;
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]), close(in[1]);
        return snprintf(err, errlen, "pipe: %s", strerror(errno)), -1;
    }
    /* a pipe closed on exec tells whether exec worked */
    if (pipe2(ready, O_CLOEXEC) < 0) {
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return snprintf(err, errlen, "pipe: %s", strerror(errno)), -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]), close(in[1]), close(out[0]), close(out[1]), close(ready[0]), close(ready[1]);
        return snprintf(err, errlen, "fork: %s", strerror(errno)), -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        execvp(c->o.command[0], c->o.command);
        int e = errno;
        ssize_t w = write(ready[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(ready[1]);
    int e = 0;
    ssize_t r;
    while ((r = read(ready[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(ready[0]);
    c->pid = pid;
    c->to_child = in[1];
    c->from_child = out[0];
    fcntl(c->to_child, F_SETFL, O_NONBLOCK);
    fcntl(c->from_child, F_SETFL, O_NONBLOCK);
    if (r == (ssize_t)sizeof e)
        return snprintf(err, errlen, "%s: cannot run: %s", c->o.command[0], strerror(e)), -1;
    return 0;
}

struct mcp_client *mcp_client_open(const struct mcp_client_opts *o, char *err, size_t errlen)
{
    struct mcp_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->o = *o;
    if (!c->o.timeout_ms)
        c->o.timeout_ms = 10000;
    if (!c->o.max_message_bytes)
        c->o.max_message_bytes = 16u << 20;
    c->to_child = c->from_child = -1;
    c->pid = -1;
    c->next_id = 1;
    if ((o->url ? parse_url(c, o->url, err, errlen) : spawn(c, err, errlen)) < 0) {
        mcp_client_close(c);
        return NULL;
    }
    return c;
}

void mcp_client_set_protocol(struct mcp_client *c, const char *version)
{
    free(c->protocol);
    c->protocol = strdup(version);
}

/* ---- stdio ---- */

/* The next line from the child, NUL-terminated in *line (the caller frees). */
static int child_line(struct mcp_client *c, double deadline, char **line, size_t *len, char *err, size_t errlen)
{
    for (;;) {
        char *nl = c->npending > c->scanned ? memchr(c->pending + c->scanned, '\n', c->npending - c->scanned) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - c->pending);
            if (!(*line = malloc(n + 1)))
                return snprintf(err, errlen, "out of memory"), -1;
            memcpy(*line, c->pending, n);
            (*line)[n] = '\0';
            *len = n && (*line)[n - 1] == '\r' ? n - 1 : n;
            memmove(c->pending, nl + 1, c->npending - n - 1);
            c->npending -= n + 1;
            c->scanned = 0;
            return 0;
        }
        c->scanned = c->npending;
        if (c->npending > c->o.max_message_bytes)
            return snprintf(err, errlen, "the server sent a line longer than %zu bytes", c->o.max_message_bytes), -1;
        if (wait_fd(c->from_child, POLLIN, deadline) < 0)
            return snprintf(err, errlen, "no answer within %u ms", c->o.timeout_ms), -1;
        char buf[65536];
        ssize_t r = read(c->from_child, buf, sizeof buf);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            return snprintf(err, errlen, "the server closed its stdout"), -1;
        if (c->npending + (size_t)r > c->pending_cap) {
            /* Doubling: a long line is copied a few times, not once per read. */
            size_t cap = c->pending_cap ? c->pending_cap * 2 : sizeof buf;
            if (cap < c->npending + (size_t)r)
                cap = c->npending + (size_t)r;
            char *grown = realloc(c->pending, cap);
            if (!grown)
                return snprintf(err, errlen, "out of memory"), -1;
            c->pending = grown;
            c->pending_cap = cap;
        }
        memcpy(c->pending + c->npending, buf, (size_t)r);
        c->npending += (size_t)r;
    }
}

/* ---- HTTP ---- */

static int http_connect(struct mcp_client *c, double deadline, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(c->host, c->port, &hints, &res);
    if (rc != 0)
        return snprintf(err, errlen, "%s: %s", c->host, gai_strerror(rc)), -1;
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
            close(fd), fd = -1;
            continue;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (wait_fd(fd, POLLOUT, deadline) < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
            close(fd), fd = -1;
            continue;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot connect to %s:%s", c->host, c->port);
    return fd;
}

/* A growing buffer of what one answer sent, bounded. */
struct rbuf {
    char *data;
    size_t len, cap;
};

/* Reads more bytes into b: 1 read, 0 end of stream, -1 failure/timeout. */
static int read_more(int fd, struct rbuf *b, size_t max, double deadline, char *err, size_t errlen)
{
    if (b->len >= max)
        return snprintf(err, errlen, "the server's answer is larger than %zu bytes", max), -1;
    if (b->cap - b->len < 65536) {
        size_t cap = b->cap ? b->cap * 2 : 65536 * 2;
        char *d = realloc(b->data, cap + 1);
        if (!d)
            return snprintf(err, errlen, "out of memory"), -1;
        b->data = d;
        b->cap = cap;
    }
    for (;;) {
        if (wait_fd(fd, POLLIN, deadline) < 0)
            return snprintf(err, errlen, "no answer within %u ms", 0u), -1;
        ssize_t r = read(fd, b->data + b->len, b->cap - b->len);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return snprintf(err, errlen, "reading the answer: %s", strerror(errno)), -1;
        b->len += (size_t)r;
        b->data[b->len] = '\0';
        return r > 0;
    }
}

/* The value of header name in head[0..len) (CRLF lines), or NULL. */
static const char *header(const char *head, size_t len, const char *name, size_t *vlen)
{
    size_t n = strlen(name);
    const char *p = memchr(head, '\n', len), *end = head + len;
    while (p && p + 1 < end) {
        const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        if ((size_t)(eol - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

/* Appends bytes to a buffer of at most max bytes. */
static int append(struct rbuf *b, const char *data, size_t n, size_t max, char *err, size_t errlen)
{
    if (n > max || b->len > max - n)
        return snprintf(err, errlen, "the server's answer is larger than %zu bytes", max), -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return snprintf(err, errlen, "out of memory"), -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* Decodes the complete chunks of a chunked body from raw[*at..len) into
 * body, each byte once however often it is called; *done at the last
 * chunk. Returns 0, or -1 with err when the coding is broken. */
static int dechunk(const char *raw, size_t len, size_t *at, struct rbuf *body, size_t max, bool *done, char *err,
                   size_t errlen)
{
    while (!*done) {
        const char *line = raw + *at, *eol = memchr(line, '\n', len - *at);
        if (!eol)
            return len - *at > 64 ? (snprintf(err, errlen, "the answer's chunked body is broken"), -1) : 0;
        char *end;
        unsigned long size = strtoul(line, &end, 16);
        if (end == line || size > (1ul << 30))
            return snprintf(err, errlen, "the answer's chunked body is broken"), -1;
        size_t data = (size_t)(eol - raw) + 1;
        if (size == 0) {
            *done = true;
            *at = data;
            return 0;
        }
        if (len - data < size + 2)
            return 0;
        if (append(body, raw + data, size, max, err, errlen) < 0)
            return -1;
        *at = data + size + 2;
    }
    return 0;
}

/* From an event stream's complete events in s[0..len), the data of the
 * first whose JSON has our id; NULL when none yet. *used says how far the
 * events were examined, so that the next call starts there. */
static cJSON *find_in_events(const char *s, size_t len, long id, size_t max, char *err, size_t errlen, bool *bad,
                             size_t *used)
{
    size_t at = 0;
    *used = 0;
    while (at < len) {
        const char *blank = NULL;
        for (size_t i = at; i + 1 < len && !blank; i++)
            if (s[i] == '\n' && (s[i + 1] == '\n' || (s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n')))
                blank = s + i + 1;
        if (!blank)
            return NULL;
        /* the event's data lines, joined by \n */
        char *data = malloc((size_t)(blank - s - (long)at) + 1);
        size_t dn = 0;
        if (!data) {
            *bad = true;
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        for (const char *line = s + at; line < blank;) {
            const char *eol = memchr(line, '\n', (size_t)(blank - line));
            size_t ll = (size_t)((eol ? eol : blank) - line);
            if (ll && line[ll - 1] == '\r')
                ll--;
            if (ll >= 5 && strncmp(line, "data:", 5) == 0) {
                size_t skip = ll > 5 && line[5] == ' ' ? 6 : 5;
                if (dn)
                    data[dn++] = '\n';
                memcpy(data + dn, line + skip, ll - skip);
                dn += ll - skip;
            }
            line = eol ? eol + 1 : blank;
        }
        at = (size_t)(blank - s) + (blank[0] == '\r' ? 2 : 1);
        *used = at;
        if (!dn) {
            free(data);
            continue;
        }
        cJSON *msg = parse_strict(data, dn, max, err, errlen);
        free(data);
        if (!msg) {
            *bad = true;
            return NULL;
        }
        const cJSON *mid = cJSON_GetObjectItemCaseSensitive(msg, "id");
        if (cJSON_IsNumber(mid) && mid->valuedouble == (double)id &&
            !cJSON_GetObjectItemCaseSensitive(msg, "method"))
            return msg;
        cJSON_Delete(msg);
    }
    return NULL;
}

/* POSTs body and returns the answer message with our id (id < 0: a
 * notification, answered 202 with nothing). */
static cJSON *http_exchange(struct mcp_client *c, const char *method, const char *body, long id, char *err,
                            size_t errlen)
{
    double deadline = now_ms() + c->o.timeout_ms;
    int fd = http_connect(c, deadline, err, errlen);
    if (fd < 0)
        return NULL;
    char *req = NULL;
    size_t reqlen = 0;
    FILE *f = open_memstream(&req, &reqlen);
    cJSON *answer = NULL;
    struct rbuf b = {0}, decoded = {0};
    if (!f) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    bool v6 = strchr(c->host, ':') != NULL;
    fprintf(f, "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n", method, c->path, v6 ? "[" : "", c->host, v6 ? "]" : "", c->port);
    fprintf(f, "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nConnection: close\r\n");
    if (c->session[0])
        fprintf(f, "Mcp-Session-Id: %s\r\n", c->session);
    if (c->protocol)
        fprintf(f, "MCP-Protocol-Version: %s\r\n", c->protocol);
    for (size_t i = 0; i < c->o.nheaders; i++)
        fprintf(f, "%s\r\n", c->o.headers[i]);
    fprintf(f, "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    if (fclose(f) != 0 || !req) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (write_all(fd, req, reqlen, deadline) < 0) {
        snprintf(err, errlen, "cannot send the request to %s:%s", c->host, c->port);
        goto out;
    }
    size_t max = c->o.max_message_bytes + MAX_HEAD_BYTES;
    char *head_end = NULL;
    int r = 1;
    while (!(head_end = b.data ? strstr(b.data, "\r\n\r\n") : NULL)) {
        if (b.len > MAX_HEAD_BYTES) {
            snprintf(err, errlen, "the answer's head is larger than %u bytes", MAX_HEAD_BYTES);
            goto out;
        }
        if ((r = read_more(fd, &b, max, deadline, err, errlen)) <= 0) {
            if (r == 0)
                snprintf(err, errlen, "the server closed the connection before answering");
            else if (strstr(err, "within"))
                snprintf(err, errlen, "no answer within %u ms", c->o.timeout_ms);
            goto out;
        }
    }
    size_t head_len = (size_t)(head_end - b.data) + 2;
    if (head_len > MAX_HEAD_BYTES) {
        snprintf(err, errlen, "the answer's head is larger than %u bytes", MAX_HEAD_BYTES);
        goto out;
    }
    int status = 0;
    if (sscanf(b.data, "HTTP/1.%*[01] %3d", &status) != 1) {
        snprintf(err, errlen, "the answer is not HTTP/1.x");
        goto out;
    }
    size_t vlen;
    const char *sid = header(b.data, head_len, "Mcp-Session-Id", &vlen);
    if (sid && vlen < sizeof c->session) {
        memcpy(c->session, sid, vlen);
        c->session[vlen] = '\0';
        for (char *p = c->session; *p; p++)
            if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
                c->session[0] = '\0';
    }
    size_t ctype_len = 0;
    const char *ctype = header(b.data, head_len, "Content-Type", &ctype_len);
    bool sse = ctype && ctype_len >= 17 && strncasecmp(ctype, "text/event-stream", 17) == 0;
    const char *te = header(b.data, head_len, "Transfer-Encoding", &vlen);
    bool chunked = te && vlen == 7 && strncasecmp(te, "chunked", 7) == 0;
    const char *cl = header(b.data, head_len, "Content-Length", &vlen);
    long length = cl && !chunked ? strtol(cl, NULL, 10) : -1;
    size_t body_at = head_len + 2;
    if (id < 0) {
        if (status != 202 && status != 200 && status != 204)
            snprintf(err, errlen, "the server answered the notification with HTTP %d", status);
        else
            answer = cJSON_CreateNull();
        goto out;
    }
    /* read the body until it is complete, or (event stream) our answer came;
     * each byte is decoded and examined once */
    size_t raw_at = body_at, scanned = 0;
    bool complete = false;
    for (;;) {
        if (chunked) {
            if (dechunk(b.data, b.len, &raw_at, &decoded, c->o.max_message_bytes, &complete, err, errlen) < 0)
                goto out;
        } else {
            size_t n = b.len - raw_at;
            if (length >= 0 && decoded.len + n > (size_t)length)
                n = (size_t)length - decoded.len;
            if (append(&decoded, b.data + raw_at, n, c->o.max_message_bytes, err, errlen) < 0)
                goto out;
            raw_at = b.len;
            complete = length >= 0 ? decoded.len == (size_t)length : r == 0;
        }
        const char *text = decoded.data ? decoded.data : "";
        if (r == 0 && !complete && (length >= 0 || chunked)) {
            snprintf(err, errlen, "the server closed the connection in the middle of its answer");
            goto out;
        }
        if (status != 200) {
            if (complete || r == 0) {
                char shown[201];
                size_t k = 0;
                /* the server's words reach a terminal: no control bytes */
                for (; k < decoded.len && k < 200; k++)
                    shown[k] = (unsigned char)text[k] < 0x20 || text[k] == 0x7f ? '?' : text[k];
                shown[k] = '\0';
                snprintf(err, errlen, "the server answered HTTP %d: %s", status, shown);
                goto out;
            }
        } else if (sse) {
            bool bad = false;
            size_t used;
            answer = find_in_events(text + scanned, decoded.len - scanned, id, c->o.max_message_bytes, err, errlen,
                                    &bad, &used);
            scanned += used;
            if (answer || bad || complete || r == 0) {
                if (!answer && !bad)
                    snprintf(err, errlen, "the event stream ended without the answer");
                goto out;
            }
        } else if (complete || r == 0) {
            if (!ctype || ctype_len < 16 || strncasecmp(ctype, "application/json", 16) != 0)
                snprintf(err, errlen, "the answer's Content-Type is not application/json or text/event-stream");
            else
                answer = parse_strict(text, decoded.len, c->o.max_message_bytes, err, errlen);
            goto out;
        }
        if (r == 0) {
            snprintf(err, errlen, "the server closed the connection in the middle of its answer");
            goto out;
        }
        if ((r = read_more(fd, &b, max, deadline, err, errlen)) < 0) {
            if (strstr(err, "within"))
                snprintf(err, errlen, "no answer within %u ms", c->o.timeout_ms);
            goto out;
        }
    }
out:
    free(req);
    free(b.data);
    free(decoded.data);
    close(fd);
    return answer;
}

/* ---- requests ---- */

static int send_line(struct mcp_client *c, const char *text, double deadline, char *err, size_t errlen)
{
    if (write_all(c->to_child, text, strlen(text), deadline) < 0 || write_all(c->to_child, "\n", 1, deadline) < 0)
        return snprintf(err, errlen, "cannot write to the server's stdin"), -1;
    return 0;
}

/* The stdio answer with our id; server requests meanwhile get -32601. */
static cJSON *stdio_exchange(struct mcp_client *c, const char *body, long id, char *err, size_t errlen)
{
    double deadline = now_ms() + c->o.timeout_ms;
    if (send_line(c, body, deadline, err, errlen) < 0)
        return NULL;
    if (id < 0)
        return cJSON_CreateNull();
    for (;;) {
        char *line;
        size_t len;
        if (child_line(c, deadline, &line, &len, err, errlen) < 0)
            return NULL;
        if (strspn(line, " \t\r") == len) {
            free(line);
            continue;
        }
        cJSON *msg = parse_strict(line, len, c->o.max_message_bytes, err, errlen);
        free(line);
        if (!msg)
            return NULL;
        const cJSON *mid = cJSON_GetObjectItemCaseSensitive(msg, "id");
        const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
        if (!method && cJSON_IsNumber(mid) && mid->valuedouble == (double)id)
            return msg;
        if (cJSON_IsString(method) && mid) {
            char *idtext = cJSON_PrintUnformatted(mid);
            char reply[512];
            snprintf(reply, sizeof reply,
                     "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":-32601,\"message\":\"warden scan answers no requests\"}}",
                     idtext && strlen(idtext) < 300 ? idtext : "null");
            free(idtext);
            if (send_line(c, reply, deadline, err, errlen) < 0) {
                cJSON_Delete(msg);
                return NULL;
            }
        }
        cJSON_Delete(msg);
    }
}

static cJSON *exchange(struct mcp_client *c, const char *method, cJSON *params, long id, char *err, size_t errlen)
{
    cJSON *msg = cJSON_CreateObject();
    if (!msg || !cJSON_AddStringToObject(msg, "jsonrpc", "2.0") || (id >= 0 && !cJSON_AddNumberToObject(msg, "id", (double)id)) ||
        !cJSON_AddStringToObject(msg, "method", method) || (params && !cJSON_AddItemToObject(msg, "params", params))) {
        if (msg && params && !cJSON_GetObjectItemCaseSensitive(msg, "params"))
            cJSON_Delete(params);
        cJSON_Delete(msg);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char *body = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    if (!body) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cJSON *answer = c->o.url ? http_exchange(c, "POST", body, id, err, errlen) : stdio_exchange(c, body, id, err, errlen);
    free(body);
    return answer;
}

cJSON *mcp_client_request(struct mcp_client *c, const char *method, cJSON *params, char *err, size_t errlen)
{
    cJSON *answer = exchange(c, method, params, c->next_id++, err, errlen);
    if (!answer)
        return NULL;
    cJSON *result = cJSON_DetachItemFromObjectCaseSensitive(answer, "result");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(answer, "error");
    if (!result || !cJSON_IsObject(result)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(error, "message");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
        if (error)
            snprintf(err, errlen, "%s: the server answered error %d: %.300s", method,
                     cJSON_IsNumber(code) ? (int)code->valuedouble : 0, cJSON_IsString(m) ? m->valuestring : "");
        else
            snprintf(err, errlen, "%s: the answer has no result object", method);
        cJSON_Delete(result);
        result = NULL;
    }
    cJSON_Delete(answer);
    return result;
}

int mcp_client_notify(struct mcp_client *c, const char *method, char *err, size_t errlen)
{
    cJSON *r = exchange(c, method, NULL, -1, err, errlen);
    if (!r)
        return -1;
    cJSON_Delete(r);
    return 0;
}

void mcp_client_close(struct mcp_client *c)
{
    if (!c)
        return;
    if (c->o.url && c->session[0]) {
        char err[200];
        cJSON *r = http_exchange(c, "DELETE", "", -1, err, sizeof err);
        cJSON_Delete(r);
    }
    if (c->to_child >= 0)
        close(c->to_child);
    if (c->from_child >= 0)
        close(c->from_child);
    if (c->pid > 0) {
        /* closing stdin asks it to end; then TERM, then KILL */
        double deadline = now_ms() + 2000;
        int status;
        while (waitpid(c->pid, &status, WNOHANG) == 0) {
            if (now_ms() > deadline) {
                kill(-c->pid, SIGKILL);
                kill(c->pid, SIGKILL);
                waitpid(c->pid, &status, 0);
                break;
            }
            if (now_ms() > deadline - 1000)
                kill(-c->pid, SIGTERM);
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    free(c->host);
    free(c->port);
    free(c->path);
    free(c->protocol);
    free(c->pending);
    free(c);
}
