/* catalog.c: the tools each server listed, as warden last saw them in a
 * tools/list answer (any worker, any session), for the console: name,
 * description, annotations (untrusted: the server wrote them) and when the
 * tool was last listed. A listing updates the tools it names; a tool a
 * server stops listing stays until the budget needs its room.
 *
 * Bounded: every kept tool costs its printed summary plus overhead against
 * max_bytes; when full, the tools listed longest ago are forgotten first.
 * Descriptions are cut at CATALOG_MAX_DESCRIPTION bytes (between
 * characters); a tool whose summary is still over CATALOG_MAX_ENTRY is kept
 * without its annotations.
 *
 * Thread-safe: workers note lists, the admin thread takes snapshots; a
 * mutex guards it. Keys are hashed with a random key (SipHash). */
#ifndef WARDEN_CATALOG_H
#define WARDEN_CATALOG_H
#include <stddef.h>
#include <cjson/cJSON.h>
#include "listitem-t.h"

struct catalog;

#define CATALOG_BYTES (4u << 20)
#define CATALOG_MAX_ENTRY (16u << 10)
#define CATALOG_MAX_DESCRIPTION 2048

/* NULL when out of memory or no random key could be had; the caller frees
 * it with catalog_free once no thread uses it. */
struct catalog *catalog_new(size_t max_bytes);
void catalog_free(struct catalog *c);

/* Notes every tool of a tools/list "tools" array for server at wall time
 * `wall` (seconds since the epoch). Entries that are not objects with a
 * string name are skipped. Any thread. */
void catalog_note(struct catalog *c, const char *server, const cJSON *tools, double wall);

/* The same for one tool of a tools/list answer given as its name and its
 * raw JSON object tool_json[0..len) (already read strictly by the caller,
 * as the exchange's list filter has it). Not one JSON object: nothing is
 * noted. Any thread. */
void catalog_note_raw(struct catalog *c, const char *server, const char *name, size_t name_len,
                      const char *tool_json, size_t len, double wall);

/* catalog_note_raw for every tool of one tools/list answer as the list
 * filter found them, under one lock. A tool whose description and
 * annotations texts have the keyed digest they had when it was last noted
 * this way is not read again: only its "listed" time is renewed and it
 * becomes the newest. Any thread. */
void catalog_note_list(struct catalog *c, const char *server, const struct list_item *items, size_t n, double wall);

/* A copy of everything: {SERVER: {TOOL: {"description": S|null,
 * "annotations": {..}|null, "listed": SECONDS}}}; the caller frees it with
 * cJSON_Delete. NULL when out of memory. Any thread. */
cJSON *catalog_snapshot(struct catalog *c);

/* Bytes counted now. */
size_t catalog_bytes(struct catalog *c);
#endif
