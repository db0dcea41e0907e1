/* pins.c: pinned tool definitions. A server's pins file holds each approved
 * tool object (and the server's initialize "instructions") beside its pin;
 * warden compares every tools/list answer with it, so a server that changes
 * a tool after it was reviewed (a "rug pull") is caught.
 *
 * A pin is SHA-256 over "warden-pin-v1\0" KIND "\0" CANONICAL, where KIND is
 * "tool" or "instructions" and CANONICAL is the RFC 8785 form (jcs.h) of the
 * whole tool object as the server sent it (name, title, description,
 * inputSchema, outputSchema, annotations, _meta... every member), or of the
 * instructions string (null when the server gave none). A definition with a
 * U+0000 in a string cannot be pinned (the file's reader, cJSON, would cut
 * it): it never matches.
 *
 * The pins file (JSON, written by `warden scan --pin` and `warden pins
 * approve`, reviewable in git):
 *   {"version": 1, "description": "...",
 *    "instructions": {"sha256": HEX, "definition": "text" | null},
 *    "tools": {NAME: {"sha256": HEX, "definition": {the tool object}}}}
 * On load every definition is canonicalized again and must give its sha256
 * (a hand edit that forgot the hash is refused, not silently trusted).
 *
 * What warden sees that is not pinned (new or changed) is recorded in
 * FILE.pending (same format), for `warden pins diff` and `warden pins
 * approve`; written by temp file + rename, at most PINS_PENDING_BYTES of
 * canonical definitions and PINS_MAX_TOOLS tools: past that, further
 * definitions are not recorded (pins_note says so) and stay blocked.
 *
 * Runtime approvals (several wardens sharing a Redis: pins_redis.h) sit
 * over the file: an approval of tool T at pin D, made while the file pinned
 * T at B (or did not pin T), is in force instead of the file's pin while the
 * file still pins B (still does not pin T). So every warden loading the same
 * file agrees, and a reviewed file that pins T anew takes over. They are
 * kept per server for the whole process (across generations), replaced
 * wholesale by what Redis holds each time it is read.
 *
 * Thread safety: the file's set is immutable once loaded (a new pins file
 * is a new struct pins, swapped on reload like a policy generation); the
 * pending record and the runtime approvals change, each under its own mutex. */
#ifndef WARDEN_PINS_H
#define WARDEN_PINS_H
#include <stdbool.h>
#include <stddef.h>
#include "sha256.h"

enum pin_mode { PIN_MODE_OFF, PIN_MODE_WARN, PIN_MODE_BLOCK };
enum pin_status { PIN_OK, PIN_NEW, PIN_CHANGED };

#define PINS_MAX_TOOLS 10000
#define PINS_MAX_DEFINITION (1u << 20)     /* canonical bytes of one definition */
#define PINS_MAX_DEPTH 64
#define PINS_PENDING_BYTES (8u << 20)

/* One definition: its name ("" for instructions), canonical text and pin. */
struct pin_entry {
    char *name;
    char *canonical;                      /* NUL-terminated */
    size_t canonical_len;
    unsigned char digest[SHA256_BYTES];
};

/* Fills e from a raw tool object (kind "tool", name its name) or the raw JSON
 * of the instructions (kind "instructions", name ""; json NULL for none).
 * Returns 0, or -1 with the reason in err; the caller frees e with
 * pin_entry_clear. */
int pin_entry_make(struct pin_entry *e, const char *kind, const char *name, size_t name_len, const char *json,
                   size_t len, char *err, size_t errlen);
void pin_entry_clear(struct pin_entry *e);

struct pins;

/* A runtime approval: definition `digest` of tool `name` (NULL: the server's
 * instructions), approved over the file's pin `base` (has_base false: the
 * file pinned none). */
struct pin_approval {
    char *name;                           /* owned; NULL for the instructions */
    unsigned char digest[SHA256_BYTES];
    unsigned char base[SHA256_BYTES];
    bool has_base;
};

/* Every runtime approval of one server as read at once, with the version of
 * that set: `epoch` names one life of the record (a Redis that lost its data
 * starts another), `version` grows with every change within it. */
#define PINS_EPOCH_MAX 64
struct pin_approval_set {
    char epoch[PINS_EPOCH_MAX + 1];
    unsigned long long version;
    struct pin_approval *tools;           /* malloc'd, n of them, any order */
    size_t n;
    struct pin_approval instructions;
    bool has_instructions;
};
void pin_approval_set_clear(struct pin_approval_set *s);

/* Loads the pins file at path (a missing file is an error: `warden scan
 * --pin FILE` writes the first one) and what FILE.pending already records.
 * Returns NULL with "FILE:LINE:COL /pointer: problem" lines in err. The
 * result holds one reference: pins_ref adds one, pins_free drops one and
 * frees the pins with the last (any thread). */
struct pins *pins_load(const char *path, char *err, size_t errlen);
struct pins *pins_ref(struct pins *p);
void pins_free(struct pins *p);

/* The pins of every server for the whole process, so that all workers of a
 * generation share one struct pins per server (one pending record, one
 * view of what was seen changed). Keyed by server name (a config reload adds
 * and removes servers); at most PINS_TABLE_MAX servers, past that a slot of
 * an older generation is reused. Thread-safe. */
#define PINS_TABLE_MAX 1024u
struct pins_table;
struct pins_table *pins_table_new(void);
void pins_table_free(struct pins_table *t);

/* A reference to the pins of server `server` of generation `generation`,
 * loaded from path by the first worker that asks (worker 0, which validates
 * a reload), shared with the others. NULL with the problems in err when it
 * fails to load (or the table is full of this generation's servers): the
 * reload fails and the previous generation stays in force. */
struct pins *pins_table_get(struct pins_table *t, const char *server, unsigned long generation, const char *path,
                            char *err, size_t errlen);
const char *pins_path(const struct pins *p);

/* Replaces the runtime approvals of p's server by *s, which is emptied
 * (its contents now p's, or freed), unless s is older than the set in force
 * (same epoch, lower version). Drops from the pending record, in memory,
 * what is now approved (the approver rewrote FILE.pending). Returns 1 when
 * what is approved changed, 0 when not, -1 when s was older and ignored.
 * Any thread. */
int pins_apply_approvals(struct pins *p, struct pin_approval_set *s);
/* How many times the runtime approvals of p's server changed (for a worker
 * to tell whether its clients heard of it); grows across generations. */
unsigned long long pins_approvals_changes(const struct pins *p);
/* The pin in force for tool name (NULL: the instructions) into out: the
 * runtime approval (see the top) or the file's. false when neither pins it. */
bool pins_in_force(const struct pins *p, const char *name, size_t name_len, unsigned char out[SHA256_BYTES]);

/* What the pinned hashes say of a definition seen; hex digests for the log
 * and the audit line ("" when there is none). */
struct pin_seen {
    char seen[2 * SHA256_BYTES + 1];
    char pinned[2 * SHA256_BYTES + 1];
};

/* Checks one tool of a tools/list answer: name[0..name_len) (decoded) and its
 * raw object tool_json[0..len) against the pin in force. PIN_NEW when no pin
 * has that name, PIN_CHANGED when the pin differs (or the object cannot be canonicalized).
 * seen may be NULL. Any thread. */
enum pin_status pins_check(const struct pins *p, const char *name, size_t name_len, const char *tool_json, size_t len,
                           struct pin_seen *seen);

/* The same for the raw JSON value of the initialize result's "instructions"
 * (NULL when it has none). PIN_NEW when the file pins no instructions. */
enum pin_status pins_check_instructions(const struct pins *p, const char *json, size_t len, struct pin_seen *seen);

/* In block mode, whether a tools/call of name must get the unknown-tool
 * answer: the tool has no pin, or a definition of it that differs from its
 * pin was seen (pins_note recorded it) and is not approved yet, so every
 * session is refused, whatever list it was shown. Any thread. */
bool pins_refuses_call(struct pins *p, const char *name, size_t name_len);

/* The approved instructions as canonical JSON (a string, or null when the
 * server had none), or NULL when the file pins none or a runtime approval
 * (whose text warden does not hold) is in force instead. Owned by p. */
const char *pins_instructions(const struct pins *p, size_t *len);

/* Records a definition that pins_check found new or changed in FILE.pending
 * (name NULL: the instructions), rewriting the file only when the record
 * changed. Returns 0, 1 when it was already recorded as is, or -1 with the
 * reason in err (budget, I/O). Any thread; it writes a file, so callers on an
 * event loop call it once per definition and change, not per answer: the
 * exchange calls it when pins_check said PIN_NEW/PIN_CHANGED, and the record
 * makes repeats cheap (no write). */
int pins_note(struct pins *p, const char *name, size_t name_len, const char *json, size_t len, char *err,
              size_t errlen);

/* The list filter's question for one tool of a tools/list answer (the
 * exchange's decide(), from struct list_item's name and raw bytes): true
 * keeps it. mode off keeps everything and checks nothing. In warn and block,
 * a tool not pinned as listed is recorded (pins_note) and *st says so, with
 * the hashes in *seen, for the log and the audit line (pin_mismatch); *err
 * says why a record failed ("" otherwise). warn keeps it; block drops it, and
 * also drops a tool listed as pinned whose changed definition another session
 * saw (pins_refuses_call). Any thread; p may be NULL only with mode off. */
bool pins_keep_listed(struct pins *p, enum pin_mode mode, const char *name, size_t name_len, const char *raw,
                      size_t raw_len, enum pin_status *st, struct pin_seen *seen, char *err, size_t errlen);

/* The same for the "instructions" of an initialize result (raw JSON, NULL
 * when it has none): false means block mode wants them removed from the
 * result before it reaches the client (an unpinned text steers the agent as
 * much as a tool description does). */
bool pins_keep_instructions(struct pins *p, enum pin_mode mode, const char *raw, size_t raw_len, enum pin_status *st,
                            struct pin_seen *seen, char *err, size_t errlen);

/* Writes a pins file (or a pending one) at path atomically: temp file in
 * the same directory, fsync, rename. tools[0..n) in any order (written sorted
 * by name), instructions may be NULL. Returns 0 or -1 with err. */
int pins_file_write(const char *path, const char *description, const struct pin_entry *tools, size_t n,
                    const struct pin_entry *instructions, char *err, size_t errlen);

/* Reads a pins (or pending) file into entries, checking every hash: *tools
 * (malloc'd, *n of them) and *instructions (has_instructions says whether
 * the file has one). missing_ok: a missing file is empty. Returns 0, or -1
 * with "FILE:LINE:COL /pointer: problem" lines in err. The caller frees with
 * pin_entries_free. */
int pins_file_read(const char *path, bool missing_ok, struct pin_entry **tools, size_t *n,
                   struct pin_entry *instructions, bool *has_instructions, char *err, size_t errlen);
void pin_entries_free(struct pin_entry *tools, size_t n);
#endif
