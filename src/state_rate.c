#include "state_rate.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHECKS 64

/* KEYS: one ZSET per check (score and member: admission time in Redis's ms,
 * and a unique id). ARGV: window_ms and max per check, then the member.
 * Replies {1,0,0} when admitted in all, else {0, i, ms until check i has
 * room} having written nothing. TIME before writes needs effects
 * replication (the default from Redis 5, the only mode from 7). A key over
 * its max (a reload lowered it) keeps its newest max members. */
static const char admit_script[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local n = #KEYS\n"
    "for i = 1, n do\n"
    "  local w, max = tonumber(ARGV[2*i-1]), tonumber(ARGV[2*i])\n"
    "  if max < 1 then return {0, i, w} end\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - w)\n"
    "  local c = redis.call('ZCARD', KEYS[i])\n"
    "  if c > max then redis.call('ZREMRANGEBYRANK', KEYS[i], 0, c - max - 1) c = max end\n"
    "  if c >= max then\n"
    "    local o = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')\n"
    "    return {0, i, tonumber(o[2]) + w - now}\n"
    "  end\n"
    "end\n"
    "for i = 1, n do\n"
    "  redis.call('ZADD', KEYS[i], now, ARGV[2*n+1])\n"
    "  redis.call('PEXPIRE', KEYS[i], ARGV[2*i-1])\n"
    "end\n"
    "return {1, 0, 0}\n";

struct state_req *state_rate_admit(struct state *st, const struct rate_check *checks, size_t n, state_reply_fn cb,
                                   void *arg)
{
    if (n == 0 || n > MAX_CHECKS)
        return NULL;
    const char *prefix = state_prefix(st);
    size_t plen = strlen(prefix);
    size_t keybytes = 0;
    for (size_t i = 0; i < n; i++)
        keybytes += plen + 3 + checks[i].key_len;
    /* keys, then "window max" pairs, then the member */
    const char *argv[3 * MAX_CHECKS + 1];
    size_t argvlen[3 * MAX_CHECKS + 1];
    char nums[2 * MAX_CHECKS][24];
    char member[64];
    char *keys = malloc(keybytes ? keybytes : 1);
    if (!keys)
        return NULL;
    char *p = keys;
    for (size_t i = 0; i < n; i++) {
        argv[i] = p;
        argvlen[i] = plen + 3 + checks[i].key_len;
        memcpy(p, prefix, plen);
        memcpy(p + plen, "rl:", 3);
        memcpy(p + plen + 3, checks[i].key, checks[i].key_len);
        p += argvlen[i];
        double ms = checks[i].window * 1000;
        argvlen[n + 2 * i] = (size_t)snprintf(nums[2 * i], sizeof nums[0], "%.0f", ms < 1 ? 1 : ms);
        argv[n + 2 * i] = nums[2 * i];
        argvlen[n + 2 * i + 1] = (size_t)snprintf(nums[2 * i + 1], sizeof nums[0], "%u", checks[i].max);
        argv[n + 2 * i + 1] = nums[2 * i + 1];
    }
    argvlen[3 * n] = state_unique_id(st, member, sizeof member);
    argv[3 * n] = member;
    struct state_req *r = state_script(st, admit_script, cb, arg, (int)n, (int)(3 * n + 1), argv, argvlen);
    free(keys);
    return r;
}

enum state_rate_outcome state_rate_outcome(const struct redisReply *r, const char *error, size_t n, size_t *refused,
                                           double *retry_after)
{
    if (error || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return STATE_RATE_UNAVAILABLE;
    for (size_t i = 0; i < 3; i++)
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            return STATE_RATE_UNAVAILABLE;
    if (r->element[0]->integer == 1)
        return STATE_RATE_ADMITTED;
    long long which = r->element[1]->integer;
    if (which < 1 || (size_t)which > n)
        return STATE_RATE_UNAVAILABLE;
    *refused = (size_t)which - 1;
    long long ms = r->element[2]->integer;
    *retry_after = ms > 0 ? (double)ms / 1000 : 0;
    return STATE_RATE_REFUSED;
}

bool state_rate_admit_local(struct rate_store *rs, const char *owner, size_t owner_len, const struct rate_check *checks,
                            size_t n, unsigned instances, double now, size_t *refused, double *retry_after)
{
    struct rate_check local[MAX_CHECKS];
    if (n > MAX_CHECKS) {
        *refused = n;
        *retry_after = 1;
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        local[i] = checks[i];
        unsigned share = instances > 1 ? checks[i].max / instances : checks[i].max;
        local[i].max = share ? share : 1;
    }
    return rate_admit(rs, owner, owner_len, local, n, now, refused, retry_after);
}
