/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "config.h"
#include "iovad-bus.h"
#include "log.h"
#include "manager.h"
#include "state.h"

typedef struct Args {
        const char *simulate;
        const char *state_dir;
        const char *runtime_dir;
        const char *config;
        bool no_polkit;
} Args;

static void help(void) {
        printf("Usage: iovad [OPTION]...\n"
               "The VFIO broker: owns IOMMU containers and hands out IOVA leases, DMA-mapped memory\n"
               "and VFIO device fds to unprivileged clients over D-Bus (%s on the system bus).\n\n"
               "  --simulate=PROFILE   use the simulated backend on a platform profile (a file or\n"
               "                       the name of a shipped one: x86-vtd, x86-amdvi, arm-smmuv3, ...)\n"
               "  --state-dir=DIR      where containers and persistent leases are kept\n"
               "                       (default $STATE_DIRECTORY or %s)\n"
               "  --runtime-dir=DIR    runtime files (default $RUNTIME_DIRECTORY or %s)\n"
               "  --config=FILE        quotas and policy reservations (default %s)\n"
               "  --log-level=LEVEL    err, warning, notice, info (default) or debug\n"
               "  --no-polkit          never ask polkit: privileged calls need root\n"
               "  --version            print the version\n"
               "  --help               this text\n\n"
               "DBUS_SYSTEM_BUS_ADDRESS moves iovad to another bus, as for every sd-bus program.\n",
               IOVAD_BUS_NAME, IOVAD_STATE_DIR, IOVAD_RUNTIME_DIR, IOVAD_CONFIG_FILE);
}

static int parse_args(int argc, char **argv, Args *a) {
        enum { ARG_SIMULATE = 0x100, ARG_STATE_DIR, ARG_RUNTIME_DIR, ARG_CONFIG, ARG_LOG_LEVEL, ARG_NO_POLKIT, ARG_VERSION };
        static const struct option options[] = {
                { "simulate", required_argument, NULL, ARG_SIMULATE },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "no-polkit", no_argument, NULL, ARG_NO_POLKIT },
                { "version", no_argument, NULL, ARG_VERSION },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c, l;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_SIMULATE:
                        a->simulate = optarg;
                        break;
                case ARG_STATE_DIR:
                        a->state_dir = optarg;
                        break;
                case ARG_RUNTIME_DIR:
                        a->runtime_dir = optarg;
                        break;
                case ARG_CONFIG:
                        a->config = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        l = log_level_from_string(optarg);
                        if (l < 0) {
                                fprintf(stderr, "iovad: unknown log level '%s'\n", optarg);
                                return -EINVAL;
                        }
                        log_max_level = l;
                        break;
                case ARG_NO_POLKIT:
                        a->no_polkit = true;
                        break;
                case ARG_VERSION:
                        printf("iovad %s\n", IOVAD_VERSION);
                        return 0;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "iovad: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static int mkdir_p(const char *dir, mode_t mode) {
        _cleanup_free_ char *p = strdup(dir);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (mkdir(p, mode) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static const char *env_or(const char *name, const char *fallback) {
        const char *v = getenv(name);
        /* systemd may list several directories, separated by ':'; the first is ours. */
        return v && *v && !strchr(v, ':') ? v : fallback;
}

static int setup_backend(Manager *m, const Args *a) {
        int r;

        if (a->simulate) {
                _cleanup_free_ char *msg = NULL;
                const char *dir = env_or("IOVAD_PROFILES_DIR", IOVAD_PROFILES_DIR);
                Profile *p = NULL;

                r = profile_load(a->simulate, dir, &p, &msg);
                if (r == -ENOENT) {
                        log_error("No profile '%s' (neither a file nor a profile shipped in %s)", a->simulate, dir);
                        return r;
                }
                if (r < 0) {
                        log_error("Profile '%s' is invalid: %s", a->simulate, msg ? msg : strerror(-r));
                        return r;
                }
                r = backend_sim_new(p, m->runtime_dir, &m->backend);
                if (r < 0) {
                        profile_free(p);
                        return log_error_errno(r, "Cannot set up the simulated platform in %s", m->runtime_dir);
                }
                return 0;
        }
        if (access("/dev/vfio/vfio", F_OK) < 0) {
                log_error("This machine has no VFIO (/dev/vfio/vfio is missing): load the vfio-pci module, or run "
                          "iovad --simulate=PROFILE to use a simulated platform (shipped: x86-vtd, x86-amdvi, "
                          "arm-smmuv3, virtio-iommu)");
                return -ENOENT;
        }
        r = backend_vfio_new(env_or("IOVAD_SYSFS_ROOT", "/sys"), &m->backend);
        if (r < 0)
                return log_error_errno(r, "Cannot use VFIO type1 on this machine");
        return 0;
}

/*
 * The fds systemd passed back from the fd store (FDSTORE=1 before the
 * restart): the memfds of mapped leases, named "lease-ID".
 */
typedef struct StoredFds {
        char **names;
        int n;
} StoredFds;

static void stored_fds_load(StoredFds *s) {
        int n = sd_listen_fds_with_names(true, &s->names);

        if (n < 0) {
                log_warning("Ignoring the fds passed by the service manager: %s", strerror(-n));
                n = 0;
        }
        s->n = n;
        if (n > 0)
                log_info("The service manager passed %d stored fd%s", n, n == 1 ? "" : "s");
}

/* The memfd of lease @id, now the caller's; -1 when there is none. */
static int stored_fds_take(StoredFds *s, uint64_t id) {
        char name[32];

        snprintf(name, sizeof(name), "lease-%" PRIu64, id);
        for (int i = 0; i < s->n; i++)
                if (s->names[i] && strcmp(s->names[i], name) == 0) {
                        free(s->names[i]);
                        s->names[i] = NULL;
                        return SD_LISTEN_FDS_START + i;
                }
        return -1;
}

/* What no restored lease took: closed, and dropped from the store. */
static void stored_fds_done(StoredFds *s) {
        for (int i = 0; i < s->n; i++) {
                if (!s->names[i])
                        continue;
                log_info("Dropping stored fd %s: no lease of it is left", s->names[i]);
                safe_close(SD_LISTEN_FDS_START + i);
                (void) sd_notifyf(false, "FDSTOREREMOVE=1\nFDNAME=%s", s->names[i]);
                free(s->names[i]);
        }
        free(s->names);
        *s = (StoredFds) {};
}

/*
 * One lease back where it was, with its id (and so its object path); its
 * memory mapped again when the fd store kept it.
 */
static int restore_lease(Manager *m, Container *c, uint64_t id, uid_t owner, Client *client, uint64_t iova,
                         uint64_t size, bool mapped, bool writable, uint64_t offset, StoredFds *fds) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        IovadError e = {};
        int memfd = -1, r;
        Lease *l;

        o.fixed = true;
        o.iova = iova;
        o.persistent = !client;
        o.readonly = !writable;
        if (mapped) {
                memfd = stored_fds_take(fds, id);
                if (memfd < 0)
                        log_warning("Lease %" PRIu64 " was mapped, but its memory is not in the fd store (iovad ran "
                                    "without a service manager, or was stopped): keeping its IOVA range reserved, unmapped",
                                    id);
        }
        m->next_lease_id = id; /* keep its object path */
        r = container_lease(c, owner, client, size, &o, memfd, memfd >= 0 ? offset : 0, &l, &e);
        if (r < 0)
                log_error("Cannot restore lease %" PRIu64 ": %s", id, e.message);
        return r;
}

/*
 * Leases of connections: back for every client still on the bus, with the
 * same Client tracking as before; a client that left while iovad was away
 * gets nothing back, its memory dropped from the fd store.
 */
static size_t restore_connection_leases(Manager *m, StoredFds *fds, uint64_t *max_id) {
        _cleanup_free_ JournalLease *jl = NULL;
        _cleanup_free_ char *msg = NULL;
        size_t n = 0, restored = 0;
        int r;

        r = lease_journal_load(m->runtime_dir, m->bus_id, &jl, &n, max_id, &msg);
        if (r == -ENOENT)
                return 0;
        if (r == -ESTALE) {
                log_info("The lease journal is of an earlier bus: its connections are gone, and their leases");
                return 0;
        }
        if (r < 0) {
                log_error("Ignoring the lease journal: %s", msg ? msg : strerror(-r));
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                Container *c = manager_find_container(m, jl[i].container);
                Client *client;

                if (!c) {
                        log_error("Lease %" PRIu64 " belongs to unknown container '%s': dropped", jl[i].id,
                                  jl[i].container);
                        continue;
                }
                /* Track first, then ask: the client cannot slip away in between. */
                r = manager_get_client(m, jl[i].client, jl[i].owner, &client);
                if (r < 0) {
                        log_error("Cannot track %s: %s", jl[i].client, strerror(-r));
                        continue;
                }
                if (!client->leases) {
                        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                        int has = 0;
                        r = sd_bus_call_method(m->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                               "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s",
                                               jl[i].client);
                        if (r >= 0)
                                r = sd_bus_message_read(reply, "b", &has);
                        if (r < 0 || !has) {
                                log_info("%s left the bus while iovad was away: lease %" PRIu64 " is released",
                                         jl[i].client, jl[i].id);
                                client_free(client);
                                continue;
                        }
                }
                if (restore_lease(m, c, jl[i].id, jl[i].owner, client, jl[i].iova, jl[i].size, jl[i].mapped,
                                  jl[i].writable, jl[i].offset, fds) >= 0)
                        restored++;
                if (!client->leases)
                        client_free(client);
        }
        return restored;
}

/* Bring back containers, persistent leases and bound devices from the state file, then the connections' leases. */
static void restore_state(Manager *m) {
        _cleanup_free_ char *msg = NULL;
        StoredFds fds = {};
        State s = {};
        size_t n_persistent = 0, n_connection = 0;
        uint64_t max_id = 0;
        sd_id128_t bus_id;
        int r;

        r = sd_bus_get_bus_id(m->bus, &bus_id);
        if (r < 0) {
                log_error_errno(r, "Cannot learn the bus's id: leases of connections will not survive a restart");
                return;
        }
        sd_id128_to_string(bus_id, m->bus_id);
        stored_fds_load(&fds);

        m->restoring = true;
        r = state_load(m->state_dir, &s, &msg);
        if (r < 0 && r != -ENOENT)
                log_error("Ignoring %s/state.json: %s", m->state_dir, msg ? msg : strerror(-r));
        for (size_t i = 0; i < s.n_containers; i++) {
                StateContainer *sc = &s.containers[i];
                IovadError e = {};
                Container *c;

                if (container_new(m, sc->name, sc->users, sc->n_users, &c, &e) < 0 || manager_add_container(m, c) < 0) {
                        log_error("Cannot restore container '%s': %s", sc->name, e.message);
                        continue;
                }
                for (size_t k = 0; k < sc->n_groups; k++)
                        if (container_attach(c, sc->groups[k], &e) < 0)
                                log_error("Cannot re-attach group %u to '%s': %s", sc->groups[k], sc->name, e.message);
        }
        for (size_t i = 0; i < s.n_leases; i++) {
                StateLease *sl = &s.leases[i];
                Container *c = manager_find_container(m, sl->container);

                if (!c) {
                        log_error("Lease %" PRIu64 " belongs to unknown container '%s': dropped", sl->id, sl->container);
                        continue;
                }
                if (restore_lease(m, c, sl->id, sl->owner, NULL, sl->iova, sl->size, sl->mapped, sl->writable,
                                  sl->offset, &fds) >= 0)
                        n_persistent++;
        }
        /* Only what is still on vfio-pci has a driver to go back to. */
        m->rebind = calloc(s.n_rebinds ? s.n_rebinds : 1, sizeof(Rebind));
        for (size_t i = 0; m->rebind && i < s.n_rebinds; i++) {
                const SysfsDevice *d = sysfs_find_device(m->platform, s.rebinds[i].address);
                if (!d || strcmp(d->driver, "vfio-pci") != 0) {
                        log_info("%s is no longer on vfio-pci: forgetting that Bind took it from %s",
                                 s.rebinds[i].address, s.rebinds[i].driver[0] ? s.rebinds[i].driver : "no driver");
                        continue;
                }
                m->rebind[m->n_rebind++] = s.rebinds[i];
        }
        n_connection = restore_connection_leases(m, &fds, &max_id);

        /* Never hand out an id again that a client might still hold. */
        if (s.next_lease_id > m->next_lease_id)
                m->next_lease_id = s.next_lease_id;
        if (max_id >= m->next_lease_id)
                m->next_lease_id = max_id + 1;
        m->restoring = false;
        stored_fds_done(&fds);
        log_info("Restored %zu container%s, %zu persistent lease%s, %zu lease%s of connections and %zu bound device%s",
                 m->n_containers, m->n_containers == 1 ? "" : "s", n_persistent, n_persistent == 1 ? "" : "s",
                 n_connection, n_connection == 1 ? "" : "s", m->n_rebind, m->n_rebind == 1 ? "" : "s");
        state_done(&s);
        manager_save_state(m);
        (void) manager_compact_journal(m);
}

static int run(int argc, char **argv) {
        Args a = {};
        Manager *m = NULL;
        _cleanup_free_ char *msg = NULL;
        int r;

        r = parse_args(argc, argv, &a);
        if (r <= 0)
                return r;

        r = manager_new(&m);
        if (r < 0)
                return log_error_errno(r, "Cannot allocate the manager");
        m->state_dir = strdup(a.state_dir ? a.state_dir : env_or("STATE_DIRECTORY", IOVAD_STATE_DIR));
        m->runtime_dir = strdup(a.runtime_dir ? a.runtime_dir : env_or("RUNTIME_DIRECTORY", IOVAD_RUNTIME_DIR));
        m->polkit = !a.no_polkit;
        if (!m->state_dir || !m->runtime_dir) {
                r = -ENOMEM;
                goto finish;
        }
        r = mkdir_p(m->state_dir, 0700);
        if (r >= 0)
                r = mkdir_p(m->runtime_dir, 0755);
        if (r < 0) {
                log_error_errno(r, "Cannot create %s or %s", m->state_dir, m->runtime_dir);
                goto finish;
        }
        r = config_load(&m->config, a.config ? a.config : IOVAD_CONFIG_FILE, &msg);
        if (r < 0) {
                log_error("Configuration %s is invalid: %s", a.config ? a.config : IOVAD_CONFIG_FILE,
                          msg ? msg : strerror(-r));
                goto finish;
        }

        r = setup_backend(m, &a);
        if (r < 0)
                goto finish;
        IovadError e = {};
        r = manager_refresh_platform(m, &e);
        if (r < 0) {
                log_error("%s", e.message);
                goto finish;
        }

        r = sd_event_default(&m->event);
        if (r < 0)
                goto finish;
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        (void) sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_set_watchdog(m->event, true);

        r = sd_bus_open_system(&m->bus);
        if (r < 0) {
                log_error_errno(r, "Cannot connect to the system bus");
                goto finish;
        }
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                goto finish;
        r = manager_bus_setup(m);
        if (r < 0)
                goto finish;

        restore_state(m);

        /* Objects first, name last: a caller that sees the name finds everything in place. */
        r = sd_bus_request_name(m->bus, IOVAD_BUS_NAME, 0);
        if (r < 0) {
                log_error_errno(r, "Cannot own %s (is another iovad running, or does the bus policy forbid it?)",
                                IOVAD_BUS_NAME);
                goto finish;
        }
        log_info("iovad %s on %s (%s), %zu devices, %zu IOMMU groups", IOVAD_VERSION, m->backend->ops->name,
                 m->backend->platform, m->platform->n_devices, m->platform->n_groups);
        (void) sd_notifyf(false, "READY=1\nSTATUS=Serving %zu containers on %s", m->n_containers,
                          m->backend->ops->name);

        r = sd_event_loop(m->event);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down");
        /* Leases stay in the journal and the fd store for the next start. */
        m->stopping = true;
        log_info("Shutting down");

finish:
        manager_free(m);
        return r;
}

int main(int argc, char **argv) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
