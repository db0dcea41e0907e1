#include "paths.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* The file whose presence marks a helper directory. */
#define MARKER "warden/glob.lua"

/* Process-wide like the binary's own path: one value for every worker, policy
 * generation and `warden check`, empty until first found, fixed after. */
static struct {
    pthread_mutex_t lock;
    char dir[PATH_MAX];
} lua_dir = {PTHREAD_MUTEX_INITIALIZER, ""};

static int copy_out(char *out, size_t outlen, const char *s)
{
    int n = snprintf(out, outlen, "%s", s);
    return n >= 0 && (size_t)n < outlen ? 0 : -1;
}

static bool has_marker(const char *dir)
{
    char f[PATH_MAX];
    int n = snprintf(f, sizeof f, "%s/" MARKER, dir);
    return n > 0 && (size_t)n < sizeof f && access(f, R_OK) == 0;
}

/* PREFIX: the parent of the running binary's directory ("" for /bin/warden). */
static int exe_prefix(char *out, size_t outlen)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || (size_t)n >= sizeof exe - 1)
        return -1;
    exe[n] = '\0';
    /* A binary replaced on disk under a running warden (a package upgrade) reads "PATH (deleted)". */
    static const char deleted[] = " (deleted)";
    size_t len = (size_t)n, dlen = sizeof deleted - 1;
    if (len > dlen && strcmp(exe + len - dlen, deleted) == 0)
        exe[len - dlen] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash)
            return -1;
        *slash = '\0';
    }
    return copy_out(out, outlen, exe);
}

int paths_find_lua_dir(const char *configured, char *out, size_t outlen)
{
    const char *given = configured && *configured ? configured : NULL, *what = "lua_path";
    const char *env = getenv("WARDEN_LUA_PATH");
    if (!given && env && *env)
        given = env, what = "WARDEN_LUA_PATH";
    if (given) {
        /* Made absolute once, so that it means the same whatever warden's working directory later is. */
        char abs[PATH_MAX];
        if (!realpath(given, abs) || !has_marker(abs)) {
            snprintf(out, outlen, "%s %s is not a Lua helper directory (it has no %s)", what, given, MARKER);
            return -1;
        }
        if (copy_out(out, outlen, abs) < 0) {
            snprintf(out, outlen, "%s is too long", what);
            return -1;
        }
        return 0;
    }
    char prefix[PATH_MAX], installed[PATH_MAX + 32], build[PATH_MAX + 32];
    if (exe_prefix(prefix, sizeof prefix) < 0) {
        snprintf(out, outlen,
                 "cannot tell where the warden binary is (/proc/self/exe): give lua_path or WARDEN_LUA_PATH");
        return -1;
    }
    snprintf(installed, sizeof installed, "%s/share/warden/lua", prefix);
    snprintf(build, sizeof build, "%s/lua", prefix);
    if (has_marker(installed))
        return copy_out(out, outlen, installed);
    if (has_marker(build))
        return copy_out(out, outlen, build);
    snprintf(out, outlen,
             "no Lua helper library (%s) in %s nor in %s: install warden with its share/warden/lua, "
             "or give lua_path or WARDEN_LUA_PATH",
             MARKER, installed, build);
    return -1;
}

int paths_set_lua_dir(const char *configured, char *err, size_t errlen)
{
    if (!configured || !*configured)
        return 0;
    char found[2 * PATH_MAX + 256];
    int rc = -1;
    pthread_mutex_lock(&lua_dir.lock);
    if (lua_dir.dir[0])
        snprintf(err, errlen, "lua_path %s: the Lua helper directory is already in use", configured);
    else if (paths_find_lua_dir(configured, found, sizeof found) < 0)
        snprintf(err, errlen, "%s", found);
    else
        rc = copy_out(lua_dir.dir, sizeof lua_dir.dir, found);
    pthread_mutex_unlock(&lua_dir.lock);
    return rc;
}

const char *paths_lua_dir(void)
{
    pthread_mutex_lock(&lua_dir.lock);
    if (!lua_dir.dir[0]) {
        char why[2 * PATH_MAX + 256];
        if (paths_find_lua_dir(NULL, why, sizeof why) == 0) {
            copy_out(lua_dir.dir, sizeof lua_dir.dir, why);
        } else {
            /* The place the helpers were wanted in, so that loading one fails naming it. */
            log_error("%s", why);
            const char *env = getenv("WARDEN_LUA_PATH");
            char prefix[PATH_MAX];
            if (env && *env)
                snprintf(lua_dir.dir, sizeof lua_dir.dir, "%s", env);
            else if (exe_prefix(prefix, sizeof prefix) == 0)
                snprintf(lua_dir.dir, sizeof lua_dir.dir, "%s/share/warden/lua", prefix);
            else
                snprintf(lua_dir.dir, sizeof lua_dir.dir, "/proc/self/exe is unreadable: no Lua helper directory");
        }
    }
    pthread_mutex_unlock(&lua_dir.lock);
    return lua_dir.dir;
}
