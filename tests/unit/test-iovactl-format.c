/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* iovactl's pure helpers: size parsing and printing, tables, the layout picture. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "layout.h"
#include "util/macro.h"

static uint64_t size_ok(const char *s) {
        uint64_t v = 0;

        ck_assert_msg(parse_size(s, &v) == 0, "'%s' should parse", s);
        return v;
}

static int size_err(const char *s) {
        uint64_t v = 0xdead;
        int r = parse_size(s, &v);

        ck_assert_msg(r < 0, "'%s' should not parse", s);
        ck_assert_msg(v == 0xdead, "'%s': result written on failure", s);
        return r;
}

START_TEST(test_parse_size) {
        ck_assert_uint_eq(size_ok("0"), 0);
        ck_assert_uint_eq(size_ok("4096"), 4096);
        ck_assert_uint_eq(size_ok("4096B"), 4096);
        ck_assert_uint_eq(size_ok("4K"), 4096);
        ck_assert_uint_eq(size_ok("4k"), 4096);
        ck_assert_uint_eq(size_ok("4KiB"), 4096);
        ck_assert_uint_eq(size_ok("4kb"), 4096);
        ck_assert_uint_eq(size_ok("2M"), 2 * 1024 * 1024);
        ck_assert_uint_eq(size_ok("1G"), UINT64_C(1) << 30);
        ck_assert_uint_eq(size_ok("256T"), UINT64_C(1) << 48);
        ck_assert_uint_eq(size_ok("1P"), UINT64_C(1) << 50);
        ck_assert_uint_eq(size_ok("15E"), UINT64_C(15) << 60);
        ck_assert_uint_eq(size_ok("0x1000"), 0x1000);
        ck_assert_uint_eq(size_ok("0XfEe00000"), 0xfee00000);
        /* Hex takes no suffix: E is a digit. */
        ck_assert_uint_eq(size_ok("0x1E"), 0x1e);
        /* The kernel's zero-padded form, longer than 16 digits. */
        ck_assert_uint_eq(size_ok("0x0000000000000000fee00000"), 0xfee00000);
        ck_assert_uint_eq(size_ok("18446744073709551615"), UINT64_MAX);
        ck_assert_uint_eq(size_ok("0xffffffffffffffff"), UINT64_MAX);

        ck_assert_int_eq(size_err("16E"), -ERANGE);
        ck_assert_int_eq(size_err("18446744073709551616"), -ERANGE);
        ck_assert_int_eq(size_err("0x10000000000000000"), -ERANGE);
        ck_assert_int_eq(size_err("16777216T"), -ERANGE);
        ck_assert_int_eq(size_err(""), -EINVAL);
        ck_assert_int_eq(size_err("0x"), -EINVAL);
        ck_assert_int_eq(size_err("-1"), -EINVAL);
        ck_assert_int_eq(size_err("+1"), -EINVAL);
        ck_assert_int_eq(size_err(" 1"), -EINVAL);
        ck_assert_int_eq(size_err("1 K"), -EINVAL);
        ck_assert_int_eq(size_err("4Q"), -EINVAL);
        ck_assert_int_eq(size_err("1.5G"), -EINVAL);
        ck_assert_int_eq(size_err("4KiBs"), -EINVAL);
        ck_assert_int_eq(size_err("0x10M"), -EINVAL);
        ck_assert_int_eq(size_err("K"), -EINVAL);
        ck_assert_int_eq(parse_size(NULL, &(uint64_t) { 0 }), -EINVAL);
}
END_TEST

START_TEST(test_parse_u32) {
        uint32_t v;

        ck_assert_int_eq(parse_u32("0", &v), 0);
        ck_assert_uint_eq(v, 0);
        ck_assert_int_eq(parse_u32("4294967295", &v), 0);
        ck_assert_uint_eq(v, UINT32_MAX);
        ck_assert_int_eq(parse_u32("4294967296", &v), -ERANGE);
        ck_assert_int_eq(parse_u32("5x", &v), -EINVAL);
        ck_assert_int_eq(parse_u32("0x5", &v), -EINVAL);
        ck_assert_int_eq(parse_u32("", &v), -EINVAL);
}
END_TEST

static void assert_size(uint64_t v, const char *want) {
        char buf[FORMAT_SIZE_MAX];

        ck_assert_str_eq(format_size(buf, v), want);
}

START_TEST(test_format_size) {
        char buf[FORMAT_SIZE_MAX];

        assert_size(0, "0 B");
        assert_size(1023, "1023 B");
        assert_size(1024, "1 KiB");
        assert_size(1025, "1.0 KiB");
        assert_size(1536, "1.5 KiB");
        assert_size(4096, "4 KiB");
        assert_size(1047552, "1023 KiB");
        assert_size(1048575, "1023.9 KiB");
        assert_size(2 * 1024 * 1024, "2 MiB");
        assert_size(UINT64_C(3) << 29, "1.5 GiB");
        assert_size(UINT64_C(12) << 30, "12 GiB");
        assert_size(UINT64_C(1) << 48, "256 TiB");
        assert_size(UINT64_C(1) << 63, "8 EiB");
        assert_size(UINT64_MAX, "15.9 EiB");

        ck_assert_str_eq(format_range_size(buf, 0xfee00000, 0xfeefffff), "1 MiB");
        ck_assert_str_eq(format_range_size(buf, 0, UINT64_MAX), "16 EiB");
        ck_assert_str_eq(format_range_size(buf, 1, UINT64_MAX), "15.9 EiB");
        ck_assert_str_eq(format_range_size(buf, 5, 5), "1 B");
        ck_assert_str_eq(format_range_size(buf, 6, 5), "-");
}
END_TEST

START_TEST(test_range_size) {
        uint64_t v;

        ck_assert(range_size(0, 0, &v));
        ck_assert_uint_eq(v, 1);
        ck_assert(range_size(0x1000, 0x1fff, &v));
        ck_assert_uint_eq(v, 0x1000);
        ck_assert(range_size(1, UINT64_MAX, &v));
        ck_assert_uint_eq(v, UINT64_MAX);
        ck_assert(!range_size(0, UINT64_MAX, &v));
        ck_assert(!range_size(2, 1, &v));
}
END_TEST

START_TEST(test_page_sizes) {
        _cleanup_free_ char *a = format_page_sizes(0x40201000);
        _cleanup_free_ char *b = format_page_sizes(0);
        _cleanup_free_ char *c = format_page_sizes(UINT64_C(1) << 63 | 1);

        ck_assert_str_eq(a, "4 KiB, 2 MiB, 1 GiB");
        ck_assert_str_eq(b, "none");
        ck_assert_str_eq(c, "1 B, 8 EiB");
}
END_TEST

START_TEST(test_page_sizes_runs) {
        /* virtio-iommu on 6.12; AMD-Vi v1 without 512 GiB; two in a row stay two. */
        _cleanup_free_ char *a = format_page_sizes(UINT64_C(0xfffffffffffff000));
        _cleanup_free_ char *b = format_page_sizes((((UINT64_C(1) << 48) - 1) & ~UINT64_C(0xfff)) & ~(UINT64_C(1) << 39));
        _cleanup_free_ char *c = format_page_sizes(0x3000);

        ck_assert_str_eq(a, "every power of two from 4 KiB to 8 EiB");
        ck_assert_str_eq(b, "every power of two from 4 KiB to 256 GiB, every power of two from 1 TiB to 128 TiB");
        ck_assert_str_eq(c, "4 KiB, 8 KiB");
}
END_TEST

static void assert_pci(const char *in, const char *want) {
        _cleanup_free_ char *out = NULL;
        int r = pci_address_normalize(in, &out);

        if (!want) {
                ck_assert_msg(r == -EINVAL, "'%s' should be refused", in);
                ck_assert_ptr_null(out);
                return;
        }
        ck_assert_msg(r == 0, "'%s' should be accepted", in);
        ck_assert_str_eq(out, want);
}

START_TEST(test_pci_address) {
        assert_pci("0000:01:00.0", "0000:01:00.0");
        assert_pci("01:00.0", "0000:01:00.0");
        assert_pci("0000:AB:1f.7", "0000:ab:1f.7");
        assert_pci("10000:00:02.0", "10000:00:02.0");
        assert_pci("1:2", NULL);
        assert_pci("", NULL);
        assert_pci("0000:01:20.0", NULL); /* device numbers stop at 0x1f */
        assert_pci("0000:01:00.8", NULL);
        assert_pci("0000:01:00.0x", NULL);
        assert_pci("000:01:00.0", NULL);
        assert_pci("0000:1:00.0", NULL);
        assert_pci("0000:01:00:00.0", NULL);
        assert_pci("g000:01:00.0", NULL);
        assert_pci(NULL, NULL);
}
END_TEST

START_TEST(test_utf8_width) {
        ck_assert_uint_eq(utf8_width(""), 0);
        ck_assert_uint_eq(utf8_width("abc"), 3);
        ck_assert_uint_eq(utf8_width("Gr\xc3\xbc\xc3\x9f"), 4);
        ck_assert_uint_eq(utf8_width("\xe2\x96\x88"), 1);
}
END_TEST

static const TableColumn test_columns[] = {
        { "START", "start", CELL_ADDRESS, 0 },
        { "SIZE", "size", CELL_SIZE, 0 },
        { "GROUPS", "groups", CELL_UINT_LIST, 0 },
        { "ON", "on", CELL_BOOL, 0 },
        { "N", "n", CELL_UINT, 0 },
        { "ID", "id", CELL_STRING, COLUMN_HUMAN_ONLY },
        { "OBJECT", "object", CELL_STRING, COLUMN_JSON_ONLY },
        { "NAME", "name", CELL_STRING, 0 },
};

static Table *test_table(void) {
        Table *t = table_new(test_columns, ELEMENTSOF(test_columns));
        const uint32_t groups[] = { 5, 7 };

        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(table_add_uint(t, 0xfee00000), 0);
        ck_assert_int_eq(table_add_size_range(t, 0xfee00000, 0xfeefffff), 0);
        ck_assert_int_eq(table_add_uint_list(t, groups, 2), 0);
        ck_assert_int_eq(table_add_bool(t, true), 0);
        ck_assert_int_eq(table_add_uint(t, 7), 0);
        ck_assert_int_eq(table_add_string(t, "3"), 0);
        ck_assert_int_eq(table_add_string(t, "/org/iovad1/lease/3"), 0);
        ck_assert_int_eq(table_add_string(t, "first"), 0);

        ck_assert_int_eq(table_add_uint(t, 0), 0);
        ck_assert_int_eq(table_add_size_range(t, 0, UINT64_MAX), 0);
        ck_assert_int_eq(table_add_uint_list(t, NULL, 0), 0);
        ck_assert_int_eq(table_add_bool(t, false), 0);
        ck_assert_int_eq(table_add_uint(t, 12345), 0);
        ck_assert_int_eq(table_add_string(t, NULL), 0);
        ck_assert_int_eq(table_add_string(t, NULL), 0);
        ck_assert_int_eq(table_add_string(t, "x"), 0);
        ck_assert_uint_eq(table_rows(t), 2);
        return t;
}

static char *print_to_string(const Table *t, bool header) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(table_print(t, f, header), 0);
        ck_assert_int_eq(fclose(f), 0);
        return buf;
}

START_TEST(test_table_print) {
        _cleanup_table_ Table *t = test_table();
        _cleanup_free_ char *with = print_to_string(t, true);
        _cleanup_free_ char *without = print_to_string(t, false);

        /* Numbers right-aligned, text left-aligned, no trailing blanks, JSON-only columns hidden. */
        ck_assert_str_eq(with,
                         "START                 SIZE  GROUPS  ON       N  ID  NAME\n"
                         "0x00000000fee00000   1 MiB  5, 7    yes      7  3   first\n"
                         "0x0000000000000000  16 EiB  -       no   12345  -   x\n");
        /* Without the header only the cells decide the widths. */
        ck_assert_str_eq(without,
                         "0x00000000fee00000   1 MiB  5, 7  yes      7  3  first\n"
                         "0x0000000000000000  16 EiB  -     no   12345  -  x\n");
}
END_TEST

START_TEST(test_table_json) {
        _cleanup_table_ Table *t = test_table();
        json_object *j = table_to_json(t);

        ck_assert_ptr_nonnull(j);
        /* Human-only columns left out; 2^64 and missing strings are null. */
        ck_assert_str_eq(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                         "[{\"start\":4276092928,\"size\":1048576,\"groups\":[5,7],\"on\":true,\"n\":7,"
                         "\"object\":\"/org/iovad1/lease/3\",\"name\":\"first\"},"
                         "{\"start\":0,\"size\":null,\"groups\":[],\"on\":false,\"n\":12345,"
                         "\"object\":null,\"name\":\"x\"}]");
        json_object_put(j);
}
END_TEST

START_TEST(test_table_empty) {
        _cleanup_table_ Table *t = table_new(test_columns, ELEMENTSOF(test_columns));
        _cleanup_free_ char *s = print_to_string(t, true);
        json_object *j = table_to_json(t);

        ck_assert_str_eq(s, "START  SIZE  GROUPS  ON  N  ID  NAME\n");
        ck_assert_str_eq(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), "[]");
        json_object_put(j);
}
END_TEST

START_TEST(test_json_range) {
        json_object *a = json_range(0, UINT64_MAX), *b = json_range(0x1000, 0x1fff);

        ck_assert_str_eq(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
                         "{\"start\":0,\"end\":18446744073709551615,\"size\":null}");
        ck_assert_str_eq(json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN),
                         "{\"start\":4096,\"end\":8191,\"size\":4096}");
        json_object_put(a);
        json_object_put(b);
}
END_TEST

/* A 48-bit x86 aperture with two groups' MSI windows, the AMD HT hole and a relaxable RMRR. */
static const IovaRange x86_aperture = { 0, (UINT64_C(1) << 48) - 1 };
static IovaRegion x86_regions[] = {
        { 0xfee00000, 0xfeefffff, (char *) "msi", (char *) "group 5" },
        { 0xfee00000, 0xfeefffff, (char *) "msi", (char *) "group 7" },
        { 0xfd00000000, 0xffffffffff, (char *) "reserved", (char *) "group 7" },
        { 0x100000, 0x1fffff, (char *) "direct-relaxable", (char *) "group 7" },
};
static const IovaRange x86_usable[] = {
        { 0x0, 0xfedfffff },
        { 0xfef00000, 0xfcffffffff },
        { 0x10000000000, 0xffffffffefff },
};
static IovaLease x86_leases[] = {
        { (char *) "/org/iovad1/lease/2", 0x10000000, 0x200000, true },
        { (char *) "/org/iovad1/lease/1", 0x100000, 0x1000, false },
        { (char *) "/org/iovad1/lease/3", 0x10200000, 0x1000, false },
};

static void assert_segment(const Segment *s, uint64_t start, uint64_t end, SegmentKind kind, const char *type,
                           const char *origin) {
        ck_assert_msg(s->start == start && s->end == end, "segment 0x%llx-0x%llx, expected 0x%llx-0x%llx",
                      (unsigned long long) s->start, (unsigned long long) s->end, (unsigned long long) start,
                      (unsigned long long) end);
        ck_assert_int_eq(s->kind, kind);
        if (type)
                ck_assert_str_eq(s->type, type);
        else
                ck_assert_ptr_null(s->type);
        if (origin)
                ck_assert_str_eq(s->origin, origin);
        else
                ck_assert_ptr_null(s->origin);
}

START_TEST(test_layout_build) {
        Layout l;

        ck_assert_int_eq(layout_build(&x86_aperture, x86_regions, ELEMENTSOF(x86_regions), x86_usable,
                                      ELEMENTSOF(x86_usable), x86_leases, ELEMENTSOF(x86_leases), &l), 0);
        ck_assert_uint_eq(l.n_segments, 12);
        assert_segment(&l.segments[0], 0, 0xfffff, SEGMENT_FREE, NULL, NULL);
        /* The lease wins over the relaxable region it sits in. */
        assert_segment(&l.segments[1], 0x100000, 0x100fff, SEGMENT_LEASE, NULL, NULL);
        ck_assert_str_eq(l.segments[1].lease->object, "/org/iovad1/lease/1");
        assert_segment(&l.segments[2], 0x101000, 0x1fffff, SEGMENT_RELAXABLE, "direct-relaxable", "group 7");
        assert_segment(&l.segments[3], 0x200000, 0xfffffff, SEGMENT_FREE, NULL, NULL);
        /* Adjacent leases stay apart. */
        assert_segment(&l.segments[4], 0x10000000, 0x101fffff, SEGMENT_LEASE, NULL, NULL);
        ck_assert(l.segments[4].lease->mapped);
        assert_segment(&l.segments[5], 0x10200000, 0x10200fff, SEGMENT_LEASE, NULL, NULL);
        assert_segment(&l.segments[6], 0x10201000, 0xfedfffff, SEGMENT_FREE, NULL, NULL);
        /* Two groups report the same window: one segment, both origins. */
        assert_segment(&l.segments[7], 0xfee00000, 0xfeefffff, SEGMENT_RESERVED, "msi", "group 5, group 7");
        assert_segment(&l.segments[8], 0xfef00000, 0xfcffffffff, SEGMENT_FREE, NULL, NULL);
        assert_segment(&l.segments[9], 0xfd00000000, 0xffffffffff, SEGMENT_RESERVED, "reserved", "group 7");
        assert_segment(&l.segments[10], 0x10000000000, 0xffffffffefff, SEGMENT_FREE, NULL, NULL);
        /* Not usable and not explained by a region: the alignment tail. */
        assert_segment(&l.segments[11], 0xfffffffff000, 0xffffffffffff, SEGMENT_UNUSABLE, NULL, NULL);
        layout_clear(&l);
        ck_assert_uint_eq(l.n_segments, 0);
}
END_TEST

START_TEST(test_layout_edges) {
        const IovaRange full = { 0, UINT64_MAX }, small = { 0x1000, 0x1fff }, empty = { 2, 1 };
        IovaRegion over[] = {
                { 0x0, 0x17ff, (char *) "msi", NULL },
                { 0x1800, 0x1fff, (char *) "reserved", (char *) "policy" },
                { 0x1800, 0x1fff, (char *) "msi", (char *) "group 1" },
        };
        IovaLease wrap[] = {
                { (char *) "/org/iovad1/lease/9", UINT64_MAX - 0xfff, 0x2000, false },
                { (char *) "/org/iovad1/lease/8", 0x5000, 0, false },
        };
        Layout l;

        ck_assert_int_eq(layout_build(&empty, NULL, 0, NULL, 0, NULL, 0, &l), -EINVAL);

        /* Nothing known: the whole 64-bit space is one unusable segment. */
        ck_assert_int_eq(layout_build(&full, NULL, 0, NULL, 0, NULL, 0, &l), 0);
        ck_assert_uint_eq(l.n_segments, 1);
        assert_segment(&l.segments[0], 0, UINT64_MAX, SEGMENT_UNUSABLE, NULL, NULL);
        layout_clear(&l);

        /* A lease past the top is clipped, an empty one ignored, the full space still covered. */
        ck_assert_int_eq(layout_build(&full, NULL, 0, &full, 1, wrap, ELEMENTSOF(wrap), &l), 0);
        ck_assert_uint_eq(l.n_segments, 2);
        assert_segment(&l.segments[0], 0, UINT64_MAX - 0x1000, SEGMENT_FREE, NULL, NULL);
        assert_segment(&l.segments[1], UINT64_MAX - 0xfff, UINT64_MAX, SEGMENT_LEASE, NULL, NULL);
        layout_clear(&l);

        /* Regions clipped to the aperture; overlapping types and origins joined. */
        ck_assert_int_eq(layout_build(&small, over, ELEMENTSOF(over), NULL, 0, NULL, 0, &l), 0);
        ck_assert_uint_eq(l.n_segments, 2);
        assert_segment(&l.segments[0], 0x1000, 0x17ff, SEGMENT_RESERVED, "msi", NULL);
        assert_segment(&l.segments[1], 0x1800, 0x1fff, SEGMENT_RESERVED, "reserved, msi", "policy, group 1");
        layout_clear(&l);
}
END_TEST

START_TEST(test_layout_bar_width) {
        /* Proportional to log2(size): 4 KiB is a quarter of 256 TiB. */
        ck_assert_uint_eq(layout_bar_width(0, 0xfff, 48, 40), 10);
        ck_assert_uint_eq(layout_bar_width(0, (UINT64_C(1) << 48) - 1, 48, 40), 40);
        ck_assert_uint_eq(layout_bar_width(0, 0x1fffff, 48, 48), 21);
        /* Never empty, never wider than the bar. */
        ck_assert_uint_eq(layout_bar_width(0, 0, 48, 40), 1);
        ck_assert_uint_eq(layout_bar_width(0, UINT64_MAX, 48, 40), 40);
        ck_assert_uint_eq(layout_bar_width(0, 0xfff, 0, 40), 40);
}
END_TEST

static char *print_layout(const Layout *l, const LayoutStyle *st) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(layout_print(l, f, st), 0);
        ck_assert_int_eq(fclose(f), 0);
        return buf;
}

START_TEST(test_layout_print) {
        LayoutStyle plain = { .columns = 100, .legend = true };
        LayoutStyle fancy = { .columns = 100, .color = true, .unicode = true, .legend = false };
        _cleanup_free_ char *a = NULL, *b = NULL;
        Layout l;

        ck_assert_int_eq(layout_build(&x86_aperture, x86_regions, ELEMENTSOF(x86_regions), x86_usable,
                                      ELEMENTSOF(x86_usable), x86_leases, ELEMENTSOF(x86_leases), &l), 0);
        a = print_layout(&l, &plain);
        b = print_layout(&l, &fancy);

        /* Header, then one line per segment; bars are ASCII and the largest gets the full width. */
        ck_assert_ptr_nonnull(strstr(a, "START               END                       SIZE  WHAT\n"));
        ck_assert_ptr_nonnull(strstr(a, "0x00000000fee00000  0x00000000feefffff       1 MiB  msi (group 5, group 7)  "));
        ck_assert_ptr_nonnull(strstr(a, "0x0000000000100000  0x0000000000100fff       4 KiB  lease 1 (IOVA only)  "));
        ck_assert_ptr_nonnull(strstr(a, "lease 2 (mapped)"));
        /* 100 columns less 80 for the text: the 254.9 TiB free range gets the full 20. */
        const char *big = strstr(a, "254.9 TiB");
        ck_assert_ptr_nonnull(big);
        ck_assert_ptr_nonnull(strstr(big, "  ....................\n"));
        ck_assert_ptr_null(strstr(big, ".....................\n"));
        ck_assert_ptr_null(strstr(a, "\033["));
        ck_assert_ptr_null(strstr(a, "\xe2\x96"));
        ck_assert_ptr_nonnull(strstr(a, "Aperture 0x0000000000000000-0x0000ffffffffffff (256 TiB)"));
        ck_assert_ptr_nonnull(strstr(a, "Leased 2.0 MiB in 3 leases, reserved 12.0 GiB, free 255.9 TiB."));
        ck_assert_ptr_nonnull(strstr(a, "X reserved region"));

        /* Every line fits the requested width. */
        for (const char *p = a, *nl; (nl = strchr(p, '\n')); p = nl + 1)
                ck_assert_msg(nl - p <= 100, "line too long: %.*s", (int) (nl - p), p);

        ck_assert_ptr_null(strstr(b, "START"));
        ck_assert_ptr_null(strstr(b, "Aperture"));
        ck_assert_ptr_nonnull(strstr(b, "\033[32m\xe2\x96\x88"));
        ck_assert_ptr_nonnull(strstr(b, "\033[0m\n"));
        layout_clear(&l);
}
END_TEST

START_TEST(test_layout_json) {
        IovaLease one[] = { { (char *) "/org/iovad1/lease/4", 0x2000, 0x1000, true } };
        IovaRegion msi[] = { { 0x1000, 0x1fff, (char *) "msi", (char *) "group 5" } };
        const IovaRange ap = { 0, 0x3fff }, usable[] = { { 0, 0xfff }, { 0x2000, 0x3fff } };
        json_object *j;
        Layout l;

        ck_assert_int_eq(layout_build(&ap, msi, 1, usable, 2, one, 1, &l), 0);
        j = layout_to_json(&l);
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                         "{\"aperture\":{\"start\":0,\"end\":16383,\"size\":16384},\"segments\":["
                         "{\"start\":0,\"end\":4095,\"size\":4096,\"kind\":\"free\"},"
                         "{\"start\":4096,\"end\":8191,\"size\":4096,\"kind\":\"reserved\",\"type\":\"msi\",\"origin\":\"group 5\"},"
                         "{\"start\":8192,\"end\":12287,\"size\":4096,\"kind\":\"lease\",\"lease\":\"/org/iovad1/lease/4\",\"mapped\":true},"
                         "{\"start\":12288,\"end\":16383,\"size\":4096,\"kind\":\"free\"}]}");
        json_object_put(j);
        layout_clear(&l);
}
END_TEST

START_TEST(test_lease_id) {
        ck_assert_str_eq(lease_id("/org/iovad1/lease/42"), "42");
        ck_assert_str_eq(lease_id("/"), "?");
        ck_assert_str_eq(lease_id(NULL), "?");
        ck_assert_str_eq(segment_kind_to_string(SEGMENT_RELAXABLE), "relaxable");
        ck_assert_ptr_null(segment_kind_to_string(_SEGMENT_KIND_MAX));
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("iovactl-format");
        TCase *parse = tcase_create("parse"), *format = tcase_create("format"), *table = tcase_create("table"),
              *layout = tcase_create("layout");

        tcase_add_test(parse, test_parse_size);
        tcase_add_test(parse, test_parse_u32);
        tcase_add_test(parse, test_pci_address);
        tcase_add_test(format, test_format_size);
        tcase_add_test(format, test_range_size);
        tcase_add_test(format, test_page_sizes);
        tcase_add_test(format, test_page_sizes_runs);
        tcase_add_test(format, test_utf8_width);
        tcase_add_test(table, test_table_print);
        tcase_add_test(table, test_table_json);
        tcase_add_test(table, test_table_empty);
        tcase_add_test(table, test_json_range);
        tcase_add_test(layout, test_layout_build);
        tcase_add_test(layout, test_layout_edges);
        tcase_add_test(layout, test_layout_bar_width);
        tcase_add_test(layout, test_layout_print);
        tcase_add_test(layout, test_layout_json);
        tcase_add_test(layout, test_lease_id);
        suite_add_tcase(s, parse);
        suite_add_tcase(s, format);
        suite_add_tcase(s, table);
        suite_add_tcase(s, layout);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
