/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The D-Bus argument parsing of every method: messages built from fuzz
 * bytes, sent over a real (private) dbus-daemon to the real handlers of
 * an iovad that runs in this process on the simulated x86-vtd platform.
 *
 * An input picks an object (the manager, an attached or empty container,
 * a lease that exists or not, a device that exists or not, any path), a
 * member (every method and property call of the interfaces, or a made-up
 * one), a signature (the right one or one of several wrong ones) and the
 * arguments (sizes, IOVAs, names, option dictionaries with known and
 * unknown keys of any type, fds of every kind: sealed and unsealed
 * memfds, /dev/null, a pipe). After each call it checks what the API
 * promises: every error is one docs/api.md names, and the model stays
 * consistent (the lease table, the containers' lease lists, no lease in a
 * reserved region or outside the usable ranges, DMA budget and fd counts).
 * State is bounded: after each input every lease is released and every
 * container but the two fixed ones is destroyed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "backend/backend.h"
#include "bus/server.h"
#include "fuzz.h"
#include "iovad-bus.h"
#include "model/manager.h"
#include "platform/profile.h"
#include "util/log.h"

#ifndef PROFILES_DIR
#error "PROFILES_DIR must name the shipped profiles"
#endif

typedef struct Reader {
        const uint8_t *p;
        size_t n;
} Reader;

static uint8_t rd_u8(Reader *r) {
        if (r->n == 0)
                return 0;
        r->n--;
        return *r->p++;
}

static uint64_t rd_u64(Reader *r) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = (v << 8) | rd_u8(r);
        return v;
}

/* Sizes and addresses near the interesting values: pages, the MSI window, the top. */
static uint64_t rd_number(Reader *r) {
        static const uint64_t base[] = {
                0,          1,          4096,         8192,          0x200000,       0x40000000,
                0xfee00000, 0xfeefffff, 0x100000000, 1ULL << 39,     UINT64_MAX - 4095, UINT64_MAX,
        };
        uint8_t how = rd_u8(r);
        if (how < 160)
                return base[how % ELEMENTSOF(base)] + (uint64_t) (int8_t) rd_u8(r) * 4096;
        return rd_u64(r);
}

static void rd_string(Reader *r, char *buf, size_t size) {
        size_t n = rd_u8(r) % size;
        for (size_t i = 0; i < n; i++)
                buf[i] = (char) (rd_u8(r) % 95 + 32);
        buf[n] = 0;
}

static struct {
        bool ready;
        char dir[128];
        pid_t bus_pid;
        sd_event *event;
        sd_bus *server_bus, *client;
        Manager *manager;
        Server *server;
        Container *fixed[2];
} W;

static void stop_bus(void) {
        if (W.bus_pid > 0) {
                kill(W.bus_pid, SIGTERM);
                (void) waitpid(W.bus_pid, NULL, 0);
        }
}

static void start_bus(void) {
        char conf[256], sock[256], address[300];
        FILE *f;

        snprintf(W.dir, sizeof(W.dir), "%s/bus", fuzz_scratch_dir());
        FUZZ_CHECK(mkdir(W.dir, 0755) == 0 || errno == EEXIST, "%s", W.dir);
        snprintf(conf, sizeof(conf), "%s/bus.conf", W.dir);
        snprintf(sock, sizeof(sock), "%s/bus.sock", W.dir);
        f = fopen(conf, "we");
        FUZZ_CHECK(f, "%s", conf);
        fprintf(f,
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig>\n"
                "  <type>system</type>\n"
                "  <listen>unix:path=%s</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <policy context=\"default\">\n"
                "    <allow user=\"*\"/>\n"
                "    <allow own=\"*\"/>\n"
                "    <allow send_type=\"method_call\"/>\n"
                "    <allow send_type=\"signal\"/>\n"
                "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
                "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
                "    <allow receive_type=\"method_call\"/>\n"
                "    <allow receive_type=\"method_return\"/>\n"
                "    <allow receive_type=\"error\"/>\n"
                "    <allow receive_type=\"signal\"/>\n"
                "  </policy>\n"
                "</busconfig>\n",
                sock);
        fclose(f);
        (void) unlink(sock);
        W.bus_pid = fork();
        FUZZ_CHECK(W.bus_pid >= 0, "fork");
        if (W.bus_pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                (void) dup2(null, STDOUT_FILENO);
                execlp("dbus-daemon", "dbus-daemon", "--nofork", "--nopidfile", "--config-file", conf, (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 500 && access(sock, F_OK) < 0; i++)
                usleep(10 * 1000);
        FUZZ_CHECK(access(sock, F_OK) == 0, "dbus-daemon did not start");
        snprintf(address, sizeof(address), "unix:path=%s", sock);
        setenv("DBUS_SYSTEM_BUS_ADDRESS", address, 1);
        atexit(stop_bus);
}

static void setup(void) {
        _cleanup_free_ char *msg = NULL;
        char state[300], runtime[300];
        Profile *p = NULL;
        Backend *b = NULL;
        IovadError e = {};
        Config config;
        uid_t root = 0;

        /* The log would drown libFuzzer's output. */
        log_max_level = LOG_CRIT;
        signal(SIGPIPE, SIG_IGN);
        start_bus();
        snprintf(state, sizeof(state), "%s/state", W.dir);
        snprintf(runtime, sizeof(runtime), "%s/run", W.dir);
        FUZZ_CHECK(mkdir(state, 0700) == 0 || errno == EEXIST, "%s", state);
        FUZZ_CHECK(mkdir(runtime, 0755) == 0 || errno == EEXIST, "%s", runtime);

        FUZZ_CHECK(profile_load("x86-vtd", PROFILES_DIR, &p, &msg) == 0, "profile: %s", msg);
        FUZZ_CHECK(backend_sim_new(p, runtime, &b) == 0, "backend");
        config_init(&config);
        /* Small quotas, so that inputs reach them. */
        config.max_leases = 8;
        config.max_memfds = 6;
        FUZZ_CHECK(manager_new(b, &config, state, runtime, &W.manager) == 0, "manager");
        FUZZ_CHECK(manager_refresh_platform(W.manager, &e) == 0, "%s", e.message);
        W.manager->memfd_budget = 10;
        FUZZ_CHECK(manager_create_container(W.manager, "c", &root, 1, &W.fixed[0], &e) == 0, "%s", e.message);
        FUZZ_CHECK(manager_attach_group(W.manager, W.fixed[0], 5, &e) == 0, "%s", e.message);
        FUZZ_CHECK(manager_create_container(W.manager, "d", &root, 1, &W.fixed[1], &e) == 0, "%s", e.message);

        FUZZ_CHECK(sd_event_new(&W.event) >= 0, "event");
        FUZZ_CHECK(sd_bus_open_system(&W.server_bus) >= 0, "server bus");
        FUZZ_CHECK(server_new_on_bus(W.event, W.server_bus, W.manager, &(ServerOptions) { .polkit = false },
                                     &W.server) >= 0,
                   "server");
        FUZZ_CHECK(sd_bus_request_name(W.server_bus, IOVAD_BUS_NAME, 0) >= 0, "name");
        FUZZ_CHECK(sd_bus_open_system(&W.client) >= 0, "client bus");
        FUZZ_CHECK(sd_bus_attach_event(W.client, W.event, 0) >= 0, "client event");
        W.ready = true;
}

typedef struct Member {
        const char *iface, *member, *signature;
} Member;

static const Member members[] = {
        { IOVAD_MANAGER_IFACE, "ListDevices", "" },
        { IOVAD_MANAGER_IFACE, "GetGroupReservedRegions", "u" },
        { IOVAD_MANAGER_IFACE, "ListContainers", "" },
        { IOVAD_MANAGER_IFACE, "CreateContainer", "sa{sv}" },
        { IOVAD_MANAGER_IFACE, "GetContainer", "s" },
        { IOVAD_MANAGER_IFACE, "ReleaseLeases", "ao" },
        { IOVAD_MANAGER_IFACE, "OpenDirectConnection", "a{sv}" },
        { IOVAD_CONTAINER_IFACE, "AttachGroup", "u" },
        { IOVAD_CONTAINER_IFACE, "DetachGroup", "u" },
        { IOVAD_CONTAINER_IFACE, "CheckAttach", "u" },
        { IOVAD_CONTAINER_IFACE, "Lease", "ta{sv}" },
        { IOVAD_CONTAINER_IFACE, "MapMemory", "htta{sv}" },
        { IOVAD_CONTAINER_IFACE, "AllocateMapped", "ta{sv}" },
        { IOVAD_CONTAINER_IFACE, "MapMemoryBatch", "ha(ttt)a{sv}" },
        { IOVAD_CONTAINER_IFACE, "ListLeases", "" },
        { IOVAD_CONTAINER_IFACE, "Destroy", "" },
        { IOVAD_LEASE_IFACE, "Release", "" },
        { IOVAD_DEVICE_IFACE, "Open", "" },
        { IOVAD_DEVICE_IFACE, "Bind", "" },
        { IOVAD_DEVICE_IFACE, "Unbind", "" },
        { "org.freedesktop.DBus.Properties", "Get", "ss" },
        { "org.freedesktop.DBus.Properties", "GetAll", "s" },
        { "org.freedesktop.DBus.Properties", "Set", "ssv" },
        { "org.freedesktop.DBus.Introspectable", "Introspect", "" },
        { "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", "" },
};

static const char *const wrong_signatures[] = { "", "s", "t", "u", "h", "hh", "ta{sv}", "tt", "a{sv}", "htt", "sv" };

static const char *const option_keys[] = {
        "alignment", "limit", "iova", "persistent", "readonly", "hugepages", "users", "colour", "",
};
static const char *const variant_types[] = { "t", "b", "u", "s", "au", "i" };

static const char *const interfaces[] = {
        IOVAD_MANAGER_IFACE, IOVAD_CONTAINER_IFACE, IOVAD_LEASE_IFACE, IOVAD_DEVICE_IFACE, "org.foo.Bar",
};

static const char *const properties[] = {
        "Version", "Backend", "Platform", "Name", "Groups", "Aperture", "ReservedRegions", "UsableRanges",
        "PageSizes", "DmaMappingsAvailable", "Users", "Iova", "Size", "Container", "Owner", "Mapped", "Writable",
        "Persistent", "Address", "VendorId", "DeviceId", "Description", "Class", "Driver", "IommuGroup",
        "InterruptIsolation", "Colour",
};

/* An fd of one of the kinds a caller could pass. */
static int make_fd(Reader *r) {
        uint8_t kind = rd_u8(r) % 5;
        uint64_t pages = rd_u8(r) % 5;
        int fd, p[2];

        switch (kind) {
        case 0: /* a memfd sealed as iovad wants */
        case 1: /* sealed against writing too */
                fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
                FUZZ_CHECK(fd >= 0, "memfd");
                (void) ftruncate(fd, (off_t) (pages * 4096));
                (void) fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | (kind == 1 ? F_SEAL_WRITE : 0));
                return fd;
        case 2: /* unsealed */
                fd = memfd_create("fuzz", MFD_CLOEXEC);
                FUZZ_CHECK(fd >= 0, "memfd");
                (void) ftruncate(fd, (off_t) (pages * 4096));
                return fd;
        case 3:
                return open("/dev/null", O_RDWR | O_CLOEXEC);
        default:
                FUZZ_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
                close(p[1]);
                return p[0];
        }
}

static void append_variant(sd_bus_message *m, Reader *r) {
        const char *t = variant_types[rd_u8(r) % ELEMENTSOF(variant_types)];
        char s[32];

        FUZZ_CHECK(sd_bus_message_open_container(m, 'v', t) >= 0, "v");
        switch (t[0]) {
        case 't':
                FUZZ_CHECK(sd_bus_message_append(m, "t", rd_number(r)) >= 0, "t");
                break;
        case 'b':
                FUZZ_CHECK(sd_bus_message_append(m, "b", rd_u8(r) & 1) >= 0, "b");
                break;
        case 'u':
                FUZZ_CHECK(sd_bus_message_append(m, "u", (uint32_t) rd_number(r)) >= 0, "u");
                break;
        case 'i':
                FUZZ_CHECK(sd_bus_message_append(m, "i", (int32_t) rd_number(r)) >= 0, "i");
                break;
        case 's':
                rd_string(r, s, sizeof(s));
                FUZZ_CHECK(sd_bus_message_append(m, "s", s) >= 0, "s");
                break;
        default: { /* au */
                uint32_t u[4];
                size_t n = rd_u8(r) % 5;
                for (size_t i = 0; i < n; i++)
                        u[i] = rd_u8(r) < 128 ? (uint32_t) rd_u8(r) : 1000;
                FUZZ_CHECK(sd_bus_message_append_array(m, 'u', u, n * sizeof(uint32_t)) >= 0, "au");
        }
        }
        FUZZ_CHECK(sd_bus_message_close_container(m) >= 0, "v close");
}

/* MapMemoryBatch's pieces: offsets and sizes near page multiples, IOVAs fixed or "auto" (all ones). */
static void append_pieces(sd_bus_message *m, Reader *r) {
        FUZZ_CHECK(sd_bus_message_open_container(m, 'a', "(ttt)") >= 0, "a(ttt)");
        for (size_t n = rd_u8(r) % 6; n > 0; n--) {
                uint64_t offset = rd_u8(r) < 200 ? (uint64_t) (rd_u8(r) % 8) * 4096 : rd_number(r);
                uint64_t size = rd_u8(r) < 200 ? (uint64_t) (rd_u8(r) % 4) * 4096 : rd_number(r);
                uint64_t iova = rd_u8(r) < 128 ? UINT64_MAX : rd_number(r);
                FUZZ_CHECK(sd_bus_message_append(m, "(ttt)", offset, size, iova) >= 0, "(ttt)");
        }
        FUZZ_CHECK(sd_bus_message_close_container(m) >= 0, "a(ttt) close");
}

/* ReleaseLeases' argument: paths of leases that exist, of made-up ids, and of other objects. */
static void append_lease_paths(sd_bus_message *m, Reader *r) {
        FUZZ_CHECK(sd_bus_message_open_container(m, 'a', "o") >= 0, "ao");
        for (size_t n = rd_u8(r) % 5; n > 0; n--) {
                _cleanup_free_ char *p = NULL;
                Container *c = manager_find_container(W.manager, "c");
                Lease *l = c ? c->leases : NULL;

                switch (rd_u8(r) % 3) {
                case 0:
                        for (uint8_t k = rd_u8(r); l && l->c_next && k > 0; k--)
                                l = l->c_next;
                        p = iovad_lease_path(l ? l->id : 1 + rd_u8(r));
                        break;
                case 1:
                        p = iovad_lease_path(rd_u64(r));
                        break;
                default:
                        p = strdup(IOVAD_MANAGER_PATH);
                }
                FUZZ_CHECK(p, "lease path");
                FUZZ_CHECK(sd_bus_message_append(m, "o", p) >= 0, "o");
        }
        FUZZ_CHECK(sd_bus_message_close_container(m) >= 0, "ao close");
}

/* Arguments after @sig, from the input; false when the signature has a type this cannot make. */
static bool append_args(sd_bus_message *m, const char *sig, Reader *r) {
        char s[80];

        for (const char *c = sig; *c; c++)
                switch (*c) {
                case 't':
                        FUZZ_CHECK(sd_bus_message_append(m, "t", rd_number(r)) >= 0, "t");
                        break;
                case 'u':
                        FUZZ_CHECK(sd_bus_message_append(m, "u", (uint32_t) (rd_u8(r) < 200 ? rd_u8(r) % 16
                                                                                              : rd_number(r))) >= 0,
                                   "u");
                        break;
                case 's':
                        if (rd_u8(r) < 100) {
                                const char *known[] = { "c", "d", "e", IOVAD_MANAGER_IFACE, IOVAD_CONTAINER_IFACE,
                                                        IOVAD_LEASE_IFACE, IOVAD_DEVICE_IFACE };
                                snprintf(s, sizeof(s), "%s", known[rd_u8(r) % ELEMENTSOF(known)]);
                        } else if (rd_u8(r) < 100)
                                snprintf(s, sizeof(s), "%s", properties[rd_u8(r) % ELEMENTSOF(properties)]);
                        else
                                rd_string(r, s, sizeof(s));
                        FUZZ_CHECK(sd_bus_message_append(m, "s", s) >= 0, "s");
                        break;
                case 'h': {
                        int fd = make_fd(r);
                        FUZZ_CHECK(sd_bus_message_append(m, "h", fd) >= 0, "h");
                        close(fd);
                        break;
                }
                case 'v':
                        append_variant(m, r);
                        break;
                case 'a': /* a{sv}, a(ttt) (MapMemoryBatch's pieces), ao (leases) */
                        if (strncmp(c, "a(ttt)", 6) == 0) {
                                c += 5;
                                append_pieces(m, r);
                                break;
                        }
                        if (strncmp(c, "ao", 2) == 0) {
                                c += 1;
                                append_lease_paths(m, r);
                                break;
                        }
                        if (strncmp(c, "a{sv}", 5) != 0)
                                return false;
                        c += 4;
                        FUZZ_CHECK(sd_bus_message_open_container(m, 'a', "{sv}") >= 0, "a");
                        for (size_t n = rd_u8(r) % 4; n > 0; n--) {
                                FUZZ_CHECK(sd_bus_message_open_container(m, 'e', "sv") >= 0, "e");
                                FUZZ_CHECK(sd_bus_message_append(m, "s", option_keys[rd_u8(r) % ELEMENTSOF(option_keys)]) >= 0,
                                           "key");
                                append_variant(m, r);
                                FUZZ_CHECK(sd_bus_message_close_container(m) >= 0, "e close");
                        }
                        FUZZ_CHECK(sd_bus_message_close_container(m) >= 0, "a close");
                        break;
                default:
                        return false;
                }
        return true;
}

/* The object an input talks to. */
static void pick_path(Reader *r, char *buf, size_t size) {
        _cleanup_free_ char *p = NULL;
        char name[24];
        Manager *m = W.manager;

        switch (rd_u8(r) % 8) {
        case 0:
                snprintf(buf, size, "%s", IOVAD_MANAGER_PATH);
                return;
        case 1:
        case 2:
                p = iovad_container_path(rd_u8(r) & 1 ? "c" : "d");
                break;
        case 3: {
                /* A lease that exists, if any does (an earlier call of this input may have destroyed "c"). */
                Container *c = manager_find_container(m, "c");
                Lease *l = c ? c->leases : NULL;
                for (uint8_t k = rd_u8(r); l && l->c_next && k > 0; k--)
                        l = l->c_next;
                p = iovad_lease_path(l ? l->id : 1 + rd_u8(r));
                break;
        }
        case 4:
                p = iovad_lease_path(rd_u64(r));
                break;
        case 5:
                p = iovad_device_path(m->platform->devices[rd_u8(r) % m->platform->n_devices].address);
                break;
        case 6:
                rd_string(r, name, sizeof(name));
                p = iovad_container_path(name[0] ? name : "x");
                break;
        default:
                snprintf(buf, size, "/org/iovad1/%s", rd_u8(r) & 1 ? "device/_30000_3a00_3a01_2e0" : "nothing");
                return;
        }
        FUZZ_CHECK(p, "path");
        snprintf(buf, size, "%s", p);
}

static bool error_documented(const char *name) {
        static const char *const bus_errors[] = {
                SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_METHOD, SD_BUS_ERROR_UNKNOWN_INTERFACE,
                SD_BUS_ERROR_UNKNOWN_PROPERTY, SD_BUS_ERROR_PROPERTY_READ_ONLY, SD_BUS_ERROR_INVALID_ARGS,
                SD_BUS_ERROR_INVALID_SIGNATURE,
        };
        if (iovad_error_from_name(name) != IOVAD_E_NONE)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(bus_errors); i++)
                if (strcmp(name, bus_errors[i]) == 0)
                        return true;
        return false;
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        *(int *) userdata = 1;
        if (e)
                FUZZ_CHECK(error_documented(e->name), "undocumented error %s: %s", e->name, e->message);
        return 0;
}

/* The model's promises, after every call. */
static void check_model(void) {
        Manager *m = W.manager;
        size_t leases = 0, memfds = 0;

        for (size_t i = 0; i < m->n_containers; i++) {
                Container *c = m->containers[i];
                size_t n = 0;
                for (Lease *l = c->leases; l; l = l->c_next, n++) {
                        FUZZ_CHECK(manager_find_lease(m, l->id) == l, "lease %" PRIu64 " not in the table", l->id);
                        FUZZ_CHECK(l->container == c, "lease %" PRIu64 " in the wrong container", l->id);
                        memfds += l->mapped;
                        uint64_t last = l->iova + (l->size - 1);
                        FUZZ_CHECK(last >= l->iova, "lease %" PRIu64 " wraps", l->id);
                        FUZZ_CHECK(region_list_find_overlap(&c->regions, l->iova, last, false) < 0,
                                   "lease %" PRIu64 " in a reserved region", l->id);
                        bool inside = false;
                        for (size_t k = 0; k < c->usable.n; k++)
                                inside = inside || (c->usable.items[k].start <= l->iova && last <= c->usable.items[k].end);
                        FUZZ_CHECK(inside, "lease %" PRIu64 " outside the usable ranges", l->id);
                        for (Lease *o = l->c_next; o; o = o->c_next)
                                FUZZ_CHECK(o->iova > last || o->iova + (o->size - 1) < l->iova, "leases %" PRIu64
                                           " and %" PRIu64 " overlap", l->id, o->id);
                }
                FUZZ_CHECK(n == c->n_leases, "container '%s' counts %zu leases, has %zu", c->name, c->n_leases, n);
                leases += n;
        }
        FUZZ_CHECK(leases == m->n_leases, "table has %zu leases, containers %zu", m->n_leases, leases);
        FUZZ_CHECK(memfds == m->n_memfds, "%zu memory fds counted, %zu mapped leases", m->n_memfds, memfds);
        FUZZ_CHECK(m->n_memfds <= m->memfd_budget, "%zu memory fds over the budget of %zu", m->n_memfds,
                   m->memfd_budget);
}

/* Back to the two fixed containers, with no leases. */
static void reset(void) {
        Manager *m = W.manager;

        for (size_t i = m->n_containers; i > 0; i--) {
                Container *c = m->containers[i - 1];
                /* By name: a fixed container destroyed by the input leaves its pointer dangling. */
                if (strcmp(c->name, "c") == 0 || strcmp(c->name, "d") == 0) {
                        while (c->leases)
                                if (manager_release_lease(m, c->leases, NULL) < 0)
                                        abort();
                } else
                        manager_destroy_container(m, c);
        }
        /* A fixed container that was destroyed by the input is made again. */
        for (int k = 0; k < 2; k++) {
                const char *name = k ? "d" : "c";
                if (!manager_find_container(m, name)) {
                        IovadError e = {};
                        uid_t root = 0;
                        FUZZ_CHECK(manager_create_container(m, name, &root, 1, &W.fixed[k], &e) == 0, "%s", e.message);
                } else
                        W.fixed[k] = manager_find_container(m, name);
        }
        if (W.fixed[0]->n_groups == 0)
                (void) manager_attach_group(m, W.fixed[0], 5, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Reader r = { data, size };
        char path[160];

        if (!W.ready)
                setup();
        /* A few calls per input, so that one can build on another (a lease, then its release). */
        for (unsigned calls = rd_u8(&r) % 4 + 1; calls > 0; calls--) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
                const Member *mb = &members[rd_u8(&r) % ELEMENTSOF(members)];
                const char *iface = mb->iface, *member = mb->member, *sig = mb->signature;
                int done = 0;

                pick_path(&r, path, sizeof(path));
                if (rd_u8(&r) >= 224)
                        sig = wrong_signatures[rd_u8(&r) % ELEMENTSOF(wrong_signatures)];
                if (rd_u8(&r) >= 240)
                        iface = interfaces[rd_u8(&r) % ELEMENTSOF(interfaces)];
                FUZZ_CHECK(sd_bus_message_new_method_call(W.client, &m, IOVAD_BUS_NAME, path, iface, member) >= 0,
                           "call");
                if (!append_args(m, sig, &r))
                        continue;
                /* 20 s: a loaded machine is slow, and libFuzzer's own -timeout=25 still catches a call that hangs. */
                FUZZ_CHECK(sd_bus_call_async(W.client, &slot, m, on_reply, &done, 20 * 1000 * 1000) >= 0, "send");
                while (!done)
                        FUZZ_CHECK(sd_event_run(W.event, UINT64_MAX) >= 0, "event loop");
                check_model();
        }
        reset();
        check_model();
        return 0;
}
