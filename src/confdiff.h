/* confdiff.c: what a config re-read on SIGHUP changes. Servers may come, go
 * and change while warden runs; everything else (listen address, workers,
 * TLS, admin listener, state, limits, auth, origins...) is fixed at start,
 * and a new config that changes it is refused whole. Pure functions of two
 * configs: no I/O, no allocation. */
#ifndef WARDEN_CONFDIFF_H
#define WARDEN_CONFDIFF_H
#include <stdbool.h>
#include <stddef.h>
#include "config-t.h"

/* True when two servers are configured alike in every field, so a runtime
 * built from a may serve b unchanged (its sessions and streams stay). */
bool confdiff_server_equal(const struct server_conf *a, const struct server_conf *b);

/* The server of cfg named `name`, or NULL. */
const struct server_conf *confdiff_find(const struct config *cfg, const char *name);

/* Returns 0 when `next` may replace `cur` live in a warden running `nworkers`
 * workers; -1 with one line saying what cannot change in why. */
int confdiff_check(const struct config *cur, const struct config *next, int nworkers, char *why, size_t whylen);

/* How the servers of next differ from those of cur. */
struct confdiff_count {
    size_t added, removed, changed, kept;
};
struct confdiff_count confdiff_count(const struct config *cur, const struct config *next);
#endif
