/* state_shared.c: warden.shared replicated through the Redis of "state", so
 * that the Lua policies of several wardens see each other's values.
 *
 * The Lua API stays synchronous: a policy reads and writes this warden's
 * store (sharedstore.c) as before, and never waits on Redis. What it writes
 * is queued (a journal, 1 MiB at most: past it changes are not replicated,
 * counted in the log) and sent from one worker's loop every 10 ms:
 *   - set: SET (or DEL) in Redis, and PUBLISH: every other warden then reads
 *     the key back and stores what Redis holds (last writer in Redis wins;
 *     all wardens converge on it);
 *   - incr: INCRBY in Redis (exact there, never lost); the total comes back
 *     and raises this warden's value to it, and the others read it the same
 *     way. An incr's result in Lua is this warden's view: it lags the other
 *     wardens' increments by the replication delay (milliseconds), so budgets
 *     built on warden.shared may be overshot by what the others add in that
 *     time: use rate_limit for exact limits.
 * Keys are "<prefix>sh:<key>" with their TTL as PX. Changes made while Redis
 * is unreachable are kept in the journal and sent when it is back (up to its
 * budget); changes other wardens made meanwhile are seen when next written.
 * Who frees what: the caller frees it with state_shared_free before the
 * state and the store, once no thread uses the store. */
#ifndef WARDEN_STATE_SHARED_H
#define WARDEN_STATE_SHARED_H
#include <event2/event.h>

struct state;
struct shared_store;
struct state_shared;

#define STATE_SHARED_JOURNAL_BYTES (1u << 20)

/* Replicates store through st (a worker's state, on base, its loop). NULL
 * when out of memory. */
struct state_shared *state_shared_new(struct event_base *base, struct state *st, struct shared_store *store);
void state_shared_free(struct state_shared *ss);
#endif
