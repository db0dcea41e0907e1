/* paths.c: where warden finds the files it ships with (the Lua helper library
 * of warden.lib), decided at run time from where the running binary is, so
 * that an installed warden, a moved prefix and build/warden in a checkout all
 * find them. Nothing here is compiled in from the build machine. */
#ifndef WARDEN_PATHS_H
#define WARDEN_PATHS_H
#include <stddef.h>

/* Finds the directory of the Lua helper library (the one holding
 * warden/glob.lua, path.lua, pointer.lua):
 *   1. configured, when not NULL nor empty (lua_path, --lua-path);
 *   2. else $WARDEN_LUA_PATH, when set and not empty;
 *   3. else, PREFIX being the parent of the running binary's directory
 *      (/proc/self/exe), the first of PREFIX/share/warden/lua (installed) and
 *      PREFIX/lua (build/warden in a checkout) that holds warden/glob.lua.
 * A directory named by 1 or 2 must hold warden/glob.lua too: a wrong setting is
 * reported, never passed over for another. Returns 0 with the directory in
 * out, or -1 with a message naming every place looked at in out. Reads the
 * environment and the file system only; safe from any thread. */
int paths_find_lua_dir(const char *configured, char *out, size_t outlen);

/* Records the configured directory (NULL: none) for paths_lua_dir and checks
 * it at once, so that a wrong lua_path stops warden at start. Call it before
 * the first policy loads; later calls fail. Returns 0, or -1 with a message
 * in err. */
int paths_set_lua_dir(const char *configured, char *err, size_t errlen);

/* The process's Lua helper directory: found by paths_find_lua_dir on first
 * use (with what paths_set_lua_dir recorded) and fixed from then on, so that
 * a binary replaced under a running warden does not move it. When nothing is
 * found it logs why once and returns the place the helpers were wanted in
 * ($WARDEN_LUA_PATH, else PREFIX/share/warden/lua), so that loading a helper
 * then fails naming the file it wanted. The string lives as long as
 * the process; safe from any thread. */
const char *paths_lua_dir(void);
#endif
