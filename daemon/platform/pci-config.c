/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pci/pci.h>

#include "util/macro.h"
#include "platform/pci-config.h"

/* libpci calls error() only when out of memory (the files it could fail
 * on are checked first) and expects it not to return. */
_printf_(1, 2) __attribute__((noreturn))
static void pci_fatal(char *msg, ...) {
        abort();
}

/* Short reads of a config space shorter than asked are warnings: the registers then read as all ones. */
_printf_(1, 2)
static void pci_quiet(char *msg, ...) {
}

static int parse_address(const char *a, int *domain, int *bus, int *dev, int *func) {
        unsigned x, y, z, w;

        if (sscanf(a, "%4x:%2x:%2x.%1x", &x, &y, &z, &w) != 4)
                return -EINVAL;
        *domain = (int) x, *bus = (int) y, *dev = (int) z, *func = (int) w;
        return 0;
}

static bool file_readable(const char *root, const char *address, const char *name) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/bus/pci/devices/%s/%s", root, address, name) < 0)
                return false;
        return access(path, R_OK) == 0;
}

/*
 * Whether libpci can read the resource file: its sysfs method calls the
 * fatal error handler on a line it cannot parse, so the file is read here
 * first the way libpci reads it (fgets() of 256 bytes, 18 lines, three
 * hex numbers each). A malformed one leaves the BARs unsized.
 */
static bool resource_file_ok(const char *root, const char *address) {
        _cleanup_free_ char *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char buf[256];

        if (asprintf(&path, "%s/bus/pci/devices/%s/resource", root, address) < 0)
                return false;
        f = fopen(path, "re");
        if (!f)
                return false;
        for (int i = 0; i < 7 + 6 + 4 + 1; i++) {
                unsigned long long start, end, flags;

                if (!fgets(buf, sizeof(buf), f))
                        break;
                if (sscanf(buf, "%llx %llx %llx", &start, &end, &flags) != 3)
                        return false;
        }
        return true;
}

static void add_window(PciConfig *c, uint64_t start, uint64_t end, const char *what) {
        if (c->n_windows == PCI_WINDOWS_MAX || start > end)
                return;
        c->windows[c->n_windows] = (PciWindow) { .start = start, .end = end };
        snprintf(c->windows[c->n_windows].what, sizeof(c->windows[0].what), "%s", what);
        c->n_windows++;
}

/* The memory windows of a type 1 header: what the bridge forwards downstream. */
static void read_bridge_windows(struct pci_dev *pd, PciConfig *c) {
        uint16_t base = pci_read_word(pd, PCI_MEMORY_BASE), limit = pci_read_word(pd, PCI_MEMORY_LIMIT);
        uint64_t pbase, plimit;

        /* 1 MiB granules; a base above the limit means the window is off. */
        if (base != 0xffff)
                add_window(c, (uint64_t) (base & 0xfff0) << 16, ((uint64_t) (limit & 0xfff0) << 16) | 0xfffff,
                           "memory window");
        base = pci_read_word(pd, PCI_PREF_MEMORY_BASE);
        limit = pci_read_word(pd, PCI_PREF_MEMORY_LIMIT);
        if (base == 0xffff)
                return;
        pbase = (uint64_t) (base & PCI_PREF_RANGE_MASK) << 16;
        plimit = ((uint64_t) (limit & PCI_PREF_RANGE_MASK) << 16) | 0xfffff;
        if ((base & PCI_PREF_RANGE_TYPE_MASK) == PCI_PREF_RANGE_TYPE_64) {
                pbase |= (uint64_t) pci_read_long(pd, PCI_PREF_BASE_UPPER32) << 32;
                plimit |= (uint64_t) pci_read_long(pd, PCI_PREF_LIMIT_UPPER32) << 32;
        }
        add_window(c, pbase, plimit, "prefetchable window");
}

/* Memory BARs at their bus addresses (config space), sized by sysfs's resource file. */
static void read_bars(struct pci_dev *pd, PciConfig *c, unsigned n_bars, bool sized) {
        for (unsigned i = 0; sized && i < n_bars; i++) {
                uint32_t lo = pci_read_long(pd, PCI_BASE_ADDRESS_0 + 4 * (int) i);
                uint64_t addr;
                char what[16];

                if (lo == 0xffffffff || (lo & PCI_BASE_ADDRESS_SPACE) != 0)
                        continue;
                addr = lo & ~UINT64_C(0xf);
                if ((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64 && i + 1 < n_bars) {
                        addr |= (uint64_t) pci_read_long(pd, PCI_BASE_ADDRESS_0 + 4 * (int) (i + 1)) << 32;
                        /* The size is the first half's. */
                }
                if (addr != 0 && pd->size[i] != 0) {
                        snprintf(what, sizeof(what), "BAR %u", i);
                        add_window(c, addr, addr + (pd->size[i] - 1), what);
                }
                if ((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64)
                        i++;
        }
}

static void read_one(struct pci_access *pacc, const char *root, SysfsDevice *d) {
        int domain, bus, dev, func;
        struct pci_dev *pd;
        struct pci_cap *cap;
        uint8_t hdr;
        bool sized;

        d->config = (PciConfig) {};
        if (parse_address(d->address, &domain, &bus, &dev, &func) < 0 || !file_readable(root, d->address, "config"))
                return;
        pd = pci_get_dev(pacc, domain, bus, dev, func);
        if (!pd)
                return;
        /* libpci fails hard on a missing or malformed resource file: ask for sizes only where it can read one. */
        sized = resource_file_ok(root, d->address);
        pci_fill_info(pd, PCI_FILL_CAPS | PCI_FILL_EXT_CAPS | (sized ? PCI_FILL_BASES | PCI_FILL_SIZES : 0));

        /* A vendor id of all ones: the read failed (a function that went, a short file). */
        if (pci_read_word(pd, PCI_VENDOR_ID) == 0xffff) {
                pci_free_dev(pd);
                return;
        }
        d->config.readable = true;
        hdr = pci_read_byte(pd, PCI_HEADER_TYPE);
        /* As the kernel counts it (pci_scan_slot()): function 0 says so in
         * its header type, and every function after it is one. */
        d->config.multifunction = (hdr & 0x80) != 0 || func > 0;
        d->config.bridge = (hdr & 0x7f) == PCI_HEADER_TYPE_BRIDGE;

        cap = pci_find_cap(pd, PCI_CAP_ID_EXP, PCI_CAP_NORMAL);
        if (cap) {
                d->config.pcie = true;
                d->config.pcie_type = (uint8_t) ((pci_read_word(pd, cap->addr + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_TYPE) >> 4);
        }
        cap = pci_find_cap(pd, PCI_EXT_CAP_ID_ACS, PCI_CAP_EXTENDED);
        if (cap) {
                d->config.has_acs = true;
                d->config.acs_cap = pci_read_word(pd, cap->addr + PCI_ACS_CAP);
                d->config.acs_ctrl = pci_read_word(pd, cap->addr + PCI_ACS_CTRL);
        }
        if (d->config.bridge) {
                read_bars(pd, &d->config, 2, sized);
                read_bridge_windows(pd, &d->config);
        } else if ((hdr & 0x7f) == PCI_HEADER_TYPE_NORMAL)
                read_bars(pd, &d->config, 6, sized);
        pci_free_dev(pd);
}

int pci_config_read(const char *root, SysfsDevice *d, size_t n) {
        _cleanup_free_ char *path = NULL;
        struct pci_access *pacc;
        bool any = false;

        for (size_t i = 0; i < n && !any; i++)
                any = file_readable(root, d[i].address, "config");
        for (size_t i = 0; i < n; i++)
                d[i].config = (PciConfig) {};
        if (!any)
                return 0;

        if (asprintf(&path, "%s/bus/pci", root) < 0)
                return -ENOMEM;
        pacc = pci_alloc();
        if (!pacc)
                return -ENOMEM;
        pacc->error = pci_fatal;
        pacc->warning = pci_quiet;
        pacc->debug = pci_quiet;
        pacc->method = PCI_ACCESS_SYS_BUS_PCI;
        /* Below our root, not the host's /sys. */
        if (pci_set_param(pacc, (char *) "sysfs.path", path) < 0) {
                pci_cleanup(pacc);
                return -EINVAL;
        }
        pci_init(pacc);
        for (size_t i = 0; i < n; i++)
                read_one(pacc, root, &d[i]);
        pci_cleanup(pacc);
        return 0;
}
