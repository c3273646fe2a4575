/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The handle: connection, errors, calls, event loops. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "libiovad-internal.h"

#define IOVAD_OPEN_KNOWN (IOVAD_OPEN_DIRECT | IOVAD_OPEN_INTERACTIVE)

static int handle_new(iovad **ret, sd_bus *bus, bool own, uint64_t flags) {
        iovad *h;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->bus = bus;
        h->own_bus = own;
        h->interactive = flags & IOVAD_OPEN_INTERACTIVE;
        h->direct = flags & IOVAD_OPEN_DIRECT;
        *ret = h;
        return 0;
}

static int check_open_flags(uint64_t flags) {
        if (flags & ~(uint64_t) IOVAD_OPEN_KNOWN)
                return -EINVAL;
        return 0;
}

/*
 * Asks iovad over @bus for a direct connection (Manager.OpenDirectConnection)
 * and returns our own copy of the socket iovad handed out (O_CLOEXEC, above
 * 2). There is no handle yet to keep the error's name in, so only the errno
 * tells: iovad's named errors by iovad's list (QuotaExceeded -EDQUOT,
 * TooManyFiles -EMFILE, ...), an iovad without the method -EOPNOTSUPP, never
 * the bus behind the caller's back; anything else the bus's errno.
 */
static int direct_request(sd_bus *bus, int *ret_fd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        IovadErrorCode code;
        int fd, copy, r;

        r = sd_bus_call_method(bus, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "OpenDirectConnection",
                               &error, &reply, "a{sv}", 0);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD))
                        return -EOPNOTSUPP;
                code = iovad_error_from_name(error.name);
                return code != IOVAD_E_NONE ? -iovad_error_errno(code) : r;
        }
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return r == -ENXIO ? -EBADMSG : r;
        /* The reply owns its fd. */
        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return -errno;
        *ret_fd = copy;
        return 0;
}

/*
 * Starts an sd-bus client on a direct connection's socket: peer to peer, no
 * Hello (not a bus client), fds passed both ways (memfds in, device fds and
 * memfds out). The daemon's end accepts the SASL EXTERNAL claim of whoever
 * holds the socket (it serves the uid that opened the connection, not the
 * socket's peer). Takes @fd, on failure too: sd-bus closes it.
 */
static int direct_start(int fd, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *d = NULL;
        int r;

        r = sd_bus_new(&d);
        if (r < 0) {
                close(fd);
                return r;
        }
        r = sd_bus_set_fd(d, fd, fd);
        if (r < 0) {
                close(fd);
                return r;
        }
        r = sd_bus_set_bus_client(d, false);
        if (r >= 0)
                r = sd_bus_negotiate_fds(d, true);
        if (r >= 0)
                r = sd_bus_set_description(d, "iovad-direct");
        if (r >= 0)
                r = sd_bus_start(d);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

/* A direct connection asked for over @bus, started. */
static int direct_open(sd_bus *bus, sd_bus **ret) {
        int fd = -1, r;

        r = direct_request(bus, &fd);
        if (r < 0)
                return r;
        return direct_start(fd, ret);
}

_public_ int iovad_open(iovad **ret, uint64_t flags) {
        sd_bus *bus = NULL;
        int r;

        return_einval_if(!ret);
        r = check_open_flags(flags);
        if (r < 0)
                return r;
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        if (flags & IOVAD_OPEN_DIRECT) {
                /* The bus connection only asks: it is closed once the direct one is up. */
                sd_bus *d = NULL;

                r = direct_open(bus, &d);
                sd_bus_flush_close_unref(bus);
                if (r < 0)
                        return r;
                bus = d;
        }
        r = handle_new(ret, bus, true, flags);
        if (r < 0)
                sd_bus_flush_close_unref(bus);
        return r;
}

_public_ int iovad_open_bus(iovad **ret, sd_bus *bus, uint64_t flags) {
        sd_event *event;
        int r;

        return_einval_if(!ret || !bus);
        r = check_open_flags(flags);
        if (r < 0)
                return r;
        if (flags & IOVAD_OPEN_DIRECT) {
                sd_bus *d = NULL;

                r = direct_open(bus, &d);
                if (r < 0)
                        return r;
                /* The caller's loop runs the handle's callbacks, as it would on @bus. */
                event = sd_bus_get_event(bus);
                if (event)
                        r = sd_bus_attach_event(d, event, SD_EVENT_PRIORITY_NORMAL);
                if (r >= 0)
                        r = handle_new(ret, d, true, flags);
                if (r < 0) {
                        sd_bus_flush_close_unref(d);
                        return r;
                }
                (*ret)->attached = event != NULL;
                return 0;
        }
        r = handle_new(ret, sd_bus_ref(bus), false, flags);
        if (r < 0)
                sd_bus_unref(bus);
        return r;
}

_public_ int iovad_open_fd(iovad **ret, int fd, uint64_t flags) {
        struct stat st;
        sd_bus *d = NULL;
        int copy, r;

        return_einval_if(!ret);
        r = check_open_flags(flags);
        if (r < 0)
                return r;
        if (fd < 0)
                return -EBADF;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode))
                return -ENOTSOCK;
        /* Our own copy, so that on any failure the caller's fd is left as it was. */
        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return -errno;
        r = direct_start(copy, &d);
        if (r < 0)
                return r;
        r = handle_new(ret, d, true, flags | IOVAD_OPEN_DIRECT);
        if (r < 0) {
                sd_bus_flush_close_unref(d);
                return r;
        }
        /* The handle holds the connection now: its end goes with iovad_free(), not with a copy kept here. */
        close(fd);
        return 0;
}

static void handle_destroy(iovad *h) {
        if (h->attached)
                (void) sd_bus_detach_event(h->bus);
        if (h->own_bus)
                sd_bus_flush_close_unref(h->bus);
        else
                sd_bus_unref(h->bus);
        error_clear(h);
        free(h);
}

_public_ iovad *iovad_free(iovad *h) {
        if (!h)
                return NULL;
        calls_cancel_all(h);
        /* From a callback run by iovad_process(): the loop there still uses the handle. */
        if (h->processing > 0) {
                h->free_pending = true;
                return NULL;
        }
        handle_destroy(h);
        return NULL;
}

_public_ sd_bus *iovad_get_bus(iovad *h) {
        return h ? h->bus : NULL;
}

void error_clear(iovad *h) {
        h->error = 0;
        h->error_name = mfree(h->error_name);
        h->error_message = mfree(h->error_message);
}

static void error_store(iovad *h, int r, const char *name, const char *message) {
        error_clear(h);
        h->error = r;
        /* Out of memory for the text: the errno alone still tells the caller. */
        h->error_name = name ? strdup(name) : NULL;
        h->error_message = strdup(message && *message ? message : strerror(-r));
}

int error_local(iovad *h, int r, const char *fmt, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        error_store(h, r, NULL, m);
        return r;
}

int error_bus(iovad *h, const sd_bus_error *e, int r) {
        IovadErrorCode code;

        if (!e || !sd_bus_error_is_set(e)) {
                error_store(h, r < 0 ? r : -EIO, NULL, NULL);
                return h->error;
        }
        /* iovad's own list first, so the errno does not depend on maps the process registered or not. */
        code = iovad_error_from_name(e->name);
        if (code != IOVAD_E_NONE)
                r = -iovad_error_errno(code);
        else
                r = -sd_bus_error_get_errno(e);
        if (r >= 0)
                r = -EIO;
        error_store(h, r, e->name, e->message);
        return r;
}

int error_reply(iovad *h, int r) {
        return error_local(h, r, "Unexpected reply from iovad: %s", strerror(-r));
}

_public_ int iovad_last_error(iovad *h, const char **ret_name, const char **ret_message) {
        return_einval_if(!h);
        if (ret_name)
                *ret_name = h->error ? h->error_name : NULL;
        if (ret_message)
                *ret_message = h->error ? h->error_message : NULL;
        return h->error;
}

int call_new(iovad *h, const char *path, const char *iface, const char *member, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(h->bus, &m, IOVAD_BUS_NAME, path, iface, member);
        if (r >= 0 && h->interactive)
                r = sd_bus_message_set_allow_interactive_authorization(m, true);
        if (r < 0)
                return error_local(h, r, "Failed to create %s call: %s", member, strerror(-r));
        *ret = TAKE_PTR(m);
        return 0;
}

int call_send(iovad *h, sd_bus_message *m, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(h->bus, m, 0, &error, ret_reply);
        if (r < 0)
                return error_bus(h, &error, r);
        return 0;
}

int call_methodv(iovad *h, const char *path, const char *iface, const char *member, sd_bus_message **ret_reply,
                 const char *types, va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = call_new(h, path, iface, member, &m);
        if (r < 0)
                return r;
        if (types) {
                r = sd_bus_message_appendv(m, types, ap);
                if (r < 0)
                        return error_local(h, r, "Failed to build %s call: %s", member, strerror(-r));
        }
        return call_send(h, m, ret_reply);
}

int call_method(iovad *h, const char *path, const char *iface, const char *member, sd_bus_message **ret_reply,
                const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = call_methodv(h, path, iface, member, ret_reply, types, ap);
        va_end(ap);
        return r;
}

int container_lookup(iovad *h, const char *name, char **ret_path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        char *p;
        int r;

        if (!name)
                return error_local(h, -EINVAL, "No container name given");
        r = call_method(h, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "GetContainer", &reply, "s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return error_reply(h, r);
        p = strdup(path);
        if (!p)
                return error_local(h, -ENOMEM, "Out of memory");
        *ret_path = p;
        return 0;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char) tolower((unsigned char) c);
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

static bool hex_digits(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (hexval(s[i]) < 0)
                        return false;
        return true;
}

/* DDDD:BB:DD.F or BB:DD.F (device below 0x20, function 0-7), as lspci prints them; lower case out. */
static int pci_address_canonical(const char *s, char **ret) {
        const char *p = s;
        size_t n_domain = 0;
        char *out;

        if (!s)
                return -EINVAL;
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':')) {
                n_domain = (size_t) (colon - s);
                if (n_domain < 4 || n_domain > 8 || !hex_digits(s, n_domain))
                        return -EINVAL;
                p = colon + 1;
        }
        if (strlen(p) != 7 || !hex_digits(p, 2) || p[2] != ':' || !hex_digits(p + 3, 2) || p[5] != '.' ||
            hexval(p[3]) > 1 || p[6] < '0' || p[6] > '7')
                return -EINVAL;
        if (asprintf(&out, "%.*s%s%s", (int) n_domain, s, n_domain ? ":" : "0000:", p) < 0)
                return -ENOMEM;
        for (char *q = out; *q; q++)
                *q = (char) tolower((unsigned char) *q);
        *ret = out;
        return 0;
}

int device_lookup(iovad *h, const char *address, char **ret_path, char **ret_address) {
        _cleanup_free_ char *a = NULL;
        char *p;
        int r;

        r = pci_address_canonical(address, &a);
        if (r == -EINVAL)
                return error_local(h, r, "Not a PCI address: '%s' (expected e.g. 0000:01:00.0 or 01:00.0)",
                                   address ?: "");
        if (r < 0)
                return error_local(h, r, "Out of memory");
        p = iovad_device_path(a);
        if (!p)
                return error_local(h, -ENOMEM, "Out of memory");
        *ret_path = p;
        if (ret_address)
                *ret_address = TAKE_PTR(a);
        return 0;
}

int lease_lookup(iovad *h, const char *lease, char **ret_path) {
        const char *prefix = IOVAD_LEASE_PREFIX "/", *id = lease;
        char *p, *end;

        if (!lease || !*lease)
                return error_local(h, -EINVAL, "No lease given");
        if (lease[0] == '/') {
                if (!sd_bus_object_path_is_valid(lease) || strncmp(lease, prefix, strlen(prefix)) != 0)
                        return error_local(h, -EINVAL, "Not a lease object path: '%s' (expected %sID)", lease,
                                           prefix);
                id = lease + strlen(prefix);
        }
        errno = 0;
        if (!isdigit((unsigned char) id[0]))
                return error_local(h, -EINVAL, "Not a lease: '%s' (expected an id or %sID)", lease, prefix);
        unsigned long long v = strtoull(id, &end, 10);
        if (errno != 0 || *end != 0)
                return error_local(h, -EINVAL, "Not a lease: '%s' (expected an id or %sID)", lease, prefix);
        /* iovad's own paths, rebuilt from the id: /org/iovad1/lease/017 is not one of them. */
        p = lease[0] == '/' ? strdup(lease) : iovad_lease_path(v);
        if (!p)
                return error_local(h, -ENOMEM, "Out of memory");
        *ret_path = p;
        return 0;
}

_public_ char **iovad_strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **s = l; *s; s++)
                free(*s);
        free(l);
        return NULL;
}

/* ---- Event loops ---- */

_public_ int iovad_attach_event(iovad *h, sd_event *event, int64_t priority) {
        int r;

        return_einval_if(!h);
        error_clear(h);
        if (h->attached || sd_bus_get_event(h->bus))
                return error_local(h, -EBUSY, "The connection is attached to an event loop already");
        r = sd_bus_attach_event(h->bus, event, (int) priority);
        if (r < 0)
                return error_local(h, r, "Failed to attach to the event loop: %s", strerror(-r));
        h->attached = true;
        return 0;
}

_public_ int iovad_detach_event(iovad *h) {
        return_einval_if(!h);
        error_clear(h);
        if (h->attached)
                (void) sd_bus_detach_event(h->bus);
        h->attached = false;
        return 0;
}

_public_ int iovad_get_fd(iovad *h) {
        int r;

        return_einval_if(!h);
        error_clear(h);
        r = sd_bus_get_fd(h->bus);
        if (r < 0)
                return error_local(h, r == -ENOTCONN ? r : -ENOTCONN, "The connection is closed");
        return r;
}

_public_ int iovad_get_events(iovad *h) {
        int r;

        return_einval_if(!h);
        error_clear(h);
        r = sd_bus_get_events(h->bus);
        if (r < 0)
                return error_local(h, -ENOTCONN, "The connection is closed");
        return r;
}

_public_ int iovad_get_timeout(iovad *h, uint64_t *ret_usec) {
        struct timespec ts;
        uint64_t t, now;
        int r;

        return_einval_if(!h || !ret_usec);
        error_clear(h);
        r = sd_bus_get_timeout(h->bus, &t);
        if (r < 0)
                return error_local(h, -ENOTCONN, "The connection is closed");
        if (t == UINT64_MAX) {
                *ret_usec = UINT64_MAX;
                return 0;
        }
        /* sd-bus gives an absolute CLOCK_MONOTONIC time; poll() wants a relative one. */
        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                return error_local(h, -errno, "Failed to read the clock: %m");
        now = (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000;
        *ret_usec = t > now ? t - now : 0;
        return 0;
}

_public_ int iovad_process(iovad *h) {
        int r;

        return_einval_if(!h || h->free_pending);
        error_clear(h);
        h->processing++;
        do
                r = sd_bus_process(h->bus, NULL);
        while (r > 0 && !h->free_pending);
        h->processing--;
        if (h->free_pending) {
                if (h->processing == 0)
                        handle_destroy(h);
                return 0;
        }
        if (r < 0) {
                /* A callback may have left its error; this is the loop's own. */
                error_local(h, r, "Failed to process the connection: %s", strerror(-r));
                return r;
        }
        return 0;
}

_public_ int iovad_wait(iovad *h, uint64_t timeout_usec) {
        int r;

        return_einval_if(!h || h->free_pending);
        h->processing++;
        r = iovad_process(h);
        h->processing--;
        if (h->free_pending) {
                if (h->processing == 0)
                        handle_destroy(h);
                return 0;
        }
        if (r < 0)
                return r;
        r = sd_bus_wait(h->bus, timeout_usec);
        if (r < 0)
                return error_local(h, r, "Failed to wait for the connection: %s", strerror(-r));
        return iovad_process(h);
}
