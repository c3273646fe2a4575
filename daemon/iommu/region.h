/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Reserved-region algebra: the kernel's reserved_regions format, unions of
 * regions across groups, usable ranges and conflict detection.
 *
 * All ranges are [start, end] with an *inclusive* end, so the whole 64-bit
 * space is representable and nothing here ever computes end + 1 without a
 * check. Pure module: no logging, negative errno on failure.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum RegionType {
        REGION_DIRECT,
        REGION_DIRECT_RELAXABLE,
        REGION_RESERVED,
        REGION_MSI,
        _REGION_TYPE_MAX,
        _REGION_TYPE_INVALID = -1,
} RegionType;

#define REGION_ORIGIN_MAX 32

typedef struct Range {
        uint64_t start;
        uint64_t end; /* inclusive */
} Range;

typedef struct Region {
        uint64_t start;
        uint64_t end; /* inclusive */
        RegionType type;
        char origin[REGION_ORIGIN_MAX]; /* "group 5", "policy", ... */
} Region;

typedef struct RegionList {
        Region *items;
        size_t n;
        size_t allocated;
} RegionList;

typedef struct RangeList {
        Range *items;
        size_t n;
        size_t allocated;
} RangeList;

/* One conflict: regions->items[region] overlaps live[range]. */
typedef struct RegionConflict {
        size_t region;
        size_t range;
} RegionConflict;

const char *region_type_to_string(RegionType t);
/* Returns _REGION_TYPE_INVALID for anything but the four kernel names. */
RegionType region_type_from_string(const char *s);

/**
 * region_parse_line() - parse one "0x%016llx 0x%016llx TYPE" line.
 * Leading/trailing white space is ignored. Returns -EINVAL for anything
 * malformed: missing fields, non-hex numbers, numbers over 64 bits,
 * start > end, an unknown type or trailing garbage. The origin is left empty.
 */
int region_parse_line(const char *line, Region *ret);

/**
 * region_list_parse() - append every region of a reserved_regions file.
 * @origin: stored in each region (truncated to REGION_ORIGIN_MAX - 1).
 * @ret_line: on -EINVAL, the 1-based number of the offending line.
 * Blank lines are skipped; repeated and overlapping lines are kept (see
 * region_list_normalize()). On error the list is left as it was.
 */
int region_list_parse(RegionList *l, const char *text, const char *origin, unsigned *ret_line);

/* Append one region; -EINVAL if start > end or the type is invalid. */
int region_list_add(RegionList *l, uint64_t start, uint64_t end, RegionType type, const char *origin);
int region_list_append_list(RegionList *l, const RegionList *other);
/* Remove every region of one origin. */
void region_list_remove_origin(RegionList *l, const char *origin);

/**
 * region_list_normalize() - sort by (start, end, type, origin) and merge
 * regions of the same type and origin that overlap or touch, which also
 * drops repeated lines. Regions of different type or origin stay apart so
 * each hole keeps why it is there.
 */
void region_list_normalize(RegionList *l);

void region_list_clear(RegionList *l);
void range_list_clear(RangeList *l);
int range_list_add(RangeList *l, uint64_t start, uint64_t end);
int range_list_copy(RangeList *dst, const RangeList *src);
bool range_list_equal(const RangeList *a, const RangeList *b);

/**
 * range_list_usable() - usable IOVA ranges.
 * aperture minus every region except REGION_DIRECT_RELAXABLE (the type1
 * rule), each result then shrunk to @min_page alignment (a power of two;
 * ranges left empty are dropped). @ret is replaced.
 */
int range_list_usable(const Range *aperture, const RegionList *regions, uint64_t min_page, RangeList *ret);

/* @ret = a ∩ b. Both inputs must be sorted and non-overlapping. */
int range_list_intersect(const RangeList *a, const RangeList *b, RangeList *ret);

/* True if [start, end] lies inside one range of a sorted list. */
bool range_list_contains(const RangeList *l, uint64_t start, uint64_t end);

/* Index of the first region (in list order) that overlaps [start, end], or -1. */
ssize_t region_list_find_overlap(const RegionList *l, uint64_t start, uint64_t end, bool include_relaxable);

/**
 * region_find_conflicts() - which live ranges would @regions hit.
 * @live must be sorted by start and non-overlapping (leases are).
 * direct-relaxable regions never conflict (the kernel ignores them).
 * Returns the number of conflicts (>= 0) and, if @ret is not NULL, a newly
 * allocated array of them ordered by region then range.
 */
ssize_t region_find_conflicts(const RegionList *regions, const Range *live, size_t n_live, RegionConflict **ret);

/* Format "0x%016llx 0x%016llx type" lines, as the kernel prints them. */
char *region_list_format(const RegionList *l);
