/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* delegate, undelegate, open-delegated: a device's VFIO cdev for a VMM that maps its own memory. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iovactl.h"
#include "iovad-bus.h"
#include "util/macro.h"

/* The fds open-delegated gives the command it runs. */
#define DELEGATE_IOMMUFD_FD 3
#define DELEGATE_DEVICE_FD 4

int verb_delegate(Iovactl *c, int argc, char **argv) {
        _cleanup_free_ char *path = NULL, *address = NULL;
        uint32_t uid;
        int r;

        if (parse_u32(argv[2], &uid) < 0) {
                struct passwd *pw = getpwnam(argv[2]);
                if (!pw)
                        return usage_error(c, "No such user: '%s'.", argv[2]);
                uid = pw->pw_uid;
        }
        r = device_path(c, argv[1], &path, &address);
        if (r < 0)
                return r;
        r = bus_call(c, path, IOVAD_DEVICE_IFACE, "Delegate", NULL, "u", uid);
        if (r < 0)
                return r;
        if (!c->json)
                printf("Delegated %s to uid %u.\n", address, uid);
        return 0;
}

int verb_undelegate(Iovactl *c, int argc, char **argv) {
        _cleanup_free_ char *path = NULL, *address = NULL;
        int r;

        r = device_path(c, argv[1], &path, &address);
        if (r < 0)
                return r;
        r = bus_call(c, path, IOVAD_DEVICE_IFACE, "Undelegate", NULL, NULL);
        if (r < 0)
                return r;
        if (!c->json)
                printf("%s is no longer delegated.\n", address);
        return 0;
}

/* @fd moved to @target, inherited by what is executed next. */
static int move_fd(int fd, int target) {
        if (fd == target)
                return fcntl(fd, F_SETFD, 0) < 0 ? -errno : 0;
        if (dup2(fd, target) < 0)
                return -errno;
        return 0;
}

int verb_open_delegated(Iovactl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *path = NULL, *address = NULL;
        _cleanup_close_ int iommufd = -1, device = -1;
        int r, rx_iommufd, rx_device;
        uint64_t start, end;
        const char *type;

        r = device_path(c, argv[1], &path, &address);
        if (r < 0)
                return r;
        r = bus_call(c, path, IOVAD_DEVICE_IFACE, "OpenDelegated", &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "hh", &rx_iommufd, &rx_device);
        if (r < 0)
                return log_parse_error(r);
        /* Above the targets, so that moving one cannot overwrite the other. */
        iommufd = fcntl(rx_iommufd, F_DUPFD_CLOEXEC, DELEGATE_DEVICE_FD + 1);
        device = fcntl(rx_device, F_DUPFD_CLOEXEC, DELEGATE_DEVICE_FD + 1);
        if (iommufd < 0 || device < 0)
                return log_errno(-errno, "Failed to duplicate the delegated fds");

        r = sd_bus_message_enter_container(reply, 'a', "(tts)");
        if (r < 0)
                return log_parse_error(r);
        if (!c->json || argc <= 2)
                fprintf(argc > 2 ? stderr : stdout, "Delegated %s: /dev/iommu and its VFIO cdev.%s\n", address,
                        argc > 2 ? "" : " Reserved regions:");
        while ((r = sd_bus_message_read(reply, "(tts)", &start, &end, &type)) > 0)
                if (argc <= 2)
                        printf("  0x%016llx-0x%016llx %s\n", (unsigned long long) start, (unsigned long long) end,
                               type);
        if (r < 0)
                return log_parse_error(r);

        if (argc <= 2) {
                if (c->hold) {
                        char what[96];
                        snprintf(what, sizeof(what), "fds %d (iommufd) and %d (device) of %s", iommufd, device,
                                 address);
                        return hold(c, what);
                }
                return 0;
        }

        /* The command runs with iommufd as fd 3 and the device as fd 4, and without our bus. */
        reply = sd_bus_message_unref(reply);
        c->iovad = iovad_free(c->iovad);
        c->bus = NULL;
        r = move_fd(iommufd, DELEGATE_IOMMUFD_FD);
        if (r >= 0)
                r = move_fd(device, DELEGATE_DEVICE_FD);
        if (r < 0)
                return log_errno(r, "Failed to pass the delegated fds on");
        (void) setenv("IOVAD_IOMMUFD_FD", "3", 1);
        (void) setenv("IOVAD_DEVICE_FD", "4", 1);
        (void) setenv("IOVAD_DEVICE", address, 1);
        execvp(argv[2], argv + 2);
        return log_errno(-errno, "Failed to run %s", argv[2]);
}
