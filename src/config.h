/* config.c: reads warden's command line and JSON config file into a validated
 * struct config; nothing starts half-configured. */
#ifndef WARDEN_CONFIG_H
#define WARDEN_CONFIG_H
#include "config-t.h"

/* Fills *cfg from argv (after the program name; sub-commands are handled by
 * main). Returns 0; 1 when --help or --version printed and warden should exit
 * 0; -1 with a message naming the flag or the file, JSON field and problem in
 * err (the caller exits 2). */
int config_from_args(int argc, char **argv, struct config *cfg, char *err, size_t errlen);

/* Frees everything *cfg owns. */
void config_free(struct config *cfg);
#endif
