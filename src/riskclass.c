#include "riskclass.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const class_names[RISK_NCLASSES] = {
    [RISK_NONE] = "", [RISK_READ] = "read", [RISK_WRITE] = "write", [RISK_DESTRUCTIVE] = "destructive",
    [RISK_UNKNOWN] = "unknown",
};

const char *risk_class_name(enum risk_class c)
{
    return (unsigned)c < RISK_NCLASSES ? class_names[c] : "";
}

enum risk_class risk_class_parse(const char *s)
{
    for (int c = RISK_READ; c < RISK_NCLASSES; c++)
        if (s && strcmp(s, class_names[c]) == 0)
            return (enum risk_class)c;
    return RISK_NONE;
}

/* Irreversible, destroying, or moving money or code execution: what an agent
 * must not do unseen. */
const char *const riskclass_destructive_words[] = {
    "charge", "del", "delete", "destroy", "drop", "erase", "eval", "evict", "exec", "execute", "expunge",
    "kill", "overwrite", "pay", "purge", "refund", "remove", "reset", "revoke", "rm", "run", "shutdown",
    "spawn", "terminate", "transfer", "truncate", "uninstall", "unlink", "wipe", "withdraw", NULL,
};

/* Changes state that can be changed back. */
const char *const riskclass_write_words[] = {
    "add", "annotate", "append", "apply", "approve", "archive", "assign", "attach", "cancel", "change", "clone",
    "close", "comment", "commit", "configure", "connect", "copy", "create", "decrement", "deploy", "detach",
    "disable", "disconnect", "edit", "enable", "generate", "grant", "import", "increment", "init", "insert",
    "install", "invite", "label", "link", "lock", "log", "mark", "merge", "modify", "move", "notify", "open",
    "patch", "post", "promote", "publish", "push", "put", "register", "reject", "rename", "replace", "reply",
    "restart", "restore", "save", "schedule", "send", "set", "share", "start", "stop", "store", "submit",
    "subscribe", "sync", "tag", "transition", "trigger", "unassign", "unlock", "unsubscribe", "untag", "update",
    "upload", "upsert", "write", NULL,
};

/* Only looks. */
const char *const riskclass_read_words[] = {
    "analyze", "browse", "calculate", "check", "compare", "count", "describe", "diff", "download", "echo",
    "estimate", "exists", "explain", "export", "fetch", "find", "get", "head", "health", "info", "inspect",
    "list", "locate", "lookup", "ping", "preview", "query", "read", "resolve", "retrieve", "scan", "search",
    "select", "show", "stat", "status", "summarize", "tail", "validate", "version", "view", "watch", "whoami",
    NULL,
};

/* Description phrases that make any tool destructive (matched ignoring case). */
static const char *const destructive_phrases[] = {
    "permanently", "irreversib", "cannot be undone", "can't be undone", "can not be undone", "not be recoverable",
    "cannot be recovered", NULL,
};

/* Whether word is one of the n words of list, kept sorted (riskclass.h): a
 * binary search, as a tool name is classed on every call. */
static bool in_list(const char *const *list, size_t n, const char *word)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        /* the first letters settle most steps without a call */
        int c = (unsigned char)word[0] - (unsigned char)list[mid][0];
        if (c == 0 && word[0])
            c = strcmp(word + 1, list[mid] + 1);
        if (c == 0)
            return true;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

/* The words of a list defined above, its NULL left out. */
#define WORDS(list) (list), (sizeof(list) / sizeof *(list) - 1)

static bool is_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

/* Where the word starting at i ends: at a separator, a lower-to-upper hump
 * ("getRun"), or before the last capital of a run of capitals followed by a
 * lower-case letter ("HTTPGet" -> "HTTP", "Get"). */
static size_t word_end(const char *s, size_t len, size_t i)
{
    size_t j = i + 1;
    while (j < len && (is_lower(s[j]) || is_upper(s[j]))) {
        if (is_upper(s[j]) && is_lower(s[j - 1]) && !(s[j - 1] >= '0' && s[j - 1] <= '9'))
            break;
        if (is_upper(s[j]) && is_upper(s[j - 1]) && j + 1 < len && s[j + 1] >= 'a' && s[j + 1] <= 'z')
            break;
        j++;
    }
    return j;
}

enum risk_class riskclass_of_name(const char *name, size_t len, char *why, size_t whylen)
{
    size_t i = 0;
    while (i < len) {
        if (!is_lower(name[i]) && !is_upper(name[i])) {
            i++;
            continue;
        }
        size_t end = word_end(name, len, i);
        char word[32];
        if (end - i < sizeof word) {
            for (size_t k = i; k < end; k++)
                word[k - i] = is_upper(name[k]) ? (char)(name[k] - 'A' + 'a') : name[k];
            word[end - i] = '\0';
            enum risk_class c = in_list(WORDS(riskclass_destructive_words), word) ? RISK_DESTRUCTIVE
                              : in_list(WORDS(riskclass_write_words), word)       ? RISK_WRITE
                              : in_list(WORDS(riskclass_read_words), word)        ? RISK_READ
                                                                                  : RISK_NONE;
            if (c != RISK_NONE) {
                if (why)
                    snprintf(why, whylen, "name verb \"%s\"", word);
                return c;
            }
        }
        i = end;
    }
    if (why)
        snprintf(why, whylen, "no known verb in the name");
    return RISK_UNKNOWN;
}

/* The rank a class is raised by: unknown stands for destructive. */
static int rank(enum risk_class c)
{
    return c == RISK_READ ? 1 : c == RISK_WRITE ? 2 : c == RISK_DESTRUCTIVE || c == RISK_UNKNOWN ? 3 : 0;
}

/* One pass over the text (a server may send megabytes of description):
 * a phrase is tried only where its first letter is. */
static const char *find_phrase(const char *text)
{
    if (!text)
        return NULL;
    for (const char *s = text; *s; s++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        for (const char *const *p = destructive_phrases; *p; p++)
            if (**p == c && strncasecmp(s, *p, strlen(*p)) == 0)
                return *p;
    }
    return NULL;
}

/* -1 absent (or not a boolean), 0 false, 1 true. */
static int hint(const cJSON *annotations, const char *key)
{
    const cJSON *h = cJSON_IsObject(annotations) ? cJSON_GetObjectItemCaseSensitive(annotations, key) : NULL;
    return cJSON_IsBool(h) ? cJSON_IsTrue(h) : -1;
}

enum risk_class riskclass_of(const char *name, size_t len, const char *description, const cJSON *annotations,
                             bool trust_annotations, char *why, size_t whylen)
{
    char because[160];
    enum risk_class c = riskclass_of_name(name, len, because, sizeof because);
    const char *phrase = find_phrase(description);
    if (phrase && rank(c) < rank(RISK_DESTRUCTIVE)) {
        c = RISK_DESTRUCTIVE;
        snprintf(because, sizeof because, "description says \"%s\"", phrase);
    }
    int ro = hint(annotations, "readOnlyHint"), de = hint(annotations, "destructiveHint");
    if (trust_annotations) {
        enum risk_class t = RISK_NONE;
        if (ro == 1)
            t = RISK_READ;
        else if (de == 1)
            t = RISK_DESTRUCTIVE;
        else if (de == 0)
            t = RISK_WRITE;
        else if (ro == 0)
            t = c == RISK_WRITE || c == RISK_DESTRUCTIVE ? c : RISK_DESTRUCTIVE;
        if (t != RISK_NONE) {
            c = t;
            snprintf(because, sizeof because, "trusted annotations (readOnlyHint %s, destructiveHint %s)",
                     ro < 0 ? "absent" : ro ? "true" : "false", de < 0 ? "absent" : de ? "true" : "false");
        }
    } else if (de == 1 && ro != 1 && rank(c) < rank(RISK_DESTRUCTIVE)) {
        c = RISK_DESTRUCTIVE;
        snprintf(because, sizeof because, "annotation destructiveHint true");
    } else if (ro == 0 && rank(c) < rank(RISK_WRITE)) {
        c = RISK_WRITE;
        snprintf(because, sizeof because, "annotation readOnlyHint false");
    }
    if (why)
        snprintf(why, whylen, "%s", because);
    return c;
}

enum risk_class riskclass_of_tool(const cJSON *tool, bool trust_annotations, char *why, size_t whylen)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(tool, "name");
    if (!cJSON_IsString(name)) {
        if (why)
            snprintf(why, whylen, "the tool has no name");
        return RISK_UNKNOWN;
    }
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(tool, "description");
    return riskclass_of(name->valuestring, strlen(name->valuestring), cJSON_IsString(desc) ? desc->valuestring : NULL,
                        cJSON_GetObjectItemCaseSensitive(tool, "annotations"), trust_annotations, why, whylen);
}
