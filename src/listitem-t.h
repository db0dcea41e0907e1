/* One tool object of a tools/list answer as warden's list filter reads it
 * (answer.c finds it, the exchange's policies decide on it, a Lua on_list
 * sees it). All pointers are borrowed from the message for one decision. */
#ifndef WARDEN_LISTITEM_T_H
#define WARDEN_LISTITEM_T_H
#include <stddef.h>

struct list_item {
    const char *name;        /* decoded (escapes resolved), not NUL-terminated */
    size_t name_len;
    const char *raw;         /* the tool object's original bytes, byte-exact */
    size_t raw_len;
    const char *description; /* the original text of its "description" value; NULL: none */
    size_t description_len;
    const char *annotations; /* the same for "annotations" */
    size_t annotations_len;
};
#endif
