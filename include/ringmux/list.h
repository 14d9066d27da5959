/* Intrusive doubly linked lists: FIFO of waiting sessions, pool idle lists,
 * per-worker object lists.  A node that is in no list points to itself. */
#ifndef RINGMUX_LIST_H
#define RINGMUX_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct rm_link {
    struct rm_link *prev, *next;
};

static inline void link_init(struct rm_link *l)
{
    l->prev = l->next = l;
}
static inline bool link_empty(const struct rm_link *l)
{
    return l->next == l;
}
static inline bool link_linked(const struct rm_link *l)
{
    return l->next != l;
}

static inline void link_push_back(struct rm_link *head, struct rm_link *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void link_push_front(struct rm_link *head, struct rm_link *n)
{
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}

static inline void link_remove(struct rm_link *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#define link_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define link_foreach_safe(pos, tmp, head)                                                                              \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#endif
