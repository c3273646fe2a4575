/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/msi.h"
#include "platform/profile.h"
#include "platform/pci-names.h"
#include "platform/sysfs.h"
#include "platform/sysfs-write.h"

#define PROFILES_DIR SOURCE_ROOT "/daemon/profiles"

#define X86_MSI "0x00000000fee00000 0x00000000feefffff msi\n"

static const struct {
        const char *name;
        Isolation isolation;
} shipped[] = {
        { "x86-vtd",        ISOLATION_REMAPPED },
        { "x86-amdvi",      ISOLATION_REMAPPED },
        { "arm-smmuv3",     ISOLATION_ISOLATED_MSI },
        { "virtio-iommu",   ISOLATION_UNSAFE },
        { "x86-nointremap", ISOLATION_NONE },
        { "x86-smalldma",   ISOLATION_REMAPPED },
        { "x86-switch",     ISOLATION_REMAPPED },
};

/* Helpers that build trees the way the kernel lays out sysfs. */

static char *make_tmp(void) {
        char *d;

        ck_assert_int_ge(asprintf(&d, "%s/test-sysfs.XXXXXX", getenv("TMPDIR") ?: "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(d));
        return d;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? -1 : 0;
}

static void rm_rf(char *dir) {
        ck_assert_int_eq(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(dir);
}

static void mkdirs(const char *root, const char *rel) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", root, rel);
        for (char *s = path + strlen(root) + 1; *s; s++)
                if (*s == '/') {
                        *s = '\0';
                        ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
                        *s = '/';
                }
        ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static void put(const char *root, const char *rel, const char *text) {
        char path[PATH_MAX], dir[PATH_MAX];
        FILE *f;

        snprintf(dir, sizeof(dir), "%s", rel);
        *strrchr(dir, '/') = '\0';
        mkdirs(root, dir);
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

static void link_at(const char *root, const char *rel, const char *target) {
        char path[PATH_MAX], dir[PATH_MAX];

        snprintf(dir, sizeof(dir), "%s", rel);
        *strrchr(dir, '/') = '\0';
        mkdirs(root, dir);
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        ck_assert_int_eq(symlink(target, path), 0);
}

/*
 * One PCI function as the kernel shows it: the real directory below
 * devices/ (@parent is the chain of bridges), the bus/pci/devices link,
 * the driver and iommu_group links, the group's link back.
 */
static void add_device(const char *root, const char *parent, const char *addr,
                       const char *vendor, const char *device, const char *class,
                       const char *driver, const char *override, int group) {
        char rel[PATH_MAX], target[PATH_MAX], up[64] = "";
        char devdir[1024];
        int depth = 1;

        snprintf(devdir, sizeof(devdir), "devices/%s/%s", parent, addr);
        for (const char *s = devdir; *s; s++)
                depth += *s == '/';
        for (int i = 0; i < depth; i++)
                strcat(up, "../");

        snprintf(rel, sizeof(rel), "%s/vendor", devdir);
        snprintf(target, sizeof(target), "%s\n", vendor);
        put(root, rel, target);
        snprintf(rel, sizeof(rel), "%s/device", devdir);
        snprintf(target, sizeof(target), "%s\n", device);
        put(root, rel, target);
        snprintf(rel, sizeof(rel), "%s/class", devdir);
        snprintf(target, sizeof(target), "%s\n", class);
        put(root, rel, target);
        snprintf(rel, sizeof(rel), "%s/driver_override", devdir);
        snprintf(target, sizeof(target), "%s\n", override ?: "(null)");
        put(root, rel, target);

        if (driver) {
                snprintf(rel, sizeof(rel), "bus/pci/drivers/%s", driver);
                mkdirs(root, rel);
                snprintf(rel, sizeof(rel), "%s/driver", devdir);
                snprintf(target, sizeof(target), "%sbus/pci/drivers/%s", up, driver);
                link_at(root, rel, target);
        }
        if (group >= 0) {
                snprintf(rel, sizeof(rel), "%s/iommu_group", devdir);
                snprintf(target, sizeof(target), "%skernel/iommu_groups/%d", up, group);
                link_at(root, rel, target);
                snprintf(rel, sizeof(rel), "kernel/iommu_groups/%d/devices/%s", group, addr);
                snprintf(target, sizeof(target), "../../../../%s", devdir);
                link_at(root, rel, target);
        }
        snprintf(rel, sizeof(rel), "bus/pci/devices/%s", addr);
        snprintf(target, sizeof(target), "../../../%s", devdir);
        link_at(root, rel, target);
}

static void put_group_regions(const char *root, int group, const char *text) {
        char rel[PATH_MAX];

        snprintf(rel, sizeof(rel), "kernel/iommu_groups/%d/reserved_regions", group);
        put(root, rel, text);
}

static void put_irq(const char *root, unsigned irq, const char *chip) {
        char rel[PATH_MAX], text[256];

        snprintf(rel, sizeof(rel), "kernel/irq/%u/chip_name", irq);
        snprintf(text, sizeof(text), "%s\n", chip);
        put(root, rel, text);
        snprintf(rel, sizeof(rel), "kernel/irq/%u/type", irq);
        put(root, rel, "edge\n");
}

static void put_unsafe(const char *root, const char *yn) {
        put(root, "module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", yn);
}

/* A desktop with VT-d, recorded from the kernel's point of view. */
static void build_recorded(const char *root) {
        add_device(root, "pci0000:00", "0000:00:02.0", "0x8086", "0x3e92", "0x030000", "i915", NULL, 1);
        add_device(root, "pci0000:00", "0000:00:1c.0", "0x8086", "0xa338", "0x060400", "pcieport", NULL, 7);
        add_device(root, "pci0000:00/0000:00:1c.0", "0000:01:00.0", "0x8086", "0x1521", "0x020000", "vfio-pci", "vfio-pci", 7);
        add_device(root, "pci0000:00/0000:00:1c.0", "0000:01:00.1", "0x8086", "0x1521", "0x020000", NULL, NULL, 7);
        add_device(root, "pci0000:00", "0000:00:1f.0", "0x8086", "0xa306", "0x060100", NULL, NULL, 9);
        add_device(root, "pci0000:00", "0000:00:1f.3", "0x8086", "0xa348", "0x040380", "snd_hda_intel", NULL, 9);
        add_device(root, "pci0000:00", "0000:00:14.0", "0x8086", "0xa36d", "0x0c0330", "xhci_hcd", NULL, -1);
        add_device(root, "pci0000:00/0000:00:1d.0", "0000:02:00.0", "0x144d", "0xa808", "0x010802", "pci-stub", NULL, 12);
        add_device(root, "pci0000:00/0000:00:1d.4", "0000:03:00.0", "0x15b3", "0x101e", "0x020000", "mlx5_vfio_pci", NULL, 13);
        /* Behind Intel VMD: a five-digit domain, skipped. */
        add_device(root, "pci10000:e0", "10000:e0:00.0", "0x144d", "0xa808", "0x010802", "nvme", NULL, -1);

        put_group_regions(root, 1,
                          "0x000000007b800000 0x000000007f7fffff direct-relaxable\n"
                          X86_MSI);
        /* Repeated and overlapping lines, as kernels print them per device. */
        put_group_regions(root, 7,
                          "0x00000000000e8000 0x00000000000e8fff direct\n"
                          "0x00000000000e8800 0x00000000000f4fff direct\n"
                          X86_MSI
                          X86_MSI
                          "\n");
        put_group_regions(root, 9,
                          "0x0000000000000000 0x0000000000ffffff direct-relaxable\n"
                          X86_MSI);
        /* Group 12 has no reserved_regions file, as before Linux 4.11. */
        put_group_regions(root, 13, X86_MSI);
        /* A platform device sharing group 13 is not a PCI address. */
        link_at(root, "kernel/iommu_groups/13/devices/a0000000.ethernet", "../../../../devices/platform/a0000000.ethernet");

        put_irq(root, 9, "IR-IO-APIC");
        put_irq(root, 24, "DMAR-MSI");
        put_irq(root, 25, "IR-PCI-MSIX-0000:00:1f.3");
        put_unsafe(root, "N\n");
}

static void assert_region(const Region *r, uint64_t start, uint64_t end, RegionType type, const char *origin) {
        ck_assert_msg(r->start == start && r->end == end && r->type == type,
                      "got 0x%llx-0x%llx %d want 0x%llx-0x%llx %d",
                      (unsigned long long) r->start, (unsigned long long) r->end, r->type,
                      (unsigned long long) start, (unsigned long long) end, type);
        ck_assert_str_eq(r->origin, origin);
}

START_TEST(test_recorded_tree) {
        char *root = make_tmp();
        SysfsPlatform *p = NULL;
        const SysfsDevice *d;
        const SysfsGroup *g;
        char *err = NULL;

        build_recorded(root);
        ck_assert_int_eq(sysfs_read_platform(root, &p, &err), 0);
        ck_assert_ptr_null(err);

        ck_assert_uint_eq(p->n_devices, 9);
        for (size_t i = 1; i < p->n_devices; i++)
                ck_assert_int_lt(strcmp(p->devices[i - 1].address, p->devices[i].address), 0);
        ck_assert_ptr_null(sysfs_find_device(p, "10000:e0:00.0"));
        ck_assert_ptr_null(sysfs_find_device(p, "0000:09:00.0"));

        d = sysfs_find_device(p, "0000:01:00.0");
        ck_assert_ptr_nonnull(d);
        ck_assert_str_eq(d->address, "0000:01:00.0");
        ck_assert_uint_eq(d->vendor, 0x8086);
        ck_assert_uint_eq(d->device, 0x1521);
        ck_assert_uint_eq(d->class, 0x020000);
        ck_assert_str_eq(d->driver, "vfio-pci");
        ck_assert_str_eq(d->override, "vfio-pci");
        ck_assert_int_eq(d->iommu_group, 7);

        d = sysfs_find_device(p, "0000:01:00.1");
        ck_assert_ptr_nonnull(d);
        ck_assert_str_eq(d->driver, "");
        ck_assert_str_eq(d->override, "");

        d = sysfs_find_device(p, "0000:00:14.0");
        ck_assert_ptr_nonnull(d);
        ck_assert_str_eq(d->driver, "xhci_hcd");
        ck_assert_int_eq(d->iommu_group, -1);

        ck_assert_uint_eq(p->n_groups, 5);
        for (size_t i = 1; i < p->n_groups; i++)
                ck_assert_uint_lt(p->groups[i - 1].id, p->groups[i].id);

        g = sysfs_find_group(p, 7);
        ck_assert_ptr_nonnull(g);
        ck_assert_str_eq(g->devices[0], "0000:00:1c.0");
        ck_assert_str_eq(g->devices[1], "0000:01:00.0");
        ck_assert_str_eq(g->devices[2], "0000:01:00.1");
        ck_assert_ptr_null(g->devices[3]);
        /* Repeats merged, overlapping direct lines joined. */
        ck_assert_uint_eq(g->regions.n, 2);
        assert_region(&g->regions.items[0], 0xe8000, 0xf4fff, REGION_DIRECT, "group 7");
        assert_region(&g->regions.items[1], 0xfee00000, 0xfeefffff, REGION_MSI, "group 7");

        g = sysfs_find_group(p, 9);
        ck_assert_ptr_nonnull(g);
        ck_assert_uint_eq(g->regions.n, 2);
        assert_region(&g->regions.items[0], 0, 0xffffff, REGION_DIRECT_RELAXABLE, "group 9");

        g = sysfs_find_group(p, 12);
        ck_assert_ptr_nonnull(g);
        ck_assert_uint_eq(g->regions.n, 0);
        ck_assert_str_eq(g->devices[0], "0000:02:00.0");

        g = sysfs_find_group(p, 13);
        ck_assert_ptr_nonnull(g);
        ck_assert_str_eq(g->devices[0], "0000:03:00.0");
        ck_assert_ptr_null(g->devices[1]);

        ck_assert_ptr_null(sysfs_find_group(p, 2));
        ck_assert_int_eq(p->isolation, ISOLATION_REMAPPED);

        sysfs_platform_free(p);
        rm_rf(root);
}
END_TEST

START_TEST(test_viability) {
        char *root = make_tmp();
        SysfsPlatform *p = NULL;

        build_recorded(root);
        ck_assert_int_eq(sysfs_read_platform(root, &p, NULL), 0);

        /* i915 does DMA for the host. */
        ck_assert(!sysfs_group_viable(p, sysfs_find_group(p, 1)));
        /* pcieport on the bridge, vfio-pci and nothing on the endpoints. */
        ck_assert(sysfs_group_viable(p, sysfs_find_group(p, 7)));
        /* An unbound ISA bridge is fine, the audio driver is not. */
        ck_assert(!sysfs_group_viable(p, sysfs_find_group(p, 9)));
        ck_assert(sysfs_group_viable(p, sysfs_find_group(p, 12)));
        /* A vfio-pci variant driver. */
        ck_assert(sysfs_group_viable(p, sysfs_find_group(p, 13)));

        sysfs_platform_free(p);
        rm_rf(root);
}
END_TEST

START_TEST(test_malformed_regions) {
        char *root = make_tmp();
        SysfsPlatform *p = NULL;
        char *err = NULL, want[PATH_MAX];

        add_device(root, "pci0000:00", "0000:01:00.0", "0x8086", "0x1521", "0x020000", "vfio-pci", NULL, 3);
        put_group_regions(root, 3, X86_MSI "0x0000000000001000 0x0000000000000fff direct\n");

        ck_assert_int_eq(sysfs_read_platform(root, &p, &err), -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_ptr_nonnull(err);
        snprintf(want, sizeof(want), "%s/kernel/iommu_groups/3/reserved_regions:2:", root);
        ck_assert_msg(strstr(err, want), "\"%s\" lacks \"%s\"", err, want);
        ck_assert_msg(strstr(err, "\"0x0000000000001000 0x0000000000000fff direct\""), "%s", err);
        free(err);
        err = NULL;

        /* Same without a place for the message. */
        ck_assert_int_eq(sysfs_read_platform(root, &p, NULL), -EINVAL);

        put_group_regions(root, 3, "0x00000000fee00000 0x00000000feefffff bogus\n");
        ck_assert_int_eq(sysfs_read_platform(root, &p, &err), -EINVAL);
        ck_assert_msg(strstr(err, "reserved_regions:1:"), "%s", err);
        free(err);

        rm_rf(root);
}
END_TEST

START_TEST(test_malformed_ids) {
        char *root = make_tmp();
        SysfsPlatform *p = NULL;
        char *err = NULL, want[PATH_MAX];

        add_device(root, "pci0000:00", "0000:01:00.0", "8086", "0x1521", "0x020000", NULL, NULL, 3);
        ck_assert_int_eq(sysfs_read_platform(root, &p, &err), -EINVAL);
        snprintf(want, sizeof(want), "%s/bus/pci/devices/0000:01:00.0/vendor", root);
        ck_assert_msg(strstr(err, want), "\"%s\" lacks \"%s\"", err, want);
        free(err);
        rm_rf(root);

        root = make_tmp();
        add_device(root, "pci0000:00", "0000:01:00.0", "0x8086", "0x1521", "0x1000000", NULL, NULL, 3);
        err = NULL;
        ck_assert_int_eq(sysfs_read_platform(root, &p, &err), -EINVAL);
        ck_assert_msg(strstr(err, "/class"), "%s", err);
        free(err);
        rm_rf(root);
}
END_TEST

START_TEST(test_empty_root) {
        char *root = make_tmp();
        SysfsPlatform *p = NULL;

        ck_assert_int_eq(sysfs_read_platform(root, &p, NULL), 0);
        ck_assert_uint_eq(p->n_devices, 0);
        ck_assert_uint_eq(p->n_groups, 0);
        ck_assert_ptr_null(sysfs_find_device(p, "0000:00:00.0"));
        ck_assert_ptr_null(sysfs_find_group(p, 0));
        /* Nothing shows isolation or its absence, and vfio_iommu_type1 is not loaded: the kernel decides. */
        ck_assert_int_eq(p->isolation, ISOLATION_UNKNOWN);
        sysfs_platform_free(p);
        ck_assert_ptr_null(sysfs_platform_free(NULL));
        rm_rf(root);
}
END_TEST

static void put_bytes(const char *root, const char *rel, const void *data, size_t n) {
        char path[PATH_MAX], dir[PATH_MAX];
        FILE *f;

        snprintf(dir, sizeof(dir), "%s", rel);
        *strrchr(dir, '/') = '\0';
        mkdirs(root, dir);
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(data, 1, n, f), n);
        ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_msi_doorbells_dt) {
        /* A GIC with one address cell below a root with two, as some boards have. */
        static const uint8_t one[4] = { 0, 0, 0, 1 };
        static const uint8_t its_reg[8] = { 0x08, 0x08, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00 };
        static const uint8_t v2m_reg[16] = { 0, 0, 0, 0x10, 0x08, 0x02, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0x10, 0 };
        char *root = make_tmp();
        MsiDoorbell *d = NULL;
        MsiSource src;
        size_t n;

        put(root, "firmware/devicetree/base/intc@8000000/compatible", "arm,gic-v3");
        put_bytes(root, "firmware/devicetree/base/intc@8000000/#address-cells", one, sizeof(one));
        put_bytes(root, "firmware/devicetree/base/intc@8000000/its@8080000/compatible", "arm,gic-v3-its\0", 15);
        put_bytes(root, "firmware/devicetree/base/intc@8000000/its@8080000/reg", its_reg, sizeof(its_reg));
        /* A v2m frame in the root's two cells, above 4 GiB, its compatible one of a list. */
        put_bytes(root, "firmware/devicetree/base/v2m@1008020000/compatible", "vendor,frame\0arm,gic-v2m-frame\0", 32);
        put_bytes(root, "firmware/devicetree/base/v2m@1008020000/reg", v2m_reg, sizeof(v2m_reg));
        ck_assert_int_eq(msi_read_doorbells(root, &d, &n, &src), 0);
        ck_assert_int_eq(src, MSI_SOURCE_DEVICE_TREE);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(d[0].address, 0x8080000 + 0x10040);
        ck_assert_int_eq(d[0].type, MSI_CONTROLLER_ITS);
        ck_assert_uint_eq(d[1].address, UINT64_C(0x1008020040));
        ck_assert_int_eq(d[1].type, MSI_CONTROLLER_GICV2M);
        free(d);

        /* A controller whose address cannot be read makes every doorbell unknown, not fewer. */
        put(root, "firmware/devicetree/base/intc@8000000/its@80a0000/compatible", "arm,gic-v3-its");
        ck_assert_int_eq(msi_read_doorbells(root, &d, &n, &src), 0);
        ck_assert_int_eq(src, MSI_SOURCE_NONE);
        ck_assert_uint_eq(n, 0);
        free(d);
        rm_rf(root);
}
END_TEST

/* A MADT in @t (256 bytes): the 44-byte header, a GICC-like filler entry, an ITS (15) and a GIC MSI frame (13). */
static size_t make_madt(uint8_t *t, bool broken) {
        size_t n = 44;

        memset(t, 0, 256);
        memcpy(t, "APIC", 4);
        t[n] = 11, t[n + 1] = 80; /* GICC, contents irrelevant */
        n += 80;
        t[n] = 15, t[n + 1] = 20;
        t[n + 8] = 0x00, t[n + 9] = 0x00, t[n + 10] = 0x08, t[n + 11] = 0x08; /* 0x8080000 */
        n += 20;
        t[n] = 13, t[n + 1] = broken ? 40 : 24;
        t[n + 8] = 0x00, t[n + 9] = 0x00, t[n + 10] = 0x02, t[n + 11] = 0x08; /* 0x8020000 */
        n += 24;
        t[4] = (uint8_t) n;
        return n;
}

START_TEST(test_msi_doorbells_madt) {
        uint8_t madt[256];
        char *root = make_tmp();
        MsiDoorbell *d = NULL;
        MsiSource src;
        size_t n;

        ck_assert_int_eq(msi_read_doorbells(root, &d, &n, &src), 0);
        ck_assert_int_eq(src, MSI_SOURCE_NONE);
        ck_assert_uint_eq(n, 0);
        free(d);

        put_bytes(root, "firmware/acpi/tables/APIC", madt, make_madt(madt, false));
        ck_assert_int_eq(msi_read_doorbells(root, &d, &n, &src), 0);
        ck_assert_int_eq(src, MSI_SOURCE_ACPI);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(d[0].address, 0x8020040);
        ck_assert_int_eq(d[0].type, MSI_CONTROLLER_GICV2M);
        ck_assert_uint_eq(d[1].address, 0x8090040);
        free(d);
        rm_rf(root);

        /* An entry running past the table: nothing is believed. */
        root = make_tmp();
        put_bytes(root, "firmware/acpi/tables/APIC", madt, make_madt(madt, true));
        ck_assert_int_eq(msi_read_doorbells(root, &d, &n, &src), 0);
        ck_assert_int_eq(src, MSI_SOURCE_NONE);
        ck_assert_uint_eq(n, 0);
        free(d);
        rm_rf(root);
}
END_TEST

static Isolation isolation_of(void (*setup)(const char *root)) {
        char *root = make_tmp();
        SysfsPlatform *p = NULL;
        Isolation i;

        setup(root);
        ck_assert_int_eq(sysfs_read_platform(root, &p, NULL), 0);
        i = p->isolation;
        sysfs_platform_free(p);
        rm_rf(root);
        return i;
}

static void iso_intel(const char *root) {
        put_irq(root, 9, "IR-IO-APIC");
        put_irq(root, 120, "IR-PCI-MSI-0000:00:17.0");
        put_unsafe(root, "N\n");
}

static void iso_virtual_vtd(const char *root) {
        put_irq(root, 24, "vIR-PCI-MSIX-0000:00:03.0");
}

static void iso_intremap_off(const char *root) {
        put_irq(root, 9, "IO-APIC");
        put_irq(root, 24, "PCI-MSIX-0000:00:03.0");
        put_unsafe(root, "N\n");
}

static void iso_unsafe(const char *root) {
        put_irq(root, 9, "IO-APIC");
        put_unsafe(root, "Y\n");
}

static void iso_remapped_and_unsafe(const char *root) {
        put_irq(root, 9, "IR-IO-APIC");
        put_unsafe(root, "Y\n");
}

static void iso_its(const char *root) {
        put_irq(root, 11, "GICv3");
        put_irq(root, 40, "ITS-PCI-MSIX-0004:01:00.0");
        put_unsafe(root, "N\n");
}

static void iso_its_old(const char *root) {
        put_irq(root, 11, "GICv3");
        put_irq(root, 40, "ITS-MSI");
}

/* Every device on vfio-pci: no ITS interrupt is allocated, but the device tree names the ITS. */
static void iso_its_dt_only(const char *root) {
        put_irq(root, 11, "GICv3");
        put(root, "firmware/devicetree/base/intc@8000000/its@8080000/compatible", "arm,gic-v3-its");
        put_unsafe(root, "N\n");
}

/* An Arm machine that shows nothing either way (ACPI, no MSI allocated): the kernel must be asked. */
static void iso_arm_silent(const char *root) {
        put_irq(root, 11, "GICv3");
        put_unsafe(root, "N\n");
}

static void iso_gicv2m_dt(const char *root) {
        put_irq(root, 11, "GICv3");
        put(root, "firmware/devicetree/base/intc@8000000/v2m@8020000/compatible", "arm,gic-v2m-frame");
        put_unsafe(root, "N\n");
}

static void iso_gicv2m(const char *root) {
        put_irq(root, 11, "GICv3");
        put_irq(root, 40, "GICv2m-PCI-MSIX-0000:01:00.0");
        put_unsafe(root, "N\n");
}

START_TEST(test_isolation_rule) {
        ck_assert_int_eq(isolation_of(iso_intel), ISOLATION_REMAPPED);
        ck_assert_int_eq(isolation_of(iso_virtual_vtd), ISOLATION_REMAPPED);
        ck_assert_int_eq(isolation_of(iso_intremap_off), ISOLATION_NONE);
        ck_assert_int_eq(isolation_of(iso_unsafe), ISOLATION_UNSAFE);
        ck_assert_int_eq(isolation_of(iso_remapped_and_unsafe), ISOLATION_REMAPPED);
        ck_assert_int_eq(isolation_of(iso_its), ISOLATION_ISOLATED_MSI);
        ck_assert_int_eq(isolation_of(iso_its_old), ISOLATION_ISOLATED_MSI);
        ck_assert_int_eq(isolation_of(iso_gicv2m), ISOLATION_NONE);
        ck_assert_int_eq(isolation_of(iso_its_dt_only), ISOLATION_ISOLATED_MSI);
        ck_assert_int_eq(isolation_of(iso_gicv2m_dt), ISOLATION_NONE);
        ck_assert_int_eq(isolation_of(iso_arm_silent), ISOLATION_UNKNOWN);

        ck_assert_str_eq(isolation_to_string(ISOLATION_REMAPPED), "remapped");
        ck_assert_str_eq(isolation_to_string(ISOLATION_ISOLATED_MSI), "isolated-msi");
        ck_assert_str_eq(isolation_to_string(ISOLATION_UNKNOWN), "unknown");
        ck_assert_str_eq(isolation_to_string(ISOLATION_UNSAFE), "unsafe");
        ck_assert_str_eq(isolation_to_string(ISOLATION_NONE), "none");
        ck_assert_ptr_null(isolation_to_string(_ISOLATION_MAX));
}
END_TEST

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void assert_round_trip(const char *name, Isolation want) {
        char *root = make_tmp();
        SysfsPlatform *sp = NULL;
        Profile *p = NULL;
        char *err = NULL;
        size_t n_devices = 0;

        ck_assert_int_eq(profile_load(name, PROFILES_DIR, &p, NULL), 0);
        ck_assert_int_eq(sysfs_write_profile(p, root), 0);
        ck_assert_msg(sysfs_read_platform(root, &sp, &err) == 0, "%s: %s", name, err ?: "");

        for (size_t i = 0; i < p->n_groups; i++) {
                const ProfileGroup *g = &p->groups[i];
                const SysfsGroup *sg = sysfs_find_group(sp, g->id);
                const char *addrs[64];
                RegionList want_regions = {};
                size_t k = 0;

                ck_assert_ptr_nonnull(sg);
                ck_assert_uint_lt(g->n_devices, 64);
                for (size_t j = 0; j < g->n_devices; j++) {
                        const ProfileDevice *d = &g->devices[j];
                        const SysfsDevice *sd = sysfs_find_device(sp, d->address);

                        ck_assert_msg(sd, "%s: %s missing", name, d->address);
                        ck_assert_uint_eq(sd->vendor, d->vendor);
                        ck_assert_uint_eq(sd->device, d->device);
                        ck_assert_uint_eq(sd->class, d->class);
                        ck_assert_str_eq(sd->driver, d->driver);
                        ck_assert_str_eq(sd->override, "");
                        ck_assert_int_eq(sd->iommu_group, (int) g->id);
                        addrs[j] = d->address;
                        n_devices++;
                }
                qsort(addrs, g->n_devices, sizeof(char *), cmp_str);
                for (k = 0; sg->devices[k]; k++) {
                        ck_assert_uint_lt(k, g->n_devices);
                        ck_assert_str_eq(sg->devices[k], addrs[k]);
                }
                ck_assert_uint_eq(k, g->n_devices);

                /* The reader merges what the kernel may repeat. */
                ck_assert_int_eq(region_list_append_list(&want_regions, &g->regions), 0);
                region_list_normalize(&want_regions);
                ck_assert_uint_eq(sg->regions.n, want_regions.n);
                for (size_t r = 0; r < want_regions.n; r++)
                        assert_region(&sg->regions.items[r], want_regions.items[r].start, want_regions.items[r].end,
                                      want_regions.items[r].type, want_regions.items[r].origin);
                region_list_clear(&want_regions);
        }
        ck_assert_uint_eq(sp->n_groups, p->n_groups);
        ck_assert_uint_eq(sp->n_devices, n_devices);
        ck_assert_msg(sp->isolation == want, "%s: isolation %s, want %s", name,
                      isolation_to_string(sp->isolation), isolation_to_string(want));

        /* The tree is laid out once. */
        ck_assert_int_eq(sysfs_write_profile(p, root), -ENOTEMPTY);

        sysfs_platform_free(sp);
        profile_free(p);
        rm_rf(root);
}

START_TEST(test_round_trip_shipped) {
        for (size_t i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++)
                assert_round_trip(shipped[i].name, shipped[i].isolation);
}
END_TEST

START_TEST(test_round_trip_isolation_matrix) {
        /* Each combination of the two flags on an x86 and an ARM machine. */
        static const struct {
                const char *msi;
                bool remap, unsafe;
                Isolation want;
        } cases[] = {
                { "0x00000000fee00000 0x00000000feefffff msi", true,  false, ISOLATION_REMAPPED },
                { "0x00000000fee00000 0x00000000feefffff msi", true,  true,  ISOLATION_REMAPPED },
                { "0x00000000fee00000 0x00000000feefffff msi", false, true,  ISOLATION_UNSAFE },
                { "0x00000000fee00000 0x00000000feefffff msi", false, false, ISOLATION_NONE },
                { "0x0000000008000000 0x00000000080fffff msi", true,  false, ISOLATION_ISOLATED_MSI },
                { "0x0000000008000000 0x00000000080fffff msi", true,  true,  ISOLATION_ISOLATED_MSI },
                { "0x0000000008000000 0x00000000080fffff msi", false, true,  ISOLATION_UNSAFE },
                { "0x0000000008000000 0x00000000080fffff msi", false, false, ISOLATION_NONE },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char json[1024], *root = make_tmp();
                SysfsPlatform *sp = NULL;
                Profile *p = NULL;

                /* All devices on vfio-pci: the markers must not depend on
                 * host drivers having interrupts. */
                snprintf(json, sizeof(json),
                         "{ \"name\": \"m\", \"aperture_bits\": 48, \"page_sizes\": [4096],"
                         "  \"interrupt_remapping\": %s, \"allow_unsafe_interrupts\": %s,"
                         "  \"groups\": [ { \"id\": 1, \"reserved_regions\": [\"%s\"],"
                         "    \"devices\": [ { \"address\": \"0000:01:00.0\", \"vendor\": \"0x8086\","
                         "                     \"device\": \"0x1521\", \"class\": \"0x020000\", \"driver\": \"vfio-pci\" } ] } ] }",
                         cases[i].remap ? "true" : "false", cases[i].unsafe ? "true" : "false", cases[i].msi);
                ck_assert_int_eq(profile_parse(json, &p, NULL), 0);
                ck_assert_int_eq(sysfs_write_profile(p, root), 0);
                ck_assert_int_eq(sysfs_read_platform(root, &sp, NULL), 0);
                ck_assert_msg(sp->isolation == cases[i].want, "case %zu: %s", i, isolation_to_string(sp->isolation));
                sysfs_platform_free(sp);
                profile_free(p);
                rm_rf(root);
        }
}
END_TEST

START_TEST(test_written_tree_is_sysfs) {
        char *root = make_tmp();
        char path[PATH_MAX], target[PATH_MAX], text[4096];
        Profile *p = NULL;
        ssize_t n;
        int fd;

        ck_assert_int_eq(profile_load("x86-vtd", PROFILES_DIR, &p, NULL), 0);
        ck_assert_int_eq(sysfs_write_profile(p, root), 0);

        snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:01:00.0/driver", root);
        n = readlink(path, target, sizeof(target) - 1);
        ck_assert_int_gt(n, 0);
        target[n] = '\0';
        ck_assert_str_eq(target, "../../../bus/pci/drivers/vfio-pci");

        snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:01:00.0/iommu_group", root);
        n = readlink(path, target, sizeof(target) - 1);
        ck_assert_int_gt(n, 0);
        target[n] = '\0';
        ck_assert_str_eq(target, "../../../kernel/iommu_groups/5");

        snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:01:00.0/vendor", root);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        n = read(fd, text, sizeof(text) - 1);
        close(fd);
        ck_assert_int_gt(n, 0);
        text[n] = '\0';
        ck_assert_str_eq(text, "0x8086\n");

        /* Lines verbatim, one per line, as the kernel prints them. */
        snprintf(path, sizeof(path), "%s/kernel/iommu_groups/14/reserved_regions", root);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        n = read(fd, text, sizeof(text) - 1);
        close(fd);
        ck_assert_int_gt(n, 0);
        text[n] = '\0';
        ck_assert_str_eq(text,
                         "0x00000000000e8000 0x00000000000e8fff direct\n"
                         "0x00000000000f4000 0x00000000000f4fff direct\n"
                         "0x00000000bddde000 0x00000000bdddefff direct\n"
                         X86_MSI);

        snprintf(path, sizeof(path), "%s/kernel/iommu_groups/5/devices/0000:01:00.1/vendor", root);
        ck_assert_int_eq(access(path, R_OK), 0);
        snprintf(path, sizeof(path), "%s/bus/pci/drivers/i915/0000:00:02.0/device", root);
        ck_assert_int_eq(access(path, R_OK), 0);

        profile_free(p);
        rm_rf(root);
}
END_TEST

START_TEST(test_shipped_viability) {
        static const struct {
                const char *profile;
                unsigned group;
                bool viable;
        } cases[] = {
                { "x86-vtd", 1, false },       /* i915 */
                { "x86-vtd", 5, true },
                { "x86-vtd", 6, false },       /* xhci_hcd */
                { "x86-vtd", 9, false },       /* snd_hda_intel beside an unbound ISA bridge */
                { "x86-vtd", 14, true },
                { "x86-amdvi", 15, false },    /* mlx5_core */
                { "x86-amdvi", 17, false },    /* GPU on vfio-pci, its audio function not */
                { "x86-amdvi", 22, true },
                { "arm-smmuv3", 0, false },    /* ast behind an unbound bridge */
                { "arm-smmuv3", 10, true },
                { "virtio-iommu", 2, true },   /* unbound */
                { "virtio-iommu", 3, true },
                { "x86-smalldma", 23, false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *root;
                SysfsPlatform *sp = NULL;
                Profile *p = NULL;

                /* Each profile once, for all of its cases. */
                if (i > 0 && strcmp(cases[i - 1].profile, cases[i].profile) == 0)
                        continue;
                root = make_tmp();
                ck_assert_int_eq(profile_load(cases[i].profile, PROFILES_DIR, &p, NULL), 0);
                ck_assert_int_eq(sysfs_write_profile(p, root), 0);
                ck_assert_int_eq(sysfs_read_platform(root, &sp, NULL), 0);
                for (size_t j = i; j < sizeof(cases) / sizeof(cases[0]) &&
                                   strcmp(cases[j].profile, cases[i].profile) == 0; j++) {
                        const SysfsGroup *g = sysfs_find_group(sp, cases[j].group);

                        ck_assert_ptr_nonnull(g);
                        ck_assert_msg(sysfs_group_viable(sp, g) == cases[j].viable, "%s group %u",
                                      cases[j].profile, cases[j].group);
                }
                sysfs_platform_free(sp);
                profile_free(p);
                rm_rf(root);
        }
}
END_TEST

START_TEST(test_pci_address_valid) {
        ck_assert(pci_address_valid("0000:01:00.0"));
        ck_assert(pci_address_valid("000c:ff:1f.7"));
        ck_assert(!pci_address_valid(NULL));
        ck_assert(!pci_address_valid(""));
        ck_assert(!pci_address_valid("01:00.0"));
        ck_assert(!pci_address_valid("0000:01:00"));
        ck_assert(!pci_address_valid("0000:01:00.0 "));
        ck_assert(!pci_address_valid("0000:01:20.0"));   /* device > 0x1f */
        ck_assert(!pci_address_valid("0000:01:00.8"));   /* function > 7 */
        ck_assert(!pci_address_valid("0000:0A:00.0"));   /* the kernel prints lower case */
        ck_assert(!pci_address_valid("0000-01:00.0"));
        ck_assert(!pci_address_valid("10000:e0:00.0"));
        ck_assert(!pci_address_valid("a0000000.ethernet"));
}
END_TEST

START_TEST(test_pci_describe) {
        char *s;

        s = pci_describe(0x8086, 0x1521);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(strncmp(s, "8086:1521 ", 10) == 0, "%s", s);
        ck_assert_msg(strstr(s, "Intel Corporation"), "%s", s);
        ck_assert_msg(strstr(s, "I350"), "%s", s);
        free(s);

        /* Known vendor, unknown device: the vendor alone. */
        s = pci_describe(0x8086, 0xfffe);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(strncmp(s, "8086:fffe", 9) == 0, "%s", s);
        free(s);

        /* Ids in lower case, zero-padded; the name database is loaded once
         * and reused. */
        s = pci_describe(0x00a1, 0x000b);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(strncmp(s, "00a1:000b", 9) == 0, "%s", s);
        ck_assert(s[9] == '\0' || s[9] == ' ');
        free(s);

        s = pci_describe(0x144d, 0xa808);
        ck_assert_msg(strstr(s, "Samsung"), "%s", s);
        free(s);
}
END_TEST

int main(void) {
        Suite *s = suite_create("sysfs");
        TCase *tc = tcase_create("core");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_recorded_tree);
        tcase_add_test(tc, test_viability);
        tcase_add_test(tc, test_malformed_regions);
        tcase_add_test(tc, test_malformed_ids);
        tcase_add_test(tc, test_empty_root);
        tcase_add_test(tc, test_isolation_rule);
        tcase_add_test(tc, test_msi_doorbells_dt);
        tcase_add_test(tc, test_msi_doorbells_madt);
        tcase_add_test(tc, test_round_trip_shipped);
        tcase_add_test(tc, test_round_trip_isolation_matrix);
        tcase_add_test(tc, test_written_tree_is_sysfs);
        tcase_add_test(tc, test_shipped_viability);
        tcase_add_test(tc, test_pci_address_valid);
        tcase_add_test(tc, test_pci_describe);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
