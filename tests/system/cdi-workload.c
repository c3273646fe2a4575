/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cdi-workload [--loop SECONDS]
 *
 * The workload of the system tier's container flow (README.md): it runs
 * inside a container that podman started with `--device iovad.org/pci=ADDR`
 * as an unprivileged uid, with nothing of /dev/vfio, and gets its device and
 * DMA memory from iovad alone, through the system bus socket that iovad's
 * CDI spec binds in, with libiovad as a runtime's workload would use it. It reads IOVAD_DEVICE (the PCI address of a QEMU edu
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
#include "iovad.h"


#define EDU_LIMIT 0x0fffffffull   /* edu masks DMA addresses to 28 bits */

/* edu registers (QEMU docs/specs/edu.txt) */


/* ---- the checks --------------------------------------------------------- */

/* The uids of @info as text, and whether @uid is among them. */
static bool users_have(const iovad_container_info *info, uid_t uid, char *text, size_t size) {
        bool found = false;

        text[0] = 0;
        for (size_t i = 0; i < info->n_users; i++) {
                size_t l = strlen(text);
                snprintf(text + l, size - l, "%s%u", i ? " " : "", info->users[i]);
                if (info->users[i] == uid)
                        found = true;
        }
        return found;
}

/* The daemon's error of the handle's last call, as "NAME: message", or the errno's text. */
static const char *iovad_error_text(iovad *h, int r) {
        static char buf[512];
        const char *name = NULL, *message = NULL;

        (void) iovad_last_error(h, &name, &message);
        snprintf(buf, sizeof(buf), "%s%s%s", name ?: "", name ? ": " : "", message ?: strerror(-r));
        return buf;
}

static void iovad_freep(iovad **h) {
        iovad_free(*h);
}

static void container_info_freep(iovad_container_info **info) {
        iovad_container_info_free(*info);
}

int main(int argc, char **argv) {
        _cleanup_(iovad_freep) iovad *h = NULL;
        _cleanup_(container_info_freep) iovad_container_info *info = NULL;
        _cleanup_(freep) char *name = NULL;
        _cleanup_(closep) int memfd = -1;
        const char *device = getenv("IOVAD_DEVICE"), *ref = getenv("IOVAD_CONTAINER");
        const iovad_lease_options limit = { .flags = IOVAD_LEASE_LIMIT, .limit = EDU_LIMIT };
        iovad_lease_info lease;
        double loop_s = 0;
        uint8_t *buf;
        char users[256];
        struct stat st;
        Edu edu = { .fd = -1 };
        int r;

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

        /* libiovad, as a runtime's workload uses it: the system bus, the reference in the environment. */
        r = iovad_open(&h, 0);
        if (!check(r >= 0, "libiovad connected to the system bus%s%s", r < 0 ? ": " : "", r < 0 ? strerror(-r) : ""))
                goto finish;
        r = iovad_resolve_container(h, ref, &name);
        if (!check(r >= 0, "IOVAD_CONTAINER=%s resolves to %s", ref,
                   r >= 0 ? name : r == -ENOENT ? "nothing: the device is in no container" : iovad_error_text(h, r)))
                goto finish;
        r = iovad_container_get_info(h, name, &info);
        if (!check(r >= 0, "iovad container '%s' answers%s%s", name, r < 0 ? ": " : "", r < 0 ? iovad_error_text(h, r) : ""))
                goto finish;
        check(users_have(info, getuid(), users, sizeof(users)), "iovad container '%s' is this uid's (Users %s)", name,
              users);
        printf("cdi-workload: iovad container '%s' has %zu group%s:", name, info->n_groups, info->n_groups == 1 ? "" : "s");
        for (size_t i = 0; i < info->n_groups; i++)
                printf(" %u", info->groups[i]);
        putchar('\n');

        r = iovad_allocate_mapped(h, name, BUF_SIZE, &limit, &lease, &memfd);
        if (!check(r >= 0, "AllocateMapped(0x%x, limit 0x%llx): %s", BUF_SIZE, EDU_LIMIT,
                   r >= 0 ? lease.object : iovad_error_text(h, r)))
                goto finish;
        printf("cdi-workload: lease %s at IOVA 0x%" PRIx64 "\n", lease.object, lease.iova);
        check(lease.iova % PAGE == 0 && lease.iova + BUF_SIZE - 1 <= EDU_LIMIT,
              "IOVA 0x%" PRIx64 " is page aligned and below the limit", lease.iova);
        if (!check(fstat(memfd, &st) >= 0 && st.st_size >= (off_t) BUF_SIZE && (fcntl(memfd, F_GET_SEALS) & F_SEAL_SHRINK),
                   "the memfd holds 0x%x bytes and is sealed against shrinking", BUF_SIZE))
                goto finish;
        buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        if (!check(buf != MAP_FAILED, "the memfd maps read-write"))
                goto finish;
        if (edu_open(iovad_get_bus(h), device, &edu) < 0)
                goto finish;
        if (!edu_round_trip(&edu, buf, lease.iova, 7, "AllocateMapped") || loop_s <= 0)
                goto finish;

        printf("cdi-workload: looping\n");
        fflush(stdout);
        double end = now_ms() + loop_s * 1000;
        unsigned rounds = 0, bad = 0;
        check_quiet = true;
        while (now_ms() < end) {
                if (!edu_round_trip(&edu, buf, lease.iova, (uint8_t) (11 + rounds), "AllocateMapped"))
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
