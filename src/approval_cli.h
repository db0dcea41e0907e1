/* approval_cli.c: `warden approvals`, the approvers' terminal client of the
 * admin listener's approval API (approval_http.h):
 *   warden approvals [--admin URL] list [--status pending|approved|denied|expired|consumed|all]
 *   warden approvals [--admin URL] show ID
 *   warden approvals [--admin URL] approve|deny ID [--reason TEXT]
 * URL is http://HOST:PORT of the admin listener (default $WARDEN_ADMIN, else
 * http://127.0.0.1:8932); the approver's token comes from
 * $WARDEN_APPROVER_TOKEN only, never from the command line (where other users
 * could read it). Exit status: 0 done, 1 warden refused (its error printed),
 * 2 usage or connection problems. */
#ifndef WARDEN_APPROVAL_CLI_H
#define WARDEN_APPROVAL_CLI_H

int approval_cli_main(int argc, char **argv);
#endif
