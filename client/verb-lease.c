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

/* The a{sv} of Lease, MapMemory and AllocateMapped: only what was asked for, of what the method takes. */
static int append_options(Iovactl *c, sd_bus_message *m, VerbOption accepted) {
        VerbOption o = c->options & accepted;
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && (o & OPT_ALIGN))
                r = sd_bus_message_append(m, "{sv}", "alignment", "t", c->align);
        if (r >= 0 && (o & OPT_LIMIT))
                r = sd_bus_message_append(m, "{sv}", "limit", "t", c->limit);
        if (r >= 0 && (o & OPT_IOVA))
                r = sd_bus_message_append(m, "{sv}", "iova", "t", c->iova);
        if (r >= 0 && (o & OPT_PERSISTENT))
                r = sd_bus_message_append(m, "{sv}", "persistent", "b", 1);
        if (r >= 0 && (o & OPT_READONLY))
                r = sd_bus_message_append(m, "{sv}", "readonly", "b", 1);
        if (r >= 0 && (o & OPT_HUGEPAGES))
                r = sd_bus_message_append(m, "{sv}", "hugepages", "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
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
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL;
        const char *lease;
        uint64_t size, iova;
        int r;

        r = parse_size_arg(c, "size", argv[2], &size);
        if (r < 0)
                return r;
        r = container_path(c, argv[1], &path);
        if (r < 0)
                return r;
        r = bus_new_call(c, path, IOVAD_CONTAINER_IFACE, "Lease", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "t", size);
        if (r >= 0)
                r = append_options(c, m, OPT_ALIGN | OPT_LIMIT | OPT_IOVA | OPT_PERSISTENT);
        if (r < 0)
                return log_errno(r, "Failed to build Lease call");
        r = bus_send(c, m, "Lease", &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "ot", &lease, &iova);
        if (r < 0)
                return log_parse_error(r);

        r = report_lease(c, "Leased", lease, iova, size, -1, -1);
        if (r < 0)
                return r;
        return finish(c, lease, true);
}

int verb_map(Iovactl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int memfd = -1;
        const char *lease;
        uint64_t size, iova;
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

        r = container_path(c, argv[1], &path);
        if (r < 0)
                return r;
        r = bus_new_call(c, path, IOVAD_CONTAINER_IFACE, "MapMemory", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "htt", memfd, UINT64_C(0), size);
        if (r >= 0)
                r = append_options(c, m, OPT_ALIGN | OPT_LIMIT | OPT_IOVA | OPT_PERSISTENT | OPT_READONLY);
        if (r < 0)
                return log_errno(r, "Failed to build MapMemory call");
        r = bus_send(c, m, "MapMemory", &reply);
        if (r < 0)
                return r;
        /* The call holds a copy of the memfd; only ours should stay open while holding. */
        m = sd_bus_message_unref(m);
        r = sd_bus_message_read(reply, "ot", &lease, &iova);
        if (r < 0)
                return log_parse_error(r);

        r = report_lease(c, "Mapped", lease, iova, size, memfd, -1);
        if (r < 0)
                return r;
        return finish(c, lease, true);
}

int verb_allocate(Iovactl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int memfd = -1;
        const char *lease;
        uint64_t size, iova;
        int r, received, seals;

        r = parse_size_arg(c, "size", argv[2], &size);
        if (r < 0)
                return r;
        r = container_path(c, argv[1], &path);
        if (r < 0)
                return r;
        r = bus_new_call(c, path, IOVAD_CONTAINER_IFACE, "AllocateMapped", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "t", size);
        if (r >= 0)
                r = append_options(c, m, OPT_LIMIT | OPT_READONLY | OPT_HUGEPAGES);
        if (r < 0)
                return log_errno(r, "Failed to build AllocateMapped call");
        r = bus_send(c, m, "AllocateMapped", &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "oth", &lease, &iova, &received);
        if (r < 0)
                return log_parse_error(r);
        memfd = fcntl(received, F_DUPFD_CLOEXEC, 3);
        if (memfd < 0)
                return log_errno(-errno, "Failed to duplicate memfd");
        /* Show the seals, so that a test or an admin can see iovad sealed what it handed out. */
        seals = fcntl(memfd, F_GET_SEALS);
        if (seals < 0)
                return log_errno(-errno, "Memory from iovad is not a memfd");

        r = report_lease(c, "Allocated", lease, iova, size, memfd, seals);
        if (r < 0)
                return r;
        return finish(c, lease, false);
}

static int cmp_lease_iova(const void *a, const void *b) {
        const IovaLease *x = a, *y = b;

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
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(lease_array_clear) LeaseArray leases = {};
        _cleanup_free_ char *path = NULL;
        _cleanup_table_ Table *t = NULL;
        int r;

        r = container_path(c, argv[1], &path);
        if (r < 0)
                return r;
        r = bus_call(c, path, IOVAD_CONTAINER_IFACE, "ListLeases", &reply, NULL);
        if (r < 0)
                return r;
        r = bus_read_leases(reply, &leases);
        if (r < 0)
                return log_parse_error(r);
        /* In address order, as "layout" draws them. */
        if (leases.n > 0)
                qsort(leases.items, leases.n, sizeof(IovaLease), cmp_lease_iova);

        t = table_new(columns, ELEMENTSOF(columns));
        if (!t)
                return log_errno(-ENOMEM, "Out of memory");
        for (size_t i = 0; i < leases.n; i++) {
                const IovaLease *l = &leases.items[i];
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

int verb_release(Iovactl *c, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;
        const char *arg = argv[1];
        uint64_t id;
        int r;

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

        r = bus_connect(c);
        if (r < 0)
                return r;
        r = sd_bus_call_method(c->bus, IOVAD_BUS_NAME, path, IOVAD_LEASE_IFACE, "Release", &error, NULL, NULL);
        if (r < 0)
                return log_object_error(c, &error, r, "Release", "lease", lease_id(path));
        return 0;
}
