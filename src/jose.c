#include "jose.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base64.h"
#include "utf8.h"

static const char *const alg_names[JWT_NALGS] = {"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"};

const char *jwt_alg_name(enum jwt_alg alg)
{
    return (unsigned)alg < JWT_NALGS ? alg_names[alg] : "?";
}

int jwt_alg_from_name(const char *s)
{
    for (int i = 0; i < JWT_NALGS; i++)
        if (strcmp(alg_names[i], s) == 0)
            return i;
    return -1;
}

/* ---- strict decoding ---- */

unsigned char *jose_b64url_decode(const char *s, size_t len, size_t *out_len)
{
    if (len % 4 == 1)
        return NULL;
    unsigned char *out = malloc(len / 4 * 3 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64_digit((unsigned char)s[i], true);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero, or two texts would decode alike. */
    if (acc != 0) {
        free(out);
        return NULL;
    }
    out[o] = 0;
    *out_len = o;
    return out;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* True when some object in v repeats a member, or nests past max_depth
 * (*deep set). Sorting the names keeps a large JWKS linear-logarithmic. */
static bool has_duplicates(const cJSON *v, size_t depth, size_t max_depth, bool *deep)
{
    if (depth > max_depth) {
        *deep = true;
        return false;
    }
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return false;
    size_t n = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
        if (has_duplicates(c, depth + 1, max_depth, deep) || *deep)
            return !*deep;
        n++;
    }
    if (!cJSON_IsObject(v) || n < 2)
        return false;
    const char **names = malloc(n * sizeof *names);
    if (!names) {
        *deep = true;   /* cannot tell: refused as unparseable */
        return false;
    }
    size_t k = 0;
    for (const cJSON *c = v->child; c; c = c->next)
        names[k++] = c->string;
    qsort(names, n, sizeof *names, key_cmp);
    bool dup = false;
    for (size_t i = 1; i < n && !dup; i++)
        dup = strcmp(names[i - 1], names[i]) == 0;
    free(names);
    return dup;
}

/* True when text holds the escape \u0000, which cJSON would decode into a
 * NUL that silently ends the string ("iss":"good\u0000evil" reads "good"). */
static bool has_nul_escape(const char *text, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++)
        if (text[i] == '\\' && (text[i + 1] == 'u' || text[i + 1] == 'U') && memcmp(text + i + 2, "0000", 4) == 0)
            return true;
    return false;
}

static bool valid_utf8(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq_len((const unsigned char *)s + i, len - i);
        if (k == 0 || s[i] == '\0')
            return false;
        i += k;
    }
    return true;
}

cJSON *jose_json_parse(const char *text, size_t len, size_t max_depth, bool *dup)
{
    *dup = false;
    if (!valid_utf8(text, len) || has_nul_escape(text, len))
        return NULL;
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, text, len);
    copy[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
    free(copy);
    if (!root)
        return NULL;
    bool deep = false;
    if (has_duplicates(root, 0, max_depth, &deep) && !deep) {
        *dup = true;
        cJSON_Delete(root);
        return NULL;
    }
    if (deep) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

