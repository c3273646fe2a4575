/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iovad-bus.h"
#include "util/log.h"
#include "bus/server.h"

int container_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                          sd_bus_error *error) {
        _cleanup_free_ char *name = NULL;
        Server *s = userdata;
        Container *c;
        int r;

        /*
         * Every call on a container comes through here. A label without
         * '_' has no escapes, so it is the name itself: look it up without
         * sd_bus_path_decode()'s copy (about 1,400 instructions a call).
         */
        if (strncmp(path, IOVAD_CONTAINER_PREFIX "/", strlen(IOVAD_CONTAINER_PREFIX) + 1) == 0) {
                const char *label = path + strlen(IOVAD_CONTAINER_PREFIX) + 1;
                if (*label && !strpbrk(label, "_/")) {
                        c = manager_find_container(s->manager, label);
                        if (c) {
                                *found = c;
                                return 1;
                        }
                }
        }

        r = sd_bus_path_decode(path, IOVAD_CONTAINER_PREFIX, &name);
        if (r < 0)
                return r;
        if (r == 0 || isempty(name))
                return 0; /* not below the prefix, or the prefix itself */
        c = manager_find_container(s->manager, name);
        if (!c)
                return bus_object_missing(bus, path, error, IOVAD_E_NO_SUCH_CONTAINER, container_vtable, IOVAD_CONTAINER_IFACE, "No container '%s'", name);
        *found = c;
        return 1;
}

int container_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = ((Server *) userdata)->manager;
        char **l = calloc(m->n_containers + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_containers; i++) {
                l[i] = iovad_container_path(m->containers[i]->name);
                if (!l[i]) {
                        for (size_t k = 0; k < i; k++)
                                free(l[k]);
                        free(l);
                        return -ENOMEM;
                }
        }
        *nodes = l;
        return 1;
}

static int property_get_groups(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        return sd_bus_message_append_array(reply, 'u', c->groups, c->n_groups * sizeof(uint32_t));
}

static int property_get_users(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        return sd_bus_message_append_array(reply, 'u', c->users, c->n_users * sizeof(uint32_t));
}

static int property_get_aperture(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        /* Until a group is attached there is no domain: (0, 0) with no usable ranges. */
        return sd_bus_message_append(reply, "(tt)", c->aperture.start, c->aperture.end);
}

static int property_get_reserved(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        int r = sd_bus_message_open_container(reply, 'a', "(ttss)");
        for (size_t i = 0; r >= 0 && i < c->regions.n; i++) {
                const Region *reg = &c->regions.items[i];
                r = sd_bus_message_append(reply, "(ttss)", reg->start, reg->end, region_type_to_string(reg->type),
                                          reg->origin);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int property_get_usable(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        return bus_append_ranges(reply, &c->usable);
}

static int property_get_dma_avail(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        return sd_bus_message_append(reply, "u", c->n_groups > 0 ? c->dma_avail : 0);
}

static int append_msi_window(sd_bus_message *reply, const MsiWindowUse *u) {
        /* Where the figure comes from; "unknown" when no MSI controller could be read (one page counted). */
        const char *source = !u->has_window ? "" : u->source == MSI_SOURCE_NONE ? "unknown" : msi_source_to_string(u->source);

        return sd_bus_message_append(reply, "(uus)", u->needed, u->capacity, source);
}

static int property_get_msi_window(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Server *s = server_of_bus(bus);
        Container *c = userdata;
        MsiWindowUse u;

        container_msi_window(c, s->manager->platform, NULL, &u);
        return append_msi_window(reply, &u);
}

static int property_get_reserve_peer_windows(sd_bus *bus, const char *path, const char *interface,
                                             const char *property, sd_bus_message *reply, void *userdata,
                                             sd_bus_error *error) {
        Container *c = userdata;
        /* sd-bus's "b" is an int; the field is a bool. */
        return sd_bus_message_append(reply, "b", (int) c->reserve_peer_windows);
}

void bus_emit_container_changed(Server *s, Container *c, const char *property, ...) {
        _cleanup_free_ char *path = NULL;
        char *names[16];
        size_t n = 0;
        va_list ap;

        path = iovad_container_path(c->name);
        if (!path)
                return;
        va_start(ap, property);
        for (const char *p = property; p && n < ELEMENTSOF(names) - 1; p = va_arg(ap, const char *))
                names[n++] = (char *) p;
        va_end(ap);
        names[n] = NULL;
        (void) sd_bus_emit_properties_changed_strv(s->bus, path, IOVAD_CONTAINER_IFACE, names);
}

static void emit_layout_changed(Server *s, Container *c) {
        bus_emit_container_changed(s, c, "Groups", "Aperture", "ReservedRegions", "UsableRanges", "PageSizes",
                                   "DmaMappingsAvailable", "MsiWindowPages", NULL);
}

/* The names polkit is told for a call about a container and a group. */
#define CONTAINER_DETAILS(c, groupbuf) ((const char *const[]) { "container", (c)->name, "group", (groupbuf), NULL })

static int method_attach_group(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        Container *c = userdata;
        IovadError e = {};
        char groupbuf[16];
        uint32_t group;
        int r;

        r = sd_bus_message_read(msg, "u", &group);
        if (r < 0)
                return r;
        snprintf(groupbuf, sizeof(groupbuf), "%u", group);
        r = server_authorize(s, msg, IOVAD_ACTION_MANAGE_CONTAINERS, CONTAINER_DETAILS(c, groupbuf), error);
        if (r <= 0)
                return r == 0 ? 1 : r;
        r = manager_attach_group(s->manager, c, group, &e);
        if (r < 0) {
                log_info_f(LOG_FIELDS(.container = c->name, LOG_GROUP(group), .error = r),
                           "Attaching group %u to '%s' refused: %s", group, c->name, e.message);
                return bus_reply_error(error, &e, r);
        }
        log_info_f(LOG_FIELDS(.container = c->name, LOG_GROUP(group)), "Attached group %u to '%s'", group, c->name);
        emit_layout_changed(s, c);
        bus_emit_devices_changed(s, group);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_detach_group(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        Container *c = userdata;
        IovadError e = {};
        char groupbuf[16];
        uint32_t group;
        int r;

        r = sd_bus_message_read(msg, "u", &group);
        if (r < 0)
                return r;
        snprintf(groupbuf, sizeof(groupbuf), "%u", group);
        r = server_authorize(s, msg, IOVAD_ACTION_MANAGE_CONTAINERS, CONTAINER_DETAILS(c, groupbuf), error);
        if (r <= 0)
                return r == 0 ? 1 : r;
        r = manager_detach_group(s->manager, c, group, &e);
        if (r < 0)
                return bus_reply_error(error, &e, r);
        log_info_f(LOG_FIELDS(.container = c->name, LOG_GROUP(group)), "Detached group %u from '%s'", group, c->name);
        emit_layout_changed(s, c);
        bus_emit_devices_changed(s, group);
        return sd_bus_reply_method_return(msg, NULL);
}

/*
 * Questions about attaching @group (CheckAttach, CheckMsiWindow): for the
 * container's users, and for those who may attach, who may also ask first.
 * 1 when the caller may ask, 0 when polkit's answer is pending (the call
 * is answered then), negative when refused.
 */
static int authorize_attach_question(Server *s, Container *c, sd_bus_message *msg, uint32_t group,
                                     sd_bus_error *error) {
        char groupbuf[16];
        int r;

        r = server_authorize_container_use(s, c, msg, NULL, error);
        if (r != -EACCES)
                return r < 0 ? r : 1;
        sd_bus_error_free(error);
        snprintf(groupbuf, sizeof(groupbuf), "%u", group);
        return server_authorize(s, msg, IOVAD_ACTION_MANAGE_CONTAINERS, CONTAINER_DETAILS(c, groupbuf), error);
}

static int method_check_attach(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        _cleanup_free_ AttachConflict *cf = NULL;
        Container *c = userdata;
        IovadError e = {};
        uint32_t group;
        ssize_t n;
        int r;

        r = sd_bus_message_read(msg, "u", &group);
        if (r < 0)
                return r;
        r = authorize_attach_question(s, c, msg, group, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        n = manager_check_attach(s->manager, c, group, &cf, &e);
        if (n < 0)
                return bus_reply_error(error, &e, (int) n);
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ttso)");
        for (ssize_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *path = iovad_lease_path(cf[i].lease->id);
                if (!path)
                        return -ENOMEM;
                r = sd_bus_message_append(reply, "(ttso)", cf[i].start, cf[i].end, region_type_to_string(cf[i].type),
                                          path);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_check_msi_window(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        Container *c = userdata;
        MsiWindowUse u;
        IovadError e = {};
        uint32_t group;
        int r;

        r = sd_bus_message_read(msg, "u", &group);
        if (r < 0)
                return r;
        r = authorize_attach_question(s, c, msg, group, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = manager_check_msi_window(s->manager, c, group, &u, &e);
        if (r < 0)
                return bus_reply_error(error, &e, r);
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = append_msi_window(reply, &u);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/*
 * Who a new lease of @c belongs to: the caller's uid, and its connection
 * unless @o makes it persistent (which needs authorization). 1 yes, 0
 * waiting for polkit, negative refused.
 */
static int lease_owner(Server *s, sd_bus_message *msg, Container *c, const LeaseOptions *o, uid_t *ret_uid,
                       Client **ret_client, sd_bus_error *error) {
        IovadError e = {};
        int r;

        *ret_client = NULL;
        r = server_authorize_container_use(s, c, msg, ret_uid, error);
        if (r < 0)
                return r;
        if (o->persistent)
                return server_authorize(s, msg, IOVAD_ACTION_PERSISTENT_LEASE,
                                        (const char *const[]) { "container", c->name, NULL }, error);
        r = server_get_client(s, msg, *ret_uid, ret_client);
        if (r == -EBADMSG)
                return bus_reply_error(error, &e,
                                       iovad_error(&e, IOVAD_E_NOT_SUPPORTED,
                                                   "A lease of a connection needs a bus connection with a "
                                                   "unique name"));
        if (r == -ENOTCONN)
                return bus_reply_error(error, &e,
                                       iovad_error(&e, IOVAD_E_NOT_ATTACHED, "The calling connection has left the bus"));
        if (r < 0)
                return r;
        return 1;
}

/*
 * Common tail of Lease, MapMemory and AllocateMapped. Returns 1 with the
 * lease in *@ret, 0 when the call waits for polkit (the handler returns 1),
 * negative on error.
 */
static int make_lease(Server *s, sd_bus_message *msg, Container *c, uint64_t size, const LeaseOptions *o, int memfd,
                      uint64_t offset, Lease **ret, sd_bus_error *error) {
        _cleanup_close_ int fd = memfd;
        Client *client = NULL;
        IovadError e = {};
        uid_t uid;
        int r;

        r = lease_owner(s, msg, c, o, &uid, &client, error);
        if (r <= 0)
                return r;
        r = manager_lease(s->manager, c, uid, client, size, o, TAKE_FD(fd), offset, ret, &e);
        if (r < 0)
                return bus_reply_error(error, &e, r);
        log_info_f(LOG_FIELDS(.container = c->name, .lease = (*ret)->id),
                   "Lease %" PRIu64 " in '%s' for uid %u%s%s: 0x%" PRIx64 " bytes at IOVA 0x%" PRIx64 "%s",
                   (*ret)->id, c->name, (unsigned) uid, client ? " of " : "", client ? client->name : ", persistent",
                   (*ret)->size, (*ret)->iova, (*ret)->mapped ? ", mapped" : "");
        if ((*ret)->mapped)
                bus_emit_container_changed(s, c, "DmaMappingsAvailable", NULL);
        return 1;
}

/*
 * The reply that hands @l to its caller (with @fd, the memory, for
 * AllocateMapped). The lease journal first notes that it is being
 * answered, so that a crash after the reply went out cannot drop a lease
 * its client has (manager_lease_replying()).
 */
static int reply_lease(Server *s, sd_bus_message *msg, Lease *l, int fd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *path = iovad_lease_path(l->id);
        int r;

        if (!path)
                return -ENOMEM;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        /* Basic appends: the format string's parse costs as much as the appends themselves. */
        r = sd_bus_message_append_basic(reply, 'o', path);
        if (r >= 0)
                r = sd_bus_message_append_basic(reply, 't', &l->iova);
        if (r >= 0 && fd >= 0)
                r = sd_bus_message_append_basic(reply, 'h', &fd);
        if (r < 0)
                return r;
        manager_lease_replying(s->manager, l);
        return sd_bus_send(NULL, reply, NULL);
}

static int method_lease(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        Container *c = userdata;
        LeaseOptions o;
        uint64_t size;
        Lease *l;
        int r;

        r = sd_bus_message_read_basic(msg, 't', &size);
        if (r < 0)
                return r;
        r = bus_read_lease_options(msg, LEASE_OPTIONS_LEASE, &o, error);
        if (r < 0)
                return r;
        r = make_lease(s, msg, c, size, &o, -1, 0, &l, error);
        if (r <= 0)
                return r == 0 ? 1 : r;
        return reply_lease(s, msg, l, -1);
}

int container_dispatch_lease(Server *s, sd_bus_message *msg, sd_bus_error *error) {
        void *c = NULL;
        int r;

        if (!sd_bus_message_is_method_call(msg, IOVAD_CONTAINER_IFACE, "Lease") ||
            !sd_bus_message_has_signature(msg, "ta{sv}"))
                return 0;
        /* What sd-bus's dispatch does for a fallback vtable: the object first, then its method. */
        r = container_object_find(sd_bus_message_get_bus(msg), sd_bus_message_get_path(msg), IOVAD_CONTAINER_IFACE, s,
                                  &c, error);
        if (r <= 0)
                return r;
        r = method_lease(msg, c, error);
        return r < 0 ? r : 1;
}

static int method_map_memory(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        Container *c = userdata;
        uint64_t offset, size;
        LeaseOptions o;
        int fd, copy;
        Lease *l;
        int r;

        r = sd_bus_message_read(msg, "htt", &fd, &offset, &size);
        if (r < 0)
                return r;
        r = bus_read_lease_options(msg, LEASE_OPTIONS_MAP, &o, error);
        if (r < 0)
                return r;
        /* The message owns its fd; the lease keeps a copy of its own. */
        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0) {
                IovadError e = {};
                return bus_reply_error(error, &e, iovad_error(&e, errno == EMFILE || errno == ENFILE ? IOVAD_E_TOO_MANY_FILES
                                                                                                   : IOVAD_E_BAD_MEMORY,
                                                              "Cannot duplicate the memfd: %m"));
        }
        r = make_lease(s, msg, c, size, &o, copy, offset, &l, error);
        if (r <= 0)
                return r == 0 ? 1 : r;
        return reply_lease(s, msg, l, -1);
}

static int method_allocate_mapped(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        _cleanup_close_ int fd = -1;
        Container *c = userdata;
        IovadError e = {};
        LeaseOptions o;
        uint64_t size;
        Lease *l;
        int r;

        r = sd_bus_message_read(msg, "t", &size);
        if (r < 0)
                return r;
        r = bus_read_lease_options(msg, LEASE_OPTIONS_ALLOCATE, &o, error);
        if (r < 0)
                return r;
        uid_t uid;
        r = server_authorize_container_use(s, c, msg, &uid, error);
        if (r < 0)
                return r;
        /* Before any fd is made for it. */
        r = manager_check_memfd_budget(s->manager, uid, &e);
        if (r < 0)
                return bus_reply_error(error, &e, r);
        r = container_memfd_new(c, size, o.hugepages, &fd, &e);
        if (r < 0)
                return bus_reply_error(error, &e, r);

        int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return bus_reply_error(error, &e, iovad_error(&e, errno == EMFILE || errno == ENFILE ? IOVAD_E_TOO_MANY_FILES
                                                                                                   : IOVAD_E_KERNEL,
                                                              "Cannot duplicate the memfd: %m"));
        r = make_lease(s, msg, c, size, &o, copy, 0, &l, error);
        if (r <= 0)
                return r == 0 ? 1 : r;
        return reply_lease(s, msg, l, fd);
}

static int method_map_memory_batch(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        _cleanup_free_ LeasePiece *pieces = NULL;
        _cleanup_free_ Lease **leases = NULL;
        Container *c = userdata;
        Client *client = NULL;
        size_t n = 0, allocated = 0;
        IovadError e = {};
        ssize_t failed;
        LeaseOptions o;
        uid_t uid;
        int fd, r;

        r = sd_bus_message_read(msg, "h", &fd);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(msg, 'a', "(ttt)");
        if (r < 0)
                return r;
        for (;;) {
                LeasePiece p;

                r = sd_bus_message_read(msg, "(ttt)", &p.offset, &p.size, &p.iova);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (n >= LEASE_BATCH_MAX)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "A batch holds at most %u pieces", LEASE_BATCH_MAX);
                if (n == allocated) {
                        size_t more = allocated ? allocated * 2 : 64;
                        LeasePiece *a = reallocarray(pieces, more, sizeof(LeasePiece));
                        if (!a)
                                return -ENOMEM;
                        pieces = a;
                        allocated = more;
                }
                pieces[n++] = p;
        }
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        r = bus_read_lease_options(msg, LEASE_OPTIONS_MAP, &o, error);
        if (r < 0)
                return r;
        if (o.fixed)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option 'iova' is not for a batch: each piece gives its own");
        if (n == 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "A batch needs at least one piece");
        r = lease_owner(s, msg, c, &o, &uid, &client, error);
        if (r <= 0)
                return r == 0 ? 1 : r;
        leases = calloc(n, sizeof(Lease *));
        if (!leases)
                return -ENOMEM;
        r = manager_lease_batch(s->manager, c, uid, client, &o, fd, pieces, n, leases, &failed, &e);
        if (r < 0) {
                log_info_f(LOG_FIELDS(.container = c->name, .error = r), "Batch of %zu pieces in '%s' for uid %u refused: %s",
                           n, c->name, (unsigned) uid, e.message);
                return bus_reply_error(error, &e, r);
        }
        log_info_f(LOG_FIELDS(.container = c->name, .lease = leases[0]->id),
                   "Leases %" PRIu64 "-%" PRIu64 " in '%s' for uid %u%s%s: a batch of %zu mapped pieces of one memfd",
                   leases[0]->id, leases[n - 1]->id, c->name, (unsigned) uid, client ? " of " : "",
                   client ? client->name : ", persistent", n);
        bus_emit_container_changed(s, c, "DmaMappingsAvailable", NULL);

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ot)");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                char path[sizeof(IOVAD_LEASE_PREFIX) + 24];
                snprintf(path, sizeof(path), IOVAD_LEASE_PREFIX "/%" PRIu64, leases[i]->id);
                r = sd_bus_message_append(reply, "(ot)", path, leases[i]->iova);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        /* Ids grow within the batch: the last one's note covers them all. */
        manager_lease_replying(s->manager, leases[n - 1]);
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_leases(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        Container *c = userdata;
        uid_t uid;
        int r;

        r = server_caller_uid(s, msg, &uid);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ottb)");
        for (Lease *l = c->leases; r >= 0 && l; l = l->c_next) {
                if (uid != 0 && l->owner != uid)
                        continue;
                _cleanup_free_ char *path = iovad_lease_path(l->id);
                if (!path)
                        return -ENOMEM;
                r = sd_bus_message_append(reply, "(ottb)", path, l->iova, l->size, (int) l->mapped);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_destroy(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        _cleanup_free_ char *path = NULL, *name = NULL;
        _cleanup_free_ unsigned *groups = NULL;
        Container *c = userdata;
        size_t n_groups;
        int r;

        r = server_authorize(s, msg, IOVAD_ACTION_MANAGE_CONTAINERS,
                             (const char *const[]) { "container", c->name, NULL }, error);
        if (r <= 0)
                return r == 0 ? 1 : r;
        path = iovad_container_path(c->name);
        name = strdup(c->name);
        n_groups = c->n_groups;
        groups = malloc((n_groups ? n_groups : 1) * sizeof(unsigned));
        if (!path || !name || !groups)
                return -ENOMEM;
        if (n_groups > 0)
                memcpy(groups, c->groups, n_groups * sizeof(unsigned));

        /* InterfacesRemoved lists the object's interfaces: announce it while it still exists. */
        (void) sd_bus_emit_object_removed(s->bus, path);
        manager_destroy_container(s->manager, c);
        log_info_f(LOG_FIELDS(.container = name), "Destroyed container '%s'", name);
        for (size_t i = 0; i < n_groups; i++)
                bus_emit_devices_changed(s, groups[i]);
        return sd_bus_reply_method_return(msg, NULL);
}

const sd_bus_vtable container_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(Container, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Groups", "au", property_get_groups, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Aperture", "(tt)", property_get_aperture, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ReservedRegions", "a(ttss)", property_get_reserved, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("UsableRanges", "a(tt)", property_get_usable, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PageSizes", "t", NULL, offsetof(Container, page_sizes), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DmaMappingsAvailable", "u", property_get_dma_avail, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Users", "au", property_get_users, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MsiWindowPages", "(uus)", property_get_msi_window, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ReservePeerWindows", "b", property_get_reserve_peer_windows, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("AttachGroup", SD_BUS_ARGS("u", group), SD_BUS_NO_RESULT, method_attach_group,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DetachGroup", SD_BUS_ARGS("u", group), SD_BUS_NO_RESULT, method_detach_group,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CheckAttach", SD_BUS_ARGS("u", group), SD_BUS_RESULT("a(ttso)", conflicts),
                                method_check_attach, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CheckMsiWindow", SD_BUS_ARGS("u", group), SD_BUS_RESULT("(uus)", use),
                                method_check_msi_window, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Lease", SD_BUS_ARGS("t", size, "a{sv}", options), SD_BUS_RESULT("o", lease, "t", iova),
                                method_lease, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("MapMemory", SD_BUS_ARGS("h", memfd, "t", offset, "t", size, "a{sv}", options),
                                SD_BUS_RESULT("o", lease, "t", iova), method_map_memory, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AllocateMapped", SD_BUS_ARGS("t", size, "a{sv}", options),
                                SD_BUS_RESULT("o", lease, "t", iova, "h", memfd), method_allocate_mapped,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("MapMemoryBatch", SD_BUS_ARGS("h", memfd, "a(ttt)", pieces, "a{sv}", options),
                                SD_BUS_RESULT("a(ot)", leases), method_map_memory_batch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListLeases", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ottb)", leases), method_list_leases,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Destroy", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_destroy,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
