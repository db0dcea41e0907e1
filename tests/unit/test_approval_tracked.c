/* The requests a warden made in Redis, tracked by the approval store: due
 * when their time comes (or at once after a recheck), handed out once until
 * settled, watched on while pending or approved and in time, forgotten
 * otherwise; counted in warden_approvals_pending until decided; bounded. */
#include <stdlib.h>
#include <event2/buffer.h>
#include "check.h"
#include "approval.h"

static const char id1[] = "apr_aaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char id2[] = "apr_bbbbbbbbbbbbbbbbbbbbbbbbbb";
static const char id3[] = "apr_cccccccccccccccccccccccccc";

static size_t pending(struct approval_store *s)
{
    struct evbuffer *m = evbuffer_new();
    approval_store_metrics(s, m);
    evbuffer_add(m, "", 1);
    const char *text = (const char *)evbuffer_pullup(m, -1);
    const char *at = strstr(text, "\nwarden_approvals_pending ");
    size_t n = at ? strtoul(at + 26, NULL, 10) : 999;
    evbuffer_free(m);
    return n;
}

int main(void)
{
    struct approval_limits lim = {.max_records = 2};
    struct approval_store *s = approval_store_new(&lim, NULL, NULL);
    char ids[4][APPROVAL_ID_LEN + 1];
    approval_store_track(s, "apr_short", 100);   /* not an id: ignored */
    approval_store_track(s, id1, 100);
    approval_store_track(s, id2, 200);
    CHECK(pending(s) == 2);
    CHECK(approval_store_tracked_due(s, 99, ids, 4) == 0);
    CHECK(approval_store_tracked_due(s, 150, ids, 4) == 1 && strcmp(ids[0], id1) == 0);
    CHECK(approval_store_tracked_due(s, 150, ids, 4) == 0);   /* handed out once */
    /* no answer: due again */
    approval_store_tracked_settle(s, id1, NULL, 0, 150);
    CHECK(approval_store_tracked_due(s, 150, ids, 4) == 1);
    /* approved, its grant running: watched until it ends, no longer pending */
    approval_store_tracked_settle(s, id1, "approved", 300, 150);
    CHECK(pending(s) == 1);
    CHECK(approval_store_tracked_due(s, 250, ids, 4) == 1 && strcmp(ids[0], id2) == 0);
    approval_store_tracked_settle(s, id2, "expired", 200, 250);   /* forgotten */
    CHECK(approval_store_tracked_due(s, 350, ids, 4) == 1 && strcmp(ids[0], id1) == 0);
    approval_store_tracked_settle(s, id1, "consumed", 300, 350);
    CHECK(approval_store_tracked_due(s, 1e9, ids, 4) == 0 && pending(s) == 0);

    /* a decision published: no longer pending; a recheck makes all due */
    approval_store_track(s, id1, 100);
    approval_store_track(s, id2, 200);
    approval_store_tracked_decided(s, id2, strlen(id2));
    CHECK(pending(s) == 1);
    approval_store_tracked_recheck(s);
    CHECK(approval_store_tracked_due(s, 0, ids, 4) == 2);
    approval_store_tracked_settle(s, id1, "pending", 100, 50);
    approval_store_tracked_settle(s, id2, "denied", 0, 50);
    CHECK(pending(s) == 1);
    /* full (max_records 2): the one due first makes room */
    approval_store_track(s, id2, 500);
    approval_store_track(s, id3, 400);
    CHECK(approval_store_tracked_due(s, 450, ids, 4) == 1 && strcmp(ids[0], id3) == 0);
    approval_store_free(s);
    return check_report();
}
