/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "iovactl.h"
#include "iovad-bus.h"
#include "util/macro.h"

int usage_error(Iovactl *c, const char *fmt, ...) {
        va_list ap;

        fputs("iovactl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        c->exit_code = EXIT_USAGE;
        return -EINVAL;
}

int log_errno(int r, const char *fmt, ...) {
        va_list ap;

        fputs("iovactl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, ": %s\n", strerror(r < 0 ? -r : r));
        return r;
}

int log_parse_error(int r) {
        return log_errno(r, "Unexpected reply from iovad");
}

/* Errors that mean the request never reached a working iovad. */
static bool error_is_unreachable(const sd_bus_error *e) {
        if (sd_bus_error_has_names(e,
                                   SD_BUS_ERROR_SERVICE_UNKNOWN,
                                   SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                   SD_BUS_ERROR_NO_REPLY,
                                   SD_BUS_ERROR_TIMEOUT,
                                   SD_BUS_ERROR_DISCONNECTED))
                return true;
        /* Activation failures come from the bus or from systemd. */
        return strncmp(e->name, "org.freedesktop.DBus.Error.Spawn.", 33) == 0 ||
               strncmp(e->name, "org.freedesktop.systemd1.", 25) == 0;
}

static bool errno_is_unreachable(int r) {
        return r == -ECONNREFUSED || r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE || r == -ETIMEDOUT;
}

int log_bus_error(Iovactl *c, const sd_bus_error *error, int r, const char *what) {
        if (error && sd_bus_error_is_set(error)) {
                if (error->message && *error->message)
                        fprintf(stderr, "iovactl: %s: %s\n", error->name, error->message);
                else
                        fprintf(stderr, "iovactl: %s: %s\n", error->name, strerror(-r));
                if (error_is_unreachable(error))
                        c->exit_code = EXIT_NO_DAEMON;
                return r;
        }

        fprintf(stderr, "iovactl: %s failed: %s\n", what, strerror(-r));
        if (errno_is_unreachable(r))
                c->exit_code = EXIT_NO_DAEMON;
        return r;
}

int bus_connect(Iovactl *c) {
        int r;

        if (c->iovad)
                return 0;
        /* libiovad opens the system bus as sd-bus does, DBUS_SYSTEM_BUS_ADDRESS included. */
        r = iovad_open(&c->iovad, c->ask_password ? IOVAD_OPEN_INTERACTIVE : 0);
        if (r < 0) {
                c->exit_code = EXIT_NO_DAEMON;
                return log_errno(r, "Failed to connect to the system bus");
        }
        c->bus = iovad_get_bus(c->iovad);
        /* The same for the calls iovactl makes on that connection itself. */
        (void) sd_bus_set_allow_interactive_authorization(c->bus, c->ask_password);
        return 0;
}

/* The handle's last error as an sd_bus_error: the name is NULL (unset) for libiovad's own refusals. */
static sd_bus_error last_error(Iovactl *c) {
        const char *name = NULL, *message = NULL;

        if (c->iovad)
                (void) iovad_last_error(c->iovad, &name, &message);
        sd_bus_error e = SD_BUS_ERROR_MAKE_CONST(name, message);
        return e;
}

int log_iovad_error(Iovactl *c, int r, const char *what) {
        sd_bus_error e = last_error(c);

        if (!sd_bus_error_is_set(&e) && e.message) {
                fprintf(stderr, "iovactl: %s failed: %s\n", what, e.message);
                return r;
        }
        return log_bus_error(c, &e, r, what);
}

int log_iovad_object_error(Iovactl *c, int r, const char *what, const char *kind, const char *id) {
        sd_bus_error e = last_error(c);

        if (!sd_bus_error_is_set(&e))
                return log_iovad_error(c, r, what);
        return log_object_error(c, &e, r, what, kind, id);
}

int log_object_error(Iovactl *c, const sd_bus_error *error, int r, const char *what,
                     const char *kind, const char *id) {
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE)) {
                fprintf(stderr, "iovactl: %s: iovad knows no %s %s.\n", error->name, kind, id);
                return r;
        }
        return log_bus_error(c, error, r, what);
}

int parse_group(Iovactl *c, const char *s, uint32_t *ret) {
        if (parse_u32(s, ret) < 0)
                return usage_error(c, "Not an IOMMU group number: '%s'.", s);
        return 0;
}

int parse_size_arg(Iovactl *c, const char *what, const char *s, uint64_t *ret) {
        int r;

        r = parse_size(s, ret);
        if (r == -ERANGE)
                return usage_error(c, "%s out of range: '%s' (at most 64 bits).", what, s);
        if (r < 0)
                return usage_error(c, "Not a valid %s: '%s' (e.g. 4096, 4K, 2M, 1G, 0x1000).", what, s);
        return 0;
}

int bus_call(Iovactl *c, const char *path, const char *iface, const char *member,
             sd_bus_message **ret_reply, const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        va_list ap;
        int r;

        r = bus_connect(c);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_call_methodv(c->bus, IOVAD_BUS_NAME, path, iface, member, &error, ret_reply, types, ap);
        va_end(ap);
        if (r < 0)
                return log_bus_error(c, &error, r, member);
        return r;
}

int container_path(Iovactl *c, const char *name, char **ret) {
        int r;

        r = bus_connect(c);
        if (r < 0)
                return r;
        r = iovad_container_object(c->iovad, name, ret);
        if (r < 0)
                return log_iovad_error(c, r, "GetContainer");
        return 0;
}

int device_path(Iovactl *c, const char *address, char **ret_path, char **ret_address) {
        _cleanup_free_ char *a = NULL;
        char *p;
        int r;

        r = pci_address_normalize(address, &a);
        if (r == -EINVAL)
                return usage_error(c, "Not a PCI address: '%s' (expected e.g. 0000:01:00.0 or 01:00.0).", address);
        if (r < 0)
                return log_errno(r, "Failed to parse PCI address");
        p = iovad_device_path(a);
        if (!p)
                return log_errno(-ENOMEM, "Out of memory");
        *ret_path = p;
        if (ret_address)
                *ret_address = TAKE_PTR(a);
        return 0;
}

int bus_get_all(Iovactl *c, const char *path, const char *iface, const BusProperty *map, void *dest,
                sd_bus_error *ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = bus_connect(c);
        if (r < 0)
                return r;
        r = sd_bus_call_method(c->bus, IOVAD_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll",
                               &error, &reply, "s", iface);
        if (r < 0) {
                if (ret_error) {
                        sd_bus_error_move(ret_error, &error);
                        return r;
                }
                return log_bus_error(c, &error, r, "GetAll");
        }

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return log_parse_error(r);
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const BusProperty *p = NULL;
                const char *name, *contents;

                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        return log_parse_error(r);
                for (const BusProperty *q = map; q->name; q++)
                        if (strcmp(q->name, name) == 0) {
                                p = q;
                                break;
                        }
                if (!p)
                        r = sd_bus_message_skip(reply, "v");
                else {
                        r = sd_bus_message_peek_type(reply, NULL, &contents);
                        if (r < 0)
                                return log_parse_error(r);
                        if (strcmp(contents, p->signature) != 0) {
                                fprintf(stderr, "iovactl: Property %s of %s has type %s, expected %s.\n",
                                        name, path, contents, p->signature);
                                return -EBADMSG;
                        }
                        r = sd_bus_message_enter_container(reply, 'v', contents);
                        if (r >= 0)
                                r = p->read(reply, (uint8_t *) dest + p->offset);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return log_parse_error(r);
        }
        if (r < 0)
                return log_parse_error(r);
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return log_parse_error(r);
        return 0;
}

void p2p_path_array_clear(P2pPathArray *a) {
        for (size_t i = 0; i < a->n; i++) {
                free(a->items[i].address);
                free(a->items[i].role);
                free(a->items[i].missing);
        }
        free(a->items);
        *a = (P2pPathArray) {};
}

int bus_read_p2p_path(sd_bus_message *m, void *dest) {
        P2pPathArray *a = dest, l = {};
        const char *address, *role, *missing;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(sss)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(sss)", &address, &role, &missing)) > 0) {
                P2pHopInfo *n = reallocarray(l.items, l.n + 1, sizeof(P2pHopInfo));

                if (!n) {
                        p2p_path_array_clear(&l);
                        return -ENOMEM;
                }
                l.items = n;
                l.items[l.n++] = (P2pHopInfo) { strdup(address), strdup(role), strdup(missing) };
                if (!l.items[l.n - 1].address || !l.items[l.n - 1].role || !l.items[l.n - 1].missing) {
                        p2p_path_array_clear(&l);
                        return -ENOMEM;
                }
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                p2p_path_array_clear(&l);
                return r;
        }
        p2p_path_array_clear(a);
        *a = l;
        return 0;
}

void p2p_window_array_clear(P2pWindowArray *a) {
        for (size_t i = 0; i < a->n; i++)
                free(a->items[i].what);
        free(a->items);
        *a = (P2pWindowArray) {};
}

int bus_read_p2p_windows(sd_bus_message *m, void *dest) {
        P2pWindowArray *a = dest, l = {};
        uint64_t start, end;
        const char *what;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(tts)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(tts)", &start, &end, &what)) > 0) {
                P2pWindowInfo *n = reallocarray(l.items, l.n + 1, sizeof(P2pWindowInfo));

                if (!n) {
                        p2p_window_array_clear(&l);
                        return -ENOMEM;
                }
                l.items = n;
                l.items[l.n++] = (P2pWindowInfo) { start, end, strdup(what) };
                if (!l.items[l.n - 1].what) {
                        p2p_window_array_clear(&l);
                        return -ENOMEM;
                }
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                p2p_window_array_clear(&l);
                return r;
        }
        p2p_window_array_clear(a);
        *a = l;
        return 0;
}

int bus_read_msi_window(sd_bus_message *m, void *dest) {
        MsiWindowInfo *w = dest;
        const char *source;
        char *copy;
        int r;

        r = sd_bus_message_read(m, "(uus)", &w->needed, &w->capacity, &source);
        if (r < 0)
                return r;
        copy = strdup(source);
        if (!copy)
                return -ENOMEM;
        free(w->source);
        w->source = copy;
        return 0;
}

int bus_read_string(sd_bus_message *m, void *dest) {
        char **s = dest, type, *copy;
        const char *v;
        int r;

        r = sd_bus_message_peek_type(m, &type, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;
        copy = strdup(v);
        if (!copy)
                return -ENOMEM;
        free(*s);
        *s = copy;
        return 0;
}

int bus_read_u16(sd_bus_message *m, void *dest) {
        return sd_bus_message_read_basic(m, 'q', dest);
}

int bus_read_u32(sd_bus_message *m, void *dest) {
        return sd_bus_message_read_basic(m, 'u', dest);
}

int bus_read_u64(sd_bus_message *m, void *dest) {
        return sd_bus_message_read_basic(m, 't', dest);
}

int bus_read_bool(sd_bus_message *m, void *dest) {
        int b, r;

        r = sd_bus_message_read_basic(m, 'b', &b);
        if (r < 0)
                return r;
        *(bool *) dest = b;
        return 0;
}

int bus_read_range(sd_bus_message *m, void *dest) {
        IovaRange *range = dest;

        return sd_bus_message_read(m, "(tt)", &range->start, &range->end);
}

int bus_read_u32_array(sd_bus_message *m, void *dest) {
        U32Array *a = dest;
        const void *p;
        size_t size;
        uint32_t *items = NULL;
        int r;

        r = sd_bus_message_read_array(m, 'u', &p, &size);
        if (r < 0)
                return r;
        if (size > 0) {
                items = malloc(size);
                if (!items)
                        return -ENOMEM;
                memcpy(items, p, size);
        }
        free(a->items);
        a->items = items;
        a->n = size / sizeof(uint32_t);
        return 0;
}

int bus_read_ranges(sd_bus_message *m, void *dest) {
        RangeArray *a = dest, out = {};
        size_t allocated = 0;
        uint64_t s, e;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(tt)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(tt)", &s, &e)) > 0) {
                if (out.n == allocated) {
                        size_t n = allocated ? allocated * 2 : 8;
                        IovaRange *t = reallocarray(out.items, n, sizeof(IovaRange));
                        if (!t) {
                                r = -ENOMEM;
                                break;
                        }
                        out.items = t;
                        allocated = n;
                }
                out.items[out.n++] = (IovaRange) { s, e };
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                free(out.items);
                return r;
        }
        free(a->items);
        *a = out;
        return 0;
}

void region_array_clear(RegionArray *a) {
        iova_regions_free(a->items, a->n);
        *a = (RegionArray) {};
}

int bus_read_regions_sig(sd_bus_message *m, bool with_origin, RegionArray *ret) {
        RegionArray out = {};
        size_t allocated = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', with_origin ? "(ttss)" : "(tts)");
        if (r < 0)
                return r;
        for (;;) {
                const char *type, *origin = NULL;
                uint64_t s, e;

                if (with_origin)
                        r = sd_bus_message_read(m, "(ttss)", &s, &e, &type, &origin);
                else
                        r = sd_bus_message_read(m, "(tts)", &s, &e, &type);
                if (r <= 0)
                        break;
                if (out.n == allocated) {
                        size_t n = allocated ? allocated * 2 : 8;
                        IovaRegion *t = reallocarray(out.items, n, sizeof(IovaRegion));
                        if (!t) {
                                r = -ENOMEM;
                                break;
                        }
                        out.items = t;
                        allocated = n;
                }
                IovaRegion *g = &out.items[out.n++];
                *g = (IovaRegion) { .start = s, .end = e, .type = strdup(type) };
                if (origin && *origin)
                        g->origin = strdup(origin);
                if (!g->type || (origin && *origin && !g->origin)) {
                        r = -ENOMEM;
                        break;
                }
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                region_array_clear(&out);
                return r;
        }
        *ret = out;
        return 0;
}

int bus_read_regions(sd_bus_message *m, void *dest) {
        RegionArray *a = dest, out;
        int r;

        r = bus_read_regions_sig(m, true, &out);
        if (r < 0)
                return r;
        region_array_clear(a);
        *a = out;
        return 0;
}

void lease_array_clear(LeaseArray *a) {
        iova_leases_free(a->items, a->n);
        *a = (LeaseArray) {};
}

int bus_read_leases(sd_bus_message *m, LeaseArray *ret) {
        LeaseArray out = {};
        size_t allocated = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(ottb)");
        if (r < 0)
                return r;
        for (;;) {
                const char *object;
                uint64_t iova, size;
                int mapped;

                r = sd_bus_message_read(m, "(ottb)", &object, &iova, &size, &mapped);
                if (r <= 0)
                        break;
                if (out.n == allocated) {
                        size_t n = allocated ? allocated * 2 : 16;
                        IovaLease *t = reallocarray(out.items, n, sizeof(IovaLease));
                        if (!t) {
                                r = -ENOMEM;
                                break;
                        }
                        out.items = t;
                        allocated = n;
                }
                out.items[out.n] = (IovaLease) { .object = strdup(object), .iova = iova, .size = size, .mapped = mapped };
                if (!out.items[out.n++].object) {
                        r = -ENOMEM;
                        break;
                }
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                lease_array_clear(&out);
                return r;
        }
        *ret = out;
        return 0;
}

int print_json(Iovactl *c, json_object *o) {
        if (!o)
                return log_errno(-ENOMEM, "Failed to build JSON");
        puts(json_object_to_json_string_ext(o, c->json_flags));
        json_object_put(o);
        return 0;
}

int print_table(Iovactl *c, Table *t, const char *singular, const char *plural) {
        size_t n = table_rows(t);
        int r;

        if (c->json)
                return print_json(c, table_to_json(t));
        if (n == 0) {
                if (c->legend)
                        printf("No %s.\n", plural);
                return 0;
        }
        r = table_print(t, stdout, c->legend);
        if (r < 0)
                return log_errno(r, "Failed to print table");
        if (c->legend)
                printf("\n%zu %s listed.\n", n, n == 1 ? singular : plural);
        return 0;
}

void print_field(int width, const char *key, const char *fmt, ...) {
        va_list ap;

        printf("%*s: ", width, key);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

char *format_users(const uint32_t *uids, size_t n) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        if (n == 0)
                fputs("none", f);
        for (size_t i = 0; i < n; i++) {
                /* Names only help people; a uid without one is still valid. */
                struct passwd *pw = getpwuid(uids[i]);

                fprintf(f, "%s%" PRIu32, i ? ", " : "", uids[i]);
                if (pw)
                        fprintf(f, " (%s)", pw->pw_name);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

typedef struct HoldState {
        sd_event *event;
        const char *what;
} HoldState;

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        HoldState *h = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (*new_owner)
                return 0;
        /* The daemon went away and took everything held over this connection with it. */
        fprintf(stderr, "iovactl: iovad left the bus; %s is gone.\n", h->what);
        return sd_event_exit(h->event, EXIT_REFUSED);
}

int hold(Iovactl *c, const char *what) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        HoldState h = { .what = what };
        int r;

        r = sd_event_new(&e);
        if (r < 0)
                return log_errno(r, "Failed to create event loop");
        h.event = e;
        /* No handler: the signal ends the loop with status 0, and exiting lets go of everything. */
        r = sd_event_add_signal(e, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
        if (r < 0)
                return log_errno(r, "Failed to watch signals");

        r = sd_bus_add_match(c->bus, &slot,
                             "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                             "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" IOVAD_BUS_NAME "'",
                             on_owner_changed, &h);
        if (r < 0)
                return log_errno(r, "Failed to watch iovad on the bus");
        r = sd_bus_attach_event(c->bus, e, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_errno(r, "Failed to attach bus to event loop");
        (void) sd_bus_set_exit_on_disconnect(c->bus, true);

        /* Whoever reads our output (a script waiting for the IOVA) must see it before we block. */
        fflush(stdout);
        fprintf(stderr, "Holding %s (pid %d); press Ctrl-C or send SIGTERM to let go.\n", what, (int) getpid());

        r = sd_event_loop(e);
        (void) sd_bus_detach_event(c->bus);
        if (r < 0)
                return log_errno(r, "Event loop failed");
        return r;
}
