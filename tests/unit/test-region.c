/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/region.h"

#define X86_MSI "0x00000000fee00000 0x00000000feefffff msi\n"

static void assert_ranges(const RangeList *l, size_t n, const Range *want) {
        ck_assert_uint_eq(l->n, n);
        for (size_t i = 0; i < n; i++) {
                ck_assert_msg(l->items[i].start == want[i].start && l->items[i].end == want[i].end,
                              "range %zu: got 0x%llx-0x%llx want 0x%llx-0x%llx", i,
                              (unsigned long long) l->items[i].start, (unsigned long long) l->items[i].end,
                              (unsigned long long) want[i].start, (unsigned long long) want[i].end);
        }
}

START_TEST(test_parse_line) {
        Region r;

        ck_assert_int_eq(region_parse_line("0x00000000fee00000 0x00000000feefffff msi", &r), 0);
        ck_assert_uint_eq(r.start, 0xfee00000);
        ck_assert_uint_eq(r.end, 0xfeefffff);
        ck_assert_int_eq(r.type, REGION_MSI);
        ck_assert_int_eq(region_parse_line("  0x0 0xffffffffffffffff reserved \n", &r), 0);
        ck_assert_uint_eq(r.end, UINT64_MAX);
        ck_assert_int_eq(region_parse_line("0x000000000e000000 0x000000000e0fffff direct-relaxable", &r), 0);
        ck_assert_int_eq(r.type, REGION_DIRECT_RELAXABLE);
        ck_assert_int_eq(region_parse_line("0x00000000000e8000 0x00000000000e8fff direct", &r), 0);
        ck_assert_int_eq(r.type, REGION_DIRECT);

        static const char *const bad[] = {
                "",
                "0xfee00000",
                "0xfee00000 0xfeefffff",
                "0xfee00000 0xfeefffff bogus",
                "fee00000 feefffff msi",             /* no 0x */
                "0x 0x1 msi",                         /* no digits */
                "0x10000000000000000 0x1 msi",        /* 65 bits */
                "0x2000 0x1000 msi",                  /* start > end */
                "0x1000 0x1fff msi trailing",
                "0x1000,0x1fff msi",
                "0x1000 0x1fffg msi",
                "0x-1000 0x1fff msi",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(region_parse_line(bad[i], &r) == -EINVAL, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_parse_list_names_bad_line) {
        RegionList l = {};
        unsigned line = 0;

        ck_assert_int_eq(region_list_parse(&l, X86_MSI X86_MSI "\n", "group 5", &line), 0);
        ck_assert_uint_eq(l.n, 2); /* kept as given; normalize merges */
        ck_assert_str_eq(l.items[0].origin, "group 5");
        ck_assert_int_eq(region_list_parse(&l, X86_MSI "0x1000 0x0 msi\n", "group 6", &line), -EINVAL);
        ck_assert_uint_eq(line, 2);
        ck_assert_uint_eq(l.n, 2); /* unchanged on error */
        region_list_normalize(&l);
        ck_assert_uint_eq(l.n, 1);
        region_list_clear(&l);
}
END_TEST

START_TEST(test_normalize_merges_same_kind_only) {
        RegionList l = {};

        /* Overlapping and touching msi lines of one group merge; other types and origins stay. */
        ck_assert_int_eq(region_list_parse(&l,
                                           "0x00000000fee00000 0x00000000fee7ffff msi\n"
                                           "0x00000000fee80000 0x00000000feefffff msi\n"
                                           "0x00000000fee40000 0x00000000fee4ffff msi\n"
                                           "0x00000000fee00000 0x00000000feefffff reserved\n",
                                           "group 1", NULL), 0);
        ck_assert_int_eq(region_list_add(&l, 0xfee00000, 0xfeefffff, REGION_MSI, "group 2"), 0);
        region_list_normalize(&l);
        ck_assert_uint_eq(l.n, 3);
        for (size_t i = 0; i < l.n; i++) {
                ck_assert_uint_eq(l.items[i].start, 0xfee00000);
                ck_assert_uint_eq(l.items[i].end, 0xfeefffff);
        }
        region_list_remove_origin(&l, "group 1");
        ck_assert_uint_eq(l.n, 1);
        ck_assert_str_eq(l.items[0].origin, "group 2");
        region_list_clear(&l);
}
END_TEST

START_TEST(test_usable_intel_vtd) {
        /* VT-d: MSI window plus two RMRR direct ranges (USB and graphics stolen memory). */
        RegionList l = {};
        RangeList u = {};
        Range ap = { 0, (1ULL << 39) - 1 };

        ck_assert_int_eq(region_list_parse(&l,
                                           "0x00000000000e8000 0x00000000000e8fff direct\n"
                                           "0x000000007b800000 0x000000007f7fffff direct\n" X86_MSI,
                                           "group 3", NULL), 0);
        ck_assert_int_eq(range_list_usable(&ap, &l, 4096, &u), 0);
        const Range want[] = {
                { 0x0, 0xe7fff },
                { 0xe9000, 0x7b7fffff },
                { 0x7f800000, 0xfedfffff },
                { 0xfef00000, (1ULL << 39) - 1 },
        };
        assert_ranges(&u, 4, want);
        ck_assert(range_list_contains(&u, 0x100000, 0x1fffff));
        ck_assert(!range_list_contains(&u, 0xfee00000, 0xfee00fff));
        ck_assert(!range_list_contains(&u, 0xe7000, 0xe8fff));
        region_list_clear(&l);
        range_list_clear(&u);
}
END_TEST

START_TEST(test_usable_amd_ht_hole) {
        RegionList l = {};
        RangeList u = {};
        Range ap = { 0, (1ULL << 48) - 1 };

        ck_assert_int_eq(region_list_parse(&l, X86_MSI "0x000000fd00000000 0x000000ffffffffff reserved\n", "group 0",
                                           NULL), 0);
        ck_assert_int_eq(range_list_usable(&ap, &l, 4096, &u), 0);
        const Range want[] = {
                { 0, 0xfedfffff },
                { 0xfef00000, 0xfcffffffff },
                { 0x10000000000, (1ULL << 48) - 1 },
        };
        assert_ranges(&u, 3, want);
        /* A 40-bit aperture ends inside the hole. */
        ap.end = (1ULL << 40) - 1;
        ck_assert_int_eq(range_list_usable(&ap, &l, 4096, &u), 0);
        assert_ranges(&u, 2, want);
        region_list_clear(&l);
        range_list_clear(&u);
}
END_TEST

START_TEST(test_usable_arm_sw_msi_and_relaxable) {
        /* SMMU software MSI window; the RMR is direct-relaxable, which type1 ignores. */
        RegionList l = {};
        RangeList u = {};
        Range ap = { 0, (1ULL << 48) - 1 };

        ck_assert_int_eq(region_list_parse(&l,
                                           "0x0000000008000000 0x00000000080fffff msi\n"
                                           "0x00000000e0000000 0x00000000e00fffff direct-relaxable\n",
                                           "group 2", NULL), 0);
        ck_assert_int_eq(range_list_usable(&ap, &l, 4096, &u), 0);
        const Range want[] = { { 0, 0x7ffffff }, { 0x8100000, (1ULL << 48) - 1 } };
        assert_ranges(&u, 2, want);
        RegionConflict *c = NULL;
        Range live[] = { { 0xe0000000, 0xe0000fff } };
        ck_assert_int_eq(region_find_conflicts(&l, live, 1, &c), 0);
        free(c);
        region_list_clear(&l);
        range_list_clear(&u);
}
END_TEST

START_TEST(test_usable_edges_no_overflow) {
        RegionList l = {};
        RangeList u = {};
        Range ap = { 0, UINT64_MAX };

        /* Holes at both ends of the 64-bit space. */
        ck_assert_int_eq(region_list_add(&l, 0, 0xfff, REGION_RESERVED, "a"), 0);
        ck_assert_int_eq(region_list_add(&l, UINT64_MAX - 0xfff, UINT64_MAX, REGION_RESERVED, "b"), 0);
        ck_assert_int_eq(range_list_usable(&ap, &l, 4096, &u), 0);
        const Range want[] = { { 0x1000, UINT64_MAX - 0x1000 } };
        assert_ranges(&u, 1, want);

        /* No holes: the whole space, whose end is UINT64_MAX. */
        region_list_clear(&l);
        ck_assert_int_eq(range_list_usable(&ap, &l, 4096, &u), 0);
        const Range all[] = { { 0, UINT64_MAX } };
        assert_ranges(&u, 1, all);

        /* A hole covering everything leaves nothing; unaligned edges shrink to pages. */
        ck_assert_int_eq(region_list_add(&l, 0, UINT64_MAX, REGION_RESERVED, "all"), 0);
        ck_assert_int_eq(range_list_usable(&ap, &l, 4096, &u), 0);
        ck_assert_uint_eq(u.n, 0);
        region_list_clear(&l);
        ck_assert_int_eq(region_list_add(&l, 0x1800, 0x27ff, REGION_MSI, "x"), 0);
        ap = (Range) { 0, 0x4fff };
        ck_assert_int_eq(range_list_usable(&ap, &l, 4096, &u), 0);
        const Range shrunk[] = { { 0, 0xfff }, { 0x3000, 0x4fff } };
        assert_ranges(&u, 2, shrunk);
        /* A hole smaller than a page leaves no usable page around it. */
        ap = (Range) { 0, 0x1fff };
        ck_assert_int_eq(range_list_usable(&ap, &l, 4096, &u), 0);
        const Range tiny[] = { { 0, 0xfff } };
        assert_ranges(&u, 1, tiny);
        ck_assert_int_eq(range_list_usable(&ap, &l, 3000, &u), -EINVAL);
        region_list_clear(&l);
        range_list_clear(&u);
}
END_TEST

START_TEST(test_union_across_groups) {
        RegionList c = {}, g1 = {}, g2 = {};
        RangeList u = {};
        Range ap = { 0, (1ULL << 48) - 1 };

        ck_assert_int_eq(region_list_parse(&g1, X86_MSI, "group 1", NULL), 0);
        ck_assert_int_eq(region_list_parse(&g2, X86_MSI "0x000000fd00000000 0x000000ffffffffff reserved\n", "group 2",
                                           NULL), 0);
        ck_assert_int_eq(region_list_append_list(&c, &g1), 0);
        ck_assert_int_eq(region_list_append_list(&c, &g2), 0);
        region_list_normalize(&c);
        ck_assert_uint_eq(c.n, 3); /* the MSI window twice: once per origin */
        ck_assert_int_eq(range_list_usable(&ap, &c, 4096, &u), 0);
        ck_assert_uint_eq(u.n, 3);

        RangeList kernel = {}, both = {};
        ck_assert_int_eq(range_list_add(&kernel, 0, 0xfedfffff), 0);
        ck_assert_int_eq(range_list_add(&kernel, 0xfef00000, (1ULL << 39) - 1), 0);
        ck_assert_int_eq(range_list_intersect(&u, &kernel, &both), 0);
        const Range want[] = { { 0, 0xfedfffff }, { 0xfef00000, (1ULL << 39) - 1 } };
        assert_ranges(&both, 2, want);
        ck_assert(!range_list_equal(&both, &u));
        char *s = region_list_format(&g1);
        ck_assert_str_eq(s, X86_MSI);
        free(s);
        region_list_clear(&c);
        region_list_clear(&g1);
        region_list_clear(&g2);
        range_list_clear(&u);
        range_list_clear(&kernel);
        range_list_clear(&both);
}
END_TEST

START_TEST(test_conflicts) {
        RegionList l = {};
        RegionConflict *c = NULL;
        /* Sorted, disjoint leases. */
        Range live[] = {
                { 0x100000, 0x1fffff },
                { 0xfedff000, 0xfee00fff }, /* straddles the MSI window's start */
                { 0xfef00000, 0xfef00fff },
                { 0xfe00000000, 0xfe00000fff },
                { UINT64_MAX - 0xfff, UINT64_MAX },
        };

        ck_assert_int_eq(region_list_parse(&l,
                                           X86_MSI "0x000000fd00000000 0x000000ffffffffff reserved\n"
                                                   "0xfffffffffffff000 0xffffffffffffffff reserved\n",
                                           "group 9", NULL), 0);
        region_list_normalize(&l);
        ssize_t n = region_find_conflicts(&l, live, 5, &c);
        ck_assert_int_eq(n, 3);
        ck_assert_uint_eq(c[0].range, 1);
        ck_assert_uint_eq(c[1].range, 3);
        ck_assert_uint_eq(c[2].range, 4);
        ck_assert_int_eq(region_find_conflicts(&l, live, 0, NULL), 0);
        ck_assert_int_eq(region_list_find_overlap(&l, 0xfeeff000, 0xfef00fff, false), 0);
        ck_assert_int_eq(region_list_find_overlap(&l, 0xfef00000, 0xfef00fff, false), -1);
        free(c);
        region_list_clear(&l);
}
END_TEST

START_TEST(test_type_names) {
        for (RegionType t = 0; t < _REGION_TYPE_MAX; t++)
                ck_assert_int_eq(region_type_from_string(region_type_to_string(t)), t);
        ck_assert_int_eq(region_type_from_string("MSI"), _REGION_TYPE_INVALID);
        ck_assert_ptr_null(region_type_to_string(_REGION_TYPE_MAX));
}
END_TEST

int main(void) {
        Suite *s = suite_create("region");
        TCase *tc = tcase_create("parse");
        tcase_add_test(tc, test_parse_line);
        tcase_add_test(tc, test_parse_list_names_bad_line);
        tcase_add_test(tc, test_normalize_merges_same_kind_only);
        tcase_add_test(tc, test_type_names);
        suite_add_tcase(s, tc);
        tc = tcase_create("usable");
        tcase_add_test(tc, test_usable_intel_vtd);
        tcase_add_test(tc, test_usable_amd_ht_hole);
        tcase_add_test(tc, test_usable_arm_sw_msi_and_relaxable);
        tcase_add_test(tc, test_usable_edges_no_overflow);
        tcase_add_test(tc, test_union_across_groups);
        suite_add_tcase(s, tc);
        tc = tcase_create("conflicts");
        tcase_add_test(tc, test_conflicts);
        suite_add_tcase(s, tc);

        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
