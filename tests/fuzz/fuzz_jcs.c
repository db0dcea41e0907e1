/* libFuzzer harness for the canonical JSON writer (src/jcs.c): whatever it
 * accepts, its output is JSON cJSON reads, and canonical already (a second
 * pass gives the same bytes); it never reads past the length given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "jcs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that ASan sees any read past the end */
    char *in = malloc(size ? size : 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    char *out = NULL, *again = NULL, err[200];
    size_t len, len2;
    if (jcs_canonicalize(in, size, 32, 1 << 20, &out, &len, err, sizeof err) == 0) {
        if (strlen(out) != len)
            abort();
        if (jcs_canonicalize(out, len, 32, 1 << 20, &again, &len2, err, sizeof err) != 0)
            abort();
        if (len2 != len || memcmp(out, again, len) != 0)
            abort();
        cJSON *j = cJSON_ParseWithLength(out, len);
        if (!j)
            abort();
        cJSON_Delete(j);
    }
    free(out);
    free(again);
    free(in);
    return 0;
}
