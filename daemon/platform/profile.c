/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json.h>

#include "util/json-util.h"
#include "util/macro.h"
#include "platform/profile.h"
#include "platform/sysfs.h"
#include "util/parse-error.h"

/* Profiles are small hand-written files; anything this big is a mistake. */
#define PROFILE_FILE_MAX (4U * 1024U * 1024U)


static void json_tokener_freep(json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

/* Every validation failure names the JSON path of the offending field first. */
#define fail(ret_error, path, fmt, ...) parse_error((ret_error), -EINVAL, "%s: " fmt, (path), ##__VA_ARGS__)

_printf_(2, 3)
static char *path_join(const char *parent, const char *fmt, ...) {
        _cleanup_free_ char *child = NULL;
        va_list ap;
        char *p;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&child, fmt, ap);
        va_end(ap);
        if (r < 0)
                return NULL;

        /* Array indexes attach directly, keys with a dot; the root has no name. */
        if (!parent)
                return TAKE_PTR(child);
        if (asprintf(&p, "%s%s%s", parent, child[0] == '[' ? "" : ".", child) < 0)
                return NULL;
        return p;
}

/* Unknown keys are refused so that a typo ("dma_entry_limt") is not
 * silently replaced by a default. */
static int check_keys(json_object *o, const char *path, const char *const *allowed, char **ret_error) {
        json_object_object_foreach(o, key, val) {
                bool found = false;

                (void) val;
                for (size_t i = 0; allowed[i]; i++)
                        if (strcmp(key, allowed[i]) == 0) {
                                found = true;
                                break;
                        }
                if (!found) {
                        _cleanup_free_ char *p = path_join(path, "%s", key), *known = NULL;
                        size_t n = 0;
                        FILE *f;

                        if (!p)
                                return -ENOMEM;
                        f = open_memstream(&known, &n);
                        if (!f)
                                return -ENOMEM;
                        for (size_t i = 0; allowed[i]; i++)
                                fprintf(f, "%s%s", i > 0 ? ", " : "", allowed[i]);
                        if (fclose(f) != 0)
                                return -ENOMEM;
                        return fail(ret_error, p, "unknown key (known: %s)", known);
                }
        }

        return 0;
}

static int get_u64(json_object *o, const char *path, uint64_t min, uint64_t max, uint64_t *ret, char **ret_error) {
        int64_t i;
        uint64_t u;

        if (!json_object_is_type(o, json_type_int))
                return fail(ret_error, path, "expected an integer");

        /* json-c keeps values above INT64_MAX as unsigned: get_int64() then
         * clamps to INT64_MAX while get_uint64() has the value, and for
         * negative values get_uint64() clamps to 0. */
        i = json_object_get_int64(o);
        if (i < 0)
                return fail(ret_error, path, "expected an integer in %" PRIu64 "..%" PRIu64, min, max);
        u = json_object_get_uint64(o);
        if (u < min || u > max)
                return fail(ret_error, path, "expected an integer in %" PRIu64 "..%" PRIu64, min, max);

        *ret = u;
        return 0;
}

static int get_bool(json_object *o, const char *path, bool *ret, char **ret_error) {
        if (!json_object_is_type(o, json_type_boolean))
                return fail(ret_error, path, "expected true or false");
        *ret = json_object_get_boolean(o);
        return 0;
}

/* "0x8086": the form sysfs prints ids in, so profiles read like the files. */
static int get_hex(json_object *o, const char *path, unsigned max_digits, uint32_t max, const char *example,
                   uint32_t *ret, char **ret_error) {
        const char *s;
        uint32_t v = 0;
        size_t n;

        if (!json_object_is_type(o, json_type_string))
                goto bad;
        s = json_object_get_string(o);
        if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
                goto bad;
        s += 2;
        n = strlen(s);
        if (n == 0 || n > max_digits)
                goto bad;
        for (size_t i = 0; i < n; i++) {
                int d;

                if (s[i] >= '0' && s[i] <= '9')
                        d = s[i] - '0';
                else if (s[i] >= 'a' && s[i] <= 'f')
                        d = s[i] - 'a' + 10;
                else if (s[i] >= 'A' && s[i] <= 'F')
                        d = s[i] - 'A' + 10;
                else
                        goto bad;
                v = v * 16 + (uint32_t) d;
        }
        if (v > max)
                goto bad;

        *ret = v;
        return 0;

bad:
        return fail(ret_error, path, "expected a hex string like \"%s\" (at most 0x%" PRIx32 ")", example, max);
}

static void strv_free(char **l) {
        for (char **i = l; i && *i; i++)
                free(*i);
        free(l);
}

static void profile_device_done(ProfileDevice *d) {
        free(d->config);
        d->config = NULL;
        strv_free(d->resources);
        d->resources = NULL;
}

static void profile_group_done(ProfileGroup *g) {
        for (char **l = g->reserved_lines; l && *l; l++)
                free(*l);
        free(g->reserved_lines);
        region_list_clear(&g->regions);
        for (size_t i = 0; i < g->n_devices; i++)
                profile_device_done(&g->devices[i]);
        free(g->devices);
}

Profile *profile_free(Profile *p) {
        if (!p)
                return NULL;

        for (size_t i = 0; i < p->n_groups; i++)
                profile_group_done(&p->groups[i]);
        free(p->groups);
        free(p->name);
        free(p->description);
        free(p->kernel_release);
        free(p->msi_controllers);
        free(p);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Profile *, profile_free);

/* The first device, in profile order, with this address, or NULL. */
static const char *find_address(const Profile *p, const char *address, size_t *ret_group, size_t *ret_device) {
        for (size_t i = 0; i < p->n_groups; i++)
                for (size_t j = 0; j < p->groups[i].n_devices; j++)
                        if (strcmp(p->groups[i].devices[j].address, address) == 0) {
                                *ret_group = i;
                                *ret_device = j;
                                return p->groups[i].devices[j].address;
                        }
        return NULL;
}

static int hexdigit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/*
 * lspci -xxx / -xxxx lines: "OFF: b0 b1 ...", OFF hex below 0x1000, up to
 * 16 bytes of two hex digits each. Anything unset reads as zero, as a
 * function's unimplemented registers do.
 */
static int parse_config(json_object *v, const char *path, ProfileDevice *d, char **ret_error) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n, size = 256;

        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0)
                return fail(ret_error, path, "expected an array of lspci -xxx lines like \"00: 86 80 21 15 ...\"");
        buf = calloc(1, 4096);
        if (!buf)
                return -ENOMEM;
        n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *sub = path_join(path, "[%zu]", i);
                json_object *l = json_object_array_get_idx(v, i);
                const char *s;
                unsigned off = 0, k = 0;
                int digits = 0;

                if (!sub)
                        return -ENOMEM;
                if (!json_object_is_type(l, json_type_string))
                        goto bad;
                s = json_object_get_string(l);
                for (; hexdigit(*s) >= 0 && digits < 4; s++, digits++)
                        off = off * 16 + (unsigned) hexdigit(*s);
                if (digits == 0 || *s != ':' || off >= 4096)
                        goto bad;
                s++;
                while (*s) {
                        if (*s != ' ' || hexdigit(s[1]) < 0 || hexdigit(s[2]) < 0 || (s[3] && s[3] != ' '))
                                goto bad;
                        if (k == 16 || off + k >= 4096)
                                goto bad;
                        buf[off + k++] = (uint8_t) (hexdigit(s[1]) * 16 + hexdigit(s[2]));
                        s += 3;
                }
                if (k == 0)
                        goto bad;
                if (off + k > 256)
                        size = 4096;
                continue;
        bad:
                return fail(ret_error, sub, "expected an lspci -xxx line like \"00: 86 80 21 15\" (offset below 0x1000, "
                            "at most 16 bytes)");
        }
        d->config = TAKE_PTR(buf);
        d->config_size = size;
        return 0;
}

/* sysfs resource lines: "0x%016llx 0x%016llx 0x%016llx" (start, end, flags), at most 17. */
static int parse_resources(json_object *v, const char *path, ProfileDevice *d, char **ret_error) {
        size_t n;

        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0 ||
            json_object_array_length(v) > 17)
                return fail(ret_error, path, "expected an array of 1 to 17 resource lines");
        n = json_object_array_length(v);
        d->resources = calloc(n + 1, sizeof(char *));
        if (!d->resources)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *sub = path_join(path, "[%zu]", i);
                json_object *l = json_object_array_get_idx(v, i);
                unsigned long long a, b, f;
                char end;

                if (!sub)
                        return -ENOMEM;
                if (!json_object_is_type(l, json_type_string) ||
                    sscanf(json_object_get_string(l), "0x%llx 0x%llx 0x%llx%c", &a, &b, &f, &end) != 3 ||
                    (a > b && !(a == 0 && b == 0)))
                        return fail(ret_error, sub,
                                    "expected a resource line like \"0x00000000fe000000 0x00000000fe0fffff "
                                    "0x0000000000040200\"");
                d->resources[i] = strdup(json_object_get_string(l));
                if (!d->resources[i])
                        return -ENOMEM;
        }
        return 0;
}

static int parse_device_extra(json_object *o, const char *path, ProfileDevice *d, char **ret_error) {
        json_object *v;
        int r;

        if (json_object_object_get_ex(o, "parent", &v)) {
                _cleanup_free_ char *sub = path_join(path, "parent");

                if (!sub)
                        return -ENOMEM;
                if (!json_object_is_type(v, json_type_string) || !pci_address_valid(json_object_get_string(v)))
                        return fail(ret_error, sub, "expected the PCI address of the upstream bridge like \"0000:00:1c.0\"");
                if (strcmp(json_object_get_string(v), d->address) == 0)
                        return fail(ret_error, sub, "a device cannot be its own parent");
                strcpy(d->parent, json_object_get_string(v));
        }
        if (json_object_object_get_ex(o, "config", &v)) {
                _cleanup_free_ char *sub = path_join(path, "config");

                if (!sub)
                        return -ENOMEM;
                r = parse_config(v, sub, d, ret_error);
                if (r < 0)
                        return r;
        }
        if (json_object_object_get_ex(o, "resources", &v)) {
                _cleanup_free_ char *sub = path_join(path, "resources");

                if (!sub)
                        return -ENOMEM;
                r = parse_resources(v, sub, d, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_device(json_object *o, const char *path, const Profile *p, ProfileDevice *d, char **ret_error) {
        static const char *const keys[] = { "address", "vendor", "device", "class", "driver", "parent", "config",
                                            "resources", NULL };
        static const char *const required[] = { "address", "vendor", "device", "class" };
        json_object *v;
        uint32_t x;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return fail(ret_error, path, "expected an object");
        r = check_keys(o, path, keys, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(required); i++)
                if (!json_object_object_get_ex(o, required[i], NULL)) {
                        _cleanup_free_ char *sub = path_join(path, "%s", required[i]);

                        if (!sub)
                                return -ENOMEM;
                        return fail(ret_error, sub, "missing");
                }

        {
                _cleanup_free_ char *sub = path_join(path, "address");
                const char *a;
                size_t gi, di;

                if (!sub)
                        return -ENOMEM;
                (void) json_object_object_get_ex(o, "address", &v);
                if (!json_object_is_type(v, json_type_string) || !pci_address_valid(json_object_get_string(v)))
                        return fail(ret_error, sub, "expected a PCI address like \"0000:01:00.0\"");
                a = json_object_get_string(v);
                if (find_address(p, a, &gi, &di))
                        return fail(ret_error, sub, "\"%s\" is already used by groups[%zu].devices[%zu]", a, gi, di);
                assert(strlen(a) < sizeof(d->address));
                strcpy(d->address, a);
        }

        {
                _cleanup_free_ char *sub = path_join(path, "vendor");

                if (!sub)
                        return -ENOMEM;
                (void) json_object_object_get_ex(o, "vendor", &v);
                r = get_hex(v, sub, 4, UINT16_MAX, "0x8086", &x, ret_error);
                if (r < 0)
                        return r;
                d->vendor = (uint16_t) x;
        }

        {
                _cleanup_free_ char *sub = path_join(path, "device");

                if (!sub)
                        return -ENOMEM;
                (void) json_object_object_get_ex(o, "device", &v);
                r = get_hex(v, sub, 4, UINT16_MAX, "0x1521", &x, ret_error);
                if (r < 0)
                        return r;
                d->device = (uint16_t) x;
        }

        {
                _cleanup_free_ char *sub = path_join(path, "class");

                if (!sub)
                        return -ENOMEM;
                (void) json_object_object_get_ex(o, "class", &v);
                r = get_hex(v, sub, 6, 0xffffff, "0x020000", &x, ret_error);
                if (r < 0)
                        return r;
                d->class = x;
        }

        if (json_object_object_get_ex(o, "driver", &v)) {
                _cleanup_free_ char *sub = path_join(path, "driver");
                const char *s;

                if (!sub)
                        return -ENOMEM;
                if (!json_object_is_type(v, json_type_string))
                        return fail(ret_error, sub, "expected a driver name such as \"vfio-pci\", or \"\" for none");
                s = json_object_get_string(v);
                if (s[0] && !driver_name_valid(s, sizeof(d->driver)))
                        return fail(ret_error, sub, "expected a driver name such as \"vfio-pci\" (at most %zu characters, no '/' or white space)",
                                    sizeof(d->driver) - 1);
                strcpy(d->driver, s);
        } else
                d->driver[0] = '\0';

        /* Uncounted until it parsed: what it allocated goes with it on failure. */
        r = parse_device_extra(o, path, d, ret_error);
        if (r < 0)
                profile_device_done(d);
        return r;
}

const ProfileDevice *profile_find_device(const Profile *p, const char *address) {
        size_t gi, di;

        if (!find_address(p, address, &gi, &di))
                return NULL;
        return &p->groups[gi].devices[di];
}

/* Every parent is a device of the profile, and following parents ends on a root bus. */
static int check_parents(const Profile *p, char **ret_error) {
        for (size_t i = 0; i < p->n_groups; i++)
                for (size_t j = 0; j < p->groups[i].n_devices; j++) {
                        const ProfileDevice *d = &p->groups[i].devices[j];
                        _cleanup_free_ char *sub = NULL;
                        size_t steps = 0;

                        for (const ProfileDevice *x = d; x->parent[0]; steps++) {
                                const char *want = x->parent;

                                x = profile_find_device(p, want);
                                if (x && steps <= 64)
                                        continue;
                                sub = path_join("groups", "[%zu].devices[%zu].parent", i, j);
                                if (!sub)
                                        return -ENOMEM;
                                if (x)
                                        return fail(ret_error, sub, "\"%s\": its chain of parents loops", d->parent);
                                return fail(ret_error, sub, "\"%s\" is no device of the profile", want);
                        }
                }
        return 0;
}

/* @g is p->groups[@idx]; the groups before it are complete. */
static int parse_group(json_object *o, const char *path, Profile *p, size_t idx, char **ret_error) {
        ProfileGroup *g = &p->groups[idx];
        static const char *const keys[] = { "id", "reserved_regions", "devices", NULL };
        char origin[REGION_ORIGIN_MAX];
        json_object *v;
        uint64_t id;
        size_t n;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return fail(ret_error, path, "expected an object");
        r = check_keys(o, path, keys, ret_error);
        if (r < 0)
                return r;

        {
                _cleanup_free_ char *sub = path_join(path, "id");

                if (!sub)
                        return -ENOMEM;
                if (!json_object_object_get_ex(o, "id", &v))
                        return fail(ret_error, sub, "missing");
                r = get_u64(v, sub, 0, UINT32_MAX, &id, ret_error);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < idx; i++)
                        if (p->groups[i].id == id)
                                return fail(ret_error, sub, "group %" PRIu64 " is already defined by groups[%zu]", id, i);
                g->id = (unsigned) id;
        }

        (void) snprintf(origin, sizeof(origin), "group %u", g->id);

        /* Allocate the line array even when empty so that it is always a
         * valid NULL-terminated list for the caller. */
        n = 0;
        if (json_object_object_get_ex(o, "reserved_regions", &v)) {
                _cleanup_free_ char *sub = path_join(path, "reserved_regions");

                if (!sub)
                        return -ENOMEM;
                if (!json_object_is_type(v, json_type_array))
                        return fail(ret_error, sub, "expected an array of reserved_regions lines");
                n = json_object_array_length(v);
        }
        g->reserved_lines = calloc(n + 1, sizeof(char *));
        if (!g->reserved_lines)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *sub = path_join(path, "reserved_regions[%zu]", i);
                json_object *line = json_object_array_get_idx(v, i);
                const char *s;
                Region region;

                if (!sub)
                        return -ENOMEM;
                if (!json_object_is_type(line, json_type_string))
                        return fail(ret_error, sub, "expected a string like \"0x00000000fee00000 0x00000000feefffff msi\"");
                s = json_object_get_string(line);
                r = region_parse_line(s, &region);
                if (r == -EINVAL)
                        return fail(ret_error, sub, "malformed reserved region \"%s\" (expected \"START END TYPE\", "
                                    "inclusive hex addresses, TYPE one of direct, direct-relaxable, reserved, msi)", s);
                if (r < 0)
                        return r;
                r = region_list_add(&g->regions, region.start, region.end, region.type, origin);
                if (r < 0)
                        return r;
                g->reserved_lines[i] = strdup(s);
                if (!g->reserved_lines[i])
                        return -ENOMEM;
        }

        {
                _cleanup_free_ char *sub = path_join(path, "devices");

                if (!sub)
                        return -ENOMEM;
                if (!json_object_object_get_ex(o, "devices", &v))
                        return fail(ret_error, sub, "missing");
                if (!json_object_is_type(v, json_type_array))
                        return fail(ret_error, sub, "expected an array of devices");
                n = json_object_array_length(v);
                /* The kernel never creates an empty IOMMU group. */
                if (n == 0)
                        return fail(ret_error, sub, "expected at least one device");
        }
        g->devices = calloc(n, sizeof(ProfileDevice));
        if (!g->devices)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *sub = path_join(path, "devices[%zu]", i);

                if (!sub)
                        return -ENOMEM;
                r = parse_device(json_object_array_get_idx(v, i), sub, p, &g->devices[i], ret_error);
                if (r < 0)
                        return r;
                /* Count it only now, so the duplicate search above sees
                 * every device parsed so far, including this group's. */
                g->n_devices++;
        }

        return 0;
}

/* "0x" and 1..16 hex digits. */
static int parse_hex_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        size_t n;

        if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
                return -EINVAL;
        s += 2;
        n = strlen(s);
        if (n == 0 || n > 16)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                int d;

                if (s[i] >= '0' && s[i] <= '9')
                        d = s[i] - '0';
                else if (s[i] >= 'a' && s[i] <= 'f')
                        d = s[i] - 'a' + 10;
                else if (s[i] >= 'A' && s[i] <= 'F')
                        d = s[i] - 'A' + 10;
                else
                        return -EINVAL;
                v = v << 4 | (uint64_t) d;
        }
        *ret = v;
        return 0;
}

/* A bitmap with no page smaller than 4 KiB. */
static int parse_page_bitmap(const char *s, uint64_t *ret) {
        uint64_t v;

        if (parse_hex_u64(s, &v) < 0 || v == 0 || (v & -v) < 4096)
                return -EINVAL;
        *ret = v;
        return 0;
}

static bool profile_has_x86_window(const Profile *p) {
        for (size_t i = 0; i < p->n_groups; i++)
                for (size_t j = 0; j < p->groups[i].regions.n; j++) {
                        const Region *r = &p->groups[i].regions.items[j];

                        if (r->type == REGION_MSI && r->start <= X86_MSI_START && r->end >= X86_MSI_END)
                                return true;
                }
        return false;
}

static int parse_msi_controllers(json_object *v, Profile *p, char **ret_error) {
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return fail(ret_error, "msi_controllers", "expected an array of MSI controllers");
        /* x86 MSIs go to the interrupt window, which no SMMU translates. */
        if (profile_has_x86_window(p))
                return fail(ret_error, "msi_controllers",
                            "only Arm profiles have MSI controllers (this one reserves the x86 interrupt window)");
        n = json_object_array_length(v);
        p->msi_controllers = calloc(n > 0 ? n : 1, sizeof(ProfileMsiController));
        if (!p->msi_controllers)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                static const char *const keys[] = { "type", "base", NULL };
                _cleanup_free_ char *sub = path_join("msi_controllers", "[%zu]", i), *tsub = NULL, *bsub = NULL;
                json_object *o = json_object_array_get_idx(v, i), *x;
                ProfileMsiController *m = &p->msi_controllers[i];
                uint64_t align;
                int r;

                if (!sub)
                        return -ENOMEM;
                if (!json_object_is_type(o, json_type_object))
                        return fail(ret_error, sub, "expected an object");
                r = check_keys(o, sub, keys, ret_error);
                if (r < 0)
                        return r;
                tsub = path_join(sub, "type");
                bsub = path_join(sub, "base");
                if (!tsub || !bsub)
                        return -ENOMEM;
                if (!json_object_object_get_ex(o, "type", &x))
                        return fail(ret_error, tsub, "missing");
                if (json_object_is_type(x, json_type_string) && strcmp(json_object_get_string(x), "its") == 0)
                        m->type = MSI_CONTROLLER_ITS;
                else if (json_object_is_type(x, json_type_string) && strcmp(json_object_get_string(x), "gicv2m") == 0)
                        m->type = MSI_CONTROLLER_GICV2M;
                else
                        return fail(ret_error, tsub, "expected \"its\" or \"gicv2m\"");
                /* The isolation the kernel would find follows the controller. */
                if ((m->type == MSI_CONTROLLER_ITS) != p->interrupt_remapping)
                        return fail(ret_error, tsub,
                                    "an ITS isolates MSIs and a GICv2m frame does not: \"%s\" needs "
                                    "interrupt_remapping %s",
                                    msi_controller_type_to_string(m->type), p->interrupt_remapping ? "false" : "true");
                if (!json_object_object_get_ex(o, "base", &x))
                        return fail(ret_error, bsub, "missing");
                /* An ITS takes two 64 KiB frames, a GICv2m frame one 4 KiB page. */
                align = m->type == MSI_CONTROLLER_ITS ? 0x10000 : 0x1000;
                if (!json_object_is_type(x, json_type_string) || parse_hex_u64(json_object_get_string(x), &m->base) < 0 ||
                    (m->base & (align - 1)) != 0 || m->base > UINT64_MAX - 0x20000)
                        return fail(ret_error, bsub, "expected a hex address like \"0x8080000\", aligned to 0x%" PRIx64,
                                    align);
                for (size_t k = 0; k < i; k++)
                        if (p->msi_controllers[k].base == m->base)
                                return fail(ret_error, bsub, "0x%" PRIx64 " is already used by msi_controllers[%zu]",
                                            m->base, k);
                p->n_msi_controllers++;
        }
        return 0;
}

static int parse_root(json_object *root, Profile *p, char **ret_error) {
        static const char *const keys[] = {
                "name", "description", "aperture_bits", "page_sizes", "dma_entry_limit",
                "interrupt_remapping", "allow_unsafe_interrupts", "kernel_release", "groups", "msi_controllers", NULL,
        };
        json_object *v;
        uint64_t u;
        size_t n;
        int r;

        if (!json_object_is_type(root, json_type_object))
                return fail(ret_error, "(root)", "expected a JSON object");
        r = check_keys(root, NULL, keys, ret_error);
        if (r < 0)
                return r;

        if (!json_object_object_get_ex(root, "name", &v))
                return fail(ret_error, "name", "missing");
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)
                return fail(ret_error, "name", "expected a non-empty string");
        p->name = strdup(json_object_get_string(v));
        if (!p->name)
                return -ENOMEM;

        if (json_object_object_get_ex(root, "description", &v)) {
                if (!json_object_is_type(v, json_type_string))
                        return fail(ret_error, "description", "expected a string");
                p->description = strdup(json_object_get_string(v));
                if (!p->description)
                        return -ENOMEM;
        }

        if (json_object_object_get_ex(root, "kernel_release", &v)) {
                if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)
                        return fail(ret_error, "kernel_release", "expected a kernel release such as \"6.12.38\"");
                p->kernel_release = strdup(json_object_get_string(v));
                if (!p->kernel_release)
                        return -ENOMEM;
        }

        if (!json_object_object_get_ex(root, "aperture_bits", &v))
                return fail(ret_error, "aperture_bits", "missing");
        r = get_u64(v, "aperture_bits", 32, 64, &u, ret_error);
        if (r < 0)
                return r;
        p->aperture_bits = (unsigned) u;

        if (!json_object_object_get_ex(root, "page_sizes", &v))
                return fail(ret_error, "page_sizes", "missing");
        if (json_object_is_type(v, json_type_string)) {
                /* The bitmap as the kernel reports it (VFIO's iova_pgsizes,
                 * virtio-iommu's "page mask"): "0xfffffffffffff000" is every
                 * power of two from 4 KiB. */
                r = parse_page_bitmap(json_object_get_string(v), &p->page_sizes);
                if (r < 0)
                        return fail(ret_error, "page_sizes",
                                    "expected a bitmap of page sizes like \"0xfffffffffffff000\" whose lowest bit is "
                                    "at least 4096");
        } else if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0)
                return fail(ret_error, "page_sizes",
                            "expected a non-empty array of page sizes in bytes, or a bitmap like \"0xfffffffffffff000\"");
        n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *sub = path_join("page_sizes", "[%zu]", i);

                if (!sub)
                        return -ENOMEM;
                r = get_u64(json_object_array_get_idx(v, i), sub, 0, UINT64_MAX, &u, ret_error);
                if (r < 0)
                        return r;
                if (u < 4096 || !is_pow2_u64(u))
                        return fail(ret_error, sub, "%" PRIu64 " is not a power of two of at least 4096", u);
                p->page_sizes |= u;
        }

        p->dma_entry_limit = 65535;
        if (json_object_object_get_ex(root, "dma_entry_limit", &v)) {
                r = get_u64(v, "dma_entry_limit", 1, UINT32_MAX, &u, ret_error);
                if (r < 0)
                        return r;
                p->dma_entry_limit = (uint32_t) u;
        }

        if (json_object_object_get_ex(root, "interrupt_remapping", &v)) {
                r = get_bool(v, "interrupt_remapping", &p->interrupt_remapping, ret_error);
                if (r < 0)
                        return r;
        }

        if (json_object_object_get_ex(root, "allow_unsafe_interrupts", &v)) {
                r = get_bool(v, "allow_unsafe_interrupts", &p->allow_unsafe_interrupts, ret_error);
                if (r < 0)
                        return r;
        }

        if (!json_object_object_get_ex(root, "groups", &v))
                return fail(ret_error, "groups", "missing");
        if (!json_object_is_type(v, json_type_array))
                return fail(ret_error, "groups", "expected an array of groups");
        n = json_object_array_length(v);
        p->groups = calloc(n > 0 ? n : 1, sizeof(ProfileGroup));
        if (!p->groups)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *sub = path_join("groups", "[%zu]", i);

                if (!sub)
                        return -ENOMEM;
                /* Counted before parsing so a half-parsed group is freed. */
                p->n_groups++;
                r = parse_group(json_object_array_get_idx(v, i), sub, p, i, ret_error);
                if (r < 0)
                        return r;
        }

        r = check_parents(p, ret_error);
        if (r < 0)
                return r;

        /* After the groups: whether it is an x86 profile shows in their regions. */
        if (json_object_object_get_ex(root, "msi_controllers", &v)) {
                r = parse_msi_controllers(v, p, ret_error);
                if (r < 0)
                        return r;
        }

        return 0;
}

int profile_parse(const char *json, Profile **ret, char **ret_error) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_(profile_freep) Profile *p = NULL;
        size_t len, end;
        int r;

        assert(json);
        assert(ret);

        len = strlen(json);
        if (len > INT32_MAX)
                return -EFBIG;

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        /* Strict: no comments, no single quotes, no trailing commas. */
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);

        root = json_tokener_parse_ex(tok, json, (int) len);
        if (!root) {
                enum json_tokener_error e = json_tokener_get_error(tok);

                if (e == json_tokener_continue)
                        return fail(ret_error, "(root)", "JSON syntax error: unexpected end of input");
                return fail(ret_error, "(root)", "JSON syntax error at offset %zu: %s",
                            json_tokener_get_parse_end(tok), json_tokener_error_desc(e));
        }
        end = json_tokener_get_parse_end(tok);
        for (size_t i = end; i < len; i++)
                if (!strchr(" \t\r\n", json[i]))
                        return fail(ret_error, "(root)", "JSON syntax error at offset %zu: trailing data after the profile", i);

        p = calloc(1, sizeof(Profile));
        if (!p)
                return -ENOMEM;

        r = parse_root(root, p, ret_error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(p);
        return 0;
}

static int read_text_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > PROFILE_FILE_MAX)
                return -EFBIG;

        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = '\0';

        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

int profile_load(const char *what, const char *profiles_dir, Profile **ret, char **ret_error) {
        _cleanup_free_ char *path = NULL, *text = NULL, *err = NULL;
        Profile *p = NULL;
        size_t l, size = 0;
        int r;

        assert(what);
        assert(ret);

        l = strlen(what);
        if (l == 0)
                return -ENOENT;

        if (strchr(what, '/') || (l >= 5 && strcmp(what + l - 5, ".json") == 0)) {
                path = strdup(what);
                if (!path)
                        return -ENOMEM;
        } else {
                if (!profiles_dir)
                        return -ENOENT;
                /* Names never start with a dot, which keeps ".." out. */
                if (what[0] == '.')
                        return -ENOENT;
                if (asprintf(&path, "%s/%s.json", profiles_dir, what) < 0)
                        return -ENOMEM;
        }

        r = read_text_file(path, &text, &size);
        if (r < 0)
                return r;

        /* profile_parse() takes a C string; a NUL would cut the text short. */
        if (strlen(text) != size)
                r = fail(ret_error ? &err : NULL, "(root)", "JSON syntax error: the file contains a NUL byte");
        else
                r = profile_parse(text, &p, ret_error ? &err : NULL);
        if (r == -EINVAL && ret_error) {
                char *e;

                if (asprintf(&e, "%s: %s", path, err) < 0)
                        return -ENOMEM;
                free(*ret_error);
                *ret_error = e;
        }
        if (r < 0)
                return r;

        *ret = p;
        return 0;
}

const ProfileGroup *profile_find_group(const Profile *p, unsigned id) {
        assert(p);

        for (size_t i = 0; i < p->n_groups; i++)
                if (p->groups[i].id == id)
                        return &p->groups[i];
        return NULL;
}
