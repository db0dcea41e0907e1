/* Types of the admin listener (admin.c) that the pages it serves (console.c)
 * share with it, apart from admin.h so that neither module includes the other. */
#ifndef WARDEN_ADMIN_T_H
#define WARDEN_ADMIN_T_H
#include <event2/buffer.h>

/* Writes the JSON body of /policies (runs on the admin's event loop). */
typedef void (*admin_describe_fn)(void *arg, struct evbuffer *out);
#endif
