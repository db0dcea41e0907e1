/* policytest.c: `warden test [-v] [--format text|json|junit] FILE...`,
 * policy test cases without a server, like `opa test`: each file names
 * policies and the decision each call must get; prints every failure (with
 * -v its decision trace) and "N passed, N failed", or one JSON or JUnit
 * document. A test file is read as strictly as a policy: unknown keys,
 * unknown decisions and an empty case list are errors. */
#ifndef WARDEN_POLICYTEST_H
#define WARDEN_POLICYTEST_H

/* argv[0] is "test". Returns the exit code: 0 when every case passed. */
int policy_test_main(int argc, char **argv);
#endif
