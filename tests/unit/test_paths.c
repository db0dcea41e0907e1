/* paths.c: the order in which the Lua helper directory is looked for, and
 * that a wrong setting is reported rather than passed over. */
#include "../../src/paths.c"

#include <sys/stat.h>
#include "check.h"

/* Makes DIR/warden/glob.lua under a fresh directory; returns DIR. */
static const char *helper_dir(char *dir, size_t len, const char *root, const char *name)
{
    char sub[PATH_MAX], file[PATH_MAX + 32];
    snprintf(dir, len, "%s/%s", root, name);
    snprintf(sub, sizeof sub, "%s/warden", dir);
    mkdir(dir, 0700);
    mkdir(sub, 0700);
    snprintf(file, sizeof file, "%s/glob.lua", sub);
    FILE *f = fopen(file, "w");
    if (f) {
        fputs("return {}\n", f);
        fclose(f);
    }
    return dir;
}

int main(void)
{
    char root[] = "/tmp/warden-paths-XXXXXX", a[PATH_MAX], b[PATH_MAX], out[3 * PATH_MAX];
    CHECK(mkdtemp(root) != NULL);
    helper_dir(a, sizeof a, root, "a");
    helper_dir(b, sizeof b, root, "b");

    /* The configured directory comes first, made absolute. */
    setenv("WARDEN_LUA_PATH", b, 1);
    CHECK(paths_find_lua_dir(a, out, sizeof out) == 0);
    CHECK_STR(out, a);
    CHECK(chdir(root) == 0);
    CHECK(paths_find_lua_dir("a/../a", out, sizeof out) == 0);
    CHECK_STR(out, a);

    /* Then the environment. */
    CHECK(paths_find_lua_dir(NULL, out, sizeof out) == 0);
    CHECK_STR(out, b);
    CHECK(paths_find_lua_dir("", out, sizeof out) == 0);
    CHECK_STR(out, b);

    /* A directory without the helpers is an error naming the setting, never passed over. */
    CHECK(paths_find_lua_dir(root, out, sizeof out) == -1);
    CHECK(strstr(out, "lua_path") && strstr(out, root) && strstr(out, "warden/glob.lua"));
    setenv("WARDEN_LUA_PATH", "/nonexistent", 1);
    CHECK(paths_find_lua_dir(NULL, out, sizeof out) == -1);
    CHECK(strstr(out, "WARDEN_LUA_PATH /nonexistent") != NULL);
    CHECK(paths_find_lua_dir(a, out, sizeof out) == 0);

    /* Then beside the binary: this test's binary (build/tests/) has neither
     * PREFIX/share/warden/lua nor PREFIX/lua, and the message names both. */
    unsetenv("WARDEN_LUA_PATH");
    char prefix[PATH_MAX], want[PATH_MAX + 32];
    CHECK(exe_prefix(prefix, sizeof prefix) == 0);
    CHECK(paths_find_lua_dir(NULL, out, sizeof out) == -1);
    snprintf(want, sizeof want, "%s/share/warden/lua", prefix);
    CHECK(strstr(out, want) != NULL);
    snprintf(want, sizeof want, "%s/lua", prefix);
    CHECK(strstr(out, want) != NULL);

    /* The process's directory: a configured one is checked at once and then fixed. */
    CHECK(paths_set_lua_dir(NULL, out, sizeof out) == 0);
    CHECK(paths_set_lua_dir(root, out, sizeof out) == -1);
    CHECK(paths_set_lua_dir(a, out, sizeof out) == 0);
    CHECK_STR(paths_lua_dir(), a);
    CHECK(paths_set_lua_dir(b, out, sizeof out) == -1);
    CHECK_STR(paths_lua_dir(), a);

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    CHECK(system(cmd) == 0);
    return check_report();
}
