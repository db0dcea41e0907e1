/* toolmeta.c: the annotations each tool of one server had in that server's
 * last tools/list answers, which Lua policies read as call.tool_meta
 * (untrusted hints: the server wrote them), and the risk class warden gave
 * each (riskclass.h) for the policies (call_ctx.tool_class).
 *
 * Bounded: the store's whole heap use (entries, names, the annotations'
 * cJSON nodes and strings, the bucket array, allocator overhead estimated)
 * stays within max_bytes. One tool's annotations over TOOLMETA_MAX_ENTRY are
 * not kept. When full, the tools remembered longest ago are forgotten first
 * to make room for the newest answer: the latest listing is the one the
 * server stands by, and a server that renames its tools never locks new
 * names out. Whatever cannot be kept is forgotten, never left stale: a
 * refused remember also drops the tool's previous annotations.
 *
 * Keys are hashed with a random key (SipHash). Not thread-safe: one store
 * per server per worker, used by that worker's thread only. A NULL store
 * (creation failed) remembers nothing and finds nothing. */
#ifndef WARDEN_TOOLMETA_H
#define WARDEN_TOOLMETA_H
#include <stddef.h>
#include <stdbool.h>
#include <cjson/cJSON.h>
#include "listitem-t.h"
#include "riskclass.h"

struct tool_meta;

/* warden's budget for one server in one worker: a few thousand tools with
 * the usual hints (readOnlyHint, destructiveHint, title...) fit. */
#define TOOLMETA_BYTES (1u << 20)
/* One tool's annotations at most (as counted by the store). */
#define TOOLMETA_MAX_ENTRY (16u << 10)

/* A store of at most max_bytes (TOOLMETA_BYTES is warden's choice). Returns
 * NULL when out of memory, when max_bytes cannot hold an empty store, or
 * when no random hash key could be had; the caller frees it with
 * toolmeta_free. */
struct tool_meta *toolmeta_new(size_t max_bytes);
void toolmeta_free(struct tool_meta *tm);

/* Remembers a copy of annotations for the tool name[0..name_len) (any
 * bytes). annotations NULL or not an object forgets the tool. Returns 0, or
 * -1 when the annotations are too large or memory ran out: the tool is then
 * forgotten. */
int toolmeta_remember(struct tool_meta *tm, const char *name, size_t name_len, const cJSON *annotations);

/* The same from one tool object of a tools/list answer, as raw JSON
 * tool_json[0..len) (already checked strictly by the caller's reader): its
 * "annotations" member is remembered for name, or the tool is forgotten
 * when it has none. Returns -1 as toolmeta_remember does, and also when
 * tool_json is not one JSON object. An object with the same bytes as when
 * the tool was last remembered this way (a keyed digest compared) is not
 * read again: the tool only becomes the newest. */
int toolmeta_remember_raw(struct tool_meta *tm, const char *name, size_t name_len, const char *tool_json,
                          size_t len);

/* The same, and the tool's risk class (riskclass_of with the name warden
 * keys it by, its description and annotations; trust_annotations is the
 * server's "trust_annotations"): what the exchange calls for each tool of a
 * tools/list answer, so that a later call is decided by the class of the
 * definition listed (call_ctx.tool_class). A tool without annotations is
 * kept with its class. Returns as toolmeta_remember_raw. */
int toolmeta_remember_tool(struct tool_meta *tm, const char *name, size_t name_len, const char *tool_json, size_t len,
                           bool trust_annotations);

/* toolmeta_remember_tool for one tool of a tools/list answer as the list
 * filter found it: what the class and annotations depend on (its
 * description and annotations texts, trust_annotations) is compared by a
 * keyed digest with what the tool had when last remembered this way, and
 * only a changed tool is read again; an unchanged one only becomes the
 * newest. *cls is then the class remembered (toolmeta_class), RISK_NONE
 * when none. Returns as toolmeta_remember_tool. */
int toolmeta_remember_listed(struct tool_meta *tm, const struct list_item *it, bool trust_annotations,
                             enum risk_class *cls);

/* The class remembered for name, or RISK_NONE when the tool is not known
 * (never listed, forgotten when the store was full, or remembered without a
 * class): the caller then passes RISK_NONE and the policies class the name. */
enum risk_class toolmeta_class(const struct tool_meta *tm, const char *name, size_t name_len);

/* The annotations remembered for name, or NULL. The pointer is owned by the
 * store and valid until the next remember, forget or free on this store:
 * long enough for one decision, which runs without any of those. */
const cJSON *toolmeta_lookup(const struct tool_meta *tm, const char *name, size_t name_len);

/* Bytes the store counts as used now, for tests and metrics. */
size_t toolmeta_bytes(const struct tool_meta *tm);
#endif
