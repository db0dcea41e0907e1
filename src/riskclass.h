/* riskclass.c: the risk class of a tool (read, write, destructive, unknown)
 * from what its server lists: the verbs of its name, phrases of its
 * description and its annotations.
 *
 * The name: split into words at '_', '-', '.', '/', spaces and camelCase
 * humps, lower-cased; the first word found in one of the verb lists below
 * decides (so "delete_run" and "runDelete" are destructive, "get_run" read).
 * No known word: unknown. The description: "permanently", "irreversib",
 * "cannot be undone", "can't be undone", "not be recoverable" raise the class
 * to destructive. Annotations (MCP ToolAnnotations, untrusted hints):
 *  - from a server not trusted, only explicit hints count and only to raise:
 *    readOnlyHint false raises read to write, destructiveHint true (with
 *    readOnlyHint not true) raises to destructive. The spec's defaults for
 *    absent hints (destructiveHint true) are not the server's word and raise
 *    nothing; readOnlyHint true never lowers a class.
 *  - from a trusted server ("trust_annotations": true) they decide:
 *    readOnlyHint true is read; otherwise destructiveHint true is destructive
 *    and false is write; with readOnlyHint false and no destructiveHint the
 *    name's class stands if it is write or destructive, else destructive (the
 *    spec's default). Annotations without either hint leave the heuristic.
 * Unknown is treated as destructive by whoever applies a class (policy.c). An
 * operator's override (a policy's "classes_of") is applied by policy.c, after
 * this. */
#ifndef WARDEN_RISKCLASS_H
#define WARDEN_RISKCLASS_H
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

enum risk_class {
    RISK_NONE = 0,          /* not known here: the caller classes the name itself */
    RISK_READ,
    RISK_WRITE,
    RISK_DESTRUCTIVE,
    RISK_UNKNOWN,           /* nothing recognised: treated as destructive */
};
#define RISK_NCLASSES 5

/* "read", "write", "destructive", "unknown"; "" for RISK_NONE. */
const char *risk_class_name(enum risk_class c);
/* The class named s, or RISK_NONE when s names none. */
enum risk_class risk_class_parse(const char *s);

/* Words of a name that decide its class (NULL-terminated lists, each sorted
 * by strcmp for a binary search, no word in two of them). */
extern const char *const riskclass_destructive_words[];
extern const char *const riskclass_write_words[];
extern const char *const riskclass_read_words[];

/* The class the name name[0..len) alone suggests; "why" (may be NULL) gets a
 * short explanation ("name verb \"delete\""). Never RISK_NONE. */
enum risk_class riskclass_of_name(const char *name, size_t len, char *why, size_t whylen);

/* The class of one tool from its name, description (may be NULL) and
 * annotations (may be NULL), as the header comment says; why as above. */
enum risk_class riskclass_of(const char *name, size_t len, const char *description, const cJSON *annotations,
                             bool trust_annotations, char *why, size_t whylen);

/* The same from a tool object (a tools/list "tools" element): its "name",
 * "description" and "annotations" members. A tool without a string name is
 * RISK_UNKNOWN. */
enum risk_class riskclass_of_tool(const cJSON *tool, bool trust_annotations, char *why, size_t whylen);
#endif
