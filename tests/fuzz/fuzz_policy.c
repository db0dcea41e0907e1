/* libFuzzer harness for the policy loader (src/policy.c): any file either
 * loads or is refused with a message; never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/warden-fuzz-policy-%d.json", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    const char *files[] = {path};
    char err[4096];
    struct policy_set *ps = policy_set_load(files, 1, NULL, "s", err, sizeof err);
    if (ps)
        policy_set_free(ps);
    else if (!err[0])
        abort();
    return 0;
}
