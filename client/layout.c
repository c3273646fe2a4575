/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "layout.h"
#include "util/macro.h"

void iova_regions_free(IovaRegion *r, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(r[i].type);
                free(r[i].origin);
        }
        free(r);
}

void iova_leases_free(IovaLease *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(l[i].object);
        free(l);
}

const char *lease_id(const char *object) {
        const char *slash = object ? strrchr(object, '/') : NULL;

        return slash && slash[1] ? slash + 1 : "?";
}

static const char *const segment_kind_table[_SEGMENT_KIND_MAX] = {
        [SEGMENT_FREE] = "free",
        [SEGMENT_LEASE] = "lease",
        [SEGMENT_RESERVED] = "reserved",
        [SEGMENT_RELAXABLE] = "relaxable",
        [SEGMENT_UNUSABLE] = "unusable",
};

const char *segment_kind_to_string(SegmentKind k) {
        if (k < 0 || k >= _SEGMENT_KIND_MAX)
                return NULL;
        return segment_kind_table[k];
}

void layout_clear(Layout *l) {
        for (size_t i = 0; i < l->n_segments; i++) {
                free(l->segments[i].type);
                free(l->segments[i].origin);
        }
        free(l->segments);
        *l = (Layout) {};
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static int cmp_lease(const void *a, const void *b) {
        const IovaLease *x = *(const IovaLease *const *) a, *y = *(const IovaLease *const *) b;

        return x->iova < y->iova ? -1 : x->iova > y->iova;
}

static bool lease_last(const IovaLease *l, uint64_t *ret) {
        if (l->size == 0)
                return false;
        /* A lease that wraps is a daemon bug; clip it at the top instead of dropping it. */
        *ret = l->iova + (l->size - 1) < l->iova ? UINT64_MAX : l->iova + (l->size - 1);
        return true;
}

/* Adds the part of [s, e] inside the aperture as cut points. */
static void add_cuts(uint64_t *cuts, size_t *n, const IovaRange *ap, uint64_t s, uint64_t e) {
        if (s > e || e < ap->start || s > ap->end)
                return;
        if (s < ap->start)
                s = ap->start;
        if (e > ap->end)
                e = ap->end;
        cuts[(*n)++] = s;
        if (e < ap->end)
                cuts[(*n)++] = e + 1;
}

/* Appends s to a ", "-joined list unless it is already in it. */
static int join_unique(char **list, const char *s) {
        char *n;

        if (!s || !*s)
                return 0;
        if (*list) {
                size_t len = strlen(s);
                for (const char *p = *list; p; p = strstr(p, ", ") ? strstr(p, ", ") + 2 : NULL)
                        if (strncmp(p, s, len) == 0 && (p[len] == 0 || p[len] == ','))
                                return 0;
                if (asprintf(&n, "%s, %s", *list, s) < 0)
                        return -ENOMEM;
        } else {
                n = strdup(s);
                if (!n)
                        return -ENOMEM;
        }
        free(*list);
        *list = n;
        return 0;
}

static const IovaLease *find_lease(const IovaLease *const *sorted, size_t n, uint64_t a) {
        size_t lo = 0, hi = n;
        uint64_t last;

        /* The last lease starting at or below a. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (sorted[mid]->iova <= a)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == 0 || !lease_last(sorted[lo - 1], &last) || last < a)
                return NULL;
        return sorted[lo - 1];
}

static bool str_eq(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int classify(uint64_t a,
                    const IovaRegion *regions, size_t n_regions,
                    const IovaRange *usable, size_t n_usable,
                    const IovaLease *const *leases, size_t n_leases,
                    Segment *ret) {
        Segment s = { .kind = SEGMENT_UNUSABLE };
        bool relaxable = false;
        int r;

        s.lease = find_lease(leases, n_leases, a);
        if (s.lease) {
                s.kind = SEGMENT_LEASE;
                *ret = s;
                return 0;
        }

        /* Two passes: a hard reserved region hides any relaxable one below it. */
        for (int pass = 0; pass < 2 && !s.type; pass++)
                for (size_t i = 0; i < n_regions; i++) {
                        const IovaRegion *g = &regions[i];
                        bool is_relaxable = g->type && strcmp(g->type, "direct-relaxable") == 0;

                        if (a < g->start || a > g->end || is_relaxable != (pass == 1))
                                continue;
                        relaxable = is_relaxable;
                        r = join_unique(&s.type, g->type ? g->type : "reserved");
                        if (r >= 0)
                                r = join_unique(&s.origin, g->origin);
                        if (r < 0)
                                goto fail;
                }
        if (s.type) {
                s.kind = relaxable ? SEGMENT_RELAXABLE : SEGMENT_RESERVED;
                *ret = s;
                return 0;
        }

        for (size_t i = 0; i < n_usable; i++)
                if (a >= usable[i].start && a <= usable[i].end) {
                        s.kind = SEGMENT_FREE;
                        break;
                }
        *ret = s;
        return 0;

fail:
        free(s.type);
        free(s.origin);
        return -ENOMEM;
}

int layout_build(const IovaRange *aperture,
                 const IovaRegion *regions, size_t n_regions,
                 const IovaRange *usable, size_t n_usable,
                 const IovaLease *leases, size_t n_leases,
                 Layout *ret) {
        _cleanup_free_ uint64_t *cuts = NULL;
        _cleanup_free_ const IovaLease **sorted = NULL;
        Layout l = { .aperture = *aperture };
        size_t n_cuts = 0, allocated = 0;
        int r;

        if (aperture->start > aperture->end)
                return -EINVAL;

        cuts = reallocarray(NULL, 1 + 2 * (n_regions + n_usable + n_leases), sizeof(uint64_t));
        sorted = reallocarray(NULL, n_leases ? n_leases : 1, sizeof(IovaLease *));
        if (!cuts || !sorted)
                return -ENOMEM;

        cuts[n_cuts++] = aperture->start;
        for (size_t i = 0; i < n_regions; i++)
                add_cuts(cuts, &n_cuts, aperture, regions[i].start, regions[i].end);
        for (size_t i = 0; i < n_usable; i++)
                add_cuts(cuts, &n_cuts, aperture, usable[i].start, usable[i].end);
        size_t n_sorted = 0;
        for (size_t i = 0; i < n_leases; i++) {
                uint64_t last;
                if (!lease_last(&leases[i], &last))
                        continue;
                add_cuts(cuts, &n_cuts, aperture, leases[i].iova, last);
                sorted[n_sorted++] = &leases[i];
        }
        qsort(cuts, n_cuts, sizeof(uint64_t), cmp_u64);
        qsort(sorted, n_sorted, sizeof(IovaLease *), cmp_lease);

        for (size_t i = 0; i < n_cuts; i++) {
                Segment s;

                if (i > 0 && cuts[i] == cuts[i - 1])
                        continue;
                size_t next = i + 1;
                while (next < n_cuts && cuts[next] == cuts[i])
                        next++;
                uint64_t end = next < n_cuts ? cuts[next] - 1 : aperture->end;

                r = classify(cuts[i], regions, n_regions, usable, n_usable, sorted, n_sorted, &s);
                if (r < 0)
                        goto fail;
                s.start = cuts[i];
                s.end = end;

                Segment *prev = l.n_segments > 0 ? &l.segments[l.n_segments - 1] : NULL;
                if (prev && prev->kind == s.kind && prev->lease == s.lease &&
                    str_eq(prev->type, s.type) && str_eq(prev->origin, s.origin)) {
                        prev->end = s.end;
                        free(s.type);
                        free(s.origin);
                        continue;
                }
                if (l.n_segments == allocated) {
                        size_t a = allocated ? allocated * 2 : 16;
                        Segment *t = reallocarray(l.segments, a, sizeof(Segment));
                        if (!t) {
                                free(s.type);
                                free(s.origin);
                                r = -ENOMEM;
                                goto fail;
                        }
                        l.segments = t;
                        allocated = a;
                }
                l.segments[l.n_segments++] = s;
        }

        *ret = l;
        return 0;
fail:
        layout_clear(&l);
        return r;
}

static double segment_log2(uint64_t start, uint64_t end) {
        return log2((double) (end - start) + 1.0);
}

unsigned layout_bar_width(uint64_t start, uint64_t end, double max_log2, unsigned width) {
        double w;

        if (max_log2 < 1.0)
                max_log2 = 1.0;
        w = round(segment_log2(start, end) / max_log2 * width);
        if (w < 1.0)
                return 1;
        if (w > width)
                return width;
        return (unsigned) w;
}

typedef struct Glyph {
        const char *unicode, *ascii, *color;
} Glyph;

static const Glyph glyphs[_SEGMENT_KIND_MAX] = {
        [SEGMENT_FREE] = { "░", ".", "\033[34m" },
        [SEGMENT_LEASE] = { "█", "#", "\033[32m" },
        [SEGMENT_RESERVED] = { "▓", "X", "\033[31m" },
        [SEGMENT_RELAXABLE] = { "▒", "x", "\033[33m" },
        [SEGMENT_UNUSABLE] = { "·", "~", "\033[90m" },
};

#define COLOR_RESET "\033[0m"

static void put_bar(FILE *f, SegmentKind k, unsigned n, const LayoutStyle *st) {
        const Glyph *g = &glyphs[k];

        if (st->color)
                fputs(g->color, f);
        for (unsigned i = 0; i < n; i++)
                fputs(st->unicode ? g->unicode : g->ascii, f);
        if (st->color)
                fputs(COLOR_RESET, f);
}

static char *segment_label(const Segment *s) {
        char *label = NULL;
        int r = -EINVAL;

        switch (s->kind) {
        case SEGMENT_LEASE:
                r = asprintf(&label, "lease %s (%s)", lease_id(s->lease->object),
                             s->lease->mapped ? "mapped" : "IOVA only");
                break;
        case SEGMENT_RESERVED:
        case SEGMENT_RELAXABLE:
                if (s->origin)
                        r = asprintf(&label, "%s (%s)", s->type, s->origin);
                else
                        r = asprintf(&label, "%s", s->type);
                break;
        case SEGMENT_FREE:
        case SEGMENT_UNUSABLE:
                r = asprintf(&label, "%s", segment_kind_to_string(s->kind));
                break;
        case _SEGMENT_KIND_MAX:
                assert(!"bad segment kind");
                return NULL;
        }
        return r < 0 ? NULL : label;
}

static const char *format_sum(char buf[static FORMAT_SIZE_MAX], unsigned __int128 v) {
        /* Segments never add up to more than the aperture, at most 2^64. */
        if (v > UINT64_MAX)
                snprintf(buf, FORMAT_SIZE_MAX, "16 EiB");
        else
                format_size(buf, (uint64_t) v);
        return buf;
}

static void print_legend(const Layout *l, FILE *f, const LayoutStyle *st) {
        static const char *const names[_SEGMENT_KIND_MAX] = {
                [SEGMENT_LEASE] = "lease",
                [SEGMENT_RESERVED] = "reserved region",
                [SEGMENT_RELAXABLE] = "direct-relaxable region (usable)",
                [SEGMENT_FREE] = "free",
                [SEGMENT_UNUSABLE] = "not usable",
        };
        static const SegmentKind order[] = {
                SEGMENT_LEASE, SEGMENT_RESERVED, SEGMENT_RELAXABLE, SEGMENT_FREE, SEGMENT_UNUSABLE,
        };
        unsigned __int128 sum[_SEGMENT_KIND_MAX] = {};
        char a[FORMAT_SIZE_MAX], b[FORMAT_SIZE_MAX], c[FORMAT_SIZE_MAX], d[FORMAT_SIZE_MAX];
        const IovaLease *prev = NULL;
        size_t n_leases = 0;

        for (size_t i = 0; i < l->n_segments; i++) {
                const Segment *s = &l->segments[i];

                sum[s->kind] += (unsigned __int128) (s->end - s->start) + 1;
                if (s->kind == SEGMENT_LEASE && s->lease != prev)
                        n_leases++;
                prev = s->kind == SEGMENT_LEASE ? s->lease : NULL;
        }

        fprintf(f, "\nAperture 0x%016" PRIx64 "-0x%016" PRIx64 " (%s); bar length grows with log2(size).\n",
                l->aperture.start, l->aperture.end, format_range_size(a, l->aperture.start, l->aperture.end));
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                fputs(i > 0 ? "  " : "", f);
                put_bar(f, order[i], 1, st);
                fprintf(f, " %s", names[order[i]]);
        }
        fprintf(f, "\nLeased %s in %zu lease%s, reserved %s, free %s. Only leases visible to you are shown.\n",
                format_sum(b, sum[SEGMENT_LEASE]), n_leases, n_leases == 1 ? "" : "s",
                format_sum(c, sum[SEGMENT_RESERVED]), format_sum(d, sum[SEGMENT_FREE]));
}

int layout_print(const Layout *l, FILE *f, const LayoutStyle *st) {
        char **labels;
        size_t label_w = 4, size_w = 4;
        double max_log2 = 0;
        int r = 0;

        labels = calloc(l->n_segments ? l->n_segments : 1, sizeof(char *));
        if (!labels)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_segments; i++) {
                const Segment *s = &l->segments[i];
                char sz[FORMAT_SIZE_MAX];

                labels[i] = segment_label(s);
                if (!labels[i]) {
                        r = -ENOMEM;
                        goto finish;
                }
                if (utf8_width(labels[i]) > label_w)
                        label_w = utf8_width(labels[i]);
                if (strlen(format_range_size(sz, s->start, s->end)) > size_w)
                        size_w = strlen(sz);
                if (segment_log2(s->start, s->end) > max_log2)
                        max_log2 = segment_log2(s->start, s->end);
        }

        /* START END SIZE WHAT BAR, two blanks between columns; the bar takes what is left. */
        size_t fixed = 18 + 2 + 18 + 2 + size_w + 2 + label_w + 2;
        unsigned bar_w = st->columns > fixed + 16 ? (unsigned) (st->columns - fixed) : 16;
        if (bar_w > 64)
                bar_w = 64;

        if (st->legend)
                fprintf(f, "%-18s  %-18s  %*s  %s\n", "START", "END", (int) size_w, "SIZE", "WHAT");
        for (size_t i = 0; i < l->n_segments; i++) {
                const Segment *s = &l->segments[i];
                char sz[FORMAT_SIZE_MAX];
                size_t pad = label_w - utf8_width(labels[i]);

                fprintf(f, "0x%016" PRIx64 "  0x%016" PRIx64 "  %*s  %s%*s  ",
                        s->start, s->end, (int) size_w, format_range_size(sz, s->start, s->end),
                        labels[i], (int) pad, "");
                put_bar(f, s->kind, layout_bar_width(s->start, s->end, max_log2, bar_w), st);
                fputc('\n', f);
        }
        if (st->legend)
                print_legend(l, f, st);
        if (ferror(f))
                r = -EIO;

finish:
        for (size_t i = 0; i < l->n_segments; i++)
                free(labels[i]);
        free(labels);
        return r;
}

json_object *layout_to_json(const Layout *l) {
        json_object *root = json_object_new_object(), *segments = json_object_new_array();

        if (!root || !segments)
                goto oom;
        if (json_add(root, "aperture", json_range(l->aperture.start, l->aperture.end)) < 0)
                goto oom;
        if (json_add(root, "segments", json_object_get(segments)) < 0)
                goto oom;

        for (size_t i = 0; i < l->n_segments; i++) {
                const Segment *s = &l->segments[i];
                json_object *o = json_range(s->start, s->end);

                if (!o || json_object_array_add(segments, o) < 0) {
                        json_object_put(o);
                        goto oom;
                }
                if (json_add(o, "kind", json_object_new_string(segment_kind_to_string(s->kind))) < 0)
                        goto oom;
                if (s->kind == SEGMENT_LEASE) {
                        if (json_add(o, "lease", json_object_new_string(s->lease->object)) < 0 ||
                            json_add(o, "mapped", json_object_new_boolean(s->lease->mapped)) < 0)
                                goto oom;
                }
                if (s->type && json_add(o, "type", json_object_new_string(s->type)) < 0)
                        goto oom;
                if (s->origin && json_add(o, "origin", json_object_new_string(s->origin)) < 0)
                        goto oom;
        }
        json_object_put(segments);
        return root;
oom:
        json_object_put(segments);
        json_object_put(root);
        return NULL;
}
