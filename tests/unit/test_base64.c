/* Unit tests of the Base64 digits (src/base64.h): every byte against the
 * alphabets of RFC 4648 §4 and §5, written out here. */
#include <stdbool.h>
#include <string.h>
#include "base64.h"
#include "check.h"

static const char std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The place of c in alphabet, or -1 (the NUL byte is in no alphabet). */
static int place(const char *alphabet, int c)
{
    const char *at = c ? strchr(alphabet, c) : NULL;
    return at ? (int)(at - alphabet) : -1;
}

int main(void)
{
    int std_mismatch = 0, url_mismatch = 0;
    for (int c = 0; c < 256; c++) {
        std_mismatch += base64_digit((unsigned char)c, false) != place(std_alphabet, c);
        url_mismatch += base64_digit((unsigned char)c, true) != place(url_alphabet, c);
    }
    CHECK(std_mismatch == 0);
    CHECK(url_mismatch == 0);
    CHECK(base64_digit('+', false) == 62 && base64_digit('/', false) == 63);
    CHECK(base64_digit('-', true) == 62 && base64_digit('_', true) == 63);
    CHECK(base64_digit('-', false) == -1 && base64_digit('+', true) == -1 && base64_digit('=', false) == -1);
    return check_report();
}
