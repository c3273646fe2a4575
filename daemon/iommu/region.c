/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "util/macro.h"
#include "iommu/region.h"

static const char *const region_type_table[_REGION_TYPE_MAX] = {
        [REGION_DIRECT] = "direct",
        [REGION_DIRECT_RELAXABLE] = "direct-relaxable",
        [REGION_RESERVED] = "reserved",
        [REGION_MSI] = "msi",
};

const char *region_type_to_string(RegionType t) {
        if (t < 0 || t >= _REGION_TYPE_MAX)
                return NULL;
        return region_type_table[t];
}

RegionType region_type_from_string(const char *s) {
        if (!s)
                return _REGION_TYPE_INVALID;
        for (RegionType t = 0; t < _REGION_TYPE_MAX; t++)
                if (strcmp(region_type_table[t], s) == 0)
                        return t;
        return _REGION_TYPE_INVALID;
}

/* Strict "0x" + 1..16 significant hex digits; advances *p past it. */
static int parse_hex_u64(const char **p, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;
        unsigned n = 0;

        if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
                return -EINVAL;
        s += 2;
        /* Skip leading zeros so the kernel's zero-padded form never counts against 16 digits. */
        while (*s == '0' && isxdigit((unsigned char) s[1]))
                s++;
        for (; isxdigit((unsigned char) *s); s++, n++) {
                if (n >= 16)
                        return -EINVAL;
                unsigned d = isdigit((unsigned char) *s) ? (unsigned) (*s - '0')
                                                         : (unsigned) (tolower((unsigned char) *s) - 'a' + 10);
                v = (v << 4) | d;
        }
        if (n == 0)
                return -EINVAL;
        *p = s;
        *ret = v;
        return 0;
}

static const char *skip_blank(const char *s) {
        while (*s == ' ' || *s == '\t')
                s++;
        return s;
}

int region_parse_line(const char *line, Region *ret) {
        const char *p = skip_blank(line);
        uint64_t start, end;
        char type[32];
        size_t n;
        int r;

        r = parse_hex_u64(&p, &start);
        if (r < 0)
                return r;
        if (*p != ' ' && *p != '\t')
                return -EINVAL;
        p = skip_blank(p);
        r = parse_hex_u64(&p, &end);
        if (r < 0)
                return r;
        if (*p != ' ' && *p != '\t')
                return -EINVAL;
        p = skip_blank(p);

        n = strcspn(p, " \t\r\n");
        if (n == 0 || n >= sizeof(type))
                return -EINVAL;
        memcpy(type, p, n);
        type[n] = 0;
        p += n;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                p++;
        if (*p != 0)
                return -EINVAL;

        RegionType t = region_type_from_string(type);
        if (t == _REGION_TYPE_INVALID || start > end)
                return -EINVAL;

        *ret = (Region) { .start = start, .end = end, .type = t };
        return 0;
}

static int region_list_reserve(RegionList *l, size_t extra) {
        if (l->n + extra <= l->allocated)
                return 0;
        size_t a = l->allocated ? l->allocated * 2 : 8;
        while (a < l->n + extra)
                a *= 2;
        Region *items = reallocarray(l->items, a, sizeof(Region));
        if (!items)
                return -ENOMEM;
        l->items = items;
        l->allocated = a;
        return 0;
}

static void set_origin(Region *r, const char *origin) {
        r->origin[0] = 0;
        if (origin)
                snprintf(r->origin, sizeof(r->origin), "%s", origin);
}

int region_list_add(RegionList *l, uint64_t start, uint64_t end, RegionType type, const char *origin) {
        if (start > end || type < 0 || type >= _REGION_TYPE_MAX)
                return -EINVAL;
        if (region_list_reserve(l, 1) < 0)
                return -ENOMEM;
        Region *r = &l->items[l->n++];
        *r = (Region) { .start = start, .end = end, .type = type };
        set_origin(r, origin);
        return 0;
}

int region_list_append_list(RegionList *l, const RegionList *other) {
        if (other->n == 0)
                return 0;
        if (region_list_reserve(l, other->n) < 0)
                return -ENOMEM;
        memcpy(l->items + l->n, other->items, other->n * sizeof(Region));
        l->n += other->n;
        return 0;
}

void region_list_remove_origin(RegionList *l, const char *origin) {
        size_t j = 0;
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->items[i].origin, origin) != 0)
                        l->items[j++] = l->items[i];
        l->n = j;
}

int region_list_parse(RegionList *l, const char *text, const char *origin, unsigned *ret_line) {
        size_t old_n = l->n;
        unsigned lineno = 0;
        const char *p = text;

        while (*p) {
                const char *eol = strchrnul(p, '\n');
                size_t len = (size_t) (eol - p);
                char buf[128];
                Region reg;

                lineno++;
                if (strspn(p, " \t\r") >= len)
                        goto next; /* blank */
                if (len >= sizeof(buf))
                        goto fail;
                memcpy(buf, p, len);
                buf[len] = 0;
                if (region_parse_line(buf, &reg) < 0)
                        goto fail;
                if (region_list_add(l, reg.start, reg.end, reg.type, origin) < 0) {
                        l->n = old_n;
                        return -ENOMEM;
                }
        next:
                p = *eol ? eol + 1 : eol;
        }
        return 0;

fail:
        l->n = old_n;
        if (ret_line)
                *ret_line = lineno;
        return -EINVAL;
}

static int region_cmp(const void *a, const void *b) {
        const Region *x = a, *y = b;

        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        if (x->end != y->end)
                return x->end < y->end ? -1 : 1;
        if (x->type != y->type)
                return x->type < y->type ? -1 : 1;
        return strcmp(x->origin, y->origin);
}

void region_list_normalize(RegionList *l) {
        if (l->n == 0)
                return;
        qsort(l->items, l->n, sizeof(Region), region_cmp);

        /*
         * After sorting, a region that merges with an earlier one of the same
         * type and origin may sit behind regions of other kinds, so look back
         * through the kept regions, newest first: since starts are sorted, the
         * newest one of the same kind is the only one it can touch. Lists are
         * short (a handful of regions per group), so this stays cheap.
         */
        size_t j = 0;
        for (size_t i = 0; i < l->n; i++) {
                Region *cur = &l->items[i];
                bool merged = false;

                for (size_t k = j; k > 0; k--) {
                        Region *prev = &l->items[k - 1];
                        if (prev->type != cur->type || strcmp(prev->origin, cur->origin) != 0)
                                continue;
                        /* Touching counts: [a, b] and [b + 1, c] become [a, c]. */
                        if (prev->end != UINT64_MAX && prev->end + 1 < cur->start)
                                break;
                        if (cur->end > prev->end)
                                prev->end = cur->end;
                        merged = true;
                        break;
                }
                if (!merged)
                        l->items[j++] = *cur;
        }
        l->n = j;
        /* Merging can only grow ends; re-sort to keep (start, end) order. */
        qsort(l->items, l->n, sizeof(Region), region_cmp);
}

void region_list_clear(RegionList *l) {
        free(l->items);
        *l = (RegionList) {};
}

void range_list_clear(RangeList *l) {
        free(l->items);
        *l = (RangeList) {};
}

int range_list_add(RangeList *l, uint64_t start, uint64_t end) {
        if (start > end)
                return -EINVAL;
        if (l->n == l->allocated) {
                size_t a = l->allocated ? l->allocated * 2 : 8;
                Range *items = reallocarray(l->items, a, sizeof(Range));
                if (!items)
                        return -ENOMEM;
                l->items = items;
                l->allocated = a;
        }
        l->items[l->n++] = (Range) { start, end };
        return 0;
}

int range_list_copy(RangeList *dst, const RangeList *src) {
        RangeList t = {};

        for (size_t i = 0; i < src->n; i++)
                if (range_list_add(&t, src->items[i].start, src->items[i].end) < 0) {
                        range_list_clear(&t);
                        return -ENOMEM;
                }
        range_list_clear(dst);
        *dst = t;
        return 0;
}

bool range_list_equal(const RangeList *a, const RangeList *b) {
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (a->items[i].start != b->items[i].start || a->items[i].end != b->items[i].end)
                        return false;
        return true;
}

static int range_start_cmp(const void *a, const void *b) {
        const Range *x = a, *y = b;

        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        if (x->end != y->end)
                return x->end < y->end ? -1 : 1;
        return 0;
}

/* Shrink [s, e] to page alignment; false if nothing is left. */
static bool range_align(uint64_t s, uint64_t e, uint64_t page, Range *ret) {
        uint64_t as, ae;

        if (!align_up_u64(s, page, &as))
                return false;
        if (e == UINT64_MAX)
                ae = UINT64_MAX; /* 2^64 is aligned to every page size */
        else {
                uint64_t lim = align_down_u64(e + 1, page);
                if (lim == 0)
                        return false;
                ae = lim - 1;
        }
        if (as > ae)
                return false;
        *ret = (Range) { as, ae };
        return true;
}

int range_list_usable(const Range *aperture, const RegionList *regions, uint64_t min_page, RangeList *ret) {
        _cleanup_free_ Range *holes = NULL;
        RangeList out = {};
        size_t n = 0;

        if (!is_pow2_u64(min_page) || aperture->start > aperture->end)
                return -EINVAL;

        holes = reallocarray(NULL, regions->n ? regions->n : 1, sizeof(Range));
        if (!holes)
                return -ENOMEM;
        for (size_t i = 0; i < regions->n; i++)
                if (regions->items[i].type != REGION_DIRECT_RELAXABLE)
                        holes[n++] = (Range) { regions->items[i].start, regions->items[i].end };
        qsort(holes, n, sizeof(Range), range_start_cmp);

        /* Sweep from the aperture's start; "cur" is the first byte not yet decided. */
        uint64_t cur = aperture->start;
        bool done = false;
        for (size_t i = 0; i < n && !done; i++) {
                Range h = holes[i];
                Range a;

                if (h.end < cur)
                        continue;
                if (h.start > aperture->end)
                        break;
                if (h.start > cur && range_align(cur, h.start - 1, min_page, &a))
                        if (range_list_add(&out, a.start, a.end) < 0)
                                goto oom;
                if (h.end >= aperture->end)
                        done = true;
                else
                        cur = h.end + 1;
        }
        if (!done) {
                Range a;
                if (range_align(cur, aperture->end, min_page, &a))
                        if (range_list_add(&out, a.start, a.end) < 0)
                                goto oom;
        }

        range_list_clear(ret);
        *ret = out;
        return 0;
oom:
        range_list_clear(&out);
        return -ENOMEM;
}

int range_list_intersect(const RangeList *a, const RangeList *b, RangeList *ret) {
        RangeList out = {};
        size_t i = 0, j = 0;

        while (i < a->n && j < b->n) {
                const Range *x = &a->items[i], *y = &b->items[j];
                uint64_t s = x->start > y->start ? x->start : y->start;
                uint64_t e = x->end < y->end ? x->end : y->end;

                if (s <= e && range_list_add(&out, s, e) < 0) {
                        range_list_clear(&out);
                        return -ENOMEM;
                }
                if (x->end < y->end)
                        i++;
                else
                        j++;
        }
        range_list_clear(ret);
        *ret = out;
        return 0;
}

bool range_list_contains(const RangeList *l, uint64_t start, uint64_t end) {
        size_t lo = 0, hi = l->n;

        if (start > end)
                return false;
        /* Last range whose start <= start. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (l->items[mid].start <= start)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == 0)
                return false;
        return l->items[lo - 1].end >= end;
}

ssize_t region_list_find_overlap(const RegionList *l, uint64_t start, uint64_t end, bool include_relaxable) {
        for (size_t i = 0; i < l->n; i++) {
                const Region *r = &l->items[i];
                if (!include_relaxable && r->type == REGION_DIRECT_RELAXABLE)
                        continue;
                if (r->start <= end && start <= r->end)
                        return (ssize_t) i;
        }
        return -1;
}

ssize_t region_find_conflicts(const RegionList *regions, const Range *live, size_t n_live, RegionConflict **ret) {
        _cleanup_free_ RegionConflict *out = NULL;
        size_t n = 0, allocated = 0;

        for (size_t i = 0; i < regions->n; i++) {
                const Region *r = &regions->items[i];
                size_t lo = 0, hi = n_live;

                if (r->type == REGION_DIRECT_RELAXABLE)
                        continue;
                /* Live ranges are sorted and disjoint, so their ends are sorted too. */
                while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;
                        if (live[mid].end < r->start)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                for (size_t k = lo; k < n_live && live[k].start <= r->end; k++) {
                        if (ret) {
                                if (n == allocated) {
                                        size_t a = allocated ? allocated * 2 : 8;
                                        RegionConflict *t = reallocarray(out, a, sizeof(*out));
                                        if (!t)
                                                return -ENOMEM;
                                        out = t;
                                        allocated = a;
                                }
                                out[n] = (RegionConflict) { .region = i, .range = k };
                        }
                        n++;
                }
        }
        if (ret)
                *ret = TAKE_PTR(out);
        return (ssize_t) n;
}

char *region_list_format(const RegionList *l) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        for (size_t i = 0; i < l->n; i++)
                fprintf(f, "0x%016" PRIx64 " 0x%016" PRIx64 " %s\n", l->items[i].start, l->items[i].end,
                        region_type_to_string(l->items[i].type));
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}
