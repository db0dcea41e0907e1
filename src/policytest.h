/* policytest.c: `warden test FILE...`, policy test cases without a server,
 * like `opa test`: each file names policies and the decision each call must
 * get; prints every failure and "N passed, N failed". */
#ifndef WARDEN_POLICYTEST_H
#define WARDEN_POLICYTEST_H

/* argv[0] is "test". Returns the exit code: 0 when every case passed. */
int policy_test_main(int argc, char **argv);
#endif
