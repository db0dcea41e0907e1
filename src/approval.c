#include "approval.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "randbytes.h"
#include "reply.h"
#include "siphash.h"

#define BUCKETS 1024 /* a power of two; chains stay short for max_records near it */
#define MAX_OUTCOME_SERVERS 64

static const char *const status_names[] = {
    [APPROVAL_PENDING] = "pending", [APPROVAL_APPROVED] = "approved", [APPROVAL_DENIED] = "denied",
    [APPROVAL_EXPIRED] = "expired", [APPROVAL_CONSUMED] = "consumed",
};

struct record {
    char id[APPROVAL_ID_LEN + 1];
    unsigned char digest[SHA256_BYTES];
    char *principal, *server, *tool, *args_json, *rule, *reason; /* owned */
    char *decided_by, *decision_reason;                          /* owned, NULL until decided */
    enum approval_status status;
    struct approval_opts opts;
    unsigned long generation;
    double created, expires; /* expires: the request's, then the grant's once approved */
    double ended;            /* when it was denied, expired or consumed */
    size_t bytes;
    struct approval_waiter *waiters;
    struct record *chain;       /* in its digest bucket */
    struct record *prev, *next; /* every record, oldest first */
};

/* warden_approvals_total{server,outcome}: outcomes in this order. */
enum { OUT_REQUESTED, OUT_APPROVED, OUT_DENIED, OUT_EXPIRED, OUT_CONSUMED, OUT_REFUSED_FULL, NOUTCOMES };
static const char *const outcome_names[] = {"requested", "approved", "denied", "expired", "consumed", "full"};
struct outcome_row {
    char server[128];
    unsigned long n[NOUTCOMES];
};

struct approval_store {
    pthread_mutex_t lock;
    struct approval_limits lim;
    struct siphash_key key;
    struct record *buckets[BUCKETS];
    struct record *oldest, *newest;
    size_t count, bytes, pending;
    approval_event_fn on_event;
    void *arg;
    struct outcome_row rows[MAX_OUTCOME_SERVERS]; /* past it, servers count under "_other" */
    size_t nrows;
    struct tracked *tracked; /* requests this warden made in Redis; at most lim.max_records */
    size_t ntracked;
};

/* A request this warden made in the shared store, watched until it ends. */
struct tracked {
    char id[APPROVAL_ID_LEN + 1];
    double check_at; /* when to ask Redis what became of it: its expiry, or now after a recheck */
    bool pending;    /* not known decided */
    bool asking;     /* handed out by approval_store_tracked_due, not settled yet */
};

/* --- canonical JSON --- */

static int cmp_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

int approval_canonical_json(const cJSON *v, struct evbuffer *out)
{
    if (cJSON_IsNull(v) || !v)
        return evbuffer_add(out, "null", 4);
    if (cJSON_IsTrue(v))
        return evbuffer_add(out, "true", 4);
    if (cJSON_IsFalse(v))
        return evbuffer_add(out, "false", 5);
    if (cJSON_IsString(v)) {
        json_append_string(out, v->valuestring, strlen(v->valuestring));
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!isfinite(d))
            return -1;
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            return evbuffer_add_printf(out, "%.0f", d == 0 ? 0.0 : d) < 0 ? -1 : 0;
        return evbuffer_add_printf(out, "%.17g", d) < 0 ? -1 : 0;
    }
    if (cJSON_IsArray(v)) {
        evbuffer_add(out, "[", 1);
        for (const cJSON *e = v->child; e; e = e->next) {
            if (e != v->child)
                evbuffer_add(out, ",", 1);
            if (approval_canonical_json(e, out) < 0)
                return -1;
        }
        return evbuffer_add(out, "]", 1);
    }
    if (cJSON_IsObject(v)) {
        size_t n = 0;
        for (const cJSON *e = v->child; e; e = e->next)
            n++;
        const cJSON **keys = calloc(n ? n : 1, sizeof *keys);
        if (!keys)
            return -1;
        n = 0;
        for (const cJSON *e = v->child; e; e = e->next)
            keys[n++] = e;
        qsort(keys, n, sizeof *keys, cmp_keys);
        int rc = evbuffer_add(out, "{", 1);
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (i)
                evbuffer_add(out, ",", 1);
            json_append_string(out, keys[i]->string, strlen(keys[i]->string));
            evbuffer_add(out, ":", 1);
            rc = approval_canonical_json(keys[i], out);
        }
        free(keys);
        return rc < 0 ? -1 : evbuffer_add(out, "}", 1);
    }
    return -1;
}

/* --- the digest --- */

static void digest_field(struct sha256 *h, const void *p, size_t len)
{
    unsigned char be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    sha256_update(h, be, 8);
    sha256_update(h, p, len);
}

static void call_digest(const char *principal, const char *server, const char *tool, const char *args, size_t args_len,
                        unsigned char out[SHA256_BYTES])
{
    struct sha256 h;
    sha256_init(&h);
    digest_field(&h, "warden-approval-v1", 18);
    digest_field(&h, principal, strlen(principal));
    digest_field(&h, server, strlen(server));
    digest_field(&h, tool, strlen(tool));
    digest_field(&h, args, args_len);
    sha256_final(&h, out);
}

/* --- the store --- */

struct approval_store *approval_store_new(const struct approval_limits *lim, approval_event_fn on_event, void *arg)
{
    struct approval_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (siphash_key_random(&s->key) < 0 || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    s->lim.max_records = lim && lim->max_records ? lim->max_records : 1000;
    s->lim.max_bytes = lim && lim->max_bytes ? lim->max_bytes : 8u << 20;
    s->on_event = on_event;
    s->arg = arg;
    return s;
}

static void record_free(struct record *r)
{
    free(r->principal);
    free(r->server);
    free(r->tool);
    free(r->args_json);
    free(r->rule);
    free(r->reason);
    free(r->decided_by);
    free(r->decision_reason);
    free(r);
}

void approval_store_free(struct approval_store *s)
{
    if (!s)
        return;
    for (struct record *r = s->oldest, *next; r; r = next) {
        next = r->next;
        record_free(r);
    }
    free(s->tracked);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static size_t bucket_of(const struct approval_store *s, const unsigned char digest[SHA256_BYTES])
{
    return (size_t)(siphash(&s->key, digest, SHA256_BYTES) & (BUCKETS - 1));
}

static struct outcome_row *row_for(struct approval_store *s, const char *server)
{
    for (size_t i = 0; i < s->nrows; i++)
        if (strcmp(s->rows[i].server, server) == 0)
            return &s->rows[i];
    if (s->nrows < MAX_OUTCOME_SERVERS - 1 || (s->nrows == MAX_OUTCOME_SERVERS - 1 && strcmp(server, "_other") == 0)) {
        struct outcome_row *r = &s->rows[s->nrows++];
        snprintf(r->server, sizeof r->server, "%s", server);
        return r;
    }
    return row_for(s, "_other");
}

static void count(struct approval_store *s, const char *server, int outcome)
{
    row_for(s, strlen(server) < 128 ? server : "_other")->n[outcome]++;
}

static void view_of(const struct record *r, struct approval_view *v)
{
    *v = (struct approval_view){
        .id = r->id,
        .principal = r->principal,
        .server = r->server,
        .tool = r->tool,
        .args_json = r->args_json,
        .rule = r->rule,
        .reason = r->reason,
        .status = status_names[r->status],
        .decided_by = r->decided_by,
        .decision_reason = r->decision_reason,
        .scope = r->opts.scope == APPROVAL_SCOPE_TOOL ? "tool" : "call",
        .generation = r->generation,
        .created = r->created,
        .expires = r->expires,
    };
}

static void tell(struct approval_store *s, const char *event, const struct record *r)
{
    if (!s->on_event)
        return;
    struct approval_view v;
    view_of(r, &v);
    s->on_event(s->arg, event, &v);
}

void approval_store_tell(struct approval_store *s, const char *event, const struct approval_view *v)
{
    static const char *const events[] = {"approval_requested", NULL, NULL, "approval_expired", "approval_consumed"};
    pthread_mutex_lock(&s->lock);
    int outcome = -1;
    for (int i = 0; i < 5; i++)
        if (events[i] && strcmp(event, events[i]) == 0)
            outcome = i;
    if (strcmp(event, "approval_decided") == 0)
        outcome = strcmp(v->status, "approved") == 0 ? OUT_APPROVED : OUT_DENIED;
    if (outcome >= 0)
        count(s, v->server, outcome);
    if (s->on_event)
        s->on_event(s->arg, event, v);
    pthread_mutex_unlock(&s->lock);
}

/* Wakes every held call of r and forgets them. */
static void wake_all(struct record *r)
{
    for (struct approval_waiter *w = r->waiters, *next; w; w = next) {
        next = w->next;
        w->next = NULL;
        w->rec = NULL;
        event_active(w->wake, EV_READ, 0);
    }
    r->waiters = NULL;
}

static void unlink_record(struct approval_store *s, struct record *r)
{
    struct record **p = &s->buckets[bucket_of(s, r->digest)];
    while (*p && *p != r)
        p = &(*p)->chain;
    if (*p)
        *p = r->chain;
    if (r->prev)
        r->prev->next = r->next;
    else
        s->oldest = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        s->newest = r->prev;
    s->count--;
    s->bytes -= r->bytes;
    if (r->status == APPROVAL_PENDING)
        s->pending--;
}

static void end_record(struct approval_store *s, struct record *r, enum approval_status st, double now)
{
    if (r->status == APPROVAL_PENDING)
        s->pending--;
    r->status = st;
    r->ended = now;
}

/* Expires r when its time has come; true when it did. */
static bool expire_if_due(struct approval_store *s, struct record *r, double now)
{
    if ((r->status != APPROVAL_PENDING && r->status != APPROVAL_APPROVED) || now < r->expires)
        return false;
    end_record(s, r, APPROVAL_EXPIRED, now);
    count(s, r->server, OUT_EXPIRED);
    tell(s, "approval_expired", r);
    wake_all(r);
    return true;
}

static bool ended(const struct record *r)
{
    return r->status == APPROVAL_EXPIRED || r->status == APPROVAL_CONSUMED || r->status == APPROVAL_DENIED;
}

/* Drops records that ended, oldest first: all that ended RETAIN_SECONDS ago,
 * and, while a new record of `need` bytes does not fit, younger ones too. */
static void make_room(struct approval_store *s, double now, size_t need)
{
    for (struct record *r = s->oldest, *next; r; r = next) {
        next = r->next;
        expire_if_due(s, r, now);
        bool full = s->count + 1 > s->lim.max_records || s->bytes + need > s->lim.max_bytes;
        if (ended(r) && (full || now - r->ended >= APPROVAL_RETAIN_SECONDS)) {
            unlink_record(s, r);
            record_free(r);
        }
    }
}

void approval_store_sweep(struct approval_store *s, double now)
{
    pthread_mutex_lock(&s->lock);
    make_room(s, now, 0);
    pthread_mutex_unlock(&s->lock);
}

/* The record a call matches, living (not ended) or denied: by the call's
 * own digest, or by the digest of a tool-wide grant. */
static struct record *find(struct approval_store *s, const unsigned char call[SHA256_BYTES],
                           const unsigned char tool[SHA256_BYTES], double now)
{
    const unsigned char *want[2] = {call, tool};
    for (int k = 0; k < 2; k++) {
        for (struct record *r = s->buckets[bucket_of(s, want[k])]; r; r = r->chain) {
            if (memcmp(r->digest, want[k], SHA256_BYTES) != 0)
                continue;
            expire_if_due(s, r, now);
            if (r->status == APPROVAL_PENDING || r->status == APPROVAL_APPROVED || r->status == APPROVAL_DENIED)
                return r;
        }
    }
    return NULL;
}

/* 128 random bits as "apr_" and 26 digits of RFC 4648 base32 (lowercase). */
int approval_new_id(char id[APPROVAL_ID_LEN + 1])
{
    unsigned char b[16];
    if (randbytes(b, sizeof b) < 0)
        return -1;
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz234567";
    memcpy(id, "apr_", 4);
    unsigned acc = 0, bits = 0;
    size_t o = 4;
    for (size_t i = 0; i < sizeof b; i++) {
        acc = (acc << 8) | b[i];
        bits += 8;
        while (bits >= 5) {
            id[o++] = digits[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    id[o++] = digits[(acc << (5 - bits)) & 31];
    id[o] = '\0';
    return 0;
}

static char *dup_or_empty(const char *p)
{
    return strdup(p ? p : "");
}

static void answer_from(struct approval_answer *out, enum approval_outcome o, const struct record *r)
{
    out->outcome = o;
    snprintf(out->id, sizeof out->id, "%s", r->id);
    out->expires = r->expires;
    snprintf(out->decided_by, sizeof out->decided_by, "%s", r->decided_by ? r->decided_by : "");
    snprintf(out->decision_reason, sizeof out->decision_reason, "%s", r->decision_reason ? r->decision_reason : "");
}

int approval_call_digests(const struct approval_call *c, struct evbuffer *canon, unsigned char dcall[SHA256_BYTES],
                          unsigned char dtool[SHA256_BYTES])
{
    cJSON *empty = c->args ? NULL : cJSON_CreateObject();
    if ((!c->args && !empty) || approval_canonical_json(c->args ? c->args : empty, canon) < 0 ||
        evbuffer_add(canon, "", 1) < 0) {
        cJSON_Delete(empty);
        return -1;
    }
    cJSON_Delete(empty);
    size_t alen = evbuffer_get_length(canon) - 1;
    const char *args = (const char *)evbuffer_pullup(canon, -1);
    if (!args)
        return -1;
    call_digest(c->principal, c->server, c->tool, args, alen, dcall);
    call_digest(c->principal, c->server, c->tool, "*", 1, dtool);
    return 0;
}

void approval_store_call(struct approval_store *s, const struct approval_call *c, double now,
                         struct approval_answer *out)
{
    memset(out, 0, sizeof *out);
    out->outcome = APPROVAL_FAILED;
    struct evbuffer *canon = evbuffer_new();
    unsigned char dcall[SHA256_BYTES], dtool[SHA256_BYTES];
    if (!canon || approval_call_digests(c, canon, dcall, dtool) < 0) {
        if (canon)
            evbuffer_free(canon);
        return;
    }
    size_t alen = evbuffer_get_length(canon) - 1;
    const char *args = (const char *)evbuffer_pullup(canon, -1);

    pthread_mutex_lock(&s->lock);
    struct record *r = find(s, dcall, dtool, now);
    if (r && r->status == APPROVAL_APPROVED) {
        if (r->opts.scope == APPROVAL_SCOPE_CALL) {
            end_record(s, r, APPROVAL_CONSUMED, now);
            count(s, r->server, OUT_CONSUMED);
            tell(s, "approval_consumed", r);
        }
        answer_from(out, APPROVAL_GRANTED, r);
    } else if (r) {
        answer_from(out, r->status == APPROVAL_DENIED ? APPROVAL_REFUSED : APPROVAL_ATTACHED, r);
    } else {
        size_t need = sizeof *r + strlen(c->principal) + strlen(c->server) + strlen(c->tool) + alen +
                      strlen(c->rule ? c->rule : "") + strlen(c->reason ? c->reason : "") + 6;
        make_room(s, now, need);
        if (s->count + 1 > s->lim.max_records || s->bytes + need > s->lim.max_bytes) {
            count(s, c->server, OUT_REFUSED_FULL);
            out->outcome = APPROVAL_FULL;
        } else if ((r = calloc(1, sizeof *r)) && approval_new_id(r->id) == 0 &&
                   (r->principal = dup_or_empty(c->principal)) && (r->server = dup_or_empty(c->server)) &&
                   (r->tool = dup_or_empty(c->tool)) && (r->args_json = strdup(args)) &&
                   (r->rule = dup_or_empty(c->rule)) && (r->reason = dup_or_empty(c->reason))) {
            memcpy(r->digest, c->opts.scope == APPROVAL_SCOPE_TOOL ? dtool : dcall, SHA256_BYTES);
            r->status = APPROVAL_PENDING;
            r->opts = c->opts;
            r->generation = c->generation;
            r->created = now;
            r->expires = now + c->opts.ttl;
            r->bytes = need;
            size_t b = bucket_of(s, r->digest);
            r->chain = s->buckets[b];
            s->buckets[b] = r;
            r->prev = s->newest;
            if (s->newest)
                s->newest->next = r;
            else
                s->oldest = r;
            s->newest = r;
            s->count++;
            s->bytes += need;
            s->pending++;
            count(s, r->server, OUT_REQUESTED);
            tell(s, "approval_requested", r);
            answer_from(out, APPROVAL_NEW, r);
        } else if (r) {
            record_free(r);
        }
    }
    pthread_mutex_unlock(&s->lock);
    evbuffer_free(canon);
}

static struct record *by_id(struct approval_store *s, const char *id)
{
    for (struct record *r = s->newest; r; r = r->prev)
        if (strcmp(r->id, id) == 0)
            return r;
    return NULL;
}

int approval_store_wait(struct approval_store *s, const char *id, struct approval_waiter *w)
{
    pthread_mutex_lock(&s->lock);
    struct record *r = by_id(s, id);
    int rc = -1;
    if (r && r->status == APPROVAL_PENDING) {
        w->rec = r;
        w->next = r->waiters;
        r->waiters = w;
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void approval_store_unwait(struct approval_store *s, struct approval_waiter *w)
{
    pthread_mutex_lock(&s->lock);
    struct record *r = w->rec;
    if (r) {
        struct approval_waiter **p = &r->waiters;
        while (*p && *p != w)
            p = &(*p)->next;
        if (*p)
            *p = w->next;
        w->rec = NULL;
        w->next = NULL;
    }
    pthread_mutex_unlock(&s->lock);
}

enum approval_decision_result approval_store_decide(struct approval_store *s, const char *id, const char *approver,
                                                    bool approve, const char *reason, double now)
{
    pthread_mutex_lock(&s->lock);
    struct record *r = by_id(s, id);
    enum approval_decision_result res = APPROVAL_DECIDED;
    if (!r)
        res = APPROVAL_NOT_FOUND;
    else if (expire_if_due(s, r, now) || r->status != APPROVAL_PENDING)
        res = APPROVAL_NOT_PENDING;
    else if (strcmp(approver, r->principal) == 0)
        res = APPROVAL_SELF;
    else if (!(r->decided_by = strdup(approver)) || !(r->decision_reason = strdup(reason ? reason : ""))) {
        free(r->decided_by);
        r->decided_by = NULL;
        res = APPROVAL_NOT_PENDING;
    } else {
        s->pending--;
        r->status = approve ? APPROVAL_APPROVED : APPROVAL_DENIED;
        if (approve) {
            r->expires = now + r->opts.grant_ttl;
        } else {
            r->ended = now;
        }
        count(s, r->server, approve ? OUT_APPROVED : OUT_DENIED);
        tell(s, "approval_decided", r);
        wake_all(r);
    }
    pthread_mutex_unlock(&s->lock);
    return res;
}

/* --- what the admin API shows --- */

static void time_iso(double t, char out[32])
{
    time_t secs = (time_t)t;
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void put_str(struct evbuffer *out, const char *key, const char *v, bool comma)
{
    evbuffer_add_printf(out, "%s\"%s\":", comma ? "," : "", key);
    if (v)
        json_append_string(out, v, strlen(v));
    else
        evbuffer_add(out, "null", 4);
}

static void write_record(const struct record *r, struct evbuffer *out)
{
    char created[32], expires[32];
    time_iso(r->created, created);
    time_iso(r->expires, expires);
    put_str(out, "id", r->id, false);
    put_str(out, "status", status_names[r->status], true);
    put_str(out, "principal", r->principal, true);
    put_str(out, "server", r->server, true);
    put_str(out, "tool", r->tool, true);
    evbuffer_add_printf(out, ",\"arguments\":%s", r->args_json);
    put_str(out, "rule", r->rule, true);
    put_str(out, "reason", r->reason, true);
    put_str(out, "scope", r->opts.scope == APPROVAL_SCOPE_TOOL ? "tool" : "call", true);
    evbuffer_add_printf(out, ",\"policy_generation\":%lu", r->generation);
    put_str(out, "created_at", created, true);
    put_str(out, "expires_at", expires, true);
    put_str(out, "decided_by", r->decided_by, true);
    put_str(out, "decision_reason", r->decision_reason, true);
}

void approval_store_list(struct approval_store *s, const char *status, double now, struct evbuffer *out)
{
    pthread_mutex_lock(&s->lock);
    evbuffer_add_printf(out, "{\"approvals\":[");
    bool first = true;
    for (struct record *r = s->newest; r; r = r->prev) {
        expire_if_due(s, r, now);
        if (status && strcmp(status, status_names[r->status]) != 0)
            continue;
        evbuffer_add(out, first ? "{" : ",{", first ? 1 : 2);
        write_record(r, out);
        evbuffer_add(out, "}", 1);
        first = false;
    }
    evbuffer_add_printf(out, "]}");
    pthread_mutex_unlock(&s->lock);
}

bool approval_store_show(struct approval_store *s, const char *id, double now, struct evbuffer *out)
{
    pthread_mutex_lock(&s->lock);
    struct record *r = by_id(s, id);
    if (r) {
        expire_if_due(s, r, now);
        evbuffer_add(out, "{", 1);
        write_record(r, out);
        evbuffer_add(out, "}", 1);
    }
    pthread_mutex_unlock(&s->lock);
    return r != NULL;
}

/* ---- requests this warden made in Redis ---- */

static struct tracked *find_tracked(struct approval_store *s, const char *id)
{
    for (size_t i = 0; i < s->ntracked; i++)
        if (strcmp(s->tracked[i].id, id) == 0)
            return &s->tracked[i];
    return NULL;
}

static size_t tracked_pending(const struct approval_store *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->ntracked; i++)
        n += s->tracked[i].pending;
    return n;
}

void approval_store_track(struct approval_store *s, const char *id, double expires)
{
    if (strlen(id) != APPROVAL_ID_LEN)
        return;
    pthread_mutex_lock(&s->lock);
    struct tracked *t = find_tracked(s, id);
    if (!t && s->ntracked == s->lim.max_records) {
        /* full: the one due first is forgotten (its expiry goes unwritten) */
        t = &s->tracked[0];
        for (size_t i = 1; i < s->ntracked; i++)
            if (s->tracked[i].check_at < t->check_at)
                t = &s->tracked[i];
    } else if (!t) {
        struct tracked *v = realloc(s->tracked, (s->ntracked + 1) * sizeof *v);
        if (v) {
            s->tracked = v;
            t = &v[s->ntracked++];
        }
    }
    if (t) {
        *t = (struct tracked){.check_at = expires, .pending = true};
        memcpy(t->id, id, APPROVAL_ID_LEN + 1);
    }
    pthread_mutex_unlock(&s->lock);
}

void approval_store_tracked_decided(struct approval_store *s, const char *id, size_t len)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->ntracked; i++)
        if (strlen(s->tracked[i].id) == len && memcmp(s->tracked[i].id, id, len) == 0)
            s->tracked[i].pending = false;
    pthread_mutex_unlock(&s->lock);
}

void approval_store_tracked_recheck(struct approval_store *s)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->ntracked; i++)
        s->tracked[i].check_at = 0;
    pthread_mutex_unlock(&s->lock);
}

size_t approval_store_tracked_due(struct approval_store *s, double now, char (*ids)[APPROVAL_ID_LEN + 1], size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->ntracked && n < max; i++)
        if (!s->tracked[i].asking && s->tracked[i].check_at <= now) {
            s->tracked[i].asking = true;
            memcpy(ids[n++], s->tracked[i].id, APPROVAL_ID_LEN + 1);
        }
    pthread_mutex_unlock(&s->lock);
    return n;
}

void approval_store_tracked_settle(struct approval_store *s, const char *id, const char *status, double expires,
                                   double now)
{
    pthread_mutex_lock(&s->lock);
    struct tracked *t = find_tracked(s, id);
    if (t && !status) {
        t->asking = false; /* Redis did not answer: asked again at the next sweep */
    } else if (t && (strcmp(status, "pending") == 0 || strcmp(status, "approved") == 0) && expires > now) {
        t->asking = false;
        t->pending = strcmp(status, "pending") == 0;
        t->check_at = expires;
    } else if (t) {
        *t = s->tracked[--s->ntracked];
    }
    pthread_mutex_unlock(&s->lock);
}

void approval_store_metrics(struct approval_store *s, struct evbuffer *out)
{
    pthread_mutex_lock(&s->lock);
    evbuffer_add_printf(out, "# HELP warden_approvals_total Approval requests by what became of them.\n"
                             "# TYPE warden_approvals_total counter\n");
    for (size_t i = 0; i < s->nrows; i++)
        for (int k = 0; k < NOUTCOMES; k++)
            evbuffer_add_printf(out, "warden_approvals_total{server=\"%s\",outcome=\"%s\"} %lu\n", s->rows[i].server,
                                outcome_names[k], s->rows[i].n[k]);
    evbuffer_add_printf(out,
                        "# HELP warden_approvals_pending Approval requests waiting for a person.\n"
                        "# TYPE warden_approvals_pending gauge\nwarden_approvals_pending %zu\n",
                        s->pending + tracked_pending(s));
    pthread_mutex_unlock(&s->lock);
}
