/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Verbs about the daemon, devices and IOMMU groups. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iovactl.h"
#include "iovad-bus.h"
#include "util/macro.h"

typedef struct ManagerInfo {
        char *version, *backend, *platform;
} ManagerInfo;

static void manager_info_clear(ManagerInfo *m) {
        free(m->version);
        free(m->backend);
        free(m->platform);
}

int verb_status(Iovactl *c, int argc, char **argv) {
        static const BusProperty map[] = {
                { "Version", "s", bus_read_string, offsetof(ManagerInfo, version) },
                { "Backend", "s", bus_read_string, offsetof(ManagerInfo, backend) },
                { "Platform", "s", bus_read_string, offsetof(ManagerInfo, platform) },
                {}
        };
        _cleanup_(manager_info_clear) ManagerInfo info = {};
        int r;

        r = bus_get_all(c, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, map, &info, NULL);
        if (r < 0)
                return r;

        if (c->json) {
                json_object *o = json_object_new_object();
                if (o && (json_add(o, "version", info.version ? json_object_new_string(info.version) : NULL) < 0 ||
                          json_add(o, "backend", info.backend ? json_object_new_string(info.backend) : NULL) < 0 ||
                          json_add(o, "platform", info.platform ? json_object_new_string(info.platform) : NULL) < 0)) {
                        json_object_put(o);
                        o = NULL;
                }
                return print_json(c, o);
        }
        print_field(8, "Version", "%s", info.version ?: "-");
        print_field(8, "Backend", "%s", info.backend ?: "-");
        print_field(8, "Platform", "%s", info.platform ?: "-");
        return 0;
}

int verb_devices(Iovactl *c, int argc, char **argv) {
        static const TableColumn columns[] = {
                { "ADDRESS", "address", CELL_STRING, 0 },
                { "GROUP", "group", CELL_UINT, 0 },
                { "DRIVER", "driver", CELL_STRING, 0 },
                { "DESCRIPTION", "description", CELL_STRING, 0 },
                { "OBJECT", "object", CELL_STRING, COLUMN_JSON_ONLY },
        };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_table_ Table *t = NULL;
        const char *address, *description, *driver, *object;
        uint32_t group;
        int r;

        r = bus_call(c, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "ListDevices", &reply, NULL);
        if (r < 0)
                return r;

        t = table_new(columns, ELEMENTSOF(columns));
        if (!t)
                return log_errno(-ENOMEM, "Out of memory");
        r = sd_bus_message_enter_container(reply, 'a', "(ssuso)");
        if (r < 0)
                return log_parse_error(r);
        while ((r = sd_bus_message_read(reply, "(ssuso)", &address, &description, &group, &driver, &object)) > 0)
                if (table_add_string(t, address) < 0 ||
                    table_add_uint(t, group) < 0 ||
                    table_add_string(t, *driver ? driver : NULL) < 0 ||
                    table_add_string(t, description) < 0 ||
                    table_add_string(t, object) < 0)
                        return log_errno(-ENOMEM, "Out of memory");
        if (r < 0)
                return log_parse_error(r);

        return print_table(c, t, "device", "devices");
}

/* The normalized address, for messages, after checking it as a usage error; then connected. */
static int device_address(Iovactl *c, const char *address, char **ret_address) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = device_path(c, address, &path, ret_address);
        if (r < 0)
                return r;
        return bus_connect(c);
}

typedef struct DeviceInfo {
        char *address, *description, *driver, *container, *isolation, *p2p;
        uint16_t vendor, device;
        uint32_t class, group;
        P2pPathArray path;
        P2pWindowArray windows;
} DeviceInfo;

static void device_info_clear(DeviceInfo *d) {
        free(d->address);
        free(d->description);
        free(d->driver);
        free(d->container);
        free(d->isolation);
        free(d->p2p);
        p2p_path_array_clear(&d->path);
        p2p_window_array_clear(&d->windows);
}

static Table *p2p_path_table(const P2pPathArray *a) {
        static const TableColumn columns[] = {
                { "ADDRESS", "address", CELL_STRING, 0 },
                { "ROLE", "role", CELL_STRING, 0 },
                { "MISSING", "missing", CELL_STRING, 0 },
        };
        Table *t = table_new(columns, ELEMENTSOF(columns));

        for (size_t i = 0; t && i < a->n; i++)
                if (table_add_string(t, a->items[i].address) < 0 || table_add_string(t, a->items[i].role) < 0 ||
                    table_add_string(t, a->items[i].missing[0] ? a->items[i].missing : "-") < 0)
                        return table_free(t);
        return t;
}

static Table *p2p_windows_table(const P2pWindowArray *a) {
        static const TableColumn columns[] = {
                { "START", "start", CELL_ADDRESS, 0 },
                { "END", "end", CELL_ADDRESS, 0 },
                { "SIZE", "size", CELL_SIZE, 0 },
                { "WINDOW", "window", CELL_STRING, 0 },
        };
        Table *t = table_new(columns, ELEMENTSOF(columns));

        for (size_t i = 0; t && i < a->n; i++)
                if (table_add_uint(t, a->items[i].start) < 0 || table_add_uint(t, a->items[i].end) < 0 ||
                    table_add_size_range(t, a->items[i].start, a->items[i].end) < 0 ||
                    table_add_string(t, a->items[i].what) < 0)
                        return table_free(t);
        return t;
}

static int print_p2p(Iovactl *c, Table *path, Table *windows) {
        printf("\nPath to the root port:\n");
        if (table_print(path, stdout, c->legend) < 0)
                return log_errno(-EIO, "Failed to print table");
        printf("\nWindows DMA would reach without the IOMMU:%s\n", table_rows(windows) ? "" : " none");
        if (table_rows(windows) && table_print(windows, stdout, c->legend) < 0)
                return log_errno(-EIO, "Failed to print table");
        return 0;
}

int verb_group_p2p(Iovactl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(p2p_path_array_clear) P2pPathArray path = {};
        _cleanup_(p2p_window_array_clear) P2pWindowArray windows = {};
        _cleanup_table_ Table *pt = NULL, *wt = NULL;
        const char *verdict;
        uint32_t group;
        int r;

        r = parse_group(c, argv[1], &group);
        if (r < 0)
                return r;
        r = bus_call(c, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "GetGroupPeerToPeer", &reply, "u", group);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &verdict);
        if (r >= 0)
                r = bus_read_p2p_path(reply, &path);
        if (r >= 0)
                r = bus_read_p2p_windows(reply, &windows);
        if (r < 0)
                return log_parse_error(r);
        pt = p2p_path_table(&path);
        wt = p2p_windows_table(&windows);
        if (!pt || !wt)
                return log_errno(-ENOMEM, "Out of memory");
        if (c->json) {
                json_object *o = json_object_new_object();
                if (o && (json_add(o, "group", json_object_new_uint64(group)) < 0 ||
                          json_add(o, "peer_to_peer", json_object_new_string(verdict)) < 0 ||
                          json_add(o, "path", table_to_json(pt)) < 0 ||
                          json_add(o, "windows", table_to_json(wt)) < 0)) {
                        json_object_put(o);
                        o = NULL;
                }
                return print_json(c, o);
        }
        print_field(12, "IOMMU group", "%" PRIu32, group);
        print_field(12, "Peer-to-peer", "%s", verdict);
        return print_p2p(c, pt, wt);
}

static json_object *json_string_or_null(const char *s) {
        return s && *s ? json_object_new_string(s) : NULL;
}

int verb_device(Iovactl *c, int argc, char **argv) {
        static const BusProperty map[] = {
                { "Address", "s", bus_read_string, offsetof(DeviceInfo, address) },
                { "VendorId", "q", bus_read_u16, offsetof(DeviceInfo, vendor) },
                { "DeviceId", "q", bus_read_u16, offsetof(DeviceInfo, device) },
                { "Description", "s", bus_read_string, offsetof(DeviceInfo, description) },
                { "Class", "u", bus_read_u32, offsetof(DeviceInfo, class) },
                { "Driver", "s", bus_read_string, offsetof(DeviceInfo, driver) },
                { "IommuGroup", "u", bus_read_u32, offsetof(DeviceInfo, group) },
                { "Container", "o", bus_read_string, offsetof(DeviceInfo, container) },
                { "InterruptIsolation", "s", bus_read_string, offsetof(DeviceInfo, isolation) },
                { "PeerToPeer", "s", bus_read_string, offsetof(DeviceInfo, p2p) },
                { "PeerToPeerPath", "a(sss)", bus_read_p2p_path, offsetof(DeviceInfo, path) },
                { "PeerWindows", "a(tts)", bus_read_p2p_windows, offsetof(DeviceInfo, windows) },
                {}
        };
        _cleanup_table_ Table *pt = NULL, *wt = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(device_info_clear) DeviceInfo d = {};
        _cleanup_free_ char *path = NULL, *address = NULL, *container = NULL;
        int r;

        r = device_path(c, argv[1], &path, &address);
        if (r < 0)
                return r;
        r = bus_get_all(c, path, IOVAD_DEVICE_IFACE, map, &d, &error);
        if (r < 0)
                return log_object_error(c, &error, r, "GetAll", "device", address);

        pt = p2p_path_table(&d.path);
        wt = p2p_windows_table(&d.windows);
        if (!pt || !wt)
                return log_errno(-ENOMEM, "Out of memory");
        bool attached = d.container && strcmp(d.container, "/") != 0;
        /* The container's name, as libiovad looks it up; without it the object path still says which. */
        if (attached && iovad_device_container(c->iovad, address, &container) <= 0)
                container = NULL;

        if (c->json) {
                json_object *o = json_object_new_object();
                if (o && (json_add(o, "address", json_string_or_null(d.address)) < 0 ||
                          json_add(o, "description", json_string_or_null(d.description)) < 0 ||
                          json_add(o, "vendor_id", json_object_new_uint64(d.vendor)) < 0 ||
                          json_add(o, "device_id", json_object_new_uint64(d.device)) < 0 ||
                          json_add(o, "class", json_object_new_uint64(d.class)) < 0 ||
                          json_add(o, "driver", json_string_or_null(d.driver)) < 0 ||
                          json_add(o, "iommu_group", json_object_new_uint64(d.group)) < 0 ||
                          json_add(o, "container", attached ? json_object_new_string(d.container) : NULL) < 0 ||
                          json_add(o, "container_name", json_string_or_null(container)) < 0 ||
                          json_add(o, "interrupt_isolation", json_string_or_null(d.isolation)) < 0 ||
                          json_add(o, "peer_to_peer", json_string_or_null(d.p2p)) < 0 ||
                          json_add(o, "peer_to_peer_path", table_to_json(pt)) < 0 ||
                          json_add(o, "peer_windows", table_to_json(wt)) < 0)) {
                        json_object_put(o);
                        o = NULL;
                }
                return print_json(c, o);
        }

        print_field(19, "Address", "%s", d.address ?: address);
        print_field(19, "Description", "%s", d.description ?: "-");
        print_field(19, "Vendor:Device", "%04x:%04x", d.vendor, d.device);
        print_field(19, "Class", "0x%06" PRIx32, d.class);
        print_field(19, "Driver", "%s", d.driver && *d.driver ? d.driver : "none");
        print_field(19, "IOMMU group", "%" PRIu32, d.group);
        if (!attached)
                print_field(19, "Container", "none");
        else if (container)
                print_field(19, "Container", "%s (%s)", container, d.container);
        else
                print_field(19, "Container", "%s", d.container);
        print_field(19, "Interrupt isolation", "%s", d.isolation ?: "-");
        print_field(19, "Peer-to-peer", "%s", d.p2p ?: "-");
        return print_p2p(c, pt, wt);
}

int verb_open(Iovactl *c, int argc, char **argv) {
        _cleanup_free_ char *address = NULL;
        _cleanup_close_ int fd = -1;
        char proc[64], target[PATH_MAX];
        ssize_t n;
        int r;

        r = device_address(c, argv[1], &address);
        if (r < 0)
                return r;
        r = iovad_device_open(c->iovad, address, &fd);
        if (r < 0)
                return log_iovad_object_error(c, r, "Open", "device", address);

        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        n = readlink(proc, target, sizeof(target) - 1);
        if (n < 0)
                snprintf(target, sizeof(target), "unknown");
        else
                target[n] = 0;

        if (c->json) {
                json_object *o = json_object_new_object();
                if (o && (json_add(o, "address", json_object_new_string(address)) < 0 ||
                          json_add(o, "fd", json_object_new_int(fd)) < 0 ||
                          json_add(o, "target", json_object_new_string(target)) < 0)) {
                        json_object_put(o);
                        o = NULL;
                }
                r = print_json(c, o);
                if (r < 0)
                        return r;
        } else
                printf("Opened %s as fd %d (%s).\n", address, fd, target);

        if (c->hold) {
                char what[64];
                snprintf(what, sizeof(what), "fd %d of %s", fd, address);
                return hold(c, what);
        }
        return 0;
}

int verb_bind(Iovactl *c, int argc, char **argv) {
        _cleanup_free_ char *address = NULL;
        int r;

        r = device_address(c, argv[1], &address);
        if (r < 0)
                return r;
        r = iovad_device_bind(c->iovad, address);
        if (r < 0)
                return log_iovad_object_error(c, r, "Bind", "device", address);
        return 0;
}

int verb_unbind(Iovactl *c, int argc, char **argv) {
        _cleanup_free_ char *address = NULL;
        int r;

        r = device_address(c, argv[1], &address);
        if (r < 0)
                return r;
        r = iovad_device_unbind(c->iovad, address);
        if (r < 0)
                return log_iovad_object_error(c, r, "Unbind", "device", address);
        return 0;
}

int verb_group_regions(Iovactl *c, int argc, char **argv) {
        static const TableColumn columns[] = {
                { "START", "start", CELL_ADDRESS, 0 },
                { "END", "end", CELL_ADDRESS, 0 },
                { "SIZE", "size", CELL_SIZE, 0 },
                { "TYPE", "type", CELL_STRING, 0 },
        };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(region_array_clear) RegionArray regions = {};
        _cleanup_table_ Table *t = NULL;
        uint32_t group;
        int r;

        r = parse_group(c, argv[1], &group);
        if (r < 0)
                return r;
        r = bus_call(c, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "GetGroupReservedRegions", &reply, "u", group);
        if (r < 0)
                return r;
        r = bus_read_regions_sig(reply, false, &regions);
        if (r < 0)
                return log_parse_error(r);

        t = table_new(columns, ELEMENTSOF(columns));
        if (!t)
                return log_errno(-ENOMEM, "Out of memory");
        for (size_t i = 0; i < regions.n; i++) {
                const IovaRegion *g = &regions.items[i];
                if (table_add_uint(t, g->start) < 0 ||
                    table_add_uint(t, g->end) < 0 ||
                    table_add_size_range(t, g->start, g->end) < 0 ||
                    table_add_string(t, g->type) < 0)
                        return log_errno(-ENOMEM, "Out of memory");
        }
        return print_table(c, t, "reserved region", "reserved regions");
}
