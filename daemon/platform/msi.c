/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/macro.h"
#include "platform/msi.h"

/* Device tree properties and the MADT are small; a larger file is not one. */
#define BLOB_MAX (256U * 1024U)

const char *msi_controller_type_to_string(MsiControllerType t) {
        switch (t) {
        case MSI_CONTROLLER_ITS:
                return "its";
        case MSI_CONTROLLER_GICV2M:
                return "gicv2m";
        case _MSI_CONTROLLER_MAX:
                break;
        }
        return NULL;
}

const char *msi_source_to_string(MsiSource s) {
        switch (s) {
        case MSI_SOURCE_NONE:
                return "";
        case MSI_SOURCE_DEVICE_TREE:
                return "device tree";
        case MSI_SOURCE_ACPI:
                return "ACPI MADT";
        case _MSI_SOURCE_MAX:
                break;
        }
        return NULL;
}

uint64_t msi_doorbell_of(MsiControllerType t, uint64_t base) {
        /* Where the Linux drivers point MSIs: its_irq_compose_msi_msg()
         * (GITS_TRANSLATER), gicv2m_compose_msi_msg() (V2M_MSI_SETSPI_NS). */
        return base + (t == MSI_CONTROLLER_ITS ? ITS_TRANSLATER_OFFSET : GICV2M_SETSPI_OFFSET);
}

/* A whole binary file; -ENOENT when absent. */
static int read_blob(const char *path, uint8_t **ret, size_t *ret_n) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;

        if (fd < 0)
                return -errno;
        buf = malloc(BLOB_MAX);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, BLOB_MAX - n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n == BLOB_MAX)
                        return -EFBIG;
        }
        *ret = TAKE_PTR(buf);
        *ret_n = n;
        return 0;
}

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint64_t le(const uint8_t *p, unsigned bytes) {
        uint64_t v = 0;

        for (unsigned i = bytes; i > 0; i--)
                v = v << 8 | p[i - 1];
        return v;
}

typedef struct Found {
        MsiDoorbell *items;
        size_t n;
        bool unreadable; /* a controller whose address cannot be read */
} Found;

static int found_add(Found *f, MsiControllerType t, uint64_t base) {
        MsiDoorbell *a = reallocarray(f->items, f->n + 1, sizeof(MsiDoorbell));

        if (!a)
                return -ENOMEM;
        f->items = a;
        f->items[f->n++] = (MsiDoorbell) { .address = msi_doorbell_of(t, base), .type = t };
        return 0;
}

/* Whether the "compatible" list (NUL-separated strings) in @dir names @want. */
static int compatible_with(const char *dir, const char *want) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;
        int r;

        if (asprintf(&path, "%s/compatible", dir) < 0)
                return -ENOMEM;
        r = read_blob(path, &buf, &n);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        for (size_t off = 0; off < n;) {
                size_t l = strnlen((const char *) buf + off, n - off);

                if (l == strlen(want) && memcmp(buf + off, want, l) == 0)
                        return 1;
                off += l + 1;
        }
        return 0;
}

/* The first address of @dir's reg, in @cells 32-bit cells; -EBADMSG when there is none. */
static int read_reg(const char *dir, unsigned cells, uint64_t *ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t v = 0;
        size_t n;
        int r;

        if (asprintf(&path, "%s/reg", dir) < 0)
                return -ENOMEM;
        r = read_blob(path, &buf, &n);
        if (r == -ENOENT)
                return -EBADMSG;
        if (r < 0)
                return r;
        if (cells == 0 || cells > 2 || n < cells * 4)
                return -EBADMSG;
        for (unsigned i = 0; i < cells; i++)
                v = v << 32 | be32(buf + 4 * i);
        *ret = v;
        return 0;
}

static int address_cells(const char *dir, unsigned *ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;
        int r;

        if (asprintf(&path, "%s/#address-cells", dir) < 0)
                return -ENOMEM;
        r = read_blob(path, &buf, &n);
        if (r == -ENOENT) {
                /* The device tree specification's default. */
                *ret = 2;
                return 0;
        }
        if (r < 0)
                return r;
        *ret = n == 4 ? be32(buf) : 0; /* read_reg() refuses 0 */
        return 0;
}

/* Depth-first below @dir (to @depth more levels); @cells is @dir's #address-cells. */
static int dt_walk(const char *dir, unsigned depth, Found *f) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;
        unsigned cells;
        int r;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        r = address_cells(dir, &cells);
        if (r < 0)
                return r;
        while ((errno = 0, de = readdir(d))) {
                _cleanup_free_ char *child = NULL;
                MsiControllerType t = _MSI_CONTROLLER_MAX;

                if (de->d_name[0] == '.' || de->d_type != DT_DIR)
                        continue;
                if (asprintf(&child, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;
                r = compatible_with(child, "arm,gic-v3-its");
                if (r > 0)
                        t = MSI_CONTROLLER_ITS;
                if (r == 0) {
                        r = compatible_with(child, "arm,gic-v2m-frame");
                        if (r > 0)
                                t = MSI_CONTROLLER_GICV2M;
                }
                if (r < 0)
                        return r;
                if (t != _MSI_CONTROLLER_MAX) {
                        uint64_t base = 0;

                        r = read_reg(child, cells, &base);
                        if (r == -EBADMSG) {
                                f->unreadable = true;
                                continue;
                        }
                        if (r < 0)
                                return r;
                        r = found_add(f, t, base);
                        if (r < 0)
                                return r;
                } else if (depth > 0) {
                        r = dt_walk(child, depth - 1, f);
                        if (r < 0)
                                return r;
                }
        }
        return errno != 0 ? -errno : 0;
}

/* ACPI 6.x MADT: a 44-byte header, then entries of (type, length, ...). */
static int madt_parse(const uint8_t *t, size_t n, Found *f) {
        uint32_t len;

        if (n < 44 || memcmp(t, "APIC", 4) != 0)
                return -EBADMSG;
        len = (uint32_t) le(t + 4, 4);
        if (len < 44 || len > n)
                return -EBADMSG;
        for (size_t off = 44; off + 2 <= len;) {
                uint8_t type = t[off], l = t[off + 1];
                int r = 0;

                if (l < 2 || off + l > len)
                        return -EBADMSG;
                /* GIC ITS (15) and GIC MSI frame (13): the base address at offset 8. */
                if ((type == 15 && l >= 20) || (type == 13 && l >= 24))
                        r = found_add(f, type == 15 ? MSI_CONTROLLER_ITS : MSI_CONTROLLER_GICV2M, le(t + off + 8, 8));
                if (r < 0)
                        return r;
                off += l;
        }
        return 0;
}

static int cmp_doorbell(const void *a, const void *b) {
        uint64_t x = ((const MsiDoorbell *) a)->address, y = ((const MsiDoorbell *) b)->address;

        return x < y ? -1 : x > y;
}

int msi_read_doorbells(const char *root, MsiDoorbell **ret, size_t *ret_n, MsiSource *ret_source) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *madt = NULL;
        Found f = {};
        MsiSource source = MSI_SOURCE_NONE;
        size_t n;
        int r;

        assert(root);

        if (asprintf(&path, "%s/firmware/devicetree/base", root) < 0)
                return -ENOMEM;
        /* GICs sit at most a level or two below the root node (intc@8000000/its@8080000). */
        r = dt_walk(path, 3, &f);
        if (r < 0)
                goto fail;
        if (f.unreadable)
                f.n = 0; /* some doorbells unknown: all of them are */
        else if (f.n > 0)
                source = MSI_SOURCE_DEVICE_TREE;
        else {
                free(path);
                if (asprintf(&path, "%s/firmware/acpi/tables/APIC", root) < 0) {
                        path = NULL;
                        r = -ENOMEM;
                        goto fail;
                }
                /* Only root may read the MADT; unreadable or malformed, the doorbells are unknown. */
                r = read_blob(path, &madt, &n);
                if (r >= 0) {
                        r = madt_parse(madt, n, &f);
                        if (r == -ENOMEM)
                                goto fail;
                        if (r < 0)
                                f.n = 0;
                        else if (f.n > 0)
                                source = MSI_SOURCE_ACPI;
                } else if (r == -ENOMEM)
                        goto fail;
        }

        if (f.n > 1) {
                size_t k = 1;

                qsort(f.items, f.n, sizeof(MsiDoorbell), cmp_doorbell);
                for (size_t i = 1; i < f.n; i++)
                        if (f.items[i].address != f.items[k - 1].address)
                                f.items[k++] = f.items[i];
                f.n = k;
        }
        *ret = f.items;
        *ret_n = f.n;
        *ret_source = source;
        return 0;

fail:
        free(f.items);
        return r;
}
