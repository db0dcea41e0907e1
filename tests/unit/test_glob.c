/* Unit tests of the one glob dialect (src/glob.c): segments, `**`, classes,
 * escapes, and that tool names (no `/`) match as they always did. */
#include <string.h>
#include "check.h"
#include "glob.h"

static bool m(const char *g, const char *s)
{
    return glob_match(g, s, strlen(s));
}

static void test_segments(void)
{
    CHECK(m("/srv/*", "/srv/x"));
    CHECK(!m("/srv/*", "/srv/a/b"));
    CHECK(!m("/srv/*", "/srv/../etc/passwd"));
    CHECK(m("/srv/**", "/srv/a/b/c"));
    CHECK(m("/srv/**", "/srv/"));
    CHECK(m("/srv/**/*.txt", "/srv/a/b/c.txt"));
    CHECK(!m("/srv/**/*.txt", "/srv/a/b/c.txt/d"));
    CHECK(m("**/*.txt", "a/b.txt"));
    CHECK(m("***", "a/b"));
    CHECK(!m("a?c", "a/c"));
    CHECK(m("a?c", "abc"));
    CHECK(!m("a[!x]c", "a/c"));
    CHECK(!m("a[/]c", "a/c"));
    CHECK(m("*/x", "a/x"));
    CHECK(!m("*/x", "a/b/x"));
    /* the README's table */
    CHECK(!m("/srv/**", "/srv"));
    CHECK(!m("/srv/**/*.csv", "/srv/c.csv"));
    CHECK(!m("v?", "v/") && !m("v?", "v12") && m("v?", "v1"));
    CHECK(m("[!a-z]x", "9x") && !m("[!a-z]x", "ax"));
    CHECK(!m("delete_*", "undelete_run"));
}

static void test_names(void)
{
    CHECK(m("delete_*", "delete_model_alias"));
    CHECK(!m("delete_*", "xdelete_model"));
    CHECK(m("*", ""));
    CHECK(m("", ""));
    CHECK(!m("", "a"));
    CHECK(m("[0-9]*", "42"));
    CHECK(m("[0-9]*", "2; drop"));   /* a glob, not a regex: use "regex" for "digits only" */
    CHECK(!m("[0-9]*", "x42"));
    CHECK(m("[!a]b", "xb"));
    CHECK(m("[^a]b", "xb"));
    CHECK(!m("[!a]b", "ab"));
    CHECK(m("[]]", "]"));
    CHECK(m("[a-]", "-"));
    CHECK(m("a\\*", "a*"));
    CHECK(!m("a\\*", "ab"));
    CHECK(m("[\\]]x", "]x"));
    CHECK(m("*a*a*b", "aaaaaaaaaaaaaaaaab"));
    CHECK(!m("*a*a*b", "aaaaaaaaaaaaaaaaaa"));
    CHECK(m("get-*-env", "get-the-env"));
}

static void test_validity(void)
{
    CHECK(glob_valid("a[bc]d"));
    CHECK(!glob_valid("a[bc"));
    CHECK(!glob_valid("a\\"));
    char big[GLOB_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(!glob_valid(big));
    CHECK(!glob_match(big, big, strlen(big)));
    CHECK(glob_match_n("a\0b", 3, "a\0b", 3));
    CHECK(glob_match_n("a?b", 3, "a\0b", 3));
    CHECK(glob_cost(3, 9) == 40);
}

/* A long subject costs len x pattern, never more: this finishes at once. */
static void test_long(void)
{
    static char s[200000];
    memset(s, 'a', sizeof s);
    CHECK(!glob_match("*a*a*a*a*a*a*a*b", s, sizeof s));
    CHECK(glob_match("**a", s, sizeof s));
}

int main(void)
{
    test_segments();
    test_names();
    test_validity();
    test_long();
    return check_report();
}
