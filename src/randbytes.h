/* randbytes.c: the kernel's random bytes, for ids a client must not guess
 * (sessions, approvals, console tokens) and the keys of hash tables. */
#ifndef WARDEN_RANDBYTES_H
#define WARDEN_RANDBYTES_H
#include <stddef.h>

/* Fills buf[0..len) with random bytes; 0, or -1 when the kernel gives none. */
int randbytes(void *buf, size_t len);
#endif
