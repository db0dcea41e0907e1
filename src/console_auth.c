#include "console_auth.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "randbytes.h"
#include "sha256.h"
#include "siphash.h"

#define NBUCKETS 64

struct slot {
    struct console_session s;
    struct slot *next;              /* bucket chain */
    struct slot *older, *newer;     /* login order */
    uint64_t hash;
    double created, last_used;
};

struct console_auth {
    const struct approver_conf *approvers;
    size_t napprovers;
    struct siphash_key key;
    struct slot *buckets[NBUCKETS];
    struct slot *oldest, *newest;
    size_t count, max_count;
};

struct console_auth *console_auth_new(const struct approver_conf *approvers, size_t n, size_t max_bytes)
{
    if (max_bytes < CONSOLE_SESSION_COST)
        return NULL;
    struct console_auth *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    if (siphash_key_random(&a->key) != 0) {
        free(a);
        return NULL;
    }
    a->approvers = approvers;
    a->napprovers = n;
    a->max_count = max_bytes / CONSOLE_SESSION_COST;
    return a;
}

static void unlink_slot(struct console_auth *a, struct slot *e)
{
    struct slot **p = &a->buckets[e->hash % NBUCKETS];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    if (e->older)
        e->older->newer = e->newer;
    else
        a->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        a->newest = e->older;
    a->count--;
    /* The tokens are credentials: gone from memory with the session. */
    explicit_bzero(e, sizeof *e);
    free(e);
}

void console_auth_free(struct console_auth *a)
{
    if (!a)
        return;
    while (a->oldest)
        unlink_slot(a, a->oldest);
    free(a);
}

const char *console_auth_check_secret(const struct console_auth *a, const char *secret, size_t len)
{
    unsigned char d[SHA256_BYTES];
    sha256(secret, len, d);
    const char *who = NULL;
    for (size_t i = 0; i < a->napprovers; i++) {
        unsigned diff = 0;
        for (size_t k = 0; k < SHA256_BYTES; k++)
            diff |= (unsigned)(d[k] ^ a->approvers[i].sha256[k]);
        /* No early exit: every entry is compared whatever matched before. */
        uintptr_t match = (uintptr_t)0 - (uintptr_t)(diff == 0);
        who = (const char *)(((uintptr_t)a->approvers[i].id & match) | ((uintptr_t)who & ~match));
    }
    explicit_bzero(d, sizeof d);
    return who;
}

static bool random_hex(char out[CONSOLE_TOKEN_HEX])
{
    unsigned char r[16];
    if (randbytes(r, sizeof r) < 0)
        return false;
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    explicit_bzero(r, sizeof r);
    return true;
}

static bool expired(const struct slot *e, double now)
{
    return now - e->last_used > CONSOLE_IDLE_SECONDS || now - e->created > CONSOLE_MAX_SECONDS;
}

const struct console_session *console_auth_login(struct console_auth *a, const char *who, double now)
{
    while (a->oldest && (a->count >= a->max_count || expired(a->oldest, now)))
        unlink_slot(a, a->oldest);
    struct slot *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    if (!random_hex(e->s.id) || !random_hex(e->s.csrf)) {
        free(e);
        return NULL;
    }
    e->s.who = who;
    e->created = e->last_used = now;
    e->hash = siphash(&a->key, e->s.id, strlen(e->s.id));
    e->next = a->buckets[e->hash % NBUCKETS];
    a->buckets[e->hash % NBUCKETS] = e;
    e->older = a->newest;
    if (a->newest)
        a->newest->newer = e;
    else
        a->oldest = e;
    a->newest = e;
    a->count++;
    return &e->s;
}

static struct slot *find(const struct console_auth *a, const char *id, size_t len)
{
    if (len != CONSOLE_TOKEN_HEX - 1)
        return NULL;
    uint64_t h = siphash(&a->key, id, len);
    for (struct slot *e = a->buckets[h % NBUCKETS]; e; e = e->next)
        if (e->hash == h && memcmp(e->s.id, id, len) == 0)
            return e;
    return NULL;
}

const struct console_session *console_auth_session(struct console_auth *a, const char *id, size_t len, double now)
{
    struct slot *e = find(a, id, len);
    if (!e)
        return NULL;
    if (expired(e, now)) {
        unlink_slot(a, e);
        return NULL;
    }
    e->last_used = now;
    return &e->s;
}

void console_auth_logout(struct console_auth *a, const char *id, size_t len)
{
    struct slot *e = find(a, id, len);
    if (e)
        unlink_slot(a, e);
}

size_t console_auth_count(const struct console_auth *a)
{
    return a->count;
}

bool console_csrf_ok(const struct console_session *s, const char *token, size_t len)
{
    if (!token || len != CONSOLE_TOKEN_HEX - 1)
        return false;
    unsigned diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned)(s->csrf[i] ^ token[i]);
    return diff == 0;
}

bool console_same_origin(const char *origin, const char *sec_fetch_site, const char *host, bool tls)
{
    if (sec_fetch_site && strcmp(sec_fetch_site, "same-origin") != 0)
        return false;
    if (!origin)
        return true;
    const char *scheme = tls ? "https://" : "http://";
    size_t sl = strlen(scheme);
    return host && host[0] && strncmp(origin, scheme, sl) == 0 && strcmp(origin + sl, host) == 0;
}

bool console_cookie(const char *header, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1;
            if (vl == 0 || vl >= outlen)
                return false;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}

void console_html_escape(struct evbuffer *out, const char *s)
{
    for (const char *run = s;; s++) {
        const char *ref = NULL;
        switch (*s) {
        case '&': ref = "&amp;"; break;
        case '<': ref = "&lt;"; break;
        case '>': ref = "&gt;"; break;
        case '"': ref = "&quot;"; break;
        case '\'': ref = "&#39;"; break;
        case '\0': evbuffer_add(out, run, (size_t)(s - run)); return;
        default: continue;
        }
        evbuffer_add(out, run, (size_t)(s - run));
        evbuffer_add(out, ref, strlen(ref));
        run = s + 1;
    }
}
