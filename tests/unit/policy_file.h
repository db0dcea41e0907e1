/* For unit tests: a policy set from text, as warden loads one from a file. */
#ifndef WARDEN_TEST_POLICY_FILE_H
#define WARDEN_TEST_POLICY_FILE_H
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "policy.h"

/* Writes text to DIR/NAME (its extension says JSON or Lua), loads it as
 * server "s"'s one policy and removes the file. NULL, with the loader's
 * reason on stderr, when it does not load; a file it cannot write ends the
 * test (exit 2). */
static struct policy_set *policy_from_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    const char *files[] = {path};
    char err[4096];
    struct policy_set *ps = policy_set_load(files, 1, NULL, "s", err, sizeof err);
    if (!ps)
        fprintf(stderr, "%s: load failed: %s\n", name, err);
    unlink(path);
    return ps;
}
#endif
