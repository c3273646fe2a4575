/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cdi-workload [--loop SECONDS]
 *
 * The workload of the system tier's container flow (README.md): it runs
 * inside a container that podman started with `--device iovad.org/pci=ADDR`
 * as an unprivileged uid, with nothing of /dev/vfio, and gets its device and
 * DMA memory from iovad alone, through the system bus socket that iovad's
 * CDI spec binds in. It reads IOVAD_DEVICE (the PCI address of a QEMU edu
 * device) and IOVAD_CONTAINER ("device:ADDR", the iovad container that
 * holds that device, resolved through Device.Container; or a container's
 * name), and checks that:
 *
 *  1. there is no /dev/vfio in the container;
 *  2. the iovad container holds the device and lists this uid in Users;
 *  3. AllocateMapped hands out a sealed memfd mapped below 256 MiB (edu
 *     masks DMA addresses to 28 bits), and Device.Open a VFIO device fd;
 *  4. edu DMAs a pattern from that IOVA into its buffer and back to
 *     IOVA + 4 KiB, and the bytes this process sees in its mapping match.
 *
 * With --loop it then repeats the DMA check, with a new pattern each time,
 * for SECONDS seconds (printing "cdi-workload: looping" after the first
 * round and a count at the end), holding the lease and the device fd, so
 * that the tier can start a second container meanwhile or kill this one
 * in the middle of a DMA.
 *
 * Every check prints "ok: ..." or "FAIL: ..."; the last line is
 * "cdi-workload: PASS (N checks)" or "cdi-workload: FAIL (F of N checks
 * failed)", and the exit status is 0 only on PASS.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "edu-client.h"

#define MANAGER_PATH "/org/iovad1"
#define MANAGER_IFACE "org.iovad1.Manager"
#define CONTAINER_IFACE "org.iovad1.Container"

#define EDU_LIMIT 0x0fffffffull   /* edu masks DMA addresses to 28 bits */

/* edu registers (QEMU docs/specs/edu.txt) */


/* ---- the checks --------------------------------------------------------- */

/* IOVAD_CONTAINER: "device:ADDR" is the container that holds ADDR (Device.Container), anything else a name. */
static int resolve_container(sd_bus *bus, const char *ref, char **ret_path, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *dpath = NULL;
        const char *path;
        int r;

        if (strncmp(ref, "device:", 7) == 0) {
                r = sd_bus_path_encode(DEVICE_PREFIX, ref + 7, &dpath);
                if (r < 0)
                        return r;
                r = sd_bus_get_property(bus, BUS_NAME, dpath, DEVICE_IFACE, "Container", error, &reply, "o");
        } else
                r = sd_bus_call_method(bus, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "GetContainer", error, &reply,
                                       "s", ref);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        if (strcmp(path, "/") == 0)
                return -ENOENT;
        *ret_path = strdup(path);
        return *ret_path ? 0 : -ENOMEM;
}

static bool users_have(sd_bus *bus, const char *container, uid_t uid, char *text, size_t size) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const void *p;
        size_t n = 0;
        bool found = false;

        text[0] = 0;
        if (sd_bus_get_property(bus, BUS_NAME, container, CONTAINER_IFACE, "Users", NULL, &reply, "au") < 0 ||
            sd_bus_message_read_array(reply, 'u', &p, &n) < 0)
                return false;
        for (size_t i = 0; i < n / sizeof(uint32_t); i++) {
                uint32_t u = ((const uint32_t *) p)[i];
                size_t l = strlen(text);
                snprintf(text + l, size - l, "%s%u", i ? " " : "", u);
                if (u == uid)
                        found = true;
        }
        return found;
}

int main(int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *container = NULL, *name = NULL;
        _cleanup_(closep) int memfd = -1;
        const char *device = getenv("IOVAD_DEVICE"), *ref = getenv("IOVAD_CONTAINER"), *lease;
        double loop_s = 0;
        uint64_t iova = 0;
        uint8_t *buf;
        char users[256];
        struct stat st;
        Edu edu = { .fd = -1 };
        int r, fd;

        if (argc == 3 && strcmp(argv[1], "--loop") == 0)
                loop_s = strtod(argv[2], NULL);
        else if (argc != 1) {
                fprintf(stderr, "Usage: cdi-workload [--loop SECONDS]\n");
                return 2;
        }
        printf("cdi-workload: uid %u, IOVAD_DEVICE=%s, IOVAD_CONTAINER=%s, DBUS_SYSTEM_BUS_ADDRESS=%s\n",
               (unsigned) getuid(), device ?: "(unset)", ref ?: "(unset)", getenv("DBUS_SYSTEM_BUS_ADDRESS") ?: "(unset)");
        check(access("/dev/vfio", F_OK) < 0 && errno == ENOENT, "no /dev/vfio in the container (%s)",
              access("/dev/vfio", F_OK) < 0 ? strerror(errno) : "it exists");
        if (!check(device && ref, "IOVAD_DEVICE and IOVAD_CONTAINER are set"))
                goto finish;

        r = sd_bus_open_system(&bus);
        if (!check(r >= 0, "connected to the system bus%s%s", r < 0 ? ": " : "", r < 0 ? strerror(-r) : ""))
                goto finish;
        r = resolve_container(bus, ref, &container, &error);
        if (!check(r >= 0, "IOVAD_CONTAINER=%s resolves to %s", ref,
                   r >= 0 ? container : r == -ENOENT ? "nothing: the device is in no container" : bus_error_text(&error, r)))
                goto finish;
        (void) sd_bus_get_property_string(bus, BUS_NAME, container, CONTAINER_IFACE, "Name", NULL, &name);
        check(users_have(bus, container, getuid(), users, sizeof(users)), "iovad container '%s' is this uid's (Users %s)",
              name ?: "?", users);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *g = NULL;
                const void *p;
                size_t n = 0;

                if (sd_bus_get_property(bus, BUS_NAME, container, CONTAINER_IFACE, "Groups", NULL, &g, "au") >= 0 &&
                    sd_bus_message_read_array(g, 'u', &p, &n) >= 0) {
                        printf("cdi-workload: iovad container '%s' has %zu group%s:", name ?: "?", n / sizeof(uint32_t),
                               n == sizeof(uint32_t) ? "" : "s");
                        for (size_t i = 0; i < n / sizeof(uint32_t); i++)
                                printf(" %u", ((const uint32_t *) p)[i]);
                        putchar('\n');
                }
        }

        r = sd_bus_call_method(bus, BUS_NAME, container, CONTAINER_IFACE, "AllocateMapped", &error, &reply, "ta{sv}",
                               (uint64_t) BUF_SIZE, 1, "limit", "t", EDU_LIMIT);
        if (r >= 0)
                r = sd_bus_message_read(reply, "oth", &lease, &iova, &fd);
        if (r >= 0 && (memfd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
                r = -errno;
        if (!check(r >= 0, "AllocateMapped(0x%x, limit 0x%llx)%s%s%s", BUF_SIZE, EDU_LIMIT, r >= 0 ? ": " : ": ",
                   r >= 0 ? lease : "", r < 0 ? bus_error_text(&error, r) : ""))
                goto finish;
        printf("cdi-workload: lease %s at IOVA 0x%" PRIx64 "\n", lease, iova);
        check(iova % PAGE == 0 && iova + BUF_SIZE - 1 <= EDU_LIMIT, "IOVA 0x%" PRIx64 " is page aligned and below the limit", iova);
        if (!check(fstat(memfd, &st) >= 0 && st.st_size >= (off_t) BUF_SIZE && (fcntl(memfd, F_GET_SEALS) & F_SEAL_SHRINK),
                   "the memfd holds 0x%x bytes and is sealed against shrinking", BUF_SIZE))
                goto finish;
        buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        if (!check(buf != MAP_FAILED, "the memfd maps read-write"))
                goto finish;
        if (edu_open(bus, device, &edu) < 0)
                goto finish;
        if (!edu_round_trip(&edu, buf, iova, 7, "AllocateMapped") || loop_s <= 0)
                goto finish;

        printf("cdi-workload: looping\n");
        fflush(stdout);
        double end = now_ms() + loop_s * 1000;
        unsigned rounds = 0, bad = 0;
        check_quiet = true;
        while (now_ms() < end) {
                if (!edu_round_trip(&edu, buf, iova, (uint8_t) (11 + rounds), "AllocateMapped"))
                        bad++;
                rounds++;
        }
        check_quiet = false;
        check(bad == 0, "%u more DMA rounds in %.0f s through the lease, bytes checked each time, %u failed", rounds,
              loop_s, bad);

finish:
        if (edu.fd >= 0)
                close(edu.fd);
        if (n_failures == 0)
                printf("cdi-workload: PASS (%u checks)\n", n_checks);
        else
                printf("cdi-workload: FAIL (%u of %u checks failed)\n", n_failures, n_checks);
        return n_failures == 0 ? 0 : 1;
}
