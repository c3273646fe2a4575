/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iovactl: the command-line client of iovad. Parses the command line,
 * connects to the bus and hands over to one verb (verb-*.c).
 */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "iovactl.h"
#include "iovad-bus.h"
#include "util/macro.h"

typedef struct Verb {
        const char *name;
        unsigned min_args, max_args; /* after the verb itself */
        int (*run)(Iovactl *c, int argc, char **argv);
        VerbOption options;
} Verb;

static const Verb verbs[] = {
        { "status", 0, 0, verb_status, 0 },
        { "devices", 0, 0, verb_devices, 0 },
        { "device", 1, 1, verb_device, 0 },
        { "open", 1, 1, verb_open, OPT_HOLD },
        { "bind", 1, 1, verb_bind, 0 },
        { "unbind", 1, 1, verb_unbind, 0 },
        { "delegate", 2, 2, verb_delegate, 0 },
        { "undelegate", 1, 1, verb_undelegate, 0 },
        { "open-delegated", 1, 4096, verb_open_delegated, OPT_HOLD },
        { "group-regions", 1, 1, verb_group_regions, 0 },
        { "peer-to-peer", 1, 1, verb_group_p2p, 0 },
        { "containers", 0, 0, verb_containers, 0 },
        { "create", 1, 1, verb_create, OPT_USER | OPT_RESERVE_PEER_WINDOWS },
        { "destroy", 1, 1, verb_destroy, 0 },
        { "show", 1, 1, verb_show, 0 },
        { "attach", 2, 2, verb_attach, 0 },
        { "detach", 2, 2, verb_detach, 0 },
        { "check-attach", 2, 2, verb_check_attach, 0 },
        { "layout", 1, 1, verb_layout, 0 },
        { "lease", 2, 2, verb_lease, OPT_ALIGN | OPT_LIMIT | OPT_IOVA | OPT_PERSISTENT | OPT_HOLD },
        { "map", 2, 2, verb_map, OPT_ALIGN | OPT_LIMIT | OPT_IOVA | OPT_PERSISTENT | OPT_READONLY | OPT_HOLD },
        { "allocate", 2, 2, verb_allocate, OPT_LIMIT | OPT_READONLY | OPT_HUGEPAGES | OPT_HOLD },
        { "leases", 1, 1, verb_leases, 0 },
        { "release", 1, UINT16_MAX, verb_release, 0 },
};

static const struct {
        VerbOption option;
        const char *name;
} option_names[] = {
        { OPT_USER, "--user" },
        { OPT_ALIGN, "--align" },
        { OPT_LIMIT, "--limit" },
        { OPT_IOVA, "--iova" },
        { OPT_PERSISTENT, "--persistent" },
        { OPT_READONLY, "--readonly" },
        { OPT_HUGEPAGES, "--hugepages" },
        { OPT_HOLD, "--hold" },
        { OPT_RESERVE_PEER_WINDOWS, "--reserve-peer-windows" },
};

static void help(void) {
        printf("iovactl [OPTIONS...] COMMAND ...\n"
               "\n"
               "Ask iovad, the IOMMU and VFIO broker, for IOVA space, DMA-mapped memory and\n"
               "VFIO devices, and see how each container's IOVA space is laid out.\n"
               "\n"
               "Daemon and devices:\n"
               "  status                   Show iovad's version, backend and platform\n"
               "  devices                  List PCI devices in IOMMU groups\n"
               "  device ADDRESS           Show a device (address as lspci prints it)\n"
               "  open ADDRESS             Open a device's VFIO fd and show it [--hold]\n"
               "  bind ADDRESS             Hand a device to vfio-pci\n"
               "  unbind ADDRESS           Give a device back to the driver it had\n"
               "  delegate ADDRESS UID     Let a user run the device with its own iommufd\n"
               "                           (iommufd backend; privileged)\n"
               "  undelegate ADDRESS       End that, once nobody holds the device\n"
               "  open-delegated ADDRESS [-- COMMAND...]\n"
               "                           Get /dev/iommu and the device's cdev, delegated to\n"
               "                           you; run COMMAND with them as fds 3 and 4 [--hold]\n"
               "  group-regions GROUP      Show the reserved regions of an IOMMU group\n"
               "  peer-to-peer GROUP       Show whether a group's DMA can reach other devices\n"
               "                           without the IOMMU, and the windows it would alias\n"
               "\n"
               "Containers:\n"
               "  containers               List containers\n"
               "  create NAME              Create a container [--user UID|NAME ...\n"
               "                           --reserve-peer-windows]\n"
               "  destroy NAME             Destroy a container\n"
               "  show NAME                Show a container: groups, aperture, page sizes,\n"
               "                           DMA mappings left, users, reserved regions and\n"
               "                           usable ranges\n"
               "  attach NAME GROUP        Attach an IOMMU group\n"
               "  detach NAME GROUP        Detach an IOMMU group\n"
               "  check-attach NAME GROUP  Show what attaching a group would conflict with\n"
               "  layout NAME              Draw the container's IOVA space on a log scale\n"
               "\n"
               "Leases:\n"
               "  lease NAME SIZE          Lease IOVA space, nothing mapped\n"
               "                           [--align --limit --iova --persistent --hold]\n"
               "  map NAME SIZE            Make a sealed memfd of SIZE bytes and map it\n"
               "                           [--align --limit --iova --persistent --readonly\n"
               "                           --hold]\n"
               "  allocate NAME SIZE       Have iovad allocate and map SIZE bytes\n"
               "                           [--limit --readonly --hugepages --hold]\n"
               "  leases NAME              List the container's leases you may see\n"
               "  release LEASE...         Release leases, by id or object path (all or none)\n"
               "\n"
               "Options:\n"
               "  -h --help                Show this help\n"
               "     --version             Show the version\n"
               "     --json[=pretty|short] Print JSON (pretty on a terminal, else short)\n"
               "     --no-legend           No column headers, footers or keys\n"
               "     --no-ask-password     Do not let polkit ask for a password\n"
               "     --user=UID|NAME       create: a user allowed to use the container;\n"
               "                           repeat for more (default: you)\n"
               "     --reserve-peer-windows\n"
               "                           create: keep the MMIO windows the groups' DMA\n"
               "                           could reach without the IOMMU free of leases\n"
               "     --align=SIZE          Alignment of the IOVA (a power of two)\n"
               "     --limit=ADDRESS       Highest IOVA the lease may reach, inclusive\n"
               "                           (0xffffffff for a device with 32-bit DMA)\n"
               "     --iova=ADDRESS        Lease at this address instead of searching\n"
               "     --persistent          Keep the lease after iovactl exits (privileged)\n"
               "     --readonly            Devices may only read the memory\n"
               "     --hugepages           Back the memory with huge pages\n"
               "     --hold                Stay connected until Ctrl-C or SIGTERM, keeping\n"
               "                           the lease or fd alive\n"
               "\n"
               "SIZE and ADDRESS are decimal or 0x-prefixed hex; decimal ones may end in K,\n"
               "M, G, T, P or E, powers of 1024 (also written KiB or KB): 4K, 2M, 1G, 0x1000.\n"
               "\n"
               "A lease belongs to the bus connection that made it unless it is persistent:\n"
               "without --hold or --persistent, a lease made by iovactl ends as it exits.\n"
               "\n"
               "Exit status:\n"
               "  0  success\n"
               "  1  iovad refused or failed the request (its error is printed), or a local\n"
               "     error\n"
               "  2  invalid command line\n"
               "  3  iovad could not be reached (no bus, not running, activation failed)\n"
               "  4  check-attach: the group cannot attach; the conflicts are listed\n"
               "\n"
               "Environment:\n"
               "  DBUS_SYSTEM_BUS_ADDRESS  talk to iovad on this bus instead of the system bus\n"
               "  NO_COLOR                 no colours in \"layout\"\n");
}

static int add_user(Iovactl *c, const char *arg) {
        uint32_t uid;
        uint32_t *u;

        if (parse_u32(arg, &uid) < 0) {
                /* Not a number: a user name. */
                struct passwd *pw = getpwnam(arg);
                if (!pw)
                        return usage_error(c, "No such user: '%s'.", arg);
                uid = pw->pw_uid;
        }
        u = reallocarray(c->users, c->n_users + 1, sizeof(uint32_t));
        if (!u)
                return log_errno(-ENOMEM, "Out of memory");
        c->users = u;
        c->users[c->n_users++] = uid;
        return 0;
}

static int parse_argv(Iovactl *c, int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_JSON,
                ARG_NO_LEGEND,
                ARG_NO_ASK_PASSWORD,
                ARG_USER,
                ARG_ALIGN,
                ARG_LIMIT,
                ARG_IOVA,
                ARG_PERSISTENT,
                ARG_READONLY,
                ARG_HUGEPAGES,
                ARG_HOLD,
                ARG_RESERVE_PEER_WINDOWS,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", optional_argument, NULL, ARG_JSON },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
                { "user", required_argument, NULL, ARG_USER },
                { "align", required_argument, NULL, ARG_ALIGN },
                { "limit", required_argument, NULL, ARG_LIMIT },
                { "iova", required_argument, NULL, ARG_IOVA },
                { "persistent", no_argument, NULL, ARG_PERSISTENT },
                { "readonly", no_argument, NULL, ARG_READONLY },
                { "hugepages", no_argument, NULL, ARG_HUGEPAGES },
                { "hold", no_argument, NULL, ARG_HOLD },
                { "reserve-peer-windows", no_argument, NULL, ARG_RESERVE_PEER_WINDOWS },
                {}
        };
        int opt, r;

        /* Report bad options ourselves, in the same form as every other usage error. */
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("iovactl %s\n", IOVAD_VERSION);
                        return 0;
                case ARG_JSON:
                        c->json = true;
                        if (!optarg)
                                c->json_flags = isatty(STDOUT_FILENO) ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
                                                                      : JSON_C_TO_STRING_PLAIN;
                        else if (strcmp(optarg, "pretty") == 0)
                                c->json_flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;
                        else if (strcmp(optarg, "short") == 0)
                                c->json_flags = JSON_C_TO_STRING_PLAIN;
                        else
                                return usage_error(c, "--json takes 'pretty' or 'short', not '%s'.", optarg);
                        c->json_flags |= JSON_C_TO_STRING_NOSLASHESCAPE;
                        break;
                case ARG_NO_LEGEND:
                        c->legend = false;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        c->ask_password = false;
                        break;
                case ARG_USER:
                        r = add_user(c, optarg);
                        if (r < 0)
                                return r;
                        c->options |= OPT_USER;
                        break;
                case ARG_ALIGN:
                        r = parse_size_arg(c, "alignment", optarg, &c->align);
                        if (r < 0)
                                return r;
                        c->options |= OPT_ALIGN;
                        break;
                case ARG_LIMIT:
                        r = parse_size_arg(c, "address limit", optarg, &c->limit);
                        if (r < 0)
                                return r;
                        c->options |= OPT_LIMIT;
                        break;
                case ARG_IOVA:
                        r = parse_size_arg(c, "IOVA", optarg, &c->iova);
                        if (r < 0)
                                return r;
                        c->options |= OPT_IOVA;
                        break;
                case ARG_PERSISTENT:
                        c->persistent = true;
                        c->options |= OPT_PERSISTENT;
                        break;
                case ARG_READONLY:
                        c->readonly = true;
                        c->options |= OPT_READONLY;
                        break;
                case ARG_HUGEPAGES:
                        c->hugepages = true;
                        c->options |= OPT_HUGEPAGES;
                        break;
                case ARG_HOLD:
                        c->hold = true;
                        c->options |= OPT_HOLD;
                        break;
                case ARG_RESERVE_PEER_WINDOWS:
                        c->reserve_peer_windows = true;
                        c->options |= OPT_RESERVE_PEER_WINDOWS;
                        break;
                case ':':
                        return usage_error(c, "Option '%s' needs an argument. Try 'iovactl --help'.", argv[optind - 1]);
                case '?':
                        if (optopt)
                                return usage_error(c, "Unknown option '-%c'. Try 'iovactl --help'.", optopt);
                        return usage_error(c, "Unknown option '%s'. Try 'iovactl --help'.", argv[optind - 1]);
                default:
                        /* getopt_long() returned something not in the table: a bug here. */
                        abort();
                }
        return 1;
}

static const Verb *find_verb(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i].name, name) == 0)
                        return &verbs[i];
        return NULL;
}

static int dispatch(Iovactl *c, int argc, char **argv) {
        const Verb *v;
        unsigned n;

        if (argc <= 0)
                return usage_error(c, "Missing command. Try 'iovactl --help'.");
        v = find_verb(argv[0]);
        if (!v)
                return usage_error(c, "Unknown command '%s'. Try 'iovactl --help'.", argv[0]);
        n = (unsigned) argc - 1;
        if (n < v->min_args)
                return usage_error(c, "Too few arguments for '%s'. Try 'iovactl --help'.", v->name);
        if (n > v->max_args)
                return usage_error(c, "Too many arguments for '%s'. Try 'iovactl --help'.", v->name);
        for (size_t i = 0; i < ELEMENTSOF(option_names); i++)
                if ((c->options & option_names[i].option) && !(v->options & option_names[i].option))
                        return usage_error(c, "%s does not apply to '%s'.", option_names[i].name, v->name);

        /* Verbs connect on their first call, after checking their arguments. */
        return v->run(c, argc, argv);
}

int main(int argc, char *argv[]) {
        Iovactl c = {
                .legend = true,
                .ask_password = isatty(STDIN_FILENO),
                .json_flags = JSON_C_TO_STRING_PLAIN,
        };
        int r;

        /* Only for the character set, which decides between block characters and ASCII. */
        setlocale(LC_CTYPE, "");

        /* The daemon's error names map back to errnos, and their messages print as sent. */
        r = sd_bus_error_add_map(iovad_bus_errors);
        if (r < 0) {
                log_errno(r, "Failed to register error map");
                return EXIT_REFUSED;
        }

        r = parse_argv(&c, argc, argv);
        if (r > 0)
                r = dispatch(&c, argc - optind, argv + optind);

        free(c.users);
        iovad_free(c.iovad);
        if (r < 0)
                return c.exit_code ?: EXIT_REFUSED;
        return r;
}
