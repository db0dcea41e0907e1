/* The "approvers" of the config file: ids and SHA-256 digests read, every
 * malformed entry refused with its JSON path. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "config.h"

static char dir[] = "/tmp/warden-test-approvers-XXXXXX";

/* Reads a config file whose top level has `extra` beside one server. */
static int load(struct config *cfg, char *err, const char *extra)
{
    char path[256];
    snprintf(path, sizeof path, "%s/c.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -2;
    fprintf(f, "{\"servers\": {\"a\": {\"url\": \"http://127.0.0.1:9\"}}%s}\n", extra);
    fclose(f);
    char *args[] = {"--config", path};
    memset(cfg, 0, sizeof *cfg);
    return config_from_args(2, args, cfg, err, 2048);
}

#define HEX_A "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    struct config cfg;
    char err[2048];
    CHECK(load(&cfg, err, "") == 0);
    CHECK(cfg.napprovers == 0);
    config_free(&cfg);

    CHECK(load(&cfg, err, ", \"approvers\": [{\"id\": \"alice\", \"sha256\": \"" HEX_A "\"},"
                          " {\"id\": \"bob@example.org\", \"sha256\": \"" HEX_A "\"}]") == 0);
    CHECK(cfg.napprovers == 2);
    if (cfg.napprovers == 2) {
        CHECK_STR(cfg.approvers[0].id, "alice");
        CHECK_STR(cfg.approvers[1].id, "bob@example.org");
        CHECK(cfg.approvers[0].sha256[0] == 0xba && cfg.approvers[0].sha256[31] == 0xad);
    }
    config_free(&cfg);

    static const struct {
        const char *extra, *says;
    } bad[] = {
        {", \"approvers\": {}", "/approvers: must be an array"},
        {", \"approvers\": [\"alice\"]", "/approvers/0: must be {"},
        {", \"approvers\": [{\"id\": \"alice\"}]", "/approvers/0: must be {"},
        {", \"approvers\": [{\"id\": \"alice\", \"sha256\": \"" HEX_A "\", \"secret\": \"x\"}]", "/approvers/0: must be {"},
        {", \"approvers\": [{\"id\": \"al ice\", \"sha256\": \"" HEX_A "\"}]", "/approvers/0: id: 1 to 64"},
        {", \"approvers\": [{\"id\": \"\", \"sha256\": \"" HEX_A "\"}]", "/approvers/0: id: 1 to 64"},
        {", \"approvers\": [{\"id\": \"a\", \"sha256\": \"abc\"}]", "/approvers/0: sha256: must be 64 hex"},
        {", \"approvers\": [{\"id\": \"a\", \"sha256\": \"" "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" "\"}]",
         "/approvers/0: sha256: must be 64 hex"},
        {", \"approvers\": [{\"id\": \"a\", \"sha256\": \"" HEX_A "\"}, {\"id\": \"a\", \"sha256\": \"" HEX_A "\"}]",
         "/approvers/1: id a appears twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        CHECK(load(&cfg, err, bad[i].extra) == -1);
        if (!strstr(err, bad[i].says))
            fprintf(stderr, "case %zu: %s\n", i, err);
        CHECK(strstr(err, bad[i].says) != NULL);
        config_free(&cfg);
    }
    char path[300];
    snprintf(path, sizeof path, "%s/c.json", dir);
    unlink(path);
    rmdir(dir);
    return check_report();
}
