/* Unit tests of the session id (src/upstream_session.c, its random bytes
 * from src/randbytes.c) and of the stdio transport's use of it
 * (src/upstream_stdio.c): 128 random bits
 * from the kernel, read again when a signal cuts the read short, and no
 * session at all when the kernel has no random bytes to give (an id made
 * some weaker way could be guessed, and it is the session's credential).
 * getrandom is replaced by a fake that fails on demand. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include "check.h"

static struct {
    int calls;
    int fail_with;     /* errno to fail with, every call; 0: succeed */
    int eintr_first;   /* calls to cut short with EINTR first */
    size_t short_read; /* if nonzero, give at most this many bytes per call */
} fake_rnd;

static ssize_t fake_getrandom(void *buf, size_t len, unsigned flags)
{
    (void)flags;
    fake_rnd.calls++;
    if (fake_rnd.eintr_first > 0) {
        fake_rnd.eintr_first--;
        errno = EINTR;
        return -1;
    }
    if (fake_rnd.fail_with) {
        errno = fake_rnd.fail_with;
        return -1;
    }
    size_t n = fake_rnd.short_read && fake_rnd.short_read < len ? fake_rnd.short_read : len;
    memset(buf, 0xa5, n);
    return (ssize_t)n;
}

#define getrandom fake_getrandom
#include "../../src/randbytes.c"
#include "../../src/upstream_session.c"
#include "../../src/upstream_stdio.c"
#undef getrandom

static bool is_hex_id(const char *id)
{
    if (strlen(id) != 32)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

int main(void)
{
    char id[33];

    /* The plain case: 16 bytes, 32 hex digits. */
    memset(&fake_rnd, 0, sizeof fake_rnd);
    CHECK(upsess_make_id(id) == 0);
    CHECK(is_hex_id(id));
    CHECK_STR(id, "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5");

    /* A signal cuts the read short: read again. */
    memset(&fake_rnd, 0, sizeof fake_rnd);
    fake_rnd.eintr_first = 2;
    CHECK(upsess_make_id(id) == 0);
    CHECK(is_hex_id(id));
    CHECK(fake_rnd.calls == 3);

    /* Fewer bytes than asked for: the rest is read too. */
    memset(&fake_rnd, 0, sizeof fake_rnd);
    fake_rnd.short_read = 5;
    CHECK(upsess_make_id(id) == 0);
    CHECK(is_hex_id(id));
    CHECK(fake_rnd.calls == 4);

    /* No random bytes: no id, rather than a guessable one. */
    memset(&fake_rnd, 0, sizeof fake_rnd);
    fake_rnd.fail_with = ENOSYS;
    CHECK(upsess_make_id(id) == -1);

    /* ...and so no session: spawn refuses before starting anything. */
    char *argv[] = {"/bin/true", NULL};
    struct server_conf sc = {.name = "s", .command = argv};
    struct server_rt s = {.conf = &sc};
    TAILQ_INIT(&s.sessions);
    char err[256] = "";
    memset(&fake_rnd, 0, sizeof fake_rnd);
    fake_rnd.fail_with = EIO;
    CHECK(spawn(&s, err, sizeof err) == NULL);
    CHECK(strstr(err, "cannot make a session id") != NULL);
    CHECK(s.nsessions == 0 && TAILQ_EMPTY(&s.sessions));
    return check_report();
}
