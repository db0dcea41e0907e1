/* The sessions sent to the approval page: what an initialize must say, and
 * the bound (the session noted longest ago goes first). */
#include "../../src/approval_elicit.c"

#include <stdio.h>
#include "check.h"

int main(void)
{
    cJSON *yes = cJSON_Parse("{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{\"elicitation\":{\"url\":{}}}}");
    cJSON *form = cJSON_Parse("{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{\"elicitation\":{}}}");
    cJSON *old = cJSON_Parse("{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"elicitation\":{\"url\":{}}}}");
    CHECK(elicit_wanted(yes));
    CHECK(!elicit_wanted(form));
    CHECK(!elicit_wanted(old));
    CHECK(!elicit_wanted(NULL));
    struct elicit_sessions *s = elicit_sessions_new(1);
    CHECK(s != NULL);
    CHECK(!elicit_sessions_has(s, "a", 1));
    elicit_sessions_note(s, "a", 1);
    elicit_sessions_note(s, "a", 1);
    CHECK(elicit_sessions_has(s, "a", 1));
    CHECK(s->n == 1);
    char long_id[300];
    memset(long_id, 'x', sizeof long_id);
    elicit_sessions_note(s, long_id, sizeof long_id);
    CHECK(!elicit_sessions_has(s, long_id, sizeof long_id));
    char id[32];
    for (int i = 0; i < ELICIT_MAX_SESSIONS; i++) {
        int n = snprintf(id, sizeof id, "s%d", i);
        elicit_sessions_note(s, id, (size_t)n);
    }
    CHECK(s->n == ELICIT_MAX_SESSIONS);
    CHECK(!elicit_sessions_has(s, "a", 1));   /* the oldest went */
    CHECK(elicit_sessions_has(s, "s0", 2));
    int n = snprintf(id, sizeof id, "s%d", ELICIT_MAX_SESSIONS - 1);
    CHECK(elicit_sessions_has(s, id, (size_t)n));
    elicit_sessions_free(s);
    cJSON_Delete(yes);
    cJSON_Delete(form);
    cJSON_Delete(old);
    return check_report();
}
