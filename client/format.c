/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "format.h"
#include "util/macro.h"

static int hex_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char) tolower((unsigned char) c);
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

static int parse_decimal_prefix(const char **p, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        for (; isdigit((unsigned char) *s); s++) {
                unsigned d = (unsigned) (*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return 0;
}

int parse_u64(const char *s, uint64_t *ret) {
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_decimal_prefix(&s, &v);
        if (r < 0)
                return r;
        if (*s != 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_u32(const char *s, uint32_t *ret) {
        uint64_t v;
        int r;

        r = parse_u64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        static const char units[] = "KMGTPE";
        uint64_t v = 0;
        int r;

        if (!s)
                return -EINVAL;

        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                const char *p = s + 2;

                if (*p == 0)
                        return -EINVAL;
                for (; *p; p++) {
                        int d = hex_digit(*p);
                        if (d < 0)
                                return -EINVAL;
                        if (v > (UINT64_MAX >> 4))
                                return -ERANGE;
                        v = (v << 4) | (uint64_t) d;
                }
                *ret = v;
                return 0;
        }

        r = parse_decimal_prefix(&s, &v);
        if (r < 0)
                return r;

        if (*s == 0 || strcasecmp(s, "B") == 0) {
                *ret = v;
                return 0;
        }

        const char *u = strchr(units, toupper((unsigned char) *s));
        if (!u || *u == 0)
                return -EINVAL;
        s++;
        /* "K", "KB" and "KiB" all mean 1024: sizes here are IOMMU page multiples. */
        if (*s != 0 && strcasecmp(s, "B") != 0 && strcasecmp(s, "iB") != 0)
                return -EINVAL;

        unsigned shift = 10 * (unsigned) (u - units + 1);
        if (v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = v << shift;
        return 0;
}

static const char *const size_units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };

const char *format_size(char buf[static FORMAT_SIZE_MAX], uint64_t bytes) {
        unsigned i = 0;

        while (i + 1 < ELEMENTSOF(size_units) && bytes >> (10 * (i + 1)) != 0)
                i++;

        if (i == 0) {
                snprintf(buf, FORMAT_SIZE_MAX, "%" PRIu64 " B", bytes);
                return buf;
        }

        uint64_t unit = UINT64_C(1) << (10 * i);
        uint64_t whole = bytes / unit, rem = bytes % unit;
        if (rem == 0)
                snprintf(buf, FORMAT_SIZE_MAX, "%" PRIu64 " %s", whole, size_units[i]);
        else {
                /* rem < 2^60, so rem * 10 cannot overflow. */
                unsigned tenth = (unsigned) (rem * 10 / unit);
                snprintf(buf, FORMAT_SIZE_MAX, "%" PRIu64 ".%u %s", whole, tenth, size_units[i]);
        }
        return buf;
}

bool range_size(uint64_t start, uint64_t end, uint64_t *ret) {
        if (start > end || end - start == UINT64_MAX)
                return false;
        *ret = end - start + 1;
        return true;
}

const char *format_range_size(char buf[static FORMAT_SIZE_MAX], uint64_t start, uint64_t end) {
        uint64_t size;

        if (start > end)
                snprintf(buf, FORMAT_SIZE_MAX, "-");
        else if (!range_size(start, end, &size))
                snprintf(buf, FORMAT_SIZE_MAX, "16 EiB");
        else
                format_size(buf, size);
        return buf;
}

char *format_msi_window(uint32_t needed, uint32_t capacity, const char *source) {
        char *s;
        int r;

        if (capacity == 0)
                return strdup("none");
        r = asprintf(&s, "%" PRIu32 " of %" PRIu32 " doorbell page%s (%s)%s", needed, capacity,
                     capacity == 1 ? "" : "s", source && source[0] ? source : "unknown",
                     needed > capacity ? ": TOO SMALL, the kernel maps the rest above the window, over usable IOVAs"
                                       : "");
        return r < 0 ? NULL : s;
}

char *format_page_sizes(uint64_t bitmap) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;
        bool first = true;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        if (bitmap == 0)
                fputs("none", f);
        for (unsigned bit = 0; bit < 64; bit++) {
                char s[FORMAT_SIZE_MAX], t[FORMAT_SIZE_MAX];
                unsigned last = bit;

                if (!(bitmap & (UINT64_C(1) << bit)))
                        continue;
                while (last < 63 && (bitmap & (UINT64_C(1) << (last + 1))))
                        last++;
                /* A run of three or more (virtio-iommu and AMD-Vi map every
                 * power of two) reads as its ends, not as fifty sizes. */
                if (last - bit >= 2) {
                        fprintf(f, "%severy power of two from %s to %s", first ? "" : ", ",
                                format_size(s, UINT64_C(1) << bit), format_size(t, UINT64_C(1) << last));
                        bit = last;
                } else
                        fprintf(f, "%s%s", first ? "" : ", ", format_size(s, UINT64_C(1) << bit));
                first = false;
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static bool hex_run(const char *s, size_t min, size_t max, size_t *ret_len) {
        size_t n = 0;

        while (hex_digit(s[n]) >= 0)
                n++;
        if (n < min || n > max)
                return false;
        *ret_len = n;
        return true;
}

int pci_address_normalize(const char *s, char **ret) {
        size_t n_domain = 0, n;
        const char *p = s;
        char *out;

        if (!s)
                return -EINVAL;

        /* With a domain there are two colons before the dot. */
        const char *dot = strchr(s, '.');
        if (!dot)
                return -EINVAL;
        unsigned colons = 0;
        for (const char *q = s; q < dot; q++)
                colons += *q == ':';
        if (colons == 2) {
                if (!hex_run(p, 4, 8, &n_domain) || p[n_domain] != ':')
                        return -EINVAL;
                p += n_domain + 1;
        } else if (colons != 1)
                return -EINVAL;

        /* bus:device.function: 2 hex digits, 2 hex digits below 0x20, 1 digit 0-7. */
        if (!hex_run(p, 2, 2, &n) || p[2] != ':')
                return -EINVAL;
        if (!hex_run(p + 3, 2, 2, &n) || p[5] != '.' || hex_digit(p[3]) > 1)
                return -EINVAL;
        if (p[6] < '0' || p[6] > '7' || p[7] != 0)
                return -EINVAL;

        if (asprintf(&out, "%.*s%s%s", (int) n_domain, s, n_domain ? ":" : "0000:", p) < 0)
                return -ENOMEM;
        for (char *q = out; *q; q++)
                *q = (char) tolower((unsigned char) *q);
        *ret = out;
        return 0;
}

size_t utf8_width(const char *s) {
        size_t n = 0;

        for (; *s; s++)
                if (((unsigned char) *s & 0xc0) != 0x80)
                        n++;
        return n;
}

typedef struct Cell {
        CellType type;
        bool null;      /* CELL_STRING: no value */
        bool full;      /* CELL_SIZE: 2^64, which uint64_t cannot hold */
        uint64_t u;
        char *s;
        uint32_t *list;
        size_t n_list;
} Cell;

struct Table {
        const TableColumn *columns;
        size_t n_columns;
        Cell *cells;
        size_t n_cells, allocated;
};

Table *table_new(const TableColumn *columns, size_t n_columns) {
        Table *t;

        assert(columns && n_columns > 0);
        t = calloc(1, sizeof(Table));
        if (!t)
                return NULL;
        t->columns = columns;
        t->n_columns = n_columns;
        return t;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cells; i++) {
                free(t->cells[i].s);
                free(t->cells[i].list);
        }
        free(t->cells);
        free(t);
        return NULL;
}

static Cell *table_next_cell(Table *t, CellType type) {
        const TableColumn *col = &t->columns[t->n_cells % t->n_columns];

        /* A mismatch is a bug in the caller, not bad input. */
        assert(col->type == type || (type == CELL_UINT && (col->type == CELL_ADDRESS || col->type == CELL_SIZE)));

        if (t->n_cells == t->allocated) {
                size_t a = t->allocated ? t->allocated * 2 : 16;
                Cell *c = reallocarray(t->cells, a, sizeof(Cell));
                if (!c)
                        return NULL;
                t->cells = c;
                t->allocated = a;
        }
        Cell *c = &t->cells[t->n_cells];
        *c = (Cell) { .type = col->type };
        return c;
}

int table_add_string(Table *t, const char *s) {
        Cell *c = table_next_cell(t, CELL_STRING);

        if (!c)
                return -ENOMEM;
        if (s) {
                c->s = strdup(s);
                if (!c->s)
                        return -ENOMEM;
        } else
                c->null = true;
        t->n_cells++;
        return 0;
}

int table_add_uint(Table *t, uint64_t v) {
        Cell *c = table_next_cell(t, CELL_UINT);

        if (!c)
                return -ENOMEM;
        c->u = v;
        t->n_cells++;
        return 0;
}

int table_add_size_range(Table *t, uint64_t start, uint64_t end) {
        Cell *c = table_next_cell(t, CELL_SIZE);

        if (!c)
                return -ENOMEM;
        if (!range_size(start, end, &c->u))
                c->full = true;
        t->n_cells++;
        return 0;
}

int table_add_bool(Table *t, bool b) {
        Cell *c = table_next_cell(t, CELL_BOOL);

        if (!c)
                return -ENOMEM;
        c->u = b;
        t->n_cells++;
        return 0;
}

int table_add_uint_list(Table *t, const uint32_t *v, size_t n) {
        Cell *c = table_next_cell(t, CELL_UINT_LIST);

        if (!c)
                return -ENOMEM;
        if (n > 0) {
                c->list = reallocarray(NULL, n, sizeof(uint32_t));
                if (!c->list)
                        return -ENOMEM;
                memcpy(c->list, v, n * sizeof(uint32_t));
                c->n_list = n;
        }
        t->n_cells++;
        return 0;
}

size_t table_rows(const Table *t) {
        return t->n_cells / t->n_columns;
}

/* Text of one cell for people; returns a malloc'd string or NULL on OOM. */
static char *cell_text(const Cell *c) {
        char sz[FORMAT_SIZE_MAX];
        char *s = NULL;

        switch (c->type) {
        case CELL_STRING:
                return strdup(c->null ? "-" : c->s);
        case CELL_UINT:
                return asprintf(&s, "%" PRIu64, c->u) < 0 ? NULL : s;
        case CELL_ADDRESS:
                return asprintf(&s, "0x%016" PRIx64, c->u) < 0 ? NULL : s;
        case CELL_SIZE:
                return strdup(c->full ? "16 EiB" : format_size(sz, c->u));
        case CELL_BOOL:
                return strdup(c->u ? "yes" : "no");
        case CELL_UINT_LIST: {
                size_t size = 0;
                FILE *f = open_memstream(&s, &size);
                if (!f)
                        return NULL;
                if (c->n_list == 0)
                        fputs("-", f);
                for (size_t i = 0; i < c->n_list; i++)
                        fprintf(f, "%s%" PRIu32, i ? ", " : "", c->list[i]);
                if (fclose(f) != 0) {
                        free(s);
                        return NULL;
                }
                return s;
        }
        case _CELL_TYPE_MAX:
                break;
        }
        assert(!"bad cell type");
        return NULL;
}

static bool cell_right_aligned(CellType type) {
        return type == CELL_UINT || type == CELL_SIZE;
}

int table_print(const Table *t, FILE *f, bool header) {
        size_t rows = table_rows(t), n = rows * t->n_columns;
        _cleanup_free_ size_t *width = NULL;
        char **text;
        int r = 0;

        width = calloc(t->n_columns, sizeof(size_t));
        text = calloc(n ? n : 1, sizeof(char *));
        if (!width || !text) {
                free(text);
                return -ENOMEM;
        }

        for (size_t i = 0; i < n; i++) {
                text[i] = cell_text(&t->cells[i]);
                if (!text[i]) {
                        r = -ENOMEM;
                        goto finish;
                }
        }
        for (size_t col = 0; col < t->n_columns; col++) {
                if (header)
                        width[col] = utf8_width(t->columns[col].header);
                for (size_t row = 0; row < rows; row++) {
                        size_t w = utf8_width(text[row * t->n_columns + col]);
                        if (w > width[col])
                                width[col] = w;
                }
        }

        /* The header is row "-1"; the last visible column gets no padding, so no trailing blanks. */
        size_t last = 0;
        for (size_t col = 0; col < t->n_columns; col++)
                if (!(t->columns[col].flags & COLUMN_JSON_ONLY))
                        last = col;
        for (size_t row = header ? 0 : 1; row <= rows; row++) {
                bool first = true;

                for (size_t col = 0; col < t->n_columns; col++) {
                        const TableColumn *c = &t->columns[col];
                        const char *s = row == 0 ? c->header : text[(row - 1) * t->n_columns + col];
                        size_t pad = width[col] - utf8_width(s);

                        if (c->flags & COLUMN_JSON_ONLY)
                                continue;
                        if (!first)
                                fputs("  ", f);
                        first = false;
                        if (cell_right_aligned(c->type))
                                fprintf(f, "%*s%s", (int) pad, "", s);
                        else if (col == last)
                                fputs(s, f);
                        else
                                fprintf(f, "%s%*s", s, (int) pad, "");
                }
                fputc('\n', f);
        }
        if (ferror(f))
                r = -EIO;

finish:
        for (size_t i = 0; i < n; i++)
                free(text[i]);
        free(text);
        return r;
}

json_object *json_range_size(uint64_t start, uint64_t end) {
        uint64_t size;

        if (!range_size(start, end, &size))
                return NULL; /* JSON null */
        return json_object_new_uint64(size);
}

int json_add(json_object *o, const char *key, json_object *v) {
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

json_object *json_range(uint64_t start, uint64_t end) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        if (json_add(o, "start", json_object_new_uint64(start)) < 0 ||
            json_add(o, "end", json_object_new_uint64(end)) < 0 ||
            json_add(o, "size", json_range_size(start, end)) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

json_object *json_u32_array(const uint32_t *v, size_t n) {
        json_object *a = json_object_new_array_ext((int) n);

        if (!a)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_new_uint64(v[i]);
                if (!e || json_object_array_add(a, e) < 0) {
                        json_object_put(e);
                        json_object_put(a);
                        return NULL;
                }
        }
        return a;
}

static int cell_json(const Cell *c, json_object **ret) {
        json_object *v = NULL;

        switch (c->type) {
        case CELL_STRING:
                if (c->null) {
                        *ret = NULL;
                        return 0;
                }
                v = json_object_new_string(c->s);
                break;
        case CELL_UINT:
        case CELL_ADDRESS:
                v = json_object_new_uint64(c->u);
                break;
        case CELL_SIZE:
                if (c->full) {
                        *ret = NULL;
                        return 0;
                }
                v = json_object_new_uint64(c->u);
                break;
        case CELL_BOOL:
                v = json_object_new_boolean(c->u != 0);
                break;
        case CELL_UINT_LIST:
                v = json_u32_array(c->list, c->n_list);
                break;
        case _CELL_TYPE_MAX:
                assert(!"bad cell type");
                return -EINVAL;
        }
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
}

json_object *table_to_json(const Table *t) {
        json_object *array = json_object_new_array();

        if (!array)
                return NULL;
        for (size_t row = 0; row < table_rows(t); row++) {
                json_object *o = json_object_new_object();

                if (!o || json_object_array_add(array, o) < 0) {
                        json_object_put(o);
                        goto oom;
                }
                for (size_t col = 0; col < t->n_columns; col++) {
                        const TableColumn *c = &t->columns[col];
                        json_object *v;

                        if (c->flags & COLUMN_HUMAN_ONLY)
                                continue;
                        if (cell_json(&t->cells[row * t->n_columns + col], &v) < 0)
                                goto oom;
                        if (json_object_object_add(o, c->json_key, v) < 0) {
                                json_object_put(v);
                                goto oom;
                        }
                }
        }
        return array;
oom:
        json_object_put(array);
        return NULL;
}
