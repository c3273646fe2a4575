/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Verbs about leases: IOVA only, client memory, daemon memory. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iovactl.h"
#include "iovad-bus.h"
#include "util/macro.h"

/* Lease, MapMemory and AllocateMapped options: only what was asked for, of what the method takes. */
static iovad_lease_options lease_options(const Iovactl *c, VerbOption accepted) {
        VerbOption o = c->options & accepted;
        iovad_lease_options l = {};

        if (o & OPT_ALIGN) {
                l.flags |= IOVAD_LEASE_ALIGNMENT;
                l.alignment = c->align;
        }
        if (o & OPT_LIMIT) {
                l.flags |= IOVAD_LEASE_LIMIT;
                l.limit = c->limit;
        }
        if (o & OPT_IOVA) {
                l.flags |= IOVAD_LEASE_FIXED_IOVA;
                l.iova = c->iova;
        }
        if (o & OPT_PERSISTENT)
                l.flags |= IOVAD_LEASE_PERSISTENT;
        if (o & OPT_READONLY)
                l.flags |= IOVAD_LEASE_READONLY;
        if (o & OPT_HUGEPAGES)
                l.flags |= IOVAD_LEASE_HUGEPAGES;
        return l;
}

static json_object *seals_json(int seals) {
        static const struct {
                int flag;
                const char *name;
        } table[] = {
                { F_SEAL_SEAL, "seal" },
                { F_SEAL_SHRINK, "shrink" },
                { F_SEAL_GROW, "grow" },
                { F_SEAL_WRITE, "write" },
                { F_SEAL_FUTURE_WRITE, "future-write" },
        };
        json_object *a = json_object_new_array();

        if (!a)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if ((seals & table[i].flag) && json_object_array_add(a, json_object_new_string(table[i].name)) < 0) {
                        json_object_put(a);
                        return NULL;
                }
        return a;
}

static int report_lease(Iovactl *c, const char *verb, const char *lease, uint64_t iova, uint64_t size, int memfd,
                        int seals) {
        char sz[FORMAT_SIZE_MAX];
        uint64_t end = size > 0 && iova + (size - 1) >= iova ? iova + (size - 1) : iova;

        if (c->json) {
                json_object *o = json_object_new_object(), *s = NULL;
                if (o && (json_add(o, "lease", json_object_new_string(lease)) < 0 ||
                          json_add(o, "iova", json_object_new_uint64(iova)) < 0 ||
                          json_add(o, "end", json_object_new_uint64(end)) < 0 ||
                          json_add(o, "size", json_object_new_uint64(size)) < 0 ||
                          (memfd >= 0 && json_add(o, "memfd", json_object_new_int(memfd)) < 0) ||
                          (seals >= 0 && (!(s = seals_json(seals)) || json_add(o, "seals", s) < 0)))) {
                        json_object_put(o);
                        o = NULL;
                }
                return print_json(c, o);
        }
        printf("%s 0x%016" PRIx64 "-0x%016" PRIx64 " (%s) as %s", verb, iova, end, format_size(sz, size), lease);
        if (memfd >= 0)
                printf(", memfd %d", memfd);
        printf(".\n");
        return 0;
}

/* Non-persistent leases die with our bus connection: keep it open, or say that they are gone. */
static int finish(Iovactl *c, const char *lease, bool can_persist) {
        if (c->hold)
                return hold(c, lease);
        if (!c->persistent && isatty(STDERR_FILENO))
                fprintf(stderr, "Note: %s ends as iovactl exits; keep it with --hold%s.\n", lease,
                        can_persist ? " or make it --persistent" : "");
        return 0;
}

int verb_lease(Iovactl *c, int argc, char **argv) {
        iovad_lease_options o = lease_options(c, OPT_ALIGN | OPT_LIMIT | OPT_IOVA | OPT_PERSISTENT);
        iovad_lease_info lease;
        uint64_t size;
        int r;

        r = parse_size_arg(c, "size", argv[2], &size);
        if (r < 0)
                return r;
        r = bus_connect(c);
        if (r < 0)
                return r;
        r = iovad_lease(c->iovad, argv[1], size, &o, &lease);
        if (r < 0)
                return log_iovad_error(c, r, "Lease");

        r = report_lease(c, "Leased", lease.object, lease.iova, size, -1, -1);
        if (r < 0)
                return r;
        return finish(c, lease.object, true);
}

int verb_map(Iovactl *c, int argc, char **argv) {
        iovad_lease_options o = lease_options(c, OPT_ALIGN | OPT_LIMIT | OPT_IOVA | OPT_PERSISTENT | OPT_READONLY);
        _cleanup_close_ int memfd = -1;
        iovad_lease_info lease;
        uint64_t size;
        int r;

        r = parse_size_arg(c, "size", argv[2], &size);
        if (r < 0)
                return r;
        if (size == 0 || size > INT64_MAX)
                return usage_error(c, "Cannot make a memfd of %s bytes.", argv[2]);

        /* Sealed against shrinking, as iovad demands, and growing, so its size is what was mapped. */
        memfd = memfd_create("iovactl-map", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (memfd < 0)
                return log_errno(-errno, "Failed to create memfd");
        if (ftruncate(memfd, (off_t) size) < 0)
                return log_errno(-errno, "Failed to size memfd");
        if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
                return log_errno(-errno, "Failed to seal memfd");

        r = bus_connect(c);
        if (r < 0)
                return r;
        r = iovad_map_memory(c->iovad, argv[1], memfd, 0, size, &o, &lease);
        if (r < 0)
                return log_iovad_error(c, r, "MapMemory");

        r = report_lease(c, "Mapped", lease.object, lease.iova, size, memfd, -1);
        if (r < 0)
                return r;
        return finish(c, lease.object, true);
}

int verb_allocate(Iovactl *c, int argc, char **argv) {
        iovad_lease_options o = lease_options(c, OPT_LIMIT | OPT_READONLY | OPT_HUGEPAGES);
        _cleanup_close_ int memfd = -1;
        iovad_lease_info lease;
        uint64_t size;
        int r, seals;

        r = parse_size_arg(c, "size", argv[2], &size);
        if (r < 0)
                return r;
        r = bus_connect(c);
        if (r < 0)
                return r;
        r = iovad_allocate_mapped(c->iovad, argv[1], size, &o, &lease, &memfd);
        if (r < 0)
                return log_iovad_error(c, r, "AllocateMapped");
        /* Show the seals, so that a test or an admin can see iovad sealed what it handed out. */
        seals = fcntl(memfd, F_GET_SEALS);
        if (seals < 0)
                return log_errno(-errno, "Memory from iovad is not a memfd");

        r = report_lease(c, "Allocated", lease.object, lease.iova, size, memfd, seals);
        if (r < 0)
                return r;
        return finish(c, lease.object, false);
}

static int cmp_lease_iova(const void *a, const void *b) {
        const iovad_lease_info *x = a, *y = b;

        return x->iova < y->iova ? -1 : x->iova > y->iova;
}

int verb_leases(Iovactl *c, int argc, char **argv) {
        static const TableColumn columns[] = {
                { "ID", "id", CELL_STRING, COLUMN_HUMAN_ONLY },
                { "IOVA", "iova", CELL_ADDRESS, 0 },
                { "END", "end", CELL_ADDRESS, 0 },
                { "SIZE", "size", CELL_SIZE, 0 },
                { "MAPPED", "mapped", CELL_BOOL, 0 },
                { "OBJECT", "lease", CELL_STRING, COLUMN_JSON_ONLY },
        };
        _cleanup_free_ iovad_lease_info *leases = NULL;
        _cleanup_table_ Table *t = NULL;
        int r, n;

        r = bus_connect(c);
        if (r < 0)
                return r;
        n = iovad_container_list_leases(c->iovad, argv[1], &leases);
        if (n < 0)
                return log_iovad_error(c, n, "ListLeases");
        /* In address order, as "layout" draws them. */
        if (n > 0)
                qsort(leases, (size_t) n, sizeof(iovad_lease_info), cmp_lease_iova);

        t = table_new(columns, ELEMENTSOF(columns));
        if (!t)
                return log_errno(-ENOMEM, "Out of memory");
        for (int i = 0; i < n; i++) {
                const iovad_lease_info *l = &leases[i];
                uint64_t end = l->size > 0 && l->iova + (l->size - 1) >= l->iova ? l->iova + (l->size - 1) : l->iova;

                if (table_add_string(t, lease_id(l->object)) < 0 ||
                    table_add_uint(t, l->iova) < 0 ||
                    table_add_uint(t, end) < 0 ||
                    table_add_uint(t, l->size) < 0 ||
                    table_add_bool(t, l->mapped) < 0 ||
                    table_add_string(t, l->object) < 0)
                        return log_errno(-ENOMEM, "Out of memory");
        }
        return print_table(c, t, "lease", "leases");
}

/* A lease argument, an id or an object path, as its object path. */
static int lease_arg_path(Iovactl *c, const char *arg, char **ret) {
        char *path;
        uint64_t id;

        if (arg[0] == '/') {
                if (!sd_bus_object_path_is_valid(arg) ||
                    strncmp(arg, IOVAD_LEASE_PREFIX "/", strlen(IOVAD_LEASE_PREFIX "/")) != 0)
                        return usage_error(c, "Not a lease object path: '%s' (expected %s/ID).", arg,
                                           IOVAD_LEASE_PREFIX);
                path = strdup(arg);
        } else if (parse_u64(arg, &id) >= 0)
                path = iovad_lease_path(id);
        else
                return usage_error(c, "Not a lease: '%s' (expected an id or %s/ID).", arg, IOVAD_LEASE_PREFIX);
        if (!path)
                return log_errno(-ENOMEM, "Out of memory");
        *ret = path;
        return 0;
}

/*
 * release LEASE...: one lease with Lease.Release; several with one
 * Manager.ReleaseLeases, all or nothing (iovad names the lease that stops
 * it, by its index in the list, and releases none).
 */
int verb_release(Iovactl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        size_t n = (size_t) argc - 1;
        char **paths;
        int r;

        paths = calloc(n + 1, sizeof(char *));
        if (!paths)
                return log_errno(-ENOMEM, "Out of memory");
        for (size_t i = 0; i < n; i++) {
                r = lease_arg_path(c, argv[1 + i], &paths[i]);
                if (r < 0)
                        goto out;
        }

        r = bus_connect(c);
        if (r < 0)
                goto out;
        if (n == 1) {
                r = iovad_release(c->iovad, paths[0]);
                if (r < 0)
                        r = log_iovad_object_error(c, r, "Release", "lease", lease_id(paths[0]));
                goto out;
        }

        r = sd_bus_message_new_method_call(c->bus, &m, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE,
                                           "ReleaseLeases");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "o");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(m, "o", paths[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0) {
                r = log_errno(r, "Failed to build the ReleaseLeases call");
                goto out;
        }
        {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                r = sd_bus_call(c->bus, m, 0, &error, NULL);
                if (r < 0)
                        r = log_bus_error(c, &error, r, "ReleaseLeases");
        }
out:
        for (size_t i = 0; i < n; i++)
                free(paths[i]);
        free(paths);
        return r < 0 ? r : 0;
}
