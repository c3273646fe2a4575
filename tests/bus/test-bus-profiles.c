/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every shipped platform profile on the bus: its devices and groups as
 * iovad lists them, CheckAttach against AttachGroup for every group, and
 * the profiles made for one refusal each: driver viability with
 * Bind/Unbind, interrupt isolation, and the DMA entry limit.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <string.h>

#include "bus-env.h"

#define MAX_PROFILES 32

static char profiles[MAX_PROFILES][64];
static int n_profiles;

/* A profile as the test reads it, independently of iovad's parser. */
typedef struct PRegion {
        uint64_t start, end;
        char type[32];
} PRegion;

typedef struct PDevice {
        char address[16];
        unsigned vendor, device, class;
        char driver[64];
} PDevice;

typedef struct PGroup {
        unsigned id;
        PRegion regions[16];
        size_t n_regions;
        PDevice devices[16];
        size_t n_devices;
} PGroup;

typedef struct PProfile {
        char name[64];
        unsigned aperture_bits;
        uint64_t page_sizes;
        uint32_t dma_entry_limit;
        bool remapping, unsafe_ok;
        bool top_page_bug;      /* kernel_release before 6.18: type1 cannot map the last page below 2^64 */
        PGroup groups[32];
        size_t n_groups;
} PProfile;

static unsigned hex(json_object *o) {
        return (unsigned) strtoul(json_object_get_string(o), NULL, 16);
}

static void load_profile(const char *name, PProfile *p) {
        char path[700];
        json_object *root, *v, *groups;

        xsprintf(path, "%s/daemon/profiles/%s.json", env_source_root(), name);
        root = json_object_from_file(path);
        ck_assert_msg(root, "cannot parse %s", path);
        *p = (PProfile) { .dma_entry_limit = 65535 };
        xsprintf(p->name, "%s", json_object_get_string(json_object_object_get(root, "name")));
        p->aperture_bits = (unsigned) json_object_get_int(json_object_object_get(root, "aperture_bits"));
        v = json_object_object_get(root, "page_sizes");
        /* An array of sizes, or the kernel's bitmap as a hex string (virtio-iommu). */
        if (json_object_is_type(v, json_type_string))
                p->page_sizes = strtoull(json_object_get_string(v), NULL, 16);
        for (size_t i = 0; json_object_is_type(v, json_type_array) && i < json_object_array_length(v); i++)
                p->page_sizes |= (uint64_t) json_object_get_int64(json_object_array_get_idx(v, i));
        if (json_object_object_get_ex(root, "dma_entry_limit", &v))
                p->dma_entry_limit = (uint32_t) json_object_get_int64(v);
        if (json_object_object_get_ex(root, "interrupt_remapping", &v))
                p->remapping = json_object_get_boolean(v);
        if (json_object_object_get_ex(root, "allow_unsafe_interrupts", &v))
                p->unsafe_ok = json_object_get_boolean(v);
        if (json_object_object_get_ex(root, "kernel_release", &v)) {
                unsigned major = 0, minor = 0;
                ck_assert_int_eq(sscanf(json_object_get_string(v), "%u.%u", &major, &minor), 2);
                p->top_page_bug = major < 6 || (major == 6 && minor < 18);
        }
        groups = json_object_object_get(root, "groups");
        ck_assert_uint_le(json_object_array_length(groups), ELEMENTSOF(p->groups));
        for (size_t i = 0; i < json_object_array_length(groups); i++) {
                json_object *g = json_object_array_get_idx(groups, i), *regs, *devs;
                PGroup *pg = &p->groups[p->n_groups++];

                pg->id = (unsigned) json_object_get_int(json_object_object_get(g, "id"));
                regs = json_object_object_get(g, "reserved_regions");
                for (size_t k = 0; regs && k < json_object_array_length(regs); k++) {
                        PRegion *r = &pg->regions[pg->n_regions++];
                        ck_assert_int_eq(sscanf(json_object_get_string(json_object_array_get_idx(regs, k)),
                                                "%" SCNx64 " %" SCNx64 " %31s", &r->start, &r->end, r->type),
                                         3);
                }
                devs = json_object_object_get(g, "devices");
                for (size_t k = 0; devs && k < json_object_array_length(devs); k++) {
                        json_object *d = json_object_array_get_idx(devs, k), *drv;
                        PDevice *pd = &pg->devices[pg->n_devices++];
                        xsprintf(pd->address, "%s", json_object_get_string(json_object_object_get(d, "address")));
                        pd->vendor = hex(json_object_object_get(d, "vendor"));
                        pd->device = hex(json_object_object_get(d, "device"));
                        pd->class = hex(json_object_object_get(d, "class"));
                        xsprintf(pd->driver, "%s",
                                 json_object_object_get_ex(d, "driver", &drv) ? json_object_get_string(drv) : "");
                }
        }
        json_object_put(root);
}

static const PDevice *find_device(const PProfile *p, const char *address, unsigned *ret_group) {
        for (size_t i = 0; i < p->n_groups; i++)
                for (size_t k = 0; k < p->groups[i].n_devices; k++)
                        if (streq(p->groups[i].devices[k].address, address)) {
                                *ret_group = p->groups[i].id;
                                return &p->groups[i].devices[k];
                        }
        return NULL;
}

static bool is_x86(const PProfile *p) {
        for (size_t i = 0; i < p->n_groups; i++)
                for (size_t k = 0; k < p->groups[i].n_regions; k++)
                        if (streq(p->groups[i].regions[k].type, "msi") && p->groups[i].regions[k].start <= MSI_START &&
                            p->groups[i].regions[k].end >= MSI_END)
                                return true;
        return false;
}

/* docs: "remapped", "isolated-msi" (an ARM ITS) or "unsafe". */
static const char *expected_isolation(const PProfile *p) {
        if (!p->remapping)
                return p->unsafe_ok ? "unsafe" : "none";
        return is_x86(p) ? "remapped" : "isolated-msi";
}

static size_t total_devices(const PProfile *p) {
        size_t n = 0;
        for (size_t i = 0; i < p->n_groups; i++)
                n += p->groups[i].n_devices;
        return n;
}

START_TEST(test_profile_devices) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *platform = NULL, *backend = NULL;
        const char *address, *desc, *driver, *object;
        uint32_t group, max_group = 0;
        size_t n = 0;
        PProfile p;
        BusEnv e;
        int r;

        load_profile(profiles[_i], &p);
        env_start(&e, profiles[_i], NULL);
        bus = env_connect();
        platform = prop_s(bus, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "Platform");
        backend = prop_s(bus, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "Backend");
        ck_assert_str_eq(platform, p.name);
        ck_assert_str_eq(backend, "simulated");

        reply = manager_ok(bus, "ListDevices", NULL);
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(ssuso)"), 0);
        while ((r = sd_bus_message_read(reply, "(ssuso)", &address, &desc, &group, &driver, &object)) > 0) {
                _cleanup_(freep) char *want_path = iovad_device_path(address), *s = NULL;
                char ids[16];
                unsigned want_group;
                const PDevice *d = find_device(&p, address, &want_group);

                ck_assert_msg(d, "%s: iovad lists %s, which the profile does not have", p.name, address);
                ck_assert_uint_eq(group, want_group);
                ck_assert_str_eq(driver, d->driver);
                ck_assert_str_eq(object, want_path);
                xsprintf(ids, "%04x:%04x", d->vendor, d->device);
                ck_assert_msg(strncmp(desc, ids, strlen(ids)) == 0, "description of %s: %s", address, desc);

                /* The device object says the same. */
                s = prop_s(bus, object, IOVAD_DEVICE_IFACE, "Address");
                ck_assert_str_eq(s, address);
                free(s);
                s = prop_s(bus, object, IOVAD_DEVICE_IFACE, "Driver");
                ck_assert_str_eq(s, d->driver);
                free(s);
                s = prop_s(bus, object, IOVAD_DEVICE_IFACE, "Container");
                ck_assert_str_eq(s, "/");
                free(s);
                s = prop_s(bus, object, IOVAD_DEVICE_IFACE, "InterruptIsolation");
                ck_assert_str_eq(s, expected_isolation(&p));
                free(s);
                s = prop_s(bus, object, IOVAD_DEVICE_IFACE, "Description");
                ck_assert_str_eq(s, desc);
                ck_assert_uint_eq(prop_u(bus, object, IOVAD_DEVICE_IFACE, "IommuGroup"), want_group);
                ck_assert_uint_eq(prop_u(bus, object, IOVAD_DEVICE_IFACE, "Class"), d->class);
                {
                        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                        uint16_t v;
                        ck_assert_int_ge(sd_bus_get_property(bus, IOVAD_BUS_NAME, object, IOVAD_DEVICE_IFACE,
                                                             "VendorId", NULL, &m, "q"),
                                         0);
                        ck_assert_int_ge(sd_bus_message_read(m, "q", &v), 0);
                        ck_assert_uint_eq(v, d->vendor);
                        m = sd_bus_message_unref(m);
                        ck_assert_int_ge(sd_bus_get_property(bus, IOVAD_BUS_NAME, object, IOVAD_DEVICE_IFACE,
                                                             "DeviceId", NULL, &m, "q"),
                                         0);
                        ck_assert_int_ge(sd_bus_message_read(m, "q", &v), 0);
                        ck_assert_uint_eq(v, d->device);
                }
                n++;
        }
        ck_assert_int_ge(r, 0);
        ck_assert_uint_eq(n, total_devices(&p));

        /* Each group's reserved regions, line by line as the profile (the kernel) has them. */
        for (size_t i = 0; i < p.n_groups; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = manager_ok(bus, "GetGroupReservedRegions", "u",
                                                                                p.groups[i].id);
                uint64_t start, end;
                const char *type;
                size_t k = 0;

                ck_assert_int_ge(sd_bus_message_enter_container(m, 'a', "(tts)"), 0);
                while ((r = sd_bus_message_read(m, "(tts)", &start, &end, &type)) > 0) {
                        ck_assert_uint_lt(k, p.groups[i].n_regions);
                        ck_assert_uint_eq(start, p.groups[i].regions[k].start);
                        ck_assert_uint_eq(end, p.groups[i].regions[k].end);
                        ck_assert_str_eq(type, p.groups[i].regions[k].type);
                        k++;
                }
                ck_assert_int_ge(r, 0);
                ck_assert_uint_eq(k, p.groups[i].n_regions);
                if (p.groups[i].id > max_group)
                        max_group = p.groups[i].id;
        }
        manager_fail(bus, IOVAD_ERROR_NO_SUCH_GROUP, "GetGroupReservedRegions", "u", max_group + 1000);
        env_stop(&e);
}
END_TEST

static bool group_viable(const PGroup *g) {
        for (size_t k = 0; k < g->n_devices; k++) {
                const char *d = g->devices[k].driver;
                if (!streq(d, "") && !streq(d, "vfio-pci") && !streq(d, "pci-stub") && !streq(d, "pcieport"))
                        return false;
        }
        return true;
}

static int range_cmp(const void *a, const void *b) {
        const TRange *x = a, *y = b;
        return x->start < y->start ? -1 : x->start > y->start;
}

static void add_usable(TRange *ret, size_t *n, size_t max, uint64_t s, uint64_t t, uint64_t page) {
        uint64_t a, b;

        if (s > UINT64_MAX - (page - 1))
                return;
        a = (s + page - 1) & ~(page - 1);
        b = t == UINT64_MAX ? UINT64_MAX : ((t + 1) & ~(page - 1)) - 1;
        if ((t != UINT64_MAX && ((t + 1) & ~(page - 1)) == 0) || a > b)
                return;
        ck_assert_uint_lt(*n, max);
        ret[(*n)++] = (TRange) { a, b };
}

/* The aperture minus the group's regions (relaxable ones excepted), at page granularity. */
static size_t expected_usable(const PProfile *p, const PGroup *g, TRange *ret, size_t max) {
        uint64_t top = p->aperture_bits >= 64 ? UINT64_MAX : (1ULL << p->aperture_bits) - 1;
        uint64_t page = p->page_sizes & -p->page_sizes;
        uint64_t cur = 0;
        bool more = true;
        TRange holes[16];
        size_t n_holes = 0, n = 0;

        for (size_t k = 0; k < g->n_regions; k++)
                if (!streq(g->regions[k].type, "direct-relaxable"))
                        holes[n_holes++] = (TRange) { g->regions[k].start, g->regions[k].end };
        if (p->top_page_bug && top == UINT64_MAX)
                holes[n_holes++] = (TRange) { UINT64_MAX - (page - 1), UINT64_MAX };
        qsort(holes, n_holes, sizeof(TRange), range_cmp);
        for (size_t k = 0; k < n_holes && more; k++) {
                if (holes[k].start > cur)
                        add_usable(ret, &n, max, cur, holes[k].start - 1 < top ? holes[k].start - 1 : top, page);
                if (holes[k].end >= top)
                        more = false;
                else if (holes[k].end + 1 > cur)
                        cur = holes[k].end + 1;
        }
        if (more)
                add_usable(ret, &n, max, cur, top, page);
        return n;
}

_printf_(3, 4) static void append(char *buf, size_t size, const char *fmt, ...) {
        size_t n = strlen(buf);
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(buf + n, size - n, fmt, ap);
        va_end(ap);
}

/* A dry run says what the attach does, changes nothing, and the attach does what the profile implies. */
START_TEST(test_profile_check_attach) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        char mismatches[4096] = "";
        PProfile p;
        BusEnv e;

        load_profile(profiles[_i], &p);
        env_start(&e, profiles[_i], NULL);
        bus = env_connect();
        for (size_t i = 0; i < p.n_groups; i++) {
                const PGroup *g = &p.groups[i];
                _cleanup_(sd_bus_error_free) sd_bus_error check_err = SD_BUS_ERROR_NULL, attach_err = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *check = NULL, *reply = NULL;
                _cleanup_(freep) char *c = NULL, *before = NULL, *after = NULL;
                const char *want;
                char name[32];
                int rc, ra, k;

                if (!group_viable(g))
                        want = IOVAD_ERROR_NOT_VIABLE;
                else if (!p.remapping && !p.unsafe_ok)
                        want = IOVAD_ERROR_INTERRUPT_ISOLATION;
                else
                        want = NULL;

                xsprintf(name, "group%u", g->id);
                c = create_container(bus, name, NULL, 0);
                before = container_snapshot(bus, c);
                rc = sd_bus_call_method(bus, IOVAD_BUS_NAME, c, IOVAD_CONTAINER_IFACE, "CheckAttach", &check_err,
                                        &check, "u", g->id);
                after = container_snapshot(bus, c);
                ck_assert_msg(streq(before, after), "%s: CheckAttach(%u) changed the container", p.name, g->id);
                ra = sd_bus_call_method(bus, IOVAD_BUS_NAME, c, IOVAD_CONTAINER_IFACE, "AttachGroup", &attach_err,
                                        &reply, "u", g->id);

                /* The attach does what the profile implies... */
                if (want) {
                        ck_assert_msg(ra < 0 && sd_bus_error_has_name(&attach_err, want),
                                      "%s: AttachGroup(%u): expected %s, got %s", p.name, g->id, want,
                                      ra < 0 ? attach_err.name : "success");
                        free(after);
                        after = container_snapshot(bus, c);
                        ck_assert_msg(streq(before, after), "%s: the refused AttachGroup(%u) changed the container",
                                      p.name, g->id);
                } else
                        ck_assert_msg(ra >= 0, "%s: AttachGroup(%u) failed: %s: %s", p.name, g->id, attach_err.name,
                                      attach_err.message);

                /*
                 * ...and the dry run said so: the same error, or no conflicts
                 * exactly when it attaches. Collected, so that every group's
                 * other checks still run.
                 */
                if (ra < 0 && rc >= 0)
                        append(mismatches, sizeof(mismatches),
                               "\n%s: CheckAttach(%u) reported that the group can attach (no conflicts), but "
                               "AttachGroup failed with %s",
                               p.name, g->id, attach_err.name);
                else if (ra < 0 && !sd_bus_error_has_name(&check_err, attach_err.name))
                        append(mismatches, sizeof(mismatches),
                               "\n%s: CheckAttach(%u) failed with %s, AttachGroup with %s", p.name, g->id,
                               check_err.name, attach_err.name);
                else if (ra >= 0) {
                        ck_assert_msg(rc >= 0, "%s: CheckAttach(%u) failed: %s", p.name, g->id, check_err.name);
                        ck_assert_int_ge(sd_bus_message_enter_container(check, 'a', "(ttso)"), 0);
                        k = sd_bus_message_at_end(check, false);
                        ck_assert_msg(k > 0, "%s: CheckAttach(%u) listed conflicts in an empty container", p.name,
                                      g->id);
                }

                if (ra >= 0) {
                        uint32_t groups[4];
                        TRegion regs[32];
                        TRange usable[32], want_usable[32], ap;
                        size_t n_regs, n_usable, n_want;
                        char origin[32];

                        ck_assert_uint_eq(prop_au(bus, c, IOVAD_CONTAINER_IFACE, "Groups", groups, 4), 1);
                        ck_assert_uint_eq(groups[0], g->id);
                        ap = prop_range(bus, c, IOVAD_CONTAINER_IFACE, "Aperture");
                        ck_assert_uint_eq(ap.start, 0);
                        ck_assert_uint_eq(ap.end,
                                          p.aperture_bits >= 64 ? UINT64_MAX : (1ULL << p.aperture_bits) - 1);
                        ck_assert_uint_eq(prop_t(bus, c, IOVAD_CONTAINER_IFACE, "PageSizes"), p.page_sizes);
                        ck_assert_uint_eq(prop_u(bus, c, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable"),
                                          p.dma_entry_limit);

                        /* Every region of the group shows (possibly merged), with its origin. */
                        xsprintf(origin, "group %u", g->id);
                        n_regs = prop_regions(bus, c, regs, 32);
                        for (size_t r = 0; r < g->n_regions; r++) {
                                bool covered = false;
                                for (size_t q = 0; q < n_regs; q++)
                                        covered = covered ||
                                                  (regs[q].start <= g->regions[r].start &&
                                                   regs[q].end >= g->regions[r].end &&
                                                   streq(regs[q].type, g->regions[r].type) &&
                                                   streq(regs[q].origin, origin));
                                ck_assert_msg(covered, "%s group %u: region 0x%" PRIx64 "-0x%" PRIx64 " %s is not in "
                                              "ReservedRegions",
                                              p.name, g->id, g->regions[r].start, g->regions[r].end,
                                              g->regions[r].type);
                        }

                        n_usable = prop_ranges(bus, c, IOVAD_CONTAINER_IFACE, "UsableRanges", usable, 32);
                        n_want = expected_usable(&p, g, want_usable, 32);
                        ck_assert_msg(n_usable == n_want, "%s group %u: %zu usable ranges, expected %zu", p.name,
                                      g->id, n_usable, n_want);
                        for (size_t q = 0; q < n_usable; q++) {
                                ck_assert_uint_eq(usable[q].start, want_usable[q].start);
                                ck_assert_uint_eq(usable[q].end, want_usable[q].end);
                        }

                        /* A page leases in a fresh domain, and the group detaches again. */
                        {
                                _cleanup_(freep) char *l = lease(bus, c, p.page_sizes & -p.page_sizes, NULL);
                                release(bus, l);
                        }
                        sd_bus_message_unref(container_ok(bus, c, "DetachGroup", "u", g->id));
                }
                sd_bus_message_unref(container_ok(bus, c, "Destroy", NULL));
        }
        ck_assert_msg(!mismatches[0], "CheckAttach is not a dry run of AttachGroup:%s", mismatches);
        env_stop(&e);
}
END_TEST

static void assert_driver(sd_bus *bus, const char *dev, const char *want) {
        _cleanup_(freep) char *d = prop_s(bus, dev, IOVAD_DEVICE_IFACE, "Driver");
        ck_assert_str_eq(d, want);
}

/* x86-vtd group 6: the USB controller on xhci_hcd and an unbound function. */
START_TEST(test_not_viable_bind_unbind) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(freep) char *c = NULL, *before = NULL, *xhci = NULL, *sram = NULL, *in = NULL;
        TRange usable[8];
        size_t n;
        bool relaxable_usable = false;
        Signal s = {};
        BusEnv e;

        env_start(&e, "x86-vtd", NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        xhci = iovad_device_path("0000:00:14.0");
        sram = iovad_device_path("0000:00:14.2");
        before = container_snapshot(bus, c);
        container_fail(bus, IOVAD_ERROR_NOT_VIABLE, c, "AttachGroup", "u", 6);
        {
                _cleanup_(freep) char *now = container_snapshot(bus, c);
                ck_assert_str_eq(before, now);
        }

        /* Bind hands the device to vfio-pci and says so. */
        ck_assert_int_ge(sd_bus_match_signal(bus, &slot, IOVAD_BUS_NAME, xhci, "org.freedesktop.DBus.Properties",
                                             "PropertiesChanged", signal_record, &s),
                         0);
        sd_bus_message_unref(call_ok(bus, xhci, IOVAD_DEVICE_IFACE, "Bind", NULL));
        assert_driver(bus, xhci, "vfio-pci");
        process_until(bus, &s.seen, 10 * 1000 * 1000);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = manager_ok(bus, "ListDevices", NULL);
                const char *address, *desc, *driver, *object;
                uint32_t group;
                bool found = false;
                ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(ssuso)"), 0);
                while (sd_bus_message_read(reply, "(ssuso)", &address, &desc, &group, &driver, &object) > 0)
                        if (streq(address, "0000:00:14.0")) {
                                ck_assert_str_eq(driver, "vfio-pci");
                                found = true;
                        }
                ck_assert(found);
        }

        /* Now the group is viable: the unbound function does not matter. */
        attach(bus, c, 6);
        in = prop_s(bus, xhci, IOVAD_DEVICE_IFACE, "Container");
        ck_assert_str_eq(in, c);
        /* Its RMRR is relaxable: reserved, but usable. */
        n = prop_ranges(bus, c, IOVAD_CONTAINER_IFACE, "UsableRanges", usable, 8);
        for (size_t i = 0; i < n; i++)
                relaxable_usable = relaxable_usable || (usable[i].start <= 0x7a7e8000ULL && usable[i].end >= 0x7a807fffULL);
        ck_assert_msg(relaxable_usable, "the direct-relaxable region of group 6 is not usable");

        /* The driver cannot come back while the group is in a container. */
        free(call_fail(bus, IOVAD_ERROR_BUSY, xhci, IOVAD_DEVICE_IFACE, "Unbind", NULL));
        assert_driver(bus, xhci, "vfio-pci");
        sd_bus_message_unref(container_ok(bus, c, "DetachGroup", "u", 6));
        sd_bus_message_unref(call_ok(bus, xhci, IOVAD_DEVICE_IFACE, "Unbind", NULL));
        assert_driver(bus, xhci, "xhci_hcd");
        container_fail(bus, IOVAD_ERROR_NOT_VIABLE, c, "AttachGroup", "u", 6);

        /* A device that had no driver gets none back. */
        sd_bus_message_unref(call_ok(bus, sram, IOVAD_DEVICE_IFACE, "Bind", NULL));
        assert_driver(bus, sram, "vfio-pci");
        sd_bus_message_unref(call_ok(bus, sram, IOVAD_DEVICE_IFACE, "Unbind", NULL));
        assert_driver(bus, sram, "");

        /* Bind twice, Unbind once: the original driver still comes back. */
        sd_bus_message_unref(call_ok(bus, xhci, IOVAD_DEVICE_IFACE, "Bind", NULL));
        sd_bus_message_unref(call_ok(bus, xhci, IOVAD_DEVICE_IFACE, "Bind", NULL));
        sd_bus_message_unref(call_ok(bus, xhci, IOVAD_DEVICE_IFACE, "Unbind", NULL));
        assert_driver(bus, xhci, "xhci_hcd");
        sd_bus_message_unref(s.last);
        env_stop(&e);
}
END_TEST

START_TEST(test_interrupt_isolation) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *c = NULL, *before = NULL, *now = NULL, *dev = NULL, *iso = NULL;
        BusEnv e;

        env_start(&e, "x86-nointremap", NULL);
        bus = env_connect();
        c = create_container(bus, "c", NULL, 0);
        before = container_snapshot(bus, c);
        container_fail(bus, IOVAD_ERROR_INTERRUPT_ISOLATION, c, "AttachGroup", "u", 8);
        container_fail(bus, IOVAD_ERROR_INTERRUPT_ISOLATION, c, "AttachGroup", "u", 10);
        now = container_snapshot(bus, c);
        ck_assert_str_eq(before, now);
        dev = iovad_device_path("0000:01:00.0");
        iso = prop_s(bus, dev, IOVAD_DEVICE_IFACE, "InterruptIsolation");
        /* Not remapped, and allow_unsafe_interrupts is off: no isolation, so no attach. */
        ck_assert_str_eq(iso, "none");
        container_fail(bus, IOVAD_ERROR_NOT_ATTACHED, c, "Lease", "ta{sv}", PAGE, 0);
        env_stop(&e);
}
END_TEST

static int cmp_str(const void *a, const void *b) {
        return strcmp(a, b);
}

static void find_profiles(void) {
        char dir[700];
        DIR *d;
        struct dirent *de;

        snprintf(dir, sizeof(dir), "%s/daemon/profiles", env_source_root());
        d = opendir(dir);
        if (!d) {
                fprintf(stderr, "cannot read %s\n", dir);
                exit(EXIT_FAILURE);
        }
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                if (n < 6 || n - 5 >= sizeof(profiles[0]) || strcmp(de->d_name + n - 5, ".json") != 0 ||
                    n_profiles == MAX_PROFILES)
                        continue;
                memcpy(profiles[n_profiles], de->d_name, n - 5);
                profiles[n_profiles++][n - 5] = 0;
        }
        closedir(d);
        qsort(profiles, (size_t) n_profiles, sizeof(profiles[0]), cmp_str);
}

int main(void) {
        Suite *s = suite_create("bus-profiles");
        TCase *tc = env_tcase("profiles");
        SRunner *sr;
        int failed;

        env_init();
        find_profiles();
        tcase_add_loop_test(tc, test_profile_devices, 0, n_profiles);
        tcase_add_loop_test(tc, test_profile_check_attach, 0, n_profiles);
        tcase_add_test(tc, test_not_viable_bind_unbind);
        tcase_add_test(tc, test_interrupt_isolation);
        suite_add_tcase(s, tc);

        sr = env_runner(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        env_done(failed);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
