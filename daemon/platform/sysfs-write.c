/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/macro.h"
#include "platform/sysfs-write.h"
#include "platform/sysfs.h"

/*
 * The simulated backend's sysfs: a platform profile laid out as the
 * kernel would show it, so that sysfs_read_platform() reads a simulated
 * machine exactly as it reads a real one.
 */

_printf_(3, 4)
static int write_attr(const char *dir, const char *name, const char *fmt, ...) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        va_list ap;
        size_t n, done = 0;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;

        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
                return -errno;
        n = strlen(text);
        while (done < n) {
                ssize_t k = write(fd, text + done, n - done);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) k;
        }
        if (close(TAKE_FD(fd)) < 0)
                return -errno;
        return 0;
}

/* mkdir -p: parents are made only when the directory itself cannot be,
 * which keeps a tree of thousands of entries to one mkdir() each. */
static int mkdir_parents(const char *path) {
        _cleanup_free_ char *parent = NULL;
        char *slash;
        int r;

        if (mkdir(path, 0755) >= 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return -errno;

        parent = strdup(path);
        if (!parent)
                return -ENOMEM;
        slash = strrchr(parent, '/');
        if (!slash || slash == parent)
                return -ENOENT;
        *slash = '\0';
        r = mkdir_parents(parent);
        if (r < 0)
                return r;
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

_printf_(2, 3)
static int make_dir(char **ret, const char *fmt, ...) {
        _cleanup_free_ char *path = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&path, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        r = mkdir_parents(path);
        if (r < 0)
                return r;
        if (ret)
                *ret = TAKE_PTR(path);
        return 0;
}

/* symlink @target at @dir/@name; @target is relative, as sysfs links are. */
static int make_link(const char *dir, const char *name, const char *target) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        if (symlink(target, path) < 0)
                return -errno;
        return 0;
}

static int dir_is_empty(const char *dir) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return -errno;
        while ((errno = 0, de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        return 0;
        if (errno != 0)
                return -errno;
        return 1;
}

/* Which kind of machine a profile models, for the interrupt chips it
 * gets: x86 IOMMUs all report the x86 interrupt window as msi. */
static bool profile_is_x86(const Profile *p) {
        for (size_t i = 0; i < p->n_groups; i++)
                for (size_t j = 0; j < p->groups[i].regions.n; j++) {
                        const Region *r = &p->groups[i].regions.items[j];

                        if (r->type == REGION_MSI && r->start <= X86_MSI_START && r->end >= X86_MSI_END)
                                return true;
                }
        return false;
}

static int write_irq(const char *root, unsigned irq, const char *chip, const char *type, const char *actions) {
        _cleanup_free_ char *dir = NULL;
        int r;

        r = make_dir(&dir, "%s/kernel/irq/%u", root, irq);
        if (r < 0)
                return r;
        r = write_attr(dir, "chip_name", "%s\n", chip);
        if (r < 0)
                return r;
        r = write_attr(dir, "type", "%s\n", type);
        if (r < 0)
                return r;
        return write_attr(dir, "actions", "%s\n", actions);
}

/* A device tree property: @n bytes as they are (cells are big-endian). */
static int write_prop(const char *dir, const char *name, const void *data, size_t n) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, data, n) != (ssize_t) n)
                return -EIO;
        return 0;
}

static void put_be64(uint8_t *b, uint64_t v) {
        for (int i = 7; i >= 0; i--, v >>= 8)
                b[i] = (uint8_t) v;
}

/*
 * The GIC's MSI controllers in the device tree, as QEMU's virt machine and
 * DT firmware show them: below the GIC's node (two address and size
 * cells), each with its compatible and reg. Without any in the profile,
 * QEMU virt's: an ITS at 0x8080000, or a GICv2m frame at 0x8020000.
 */
static int write_msi_controllers(const Profile *p, const char *root) {
        ProfileMsiController dflt = {
                .type = p->interrupt_remapping ? MSI_CONTROLLER_ITS : MSI_CONTROLLER_GICV2M,
                .base = p->interrupt_remapping ? 0x8080000 : 0x8020000,
        };
        const ProfileMsiController *l = p->n_msi_controllers > 0 ? p->msi_controllers : &dflt;
        size_t n = p->n_msi_controllers > 0 ? p->n_msi_controllers : 1;
        _cleanup_free_ char *gic = NULL;
        static const uint8_t two[4] = { 0, 0, 0, 2 };
        int r;

        r = make_dir(&gic, "%s/firmware/devicetree/base/intc@8000000", root);
        if (r < 0)
                return r;
        r = write_prop(gic, "#address-cells", two, sizeof(two));
        if (r < 0)
                return r;
        r = write_prop(gic, "#size-cells", two, sizeof(two));
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                bool its = l[i].type == MSI_CONTROLLER_ITS;
                _cleanup_free_ char *dir = NULL;
                uint8_t reg[16];

                r = make_dir(&dir, "%s/%s@%" PRIx64, gic, its ? "its" : "v2m", l[i].base);
                if (r < 0)
                        return r;
                r = write_attr(dir, "compatible", "%s", its ? "arm,gic-v3-its" : "arm,gic-v2m-frame");
                if (r < 0)
                        return r;
                put_be64(reg, l[i].base);
                put_be64(reg + 8, its ? 0x20000 : 0x1000);
                r = write_prop(dir, "reg", reg, sizeof(reg));
                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * The interrupts a booted machine of this profile would show in
 * /sys/kernel/irq, as read_isolation() reads them: one platform interrupt
 * that exists from boot, and one MSI-X vector per device on a host driver
 * (devices on vfio-pci have none until a user enables them).
 */
static int write_irqs(const Profile *p, const char *root) {
        const char *msi_prefix;
        unsigned irq = 24; /* the first vector after the legacy ones */
        int r;

        if (profile_is_x86(p)) {
                /* The ACPI SCI on the IO-APIC, remapped when remapping is on. */
                r = write_irq(root, 9, p->interrupt_remapping ? "IR-IO-APIC" : "IO-APIC", "level", "acpi");
                if (r < 0)
                        return r;
                msi_prefix = p->interrupt_remapping ? "IR-" : "";
        } else {
                r = write_irq(root, 11, "GICv3", "level", "arch_timer");
                if (r < 0)
                        return r;
                /* An SMMUv3 without wired interrupts signals its event queue
                 * by MSI through the ITS; with no ITS the MSI frame of a
                 * GICv2m serves PCI and isolates nothing. */
                if (p->interrupt_remapping) {
                        r = write_irq(root, 12, "ITS-pMSI", "edge", "arm-smmu-v3-evtq");
                        if (r < 0)
                                return r;
                }
                r = write_msi_controllers(p, root);
                if (r < 0)
                        return r;
                msi_prefix = p->interrupt_remapping ? "ITS-" : "GICv2m-";
        }

        for (size_t i = 0; i < p->n_groups; i++)
                for (size_t j = 0; j < p->groups[i].n_devices; j++) {
                        const ProfileDevice *d = &p->groups[i].devices[j];
                        _cleanup_free_ char *chip = NULL;

                        if (d->driver[0] == '\0' || sysfs_driver_is_vfio(d->driver))
                                continue;
                        if (asprintf(&chip, "%sPCI-MSIX-%s", msi_prefix, d->address) < 0)
                                return -ENOMEM;
                        r = write_irq(root, irq++, chip, "edge", d->driver);
                        if (r < 0)
                                return r;
                }

        return 0;
}

/*
 * Where @d lives below devices/: "pciDDDD:BB/BRIDGE/.../ADDR", below the
 * bridges its parents name (checked by the profile to end on a root bus),
 * and "../" once per level, for the links back up to the root.
 */
static int device_rel_dir(const Profile *p, const ProfileDevice *d, char **ret, char **ret_up) {
        _cleanup_free_ char *rel = NULL, *up = NULL;
        const ProfileDevice *top = d;

        rel = strdup(d->address);
        if (!rel)
                return -ENOMEM;
        while (top->parent[0]) {
                const ProfileDevice *x = profile_find_device(p, top->parent);
                char *n;

                if (!x)
                        return -EINVAL;
                if (asprintf(&n, "%s/%s", x->address, rel) < 0)
                        return -ENOMEM;
                free(rel);
                rel = n;
                top = x;
        }
        {
                char *n;

                if (asprintf(&n, "pci%.7s/%s", top->address, rel) < 0)
                        return -ENOMEM;
                free(rel);
                rel = n;
        }
        /* devices/ plus one level per component. */
        up = strdup("../");
        if (!up)
                return -ENOMEM;
        for (const char *c = rel; *c; c++)
                if (*c == '/' || c == rel) {
                        char *n;

                        if (asprintf(&n, "%s../", up) < 0)
                                return -ENOMEM;
                        free(up);
                        up = n;
                }
        *ret = TAKE_PTR(rel);
        *ret_up = TAKE_PTR(up);
        return 0;
}

/* The recorded configuration space, as the kernel's config attribute reads for root. */
static int write_config(const ProfileDevice *d, const char *dir) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = 0;
        FILE *f;
        int r;

        if (d->config) {
                if (asprintf(&path, "%s/config", dir) < 0)
                        return -ENOMEM;
                fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
                if (fd < 0)
                        return -errno;
                if (write(fd, d->config, d->config_size) != (ssize_t) d->config_size)
                        return -EIO;
        }
        if (!d->resources)
                return 0;
        f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        for (char **l = d->resources; *l; l++)
                fprintf(f, "%s\n", *l);
        if (fclose(f) != 0)
                return -ENOMEM;
        r = write_attr(dir, "resource", "%s", text);
        return r;
}

static int write_device(const Profile *p, const ProfileGroup *g, const ProfileDevice *d, const char *root) {
        _cleanup_free_ char *dir = NULL, *rel = NULL, *up = NULL, *target = NULL, *link_dir = NULL;
        int r;

        /* Devices live below devices/pciDDDD:BB, nested below their bridges,
         * and every other view links there, as on a real system; the reader
         * only goes through links. */
        r = device_rel_dir(p, d, &rel, &up);
        if (r < 0)
                return r;
        r = make_dir(&dir, "%s/devices/%s", root, rel);
        if (r < 0)
                return r;
        r = write_config(d, dir);
        if (r < 0)
                return r;

        r = write_attr(dir, "vendor", "0x%04x\n", d->vendor);
        if (r < 0)
                return r;
        r = write_attr(dir, "device", "0x%04x\n", d->device);
        if (r < 0)
                return r;
        r = write_attr(dir, "class", "0x%06x\n", d->class);
        if (r < 0)
                return r;
        /* What the kernel prints while no override is set. */
        r = write_attr(dir, "driver_override", "(null)\n");
        if (r < 0)
                return r;
        if (asprintf(&target, "%sbus/pci", up) < 0)
                return -ENOMEM;
        r = make_link(dir, "subsystem", target);
        free(target);
        target = NULL;
        if (r < 0)
                return r;

        if (asprintf(&target, "%skernel/iommu_groups/%u", up, g->id) < 0)
                return -ENOMEM;
        r = make_link(dir, "iommu_group", target);
        if (r < 0)
                return r;
        free(target);
        target = NULL;

        if (asprintf(&target, "../../../devices/%s", rel) < 0)
                return -ENOMEM;
        r = make_dir(&link_dir, "%s/bus/pci/devices", root);
        if (r < 0)
                return r;
        r = make_link(link_dir, d->address, target);
        if (r < 0)
                return r;
        free(target);
        target = NULL;
        free(link_dir);
        link_dir = NULL;

        if (asprintf(&target, "../../../../devices/%s", rel) < 0)
                return -ENOMEM;
        r = make_dir(&link_dir, "%s/kernel/iommu_groups/%u/devices", root, g->id);
        if (r < 0)
                return r;
        r = make_link(link_dir, d->address, target);
        if (r < 0)
                return r;

        if (d->driver[0] == '\0')
                return 0;

        free(link_dir);
        link_dir = NULL;
        r = make_dir(&link_dir, "%s/bus/pci/drivers/%s", root, d->driver);
        if (r < 0)
                return r;
        r = make_link(link_dir, d->address, target);
        if (r < 0)
                return r;
        free(target);
        target = NULL;
        if (asprintf(&target, "%sbus/pci/drivers/%s", up, d->driver) < 0)
                return -ENOMEM;
        return make_link(dir, "driver", target);
}

static int write_group(const Profile *p, const ProfileGroup *g, const char *root) {
        _cleanup_free_ char *dir = NULL, *text = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        r = make_dir(NULL, "%s/kernel/iommu_groups/%u/devices", root, g->id);
        if (r < 0)
                return r;
        if (asprintf(&dir, "%s/kernel/iommu_groups/%u", root, g->id) < 0)
                return -ENOMEM;

        /* The profile's lines verbatim: repeats and odd spacing included,
         * so the reader sees what the sampled kernel printed. */
        f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        for (char **l = g->reserved_lines; l && *l; l++)
                fprintf(f, "%s\n", *l);
        if (fclose(f) != 0)
                return -ENOMEM;
        r = write_attr(dir, "reserved_regions", "%s", text);
        if (r < 0)
                return r;

        for (size_t i = 0; i < g->n_devices; i++) {
                r = write_device(p, g, &g->devices[i], root);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sysfs_write_profile(const Profile *p, const char *dir) {
        _cleanup_free_ char *path = NULL;
        int r;

        assert(p);
        assert(dir);

        r = dir_is_empty(dir);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOTEMPTY;

        r = make_dir(NULL, "%s/bus/pci/devices", dir);
        if (r < 0)
                return r;
        /* A host that does VFIO has vfio-pci loaded, bound or not. */
        r = make_dir(NULL, "%s/bus/pci/drivers/vfio-pci", dir);
        if (r < 0)
                return r;
        r = make_dir(NULL, "%s/kernel/iommu_groups", dir);
        if (r < 0)
                return r;

        for (size_t i = 0; i < p->n_groups; i++) {
                r = write_group(p, &p->groups[i], dir);
                if (r < 0)
                        return r;
        }

        r = write_irqs(p, dir);
        if (r < 0)
                return r;

        r = make_dir(&path, "%s/module/vfio_iommu_type1/parameters", dir);
        if (r < 0)
                return r;
        r = write_attr(path, "allow_unsafe_interrupts", "%s\n", p->allow_unsafe_interrupts ? "Y" : "N");
        if (r < 0)
                return r;
        return write_attr(path, "dma_entry_limit", "%" PRIu32 "\n", p->dma_entry_limit);
}

