/* Unit tests of the one glob dialect (src/glob.c): segments, `**`, classes,
 * escapes, and that tool names (no `/`) match as they always did. */
#include <stdio.h>
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
    /* the shapes matched without the automaton: prefix, one run of stars, suffix */
    CHECK(m("debug_*", "debug_") && m("debug_*", "debug_probe_3") && !m("debug_*", "debu"));
    CHECK(!m("debug_*", "debug_a/b") && m("debug_**", "debug_a/b"));
    CHECK(m("*_admin", "db_admin") && !m("*_admin", "db_admins") && !m("*_admin", "a/_admin"));
    CHECK(m("a*b", "ab") && !m("ab*b", "ab") && m("ab*b", "abb"));
    CHECK(glob_match("a*", "a\0b", 3) && !glob_match("a*", "b\0b", 3));
    CHECK(glob_match_n("a*\0", 3, "ax\0", 3) && !glob_match_n("a*\0", 3, "ax", 2));
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

/* The dialect written the obvious (exponential) way, for short inputs: the
 * automaton must agree with it everywhere. */
static bool ref(const char *p, const char *s)
{
    if (!*p)
        return !*s;
    if (p[0] == '*') {
        bool deep = p[1] == '*';
        const char *rest = p + 1;
        while (*rest == '*')
            rest++;
        for (const char *t = s;; t++) {
            if (ref(rest, t))
                return true;
            if (!*t || (!deep && *t == '/'))
                return false;
        }
    }
    if (!*s)
        return false;
    if (p[0] == '?')
        return *s != '/' && ref(p + 1, s + 1);
    if (p[0] == '[') {
        /* only the simple classes the generator makes: [ab] and [!ab] */
        const char *q = p + 1;
        bool neg = *q == '!';
        if (neg)
            q++;
        bool hit = false;
        for (; *q != ']'; q++)
            hit |= *q == *s;
        return *s != '/' && hit != neg && ref(q + 1, s + 1);
    }
    if (p[0] == '\\' && p[1])
        return p[1] == *s && ref(p + 2, s + 1);
    return p[0] == *s && ref(p + 1, s + 1);
}

static void test_against_reference(void)
{
    static const char *const atoms[] = {"a", "b", "/", "*", "**", "?", "[ab]", "[!a]", "\\*"};
    static const char alphabet[] = "ab/*";
    unsigned long long x = 0x9e3779b97f4a7c15ULL;   /* a fixed seed: the same cases every run */
    int disagree = 0;
    for (int round = 0; round < 20000; round++) {
        char pat[64] = "", str[16] = "";
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int natoms = (int)(x >> 60) % 6;
        for (int i = 0; i < natoms; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            strcat(pat, atoms[(x >> 33) % (sizeof atoms / sizeof *atoms)]);
        }
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int len = (int)((x >> 40) % 8);
        for (int i = 0; i < len; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            str[i] = alphabet[(x >> 50) % 4];
        }
        bool want = ref(pat, str);
        if ((glob_match(pat, str, strlen(str)) != want || glob_match_n(pat, strlen(pat), str, strlen(str)) != want) &&
            disagree++ < 5)
            fprintf(stderr, "glob \"%s\" on \"%s\": %d, reference %d\n", pat, str, glob_match(pat, str, strlen(str)),
                    ref(pat, str));
    }
    CHECK(disagree == 0);
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
    test_against_reference();
    test_long();
    return check_report();
}
