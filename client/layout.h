/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The picture behind "iovactl layout": a container's aperture cut into
 * segments (leases, reserved holes with their type and origin, free
 * space) and drawn one line per segment with a bar on a log scale, so a
 * 4 KiB lease and a 256 TiB aperture both show. Pure: no sd-bus.
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What the daemon reports, as iovactl reads it off the bus. */
typedef struct IovaRange {
        uint64_t start, end; /* inclusive */
} IovaRange;

typedef struct IovaRegion {
        uint64_t start, end; /* inclusive */
        char *type;          /* "msi", "reserved", "direct", "direct-relaxable" */
        char *origin;        /* "group 5", "policy"; may be NULL */
} IovaRegion;

typedef struct IovaLease {
        char *object;
        uint64_t iova, size;
        bool mapped;
} IovaLease;

void iova_regions_free(IovaRegion *r, size_t n);
void iova_leases_free(IovaLease *l, size_t n);

/* The last component of a lease's object path, its id; "?" if none. */
const char *lease_id(const char *object);

typedef enum SegmentKind {
        SEGMENT_FREE,      /* usable, not leased by any lease the caller sees */
        SEGMENT_LEASE,
        SEGMENT_RESERVED,  /* a reserved region: msi, reserved, direct */
        SEGMENT_RELAXABLE, /* direct-relaxable: reported, yet usable */
        SEGMENT_UNUSABLE,  /* neither usable nor explained by a region */
        _SEGMENT_KIND_MAX,
} SegmentKind;

const char *segment_kind_to_string(SegmentKind k);

typedef struct Segment {
        uint64_t start, end; /* inclusive */
        SegmentKind kind;
        const IovaLease *lease; /* SEGMENT_LEASE: points into the caller's array */
        char *type;             /* SEGMENT_RESERVED, SEGMENT_RELAXABLE */
        char *origin;           /* same; origins of overlapping regions joined by ", " */
} Segment;

typedef struct Layout {
        IovaRange aperture;
        Segment *segments;
        size_t n_segments;
} Layout;

/**
 * layout_build() - cut an aperture into segments
 * @aperture: the container's aperture.
 * @regions: reserved regions, in any order, possibly overlapping.
 * @usable: usable ranges, in any order.
 * @leases: leases, in any order; must stay valid while @ret is used.
 * @ret: the segments, in address order, covering the whole aperture, with
 *       neighbours of the same kind and label merged.
 *
 * Leases take precedence over reserved regions (an overlap would be a
 * daemon bug, and the lease is what the user asked about), reserved ones
 * over direct-relaxable ones, those over free space. Everything is
 * clipped to the aperture.
 *
 * Return: 0, -EINVAL if the aperture is empty, -ENOMEM.
 */
int layout_build(const IovaRange *aperture,
                 const IovaRegion *regions, size_t n_regions,
                 const IovaRange *usable, size_t n_usable,
                 const IovaLease *leases, size_t n_leases,
                 Layout *ret);
void layout_clear(Layout *l);

typedef struct LayoutStyle {
        unsigned columns; /* terminal width */
        bool color;       /* ANSI colours */
        bool unicode;     /* block characters instead of ASCII */
        bool legend;      /* header line and key below */
} LayoutStyle;

/**
 * layout_bar_width() - bar length for a segment
 * @start: first byte.
 * @end: last byte.
 * @max_log2: log2 of the largest segment's size, which gets @width.
 * @width: full bar width.
 *
 * Proportional to log2(size), at least 1.
 */
unsigned layout_bar_width(uint64_t start, uint64_t end, double max_log2, unsigned width);

/* 0, -ENOMEM or -EIO. */
int layout_print(const Layout *l, FILE *f, const LayoutStyle *style);

/* { "aperture": {...}, "segments": [...] }; NULL on OOM. */
json_object *layout_to_json(const Layout *l);
