/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/iova-alloc.h"
#include "util/macro.h"

/*
 * The free space is a B+-tree of disjoint, non-adjacent free ranges keyed
 * by start address. Leaves hold up to LEAF_MAX ranges in parallel arrays
 * (starts, lasts, orders), so finding a range inside a leaf reads a few
 * consecutive cache lines instead of chasing one pointer per level as a
 * binary tree does. Inner nodes hold, for each child, the lowest start in
 * it (the key the descent compares against) and the largest span (length -
 * 1, so a range covering all 2^64 addresses fits) and largest naturally
 * aligned power-of-two block order anywhere in it. Searches use the latter
 * two to skip children that cannot fit a request, so page-aligned and
 * size-aligned requests find the lowest fitting range in one root-to-leaf
 * walk.
 *
 * Nodes carry no parent pointers: every operation records the path it
 * descended and walks back up along it to update keys and maxima, and to
 * split or merge nodes.
 */

/*
 * A leaf of 32 ranges is 576 bytes, nine cache lines; an inner node of 16
 * children is 448 bytes. Both take the same slot size in the slabs.
 * Non-root nodes are kept at least half full, which bounds the memory per
 * range and the tree's height. (The unit tests also build this file with
 * nodes of four entries, so that a few hundred ranges make a tall tree.)
 */
#ifndef LEAF_MAX
#define LEAF_MAX 32
#endif
#ifndef INNER_MAX
#define INNER_MAX 16
#endif
#define LEAF_MIN (LEAF_MAX / 2)
#define INNER_MIN (INNER_MAX / 2)

/*
 * A tree of height h (levels above the leaves) holds at least
 * 2 * INNER_MIN^(h-1) * LEAF_MIN ranges, and there are at most 2^63 ranges
 * (ranges and the gaps between them are at least a byte long): with
 * INNER_MIN >= 8 the height stays below 21, with any legal sizes below 63.
 */
#if INNER_MIN >= 8
#define MAX_HEIGHT 21
#else
#define MAX_HEIGHT 63
#endif

_Static_assert(LEAF_MAX % 4 == 0 && LEAF_MIN >= 2, "leaves split into two legal halves and are ranked four slots at a time");
_Static_assert(INNER_MAX % 2 == 0 && INNER_MIN >= 2, "inner nodes split into two legal halves");
_Static_assert(LEAF_MAX <= UINT16_MAX && INNER_MAX <= UINT16_MAX, "counts are 16 bits");

typedef struct Leaf {
        uint16_t n;
        uint8_t level;                  /* always 0: lets verify check the shape */
        uint8_t order[LEAF_MAX];        /* largest aligned block order of each range */
        /* Unused slots are kept in a fixed state (leaf_clear()) so that scans read every slot. */
        _Alignas(64) uint64_t start[LEAF_MAX];
        uint64_t last[LEAF_MAX];        /* inclusive */
} Leaf;

typedef struct Inner {
        uint16_t n;                     /* children, >= 2 */
        uint8_t level;                  /* 1 for the parents of leaves */
        uint8_t max_order[INNER_MAX];   /* largest order anywhere in child i */
        /* Lowest start in child i; unused slots hold UINT64_MAX, as in leaves. */
        _Alignas(64) uint64_t key[INNER_MAX];
        uint64_t max_span[INNER_MAX];   /* largest last - start anywhere in child i */
        void *child[INNER_MAX];
} Inner;

typedef union Node {
        Leaf leaf;
        Inner inner;
        union Node *next_spare;
} Node;

/* The largest span and order in a node: what its parent keeps about it. */
typedef struct Max {
        uint64_t span;
        uint8_t order;
} Max;

/* The way from the root to one leaf: node[l] is the inner node at level l, idx[l] the child taken there. */
typedef struct Path {
        Inner *node[MAX_HEIGHT + 1];
        unsigned idx[MAX_HEIGHT + 1];
        Leaf *leaf;
} Path;

/*
 * Deferred releases. A release of a small range (at most TRACK_MAX_PAGES
 * pages) that is known to be allocated does not touch the tree: its pages
 * become pending, and every operation that reads or changes the tree first
 * hands the pending pages to it (flush()), in runs. What is known is kept
 * per page in bitmaps: a chunk covers CHUNK_PAGES consecutive pages (its
 * bits are one cache line each), and chunks hang off supers of SUPER_CHUNKS
 * chunks, found by number in a small hash table.
 *
 * - held: the page was handed out by iova_alloc() of a small range, in a
 *   run of equal requests (see iova_alloc()), and has not been given back
 *   since. Only set on what was just taken from
 *   the tree, cleared by every release or iova_add_free() that covers the
 *   page, so a held page is never free. Not every allocated page is held
 *   (large ranges, reservations, or when memory for a chunk ran out); a
 *   release that is not wholly held goes the way it always went.
 * - pending: released, not yet in the tree. Never held.
 *
 * So a release whose pages are all held is valid (no page of it is free)
 * and needs no lookup in the tree, which is what a walk down it costs when
 * the ranges are many and the releases random: a cache miss at every level.
 */
#define CHUNK_SHIFT 9
#define CHUNK_PAGES (1u << CHUNK_SHIFT)
#define CHUNK_WORDS (CHUNK_PAGES / 64)
#define SUPER_SHIFT 9
#define SUPER_CHUNKS (1u << SUPER_SHIFT)
#define TRACK_MAX_PAGES 64

_Static_assert(TRACK_MAX_PAGES <= CHUNK_PAGES, "a small range lies in at most two chunks");

typedef struct Chunk {
        uint64_t first;              /* page number of its first page */
        uint16_t held, pend;         /* bits set in each */
        bool dirty;                  /* on the allocator's dirty list */
        bool idle;                   /* nothing held or pending: freed by the next sweep() */
        uint64_t held_bits[CHUNK_WORDS];
        uint64_t pend_bits[CHUNK_WORDS];
} Chunk;

typedef struct Super {
        uint64_t number;             /* page number >> (CHUNK_SHIFT + SUPER_SHIFT) */
        unsigned n;                  /* chunks present */
        Chunk *chunk[SUPER_CHUNKS];
} Super;

/* Nodes come from slabs and are recycled through a free list: no malloc on the hot path. */
#define SLAB_NODES 32

typedef struct Slab {
        struct Slab *next;
        Node nodes[SLAB_NODES];
} Slab;

struct IovaAllocator {
        Node *root;          /* never NULL: an empty allocator has an empty leaf */
        unsigned height;     /* levels above the leaves; 0 when the root is a leaf */
        uint64_t page;
        size_t n_ranges;
        uint64_t free_bytes; /* saturating */
        Node *spare;         /* free list */
        size_t n_spare;
        size_t n_slabs;
        Slab *slabs;
        /*
         * The last request that found no space, as (size, alignment,
         * limit) after the alignment was raised to the page size; fail_size
         * 0 for none. Until space is given back, a request at least as
         * large, at least as aligned and limited at most as high cannot
         * fit either: any fit for it would hold a fit for the failed one
         * (alignments are powers of two, so the larger is a multiple of the
         * smaller). Such requests fail in O(1), as the kernel's
         * max32_alloc_size lets its 32-bit allocations do.
         */
        uint64_t fail_size, fail_align, fail_limit;
        /*
         * Where the last allocation came from, when it was page-aligned or
         * size-aligned (so its range held the lowest fit) and only cut the
         * front off that range (so the tree kept its shape and the path is
         * still good). Until anything else changes the allocator, the same
         * request's lowest fit can only be in that range again, since
         * every range below did not fit and has not grown: a run of equal
         * requests (a fill, the space above an exhausted window) takes
         * its ranges without a descent. Any other operation clears it.
         */
        bool finger;
        unsigned finger_j;
        uint64_t finger_size, finger_align, finger_limit;
        Path finger_path;
        /*
         * The allocations the finger served only shortened their range in
         * its leaf: the maxima the inner nodes on finger_path keep about it
         * were left as they were, so they may be higher than the truth
         * (never lower: ranges there only shrank). Nothing reads them
         * until settle() recomputes them, which every operation but a
         * finger allocation and a deferred release does first.
         */
        bool stale;
        /* Pages held by small allocations and releases not yet in the tree: see "Deferred releases". */
        unsigned page_shift;
        Super **supers;      /* open addressing by number, linear probing; NULL slots are empty */
        unsigned supers_shift; /* log2 of the slot count; 0 before the first */
        size_t n_supers;
        Super *last_super;   /* the one found last */
        uint64_t n_held;     /* pages with a held bit */
        size_t n_chunks, n_idle;
        uint64_t pending_bytes;
        Chunk **dirty;       /* chunks with pending pages, each once */
        size_t n_dirty, dirty_cap;
};

static inline unsigned min_u(unsigned x, unsigned y) {
        return x < y ? x : y;
}

/* Makes sure @n nodes are available, so that the operation that follows cannot fail halfway. */
static int spares_ensure(IovaAllocator *a, size_t n) {
        while (a->n_spare < n) {
                Slab *s = aligned_alloc(_Alignof(Slab), sizeof(Slab));
                if (!s)
                        return -ENOMEM;
                s->next = a->slabs;
                a->slabs = s;
                a->n_slabs++;
                for (size_t i = 0; i < SLAB_NODES; i++) {
                        s->nodes[i].next_spare = a->spare;
                        a->spare = &s->nodes[i];
                }
                a->n_spare += SLAB_NODES;
        }
        return 0;
}

/* An insertion splits at most one node per level and adds a root. */
static int spares_for_insert(IovaAllocator *a) {
        return spares_ensure(a, a->height + 2);
}

static Node *node_take(IovaAllocator *a) {
        Node *n = a->spare;

        /* Callers reserved nodes with spares_ensure() first. */
        a->spare = n->next_spare;
        a->n_spare--;
        return n;
}

static void node_put(IovaAllocator *a, Node *n) {
        n->next_spare = a->spare;
        a->spare = n;
        a->n_spare++;
}

/*
 * An unused slot: the start is UINT64_MAX so that ranking never counts it
 * (but for addr UINT64_MAX, see leaf_rank()), span and order are 0.
 */
static void leaf_clear(Leaf *l, unsigned j) {
        l->start[j] = UINT64_MAX;
        l->last[j] = UINT64_MAX;
        l->order[j] = 0;
}

static Leaf *leaf_new(IovaAllocator *a) {
        Leaf *l = &node_take(a)->leaf;

        l->n = 0;
        l->level = 0;
        for (unsigned j = 0; j < LEAF_MAX; j++)
                leaf_clear(l, j);
        return l;
}

static Inner *inner_new(IovaAllocator *a, unsigned level) {
        Inner *x = &node_take(a)->inner;

        x->n = 0;
        x->level = (uint8_t) level;
        for (unsigned i = 0; i < INNER_MAX; i++)
                x->key[i] = UINT64_MAX;
        return x;
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

/* ---- nodes ---- */

/* Ranges in @l starting at or before @addr. */
static inline unsigned leaf_rank(const Leaf *l, uint64_t addr) {
        unsigned c0 = 0, c1 = 0, c2 = 0, c3 = 0;

        /*
         * Branch-free over every slot, the unused ones counting only when addr
         * is UINT64_MAX; four counters so the additions do not form one long
         * dependency chain.
         */
        for (unsigned j = 0; j < LEAF_MAX; j += 4) {
                c0 += l->start[j] <= addr;
                c1 += l->start[j + 1] <= addr;
                c2 += l->start[j + 2] <= addr;
                c3 += l->start[j + 3] <= addr;
        }
        return min_u(c0 + c1 + c2 + c3, l->n);
}

/* The child of @x that holds @addr, or would: the last whose lowest start is <= addr, else the first. */
static inline unsigned inner_rank(const Inner *x, uint64_t addr) {
        unsigned c = 0;

        for (unsigned i = 1; i < INNER_MAX; i++)
                c += x->key[i] <= addr;
        return min_u(c, x->n - 1u);
}

/*
 * Unused slots have a span of 0 and an order of 0, so every slot can be
 * taken into account: fixed trip counts, which the compiler unrolls.
 */
static Max leaf_max(const Leaf *l) {
        uint64_t s0 = 0, s1 = 0;
        uint8_t order = 0;

        for (unsigned j = 0; j < LEAF_MAX; j += 2) {
                uint64_t a = l->last[j] - l->start[j], b = l->last[j + 1] - l->start[j + 1];
                s0 = a > s0 ? a : s0;
                s1 = b > s1 ? b : s1;
        }
        for (unsigned j = 0; j < LEAF_MAX; j++)
                order = l->order[j] > order ? l->order[j] : order;
        return (Max) { s0 > s1 ? s0 : s1, order };
}

static Max inner_max(const Inner *x) {
        Max m = {};

        for (unsigned i = 0; i < x->n; i++) {
                if (x->max_span[i] > m.span)
                        m.span = x->max_span[i];
                if (x->max_order[i] > m.order)
                        m.order = x->max_order[i];
        }
        return m;
}

static Max node_max(const Node *n, unsigned level) {
        return level == 0 ? leaf_max(&n->leaf) : inner_max(&n->inner);
}

static uint64_t node_min(const Node *n, unsigned level) {
        return level == 0 ? n->leaf.start[0] : n->inner.key[0];
}

static unsigned node_count(const Node *n, unsigned level) {
        return level == 0 ? n->leaf.n : n->inner.n;
}

static void leaf_set(Leaf *l, unsigned j, uint64_t start, uint64_t last) {
        l->start[j] = start;
        l->last[j] = last;
        l->order[j] = range_order(start, last);
}

/* Move @count entries from @src at @from to @dst at @to; the two may be one leaf. */
static void leaf_move(Leaf *dst, unsigned to, const Leaf *src, unsigned from, unsigned count) {
        memmove(dst->start + to, src->start + from, count * sizeof(uint64_t));
        memmove(dst->last + to, src->last + from, count * sizeof(uint64_t));
        memmove(dst->order + to, src->order + from, count);
}

/* Cut @l down to @n entries, making the slots behind them unused again. */
static void leaf_truncate(Leaf *l, unsigned n) {
        for (unsigned j = n; j < l->n; j++)
                leaf_clear(l, j);
        l->n = (uint16_t) n;
}

/* Open a slot at @j, which must exist, and put [start, last] there. */
static void leaf_put(Leaf *l, unsigned j, uint64_t start, uint64_t last) {
        leaf_move(l, j + 1, l, j, l->n - j);
        leaf_set(l, j, start, last);
        l->n++;
}

static void leaf_remove(Leaf *l, unsigned j) {
        leaf_move(l, j, l, j + 1, l->n - j - 1u);
        leaf_truncate(l, l->n - 1u);
}

static void inner_set(Inner *x, unsigned i, uint64_t key, void *child, Max m) {
        x->key[i] = key;
        x->child[i] = child;
        x->max_span[i] = m.span;
        x->max_order[i] = m.order;
}

static void inner_move(Inner *dst, unsigned to, const Inner *src, unsigned from, unsigned count) {
        memmove(dst->key + to, src->key + from, count * sizeof(uint64_t));
        memmove(dst->child + to, src->child + from, count * sizeof(void *));
        memmove(dst->max_span + to, src->max_span + from, count * sizeof(uint64_t));
        memmove(dst->max_order + to, src->max_order + from, count);
}

static void inner_truncate(Inner *x, unsigned n) {
        for (unsigned i = n; i < x->n; i++)
                x->key[i] = UINT64_MAX;
        x->n = (uint16_t) n;
}

static void inner_put(Inner *x, unsigned i, uint64_t key, void *child, Max m) {
        inner_move(x, i + 1, x, i, x->n - i);
        inner_set(x, i, key, child, m);
        x->n++;
}

static void inner_remove(Inner *x, unsigned i) {
        inner_move(x, i, x, i + 1, x->n - i - 1u);
        inner_truncate(x, x->n - 1u);
}

/* Move every entry of @right to the end of @left. */
static void node_append(Node *left, Node *right, unsigned level) {
        if (level == 0) {
                leaf_move(&left->leaf, left->leaf.n, &right->leaf, 0, right->leaf.n);
                left->leaf.n += right->leaf.n;
        } else {
                inner_move(&left->inner, left->inner.n, &right->inner, 0, right->inner.n);
                left->inner.n += right->inner.n;
        }
}

/* Even out two neighbours that together hold more than one node can. */
static void node_share(Node *left, Node *right, unsigned level) {
        unsigned nl = node_count(left, level), nr = node_count(right, level), want = (nl + nr) / 2;

        if (level == 0) {
                Leaf *l = &left->leaf, *r = &right->leaf;
                if (nl < want) {
                        unsigned k = want - nl;
                        leaf_move(l, nl, r, 0, k);
                        l->n = (uint16_t) want;
                        leaf_move(r, 0, r, k, nr - k);
                        leaf_truncate(r, nr - k);
                } else {
                        unsigned k = nl - want;
                        leaf_move(r, k, r, 0, nr);
                        leaf_move(r, 0, l, want, k);
                        r->n = (uint16_t) (nr + k);
                        leaf_truncate(l, want);
                }
        } else {
                Inner *l = &left->inner, *r = &right->inner;
                if (nl < want) {
                        unsigned k = want - nl;
                        inner_move(l, nl, r, 0, k);
                        l->n = (uint16_t) want;
                        inner_move(r, 0, r, k, nr - k);
                        inner_truncate(r, nr - k);
                } else {
                        unsigned k = nl - want;
                        inner_move(r, k, r, 0, nr);
                        inner_move(r, 0, l, want, k);
                        r->n = (uint16_t) (nr + k);
                        inner_truncate(l, want);
                }
        }
}

/* ---- paths ---- */

/*
 * Ask for every cache line of a node at once: the search inside a node
 * reads the keys first and only then knows which child pointer or which
 * range it needs, which would otherwise be a second miss in a row.
 */
static inline void node_prefetch(const Node *n) {
        for (size_t off = 0; off < sizeof(Node); off += 64)
                __builtin_prefetch((const char *) n + off);
}

/* The leaf where @addr is or would be, and the way there. */
static void descend(const IovaAllocator *a, uint64_t addr, Path *path) {
        Node *n = a->root;

        for (unsigned l = a->height; l > 0; l--) {
                Inner *x = &n->inner;
                node_prefetch(n);
                unsigned i = inner_rank(x, addr);
                path->node[l] = x;
                path->idx[l] = i;
                n = x->child[i];
        }
        node_prefetch(n);
        path->leaf = &n->leaf;
}

/* From the node at @level on @path, always the first child down to a leaf. */
static void descend_first(Path *path, unsigned level) {
        for (unsigned l = level; l > 1; l--) {
                path->node[l - 1] = path->node[l]->child[path->idx[l]];
                path->idx[l - 1] = 0;
        }
        if (level > 0)
                path->leaf = path->node[1]->child[path->idx[1]];
}

/*
 * The lowest level whose node has a child right of the path, or 0 if the
 * path's leaf is the last. That child's key is the lowest start right of
 * the path: the next leaf's first.
 */
static unsigned fork_level(const IovaAllocator *a, const Path *path, uint64_t *ret_key) {
        for (unsigned l = 1; l <= a->height; l++)
                if (path->idx[l] + 1u < path->node[l]->n) {
                        *ret_key = path->node[l]->key[path->idx[l] + 1];
                        return l;
                }
        return 0;
}

/* Move @path to the next leaf; false if it is at the last one. */
static bool path_next_leaf(const IovaAllocator *a, Path *path) {
        uint64_t key;
        unsigned l = fork_level(a, path, &key);

        if (l == 0)
                return false;
        path->idx[l]++;
        descend_first(path, l);
        return true;
}

/* The node at @level on @path has a new lowest start: fix the keys that record it. */
static void fix_first(const IovaAllocator *a, Path *path, unsigned level, uint64_t min) {
        for (unsigned l = level + 1; l <= a->height; l++) {
                path->node[l]->key[path->idx[l]] = min;
                if (path->idx[l] != 0)
                        return;
        }
}

/*
 * A range of @span and @order was added to the node at @level on @path, or
 * grew there: the maxima above it can only rise, so raise them without
 * looking at siblings, up to the first that is high enough already.
 */
static void raise_max(const IovaAllocator *a, Path *path, unsigned level, uint64_t span, uint8_t order) {
        for (unsigned l = level + 1; l <= a->height; l++) {
                Inner *x = path->node[l];
                unsigned i = path->idx[l];
                if (x->max_span[i] >= span && x->max_order[i] >= order)
                        return;
                if (x->max_span[i] < span)
                        x->max_span[i] = span;
                if (x->max_order[i] < order)
                        x->max_order[i] = order;
        }
}

/*
 * The node at @level on @path lost or shrank a range: recompute its maxima
 * and its ancestors', up to the first whose maxima come out unchanged.
 */
static void refresh_max(const IovaAllocator *a, Path *path, unsigned level) {
        for (unsigned l = level; l < a->height; l++) {
                Max m = l == 0 ? leaf_max(path->leaf) : inner_max(path->node[l]);
                Inner *x = path->node[l + 1];
                unsigned i = path->idx[l + 1];
                if (x->max_span[i] == m.span && x->max_order[i] == m.order)
                        return;
                x->max_span[i] = m.span;
                x->max_order[i] = m.order;
        }
}

/*
 * A range of the path's leaf that had @span and @order shrank or went
 * away. The maxima can only fall if it held one of them.
 */
static void lower_max(const IovaAllocator *a, Path *path, uint64_t span, uint8_t order) {
        if (a->height == 0)
                return;
        const Inner *x = path->node[1];
        unsigned i = path->idx[1];
        if (span < x->max_span[i] && order < x->max_order[i])
                return;
        refresh_max(a, path, 0);
}

/*
 * The node @left at @level on @path was split and @right holds its upper
 * half: enter @right in the parent, splitting it in turn when it is full.
 * One range of @span and @order was added below, so once a parent takes
 * the new child without splitting, the maxima above can only rise.
 */
static void split_up(IovaAllocator *a, Path *path, unsigned level, Node *left, Node *right, uint64_t span, uint8_t order) {
        for (unsigned l = level + 1;; l++) {
                Max ml = node_max(left, l - 1), mr = node_max(right, l - 1);
                uint64_t key = node_min(right, l - 1);

                if (l > a->height) {
                        /* The root split: the tree grows by a level. */
                        Inner *root = inner_new(a, l);
                        inner_set(root, 0, node_min(left, l - 1), left, ml);
                        inner_set(root, 1, key, right, mr);
                        root->n = 2;
                        a->root = (Node *) root;
                        a->height = l;
                        return;
                }

                Inner *x = path->node[l], *y;
                unsigned i = path->idx[l], q = i + 1, half = (INNER_MAX + 1) / 2;

                x->max_span[i] = ml.span;
                x->max_order[i] = ml.order;
                if (x->n < INNER_MAX) {
                        inner_put(x, q, key, right, mr);
                        raise_max(a, path, l, span, order);
                        return;
                }

                /* Full: the lower half stays, the upper half and the new child go to y as it falls. */
                y = inner_new(a, l);
                if (q < half) {
                        inner_move(y, 0, x, half - 1, INNER_MAX - (half - 1));
                        y->n = INNER_MAX - (half - 1);
                        inner_truncate(x, half - 1);
                        inner_put(x, q, key, right, mr);
                } else {
                        inner_move(y, 0, x, half, INNER_MAX - half);
                        y->n = INNER_MAX - half;
                        inner_truncate(x, half);
                        inner_put(y, q - half, key, right, mr);
                }
                left = (Node *) x;
                right = (Node *) y;
        }
}

/* Put [start, last] at @j of the path's leaf; needs spares_for_insert() first. */
static void insert_at(IovaAllocator *a, Path *path, unsigned j, uint64_t start, uint64_t last) {
        Leaf *l = path->leaf, *r;
        unsigned half = (LEAF_MAX + 1) / 2;
        uint64_t span = last - start;
        uint8_t order;

        a->n_ranges++;
        if (l->n < LEAF_MAX) {
                leaf_put(l, j, start, last);
                if (j == 0)
                        fix_first(a, path, 0, start);
                raise_max(a, path, 0, span, l->order[j]);
                return;
        }

        r = leaf_new(a);
        if (j < half) {
                leaf_move(r, 0, l, half - 1, LEAF_MAX - (half - 1));
                r->n = LEAF_MAX - (half - 1);
                leaf_truncate(l, half - 1);
                leaf_put(l, j, start, last);
                order = l->order[j];
        } else {
                leaf_move(r, 0, l, half, LEAF_MAX - half);
                r->n = LEAF_MAX - half;
                leaf_truncate(l, half);
                leaf_put(r, j - half, start, last);
                order = r->order[j - half];
        }
        if (j == 0)
                fix_first(a, path, 0, start);
        split_up(a, path, 0, (Node *) l, (Node *) r, span, order);
}

/*
 * The node at @level on @path is one below its minimum: take from a
 * neighbour or merge with it. A merge takes a child from the parent, which
 * may leave that one below its minimum in turn; a root left with one child
 * hands the tree to it.
 */
static void rebalance(IovaAllocator *a, Path *path, unsigned level) {
        for (unsigned l = level; l < a->height; l++) {
                Inner *x = path->node[l + 1];
                unsigned i = path->idx[l + 1], li = i > 0 ? i - 1 : 0;
                Node *left = x->child[li], *right = x->child[li + 1];
                unsigned max = l == 0 ? LEAF_MAX : INNER_MAX;

                if (node_count(left, l) + node_count(right, l) > max) {
                        node_share(left, right, l);
                        Max ml = node_max(left, l), mr = node_max(right, l);
                        inner_set(x, li, x->key[li], left, ml);
                        inner_set(x, li + 1, node_min(right, l), right, mr);
                        refresh_max(a, path, l + 1);
                        return;
                }

                node_append(left, right, l);
                node_put(a, right);
                inner_remove(x, li + 1);
                Max ml = node_max(left, l);
                x->max_span[li] = ml.span;
                x->max_order[li] = ml.order;

                if (l + 1 == a->height) {
                        if (x->n == 1) {
                                a->root = left;
                                a->height = l;
                                node_put(a, (Node *) x);
                        }
                        return;
                }
                if (x->n >= INNER_MIN) {
                        refresh_max(a, path, l + 1);
                        return;
                }
        }
}

/*
 * Remove entry @j of the path's leaf. @absorbed: another range of the same
 * leaf took it over and was raised already, so no maximum can fall.
 */
static void erase_at(IovaAllocator *a, Path *path, unsigned j, bool absorbed) {
        Leaf *l = path->leaf;
        uint64_t span = l->last[j] - l->start[j];
        uint8_t order = l->order[j];

        leaf_remove(l, j);
        a->n_ranges--;
        if (j == 0 && l->n > 0)
                fix_first(a, path, 0, l->start[0]);
        if (a->height == 0)
                return; /* the root leaf may hold anything down to nothing */
        if (l->n < LEAF_MIN)
                rebalance(a, path, 0);
        else if (!absorbed)
                lower_max(a, path, span, order);
}

/* ---- the allocator ---- */

int iova_allocator_new(uint64_t page, IovaAllocator **ret) {
        IovaAllocator *a;

        if (!is_pow2_u64(page))
                return -EINVAL;
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->page = page;
        a->page_shift = (unsigned) __builtin_ctzll(page);
        if (spares_ensure(a, 1) < 0) {
                free(a);
                return -ENOMEM;
        }
        a->root = (Node *) leaf_new(a);
        *ret = a;
        return 0;
}

IovaAllocator *iova_allocator_free(IovaAllocator *a) {
        if (!a)
                return NULL;
        for (size_t i = 0; a->supers_shift > 0 && i < ((size_t) 1 << a->supers_shift); i++) {
                Super *s = a->supers[i];
                if (!s)
                        continue;
                for (size_t k = 0; k < SUPER_CHUNKS; k++)
                        free(s->chunk[k]);
                free(s);
        }
        free(a->supers);
        free(a->dirty);
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

static uint64_t sat_add(uint64_t x, uint64_t y) {
        return x + y < x ? UINT64_MAX : x + y;
}

static uint64_t span_bytes(uint64_t span) {
        return span == UINT64_MAX ? UINT64_MAX : span + 1;
}

static void account_add(IovaAllocator *a, uint64_t span) {
        a->free_bytes = sat_add(a->free_bytes, span_bytes(span));
}

static void account_sub(IovaAllocator *a, uint64_t span) {
        /* Saturated totals cannot be tracked exactly; recount lazily is not worth it. */
        if (a->free_bytes != UINT64_MAX)
                a->free_bytes -= span_bytes(span);
}

/*
 * Give [start, last] to the free space, merging with touching neighbours.
 * -ENOTUNIQ when any of it is free already.
 */
static int give(IovaAllocator *a, uint64_t start, uint64_t last) {
        Path path, next_path;
        Leaf *l, *nl;
        uint64_t next_start = 0;
        unsigned j, fork = 0;
        bool has_next;
        int r;

        /*
         * The descent ends in the leaf whose lowest start is the last at or
         * before @start (or the first leaf), so the range just below lies in
         * it, at j - 1; the range just above is at j, or is the next leaf's
         * first, whose start is the key right of the path.
         */
        descend(a, start, &path);
        l = path.leaf;
        j = leaf_rank(l, start);
        if (j > 0 && l->last[j - 1] >= start)
                return -ENOTUNIQ;
        if (j < l->n) {
                has_next = true;
                next_start = l->start[j];
        } else {
                fork = fork_level(a, &path, &next_start);
                has_next = fork > 0;
        }
        if (has_next && next_start <= last)
                return -ENOTUNIQ;

        bool join_prev = j > 0 && l->last[j - 1] + 1 == start;
        bool join_next = has_next && last + 1 == next_start; /* next_start > last: no wrap */

        if (join_next && j == l->n) {
                /* The range above is the next leaf's first. */
                next_path = path;
                next_path.idx[fork]++;
                descend_first(&next_path, fork);
        }
        nl = join_next && j == l->n ? next_path.leaf : NULL;

        if (join_prev && join_next) {
                if (!nl) {
                        /* Both in this leaf: the lower one takes both, the upper one goes. */
                        leaf_set(l, j - 1, l->start[j - 1], l->last[j]);
                        raise_max(a, &path, 0, l->last[j - 1] - l->start[j - 1], l->order[j - 1]);
                        erase_at(a, &path, j, true);
                } else {
                        /*
                         * Across two leaves: grow the lower one first, then remove the
                         * upper one on its own path, which may merge the two leaves.
                         */
                        leaf_set(l, j - 1, l->start[j - 1], nl->last[0]);
                        raise_max(a, &path, 0, l->last[j - 1] - l->start[j - 1], l->order[j - 1]);
                        erase_at(a, &next_path, 0, false);
                }
        } else if (join_prev) {
                leaf_set(l, j - 1, l->start[j - 1], last);
                raise_max(a, &path, 0, last - l->start[j - 1], l->order[j - 1]);
        } else if (join_next) {
                Path *p = nl ? &next_path : &path;
                Leaf *t = nl ? nl : l;
                unsigned k = nl ? 0 : j;

                leaf_set(t, k, start, t->last[k]);
                if (k == 0)
                        fix_first(a, p, 0, start);
                raise_max(a, p, 0, t->last[k] - start, t->order[k]);
        } else {
                r = spares_for_insert(a);
                if (r < 0)
                        return r;
                insert_at(a, &path, j, start, last);
        }
        account_add(a, last - start);
        a->fail_size = 0;
        return 0;
}

/* ---- deferred releases ---- */

/* Bits @b0..@b1 (inclusive) of word @w of a chunk's bitmap. */
static inline uint64_t word_mask(unsigned w, unsigned b0, unsigned b1) {
        unsigned lo = w * 64, hi = lo + 63;
        uint64_t m = ~0ULL;

        if (b0 > lo)
                m &= ~0ULL << (b0 - lo);
        if (b1 < hi)
                m &= ~0ULL >> (hi - b1);
        return m;
}

static bool bits_all(const uint64_t *bits, unsigned b0, unsigned b1) {
        for (unsigned w = b0 / 64; w <= b1 / 64; w++) {
                uint64_t m = word_mask(w, b0, b1);
                if ((bits[w] & m) != m)
                        return false;
        }
        return true;
}

static void bits_set(uint64_t *bits, unsigned b0, unsigned b1) {
        for (unsigned w = b0 / 64; w <= b1 / 64; w++)
                bits[w] |= word_mask(w, b0, b1);
}

/* Clears the bits and says how many were set. */
static unsigned bits_clear(uint64_t *bits, unsigned b0, unsigned b1) {
        unsigned n = 0;

        for (unsigned w = b0 / 64; w <= b1 / 64; w++) {
                uint64_t m = word_mask(w, b0, b1);
                n += (unsigned) __builtin_popcountll(bits[w] & m);
                bits[w] &= ~m;
        }
        return n;
}

/* The first bit at or after @b that is @set, or CHUNK_PAGES. */
static unsigned bits_next(const uint64_t *bits, unsigned b, bool set) {
        for (unsigned w = b / 64; w < CHUNK_WORDS; w++) {
                uint64_t x = set ? bits[w] : ~bits[w];
                if (w == b / 64)
                        x &= ~0ULL << (b % 64);
                if (x)
                        return w * 64 + (unsigned) __builtin_ctzll(x);
        }
        return CHUNK_PAGES;
}

static inline size_t super_slot(const IovaAllocator *a, uint64_t number) {
        return (size_t) ((number * 0x9e3779b97f4a7c15ULL) >> (64 - a->supers_shift));
}

static Super *super_find(IovaAllocator *a, uint64_t number) {
        Super *s = a->last_super;

        if (s && s->number == number)
                return s;
        if (a->n_supers == 0)
                return NULL;
        size_t mask = ((size_t) 1 << a->supers_shift) - 1;
        for (size_t i = super_slot(a, number);; i = (i + 1) & mask) {
                s = a->supers[i];
                if (!s)
                        return NULL;
                if (s->number == number) {
                        a->last_super = s;
                        return s;
                }
        }
}

static void super_place(IovaAllocator *a, Super *s) {
        size_t mask = ((size_t) 1 << a->supers_shift) - 1, i = super_slot(a, s->number);

        while (a->supers[i])
                i = (i + 1) & mask;
        a->supers[i] = s;
}

static Super *super_get(IovaAllocator *a, uint64_t number) {
        Super *s = super_find(a, number);

        if (s)
                return s;
        /* At most half the slots in use. */
        if (a->supers_shift == 0 || (a->n_supers + 1) * 2 > ((size_t) 1 << a->supers_shift)) {
                unsigned shift = a->supers_shift == 0 ? 3 : a->supers_shift + 1;
                Super **old = a->supers;
                size_t n_old = a->supers_shift == 0 ? 0 : (size_t) 1 << a->supers_shift;
                Super **t = calloc((size_t) 1 << shift, sizeof(Super *));
                if (!t)
                        return NULL;
                a->supers = t;
                a->supers_shift = shift;
                for (size_t i = 0; i < n_old; i++)
                        if (old[i])
                                super_place(a, old[i]);
                free(old);
        }
        s = calloc(1, sizeof(Super));
        if (!s)
                return NULL;
        s->number = number;
        super_place(a, s);
        a->n_supers++;
        a->last_super = s;
        return s;
}

/* Take @s out of the table (backward-shift deletion keeps every probe sequence whole) and free it. */
static void super_delete(IovaAllocator *a, Super *s) {
        size_t mask = ((size_t) 1 << a->supers_shift) - 1, i = super_slot(a, s->number);

        while (a->supers[i] != s)
                i = (i + 1) & mask;
        a->supers[i] = NULL;
        for (size_t j = (i + 1) & mask; a->supers[j]; j = (j + 1) & mask) {
                size_t k = super_slot(a, a->supers[j]->number);
                /* The entry at j may move to the hole at i unless its home lies cyclically in (i, j]. */
                bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
                if (stays)
                        continue;
                a->supers[i] = a->supers[j];
                a->supers[j] = NULL;
                i = j;
        }
        if (a->last_super == s)
                a->last_super = NULL;
        a->n_supers--;
        free(s);
}

static Chunk *chunk_find(IovaAllocator *a, uint64_t page) {
        Super *s = super_find(a, page >> (CHUNK_SHIFT + SUPER_SHIFT));

        return s ? s->chunk[(page >> CHUNK_SHIFT) & (SUPER_CHUNKS - 1)] : NULL;
}

static Chunk *chunk_get(IovaAllocator *a, uint64_t page) {
        Super *s = super_get(a, page >> (CHUNK_SHIFT + SUPER_SHIFT));
        Chunk **slot, *c;

        if (!s)
                return NULL;
        slot = &s->chunk[(page >> CHUNK_SHIFT) & (SUPER_CHUNKS - 1)];
        if (*slot)
                return *slot;
        c = calloc(1, sizeof(Chunk));
        if (!c) {
                if (s->n == 0)
                        super_delete(a, s);
                return NULL;
        }
        c->first = page & ~(uint64_t) (CHUNK_PAGES - 1);
        *slot = c;
        s->n++;
        a->n_chunks++;
        return c;
}

/*
 * @c may have nothing held or pending any more: then it is idle, and the
 * next sweep() frees it unless it is used again first. Freeing chunks (and
 * supers) as soon as they empty would make a steady state of allocations
 * and releases in one place allocate and free them again and again.
 */
static void chunk_check_idle(IovaAllocator *a, Chunk *c) {
        if (c->held != 0 || c->pend != 0 || c->dirty || c->idle)
                return;
        c->idle = true;
        a->n_idle++;
}

static void chunk_use(IovaAllocator *a, Chunk *c) {
        if (c->idle) {
                c->idle = false;
                a->n_idle--;
        }
}

/* Free the idle chunks, and the supers left without chunks, once they are many: at least 64 and half of all. */
static void sweep(IovaAllocator *a) {
        size_t n_slots = a->supers_shift ? (size_t) 1 << a->supers_shift : 0;

        if (a->n_idle < 64 || a->n_idle * 2 < a->n_chunks)
                return;
        for (size_t i = 0; i < n_slots; i++) {
                Super *s = a->supers[i];
                for (size_t k = 0; s && k < SUPER_CHUNKS; k++)
                        if (s->chunk[k] && s->chunk[k]->idle) {
                                free(s->chunk[k]);
                                s->chunk[k] = NULL;
                                s->n--;
                                a->n_chunks--;
                                a->n_idle--;
                        }
        }
        /* A deletion moves entries of the table about: look again from the start after each. */
        for (size_t i = 0; i < n_slots;) {
                Super *s = a->supers[i];
                if (s && s->n == 0) {
                        super_delete(a, s);
                        i = 0;
                } else
                        i++;
        }
}

/*
 * Calls @f for each chunk's share of pages @p0..@p1 (inclusive), as bit
 * indexes inside it, stopping at a false return; @create makes the chunks
 * (a chunk that cannot be made stops the walk).
 */
#define FOREACH_CHUNK_SHARE(a, p0, p1, c, b0, b1, create, body)                                         \
        for (uint64_t _p = (p0);;) {                                                                    \
                uint64_t _e = (_p | (CHUNK_PAGES - 1)) < (p1) ? (_p | (CHUNK_PAGES - 1)) : (p1);        \
                Chunk *c = (create) ? chunk_get((a), _p) : chunk_find((a), _p);                         \
                unsigned b0 = (unsigned) (_p & (CHUNK_PAGES - 1)), b1 = (unsigned) (_e & (CHUNK_PAGES - 1)); \
                body;                                                                                   \
                if (_e == (p1))                                                                         \
                        break;                                                                          \
                _p = _e + 1;                                                                            \
        }

/* A small range just taken from the tree: mark its pages held, as far as memory for the chunks allows. */
static void hold(IovaAllocator *a, uint64_t start, uint64_t last) {
        uint64_t p0 = start >> a->page_shift, p1 = last >> a->page_shift;

        if (p1 - p0 >= TRACK_MAX_PAGES)
                return;
        FOREACH_CHUNK_SHARE(a, p0, p1, c, b0, b1, true, {
                if (!c)
                        return;
                chunk_use(a, c);
                bits_set(c->held_bits, b0, b1);
                c->held = (uint16_t) (c->held + (b1 - b0 + 1));
                a->n_held += b1 - b0 + 1;
        });
}

/* Pages @p0..@p1 of chunks of super @s are free now: they are held no more. */
static void unhold_in(IovaAllocator *a, Super *s, uint64_t p0, uint64_t p1) {
        for (uint64_t p = p0;;) {
                uint64_t e = (p | (CHUNK_PAGES - 1)) < p1 ? (p | (CHUNK_PAGES - 1)) : p1;
                Chunk *c = s->chunk[(p >> CHUNK_SHIFT) & (SUPER_CHUNKS - 1)];
                if (c && c->held) {
                        unsigned k = bits_clear(c->held_bits, (unsigned) (p & (CHUNK_PAGES - 1)),
                                                (unsigned) (e & (CHUNK_PAGES - 1)));
                        c->held = (uint16_t) (c->held - k);
                        a->n_held -= k;
                        chunk_check_idle(a, c);
                }
                if (e == p1)
                        return;
                p = e + 1;
        }
}

/* [start, last] went to the tree: no page of it may stay held. */
static void unhold(IovaAllocator *a, uint64_t start, uint64_t last) {
        const unsigned shift = CHUNK_SHIFT + SUPER_SHIFT;
        uint64_t p0 = start >> a->page_shift, p1 = last >> a->page_shift, s0 = p0 >> shift, s1 = p1 >> shift;

        if (a->n_held == 0)
                return;
        if (s1 - s0 < a->n_supers * 2) {
                /* Few supers in the range: look each up. */
                for (uint64_t n = s0; a->n_held > 0; n++) {
                        Super *s = super_find(a, n);
                        if (s)
                                unhold_in(a, s, n == s0 ? p0 : n << shift, n == s1 ? p1 : ((n + 1) << shift) - 1);
                        if (n == s1)
                                break;
                }
        } else
                /* More supers in the range than in the table: go through the table. */
                for (size_t i = 0; i < ((size_t) 1 << a->supers_shift) && a->n_held > 0; i++) {
                        Super *s = a->supers[i];
                        if (!s || s->number < s0 || s->number > s1)
                                continue;
                        uint64_t n = s->number;
                        unhold_in(a, s, n == s0 ? p0 : n << shift, n == s1 ? p1 : ((n + 1) << shift) - 1);
                }
        sweep(a);
}

static int dirty_reserve(IovaAllocator *a, size_t more) {
        if (a->n_dirty + more <= a->dirty_cap)
                return 0;
        size_t cap = a->dirty_cap ? a->dirty_cap * 2 : 64;
        while (cap < a->n_dirty + more)
                cap *= 2;
        Chunk **d = reallocarray(a->dirty, cap, sizeof(Chunk *));
        if (!d)
                return -ENOMEM;
        a->dirty = d;
        a->dirty_cap = cap;
        return 0;
}

/*
 * Release [start, last] without touching the tree, when every page of it
 * is held; false (nothing changed) when it is not, or memory is short.
 */
static bool release_deferred(IovaAllocator *a, uint64_t start, uint64_t last) {
        uint64_t p0 = start >> a->page_shift, p1 = last >> a->page_shift;
        bool all = true;

        if (p1 - p0 >= TRACK_MAX_PAGES || a->n_held < p1 - p0 + 1)
                return false;
        FOREACH_CHUNK_SHARE(a, p0, p1, c, b0, b1, false, {
                if (!c || !bits_all(c->held_bits, b0, b1)) {
                        all = false;
                        break;
                }
        });
        if (!all || dirty_reserve(a, 2) < 0)
                return false;
        FOREACH_CHUNK_SHARE(a, p0, p1, c, b0, b1, false, {
                unsigned k = b1 - b0 + 1;
                (void) bits_clear(c->held_bits, b0, b1);
                bits_set(c->pend_bits, b0, b1);
                c->held = (uint16_t) (c->held - k);
                c->pend = (uint16_t) (c->pend + k);
                if (!c->dirty) {
                        c->dirty = true;
                        a->dirty[a->n_dirty++] = c;
                }
        });
        a->n_held -= p1 - p0 + 1;
        a->pending_bytes += (last - start) + 1;
        /* Space came back: the failure memo no longer holds, and the finger's range may no longer be the lowest. */
        a->fail_size = 0;
        a->finger = false;
        return true;
}

/* Recompute the maxima the finger's allocations left as they were. */
static void settle(IovaAllocator *a) {
        if (!a->stale)
                return;
        a->stale = false;
        refresh_max(a, &a->finger_path, 0);
}

/*
 * Hand every pending page to the tree, a run at a time. -ENOMEM leaves the
 * rest pending (and the allocator as whole as before: the pages handed
 * over are free in the tree instead).
 */
static int flush(IovaAllocator *a) {
        settle(a);
        while (a->n_dirty > 0) {
                Chunk *c = a->dirty[a->n_dirty - 1];
                for (unsigned b = bits_next(c->pend_bits, 0, true); b < CHUNK_PAGES;
                     b = bits_next(c->pend_bits, b, true)) {
                        unsigned e = bits_next(c->pend_bits, b, false);
                        uint64_t start = (c->first + b) << a->page_shift;
                        /* Wraps to UINT64_MAX for a run up to the top of the space, as it should. */
                        uint64_t last = ((c->first + e) << a->page_shift) - 1;
                        int r = give(a, start, last);
                        if (r < 0)
                                return r == -ENOTUNIQ ? -EUCLEAN : r;
                        (void) bits_clear(c->pend_bits, b, e - 1);
                        c->pend = (uint16_t) (c->pend - (e - b));
                        a->pending_bytes -= last - start + 1;
                        b = e;
                        if (b >= CHUNK_PAGES)
                                break;
                }
                c->dirty = false;
                a->n_dirty--;
                chunk_check_idle(a, c);
        }
        sweep(a);
        return 0;
}

int iova_flush(IovaAllocator *a) {
        return flush(a);
}

int iova_add_free(IovaAllocator *a, uint64_t start, uint64_t end) {
        int r;

        a->finger = false;
        if (start > end || !page_aligned_range(a, start, end))
                return -EINVAL;
        r = flush(a);
        if (r < 0)
                return r;
        r = give(a, start, end);
        if (r < 0)
                return r == -ENOTUNIQ ? -EEXIST : r;
        unhold(a, start, end);
        return 0;
}

int iova_release(IovaAllocator *a, uint64_t start, uint64_t size) {
        uint64_t last;
        int r;

        if (!range_last(start, size, &last) || !page_aligned_range(a, start, last))
                return -EINVAL;
        if (release_deferred(a, start, last))
                return 0;
        a->finger = false;
        /* Pending pages must be in the tree for it to tell a double release. */
        r = flush(a);
        if (r < 0)
                return r;
        r = give(a, start, last);
        if (r < 0)
                return r == -ENOTUNIQ ? -EINVAL : r;
        unhold(a, start, last);
        return 0;
}

/* Take [start, last] out of entry @j of the path's leaf, which contains it. */
static int take(IovaAllocator *a, Path *path, unsigned j, uint64_t start, uint64_t last) {
        Leaf *l = path->leaf;
        uint64_t n_start = l->start[j], n_last = l->last[j];
        uint8_t n_order = l->order[j];

        if (start == n_start && last == n_last)
                erase_at(a, path, j, false);
        else if (start == n_start) {
                leaf_set(l, j, last + 1, n_last);
                if (j == 0)
                        fix_first(a, path, 0, last + 1);
                lower_max(a, path, n_last - n_start, n_order);
        } else if (last == n_last) {
                leaf_set(l, j, n_start, start - 1);
                lower_max(a, path, n_last - n_start, n_order);
        } else {
                /* Reserve the nodes a split may need first, so a failure leaves everything as it was. */
                int r = spares_for_insert(a);
                if (r < 0)
                        return r;
                leaf_set(l, j, n_start, start - 1);
                lower_max(a, path, n_last - n_start, n_order);
                insert_at(a, path, j + 1, last + 1, n_last);
        }
        account_sub(a, last - start);
        return 0;
}

/*
 * Cut [start, @next) off the front of entry @j of the path's leaf, which
 * stays longer, leaving the maxima above as they were (a->stale).
 */
static void take_front(IovaAllocator *a, Path *path, unsigned j, uint64_t next) {
        Leaf *l = path->leaf;
        uint64_t start = l->start[j];

        leaf_set(l, j, next, l->last[j]);
        if (j == 0)
                fix_first(a, path, 0, next);
        account_sub(a, next - 1 - start);
        a->stale = true;
}

int iova_reserve(IovaAllocator *a, uint64_t start, uint64_t size) {
        uint64_t last;
        Path path;
        unsigned j;

        a->finger = false;
        if (!range_last(start, size, &last) || !page_aligned_range(a, start, last))
                return -EINVAL;
        int r = flush(a);
        if (r < 0)
                return r;
        descend(a, start, &path);
        j = leaf_rank(path.leaf, start);
        if (j == 0 || path.leaf->last[j - 1] < last)
                return -EBUSY;
        return take(a, &path, j - 1, start, last);
}

/* Where a request would sit in [start, last], or false if it does not fit below @limit. */
static bool fit(uint64_t start, uint64_t last, uint64_t size, uint64_t align, uint64_t limit, uint64_t *ret) {
        uint64_t m, end;

        if (!align_up_u64(start, align, &m) || m > last)
                return false;
        if (!range_last(m, size, &end) || end > last || end > limit)
                return false;
        *ret = m;
        return true;
}

/*
 * Leftmost range whose own span is at least @span and whose order is at
 * least @order, in one walk: at each level, the first child whose maxima
 * allow a match, since everything in it lies lower than in the rest. Also
 * gives up once that child lies wholly above @limit: nothing starting
 * there can fit below it, and whatever lies further right starts higher.
 */
static bool leftmost_candidate(const IovaAllocator *a, uint64_t span, unsigned order, uint64_t limit,
                               Path *path, unsigned *ret_j) {
        Node *n = a->root;

        /*
         * Callers ask for either a span or an order (an order implies its
         * span), so one range satisfies both whenever the maxima do.
         */
        for (unsigned l = a->height; l > 0; l--) {
                Inner *x = &n->inner;
                unsigned i = 0;

                while (i < x->n && (x->max_span[i] < span || x->max_order[i] < order))
                        i++;
                if (i == x->n || x->key[i] > limit)
                        return false;
                path->node[l] = x;
                path->idx[l] = i;
                n = x->child[i];
        }

        Leaf *leaf = &n->leaf;
        for (unsigned j = 0; j < leaf->n && leaf->start[j] <= limit; j++)
                if (leaf->last[j] - leaf->start[j] >= span && leaf->order[j] >= order) {
                        path->leaf = leaf;
                        *ret_j = j;
                        return true;
                }
        return false;
}

/*
 * In-order scan of every range that is long enough, for alignments no
 * cached maximum describes. 1 when found, 0 to go on, -1 once past @limit
 * (everything further right lies higher still).
 */
static int scan(Node *n, unsigned level, uint64_t size, uint64_t align, uint64_t limit,
                Path *path, unsigned *ret_j, uint64_t *ret_iova) {
        if (level == 0) {
                Leaf *l = &n->leaf;
                for (unsigned j = 0; j < l->n; j++) {
                        if (l->start[j] > limit)
                                return -1;
                        if (fit(l->start[j], l->last[j], size, align, limit, ret_iova)) {
                                path->leaf = l;
                                *ret_j = j;
                                return 1;
                        }
                }
                return 0;
        }

        Inner *x = &n->inner;
        for (unsigned i = 0; i < x->n; i++) {
                if (x->key[i] > limit)
                        return -1;
                if (x->max_span[i] < size - 1)
                        continue;
                path->node[level] = x;
                path->idx[level] = i;
                int r = scan(x->child[i], level - 1, size, align, limit, path, ret_j, ret_iova);
                if (r != 0)
                        return r;
        }
        return 0;
}

int iova_alloc(IovaAllocator *a, uint64_t size, uint64_t align, uint64_t limit, uint64_t *ret_iova) {
        uint64_t iova;
        /* The allocator keeps the path: a run of equal requests starts from it (the finger). */
        Path *path = &a->finger_path;
        unsigned j;
        bool found, run = false;

        if (size == 0 || (size & (a->page - 1)))
                return -EINVAL;
        if (align == 0 || align < a->page)
                align = a->page;
        if (!is_pow2_u64(align))
                return -EINVAL;
        if (a->fail_size != 0 && size >= a->fail_size && align >= a->fail_align && limit <= a->fail_limit)
                return -ENOSPC;

        if (a->finger && size == a->finger_size && align == a->finger_align && limit == a->finger_limit) {
                const Leaf *fl = path->leaf;
                unsigned fj = a->finger_j;
                a->finger = false;
                if (fj < fl->n && fit(fl->start[fj], fl->last[fj], size, align, limit, &iova)) {
                        j = fj;
                        run = true;
                        goto found;
                }
        }
        a->finger = false;
        int r = flush(a);
        if (r < 0)
                return r;

        if (align == a->page)
                /* Any range of length >= size fits at its start: exact. */
                found = leftmost_candidate(a, size - 1, 0, limit, path, &j);
        else if (align == size)
                /* A size-aligned power of two fits exactly where an aligned block of its order is. */
                found = leftmost_candidate(a, size - 1, (unsigned) __builtin_ctzll(size), limit, path, &j);
        else {
                /* Ranges starting on a page boundary always fit once they are align - page longer. */
                uint64_t need = size - 1 + (align - a->page);
                found = need >= size - 1 && leftmost_candidate(a, need, 0, limit, path, &j) &&
                        fit(path->leaf->start[j], path->leaf->last[j], size, align, limit, &iova);
                if (!found)
                        found = scan(a->root, a->height, size, align, limit, path, &j, &iova) > 0;
                if (!found)
                        goto nospace;
                goto found;
        }

        /* The leftmost candidate holds the lowest fit; if that crosses the limit, all do. */
        if (!found || !fit(path->leaf->start[j], path->leaf->last[j], size, align, limit, &iova))
                goto nospace;
found:;
        /* Only the front of the range goes: the tree keeps its shape, and the path stays good. */
        bool keeps = (align == a->page || align == size) && iova == path->leaf->start[j] &&
                     iova + (size - 1) != path->leaf->last[j];
        if (keeps) {
                take_front(a, path, j, iova + size);
                a->finger = true;
                a->finger_j = j;
                a->finger_size = size;
                a->finger_align = align;
                a->finger_limit = limit;
        } else {
                settle(a);
                r = take(a, path, j, iova, iova + (size - 1));
                if (r < 0)
                        return r;
        }
        /*
         * Runs of equal requests are where many small leases come from that
         * go back in bulk; a steady state of mixed requests and releases
         * gains nothing from deferred releases (the next allocation applies
         * each at once) and would pay a look-up of the page bitmaps both
         * ways. So only what a run hands out is held.
         */
        if (run)
                hold(a, iova, iova + (size - 1));
        *ret_iova = iova;
        return 0;

nospace:
        a->fail_size = size;
        a->fail_align = align;
        a->fail_limit = limit;
        return -ENOSPC;
}

size_t iova_free_ranges(const IovaAllocator *a) {
        return a->n_ranges;
}

uint64_t iova_free_bytes(const IovaAllocator *a) {
        return sat_add(a->free_bytes, a->pending_bytes);
}

uint64_t iova_page_size(const IovaAllocator *a) {
        return a->page;
}

int iova_foreach_free(IovaAllocator *a, int (*f)(uint64_t start, uint64_t end, void *userdata), void *userdata) {
        Path path;
        int r = flush(a);

        if (r < 0)
                return r;

        if (a->height == 0)
                path.leaf = &a->root->leaf;
        else {
                path.node[a->height] = &a->root->inner;
                path.idx[a->height] = 0;
                descend_first(&path, a->height);
        }
        do {
                const Leaf *l = path.leaf;
                for (unsigned j = 0; j < l->n; j++) {
                        r = f(l->start[j], l->last[j], userdata);
                        if (r < 0)
                                return r;
                }
        } while (path_next_leaf(a, &path));
        return 0;
}

typedef struct Verify {
        bool any;        /* a range was seen already */
        uint64_t last;   /* ... and this was its last byte */
        size_t ranges;
        size_t nodes;
        uint64_t bytes;  /* saturating */
} Verify;

static int verify_node(const IovaAllocator *a, const Node *n, unsigned level, Verify *v, Max *ret_max) {
        bool root = n == a->root;

        if (level == 0) {
                const Leaf *l = &n->leaf;
                if (l->level != 0 || l->n > LEAF_MAX || (!root && l->n < LEAF_MIN))
                        return -EUCLEAN;
                for (unsigned j = 0; j < LEAF_MAX; j++) {
                        if (j >= l->n) {
                                if (l->start[j] != UINT64_MAX || l->last[j] != UINT64_MAX || l->order[j] != 0)
                                        return -EUCLEAN;
                                continue;
                        }
                        uint64_t s = l->start[j], e = l->last[j];
                        if (s > e || !page_aligned_range(a, s, e) || l->order[j] != range_order(s, e))
                                return -EUCLEAN;
                        /* Strictly increasing and never touching, across leaves too. */
                        if (v->any && (v->last >= s || v->last + 1 == s))
                                return -EUCLEAN;
                        v->any = true;
                        v->last = e;
                        v->bytes = sat_add(v->bytes, span_bytes(e - s));
                }
                v->ranges += l->n;
                v->nodes++;
                *ret_max = leaf_max(l);
                return 0;
        }

        const Inner *x = &n->inner;
        if (x->level != level || x->n > INNER_MAX || x->n < (root ? 2 : INNER_MIN))
                return -EUCLEAN;
        for (unsigned i = x->n; i < INNER_MAX; i++)
                if (x->key[i] != UINT64_MAX)
                        return -EUCLEAN;
        for (unsigned i = 0; i < x->n; i++) {
                const Node *c = x->child[i];
                Max m;
                if (!c || verify_node(a, c, level - 1, v, &m) < 0)
                        return -EUCLEAN;
                /* The key is exactly the child's lowest start, the maxima exactly its own. */
                if (x->key[i] != node_min(c, level - 1))
                        return -EUCLEAN;
                /* On the finger's path the maxima may be left high (a->stale), never low. */
                if (a->stale && a->finger_path.node[level] == x && a->finger_path.idx[level] == i) {
                        if (x->max_span[i] < m.span || x->max_order[i] < m.order)
                                return -EUCLEAN;
                } else if (x->max_span[i] != m.span || x->max_order[i] != m.order)
                        return -EUCLEAN;
        }
        v->nodes++;
        *ret_max = inner_max(x);
        return 0;
}

/* Whether any of [start, last] is a free range of the tree. */
static bool tree_overlaps(const IovaAllocator *a, uint64_t start, uint64_t last) {
        Path path;
        uint64_t next;

        descend(a, start, &path);
        const Leaf *l = path.leaf;
        unsigned j = leaf_rank(l, start);
        if (j > 0 && l->last[j - 1] >= start)
                return true;
        if (j < l->n)
                return l->start[j] <= last;
        return fork_level(a, &path, &next) > 0 && next <= last;
}

/* The bitmaps: counts, no page both held and pending, none of either in the tree, the dirty list. */
static int verify_chunks(const IovaAllocator *a) {
        uint64_t held = 0, pend = 0;
        size_t supers = 0, dirty = 0, chunks = 0, idle = 0;

        for (size_t i = 0; a->supers_shift > 0 && i < ((size_t) 1 << a->supers_shift); i++) {
                const Super *s = a->supers[i];
                unsigned n = 0;
                if (!s)
                        continue;
                supers++;
                for (size_t k = 0; k < SUPER_CHUNKS; k++) {
                        const Chunk *c = s->chunk[k];
                        unsigned h = 0, p = 0;
                        if (!c)
                                continue;
                        n++;
                        if (c->first != ((s->number << SUPER_SHIFT) + k) << CHUNK_SHIFT)
                                return -EUCLEAN;
                        for (unsigned w = 0; w < CHUNK_WORDS; w++) {
                                if (c->held_bits[w] & c->pend_bits[w])
                                        return -EUCLEAN;
                                h += (unsigned) __builtin_popcountll(c->held_bits[w]);
                                p += (unsigned) __builtin_popcountll(c->pend_bits[w]);
                        }
                        /* Idle exactly when empty; a chunk with pending pages is on the dirty list once. */
                        if (h != c->held || p != c->pend || c->idle != (h == 0 && p == 0) || c->dirty != (p > 0))
                                return -EUCLEAN;
                        chunks++;
                        idle += c->idle;
                        dirty += c->dirty;
                        /* Each run of held or pending pages against the tree. */
                        uint64_t any[CHUNK_WORDS];
                        for (unsigned w = 0; w < CHUNK_WORDS; w++)
                                any[w] = c->held_bits[w] | c->pend_bits[w];
                        for (unsigned b = bits_next(any, 0, true); b < CHUNK_PAGES; b = bits_next(any, b, true)) {
                                unsigned e = bits_next(any, b, false);
                                uint64_t start = (c->first + b) << a->page_shift;
                                if (tree_overlaps(a, start, ((c->first + e) << a->page_shift) - 1))
                                        return -EUCLEAN;
                                if (e >= CHUNK_PAGES)
                                        break;
                                b = e;
                        }
                        held += h;
                        pend += p;
                }
                if (n == 0 || n != s->n)
                        return -EUCLEAN;
        }
        /* The dirty list: exactly the dirty chunks, each once. */
        for (size_t d = 0; d < a->n_dirty; d++) {
                if (!a->dirty[d]->dirty)
                        return -EUCLEAN;
                for (size_t e = 0; e < d; e++)
                        if (a->dirty[e] == a->dirty[d])
                                return -EUCLEAN;
        }
        if (supers != a->n_supers || chunks != a->n_chunks || idle != a->n_idle || held != a->n_held || dirty != a->n_dirty || pend * a->page != a->pending_bytes)
                return -EUCLEAN;
        /* A release clears the failure memo, so a remembered failure means nothing is pending. */
        if (a->fail_size != 0 && a->pending_bytes != 0)
                return -EUCLEAN;
        /* The finger serves the next allocation without a flush: it is dropped by every release. */
        if (a->finger && a->n_dirty != 0)
                return -EUCLEAN;
        return 0;
}

int iova_allocator_verify(const IovaAllocator *a) {
        Verify v = {};
        Max m;
        size_t spare = 0;

        if (verify_chunks(a) < 0)
                return -EUCLEAN;

        if (!a->root || a->height > MAX_HEIGHT)
                return -EUCLEAN;
        if (verify_node(a, a->root, a->height, &v, &m) < 0 || v.ranges != a->n_ranges)
                return -EUCLEAN;
        /* Saturation is sticky: once the total overflowed it is no longer exact. */
        if (a->free_bytes != UINT64_MAX && a->free_bytes != v.bytes)
                return -EUCLEAN;
        /* Every node of every slab is in the tree or on the free list. */
        for (const Node *n = a->spare; n; n = n->next_spare)
                spare++;
        if (spare != a->n_spare || v.nodes + spare != a->n_slabs * SLAB_NODES)
                return -EUCLEAN;
        /* The remembered failure still holds: an exhaustive search finds no fit for it. */
        if (a->fail_size != 0) {
                Path path;
                unsigned j;
                uint64_t iova;
                if (!is_pow2_u64(a->fail_align) || a->fail_align < a->page ||
                    scan(a->root, a->height, a->fail_size, a->fail_align, a->fail_limit, &path, &j, &iova) > 0)
                        return -EUCLEAN;
        }
        return 0;
}
