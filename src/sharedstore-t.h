/* Types of warden.shared (sharedstore.c): the values Lua policies keep across
 * calls and reloads. */
#ifndef WARDEN_SHAREDSTORE_T_H
#define WARDEN_SHAREDSTORE_T_H
#include <stdbool.h>
#include <stddef.h>

enum shared_type { SHARED_NIL, SHARED_BOOL, SHARED_INT, SHARED_FLOAT, SHARED_STRING };

/* One value; `s` is borrowed (set: the caller's bytes, copied by the store;
 * get: points into the caller's buffer). */
struct shared_value {
    enum shared_type type;
    bool b;
    long long i;
    double d;
    const char *s;
    size_t len;
};
#endif
