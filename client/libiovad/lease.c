/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Leases: Lease, MapMemory, AllocateMapped, Release, synchronous and not. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libiovad-internal.h"

#define IOVAD_LEASE_KNOWN                                                                            \
        (IOVAD_LEASE_ALIGNMENT | IOVAD_LEASE_LIMIT | IOVAD_LEASE_FIXED_IOVA | IOVAD_LEASE_PERSISTENT | \
         IOVAD_LEASE_READONLY | IOVAD_LEASE_HUGEPAGES)

typedef enum RequestKind {
        REQUEST_LEASE,
        REQUEST_MAP,
        REQUEST_ALLOCATE,
        REQUEST_RELEASE,
} RequestKind;

/* One request, as the synchronous and the asynchronous calls make it. */
typedef struct Request {
        RequestKind kind;
        uint64_t size, offset;
        int memfd; /* MapMemory: the caller's (sync) or our copy (async) */
        iovad_lease_options options;
} Request;

struct iovad_call {
        iovad *h;
        iovad_call *prev, *next;
        sd_bus_slot *slot;
        iovad_lease_callback callback;
        void *userdata;
        Request request;
        bool looking_up; /* GetContainer is in flight, the request itself not yet */
        bool completing; /* its callback runs: freed right after, not by a cancel from it */
        char *lease_path; /* Release */
};

static const char *request_member(RequestKind k) {
        switch (k) {
        case REQUEST_LEASE:
                return "Lease";
        case REQUEST_MAP:
                return "MapMemory";
        case REQUEST_ALLOCATE:
                return "AllocateMapped";
        case REQUEST_RELEASE:
                return "Release";
        }
        return NULL;
}

int lease_options_check(iovad *h, const iovad_lease_options *o) {
        if (!o)
                return 0;
        if (o->flags & ~(uint64_t) IOVAD_LEASE_KNOWN)
                return error_local(h, -EINVAL, "Unknown lease option flags 0x%" PRIx64,
                                   o->flags & ~(uint64_t) IOVAD_LEASE_KNOWN);
        for (size_t i = 0; i < ELEMENTSOF(o->reserved); i++)
                if (o->reserved[i] != 0)
                        return error_local(h, -EINVAL, "Reserved lease option fields must be zero");
        return 0;
}

int append_lease_options(sd_bus_message *m, const iovad_lease_options *o) {
        uint64_t f = o ? o->flags : 0;
        int r;

        /* Only what was asked for: iovad decides which options a method takes, and says so. */
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && (f & IOVAD_LEASE_ALIGNMENT))
                r = sd_bus_message_append(m, "{sv}", "alignment", "t", o->alignment);
        if (r >= 0 && (f & IOVAD_LEASE_LIMIT))
                r = sd_bus_message_append(m, "{sv}", "limit", "t", o->limit);
        if (r >= 0 && (f & IOVAD_LEASE_FIXED_IOVA))
                r = sd_bus_message_append(m, "{sv}", "iova", "t", o->iova);
        if (r >= 0 && (f & IOVAD_LEASE_PERSISTENT))
                r = sd_bus_message_append(m, "{sv}", "persistent", "b", 1);
        if (r >= 0 && (f & IOVAD_LEASE_READONLY))
                r = sd_bus_message_append(m, "{sv}", "readonly", "b", 1);
        if (r >= 0 && (f & IOVAD_LEASE_HUGEPAGES))
                r = sd_bus_message_append(m, "{sv}", "hugepages", "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

void lease_info_fill(iovad_lease_info *info, const char *path, uint64_t iova, uint64_t size, bool mapped,
                     bool writable) {
        const char *slash = strrchr(path, '/');

        *info = (iovad_lease_info) {
                .id = slash ? strtoull(slash + 1, NULL, 10) : 0,
                .iova = iova,
                .size = size,
                .mapped = mapped,
                .writable = writable,
        };
        snprintf(info->object, sizeof(info->object), "%s", path);
}

/* The method call of @req on @path (a container's, or the lease's for Release). */
static int request_build(iovad *h, const Request *req, const char *path, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        const char *member = request_member(req->kind);
        int r;

        r = call_new(h, path, req->kind == REQUEST_RELEASE ? IOVAD_LEASE_IFACE : IOVAD_CONTAINER_IFACE, member, &m);
        if (r < 0)
                return r;
        switch (req->kind) {
        case REQUEST_LEASE:
        case REQUEST_ALLOCATE:
                r = sd_bus_message_append(m, "t", req->size);
                if (r >= 0)
                        r = append_lease_options(m, &req->options);
                break;
        case REQUEST_MAP:
                r = sd_bus_message_append(m, "htt", req->memfd, req->offset, req->size);
                if (r >= 0)
                        r = append_lease_options(m, &req->options);
                break;
        case REQUEST_RELEASE:
                break;
        }
        if (r < 0)
                return error_local(h, r, "Failed to build %s call: %s", member, strerror(-r));
        *ret = TAKE_PTR(m);
        return 0;
}

/* iovad's answer to @req: the lease, and AllocateMapped's memfd (ours, CLOEXEC, above stdio). */
static int request_parse(iovad *h, const Request *req, sd_bus_message *reply, iovad_lease_info *ret,
                         int *ret_memfd) {
        bool writable = !(req->options.flags & IOVAD_LEASE_READONLY);
        const char *path;
        uint64_t iova;
        int r, fd;

        switch (req->kind) {
        case REQUEST_LEASE:
        case REQUEST_MAP:
                r = sd_bus_message_read(reply, "ot", &path, &iova);
                if (r < 0)
                        return error_reply(h, r);
                lease_info_fill(ret, path, iova, req->size, req->kind == REQUEST_MAP, writable);
                *ret_memfd = -1;
                return 0;
        case REQUEST_ALLOCATE:
                r = sd_bus_message_read(reply, "oth", &path, &iova, &fd);
                if (r < 0)
                        return error_reply(h, r);
                /* The message owns the fd it carried. */
                fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return error_local(h, -errno, "Failed to duplicate the memfd: %m");
                lease_info_fill(ret, path, iova, req->size, true, writable);
                *ret_memfd = fd;
                return 0;
        case REQUEST_RELEASE:
                *ret_memfd = -1;
                return 0;
        }
        return -EINVAL;
}

static int request_check(iovad *h, const char *container, const Request *req) {
        if (!container)
                return error_local(h, -EINVAL, "No container name given");
        if (req->kind == REQUEST_MAP && req->memfd < 0)
                return error_local(h, -EBADF, "No memfd given");
        return lease_options_check(h, &req->options);
}

static int request_sync(iovad *h, const char *container, const Request *req, iovad_lease_info *ret,
                        int *ret_memfd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL;
        iovad_lease_info info;
        int r, fd = -1;

        r = request_check(h, container, req);
        if (r < 0)
                return r;
        r = container_lookup(h, container, &path);
        if (r < 0)
                return r;
        r = request_build(h, req, path, &m);
        if (r < 0)
                return r;
        r = call_send(h, m, &reply);
        if (r < 0)
                return r;
        r = request_parse(h, req, reply, &info, &fd);
        if (r < 0)
                return r;
        if (ret)
                *ret = info;
        if (ret_memfd)
                *ret_memfd = fd;
        else if (fd >= 0)
                close(fd);
        return 0;
}

static Request request_make(RequestKind kind, uint64_t size, const iovad_lease_options *options) {
        Request req = { .kind = kind, .size = size, .memfd = -1 };

        if (options)
                req.options = *options;
        return req;
}

_public_ int iovad_lease(iovad *h, const char *container, uint64_t size, const iovad_lease_options *options,
                         iovad_lease_info *ret) {
        Request req = request_make(REQUEST_LEASE, size, options);

        return_einval_if(!h);
        error_clear(h);
        return request_sync(h, container, &req, ret, NULL);
}

_public_ int iovad_map_memory(iovad *h, const char *container, int memfd, uint64_t offset, uint64_t size,
                              const iovad_lease_options *options, iovad_lease_info *ret) {
        Request req = request_make(REQUEST_MAP, size, options);

        return_einval_if(!h);
        error_clear(h);
        req.memfd = memfd;
        req.offset = offset;
        return request_sync(h, container, &req, ret, NULL);
}

_public_ int iovad_allocate_mapped(iovad *h, const char *container, uint64_t size, const iovad_lease_options *options,
                                   iovad_lease_info *ret, int *ret_memfd) {
        Request req = request_make(REQUEST_ALLOCATE, size, options);

        return_einval_if(!h);
        error_clear(h);
        return request_sync(h, container, &req, ret, ret_memfd);
}

_public_ int iovad_release(iovad *h, const char *lease) {
        _cleanup_free_ char *path = NULL;
        int r;

        return_einval_if(!h);
        error_clear(h);
        r = lease_lookup(h, lease, &path);
        if (r < 0)
                return r;
        return call_method(h, path, IOVAD_LEASE_IFACE, "Release", NULL, NULL);
}

_public_ int iovad_lease_get_info(iovad *h, const char *lease, iovad_lease_info *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *path = NULL;
        uint64_t iova = 0, size = 0;
        int mapped = 0, writable = 0, persistent = 0, r;
        uint32_t owner = 0;
        iovad_lease_info info;

        return_einval_if(!h || !ret);
        error_clear(h);
        r = lease_lookup(h, lease, &path);
        if (r < 0)
                return r;
        r = call_method(h, path, "org.freedesktop.DBus.Properties", "GetAll", &reply, "s", IOVAD_LEASE_IFACE);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return error_reply(h, r);
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name;

                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        return error_reply(h, r);
                if (strcmp(name, "Iova") == 0)
                        r = sd_bus_message_read(reply, "v", "t", &iova);
                else if (strcmp(name, "Size") == 0)
                        r = sd_bus_message_read(reply, "v", "t", &size);
                else if (strcmp(name, "Owner") == 0)
                        r = sd_bus_message_read(reply, "v", "u", &owner);
                else if (strcmp(name, "Mapped") == 0)
                        r = sd_bus_message_read(reply, "v", "b", &mapped);
                else if (strcmp(name, "Writable") == 0)
                        r = sd_bus_message_read(reply, "v", "b", &writable);
                else if (strcmp(name, "Persistent") == 0)
                        r = sd_bus_message_read(reply, "v", "b", &persistent);
                else
                        r = sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return error_reply(h, r);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return error_reply(h, r);
        lease_info_fill(&info, path, iova, size, mapped, writable);
        info.persistent = persistent;
        info.owner = owner;
        *ret = info;
        return 0;
}

_public_ int iovad_container_list_leases(iovad *h, const char *container, iovad_lease_info **ret_leases) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ iovad_lease_info *items = NULL;
        _cleanup_free_ char *path = NULL;
        size_t n = 0, allocated = 0;
        const char *object;
        uint64_t iova, size;
        int mapped, r;

        return_einval_if(!h || !ret_leases);
        error_clear(h);
        r = container_lookup(h, container, &path);
        if (r < 0)
                return r;
        r = call_method(h, path, IOVAD_CONTAINER_IFACE, "ListLeases", &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(ottb)");
        if (r < 0)
                return error_reply(h, r);
        while ((r = sd_bus_message_read(reply, "(ottb)", &object, &iova, &size, &mapped)) > 0) {
                if (n == allocated) {
                        size_t k = allocated ? allocated * 2 : 16;
                        iovad_lease_info *t = reallocarray(items, k, sizeof(*t));
                        if (!t)
                                return error_local(h, -ENOMEM, "Out of memory");
                        items = t;
                        allocated = k;
                }
                /* ListLeases does not say; the lease's own properties do. */
                lease_info_fill(&items[n++], object, iova, size, mapped, false);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return error_reply(h, r);
        if (n > INT32_MAX)
                return error_local(h, -E2BIG, "Too many leases");
        if (!items) {
                items = calloc(1, sizeof(*items));
                if (!items)
                        return error_local(h, -ENOMEM, "Out of memory");
        }
        *ret_leases = TAKE_PTR(items);
        return (int) n;
}

/* ---- Asynchronous calls ---- */

static void call_unlink(iovad_call *c) {
        iovad *h = c->h;

        if (c->prev)
                c->prev->next = c->next;
        else if (h->calls == c)
                h->calls = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
}

static void call_free(iovad_call *c) {
        sd_bus_slot_unref(c->slot);
        if (c->request.memfd >= 0)
                close(c->request.memfd);
        free(c->lease_path);
        free(c);
}

_public_ iovad_call *iovad_call_cancel(iovad_call *c) {
        if (!c || c->completing)
                return NULL;
        call_unlink(c);
        call_free(c);
        return NULL;
}

void calls_cancel_all(iovad *h) {
        while (h->calls)
                iovad_call_cancel(h->calls);
}

/* Runs the callback once and forgets the call. */
static void call_complete(iovad_call *c, int result, const iovad_lease_info *info, int memfd) {
        iovad *h = c->h;

        call_unlink(c);
        c->completing = true;
        /* The callback may start new calls, cancel others or free the handle: only @c is used after it. */
        c->callback(h, result, result < 0 || c->request.kind == REQUEST_RELEASE ? NULL : info, memfd, c->userdata);
        call_free(c);
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);

static int call_send_async(iovad_call *c, sd_bus_message *m) {
        sd_bus_slot *slot = NULL;
        int r;

        r = sd_bus_call_async(c->h->bus, &slot, m, on_reply, c, 0);
        if (r < 0)
                return error_local(c->h, r, "Failed to send %s: %s", sd_bus_message_get_member(m), strerror(-r));
        /* Inside the previous slot's callback, sd-bus holds its own reference to that one. */
        sd_bus_slot_unref(c->slot);
        c->slot = slot;
        return 0;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        iovad_call *c = userdata;
        iovad *h = c->h;
        iovad_lease_info info = {};
        int r, fd = -1;

        error_clear(h);
        if (sd_bus_message_is_method_error(m, NULL)) {
                r = error_bus(h, sd_bus_message_get_error(m), -sd_bus_message_get_errno(m));
                call_complete(c, r, NULL, -1);
                return 0;
        }
        if (c->looking_up) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *next = NULL;
                const char *path;

                r = sd_bus_message_read(m, "o", &path);
                if (r < 0)
                        r = error_reply(h, r);
                if (r >= 0)
                        r = request_build(h, &c->request, path, &next);
                if (r >= 0)
                        r = call_send_async(c, next);
                if (r < 0) {
                        call_complete(c, r, NULL, -1);
                        return 0;
                }
                /* The memfd travels in the message now. */
                if (c->request.memfd >= 0) {
                        close(c->request.memfd);
                        c->request.memfd = -1;
                }
                c->looking_up = false;
                return 0;
        }
        r = request_parse(h, &c->request, m, &info, &fd);
        call_complete(c, r, &info, fd);
        return 0;
}

static int request_async(iovad *h, const char *container, const Request *req, iovad_lease_callback callback,
                         void *userdata, iovad_call **ret_call) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL;
        iovad_call *c;
        int r;

        if (!callback)
                return error_local(h, -EINVAL, "No callback given");
        if (req->kind == REQUEST_RELEASE) {
                r = lease_lookup(h, container, &path);
                if (r < 0)
                        return r;
                r = request_build(h, req, path, &m);
        } else {
                r = request_check(h, container, req);
                if (r < 0)
                        return r;
                r = call_new(h, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "GetContainer", &m);
                if (r >= 0 && sd_bus_message_append(m, "s", container) < 0)
                        r = error_local(h, -ENOMEM, "Failed to build GetContainer call");
        }
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return error_local(h, -ENOMEM, "Out of memory");
        *c = (iovad_call) {
                .h = h,
                .callback = callback,
                .userdata = userdata,
                .request = *req,
                .looking_up = req->kind != REQUEST_RELEASE,
        };
        c->request.memfd = -1;
        /* The caller may close its memfd once we return: keep a copy until the call carries it. */
        if (req->kind == REQUEST_MAP && m && c->looking_up) {
                c->request.memfd = fcntl(req->memfd, F_DUPFD_CLOEXEC, 3);
                if (c->request.memfd < 0) {
                        r = error_local(h, -errno, "Failed to duplicate the memfd: %m");
                        free(c);
                        return r;
                }
        }
        r = call_send_async(c, m);
        if (r < 0) {
                call_free(c);
                return r;
        }
        c->next = h->calls;
        if (h->calls)
                h->calls->prev = c;
        h->calls = c;
        if (ret_call)
                *ret_call = c;
        return 0;
}

_public_ int iovad_lease_async(iovad *h, const char *container, uint64_t size, const iovad_lease_options *options,
                               iovad_lease_callback callback, void *userdata, iovad_call **ret_call) {
        Request req = request_make(REQUEST_LEASE, size, options);

        return_einval_if(!h);
        error_clear(h);
        return request_async(h, container, &req, callback, userdata, ret_call);
}

_public_ int iovad_map_memory_async(iovad *h, const char *container, int memfd, uint64_t offset, uint64_t size,
                                    const iovad_lease_options *options, iovad_lease_callback callback,
                                    void *userdata, iovad_call **ret_call) {
        Request req = request_make(REQUEST_MAP, size, options);

        return_einval_if(!h);
        error_clear(h);
        req.memfd = memfd;
        req.offset = offset;
        return request_async(h, container, &req, callback, userdata, ret_call);
}

_public_ int iovad_allocate_mapped_async(iovad *h, const char *container, uint64_t size,
                                         const iovad_lease_options *options, iovad_lease_callback callback,
                                         void *userdata, iovad_call **ret_call) {
        Request req = request_make(REQUEST_ALLOCATE, size, options);

        return_einval_if(!h);
        error_clear(h);
        return request_async(h, container, &req, callback, userdata, ret_call);
}

_public_ int iovad_release_async(iovad *h, const char *lease, iovad_lease_callback callback, void *userdata,
                                 iovad_call **ret_call) {
        Request req = request_make(REQUEST_RELEASE, 0, NULL);

        return_einval_if(!h);
        error_clear(h);
        return request_async(h, lease, &req, callback, userdata, ret_call);
}
