/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Calling iovad and reading what it answers (bus-env.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>

#include "bus-env.h"

static int callv(sd_bus *bus, const char *path, const char *iface, const char *member, sd_bus_error *error,
                 sd_bus_message **reply, const char *types, va_list ap) {
        return sd_bus_call_methodv(bus, IOVAD_BUS_NAME, path, iface, member, error, reply, types, ap);
}

sd_bus_message *call_ok_at(const char *file, int line, sd_bus *bus, const char *path, const char *iface,
                           const char *member, const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        va_list ap;
        int r;

        va_start(ap, types);
        r = callv(bus, path, iface, member, &error, &reply, types, ap);
        va_end(ap);
        if (r < 0) {
                _cleanup_(freep) char *why = env_daemon_death();
                ck_abort_msg("%s:%d: %s.%s on %s failed: %s: %s%s", file, line, iface, member, path,
                             error.name ?: strerror(-r), error.message ?: "", why);
        }
        return reply;
}

char *call_fail_at(const char *file, int line, sd_bus *bus, const char *want, const char *path, const char *iface,
                   const char *member, const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        va_list ap;
        int r;

        va_start(ap, types);
        r = callv(bus, path, iface, member, &error, &reply, types, ap);
        va_end(ap);
        ck_assert_msg(r < 0, "%s:%d: %s.%s on %s succeeded; expected %s", file, line, iface, member, path, want);
        if (!sd_bus_error_has_name(&error, want)) {
                _cleanup_(freep) char *why = env_daemon_death();
                ck_abort_msg("%s:%d: %s.%s on %s: expected %s, got %s: %s%s", file, line, iface, member, path,
                             want, error.name ?: strerror(-r), error.message ?: "", why);
        }
        return strdup(error.message ?: "");
}

static sd_bus_message *get_property(sd_bus *bus, const char *path, const char *iface, const char *name,
                                    const char *type) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_get_property(bus, IOVAD_BUS_NAME, path, iface, name, &error, &reply, type);
        ck_assert_msg(r >= 0, "reading %s.%s of %s failed: %s: %s", iface, name, path, error.name ?: strerror(-r),
                      error.message ?: "");
        return reply;
}

uint32_t prop_u(sd_bus *bus, const char *path, const char *iface, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = get_property(bus, path, iface, name, "u");
        uint32_t v;

        ck_assert_int_ge(sd_bus_message_read(m, "u", &v), 0);
        return v;
}

uint64_t prop_t(sd_bus *bus, const char *path, const char *iface, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = get_property(bus, path, iface, name, "t");
        uint64_t v;

        ck_assert_int_ge(sd_bus_message_read(m, "t", &v), 0);
        return v;
}

bool prop_b(sd_bus *bus, const char *path, const char *iface, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = get_property(bus, path, iface, name, "b");
        int v;

        ck_assert_int_ge(sd_bus_message_read(m, "b", &v), 0);
        return v;
}

char *prop_s(sd_bus *bus, const char *path, const char *iface, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        const char *contents, *s;
        char type;
        int r;

        r = sd_bus_call_method(bus, IOVAD_BUS_NAME, path, "org.freedesktop.DBus.Properties", "Get", &error, &m, "ss",
                               iface, name);
        ck_assert_msg(r >= 0, "reading %s.%s of %s failed: %s: %s", iface, name, path, error.name ?: strerror(-r),
                      error.message ?: "");
        ck_assert_int_ge(sd_bus_message_peek_type(m, &type, &contents), 0);
        ck_assert_msg(streq(contents, "s") || streq(contents, "o"), "%s.%s has type %s", iface, name, contents);
        ck_assert_int_ge(sd_bus_message_read(m, "v", contents, &s), 0);
        return strdup(s);
}

size_t prop_au(sd_bus *bus, const char *path, const char *iface, const char *name, uint32_t *ret, size_t max) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = get_property(bus, path, iface, name, "au");
        const void *data;
        size_t size;

        ck_assert_int_ge(sd_bus_message_read_array(m, 'u', &data, &size), 0);
        ck_assert_uint_le(size / sizeof(uint32_t), max);
        if (size)
                memcpy(ret, data, size);
        return size / sizeof(uint32_t);
}

size_t prop_ranges(sd_bus *bus, const char *path, const char *iface, const char *name, TRange *ret, size_t max) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = get_property(bus, path, iface, name, "a(tt)");
        uint64_t a, b;
        size_t n = 0;
        int r;

        ck_assert_int_ge(sd_bus_message_enter_container(m, 'a', "(tt)"), 0);
        while ((r = sd_bus_message_read(m, "(tt)", &a, &b)) > 0) {
                ck_assert_uint_lt(n, max);
                ret[n++] = (TRange) { a, b };
        }
        ck_assert_int_ge(r, 0);
        return n;
}

TRange prop_range(sd_bus *bus, const char *path, const char *iface, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = get_property(bus, path, iface, name, "(tt)");
        TRange v;

        ck_assert_int_ge(sd_bus_message_read(m, "(tt)", &v.start, &v.end), 0);
        return v;
}

size_t prop_regions(sd_bus *bus, const char *container, TRegion *ret, size_t max) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = get_property(bus, container, IOVAD_CONTAINER_IFACE,
                                                                          "ReservedRegions", "a(ttss)");
        const char *type, *origin;
        uint64_t a, b;
        size_t n = 0;
        int r;

        ck_assert_int_ge(sd_bus_message_enter_container(m, 'a', "(ttss)"), 0);
        while ((r = sd_bus_message_read(m, "(ttss)", &a, &b, &type, &origin)) > 0) {
                ck_assert_uint_lt(n, max);
                ret[n] = (TRegion) { .start = a, .end = b };
                xsprintf(ret[n].type, "%s", type);
                xsprintf(ret[n].origin, "%s", origin);
                n++;
        }
        ck_assert_int_ge(r, 0);
        return n;
}

char *message_dump(sd_bus_message *m) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(sd_bus_message_dump(m, f, 0), 0);
        ck_assert_int_eq(fclose(f), 0);
        return text;
}

char *container_snapshot(sd_bus *bus, const char *path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *props = NULL, *leases = NULL;
        _cleanup_(freep) char *a = NULL, *b = NULL;
        char *text = NULL;

        props = call_ok(bus, path, "org.freedesktop.DBus.Properties", "GetAll", "s", IOVAD_CONTAINER_IFACE);
        leases = container_ok(bus, path, "ListLeases", NULL);
        a = message_dump(props);
        b = message_dump(leases);
        ck_assert_int_ge(asprintf(&text, "%s\n%s", a, b), 0);
        return text;
}

char *create_container(sd_bus *bus, const char *name, const uid_t *users, size_t n_users) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint32_t u[16];
        const char *path;
        int r;

        ck_assert_uint_le(n_users, ELEMENTSOF(u));
        for (size_t i = 0; i < n_users; i++)
                u[i] = users[i];
        ck_assert_int_ge(sd_bus_message_new_method_call(bus, &m, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH,
                                                        IOVAD_MANAGER_IFACE, "CreateContainer"),
                         0);
        ck_assert_int_ge(sd_bus_message_append(m, "s", name), 0);
        ck_assert_int_ge(sd_bus_message_open_container(m, 'a', "{sv}"), 0);
        if (n_users > 0) {
                ck_assert_int_ge(sd_bus_message_open_container(m, 'e', "sv"), 0);
                ck_assert_int_ge(sd_bus_message_append(m, "s", "users"), 0);
                ck_assert_int_ge(sd_bus_message_open_container(m, 'v', "au"), 0);
                ck_assert_int_ge(sd_bus_message_append_array(m, 'u', u, n_users * sizeof(uint32_t)), 0);
                ck_assert_int_ge(sd_bus_message_close_container(m), 0);
                ck_assert_int_ge(sd_bus_message_close_container(m), 0);
        }
        ck_assert_int_ge(sd_bus_message_close_container(m), 0);
        r = sd_bus_call(bus, m, 0, &error, &reply);
        ck_assert_msg(r >= 0, "CreateContainer(%s) failed: %s: %s", name, error.name ?: strerror(-r),
                      error.message ?: "");
        ck_assert_int_ge(sd_bus_message_read(reply, "o", &path), 0);
        return strdup(path);
}

void attach(sd_bus *bus, const char *container, uint32_t group) {
        sd_bus_message_unref(container_ok(bus, container, "AttachGroup", "u", group));
}

static char *read_lease_reply(sd_bus_message *reply, uint64_t *ret_iova) {
        const char *path;
        uint64_t iova;

        ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &iova), 0);
        if (ret_iova)
                *ret_iova = iova;
        return strdup(path);
}

char *lease(sd_bus *bus, const char *container, uint64_t size, uint64_t *ret_iova) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = container_ok(bus, container, "Lease", "ta{sv}", size,
                                                                              0);
        return read_lease_reply(reply, ret_iova);
}

char *lease_fixed(sd_bus *bus, const char *container, uint64_t iova, uint64_t size) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = container_ok(bus, container, "Lease", "ta{sv}", size,
                                                                              1, "iova", "t", iova);
        uint64_t got;
        char *path = read_lease_reply(reply, &got);

        ck_assert_uint_eq(got, iova);
        return path;
}

void release(sd_bus *bus, const char *lease_path) {
        sd_bus_message_unref(call_ok(bus, lease_path, IOVAD_LEASE_IFACE, "Release", NULL));
}

char *allocate_mapped(sd_bus *bus, const char *container, uint64_t size, uint64_t *ret_iova, int *ret_fd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = container_ok(bus, container, "AllocateMapped",
                                                                              "ta{sv}", size, 0);
        const char *path;
        uint64_t iova;
        int fd;

        ck_assert_int_ge(sd_bus_message_read(reply, "oth", &path, &iova, &fd), 0);
        if (ret_iova)
                *ret_iova = iova;
        if (ret_fd) {
                *ret_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                ck_assert_int_ge(*ret_fd, 0);
        }
        return strdup(path);
}

int sealed_memfd(uint64_t size, int more_seals) {
        int fd = memfd_create("iovad-bus-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, (off_t) size), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | more_seals), 0);
        return fd;
}

size_t list_leases(sd_bus *bus, const char *container, LeaseInfo *ret, size_t max) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = container_ok(bus, container, "ListLeases", NULL);
        const char *path;
        uint64_t iova, size;
        int mapped, r;
        size_t n = 0;

        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(ottb)"), 0);
        while ((r = sd_bus_message_read(reply, "(ottb)", &path, &iova, &size, &mapped)) > 0) {
                ck_assert_uint_lt(n, max);
                xsprintf(ret[n].path, "%s", path);
                ret[n].iova = iova;
                ret[n].size = size;
                ret[n].mapped = mapped;
                n++;
        }
        ck_assert_int_ge(r, 0);
        return n;
}

void process_until(sd_bus *bus, const bool *done, uint64_t timeout_usec) {
        uint64_t deadline = now_usec() + timeout_usec;

        for (;;) {
                int r = sd_bus_process(bus, NULL);
                ck_assert_int_ge(r, 0);
                if (*done)
                        return;
                if (r > 0)
                        continue;
                ck_assert_msg(now_usec() < deadline, "no message within %llu ms",
                              (unsigned long long) timeout_usec / 1000);
                ck_assert_int_ge(sd_bus_wait(bus, deadline - now_usec()), 0);
        }
}

void wait_leases(sd_bus *bus, const char *container, size_t n) {
        uint64_t deadline = now_usec() + 30ULL * 1000 * 1000;
        LeaseInfo li[64];
        size_t got;

        while ((got = list_leases(bus, container, li, ELEMENTSOF(li))) != n) {
                ck_assert_msg(now_usec() < deadline, "%s still has %zu leases, not %zu, after 30 s", container, got,
                              n);
                (void) usleep(10 * 1000);
        }
}

bool introspect_has_node(sd_bus *bus, const char *path, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = call_ok(
                bus, path, "org.freedesktop.DBus.Introspectable", "Introspect", NULL);
        const char *xml;
        char want[300];

        ck_assert_int_ge(sd_bus_message_read(reply, "s", &xml), 0);
        xsprintf(want, "<node name=\"%s\"", name);
        return strstr(xml, want) != NULL;
}

int signal_record(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Signal *s = userdata;

        s->seen = true;
        s->count++;
        sd_bus_message_unref(s->last);
        s->last = sd_bus_message_ref(m);
        return 0;
}

void assert_unchanged_at(const char *file, int line, sd_bus *bus, const char *container, const char *before,
                         const char *what) {
        _cleanup_(freep) char *now = container_snapshot(bus, container);

        ck_assert_msg(streq(before, now), "%s:%d: %s changed the container:\nbefore:\n%s\nafter:\n%s", file, line,
                      what, before, now);
}
