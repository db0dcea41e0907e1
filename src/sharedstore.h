/* sharedstore.c: warden.shared, a bounded key-value store with expiry that
 * Lua policies use for counters and budgets. One store serves every worker
 * thread and every policy generation, so values survive reloads. */
#ifndef WARDEN_SHAREDSTORE_H
#define WARDEN_SHAREDSTORE_H
#include <stdbool.h>
#include <stddef.h>

struct shared_store;

#define SHARED_MAX_KEYS 100000
#define SHARED_MAX_KEY 256
#define SHARED_MAX_VALUE 4096

/* A stored value: a number or a string (booleans are numbers 0/1 with is_bool). */
struct shared_value {
    bool is_string, is_bool;
    double number;
    char *string;        /* owned by the caller after shared_get */
    size_t len;
};

struct shared_store *shared_store_new(void);
void shared_store_free(struct shared_store *s);

/* Looks up a live key; returns false when absent or expired. */
bool shared_get(struct shared_store *s, const char *key, size_t klen, double now, struct shared_value *out);
/* Sets a key (ttl <= 0: no expiry). Returns -1 when the store is full or the
 * key or value is too large. */
int shared_set(struct shared_store *s, const char *key, size_t klen, const struct shared_value *v, double ttl,
               double now);
/* Adds delta to a number (absent counts as 0), sets the expiry when the key is
 * new, and gives the new value. Returns -1 when full or the value is a string. */
int shared_incr(struct shared_store *s, const char *key, size_t klen, double delta, double ttl, double now,
                double *result);
#endif
