/* config.c: reads warden's command line and JSON config file into a validated
 * struct config; nothing starts half-configured. */
#ifndef WARDEN_CONFIG_H
#define WARDEN_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include "config-t.h"

/* Fills *cfg from argv (after the program name; sub-commands are handled by
 * main) and the config file it names; the flags win over the file. Returns 0;
 * 1 when --help or --version printed and warden should exit 0; -1 with every
 * problem in err, one per line ("FILE:LINE:COL /json/pointer: problem",
 * "--flag VALUE: problem"; the caller exits 2). */
int config_from_args(int argc, char **argv, struct config *cfg, char *err, size_t errlen);

/* True when a request's Origin header value may reach the servers: an entry
 * "*" allows all, an entry without a port ("http://localhost") allows that
 * scheme and host on any port, one with a port only that port. */
bool config_origin_allowed(const struct config *cfg, const char *origin, size_t len);

/* True when a request's Host header value (with or without ":PORT") names a
 * host warden serves (DNS-rebinding protection). */
bool config_host_allowed(const struct config *cfg, const char *host, size_t len);

/* Frees everything *cfg owns. */
void config_free(struct config *cfg);
#endif
