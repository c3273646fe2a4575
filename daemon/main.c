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

/* Bring back containers and persistent leases from the state file. */
static void restore_state(Manager *m) {
        _cleanup_free_ char *msg = NULL;
        State s = {};
        int r;

        r = state_load(m->state_dir, &s, &msg);
        if (r == -ENOENT)
                return;
        if (r < 0) {
                log_error("Ignoring %s/state.json: %s", m->state_dir, msg ? msg : strerror(-r));
                return;
        }
        m->rebind = calloc(s.n_rebinds ? s.n_rebinds : 1, sizeof(Rebind));
        if (!m->rebind) {
                log_error("Out of memory restoring %s/state.json", m->state_dir);
                state_done(&s);
                return;
        }
        m->restoring = true;
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
                LeaseOptions o = LEASE_OPTIONS_INIT;
                IovadError e = {};
                Lease *l;

                if (!c) {
                        log_error("Lease %" PRIu64 " belongs to unknown container '%s': dropped", sl->id, sl->container);
                        continue;
                }
                o.fixed = true;
                o.iova = sl->iova;
                o.persistent = true;
                o.readonly = !sl->writable;
                if (sl->mapped)
                        log_warning("Lease %" PRIu64 " was mapped, but its memory did not survive the restart: "
                                    "keeping its IOVA range reserved, unmapped",
                                    sl->id);
                m->next_lease_id = sl->id; /* keep its object path */
                if (container_lease(c, sl->owner, NULL, sl->size, &o, -1, 0, &l, &e) < 0)
                        log_error("Cannot restore lease %" PRIu64 ": %s", sl->id, e.message);
        }
        if (s.next_lease_id > m->next_lease_id)
                m->next_lease_id = s.next_lease_id;
        /* Only what is still on vfio-pci has a driver to go back to. */
        for (size_t i = 0; i < s.n_rebinds; i++) {
                const SysfsDevice *d = sysfs_find_device(m->platform, s.rebinds[i].address);
                if (!d || strcmp(d->driver, "vfio-pci") != 0) {
                        log_info("%s is no longer on vfio-pci: forgetting that Bind took it from %s",
                                 s.rebinds[i].address, s.rebinds[i].driver[0] ? s.rebinds[i].driver : "no driver");
                        continue;
                }
                m->rebind[m->n_rebind++] = s.rebinds[i];
        }
        m->restoring = false;
        log_info("Restored %zu container%s, %zu persistent lease%s and %zu bound device%s", m->n_containers,
                 m->n_containers == 1 ? "" : "s", s.n_leases, s.n_leases == 1 ? "" : "s", m->n_rebind,
                 m->n_rebind == 1 ? "" : "s");
        state_done(&s);
        manager_save_state(m);
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
        log_info("Shutting down");

finish:
        manager_free(m);
        return r;
}

int main(int argc, char **argv) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
