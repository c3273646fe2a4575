/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * iovactl's input parsing and output formatting: sizes, addresses, PCI
 * addresses and tables that print either aligned for people or as JSON.
 * Pure: no sd-bus, no logging, so unit tests link it directly.
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Room for any uint64_t in bytes, and for what the compiler thinks the decimals could be. */
#define FORMAT_SIZE_MAX 48

/**
 * parse_size() - parse a size or address given on the command line
 * @s: decimal with an optional binary suffix (K, M, G, T, P, E, optionally
 *     followed by "iB" or "B", any case; "B" alone means bytes), or "0x"
 *     followed by hex digits (no suffix: "0x1E" is hex, not an exbibyte).
 * @ret: the value.
 *
 * Return: 0, -EINVAL if @s is not a number in those forms, -ERANGE if it
 * does not fit 64 bits.
 */
int parse_size(const char *s, uint64_t *ret);

/* Decimal only. 0, -EINVAL or -ERANGE. */
int parse_u32(const char *s, uint32_t *ret);
int parse_u64(const char *s, uint64_t *ret);

/**
 * format_size() - a byte count for people: "4 KiB", "2 MiB", "1.5 GiB".
 *
 * Exact multiples of the largest unit that fits print as integers; the
 * rest print one decimal, truncated so that it never rounds up to a unit
 * the value does not reach. Returns @buf.
 */
const char *format_size(char buf[static FORMAT_SIZE_MAX], uint64_t bytes);

/* Size of the inclusive range [start, end]; [0, UINT64_MAX] is "16 EiB". */
const char *format_range_size(char buf[static FORMAT_SIZE_MAX], uint64_t start, uint64_t end);

/*
 * Size of the inclusive range [start, end] in bytes: false if start > end
 * or the size is 2^64 and so does not fit.
 */
bool range_size(uint64_t start, uint64_t end, uint64_t *ret);

/*
 * The software MSI window's use as iovactl shows it: "1 of 256 doorbell
 * pages (device tree)", "none" without a window (@capacity 0), and a
 * warning when more pages are needed than the window holds. NULL on OOM.
 */
char *format_msi_window(uint32_t needed, uint32_t capacity, const char *source);

/* "4 KiB, 2 MiB, 1 GiB" for a page size bitmap; "none" for 0. NULL on OOM. */
char *format_page_sizes(uint64_t bitmap);

/**
 * pci_address_normalize() - accept a PCI address as lspci prints it
 * @s: "dddd:bb:dd.f" (domain 4 to 8 hex digits) or "bb:dd.f" (domain 0).
 * @ret: the address in the kernel's form, lower case, domain included.
 *
 * Return: 0, -EINVAL if @s is not a PCI address, -ENOMEM.
 */
int pci_address_normalize(const char *s, char **ret);

/* Display width of a UTF-8 string, counting code points. */
size_t utf8_width(const char *s);

typedef enum CellType {
        CELL_STRING,    /* text; NULL prints "-" and JSON null */
        CELL_UINT,      /* decimal */
        CELL_ADDRESS,   /* 0x%016llx for people, an integer in JSON */
        CELL_SIZE,      /* "2 MiB" for people, bytes in JSON */
        CELL_BOOL,      /* "yes"/"no", JSON true/false */
        CELL_UINT_LIST, /* "5, 7" for people, a JSON array */
        _CELL_TYPE_MAX,
} CellType;

typedef enum ColumnFlags {
        COLUMN_JSON_ONLY = 1 << 0,  /* too wide or redundant for people */
        COLUMN_HUMAN_ONLY = 1 << 1, /* derived from a JSON field */
} ColumnFlags;

typedef struct TableColumn {
        const char *header;   /* upper case, printed above the column */
        const char *json_key; /* snake_case */
        CellType type;
        ColumnFlags flags;
} TableColumn;

typedef struct Table Table;

/* The columns must outlive the table. NULL on OOM. */
Table *table_new(const TableColumn *columns, size_t n_columns);
Table *table_free(Table *t);
static inline void table_freep(Table **t) {
        if (*t)
                *t = table_free(*t);
}
#define _cleanup_table_ __attribute__((cleanup(table_freep)))

/*
 * Cells are added row by row, left to right; each call fills the next
 * cell, whose column must be of the matching type. 0 or -ENOMEM.
 */
int table_add_string(Table *t, const char *s);
int table_add_uint(Table *t, uint64_t v);       /* CELL_UINT, CELL_ADDRESS, CELL_SIZE */
int table_add_size_range(Table *t, uint64_t start, uint64_t end); /* CELL_SIZE */
int table_add_bool(Table *t, bool b);
int table_add_uint_list(Table *t, const uint32_t *v, size_t n);

size_t table_rows(const Table *t);

/* Aligned columns, with a header line if @header. 0 or -EIO. */
int table_print(const Table *t, FILE *f, bool header);

/* An array with one object per row. NULL on OOM. */
json_object *table_to_json(const Table *t);

/* A JSON value for a byte count that may be 2^64 ([0, UINT64_MAX]): null then. */
json_object *json_range_size(uint64_t start, uint64_t end);

/* { "start", "end", "size" } for an inclusive range. NULL on OOM. */
json_object *json_range(uint64_t start, uint64_t end);
json_object *json_u32_array(const uint32_t *v, size_t n);

/* Adds v (NULL is JSON null) under key, dropping v on failure. 0 or -ENOMEM. */
int json_add(json_object *o, const char *key, json_object *v);
