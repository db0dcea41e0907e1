/* authoring.c: the policy author's commands, run without a server:
 *   warden check [--strict] [--tools FILE] FILE...   validate and lint policies
 *   warden check --config FILE                       a config and every policy it names (like nginx -t)
 *   warden explain --policy FILE... --tool NAME [--args JSON]  the trace of one decision
 * Exit codes: 0 fine (explain: allowed), 1 problems (explain: refused), 2 usage. */
#ifndef WARDEN_AUTHORING_H
#define WARDEN_AUTHORING_H
#include <cjson/cJSON.h>

/* argv[0] is "check". */
int authoring_check_main(int argc, char **argv);

/* argv[0] is "explain". */
int authoring_explain_main(int argc, char **argv);

/* The text of a tools/call request for tool with args (an object, or NULL
 * for none) and the integer id; NULL when out of memory. The caller frees it. */
char *authoring_call_text(const char *tool, const cJSON *args, int id);
#endif
