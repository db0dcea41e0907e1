/* The console's static files (the .js and .css files of src/console), compiled into the
 * binary by src/console/embed.cmake: nothing to install beside warden. */
#ifndef WARDEN_CONSOLE_ASSETS_H
#define WARDEN_CONSOLE_ASSETS_H
#include <stddef.h>

struct console_asset {
    const char *name;             /* "app.js": served at /console/app.js */
    const char *type;             /* Content-Type */
    const unsigned char *data;
    size_t len;
};

/* Ended by an entry whose name is NULL. */
extern const struct console_asset console_assets[];
#endif
