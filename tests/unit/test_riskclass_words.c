/* The verb lists riskclass_of_name searches by halves: each sorted (a word
 * out of place would never be found), none sharing a word with another (the
 * order they are tried in would decide), and every word classing a name as
 * its list says. */
#include <stdlib.h>
#include "check.h"
#include "riskclass.h"

static void test_list(const char *const *list, enum risk_class cls, const char *const *others[2])
{
    size_t n = 0;
    for (; list[n]; n++) {
        if (n)
            CHECK(strcmp(list[n - 1], list[n]) < 0);
        for (int o = 0; o < 2; o++)
            for (size_t k = 0; others[o][k]; k++)
                CHECK(strcmp(list[n], others[o][k]) != 0);
        char name[64];
        snprintf(name, sizeof name, "%s_thing", list[n]);
        CHECK(riskclass_of_name(name, strlen(name), NULL, 0) == cls);
        snprintf(name, sizeof name, "zz9%s", list[n]);   /* not a word of it: unknown */
        CHECK(riskclass_of_name(name, strlen(name), NULL, 0) == RISK_UNKNOWN);
    }
    CHECK(n > 10);
}

int main(void)
{
    const char *const *d = riskclass_destructive_words, *const *w = riskclass_write_words,
                      *const *r = riskclass_read_words;
    test_list(d, RISK_DESTRUCTIVE, (const char *const *[2]){w, r});
    test_list(w, RISK_WRITE, (const char *const *[2]){d, r});
    test_list(r, RISK_READ, (const char *const *[2]){d, w});
    return check_report();
}
