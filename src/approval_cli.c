#include "approval_cli.h"

#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <cjson/cJSON.h>

#define MAX_ANSWER (16u << 20)

static int usage(FILE *out)
{
    fputs("usage: warden approvals [--admin URL] list [--status pending|approved|denied|expired|consumed|all]\n"
          "       warden approvals [--admin URL] show ID\n"
          "       warden approvals [--admin URL] approve ID [--reason TEXT]\n"
          "       warden approvals [--admin URL] deny ID [--reason TEXT]\n"
          "URL: the admin listener, http://HOST:PORT (default $WARDEN_ADMIN, else http://127.0.0.1:8932).\n"
          "The approver's token is read from $WARDEN_APPROVER_TOKEN.\n",
          out);
    return 2;
}

struct answer {
    int status;
    char *body; /* owned, NUL-terminated */
};

/* One request to the admin listener, Connection: close; -1 with a message on stderr. */
static int request(const char *admin, const char *method, const char *path, const char *token, const char *body,
                   struct answer *out)
{
    char host[256], port[8] = "80";
    if (strncmp(admin, "http://", 7) != 0) {
        fprintf(stderr, "warden approvals: --admin %s: must be http://HOST:PORT\n", admin);
        return -1;
    }
    const char *h = admin + 7;
    size_t hl = strcspn(h, "/");
    const char *colon = NULL;
    if (h[0] == '[') {
        const char *close = memchr(h, ']', hl);
        colon = close && close + 1 < h + hl && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(h, ':', hl);
    }
    size_t name_len = colon ? (size_t)(colon - h) : hl;
    if (h[0] == '[' && name_len >= 2) {
        h++;
        name_len -= 2;
    }
    if (name_len == 0 || name_len >= sizeof host || (colon && (size_t)(h + hl - colon - 1) >= sizeof port)) {
        fprintf(stderr, "warden approvals: --admin %s: must be http://HOST:PORT\n", admin);
        return -1;
    }
    memcpy(host, h, name_len);
    host[name_len] = '\0';
    if (colon)
        snprintf(port, sizeof port, "%.*s", (int)(admin + 7 + hl - colon - 1), colon + 1);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "warden approvals: %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = {.tv_sec = 10};
        if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
                        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
                        connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "warden approvals: cannot connect to %s: %s\n", admin, strerror(errno));
        return -1;
    }
    char *req = NULL;
    char length[80] = "";
    if (body)
        snprintf(length, sizeof length, "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(body));
    int n = asprintf(&req,
                     "%s %s HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: Bearer %s\r\nAccept: application/json\r\n"
                     "Connection: close\r\n%s\r\n%s",
                     method, path, host, port, token, length, body ? body : "");
    if (n < 0) {
        close(fd);
        return -1;
    }
    bool sent = send(fd, req, (size_t)n, MSG_NOSIGNAL) == n;
    free(req);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    while (sent && buf) {
        if (len == cap) {
            char *bigger = cap < MAX_ANSWER ? realloc(buf, cap * 2 + 1) : NULL;
            if (!bigger)
                break;
            buf = bigger;
            cap *= 2;
        }
        ssize_t got = recv(fd, buf + len, cap - len, 0);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    if (!buf || !sent || len < 12 || strncmp(buf, "HTTP/1.", 7) != 0) {
        fprintf(stderr, "warden approvals: %s did not answer over HTTP\n", admin);
        free(buf);
        return -1;
    }
    buf[len] = '\0';
    out->status = atoi(buf + 9);
    char *start = strstr(buf, "\r\n\r\n");
    out->body = strdup(start ? start + 4 : "");
    free(buf);
    return out->body ? 0 : -1;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

/* Prints the list as a table, one request a line. */
static void print_list(const cJSON *root)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "approvals");
    printf("%-30s %-9s %-24s %-12s %-16s %s\n", "ID", "STATUS", "TOOL", "SERVER", "REQUESTER", "EXPIRES");
    for (const cJSON *a = cJSON_IsArray(list) ? list->child : NULL; a; a = a->next)
        printf("%-30s %-9s %-24s %-12s %-16s %s\n", str(a, "id"), str(a, "status"), str(a, "tool"), str(a, "server"),
               str(a, "principal"), str(a, "expires_at"));
}

int approval_cli_main(int argc, char **argv)
{
    const char *admin = getenv("WARDEN_ADMIN") ? getenv("WARDEN_ADMIN") : "http://127.0.0.1:8932";
    const char *status = "pending", *reason = "";
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--admin") == 0) {
        admin = argv[i + 1];
        i += 2;
    }
    if (i >= argc)
        return usage(stderr);
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    const char *cmd = argv[i++];
    const char *id = NULL;
    if (strcmp(cmd, "list") != 0) {
        if (i >= argc)
            return usage(stderr);
        id = argv[i++];
    }
    for (; i < argc; i += 2) {
        if (i + 1 >= argc)
            return usage(stderr);
        if (strcmp(argv[i], "--status") == 0 && strcmp(cmd, "list") == 0)
            status = argv[i + 1];
        else if (strcmp(argv[i], "--reason") == 0 && (strcmp(cmd, "approve") == 0 || strcmp(cmd, "deny") == 0))
            reason = argv[i + 1];
        else if (strcmp(argv[i], "--admin") == 0)
            admin = argv[i + 1];
        else
            return usage(stderr);
    }
    const char *token = getenv("WARDEN_APPROVER_TOKEN");
    if (!token || !token[0] || strpbrk(token, "\r\n")) {
        fputs("warden approvals: set WARDEN_APPROVER_TOKEN to your approver token\n", stderr);
        return 2;
    }
    if (id && (strncmp(id, "apr_", 4) != 0 || strspn(id + 4, "abcdefghijklmnopqrstuvwxyz234567") != strlen(id + 4))) {
        fprintf(stderr, "warden approvals: %s is not an approval id (apr_...)\n", id);
        return 2;
    }
    char path[128];
    char *body = NULL;
    const char *method = "GET";
    if (strcmp(cmd, "list") == 0) {
        if (strspn(status, "abcdefghijklmnopqrstuvwxyz") != strlen(status) || strlen(status) > 20)
            return usage(stderr);
        snprintf(path, sizeof path, "/approvals%s%s", strcmp(status, "all") ? "?status=" : "",
                 strcmp(status, "all") ? status : "");
    } else if (strcmp(cmd, "show") == 0) {
        snprintf(path, sizeof path, "/approvals/%s", id);
    } else if (strcmp(cmd, "approve") == 0 || strcmp(cmd, "deny") == 0) {
        snprintf(path, sizeof path, "/approvals/%s", id);
        method = "POST";
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "decision", cmd) || !cJSON_AddStringToObject(o, "reason", reason) ||
            !(body = cJSON_PrintUnformatted(o))) {
            cJSON_Delete(o);
            fputs("warden approvals: out of memory\n", stderr);
            return 2;
        }
        cJSON_Delete(o);
    } else {
        return usage(stderr);
    }
    struct answer a = {0};
    int rc = request(admin, method, path, token, body, &a);
    free(body);
    if (rc < 0)
        return 2;
    cJSON *root = cJSON_Parse(a.body);
    int exit_code = 0;
    if (a.status != 200) {
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
        fprintf(stderr, "warden approvals: %d: %s\n", a.status, cJSON_IsString(err) ? err->valuestring : a.body);
        exit_code = 1;
    } else if (strcmp(cmd, "list") == 0) {
        print_list(root);
    } else if (strcmp(cmd, "show") == 0) {
        char *pretty = cJSON_Print(root);
        puts(pretty ? pretty : a.body);
        free(pretty);
    } else {
        printf("%s %s\n", str(root, "status"), id);
    }
    cJSON_Delete(root);
    free(a.body);
    return exit_code;
}
