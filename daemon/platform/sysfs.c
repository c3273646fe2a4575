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

#include "util/macro.h"
#include "platform/pci-config.h"
#include "platform/sysfs.h"
#include "util/parse-error.h"

/* sysfs attributes are at most a page; reserved_regions is one of them. */
#define ATTR_MAX (64U * 1024U)


static void strv_free(char **l) {
        for (char **i = l; i && *i; i++)
                free(*i);
        free(l);
}

const char *isolation_to_string(Isolation i) {
        switch (i) {
        case ISOLATION_REMAPPED:
                return "remapped";
        case ISOLATION_ISOLATED_MSI:
                return "isolated-msi";
        case ISOLATION_UNSAFE:
                return "unsafe";
        case ISOLATION_NONE:
                return "none";
        case ISOLATION_UNKNOWN:
                return "unknown";
        case _ISOLATION_MAX:
                break;
        }
        return NULL;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

bool pci_address_valid(const char *s) {
        /* dddd:bb:dd.f exactly as the kernel names devices (lower case,
         * device 0x00..0x1f, function 0..7), so each device has one name. */
        static const char pattern[] = "xxxx:xx:xx.x";

        if (!s || strlen(s) != sizeof(pattern) - 1)
                return false;
        for (size_t i = 0; pattern[i]; i++) {
                if (pattern[i] != 'x') {
                        if (s[i] != pattern[i])
                                return false;
                } else if (hexval(s[i]) < 0)
                        return false;
        }
        if (hexval(s[8]) * 16 + hexval(s[9]) > 0x1f)
                return false;
        if (s[11] > '7')
                return false;
        return true;
}

bool driver_name_valid(const char *s, size_t size) {
        /* It is a directory name below bus/pci/drivers and a symlink target. */
        if (!s || s[0] == '\0' || strlen(s) >= size)
                return false;
        if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == '/' || (unsigned char) *p >= 0x7f)
                        return false;
        return true;
}

/* Read a whole attribute; trailing white space (the kernel's "\n") is cut. */
static int read_attr(const char *path, char **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, size = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        for (;;) {
                ssize_t k;

                if (n == size) {
                        char *b;

                        if (size == ATTR_MAX)
                                return -EFBIG;
                        size = size == 0 ? 4096 : size * 2;
                        b = realloc(buf, size + 1);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                k = read(fd, buf + n, size - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
                n--;
        buf[n] = '\0';
        if (strlen(buf) != n)
                return -EBADMSG;

        *ret = TAKE_PTR(buf);
        return 0;
}

/* The last component of a symlink's target: drivers and groups are named
 * by where their links point. */
static int read_link_name(const char *path, char **ret) {
        char target[PATH_MAX];
        const char *slash;
        ssize_t n;
        char *s;

        n = readlink(path, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = '\0';
        while (n > 1 && target[n - 1] == '/')
                target[--n] = '\0';
        slash = strrchr(target, '/');
        s = strdup(slash ? slash + 1 : target);
        if (!s)
                return -ENOMEM;
        if (!s[0]) {
                free(s);
                return -EINVAL;
        }
        *ret = s;
        return 0;
}

static int parse_unsigned(const char *s, unsigned long max, unsigned long *ret) {
        unsigned long v;
        char *end;

        if (!s[0] || s[0] < '0' || s[0] > '9')
                return -EINVAL;
        /* No leading zeros: "05" is not a group the kernel would name. */
        if (s[0] == '0' && s[1])
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_hex_id(const char *s, unsigned max_digits, uint32_t max, uint32_t *ret) {
        uint32_t v = 0;
        size_t n;

        if (s[0] != '0' || s[1] != 'x')
                return -EINVAL;
        s += 2;
        n = strlen(s);
        if (n == 0 || n > max_digits)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                int d = hexval(s[i]);

                if (d < 0)
                        return -EINVAL;
                v = v * 16 + (uint32_t) d;
        }
        if (v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int read_hex_attr(const char *dir, const char *name, unsigned max_digits, uint32_t max,
                         uint32_t *ret, char **ret_error) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        r = read_attr(path, &text);
        if (r == -ENOENT)
                return parse_error(ret_error, -EINVAL, "%s: missing", path);
        if (r == -EBADMSG)
                return parse_error(ret_error, -EINVAL, "%s: contains a NUL byte", path);
        if (r < 0)
                return parse_error(ret_error, r, "%s: %s", path, strerror(-r));
        r = parse_hex_id(text, max_digits, max, ret);
        if (r < 0)
                return parse_error(ret_error, r, "%s: expected a hex number of at most 0x%" PRIx32 ", got \"%s\"", path, max, text);
        return 0;
}

/*
 * Where the device sits: the real directory of bus/pci/devices/ADDR is
 * devices/.../pciDDDD:BB/BRIDGE/.../ADDR, each bridge on the way a PCI
 * address. Its parent is the last of them, "" when it is on the root bus.
 */
static void read_topology(const char *dir, SysfsDevice *d) {
        _cleanup_free_ char *real = realpath(dir, NULL);
        char *save = NULL, *prev = NULL;

        d->parent[0] = d->root_bus[0] = '\0';
        if (!real)
                return;
        for (char *c = strtok_r(real, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strncmp(c, "pci", 3) == 0 && strlen(c) == 10 && c[7] == ':') {
                        snprintf(d->root_bus, sizeof(d->root_bus), "%s", c);
                        prev = NULL;
                } else if (pci_address_valid(c) && strcmp(c, d->address) != 0)
                        prev = c;
                else if (strcmp(c, d->address) == 0)
                        break;
                else
                        prev = NULL;
        }
        if (prev)
                snprintf(d->parent, sizeof(d->parent), "%s", prev);
}

static int read_device(const char *root, const char *address, SysfsDevice *ret, char **ret_error) {
        _cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
        SysfsDevice d = { .iommu_group = -1 };
        uint32_t v;
        int r;

        if (asprintf(&dir, "%s/bus/pci/devices/%s", root, address) < 0)
                return -ENOMEM;
        assert(strlen(address) < sizeof(d.address));
        strcpy(d.address, address);

        r = read_hex_attr(dir, "vendor", 4, UINT16_MAX, &v, ret_error);
        if (r < 0)
                return r;
        d.vendor = (uint16_t) v;
        r = read_hex_attr(dir, "device", 4, UINT16_MAX, &v, ret_error);
        if (r < 0)
                return r;
        d.device = (uint16_t) v;
        r = read_hex_attr(dir, "class", 6, 0xffffff, &v, ret_error);
        if (r < 0)
                return r;
        d.class = v;

        if (asprintf(&path, "%s/driver", dir) < 0)
                return -ENOMEM;
        r = read_link_name(path, &text);
        if (r >= 0) {
                if (strlen(text) >= sizeof(d.driver))
                        return parse_error(ret_error, -EINVAL, "%s: driver name \"%s\" is too long", path, text);
                strcpy(d.driver, text);
        } else if (r != -ENOENT)
                return parse_error(ret_error, r, "%s: %s", path, strerror(-r));
        free(path);
        path = NULL;
        free(text);
        text = NULL;

        /* The kernel prints "(null)" while no override is set. */
        if (asprintf(&path, "%s/driver_override", dir) < 0)
                return -ENOMEM;
        r = read_attr(path, &text);
        if (r >= 0) {
                if (strlen(text) >= sizeof(d.override))
                        return parse_error(ret_error, -EINVAL, "%s: \"%s\" is too long", path, text);
                if (strcmp(text, "(null)") != 0)
                        strcpy(d.override, text);
        } else if (r != -ENOENT)
                return parse_error(ret_error, r, "%s: %s", path, strerror(-r));
        free(path);
        path = NULL;
        free(text);
        text = NULL;

        read_topology(dir, &d);

        if (asprintf(&path, "%s/iommu_group", dir) < 0)
                return -ENOMEM;
        r = read_link_name(path, &text);
        if (r >= 0) {
                unsigned long id;

                if (parse_unsigned(text, INT_MAX, &id) < 0)
                        return parse_error(ret_error, -EINVAL, "%s: \"%s\" is not an IOMMU group", path, text);
                d.iommu_group = (int) id;
        } else if (r != -ENOENT)
                return parse_error(ret_error, r, "%s: %s", path, strerror(-r));

        *ret = d;
        return 0;
}

static int cmp_device(const void *a, const void *b) {
        return strcmp(((const SysfsDevice *) a)->address, ((const SysfsDevice *) b)->address);
}

static int cmp_group(const void *a, const void *b) {
        unsigned x = ((const SysfsGroup *) a)->id, y = ((const SysfsGroup *) b)->id;

        return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int read_devices(const char *root, SysfsPlatform *p, char **ret_error) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ char *path = NULL;
        size_t allocated = 0;
        struct dirent *de;

        if (asprintf(&path, "%s/bus/pci/devices", root) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                return parse_error(ret_error, -errno, "%s: %s", path, strerror(errno));
        }

        /* Names that are not PCI addresses are skipped: the only ones a
         * kernel shows are behind Intel VMD (five-digit domains), and those
         * devices cannot be assigned on their own. */
        while ((errno = 0, de = readdir(d))) {
                int r;

                if (!pci_address_valid(de->d_name))
                        continue;
                if (p->n_devices == allocated) {
                        size_t n = allocated ? allocated * 2 : 16;
                        SysfsDevice *a = reallocarray(p->devices, n, sizeof(SysfsDevice));

                        if (!a)
                                return -ENOMEM;
                        p->devices = a;
                        allocated = n;
                }
                r = read_device(root, de->d_name, &p->devices[p->n_devices], ret_error);
                if (r < 0)
                        return r;
                p->n_devices++;
        }
        if (errno != 0)
                return parse_error(ret_error, -errno, "%s: %s", path, strerror(errno));

        if (p->n_devices > 0)
                qsort(p->devices, p->n_devices, sizeof(SysfsDevice), cmp_device);
        /* Configuration spaces, for peer-to-peer analysis (p2p.h). */
        return pci_config_read(root, p->devices, p->n_devices);
}

/* The text of line @line (1-based) of @text, for error messages. */
static char *line_of(const char *text, unsigned line) {
        const char *s = text, *e;

        for (unsigned i = 1; i < line && s; i++) {
                s = strchr(s, '\n');
                if (s)
                        s++;
        }
        if (!s)
                return strdup("");
        e = strchr(s, '\n');
        return strndup(s, e ? (size_t) (e - s) : strlen(s));
}

static int read_group_devices(const char *dir, SysfsGroup *g, char **ret_error) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ char *path = NULL;
        size_t n = 0, allocated = 1;
        struct dirent *de;

        g->devices = calloc(allocated, sizeof(char *));
        if (!g->devices)
                return -ENOMEM;

        if (asprintf(&path, "%s/devices", dir) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                return parse_error(ret_error, -errno, "%s: %s", path, strerror(errno));
        }

        /* Only PCI members are listed; platform devices sharing a group on
         * some ARM systems are out of scope for vfio-pci. */
        while ((errno = 0, de = readdir(d))) {
                if (!pci_address_valid(de->d_name))
                        continue;
                if (n + 1 == allocated) {
                        char **a = reallocarray(g->devices, allocated * 2, sizeof(char *));

                        if (!a)
                                return -ENOMEM;
                        g->devices = a;
                        allocated *= 2;
                }
                g->devices[n] = strdup(de->d_name);
                if (!g->devices[n])
                        return -ENOMEM;
                g->devices[++n] = NULL;
        }
        if (errno != 0)
                return parse_error(ret_error, -errno, "%s: %s", path, strerror(errno));

        if (n > 0)
                qsort(g->devices, n, sizeof(char *), cmp_str);
        return 0;
}

static int read_group(const char *root, unsigned id, SysfsGroup *g, char **ret_error) {
        _cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
        char origin[REGION_ORIGIN_MAX];
        unsigned line = 0;
        int r;

        g->id = id;
        if (asprintf(&dir, "%s/kernel/iommu_groups/%u", root, id) < 0)
                return -ENOMEM;

        (void) snprintf(origin, sizeof(origin), "group %u", id);
        if (asprintf(&path, "%s/reserved_regions", dir) < 0)
                return -ENOMEM;
        r = read_attr(path, &text);
        if (r == -EBADMSG)
                return parse_error(ret_error, -EINVAL, "%s: contains a NUL byte", path);
        if (r < 0 && r != -ENOENT)
                return parse_error(ret_error, r, "%s: %s", path, strerror(-r));
        /* Kernels before 4.11 have no reserved_regions: nothing reserved. */
        if (r >= 0) {
                r = region_list_parse(&g->regions, text, origin, &line);
                if (r == -EINVAL) {
                        _cleanup_free_ char *bad = line_of(text, line);

                        if (!bad)
                                return -ENOMEM;
                        return parse_error(ret_error, -EINVAL, "%s:%u: malformed reserved region \"%s\"", path, line, bad);
                }
                if (r < 0)
                        return r;
                /* The kernel may repeat a line per device or print
                 * overlapping ones; one hole per type is what users see. */
                region_list_normalize(&g->regions);
        }

        return read_group_devices(dir, g, ret_error);
}

static int read_groups(const char *root, SysfsPlatform *p, char **ret_error) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ char *path = NULL;
        size_t allocated = 0;
        struct dirent *de;

        if (asprintf(&path, "%s/kernel/iommu_groups", root) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                return parse_error(ret_error, -errno, "%s: %s", path, strerror(errno));
        }

        while ((errno = 0, de = readdir(d))) {
                unsigned long id;
                int r;

                if (parse_unsigned(de->d_name, UINT_MAX, &id) < 0)
                        continue;
                if (p->n_groups == allocated) {
                        size_t n = allocated ? allocated * 2 : 16;
                        SysfsGroup *a = reallocarray(p->groups, n, sizeof(SysfsGroup));

                        if (!a)
                                return -ENOMEM;
                        p->groups = a;
                        allocated = n;
                }
                /* Counted first so a half-read group is freed with the rest. */
                p->groups[p->n_groups++] = (SysfsGroup) {};
                r = read_group(root, (unsigned) id, &p->groups[p->n_groups - 1], ret_error);
                if (r < 0)
                        return r;
        }
        if (errno != 0)
                return parse_error(ret_error, -errno, "%s: %s", path, strerror(errno));

        if (p->n_groups > 0)
                qsort(p->groups, p->n_groups, sizeof(SysfsGroup), cmp_group);
        return 0;
}

static bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Interrupt isolation, from what the running kernel shows (docs/profiles.md
 * has the rule with its sources):
 *
 * VFIO type1 refuses an attach unless every device's MSI domain isolates
 * MSIs. The interrupt chips that do so name themselves, and
 * /sys/kernel/irq/N/chip_name shows the chip of each allocated interrupt:
 * x86 chips stacked on Intel's or AMD's interrupt-remapping domain carry
 * the prefix "IR-" ("vIR-" for a virtual IOMMU on some kernels), and
 * interrupts translated by an ARM GICv3 ITS carry "ITS-". An ITS that no
 * host driver uses right now has no such interrupt, but the device tree
 * still names it ("arm,gic-v3-its"). Chips that isolate nothing (x86's
 * plain IO-APIC, a GICv2m frame, also named in the device tree) say
 * "none"; with no evidence either way the answer is "unknown", and the
 * kernel is asked instead (manager_check_attach() probes). The IOMMUs'
 * capability registers (VT-d ecap.IR) only say the hardware could remap,
 * not that the kernel does (intremap=off), so they are not used.
 * Without isolation, vfio_iommu_type1.allow_unsafe_interrupts=Y still
 * lets an attach through.
 */
/* Whether a compatible file of the device tree below @dir (to @depth levels) says @want. */
static bool dt_has(const char *dir, unsigned depth, const char *want) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return false;
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                if (de->d_name[0] == '.' || asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        continue;
                if (strcmp(de->d_name, "compatible") == 0) {
                        char buf[256];
                        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
                        /* A list of NUL-terminated strings. */
                        for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t) strnlen(buf + off, (size_t) (n - off)) + 1) {
                                buf[n] = 0;
                                if (strcmp(buf + off, want) == 0)
                                        return true;
                        }
                } else if (depth > 0 && de->d_type == DT_DIR && dt_has(path, depth - 1, want))
                        return true;
        }
        return false;
}

static int read_isolation(const char *root, Isolation *ret) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ char *path = NULL, *text = NULL;
        bool remapped = false, its = false, plain = false;
        struct dirent *de;
        int r;

        if (asprintf(&path, "%s/kernel/irq", root) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d && errno != ENOENT)
                return -errno;
        while (d && !remapped && (errno = 0, de = readdir(d))) {
                _cleanup_free_ char *chip_path = NULL, *chip = NULL;
                unsigned long irq;

                if (parse_unsigned(de->d_name, UINT_MAX, &irq) < 0)
                        continue;
                if (asprintf(&chip_path, "%s/%s/chip_name", path, de->d_name) < 0)
                        return -ENOMEM;
                /* Interrupts come and go while we read; a vanished one
                 * tells nothing. */
                if (read_attr(chip_path, &chip) < 0)
                        continue;
                if (startswith(chip, "IR-") || startswith(chip, "vIR-"))
                        remapped = true;
                else if (startswith(chip, "ITS-"))
                        its = true;
                else if (startswith(chip, "IO-APIC") || startswith(chip, "GICv2m-"))
                        /* MSI controllers that isolate nothing: x86's IO-APIC without remapping, a GICv2m frame. */
                        plain = true;
        }
        if (d && !remapped && errno != 0)
                return -errno;

        if (remapped) {
                *ret = ISOLATION_REMAPPED;
                return 0;
        }
        free(path);
        path = NULL;
        /* An ITS shows in the device tree whether or not a host driver holds its interrupts now. */
        if (asprintf(&path, "%s/firmware/devicetree/base", root) < 0)
                return -ENOMEM;
        if (its || dt_has(path, 3, "arm,gic-v3-its")) {
                *ret = ISOLATION_ISOLATED_MSI;
                return 0;
        }
        plain = plain || dt_has(path, 3, "arm,gic-v2m-frame");

        free(path);
        path = NULL;
        if (asprintf(&path, "%s/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", root) < 0)
                return -ENOMEM;
        r = read_attr(path, &text);
        /* Absent while vfio_iommu_type1 is not loaded: it defaults to N. */
        if (r < 0 && r != -ENOENT)
                return r;
        if (r >= 0 && (strcmp(text, "Y") == 0 || strcmp(text, "1") == 0))
                *ret = ISOLATION_UNSAFE;
        else
                *ret = plain ? ISOLATION_NONE : ISOLATION_UNKNOWN;
        return 0;
}

SysfsPlatform *sysfs_platform_free(SysfsPlatform *p) {
        if (!p)
                return NULL;

        for (size_t i = 0; i < p->n_groups; i++) {
                region_list_clear(&p->groups[i].regions);
                strv_free(p->groups[i].devices);
        }
        free(p->groups);
        free(p->devices);
        free(p->doorbells);
        free(p);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(SysfsPlatform *, sysfs_platform_free);

int sysfs_read_platform(const char *root, SysfsPlatform **ret, char **ret_error) {
        _cleanup_(sysfs_platform_freep) SysfsPlatform *p = NULL;
        int r;

        assert(root);
        assert(ret);

        p = calloc(1, sizeof(SysfsPlatform));
        if (!p)
                return -ENOMEM;

        r = read_devices(root, p, ret_error);
        if (r < 0)
                return r;
        r = read_groups(root, p, ret_error);
        if (r < 0)
                return r;
        r = read_isolation(root, &p->isolation);
        if (r < 0)
                return parse_error(ret_error, r, "%s: cannot read interrupt isolation: %s", root, strerror(-r));
        r = msi_read_doorbells(root, &p->doorbells, &p->n_doorbells, &p->doorbell_source);
        if (r < 0)
                return parse_error(ret_error, r, "%s: cannot read the MSI controllers: %s", root, strerror(-r));

        *ret = TAKE_PTR(p);
        return 0;
}

const SysfsDevice *sysfs_find_device(const SysfsPlatform *p, const char *address) {
        SysfsDevice key = {};

        assert(p);

        if (!address || strlen(address) >= sizeof(key.address) || p->n_devices == 0)
                return NULL;
        strcpy(key.address, address);
        return bsearch(&key, p->devices, p->n_devices, sizeof(SysfsDevice), cmp_device);
}

const SysfsGroup *sysfs_find_group(const SysfsPlatform *p, unsigned id) {
        SysfsGroup key = { .id = id };

        assert(p);

        if (p->n_groups == 0)
                return NULL;
        return bsearch(&key, p->groups, p->n_groups, sizeof(SysfsGroup), cmp_group);
}

bool sysfs_driver_is_vfio(const char *driver) {
        size_t l = strlen(driver);

        /* vfio-pci and its variant drivers (mlx5_vfio_pci, ...). */
        return l >= 8 && (strcmp(driver + l - 8, "vfio-pci") == 0 || strcmp(driver + l - 8, "vfio_pci") == 0);
}

bool sysfs_group_viable(const SysfsPlatform *p, const SysfsGroup *g) {
        assert(p);
        assert(g);

        /* As the kernel decides: a device may stay unbound or on a driver
         * that never does DMA on its own (pci-stub, and pcieport on the
         * bridges); anything else could DMA into the container. */
        for (char **a = g->devices; a && *a; a++) {
                const SysfsDevice *d = sysfs_find_device(p, *a);

                if (!d)
                        return false;
                if (d->driver[0] == '\0' || sysfs_driver_is_vfio(d->driver) ||
                    strcmp(d->driver, "pci-stub") == 0 || strcmp(d->driver, "pcieport") == 0)
                        continue;
                return false;
        }
        return true;
}
