/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "iova-alloc.h"
#include "macro.h"

/*
 * The free space is an AVL tree of disjoint, non-adjacent free ranges keyed
 * by start address, with parent pointers. Each node caches, for its whole
 * subtree, the largest span (length - 1, so a range covering all 2^64
 * addresses fits) and the largest order k such that some range contains a
 * naturally aligned 2^k block. Searches use the first to skip subtrees
 * that are too short and the second to skip subtrees without a suitably
 * aligned block, so both page-aligned and size-aligned requests find the
 * lowest fitting range in one root-to-leaf walk.
 */

typedef struct Node {
        struct Node *left, *right, *parent;
        uint64_t start;
        uint64_t last;     /* inclusive */
        uint64_t max_span; /* max over the subtree of last - start */
        int8_t height;
        uint8_t order;     /* largest aligned block order in this range */
        uint8_t max_order; /* ... and in the subtree */
} Node;

/* Nodes come from slabs and are recycled through a free list: no malloc on the hot path. */
#define SLAB_NODES 1024

typedef struct Slab {
        struct Slab *next;
        Node nodes[SLAB_NODES];
} Slab;

struct IovaAllocator {
        Node *root;
        uint64_t page;
        unsigned page_shift;
        size_t n_ranges;
        uint64_t free_bytes; /* saturating */
        Node *spare;         /* free list, linked through ->right */
        Slab *slabs;
};

static Node *node_new(IovaAllocator *a) {
        if (!a->spare) {
                Slab *s = malloc(sizeof(Slab));
                if (!s)
                        return NULL;
                s->next = a->slabs;
                a->slabs = s;
                for (size_t i = 0; i < SLAB_NODES; i++) {
                        s->nodes[i].right = a->spare;
                        a->spare = &s->nodes[i];
                }
        }
        Node *n = a->spare;
        a->spare = n->right;
        *n = (Node) {};
        return n;
}

static void node_put(IovaAllocator *a, Node *n) {
        n->right = a->spare;
        a->spare = n;
}

/* Largest k such that [s, l] holds a naturally aligned 2^k block. */
static uint8_t range_order(uint64_t s, uint64_t l) {
        uint64_t span = l - s;
        unsigned k = span == UINT64_MAX ? 63 : 63 - (unsigned) __builtin_clzll(span + 1);

        /* A range of length >= 2^(k+1) always holds an aligned 2^k block: at most two rounds. */
        for (;; k--) {
                uint64_t size = 1ULL << k, m;
                if (align_up_u64(s, size, &m) && m <= l && l - m >= size - 1)
                        return (uint8_t) k;
                if (k == 0)
                        return 0;
        }
}

static inline int height(const Node *n) {
        return n ? n->height : 0;
}

static void fix(Node *n) {
        int hl = height(n->left), hr = height(n->right);
        uint64_t span = n->last - n->start;
        uint8_t order = n->order;

        n->height = (int8_t) ((hl > hr ? hl : hr) + 1);
        if (n->left) {
                if (n->left->max_span > span)
                        span = n->left->max_span;
                if (n->left->max_order > order)
                        order = n->left->max_order;
        }
        if (n->right) {
                if (n->right->max_span > span)
                        span = n->right->max_span;
                if (n->right->max_order > order)
                        order = n->right->max_order;
        }
        n->max_span = span;
        n->max_order = order;
}

static void replace_child(IovaAllocator *a, Node *parent, Node *old, Node *new) {
        if (!parent)
                a->root = new;
        else if (parent->left == old)
                parent->left = new;
        else
                parent->right = new;
        if (new)
                new->parent = parent;
}

static Node *rotate_left(IovaAllocator *a, Node *x) {
        Node *y = x->right;

        x->right = y->left;
        if (y->left)
                y->left->parent = x;
        replace_child(a, x->parent, x, y);
        y->left = x;
        x->parent = y;
        fix(x);
        fix(y);
        return y;
}

static Node *rotate_right(IovaAllocator *a, Node *x) {
        Node *y = x->left;

        x->left = y->right;
        if (y->right)
                y->right->parent = x;
        replace_child(a, x->parent, x, y);
        y->right = x;
        x->parent = y;
        fix(x);
        fix(y);
        return y;
}

/*
 * Walk from @n to the root restoring the AVL balance and the cached
 * aggregates. Stops early once a node's height and aggregates come out
 * unchanged and it needed no rotation: nothing above it can change then.
 */
static void retrace(IovaAllocator *a, Node *n) {
        while (n) {
                int8_t old_h = n->height;
                uint64_t old_span = n->max_span;
                uint8_t old_order = n->max_order;
                int bf;

                fix(n);
                bf = height(n->left) - height(n->right);
                if (bf > 1) {
                        if (height(n->left->left) < height(n->left->right))
                                rotate_left(a, n->left);
                        n = rotate_right(a, n);
                } else if (bf < -1) {
                        if (height(n->right->right) < height(n->right->left))
                                rotate_right(a, n->right);
                        n = rotate_left(a, n);
                } else if (n->height == old_h && n->max_span == old_span && n->max_order == old_order)
                        return;
                n = n->parent;
        }
}

static void set_range(IovaAllocator *a, Node *n, uint64_t start, uint64_t last) {
        n->start = start;
        n->last = last;
        n->order = range_order(start, last);
}

/*
 * n's range just grew and the tree's shape did not change: its maxima and
 * its ancestors' can only rise, so raise them without reading siblings.
 */
static void grow(IovaAllocator *a, Node *n, uint64_t start, uint64_t last) {
        uint64_t span = last - start;
        uint8_t order;

        set_range(a, n, start, last);
        order = n->order;
        for (; n; n = n->parent) {
                if (n->max_span >= span && n->max_order >= order)
                        return;
                if (n->max_span < span)
                        n->max_span = span;
                if (n->max_order < order)
                        n->max_order = order;
        }
}

static uint64_t sat_add(uint64_t x, uint64_t y) {
        return x + y < x ? UINT64_MAX : x + y;
}

static void account_add(IovaAllocator *a, uint64_t span) {
        a->free_bytes = sat_add(a->free_bytes, span == UINT64_MAX ? UINT64_MAX : span + 1);
}

static void account_sub(IovaAllocator *a, uint64_t span) {
        uint64_t len = span == UINT64_MAX ? UINT64_MAX : span + 1;
        /* Saturated totals cannot be tracked exactly; recount lazily is not worth it. */
        if (a->free_bytes != UINT64_MAX)
                a->free_bytes -= len;
}

/* Insert [start, last] as a new node below @parent at @link (found by the caller's walk). */
static int insert_at(IovaAllocator *a, Node *parent, Node **link, uint64_t start, uint64_t last) {
        Node *n = node_new(a);

        if (!n)
                return -ENOMEM;
        set_range(a, n, start, last);
        n->parent = parent;
        *link = n;
        fix(n);
        retrace(a, parent);
        a->n_ranges++;
        return 0;
}

static int insert(IovaAllocator *a, uint64_t start, uint64_t last) {
        Node **link = &a->root, *parent = NULL;

        while (*link) {
                parent = *link;
                link = start < parent->start ? &parent->left : &parent->right;
        }
        return insert_at(a, parent, link, start, last);
}

static void erase(IovaAllocator *a, Node *z) {
        Node *victim = z, *retrace_from;

        if (z->left && z->right) {
                /* Move the successor's range into z and unlink the successor instead. */
                Node *y = z->right;
                while (y->left)
                        y = y->left;
                z->start = y->start;
                z->last = y->last;
                z->order = y->order;
                victim = y;
        }

        Node *child = victim->left ? victim->left : victim->right;
        retrace_from = victim->parent;
        replace_child(a, victim->parent, victim, child);
        node_put(a, victim);
        retrace(a, retrace_from);
        if (victim != z)
                retrace(a, z); /* z's own range changed: its cached aggregates too */
        a->n_ranges--;
}

/* Last node with start <= addr, or NULL. */
static Node *find_le(const IovaAllocator *a, uint64_t addr) {
        Node *n = a->root, *best = NULL;

        while (n) {
                if (n->start <= addr) {
                        best = n;
                        n = n->right;
                } else
                        n = n->left;
        }
        return best;
}

static Node *next_node(Node *n) {
        if (n->right) {
                n = n->right;
                while (n->left)
                        n = n->left;
                return n;
        }
        while (n->parent && n->parent->right == n)
                n = n->parent;
        return n->parent;
}

static Node *first_node(const IovaAllocator *a) {
        Node *n = a->root;
        while (n && n->left)
                n = n->left;
        return n;
}

int iova_allocator_new(uint64_t page, IovaAllocator **ret) {
        IovaAllocator *a;

        if (!is_pow2_u64(page))
                return -EINVAL;
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->page = page;
        a->page_shift = (unsigned) __builtin_ctzll(page);
        *ret = a;
        return 0;
}

IovaAllocator *iova_allocator_free(IovaAllocator *a) {
        if (!a)
                return NULL;
        while (a->slabs) {
                Slab *s = a->slabs;
                a->slabs = s->next;
                free(s);
        }
        free(a);
        return NULL;
}

static bool page_aligned_range(const IovaAllocator *a, uint64_t start, uint64_t last) {
        if (start & (a->page - 1))
                return false;
        return last == UINT64_MAX || ((last + 1) & (a->page - 1)) == 0;
}

/*
 * Give [start, last] to the free space, merging with touching neighbours.
 * -ENOTUNIQ when any of it is free already.
 */
static int give(IovaAllocator *a, uint64_t start, uint64_t last) {
        Node *prev = find_le(a, last), *next;
        uint64_t span = last - start;

        /* prev is the last range starting at or before our last byte: it must end before us. */
        if (prev && prev->last >= start)
                return -ENOTUNIQ;
        next = prev ? next_node(prev) : first_node(a);

        bool join_prev = prev && prev->last + 1 == start;
        bool join_next = next && last != UINT64_MAX && last + 1 == next->start;

        if (join_prev && join_next) {
                uint64_t new_last = next->last;
                /* erase() only ever moves ranges that lie above next: prev keeps its range. */
                erase(a, next);
                grow(a, prev, prev->start, new_last);
        } else if (join_prev) {
                grow(a, prev, prev->start, last);
        } else if (join_next) {
                grow(a, next, start, next->last);
        } else {
                /* Between prev and its successor: prev has no right child or next has no left one. */
                int r;
                if (prev && !prev->right)
                        r = insert_at(a, prev, &prev->right, start, last);
                else if (next)
                        r = insert_at(a, next, &next->left, start, last);
                else
                        r = insert_at(a, NULL, &a->root, start, last);
                if (r < 0)
                        return r;
        }
        account_add(a, span);
        return 0;
}

int iova_add_free(IovaAllocator *a, uint64_t start, uint64_t end) {
        if (start > end || !page_aligned_range(a, start, end))
                return -EINVAL;
        int r = give(a, start, end);
        return r == -ENOTUNIQ ? -EEXIST : r;
}

int iova_release(IovaAllocator *a, uint64_t start, uint64_t size) {
        uint64_t last;

        if (!range_last(start, size, &last) || !page_aligned_range(a, start, last))
                return -EINVAL;
        int r = give(a, start, last);
        return r == -ENOTUNIQ ? -EINVAL : r;
}

/* Take [start, last] out of free node n, which contains it. */
static int take(IovaAllocator *a, Node *n, uint64_t start, uint64_t last) {
        uint64_t n_start = n->start, n_last = n->last;

        if (start == n_start && last == n_last)
                erase(a, n);
        else if (start == n_start) {
                set_range(a, n, last + 1, n_last);
                retrace(a, n);
        } else if (last == n_last) {
                set_range(a, n, n_start, start - 1);
                retrace(a, n);
        } else {
                /* Insert the tail first so a failed allocation leaves n untouched. */
                int r = insert(a, last + 1, n_last);
                if (r < 0)
                        return r;
                /* insert() rebalances but never moves ranges between nodes: n is still n. */
                set_range(a, n, n_start, start - 1);
                retrace(a, n);
        }
        account_sub(a, last - start);
        return 0;
}

int iova_reserve(IovaAllocator *a, uint64_t start, uint64_t size) {
        uint64_t last;
        Node *n;

        if (!range_last(start, size, &last) || !page_aligned_range(a, start, last))
                return -EINVAL;
        n = find_le(a, start);
        if (!n || n->last < last)
                return -EBUSY;
        return take(a, n, start, last);
}

/* Where a request would sit in n, or false if it does not fit below @limit. */
static bool fit(const Node *n, uint64_t size, uint64_t align, uint64_t limit, uint64_t *ret) {
        uint64_t m, last;

        if (!align_up_u64(n->start, align, &m) || m > n->last)
                return false;
        if (!range_last(m, size, &last) || last > n->last || last > limit)
                return false;
        *ret = m;
        return true;
}

/*
 * Leftmost node whose own span is at least @span and whose order is at least
 * @order, in O(height): descend into the left subtree whenever its cached
 * maxima allow a match there, since everything in it lies lower.
 */
static Node *leftmost_candidate(const IovaAllocator *a, uint64_t span, unsigned order) {
        Node *n = a->root;

        /*
         * Callers ask for either a span or an order (an order implies its
         * span), so one node satisfies both whenever the maxima do.
         */
        if (!n || n->max_span < span || n->max_order < order)
                return NULL;
        while (n) {
                if (n->left && n->left->max_span >= span && n->left->max_order >= order)
                        n = n->left;
                else if (n->last - n->start >= span && n->order >= order)
                        return n;
                else
                        n = n->right;
        }
        return NULL;
}

/* In-order scan of every node that is long enough, for alignments no cache describes. */
static Node *scan(Node *n, uint64_t size, uint64_t align, uint64_t limit, uint64_t *ret) {
        while (n) {
                if (n->max_span < size - 1)
                        return NULL;
                Node *found = scan(n->left, size, align, limit, ret);
                if (found)
                        return found;
                if (n->start > limit)
                        return NULL; /* everything further right lies higher still */
                if (fit(n, size, align, limit, ret))
                        return n;
                n = n->right;
        }
        return NULL;
}

int iova_alloc(IovaAllocator *a, uint64_t size, uint64_t align, uint64_t limit, uint64_t *ret_iova) {
        uint64_t iova;
        Node *n;

        if (size == 0 || (size & (a->page - 1)))
                return -EINVAL;
        if (align == 0 || align < a->page)
                align = a->page;
        if (!is_pow2_u64(align))
                return -EINVAL;

        if (align == a->page)
                /* Any range of length >= size fits at its start: exact. */
                n = leftmost_candidate(a, size - 1, 0);
        else if (align == size)
                /* A size-aligned power of two fits exactly where an aligned block of its order is. */
                n = leftmost_candidate(a, size - 1, (unsigned) __builtin_ctzll(size));
        else {
                /* Ranges starting on a page boundary always fit once they are align - page longer. */
                uint64_t need = size - 1 + (align - a->page);
                n = need >= size - 1 ? leftmost_candidate(a, need, 0) : NULL;
                if (!n || !fit(n, size, align, limit, &iova))
                        n = scan(a->root, size, align, limit, &iova);
                if (!n)
                        return -ENOSPC;
                goto found;
        }

        /* The leftmost candidate holds the lowest fit; if that crosses the limit, all do. */
        if (!n || !fit(n, size, align, limit, &iova))
                return -ENOSPC;
found:;
        int r = take(a, n, iova, iova + (size - 1));
        if (r < 0)
                return r;
        *ret_iova = iova;
        return 0;
}

size_t iova_free_ranges(const IovaAllocator *a) {
        return a->n_ranges;
}

uint64_t iova_free_bytes(const IovaAllocator *a) {
        return a->free_bytes;
}

uint64_t iova_page_size(const IovaAllocator *a) {
        return a->page;
}

int iova_foreach_free(const IovaAllocator *a, int (*f)(uint64_t start, uint64_t end, void *userdata), void *userdata) {
        for (Node *n = first_node(a); n; n = next_node(n)) {
                int r = f(n->start, n->last, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int verify_node(const IovaAllocator *a, const Node *n, const Node *parent, size_t *count) {
        if (!n)
                return 0;
        if (n->parent != parent || n->start > n->last || n->order != range_order(n->start, n->last))
                return -EUCLEAN;
        if (n->left && (n->left->last >= n->start || n->left->last + 1 == n->start))
                return -EUCLEAN; /* ranges must be disjoint and never touch */
        if (n->right && (n->last >= n->right->start || n->last + 1 == n->right->start))
                return -EUCLEAN;
        if (verify_node(a, n->left, n, count) < 0 || verify_node(a, n->right, n, count) < 0)
                return -EUCLEAN;
        int hl = height(n->left), hr = height(n->right);
        if (hl - hr > 1 || hr - hl > 1 || n->height != (hl > hr ? hl : hr) + 1)
                return -EUCLEAN;
        Node copy = *n;
        fix(&copy);
        if (copy.max_span != n->max_span || copy.max_order != n->max_order)
                return -EUCLEAN;
        (*count)++;
        return 0;
}

int iova_allocator_verify(const IovaAllocator *a) {
        size_t count = 0;
        Node *prev = NULL;

        if (verify_node(a, a->root, NULL, &count) < 0 || count != a->n_ranges)
                return -EUCLEAN;
        /* In-order: strictly increasing, non-touching, page aligned. */
        for (Node *n = first_node(a); n; prev = n, n = next_node(n)) {
                if (!page_aligned_range(a, n->start, n->last))
                        return -EUCLEAN;
                if (prev && prev->last + 1 >= n->start)
                        return -EUCLEAN;
        }
        return 0;
}
