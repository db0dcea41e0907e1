/* pinscli.c: `warden pins diff|approve`: review and approve the definitions
 * a running warden recorded as not pinned (FILE.pending, pins.h).
 *
 *   warden pins diff    (PINS_FILE | --config FILE SERVER) [TOOL]
 *   warden pins approve (PINS_FILE | --config FILE SERVER) [TOOL | --instructions]
 *
 * diff prints, per pending definition, whether it is new or changed and a
 * line diff of the pinned and the seen definition (exit 1 when anything is
 * pending, as diff(1)). approve copies the pending definitions (all, one
 * tool, or the instructions) into the pins file, written by temp file +
 * rename, and drops them from FILE.pending. It signals nothing: the gateway
 * is to watch the pins file as it watches policy files (and reload on
 * SIGHUP), then tell its clients the tools list changed. */
#ifndef WARDEN_PINSCLI_H
#define WARDEN_PINSCLI_H

/* argv[0] is "pins". Returns the exit code. */
int pins_main(int argc, char **argv);
#endif
