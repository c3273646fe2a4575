/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Containers: create, destroy, groups, information, lookups. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libiovad-internal.h"

#define IOVAD_CONTAINER_KNOWN (IOVAD_CONTAINER_RESERVE_PEER_WINDOWS)

_public_ int iovad_container_create(iovad *h, const char *name, const uint32_t *users, size_t n_users,
                                    uint64_t flags, char **ret_object) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *object;
        char *o;
        int r;

        return_einval_if(!h);
        error_clear(h);
        if (!name)
                return error_local(h, -EINVAL, "No container name given");
        if (flags & ~(uint64_t) IOVAD_CONTAINER_KNOWN)
                return error_local(h, -EINVAL, "Unknown container flags 0x%" PRIx64,
                                   flags & ~(uint64_t) IOVAD_CONTAINER_KNOWN);
        if (n_users > 0 && !users)
                return error_local(h, -EINVAL, "%zu users but no array of them", n_users);

        r = call_new(h, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "CreateContainer", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && (flags & IOVAD_CONTAINER_RESERVE_PEER_WINDOWS))
                r = sd_bus_message_append(m, "{sv}", "reserve_peer_windows", "b", 1);
        if (r >= 0 && n_users > 0) {
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "users");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', "au");
                if (r >= 0)
                        r = sd_bus_message_append_array(m, 'u', users, n_users * sizeof(uint32_t));
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return error_local(h, r, "Failed to build CreateContainer call: %s", strerror(-r));
        r = call_send(h, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &object);
        if (r < 0)
                return error_reply(h, r);
        if (ret_object) {
                o = strdup(object);
                if (!o)
                        return error_local(h, -ENOMEM, "Out of memory");
                *ret_object = o;
        }
        return 0;
}

/* A Container method by container name. */
static int container_call(iovad *h, const char *name, const char *member, sd_bus_message **ret_reply,
                          const char *types, ...) {
        _cleanup_free_ char *path = NULL;
        va_list ap;
        int r;

        r = container_lookup(h, name, &path);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = call_methodv(h, path, IOVAD_CONTAINER_IFACE, member, ret_reply, types, ap);
        va_end(ap);
        return r;
}

_public_ int iovad_container_destroy(iovad *h, const char *name) {
        return_einval_if(!h);
        error_clear(h);
        return container_call(h, name, "Destroy", NULL, NULL);
}

_public_ int iovad_container_attach_group(iovad *h, const char *name, uint32_t group) {
        return_einval_if(!h);
        error_clear(h);
        return container_call(h, name, "AttachGroup", NULL, "u", group);
}

_public_ int iovad_container_detach_group(iovad *h, const char *name, uint32_t group) {
        return_einval_if(!h);
        error_clear(h);
        return container_call(h, name, "DetachGroup", NULL, "u", group);
}

_public_ int iovad_container_object(iovad *h, const char *name, char **ret_object) {
        return_einval_if(!h || !ret_object);
        error_clear(h);
        return container_lookup(h, name, ret_object);
}

_public_ iovad_container_info *iovad_container_info_free(iovad_container_info *i) {
        if (!i)
                return NULL;
        free(i->name);
        free(i->object);
        free(i->groups);
        free(i->users);
        for (size_t k = 0; k < i->n_reserved_regions; k++) {
                free(i->reserved_regions[k].type);
                free(i->reserved_regions[k].origin);
        }
        free(i->reserved_regions);
        free(i->usable_ranges);
        free(i);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(iovad_container_info *, iovad_container_info_free);

static int read_u32_array(sd_bus_message *m, uint32_t **ret, size_t *ret_n) {
        const void *p;
        size_t size;
        uint32_t *a;
        int r;

        r = sd_bus_message_read_array(m, 'u', &p, &size);
        if (r < 0)
                return r;
        a = malloc(size ?: 1);
        if (!a)
                return -ENOMEM;
        if (size > 0)
                memcpy(a, p, size);
        free(*ret);
        *ret = a;
        *ret_n = size / sizeof(uint32_t);
        return 0;
}

static int read_ranges(sd_bus_message *m, iovad_range **ret, size_t *ret_n) {
        _cleanup_free_ iovad_range *a = NULL;
        size_t n = 0, allocated = 0;
        uint64_t s, e;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(tt)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(tt)", &s, &e)) > 0) {
                if (n == allocated) {
                        size_t k = allocated ? allocated * 2 : 8;
                        iovad_range *t = reallocarray(a, k, sizeof(*t));
                        if (!t)
                                return -ENOMEM;
                        a = t;
                        allocated = k;
                }
                a[n++] = (iovad_range) { s, e };
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        free(*ret);
        *ret = TAKE_PTR(a);
        *ret_n = n;
        return 0;
}

static int read_regions(sd_bus_message *m, iovad_container_info *i) {
        const char *type, *origin;
        uint64_t s, e;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(ttss)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(ttss)", &s, &e, &type, &origin)) > 0) {
                iovad_region *t = reallocarray(i->reserved_regions, i->n_reserved_regions + 1, sizeof(*t));
                if (!t)
                        return -ENOMEM;
                i->reserved_regions = t;
                t[i->n_reserved_regions] = (iovad_region) { s, e, strdup(type), strdup(origin) };
                i->n_reserved_regions++;
                if (!t[i->n_reserved_regions - 1].type || !t[i->n_reserved_regions - 1].origin)
                        return -ENOMEM;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        return r;
}

static int read_property(sd_bus_message *m, const char *name, iovad_container_info *i) {
        const char *s;
        int b, r;

        if (strcmp(name, "Name") == 0) {
                r = sd_bus_message_read(m, "v", "s", &s);
                if (r < 0)
                        return r;
                free(i->name);
                i->name = strdup(s);
                return i->name ? 0 : -ENOMEM;
        }
        if (strcmp(name, "Aperture") == 0)
                return sd_bus_message_read(m, "v", "(tt)", &i->aperture.start, &i->aperture.end);
        if (strcmp(name, "PageSizes") == 0)
                return sd_bus_message_read(m, "v", "t", &i->page_sizes);
        if (strcmp(name, "DmaMappingsAvailable") == 0)
                return sd_bus_message_read(m, "v", "u", &i->dma_mappings_available);
        if (strcmp(name, "ReservePeerWindows") == 0) {
                r = sd_bus_message_read(m, "v", "b", &b);
                i->reserve_peer_windows = b;
                return r;
        }

        int (*f)(sd_bus_message *, iovad_container_info *) = NULL;
        const char *sig = NULL;
        if (strcmp(name, "Groups") == 0 || strcmp(name, "Users") == 0)
                sig = "au";
        else if (strcmp(name, "UsableRanges") == 0)
                sig = "a(tt)";
        else if (strcmp(name, "ReservedRegions") == 0) {
                sig = "a(ttss)";
                f = read_regions;
        } else
                return sd_bus_message_skip(m, "v");

        r = sd_bus_message_enter_container(m, 'v', sig);
        if (r < 0)
                return r;
        if (f)
                r = f(m, i);
        else if (strcmp(name, "Groups") == 0)
                r = read_u32_array(m, &i->groups, &i->n_groups);
        else if (strcmp(name, "Users") == 0)
                r = read_u32_array(m, &i->users, &i->n_users);
        else
                r = read_ranges(m, &i->usable_ranges, &i->n_usable_ranges);
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        return r;
}

_public_ int iovad_container_get_info(iovad *h, const char *name, iovad_container_info **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(iovad_container_info_freep) iovad_container_info *i = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        return_einval_if(!h || !ret);
        error_clear(h);
        r = container_lookup(h, name, &path);
        if (r < 0)
                return r;
        r = call_method(h, path, "org.freedesktop.DBus.Properties", "GetAll", &reply, "s", IOVAD_CONTAINER_IFACE);
        if (r < 0)
                return r;
        i = calloc(1, sizeof(*i));
        if (!i)
                return error_local(h, -ENOMEM, "Out of memory");
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return error_reply(h, r);
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *prop;

                r = sd_bus_message_read(reply, "s", &prop);
                if (r >= 0)
                        r = read_property(reply, prop, i);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r == -ENOMEM)
                        return error_local(h, r, "Out of memory");
                if (r < 0)
                        return error_local(h, -EBADMSG, "Unexpected properties from iovad: %s", strerror(-r));
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return error_local(h, -EBADMSG, "Unexpected properties from iovad: %s", strerror(-r));
        /* Every array is allocated, so that a caller can index n = 0 ones without checks. */
        if (!i->name)
                i->name = strdup(name);
        i->object = TAKE_PTR(path);
        if (!i->groups)
                i->groups = calloc(1, sizeof(uint32_t));
        if (!i->users)
                i->users = calloc(1, sizeof(uint32_t));
        if (!i->usable_ranges)
                i->usable_ranges = calloc(1, sizeof(iovad_range));
        if (!i->reserved_regions)
                i->reserved_regions = calloc(1, sizeof(iovad_region));
        if (!i->name || !i->groups || !i->users || !i->usable_ranges || !i->reserved_regions)
                return error_local(h, -ENOMEM, "Out of memory");
        *ret = TAKE_PTR(i);
        return 0;
}

_public_ int iovad_list_containers(iovad *h, char ***ret_names) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char **l = NULL;
        const char *name, *object;
        size_t n = 0;
        int r;

        return_einval_if(!h || !ret_names);
        error_clear(h);
        r = call_method(h, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "ListContainers", &reply, NULL);
        if (r < 0)
                return r;
        l = calloc(1, sizeof(char *));
        if (!l)
                return error_local(h, -ENOMEM, "Out of memory");
        r = sd_bus_message_enter_container(reply, 'a', "(so)");
        if (r < 0) {
                iovad_strv_free(l);
                return error_reply(h, r);
        }
        while ((r = sd_bus_message_read(reply, "(so)", &name, &object)) > 0) {
                char **t = reallocarray(l, n + 2, sizeof(char *));
                if (!t) {
                        iovad_strv_free(l);
                        return error_local(h, -ENOMEM, "Out of memory");
                }
                l = t;
                l[n] = strdup(name);
                l[n + 1] = NULL;
                if (!l[n]) {
                        iovad_strv_free(l);
                        return error_local(h, -ENOMEM, "Out of memory");
                }
                n++;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        if (r < 0) {
                iovad_strv_free(l);
                return error_reply(h, r);
        }
        *ret_names = l;
        return (int) n;
}

_public_ int iovad_resolve_container(iovad *h, const char *reference, char **ret_name) {
        _cleanup_free_ char *path = NULL;
        char *name;
        int r;

        return_einval_if(!h || !ret_name);
        error_clear(h);
        if (!reference || !*reference)
                return error_local(h, -EINVAL, "Empty container reference");
        if (strncmp(reference, "device:", 7) == 0) {
                r = iovad_device_container(h, reference + 7, &name);
                if (r < 0)
                        return r;
                if (r == 0)
                        return error_local(h, -ENXIO, "Device %s is in no container", reference + 7);
                *ret_name = name;
                return 0;
        }
        /* A plain name: it must exist. */
        r = container_lookup(h, reference, &path);
        if (r < 0)
                return r;
        name = strdup(reference);
        if (!name)
                return error_local(h, -ENOMEM, "Out of memory");
        *ret_name = name;
        return 0;
}
