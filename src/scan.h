/* scan.c: `warden scan`: connects to an MCP server as a client, lists every
 * tool (all pages), classes each (riskclass.h) and writes a reviewed-policy
 * scaffold with its test file, an inventory, or the first pins file.
 *
 *   warden scan [--upstream URL [--header 'Name: value']... | -- COMMAND ARGS...]
 *               [--out PREFIX] [--format policy|table|json] [--pin FILE]
 *               [--trust-annotations] [--timeout-ms N]
 *
 * The scaffold (--format policy, the default): "default": "deny"; a rule per
 * tool, recommended by class (read: allow; write: a rate limit of 30 calls an
 * hour per session; destructive and unknown: require_approval, since unknown
 * is treated as destructive and approval is the reviewable choice where
 * deny would hide a mistake of the classifier); "classes_of" fixing each
 * tool's class as scanned (so audit lines, metrics and Lua see it even
 * before warden sees a list); "classes" rules with the same recommendations
 * for tools the server adds later. --out PREFIX writes PREFIX.json and
 * PREFIX.test.json (one case per tool, the decision its rule gives), which
 * `warden check` and `warden test` accept unchanged; without it the policy
 * goes to stdout. */
#ifndef WARDEN_SCAN_H
#define WARDEN_SCAN_H

/* argv[0] is "scan". Returns the exit code: 0, 1 when the server could not
 * be scanned, 2 for a bad command line. */
int scan_main(int argc, char **argv);
#endif
