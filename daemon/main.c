/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "persist/fd-store.h"
#include "util/fs-util.h"
#include "iovad-bus.h"
#include "util/log.h"
#include "model/manager.h"
#include "bus/server.h"
#include "platform/cdi.h"

typedef struct Args {
        const char *simulate;
        const char *backend;
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
               "  --backend=KIND       the kernel interface: auto (default: iommufd where /dev/iommu\n"
               "                       and the devices' VFIO cdevs exist, else vfio-type1),\n"
               "                       iommufd or vfio-type1\n"
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
        enum { ARG_SIMULATE = 0x100, ARG_BACKEND, ARG_STATE_DIR, ARG_RUNTIME_DIR, ARG_CONFIG, ARG_LOG_LEVEL, ARG_NO_POLKIT, ARG_VERSION };
        static const struct option options[] = {
                { "simulate", required_argument, NULL, ARG_SIMULATE },
                { "backend", required_argument, NULL, ARG_BACKEND },
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
                case ARG_BACKEND:
                        if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "iommufd") != 0 &&
                            strcmp(optarg, "vfio-type1") != 0) {
                                fprintf(stderr, "iovad: unknown backend '%s' (auto, iommufd or vfio-type1)\n", optarg);
                                return -EINVAL;
                        }
                        a->backend = optarg;
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

/*
 * fds kept free of mapped leases' memory: the bus connection and the fds
 * of messages on their way in (the system bus lets one carry 16), memfds
 * being made and sent, sysfs and state files, VFIO group and device fds.
 */
#define FD_HEADROOM 256

static const char *env_or(const char *name, const char *fallback) {
        const char *v = getenv(name);
        /* systemd may list several directories, separated by ':'; the first is ours. */
        return v && *v && !strchr(v, ':') ? v : fallback;
}

/* Why --backend=auto took what it took, and what iommufd charges pinned pages to. */
static void log_backend_choice(const Args *a, const char *sysfs_root, const Backend *b) {
        _cleanup_free_ char *why = NULL;
        const char *acct = backend_iommufd_accounting(b);

        if (acct)
                log_info("iommufd: the kernel charges the pages iovad pins to %s", acct);
        if (a->simulate || (a->backend && strcmp(a->backend, "auto") != 0) || acct)
                return;
        if (backend_iommufd_usable(sysfs_root, &why) == 0 && why)
                log_info("Backend vfio-type1 (auto): no iommufd, since %s", why);
}

static int open_backend(const Args *a, const char *runtime_dir, Backend **ret) {
        _cleanup_free_ char *msg = NULL;
        const char *profiles = env_or("IOVAD_PROFILES_DIR", IOVAD_PROFILES_DIR);

        const char *sysfs_root = env_or("IOVAD_SYSFS_ROOT", "/sys");
        int r;

        r = backend_open(a->simulate, a->backend, profiles, runtime_dir, sysfs_root, ret, &msg);
        if (r < 0) {
                log_error("%s", msg ? msg : strerror(-r));
                return r;
        }
        log_backend_choice(a, sysfs_root, *ret);
        return r;
}

/*
 * The host's end of the system bus for the CDI spec's bind mount: the
 * first unix:path= address of DBUS_SYSTEM_BUS_ADDRESS, else where the
 * system bus is. NULL when the bus is on no socket file a container could
 * be given (an abstract socket, TCP).
 */
static char *system_bus_socket(void) {
        const char *a = getenv("DBUS_SYSTEM_BUS_ADDRESS");
        const char *p;

        if (!a || !*a)
                return strdup(CDI_DEFAULT_BUS_SOCKET);
        if (strncmp(a, "unix:", 5) != 0)
                return NULL;
        p = strstr(a, "path=");
        if (!p || (p != a + 5 && p[-1] != ','))
                return NULL;
        p += 5;
        /* The path ends at the address's next key (',') or the next address (';'). */
        return strndup(p, strcspn(p, ",;"));
}

/*
 * The CDI spec goes to cdi.spec_dir; by default to /run/cdi, where
 * container runtimes look, except on the simulated backend, whose devices
 * no runtime could use: there it goes below the runtime directory.
 */
static int setup_cdi(Manager *m, const Args *a, const char *runtime_dir) {
        _cleanup_free_ char *dir = NULL, *socket = NULL;
        const char *conf = m->config.cdi_spec_dir;

        if (conf && !*conf)
                return 0;
        if (conf)
                dir = strdup(conf);
        else if (a->simulate) {
                if (asprintf(&dir, "%s/cdi", runtime_dir) < 0)
                        dir = NULL;
        } else
                dir = strdup(CDI_DEFAULT_SPEC_DIR);
        if (!dir)
                return -ENOMEM;
        socket = system_bus_socket();
        if (!socket || socket[0] != '/') {
                log_warning("The system bus (DBUS_SYSTEM_BUS_ADDRESS=%s) is on no socket file: no CDI spec",
                            getenv("DBUS_SYSTEM_BUS_ADDRESS"));
                return 0;
        }
        return manager_set_cdi(m, dir, IOVAD_CDI_HOOK, socket);
}

static int run(int argc, char **argv) {
        _cleanup_free_ char *msg = NULL;
        Args a = {};
        Config config;
        Backend *backend = NULL;
        Manager *m = NULL;
        Server *s = NULL;
        FdStore *fds = NULL;
        sd_event *event = NULL;
        IovadError e = {};
        int r;

        r = parse_args(argc, argv, &a);
        if (r <= 0)
                return r;

        const char *state_dir = a.state_dir ? a.state_dir : env_or("STATE_DIRECTORY", IOVAD_STATE_DIR);
        const char *runtime_dir = a.runtime_dir ? a.runtime_dir : env_or("RUNTIME_DIRECTORY", IOVAD_RUNTIME_DIR);
        r = mkdir_p(state_dir, 0700);
        if (r >= 0)
                r = mkdir_p(runtime_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s or %s", state_dir, runtime_dir);

        config_init(&config);
        r = config_load(&config, a.config ? a.config : IOVAD_CONFIG_FILE, &msg);
        if (r < 0) {
                log_error("Configuration %s is invalid: %s", a.config ? a.config : IOVAD_CONFIG_FILE,
                          msg ? msg : strerror(-r));
                config_done(&config);
                return r;
        }
        r = open_backend(&a, runtime_dir, &backend);
        if (r < 0) {
                config_done(&config);
                return r;
        }
        r = manager_new(backend, &config, state_dir, runtime_dir, &m);
        if (r < 0) {
                backend_free(backend);
                config_done(&config);
                return log_error_errno(r, "Cannot allocate the manager");
        }
        r = setup_cdi(m, &a, runtime_dir);
        if (r < 0)
                goto finish;
        r = manager_refresh_platform(m, &e);
        if (r < 0) {
                log_error("%s", e.message);
                goto finish;
        }
        r = manager_set_fd_budget(m, FD_HEADROOM);
        if (r < 0)
                log_warning("Cannot read the fd limit, so iovad keeps no fd budget: %s", strerror(-r));
        else
                log_debug("Memory of up to %zu mapped leases fits in the fd limit", m->memfd_budget);

        r = sd_event_default(&event);
        if (r < 0)
                goto finish;
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_set_watchdog(event, true);

        r = fd_store_load(&fds);
        if (r < 0) {
                log_warning("Ignoring the fds passed by the service manager: %s", strerror(-r));
                r = fd_store_new(NULL, NULL, 0, &fds);
                if (r < 0)
                        goto finish;
        } else if (fd_store_untaken(fds) > 0)
                log_info("The service manager passed %zu stored fd%s", fd_store_untaken(fds),
                         fd_store_untaken(fds) == 1 ? "" : "s");

        r = server_new(event, m, &(ServerOptions) { .polkit = !a.no_polkit }, fds, &s);
        fds = fd_store_free(fds);
        if (r < 0)
                goto finish;

        log_info("iovad %s on %s (%s), %zu devices, %zu IOMMU groups", IOVAD_VERSION, m->backend->ops->name,
                 m->backend->platform, m->platform->n_devices, m->platform->n_groups);
        (void) sd_notifyf(false, "READY=1\nSTATUS=Serving %zu containers on %s", m->n_containers,
                          m->backend->ops->name);

        r = sd_event_loop(event);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down");
        /* Leases stay in the journal and the fd store for the next start. */
        m->stopping = true;
        if (r > 0) {
                /* sd-bus ends the loop when iovad loses its bus: fail, so that systemd restarts us. */
                log_error("Lost the connection to the bus: exiting, so that the service manager starts iovad again");
                r = -ENOTCONN;
                /* As after a crash: the next iovad adopts the kernel's containers, mappings and all. */
                manager_keep_kernel(m);
        } else {
                log_info("Shutting down");
                /* A stopped iovad keeps no group and no DMA mapping (docs/state.md): the containers go with it. */
                manager_release_kernel_fds(m);
        }

finish:
        server_free(s);
        fd_store_free(fds);
        manager_free(m);
        sd_event_unref(event);
        return r;
}

int main(int argc, char **argv) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
