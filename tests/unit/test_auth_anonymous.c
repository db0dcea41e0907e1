/* auth.c: the anonymous principal every unauthenticated call borrows is the
 * document principal_make builds, shared read-only, and principal_clear
 * leaves it alone (ASan would see a free of static storage). */
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "check.h"

int main(void)
{
    struct principal made, p1, p2;
    struct auth_failure why;
    CHECK(principal_make(&made, PRINCIPAL_ANONYMOUS, "anonymous") == 0);
    CHECK(!made.shared);
    char *want = cJSON_PrintUnformatted(made.doc);

    CHECK(auth_authenticate(NULL, NULL, NULL, &p1, &why) == AUTH_OK);
    CHECK(auth_authenticate(NULL, NULL, NULL, &p2, &why) == AUTH_OK);
    CHECK(p1.shared && p1.doc == p2.doc);
    CHECK(p1.kind == PRINCIPAL_ANONYMOUS);
    CHECK_STR(p1.id, "anonymous");
    char *got = cJSON_PrintUnformatted(p1.doc);
    CHECK_STR(got, want);
    /* Read as policies read it. */
    CHECK_STR(cJSON_GetStringValue(principal_lookup(&p1, "kind")), "anonymous");
    CHECK(cJSON_GetArraySize(principal_lookup(&p1, "scopes")) == 0);
    CHECK(cJSON_IsObject(principal_lookup(&p1, "claims")) && !principal_lookup(&p1, "claims")->child);
    CHECK(principal_lookup(&p1, "labels.team") == NULL);
    CHECK(!principal_has_scope(&p1, "mcp:tools"));
    /* A copy of the shared document is an ordinary, owned one. */
    cJSON *dup = cJSON_Duplicate(p1.doc, 1);
    CHECK(dup && cJSON_Compare(dup, made.doc, 1));
    cJSON_Delete(dup);

    principal_clear(&p1);
    CHECK(p1.doc == NULL && !p1.shared);
    principal_clear(&p2);
    CHECK(auth_authenticate(NULL, NULL, NULL, &p1, &why) == AUTH_OK);
    free(got);
    got = cJSON_PrintUnformatted(p1.doc);
    CHECK_STR(got, want);
    principal_clear(&p1);
    principal_clear(&made);
    free(got);
    free(want);
    return check_report();
}
