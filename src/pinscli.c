#include "pinscli.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include "config.h"
#include "pins.h"
#include "pins_redis.h"
#include "state.h"

/* A loaded pins file and its pending record. */
struct both {
    struct pin_entry *tools, *pending;
    size_t n, npending;
    struct pin_entry ins, pending_ins;
    bool has_ins, has_pending_ins;
};

static void both_free(struct both *b)
{
    pin_entries_free(b->tools, b->n);
    pin_entries_free(b->pending, b->npending);
    pin_entry_clear(&b->ins);
    pin_entry_clear(&b->pending_ins);
}

static int load_both(const char *path, bool missing_ok, struct both *b)
{
    char err[8192], *pending = NULL;
    memset(b, 0, sizeof *b);
    if (asprintf(&pending, "%s.pending", path) < 0)
        return -1;
    int rc = -1;
    if (pins_file_read(path, missing_ok, &b->tools, &b->n, &b->ins, &b->has_ins, err, sizeof err) < 0 ||
        pins_file_read(pending, true, &b->pending, &b->npending, &b->pending_ins, &b->has_pending_ins, err,
                       sizeof err) < 0)
        fprintf(stderr, "warden pins: %s\n", err);
    else
        rc = 0;
    free(pending);
    return rc;
}

static struct pin_entry *find(struct pin_entry *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

/* The lines of a definition pretty-printed (cJSON_Print of its canonical text). */
static char **lines_of(const struct pin_entry *e, size_t *n)
{
    *n = 0;
    if (!e)
        return calloc(1, sizeof(char *));
    cJSON *j = cJSON_ParseWithLength(e->canonical, e->canonical_len);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text)
        return NULL;
    size_t count = 1;
    for (const char *p = text; *p; p++)
        count += *p == '\n';
    char **v = calloc(count + 1, sizeof *v);
    if (!v) {
        free(text);
        return NULL;
    }
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (!(v[(*n)++] = strdup(line))) {
            (*n)--;
            break;
        }
    free(text);
    return v;
}

static void lines_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* Prints a line diff of a and b (longest common subsequence; past a size
 * where that costs too much, all of a removed and all of b added). */
static void print_diff(char **a, size_t na, char **b, size_t nb)
{
    unsigned *lcs = na * nb <= 4000000 ? calloc((na + 1) * (nb + 1), sizeof *lcs) : NULL;
    if (!lcs) {
        for (size_t i = 0; i < na; i++)
            printf("- %s\n", a[i]);
        for (size_t j = 0; j < nb; j++)
            printf("+ %s\n", b[j]);
        return;
    }
#define L(i, j) lcs[(i) * (nb + 1) + (j)]
    for (size_t i = na; i-- > 0;)
        for (size_t j = nb; j-- > 0;)
            L(i, j) = strcmp(a[i], b[j]) == 0 ? L(i + 1, j + 1) + 1 : L(i + 1, j) > L(i, j + 1) ? L(i + 1, j) : L(i, j + 1);
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        if (i < na && j < nb && strcmp(a[i], b[j]) == 0)
            printf("  %s\n", a[i]), i++, j++;
        else if (i < na && (j == nb || L(i + 1, j) >= L(i, j + 1)))
            printf("- %s\n", a[i++]);
        else
            printf("+ %s\n", b[j++]);
    }
#undef L
    free(lcs);
}

static bool show(const char *what, const struct pin_entry *pinned, const struct pin_entry *seen)
{
    char ph[2 * SHA256_BYTES + 1] = "", sh[2 * SHA256_BYTES + 1];
    sha256_hex(seen->digest, sh);
    if (pinned)
        sha256_hex(pinned->digest, ph);
    if (pinned && strcmp(ph, sh) == 0) {
        printf("%s: pending but already pinned as seen (%s)\n", what, sh);
        return false;
    }
    if (pinned)
        printf("%s: changed: pinned %s, seen %s\n", what, ph, sh);
    else
        printf("%s: new: seen %s\n", what, sh);
    size_t na, nb;
    char **a = lines_of(pinned, &na), **b = lines_of(seen, &nb);
    if (a && b)
        print_diff(a, na, b, nb);
    lines_free(a, na);
    lines_free(b, nb);
    return true;
}

static int diff(const char *path, const char *tool)
{
    struct both b;
    if (load_both(path, false, &b) < 0)
        return 2;
    int differences = 0;
    if (b.has_pending_ins && !tool)
        differences += show("instructions", b.has_ins ? &b.ins : NULL, &b.pending_ins);
    for (size_t i = 0; i < b.npending; i++)
        if (!tool || strcmp(tool, b.pending[i].name) == 0) {
            char what[300];
            snprintf(what, sizeof what, "tool %s", b.pending[i].name);
            differences += show(what, find(b.tools, b.n, b.pending[i].name), &b.pending[i]);
        }
    if (!differences)
        printf("nothing pending for %s%s%s\n", path, tool ? ", tool " : "", tool ? tool : "");
    both_free(&b);
    return differences ? 1 : 0;
}

/* What approve takes from the pending record: everything (tool NULL and not
 * instructions), one tool, or the instructions. */
static bool chosen(const char *name, const char *tool, bool instructions)
{
    return name ? !instructions && (!tool || strcmp(tool, name) == 0) : instructions || !tool;
}

static void nothing_pending(const char *path, const char *tool, bool instructions)
{
    fprintf(stderr, "warden pins: nothing pending to approve in %s.pending%s%s\n", path,
            tool ? " for tool " : instructions ? " for the instructions" : "", tool ? tool : "");
}

/* Rewrites FILE.pending with left[0..nleft) and ins_left (none: removes it;
 * a warden that heard of a shared approval may have removed it first). */
static int rewrite_pending(const char *path, const struct pin_entry *left, size_t nleft, const struct pin_entry *ins_left)
{
    char err[1024], *pending = NULL;
    if (asprintf(&pending, "%s.pending", path) < 0)
        return -1;
    int rc = 0;
    if (nleft || ins_left ? pins_file_write(pending, "Definitions warden saw that are not pinned: warden pins diff, "
                                                     "warden pins approve", left, nleft, ins_left, err, sizeof err) < 0
                          : unlink(pending) < 0 && errno != ENOENT) {
        fprintf(stderr, "warden pins: approved, but %s still lists them: %s\n", pending,
                nleft || ins_left ? err : "cannot remove it");
        rc = -1;
    }
    free(pending);
    return rc;
}

static int approve(const char *path, const char *tool, bool instructions)
{
    struct both b;
    if (load_both(path, true, &b) < 0)
        return 2;
    int rc = 2, approved = 0;
    char err[1024];
    struct pin_entry *merged = calloc(b.n + b.npending + 1, sizeof *merged);
    struct pin_entry *left = calloc(b.npending + 1, sizeof *left);
    size_t nmerged = 0, nleft = 0;
    if (!merged || !left) {
        fprintf(stderr, "warden pins: out of memory\n");
        goto out;
    }
    /* entries are moved between the lists, so that each is freed once */
    for (size_t i = 0; i < b.n; i++)
        merged[nmerged++] = b.tools[i];
    b.n = 0;
    for (size_t i = 0; i < b.npending; i++) {
        struct pin_entry *e = &b.pending[i];
        if (chosen(e->name, tool, instructions)) {
            struct pin_entry *old = find(merged, nmerged, e->name);
            if (old)
                pin_entry_clear(old), *old = *e;
            else
                merged[nmerged++] = *e;
            approved++;
        } else {
            left[nleft++] = *e;
        }
    }
    b.npending = 0;
    struct pin_entry *ins = b.has_ins ? &b.ins : NULL, *ins_left = b.has_pending_ins ? &b.pending_ins : NULL;
    if (b.has_pending_ins && chosen(NULL, tool, instructions)) {
        ins = &b.pending_ins;
        ins_left = NULL;
        approved++;
    }
    if (!approved) {
        nothing_pending(path, tool, instructions);
        rc = 1;
        goto out;
    }
    if (pins_file_write(path, "Approved tool definitions (warden pins approve)", merged, nmerged, ins, err,
                        sizeof err) < 0) {
        fprintf(stderr, "warden pins: %s\n", err);
    } else if (rewrite_pending(path, left, nleft, ins_left) == 0) {
        printf("approved %d definition%s in %s\n", approved, approved == 1 ? "" : "s", path);
        rc = 0;
    }
out:
    pin_entries_free(merged, nmerged);
    pin_entries_free(left, nleft);
    both_free(&b);
    return rc;
}

/* ---- approving into the Redis of "state" ---- */

/* One command's wait on a private loop (a command-line tool may block). */
struct wait {
    struct event_base *base;
    bool done;
    long long version;
    char error[300];
};

static void on_approved(void *arg, const struct redisReply *r, const char *error)
{
    struct wait *wt = arg;
    wt->done = true;
    if (error || !r)
        snprintf(wt->error, sizeof wt->error, "%s", error ? error : "no reply");
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(wt->error, sizeof wt->error, "Redis refuses: %.*s", (int)(r->len < 200 ? r->len : 200), r->str);
    else if (r->type != REDIS_REPLY_INTEGER)
        snprintf(wt->error, sizeof wt->error, "an unexpected reply");
    else
        wt->version = r->integer;
    event_base_loopbreak(wt->base);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    event_base_loopbreak(arg);
}

/* Runs base until st is ready or `seconds` pass. */
static bool wait_ready(struct event_base *base, struct state *st, int seconds)
{
    struct event *deadline = evtimer_new(base, on_deadline, base);
    struct timeval tv = {seconds, 0};
    if (!deadline || evtimer_add(deadline, &tv) < 0) {
        if (deadline)
            event_free(deadline);
        return false;
    }
    while (!state_ready(st) && evtimer_pending(deadline, NULL))
        event_base_loop(base, EVLOOP_ONCE);
    event_free(deadline);
    return state_ready(st);
}

/* Approves in Redis what is chosen from path's pending record, over the pins
 * the file holds now (pins.h: runtime approvals), for server of cfg; every
 * warden sharing the Redis hears of it. The pins file is left as it is. */
static int approve_shared(const struct config *cfg, const char *server, const char *path, const char *tool,
                          bool instructions)
{
    struct both b;
    if (load_both(path, false, &b) < 0)
        return 2;
    int rc = 2;
    size_t n = 0, nleft = 0;
    struct pin_approval *v = calloc(b.npending + 1, sizeof *v);
    struct pin_entry *left = calloc(b.npending + 1, sizeof *left);
    struct event_base *base = NULL;
    struct state_health *health = NULL;
    struct state *st = NULL;
    char err[1024];
    if (!v || !left) {
        fprintf(stderr, "warden pins: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < b.npending; i++) {
        const struct pin_entry *e = &b.pending[i];
        if (!chosen(e->name, tool, instructions)) {
            left[nleft++] = *e; /* borrowed: b frees it */
            continue;
        }
        const struct pin_entry *filed = find(b.tools, b.n, e->name);
        v[n] = (struct pin_approval){.name = e->name, .has_base = filed != NULL};
        memcpy(v[n].digest, e->digest, SHA256_BYTES);
        if (filed)
            memcpy(v[n].base, filed->digest, SHA256_BYTES);
        n++;
    }
    const struct pin_entry *ins_left = b.has_pending_ins ? &b.pending_ins : NULL;
    if (b.has_pending_ins && chosen(NULL, tool, instructions)) {
        v[n] = (struct pin_approval){.has_base = b.has_ins};
        memcpy(v[n].digest, b.pending_ins.digest, SHA256_BYTES);
        if (b.has_ins)
            memcpy(v[n].base, b.ins.digest, SHA256_BYTES);
        n++;
        ins_left = NULL;
    }
    if (!n) {
        nothing_pending(path, tool, instructions);
        rc = 1;
        goto out;
    }
    /* a person waits for this one command: a longer deadline than a call's */
    struct state_conf conf = cfg->state;
    if (conf.timeout_ms < 2000)
        conf.timeout_ms = 2000;
    if (!(base = event_base_new()) || !(health = state_health_new()) ||
        !(st = state_new(base, &conf, health, err, sizeof err))) {
        fprintf(stderr, "warden pins: %s\n", base && health ? err : "out of memory");
        goto out;
    }
    if (!wait_ready(base, st, 5)) {
        fprintf(stderr, "warden pins: cannot reach Redis %s: nothing approved\n", cfg->state.redis);
        goto out;
    }
    char epoch[PINS_EPOCH_MAX + 1];
    state_unique_id(st, epoch, sizeof epoch);
    long long version = 0;
    for (size_t done = 0; done < n;) {
        size_t batch = n - done < PINS_REDIS_BATCH ? n - done : PINS_REDIS_BATCH;
        struct wait wt = {.base = base};
        if (!pins_redis_approve(st, server, v + done, batch, epoch, on_approved, &wt)) {
            fprintf(stderr, "warden pins: cannot send to Redis %s (a tool name over %u bytes?): %zu of %zu approved\n",
                    cfg->state.redis, PINS_REDIS_MAX_NAME, done, n);
            goto out;
        }
        while (!wt.done)
            event_base_loop(base, EVLOOP_ONCE);
        if (wt.error[0]) {
            fprintf(stderr, "warden pins: Redis %s: %s: %zu of %zu surely approved\n", cfg->state.redis, wt.error, done,
                    n);
            goto out;
        }
        version = wt.version;
        done += batch;
    }
    if (rewrite_pending(path, left, nleft, ins_left) == 0)
        rc = 0;
    printf("approved %zu definition%s of server %s in Redis %s (version %lld): in force on every warden that shares "
           "it; %s is unchanged\n",
           n, n == 1 ? "" : "s", server, cfg->state.redis, version, path);
out:
    state_free(st);
    state_health_free(health);
    if (base)
        event_base_free(base);
    free(left);
    free(v);
    both_free(&b);
    return rc;
}

static void usage(FILE *f)
{
    fputs("usage: warden pins diff    (PINS_FILE | --config FILE SERVER) [TOOL]\n"
          "       warden pins approve (PINS_FILE | --config FILE SERVER) [TOOL | --instructions]\n"
          "With --config, a config with \"state\" (Redis) gets the approval in Redis, for every warden sharing it;\n"
          "otherwise the pins file is rewritten.\n",
          f);
}

/* The pins file of server `name` in config file `file`, read into cfg (the
 * caller frees it with config_free), or NULL (told). */
static char *pins_of(const char *file, const char *name, struct config *cfg)
{
    char *args[] = {"--config", (char *)file, NULL};
    char err[8192];
    if (config_from_args(2, args, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "warden pins: %s\n", err);
        return NULL;
    }
    for (size_t i = 0; i < cfg->nservers; i++)
        if (strcmp(cfg->servers[i].name, name) == 0) {
            char *path = NULL;
            if (!cfg->servers[i].pins)
                fprintf(stderr, "warden pins: server %s of %s has no \"pins\" file\n", name, file);
            else if (!(path = strdup(cfg->servers[i].pins)))
                fprintf(stderr, "warden pins: out of memory\n");
            return path;
        }
    fprintf(stderr, "warden pins: %s names no server %s\n", file, name);
    return NULL;
}

int pins_main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "diff") != 0 && strcmp(argv[1], "approve") != 0)) {
        usage(stderr);
        return 2;
    }
    bool is_approve = strcmp(argv[1], "approve") == 0;
    int i = 2;
    char *path = NULL;
    const char *server = NULL;
    struct config cfg = {0};
    if (strcmp(argv[i], "--config") == 0) {
        if (argc < i + 3) {
            usage(stderr);
            return 2;
        }
        if (!(path = pins_of(argv[i + 1], argv[i + 2], &cfg))) {
            config_free(&cfg);
            return 2;
        }
        server = argv[i + 2];
        i += 3;
    } else if (!(path = strdup(argv[i++]))) {
        return 2;
    }
    const char *tool = NULL;
    bool instructions = false;
    for (; i < argc; i++) {
        if (is_approve && strcmp(argv[i], "--instructions") == 0 && !tool)
            instructions = true;
        else if (!tool && !instructions && argv[i][0] != '-')
            tool = argv[i];
        else {
            usage(stderr);
            free(path);
            config_free(&cfg);
            return 2;
        }
    }
    int rc = !is_approve                    ? diff(path, tool)
             : server && cfg.state.redis ? approve_shared(&cfg, server, path, tool, instructions)
                                         : approve(path, tool, instructions);
    free(path);
    config_free(&cfg);
    return rc;
}
