/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Verbs about containers: listing, creating, attaching, showing, drawing. */
#include <errno.h>
#include <inttypes.h>
#include <langinfo.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "iovactl.h"
#include "iovad-bus.h"
#include "util/macro.h"

typedef struct ContainerInfo {
        char *name;
        U32Array groups, users;
        IovaRange aperture;
        RegionArray regions;
        RangeArray usable;
        uint64_t page_sizes;
        uint32_t dma_available;
        MsiWindowInfo msi;
        bool reserve_peer_windows;
} ContainerInfo;

DEFINE_TRIVIAL_CLEANUP_FUNC(char **, iovad_strv_free);
#define strv_freep iovad_strv_freep
DEFINE_TRIVIAL_CLEANUP_FUNC(iovad_container_info *, iovad_container_info_free);
#define container_info_freep iovad_container_info_freep

static void container_info_clear(ContainerInfo *i) {
        free(i->name);
        free(i->groups.items);
        free(i->users.items);
        region_array_clear(&i->regions);
        free(i->usable.items);
        free(i->msi.source);
}

static const BusProperty container_map[] = {
        { "Name", "s", bus_read_string, offsetof(ContainerInfo, name) },
        { "Groups", "au", bus_read_u32_array, offsetof(ContainerInfo, groups) },
        { "Aperture", "(tt)", bus_read_range, offsetof(ContainerInfo, aperture) },
        { "ReservedRegions", "a(ttss)", bus_read_regions, offsetof(ContainerInfo, regions) },
        { "UsableRanges", "a(tt)", bus_read_ranges, offsetof(ContainerInfo, usable) },
        { "PageSizes", "t", bus_read_u64, offsetof(ContainerInfo, page_sizes) },
        { "DmaMappingsAvailable", "u", bus_read_u32, offsetof(ContainerInfo, dma_available) },
        { "Users", "au", bus_read_u32_array, offsetof(ContainerInfo, users) },
        { "MsiWindowPages", "(uus)", bus_read_msi_window, offsetof(ContainerInfo, msi) },
        { "ReservePeerWindows", "b", bus_read_bool, offsetof(ContainerInfo, reserve_peer_windows) },
        {}
};

int verb_containers(Iovactl *c, int argc, char **argv) {
        static const TableColumn columns[] = {
                { "NAME", "name", CELL_STRING, 0 },
                { "GROUPS", "groups", CELL_UINT_LIST, 0 },
                { "USERS", "users", CELL_UINT_LIST, 0 },
                { "OBJECT", "object", CELL_STRING, COLUMN_JSON_ONLY },
        };
        _cleanup_(strv_freep) char **names = NULL;
        _cleanup_table_ Table *t = NULL;
        int r;

        r = bus_connect(c);
        if (r < 0)
                return r;
        r = iovad_list_containers(c->iovad, &names);
        if (r < 0)
                return log_iovad_error(c, r, "ListContainers");
        t = table_new(columns, ELEMENTSOF(columns));
        if (!t)
                return log_errno(-ENOMEM, "Out of memory");

        for (char **name = names; *name; name++) {
                _cleanup_(container_info_freep) iovad_container_info *info = NULL;
                const char *error_name = NULL;

                r = iovad_container_get_info(c->iovad, *name, &info);
                /* Destroyed since ListContainers: it is simply no longer there. */
                if (r < 0 && iovad_last_error(c->iovad, &error_name, NULL) < 0 && error_name &&
                    (strcmp(error_name, SD_BUS_ERROR_UNKNOWN_OBJECT) == 0 ||
                     strcmp(error_name, IOVAD_ERROR_NO_SUCH_CONTAINER) == 0))
                        continue;
                if (r < 0)
                        return log_iovad_error(c, r, "GetAll");
                if (table_add_string(t, *name) < 0 ||
                    table_add_uint_list(t, info->groups, info->n_groups) < 0 ||
                    table_add_uint_list(t, info->users, info->n_users) < 0 ||
                    table_add_string(t, info->object) < 0)
                        return log_errno(-ENOMEM, "Out of memory");
        }

        return print_table(c, t, "container", "containers");
}

int verb_create(Iovactl *c, int argc, char **argv) {
        _cleanup_free_ char *object = NULL;
        int r;

        r = bus_connect(c);
        if (r < 0)
                return r;
        r = iovad_container_create(c->iovad, argv[1], c->users, c->n_users,
                                   c->reserve_peer_windows ? IOVAD_CONTAINER_RESERVE_PEER_WINDOWS : 0, &object);
        if (r < 0)
                return log_iovad_error(c, r, "CreateContainer");

        if (c->json) {
                json_object *o = json_object_new_object();
                if (o && (json_add(o, "name", json_object_new_string(argv[1])) < 0 ||
                          json_add(o, "object", json_object_new_string(object)) < 0)) {
                        json_object_put(o);
                        o = NULL;
                }
                return print_json(c, o);
        }
        printf("Created container %s as %s.\n", argv[1], object);
        return 0;
}

/* Calls a Container method by container name. */
static int container_call(Iovactl *c, const char *name, const char *member, sd_bus_message **ret_reply,
                          const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;
        va_list ap;
        int r;

        r = container_path(c, name, &path);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_call_methodv(c->bus, IOVAD_BUS_NAME, path, IOVAD_CONTAINER_IFACE, member, &error, ret_reply,
                                types, ap);
        va_end(ap);
        if (r < 0)
                return log_object_error(c, &error, r, member, "container", name);
        return 0;
}

int verb_destroy(Iovactl *c, int argc, char **argv) {
        int r;

        r = bus_connect(c);
        if (r < 0)
                return r;
        r = iovad_container_destroy(c->iovad, argv[1]);
        if (r < 0)
                return log_iovad_object_error(c, r, "Destroy", "container", argv[1]);
        return 0;
}

/*
 * CheckMsiWindow, quietly: the attach says what is wrong with the group
 * itself. Returns 1 with *@ret filled, 0 when the daemon could not tell.
 */
static int check_msi_window(Iovactl *c, const char *name, uint32_t group, MsiWindowInfo *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;

        if (container_path(c, name, &path) < 0)
                return 0;
        if (sd_bus_call_method(c->bus, IOVAD_BUS_NAME, path, IOVAD_CONTAINER_IFACE, "CheckMsiWindow", &error, &reply,
                               "u", group) < 0)
                return 0;
        return bus_read_msi_window(reply, ret) < 0 ? 0 : 1;
}

static void warn_msi_window(const char *name, uint32_t group, const MsiWindowInfo *w) {
        if (w->needed > w->capacity)
                fprintf(stderr,
                        "iovactl: warning: with group %" PRIu32 " the devices of %s may need %" PRIu32
                        " MSI doorbell pages, but its software MSI window holds %" PRIu32
                        ": the kernel maps the rest above the window, where leases may be\n",
                        group, name, w->needed, w->capacity);
}

static void msi_window_info_clear(MsiWindowInfo *w) {
        free(w->source);
        w->source = NULL;
}

int verb_attach(Iovactl *c, int argc, char **argv) {
        _cleanup_(msi_window_info_clear) MsiWindowInfo w = {};
        uint32_t group;
        int r;

        r = parse_group(c, argv[2], &group);
        if (r < 0)
                return r;
        /* A warning before the attach, which goes ahead: the kernel accepts it. */
        if (check_msi_window(c, argv[1], group, &w) > 0)
                warn_msi_window(argv[1], group, &w);
        r = bus_connect(c);
        if (r < 0)
                return r;
        r = iovad_container_attach_group(c->iovad, argv[1], group);
        if (r < 0)
                return log_iovad_object_error(c, r, "AttachGroup", "container", argv[1]);
        return 0;
}

int verb_detach(Iovactl *c, int argc, char **argv) {
        uint32_t group;
        int r;

        r = parse_group(c, argv[2], &group);
        if (r < 0)
                return r;
        r = bus_connect(c);
        if (r < 0)
                return r;
        r = iovad_container_detach_group(c->iovad, argv[1], group);
        if (r < 0)
                return log_iovad_object_error(c, r, "DetachGroup", "container", argv[1]);
        return 0;
}

static int container_info(Iovactl *c, const char *name, char **ret_path, ContainerInfo *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = container_path(c, name, &path);
        if (r < 0)
                return r;
        r = bus_get_all(c, path, IOVAD_CONTAINER_IFACE, container_map, ret, &error);
        if (r < 0)
                return log_object_error(c, &error, r, "GetAll", "container", name);
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;
}

static Table *regions_table(const RegionArray *regions) {
        static const TableColumn columns[] = {
                { "START", "start", CELL_ADDRESS, 0 },
                { "END", "end", CELL_ADDRESS, 0 },
                { "SIZE", "size", CELL_SIZE, 0 },
                { "TYPE", "type", CELL_STRING, 0 },
                { "ORIGIN", "origin", CELL_STRING, 0 },
        };
        Table *t = table_new(columns, ELEMENTSOF(columns));

        if (!t)
                return NULL;
        for (size_t i = 0; i < regions->n; i++) {
                const IovaRegion *g = &regions->items[i];
                if (table_add_uint(t, g->start) < 0 ||
                    table_add_uint(t, g->end) < 0 ||
                    table_add_size_range(t, g->start, g->end) < 0 ||
                    table_add_string(t, g->type) < 0 ||
                    table_add_string(t, g->origin) < 0)
                        return table_free(t);
        }
        return t;
}

static Table *ranges_table(const RangeArray *ranges) {
        static const TableColumn columns[] = {
                { "START", "start", CELL_ADDRESS, 0 },
                { "END", "end", CELL_ADDRESS, 0 },
                { "SIZE", "size", CELL_SIZE, 0 },
        };
        Table *t = table_new(columns, ELEMENTSOF(columns));

        if (!t)
                return NULL;
        for (size_t i = 0; i < ranges->n; i++)
                if (table_add_uint(t, ranges->items[i].start) < 0 ||
                    table_add_uint(t, ranges->items[i].end) < 0 ||
                    table_add_size_range(t, ranges->items[i].start, ranges->items[i].end) < 0)
                        return table_free(t);
        return t;
}

static json_object *msi_window_json(const MsiWindowInfo *w) {
        json_object *o = json_object_new_object();

        if (o && (json_add(o, "needed_pages", json_object_new_uint64(w->needed)) < 0 ||
                  json_add(o, "window_pages", json_object_new_uint64(w->capacity)) < 0 ||
                  json_add(o, "source", json_object_new_string(w->source ?: "")) < 0)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static json_object *container_json(const char *path, const ContainerInfo *i, Table *regions, Table *usable) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        if (json_add(o, "name", i->name ? json_object_new_string(i->name) : NULL) < 0 ||
            json_add(o, "object", json_object_new_string(path)) < 0 ||
            json_add(o, "groups", json_u32_array(i->groups.items, i->groups.n)) < 0 ||
            json_add(o, "aperture", json_range(i->aperture.start, i->aperture.end)) < 0 ||
            json_add(o, "page_sizes", json_object_new_uint64(i->page_sizes)) < 0 ||
            json_add(o, "dma_mappings_available", json_object_new_uint64(i->dma_available)) < 0 ||
            json_add(o, "users", json_u32_array(i->users.items, i->users.n)) < 0 ||
            json_add(o, "msi_window", msi_window_json(&i->msi)) < 0 ||
            json_add(o, "reserve_peer_windows", json_object_new_boolean(i->reserve_peer_windows)) < 0 ||
            json_add(o, "reserved_regions", table_to_json(regions)) < 0 ||
            json_add(o, "usable_ranges", table_to_json(usable)) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

int verb_show(Iovactl *c, int argc, char **argv) {
        _cleanup_(container_info_clear) ContainerInfo info = {};
        _cleanup_free_ char *path = NULL, *pages = NULL, *users = NULL, *msi = NULL;
        _cleanup_table_ Table *regions = NULL, *usable = NULL;
        char size[FORMAT_SIZE_MAX];
        int r;

        r = container_info(c, argv[1], &path, &info);
        if (r < 0)
                return r;
        regions = regions_table(&info.regions);
        usable = ranges_table(&info.usable);
        pages = format_page_sizes(info.page_sizes);
        users = format_users(info.users.items, info.users.n);
        msi = format_msi_window(info.msi.needed, info.msi.capacity, info.msi.source);
        if (!regions || !usable || !pages || !users || !msi)
                return log_errno(-ENOMEM, "Out of memory");

        if (c->json)
                return print_json(c, container_json(path, &info, regions, usable));

        print_field(17, "Name", "%s", info.name ?: argv[1]);
        print_field(17, "Object", "%s", path);
        if (info.groups.n == 0)
                print_field(17, "Groups", "none");
        else {
                printf("%17s: ", "Groups");
                for (size_t i = 0; i < info.groups.n; i++)
                        printf("%s%" PRIu32, i ? ", " : "", info.groups.items[i]);
                putchar('\n');
        }
        if (info.groups.n == 0)
                print_field(17, "Aperture", "unknown until a group is attached");
        else
                print_field(17, "Aperture", "0x%016" PRIx64 "-0x%016" PRIx64 " (%s)", info.aperture.start,
                            info.aperture.end, format_range_size(size, info.aperture.start, info.aperture.end));
        print_field(17, "Page sizes", "%s (0x%" PRIx64 ")", pages, info.page_sizes);
        print_field(17, "DMA mappings left", "%" PRIu32, info.dma_available);
        print_field(17, "MSI window", "%s", msi);
        print_field(17, "Peer windows", "%s", info.reserve_peer_windows ? "reserved (origin p2p)" : "not reserved");
        print_field(17, "Users", "%s", users);

        /* Section titles stay with --no-legend: without them the tables could not be told apart. */
        printf("\nReserved regions:%s\n", table_rows(regions) ? "" : " none");
        if (table_rows(regions) && table_print(regions, stdout, c->legend) < 0)
                return log_errno(-EIO, "Failed to print table");
        printf("\nUsable ranges:%s\n", table_rows(usable) ? "" : " none");
        if (table_rows(usable) && table_print(usable, stdout, c->legend) < 0)
                return log_errno(-EIO, "Failed to print table");
        return 0;
}

int verb_check_attach(Iovactl *c, int argc, char **argv) {
        static const TableColumn columns[] = {
                { "START", "start", CELL_ADDRESS, 0 },
                { "END", "end", CELL_ADDRESS, 0 },
                { "SIZE", "size", CELL_SIZE, 0 },
                { "TYPE", "type", CELL_STRING, 0 },
                { "LEASE", "lease_id", CELL_STRING, COLUMN_HUMAN_ONLY },
                { "OBJECT", "lease", CELL_STRING, COLUMN_JSON_ONLY },
        };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_table_ Table *t = NULL;
        uint64_t start, end;
        const char *type, *lease;
        uint32_t group;
        int r;

        r = parse_group(c, argv[2], &group);
        if (r < 0)
                return r;
        r = container_call(c, argv[1], "CheckAttach", &reply, "u", group);
        if (r < 0)
                return r;

        t = table_new(columns, ELEMENTSOF(columns));
        if (!t)
                return log_errno(-ENOMEM, "Out of memory");
        r = sd_bus_message_enter_container(reply, 'a', "(ttso)");
        if (r < 0)
                return log_parse_error(r);
        while ((r = sd_bus_message_read(reply, "(ttso)", &start, &end, &type, &lease)) > 0)
                if (table_add_uint(t, start) < 0 ||
                    table_add_uint(t, end) < 0 ||
                    table_add_size_range(t, start, end) < 0 ||
                    table_add_string(t, type) < 0 ||
                    table_add_string(t, lease_id(lease)) < 0 ||
                    table_add_string(t, lease) < 0)
                        return log_errno(-ENOMEM, "Out of memory");
        if (r < 0)
                return log_parse_error(r);

        size_t n = table_rows(t);
        _cleanup_(msi_window_info_clear) MsiWindowInfo w = {};
        bool have_msi = check_msi_window(c, argv[1], group, &w) > 0;
        if (!c->json && have_msi)
                warn_msi_window(argv[1], group, &w);
        if (c->json) {
                json_object *o = json_object_new_object();
                if (o && (json_add(o, "container", json_object_new_string(argv[1])) < 0 ||
                          json_add(o, "group", json_object_new_uint64(group)) < 0 ||
                          json_add(o, "can_attach", json_object_new_boolean(n == 0)) < 0 ||
                          (have_msi && json_add(o, "msi_window", msi_window_json(&w)) < 0) ||
                          json_add(o, "conflicts", table_to_json(t)) < 0)) {
                        json_object_put(o);
                        o = NULL;
                }
                r = print_json(c, o);
                if (r < 0)
                        return r;
        } else if (n == 0)
                printf("Group %" PRIu32 " can attach to %s.\n", group, argv[1]);
        else {
                r = table_print(t, stdout, c->legend);
                if (r < 0)
                        return log_errno(r, "Failed to print table");
                if (c->legend)
                        printf("\nGroup %" PRIu32 " cannot attach to %s: its reserved regions overlap %zu lease%s.\n",
                               group, argv[1], n, n == 1 ? "" : "s");
        }
        return n == 0 ? EXIT_OK : EXIT_CONFLICT;
}

static unsigned terminal_columns(void) {
        struct winsize ws = {};
        const char *e;

        if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                return ws.ws_col;
        e = getenv("COLUMNS");
        if (e) {
                uint32_t n;
                if (parse_u32(e, &n) >= 0 && n > 0)
                        return n;
        }
        return 80;
}

static bool use_color(void) {
        const char *term = getenv("TERM");

        /* https://no-color.org: any value disables colour. */
        if (getenv("NO_COLOR"))
                return false;
        if (term && strcmp(term, "dumb") == 0)
                return false;
        return isatty(STDOUT_FILENO);
}

int verb_layout(Iovactl *c, int argc, char **argv) {
        _cleanup_(container_info_clear) ContainerInfo info = {};
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(lease_array_clear) LeaseArray leases = {};
        _cleanup_free_ char *path = NULL;
        Layout layout = {};
        int r;

        r = container_info(c, argv[1], &path, &info);
        if (r < 0)
                return r;
        r = bus_call(c, path, IOVAD_CONTAINER_IFACE, "ListLeases", &reply, NULL);
        if (r < 0)
                return r;
        r = bus_read_leases(reply, &leases);
        if (r < 0)
                return log_parse_error(r);

        if (info.groups.n == 0) {
                if (c->json) {
                        json_object *o = json_object_new_object();
                        if (o && (json_add(o, "aperture", NULL) < 0 ||
                                  json_add(o, "segments", json_object_new_array()) < 0)) {
                                json_object_put(o);
                                o = NULL;
                        }
                        return print_json(c, o);
                }
                printf("Container %s has no IOMMU group attached, so its IOVA space is not known yet.\n", argv[1]);
                return 0;
        }

        r = layout_build(&info.aperture, info.regions.items, info.regions.n, info.usable.items, info.usable.n,
                         leases.items, leases.n, &layout);
        if (r == -EINVAL) {
                fprintf(stderr, "iovactl: Container %s reports an empty aperture.\n", argv[1]);
                return r;
        }
        if (r < 0)
                return log_errno(r, "Failed to compute layout");

        if (c->json)
                r = print_json(c, layout_to_json(&layout));
        else {
                LayoutStyle style = {
                        .columns = terminal_columns(),
                        .color = use_color(),
                        .unicode = strcmp(nl_langinfo(CODESET), "UTF-8") == 0,
                        .legend = c->legend,
                };
                r = layout_print(&layout, stdout, &style);
                if (r < 0)
                        log_errno(r, "Failed to print layout");
        }
        layout_clear(&layout);
        return r;
}
