/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reserved_regions text (a group's sysfs file, a profile's lines, the
 * config's policy lines) through region_list_parse(), then the algebra the
 * daemon runs on what it parsed: format round trip, normalisation, usable
 * ranges (checked against a separate, simpler computation) and conflicts.
 */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "iommu/region.h"

#define ORIGIN "group 7"

static bool same_kind(const Region *a, const Region *b) {
        return a->type == b->type && strcmp(a->origin, b->origin) == 0;
}

static void check_normalized(const RegionList *orig, const RegionList *norm) {
        for (size_t i = 0; i < norm->n; i++) {
                const Region *r = &norm->items[i];

                FUZZ_CHECK(r->start <= r->end, "region %zu inverted", i);
                if (i > 0) {
                        const Region *p = &norm->items[i - 1];
                        FUZZ_CHECK(p->start < r->start || (p->start == r->start && p->end <= r->end),
                                   "regions %zu and %zu out of order", i - 1, i);
                }
                /* Nothing of one kind may overlap or touch after merging. */
                for (size_t k = 0; k < i; k++) {
                        const Region *p = &norm->items[k];
                        if (!same_kind(p, r))
                                continue;
                        FUZZ_CHECK(p->end != UINT64_MAX && p->end + 1 < r->start,
                                   "regions %zu [%#lx, %#lx] and %zu [%#lx, %#lx] of one kind touch", k,
                                   (unsigned long) p->start, (unsigned long) p->end, i, (unsigned long) r->start,
                                   (unsigned long) r->end);
                }
                /* Merging is tight: both ends come from input regions of its kind. */
                bool has_start = false, has_end = false;
                for (size_t k = 0; k < orig->n; k++) {
                        if (!same_kind(&orig->items[k], r))
                                continue;
                        has_start |= orig->items[k].start == r->start;
                        has_end |= orig->items[k].end == r->end;
                }
                FUZZ_CHECK(has_start && has_end, "region %zu has an end no input region has", i);
        }
        /* And it loses nothing. */
        for (size_t k = 0; k < orig->n; k++) {
                const Region *o = &orig->items[k];
                bool covered = false;
                for (size_t i = 0; i < norm->n && !covered; i++)
                        covered = same_kind(o, &norm->items[i]) && norm->items[i].start <= o->start &&
                                  o->end <= norm->items[i].end;
                FUZZ_CHECK(covered, "input region %zu lost by normalisation", k);
        }
}

static int range_cmp(const void *a, const void *b) {
        const Range *x = a, *y = b;
        return x->start < y->start ? -1 : x->start > y->start;
}

/* Shrink a gap to whole pages, by division rather than masks. */
static void add_aligned(RangeList *ret, uint64_t gs, uint64_t ge, uint64_t page) {
        uint64_t as, ae, rem = gs % page;

        if (rem == 0)
                as = gs;
        else if (gs > UINT64_MAX - (page - rem))
                return;
        else
                as = gs + (page - rem);
        if (ge == UINT64_MAX)
                ae = UINT64_MAX;
        else {
                uint64_t k = (ge + 1) / page * page;
                if (k == 0)
                        return;
                ae = k - 1;
        }
        if (as <= ae)
                FUZZ_CHECK(range_list_add(ret, as, ae) == 0, "out of memory");
}

/* Usable ranges the plain way: merge the holes first, then take the gaps. */
static void usable_reference(const Range *ap, const RegionList *l, uint64_t page, RangeList *ret) {
        Range *holes = calloc(l->n + 1, sizeof(Range));
        size_t n = 0, m = 0;

        FUZZ_CHECK(holes, "out of memory");
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].type != REGION_DIRECT_RELAXABLE)
                        holes[n++] = (Range) { l->items[i].start, l->items[i].end };
        qsort(holes, n, sizeof(Range), range_cmp);
        for (size_t i = 0; i < n; i++) {
                if (m > 0 && (holes[m - 1].end == UINT64_MAX || holes[i].start <= holes[m - 1].end + 1)) {
                        if (holes[i].end > holes[m - 1].end)
                                holes[m - 1].end = holes[i].end;
                } else
                        holes[m++] = holes[i];
        }

        uint64_t cur = ap->start;
        bool open = true;
        for (size_t i = 0; i < m; i++) {
                if (holes[i].end < cur)
                        continue;
                if (holes[i].start > ap->end)
                        break;
                if (holes[i].start > cur)
                        add_aligned(ret, cur, holes[i].start - 1, page);
                if (holes[i].end >= ap->end) {
                        open = false;
                        break;
                }
                cur = holes[i].end + 1;
        }
        if (open)
                add_aligned(ret, cur, ap->end, page);
        free(holes);
}

static void check_usable(const RegionList *l, uint64_t ap_start, uint64_t ap_end, uint64_t page) {
        Range ap = { ap_start, ap_end };
        RangeList u = {}, ref = {};
        RegionConflict *conflicts = NULL;
        ssize_t n;

        FUZZ_CHECK(range_list_usable(&ap, l, page, &u) == 0, "range_list_usable failed");
        for (size_t i = 0; i < u.n; i++) {
                const Range *r = &u.items[i];
                FUZZ_CHECK(r->start <= r->end && r->start >= ap.start && r->end <= ap.end, "range %zu outside", i);
                FUZZ_CHECK(r->start % page == 0 && (r->end == UINT64_MAX || (r->end + 1) % page == 0),
                           "range %zu [%#lx, %#lx] not aligned to %#lx", i, (unsigned long) r->start,
                           (unsigned long) r->end, (unsigned long) page);
                FUZZ_CHECK(i == 0 || u.items[i - 1].end < r->start, "ranges %zu and %zu overlap", i - 1, i);
                FUZZ_CHECK(region_list_find_overlap(l, r->start, r->end, false) < 0, "range %zu hits a region", i);
        }
        usable_reference(&ap, l, page, &ref);
        FUZZ_CHECK(range_list_equal(&u, &ref), "usable ranges differ from the reference (%zu vs %zu ranges)", u.n,
                   ref.n);

        /* Usable ranges are what leases live in: no region may conflict with them. */
        n = region_find_conflicts(l, u.items, u.n, &conflicts);
        FUZZ_CHECK(n == 0, "%zd conflicts with the usable ranges", n);
        free(conflicts);
        conflicts = NULL;

        /* One live range over the whole aperture conflicts with every region in it. */
        size_t expected = 0;
        for (size_t i = 0; i < l->n; i++)
                expected += l->items[i].type != REGION_DIRECT_RELAXABLE && l->items[i].start <= ap.end &&
                            ap.start <= l->items[i].end;
        n = region_find_conflicts(l, &ap, 1, &conflicts);
        FUZZ_CHECK(n >= 0 && (size_t) n == expected, "%zd conflicts with the aperture, expected %zu", n, expected);
        for (ssize_t i = 0; i < n; i++)
                FUZZ_CHECK(conflicts[i].range == 0 && conflicts[i].region < l->n &&
                                   (i == 0 || conflicts[i - 1].region < conflicts[i].region),
                           "conflict %zd malformed", i);
        free(conflicts);
        range_list_clear(&u);
        range_list_clear(&ref);
}

/*
 * The model's usable ranges meet the kernel's (IOVA_RANGE) by
 * range_list_intersect(): here the same regions seen through two
 * apertures and page sizes. The result lies in both and holds every
 * address both hold.
 */
static void check_intersect(const RegionList *l) {
        Range a = { 0, (UINT64_C(1) << 48) - 1 }, b = { 0x100000, UINT64_MAX };
        RangeList ua = {}, ub = {}, x = {};

        FUZZ_CHECK(range_list_usable(&a, l, 4096, &ua) == 0 && range_list_usable(&b, l, UINT64_C(1) << 16, &ub) == 0,
                   "range_list_usable failed");
        FUZZ_CHECK(range_list_intersect(&ua, &ub, &x) == 0, "range_list_intersect failed");
        for (size_t i = 0; i < x.n; i++) {
                FUZZ_CHECK(x.items[i].start <= x.items[i].end && (i == 0 || x.items[i - 1].end < x.items[i].start),
                           "intersection range %zu malformed", i);
                FUZZ_CHECK(range_list_contains(&ua, x.items[i].start, x.items[i].end) &&
                                   range_list_contains(&ub, x.items[i].start, x.items[i].end),
                           "intersection range %zu outside an input", i);
        }
        /* And it holds exactly the bytes both hold, counted pair by pair. */
        uint64_t bytes = 0, expected = 0;
        for (size_t i = 0; i < x.n; i++)
                bytes += x.items[i].end - x.items[i].start; /* +1 each, added below */
        bytes += x.n;
        for (size_t i = 0; i < ub.n; i++)
                for (size_t k = 0; k < ua.n; k++) {
                        uint64_t s = ua.items[k].start > ub.items[i].start ? ua.items[k].start : ub.items[i].start;
                        uint64_t e = ua.items[k].end < ub.items[i].end ? ua.items[k].end : ub.items[i].end;
                        if (s <= e)
                                expected += e - s + 1;
                }
        FUZZ_CHECK(bytes == expected, "intersection holds %#lx bytes, expected %#lx", (unsigned long) bytes,
                   (unsigned long) expected);
        range_list_clear(&ua);
        range_list_clear(&ub);
        range_list_clear(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = fuzz_text(data, size);
        RegionList l = {}, back = {}, norm = {};
        unsigned line = 0;
        int r;

        /* A list that already holds something must keep it on error. */
        FUZZ_CHECK(region_list_add(&l, 0x1000, 0x1fff, REGION_RESERVED, "policy") == 0, "out of memory");
        r = region_list_parse(&l, text, ORIGIN, &line);
        FUZZ_CHECK(r == 0 || r == -EINVAL, "unexpected error %d", r);
        if (r == -EINVAL) {
                FUZZ_CHECK(l.n == 1 && l.items[0].start == 0x1000, "list changed on error");
                FUZZ_CHECK(line >= 1, "no line number for the error");
                goto out;
        }

        RegionList parsed = { .items = l.items + 1, .n = l.n - 1 };
        for (size_t i = 0; i < parsed.n; i++) {
                const Region *g = &parsed.items[i];
                FUZZ_CHECK(g->start <= g->end && region_type_to_string(g->type), "region %zu invalid", i);
                FUZZ_CHECK(strcmp(g->origin, ORIGIN) == 0, "region %zu has origin \"%s\"", i, g->origin);
        }

        /* What the daemon prints parses back to the same regions. */
        char *formatted = region_list_format(&parsed);
        FUZZ_CHECK(formatted, "region_list_format failed");
        FUZZ_CHECK(region_list_parse(&back, formatted, ORIGIN, NULL) == 0, "formatted text does not parse:\n%s",
                   formatted);
        FUZZ_CHECK(back.n == parsed.n, "round trip: %zu regions, expected %zu", back.n, parsed.n);
        for (size_t i = 0; i < back.n; i++)
                FUZZ_CHECK(back.items[i].start == parsed.items[i].start && back.items[i].end == parsed.items[i].end &&
                                   back.items[i].type == parsed.items[i].type,
                           "round trip: region %zu differs", i);
        free(formatted);

        FUZZ_CHECK(region_list_append_list(&norm, &l) == 0, "out of memory");
        region_list_normalize(&norm);
        check_normalized(&l, &norm);

        /* A 39-bit x86 aperture with 4 KiB pages, and the whole space with 2 MiB pages. */
        check_usable(&norm, 0, (UINT64_C(1) << 39) - 1, 4096);
        check_usable(&l, 0, UINT64_MAX, UINT64_C(2) << 20);
        check_usable(&l, 0xfee00000, 0xfeefffff, 4096);
        check_intersect(&l);

out:
        region_list_clear(&l);
        region_list_clear(&back);
        region_list_clear(&norm);
        free(text);
        return 0;
}
