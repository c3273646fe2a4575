/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kernel-client [--container NAME] [--limit ADDR] [--msi-window ADDR] EDU_ADDRESS...
 * kernel-client --across-restart GO_FILE [--container NAME] [--limit ADDR] EDU_ADDRESS...
 * kernel-client --hold [--keep-device-fd] [--container NAME] [--limit ADDR] EDU_ADDRESS...
 *
 * The unprivileged client of the kernel tier. It runs inside the guest as a
 * uid allowed to use container NAME (default "test"), to which root has
 * attached the IOMMU groups of the QEMU edu devices EDU_ADDRESS..., and uses
 * iovad only through its documented D-Bus interface (bus org.iovad1 on the
 * system bus, which DBUS_SYSTEM_BUS_ADDRESS may redirect). It checks that:
 *
 *  1. AllocateMapped hands out a sealed memfd mapped at an IOVA below ADDR;
 *     every edu device DMAs a pattern from that IOVA into its buffer and back
 *     to IOVA + 4 KiB, and the bytes match (device fds from Device.Open);
 *  2. after Lease.Release the same DMA is blocked by the IOMMU: the memory
 *     does not change (the guest script then finds the fault in the kernel
 *     log, at the address printed on the "blocked-dma" line);
 *  3. MapMemory maps the client's own memfd sealed with F_SEAL_SHRINK, and
 *     edu DMA through it works; an unsealed memfd is refused with
 *     org.iovad1.Error.BadMemory;
 *  4. a fixed lease inside the MSI window (ADDR of --msi-window: default
 *     0xfee00000, x86's; 0x8000000 for ARM's software MSI window) is refused
 *     with org.iovad1.Error.ReservedConflict, while one at a free address is
 *     granted at exactly that address.
 *
 * With --across-restart it checks instead that a lease survives a crash of
 * iovad: AllocateMapped, edu DMA through it (device fd from Device.Open),
 * then the line "kernel-client: holding lease PATH at IOVA" and a wait
 * (bus connection, lease, memory and device fd all held) until GO_FILE
 * exists, by which time iovad has been killed and started again; then the
 * lease must be there at the same IOVA, mapped, and edu DMA through the
 * same device fd and IOVA must still reach this process's pages.
 *
 * edu masks DMA addresses to 28 bits, hence ADDR (default 0x0fffffff) as the
 * "limit" of every lease; a transfer stays below 4 KiB (QEMU's edu refuses
 * one that ends exactly at the end of its buffer).
 *
 * With --hold (the system tier) it instead makes one AllocateMapped lease,
 * checks edu DMA through it and holds it while iovad is killed and
 * restarted: each line on stdin is one phase, the lease's expected state
 * after whatever happened to iovad meanwhile:
 *
 *   mapped    the lease is there at the same IOVA, Mapped, and edu DMA
 *             through it reaches this client's pages (its mmap of the memfd)
 *   unmapped  the lease is there at the same IOVA, not Mapped
 *   gone      the lease object does not exist
 *   close     (nothing about the lease) the device fds are closed now and
 *             from then on between checks, as without --keep-device-fd
 *
 * It prints "kernel-client: holding LEASE at IOVA 0x..." once, and
 * "kernel-client: phase N PASS|FAIL (...)" after the setup (phase 1) and
 * each line. Without --keep-device-fd the device fds are closed while it
 * waits and opened again for each DMA check (a restarted iovad cannot take
 * back a container whose device a client holds open, docs/state.md); with
 * it they stay open across the restarts. At the end of stdin it releases
 * the lease if it still exists.
 *
 * Every check prints "ok: ..." or "FAIL: ..."; the last line is
 * "kernel-client: PASS (N checks)" or "kernel-client: FAIL (F of N checks
 * failed)", and the exit status is 0 only on PASS. The client names the bus
 * interface with literal strings on purpose: it tests the documented
 * contract, not the project's header.
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
#define LEASE_IFACE "org.iovad1.Lease"
#define ERROR_BAD_MEMORY "org.iovad1.Error.BadMemory"
#define ERROR_RESERVED_CONFLICT "org.iovad1.Error.ReservedConflict"

#define MSI_WINDOW 0xfee00000ull  /* x86 MSI/interrupt window, 0xfee00000-0xfeefffff */
#define FREE_IOVA 0x0ff00000ull   /* below 256 MiB, far from the allocated leases */

/* edu registers (QEMU docs/specs/edu.txt) */


/* ---- iovad calls -------------------------------------------------------- */

static int get_container(sd_bus *bus, const char *name, char **ret_path, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        char *p;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "GetContainer",
                               error, &reply, "s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        *ret_path = p;
        return 0;
}

/* Reads "(o lease, t iova[, h memfd])" and takes a copy of the fd. */
static int read_lease_reply(sd_bus_message *reply, bool with_fd,
                            char **ret_lease, uint64_t *ret_iova, int *ret_fd) {
        const char *lease;
        uint64_t iova;
        int fd = -1, r;
        char *l;

        if (with_fd)
                r = sd_bus_message_read(reply, "oth", &lease, &iova, &fd);
        else
                r = sd_bus_message_read(reply, "ot", &lease, &iova);
        if (r < 0)
                return r;
        l = strdup(lease);
        if (!l)
                return -ENOMEM;
        if (with_fd) {
                fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0) {
                        free(l);
                        return -errno;
                }
                *ret_fd = fd;
        }
        *ret_lease = l;
        *ret_iova = iova;
        return 0;
}

static int allocate_mapped(sd_bus *bus, const char *container, uint64_t size, uint64_t limit,
                           char **ret_lease, uint64_t *ret_iova, int *ret_fd, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, container, CONTAINER_IFACE, "AllocateMapped",
                               error, &reply, "ta{sv}", size, 1, "limit", "t", limit);
        if (r < 0)
                return r;
        return read_lease_reply(reply, true, ret_lease, ret_iova, ret_fd);
}

static int map_memory(sd_bus *bus, const char *container, int fd, uint64_t size, uint64_t limit,
                      char **ret_lease, uint64_t *ret_iova, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, container, CONTAINER_IFACE, "MapMemory",
                               error, &reply, "htta{sv}", fd, (uint64_t) 0, size,
                               1, "limit", "t", limit);
        if (r < 0)
                return r;
        return read_lease_reply(reply, false, ret_lease, ret_iova, NULL);
}

static int lease_fixed(sd_bus *bus, const char *container, uint64_t size, uint64_t iova,
                       char **ret_lease, uint64_t *ret_iova, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, container, CONTAINER_IFACE, "Lease",
                               error, &reply, "ta{sv}", size, 1, "iova", "t", iova);
        if (r < 0)
                return r;
        return read_lease_reply(reply, false, ret_lease, ret_iova, NULL);
}

static int lease_release(sd_bus *bus, const char *lease, sd_bus_error *error) {
        return sd_bus_call_method(bus, BUS_NAME, lease, LEASE_IFACE, "Release",
                                  error, NULL, NULL);
}

/* Whether the container's ReservedRegions a(ttss) has an msi region covering addr. */
static int has_msi_region(sd_bus *bus, const char *container, uint64_t addr, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint64_t start, end;
        const char *type, *origin;
        bool found = false;
        int r;

        r = sd_bus_get_property(bus, BUS_NAME, container, CONTAINER_IFACE, "ReservedRegions",
                                error, &reply, "a(ttss)");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(ttss)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "(ttss)", &start, &end, &type, &origin)) > 0) {
                printf("kernel-client: reserved 0x%016" PRIx64 " 0x%016" PRIx64 " %s (%s)\n",
                       start, end, type, origin);
                if (strcmp(type, "msi") == 0 && start <= addr && addr <= end)
                        found = true;
        }
        if (r < 0)
                return r;
        return found;
}

/* ---- the checks --------------------------------------------------------- */

static bool iova_fits(uint64_t iova, uint64_t size, uint64_t limit) {
        return iova % PAGE == 0 && iova + size - 1 >= iova && iova + size - 1 <= limit;
}

static void test_allocate_mapped(sd_bus *bus, const char *container, uint64_t limit, Edu *edus, unsigned n_edus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *lease = NULL;
        _cleanup_(closep) int fd = -1;
        uint64_t iova = 0;
        uint8_t *buf;
        struct stat st;
        int r, seals;

        r = allocate_mapped(bus, container, BUF_SIZE, limit, &lease, &iova, &fd, &error);
        if (!check(r >= 0, "AllocateMapped(0x%x, limit 0x%08" PRIx64 ")%s%s", BUF_SIZE, limit,
                   r < 0 ? ": " : "", r < 0 ? bus_error_text(&error, r) : ""))
                return;
        check(iova_fits(iova, BUF_SIZE, limit), "AllocateMapped lease %s at IOVA 0x%" PRIx64
              ", page aligned and below the limit", lease, iova);
        seals = fcntl(fd, F_GET_SEALS);
        check(seals >= 0 && (seals & F_SEAL_SHRINK), "AllocateMapped memfd is sealed against "
              "shrinking (seals 0x%x)", seals);
        if (!check(fstat(fd, &st) >= 0 && st.st_size >= (off_t) BUF_SIZE,
                   "AllocateMapped memfd holds at least 0x%x bytes", BUF_SIZE))
                return;

        buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (!check(buf != MAP_FAILED, "AllocateMapped memfd maps read-write%s%s",
                   buf == MAP_FAILED ? ": " : "", buf == MAP_FAILED ? strerror(errno) : ""))
                return;

        for (unsigned i = 0; i < n_edus; i++)
                edu_round_trip(&edus[i], buf, iova, 3 + 40 * i, "AllocateMapped");

        r = lease_release(bus, lease, &error);
        check(r >= 0, "Lease.Release(%s)%s%s", lease, r < 0 ? ": " : "",
              r < 0 ? bus_error_text(&error, r) : "");

        /* The memory is still ours, but no longer mapped for the devices. */
        if (r >= 0 && n_edus > 0) {
                memset(buf + PAGE, 0xaa, XFER);
                printf("kernel-client: blocked-dma device=%s iova=0x%" PRIx64 "\n",
                       edus[0].address, iova + PAGE);
                fflush(stdout);
                r = edu_dma(&edus[0], EDU_BUFFER, iova + PAGE, XFER, true);
                bool untouched = true;
                for (unsigned i = 0; i < XFER; i++)
                        if (buf[PAGE + i] != 0xaa)
                                untouched = false;
                check(r >= 0 && untouched, "DMA check: after Release, %s's DMA to IOVA 0x%" PRIx64
                      " is blocked by the IOMMU (memory unchanged)", edus[0].address, iova + PAGE);
        }
        munmap(buf, BUF_SIZE);
}

static void test_map_memory(sd_bus *bus, const char *container, uint64_t limit, Edu *edus, unsigned n_edus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *lease = NULL, *lease2 = NULL;
        _cleanup_(closep) int sealed = -1, unsealed = -1;
        uint64_t iova = 0, iova2 = 0;
        uint8_t *buf;
        int r;

        sealed = memfd_create("kernel-client-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        r = sealed >= 0 && ftruncate(sealed, BUF_SIZE) >= 0 &&
            fcntl(sealed, F_ADD_SEALS, F_SEAL_SHRINK) >= 0 ? 0 : -errno;
        if (!check(r >= 0, "sealed memfd (F_SEAL_SHRINK) created%s%s",
                   r < 0 ? ": " : "", r < 0 ? strerror(-r) : ""))
                return;

        r = map_memory(bus, container, sealed, BUF_SIZE, limit, &lease, &iova, &error);
        if (check(r >= 0, "MapMemory(sealed memfd, 0x%x, limit 0x%08" PRIx64 ")%s%s", BUF_SIZE, limit,
                  r < 0 ? ": " : "", r < 0 ? bus_error_text(&error, r) : "")) {
                check(iova_fits(iova, BUF_SIZE, limit), "MapMemory lease %s at IOVA 0x%" PRIx64
                      ", page aligned and below the limit", lease, iova);
                buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, sealed, 0);
                if (check(buf != MAP_FAILED, "sealed memfd maps read-write")) {
                        for (unsigned i = 0; i < n_edus; i++)
                                edu_round_trip(&edus[i], buf, iova, 101 + 40 * i, "MapMemory");
                        munmap(buf, BUF_SIZE);
                }
                sd_bus_error_free(&error);
                r = lease_release(bus, lease, &error);
                check(r >= 0, "Lease.Release(%s)%s%s", lease, r < 0 ? ": " : "",
                      r < 0 ? bus_error_text(&error, r) : "");
        }

        unsealed = memfd_create("kernel-client-unsealed", MFD_CLOEXEC);
        r = unsealed >= 0 && ftruncate(unsealed, BUF_SIZE) >= 0 ? 0 : -errno;
        if (!check(r >= 0, "unsealed memfd created"))
                return;
        sd_bus_error_free(&error);
        r = map_memory(bus, container, unsealed, BUF_SIZE, limit, &lease2, &iova2, &error);
        check(r < 0 && sd_bus_error_has_name(&error, ERROR_BAD_MEMORY),
              "MapMemory(unsealed memfd) refused with " ERROR_BAD_MEMORY " (%s)",
              r < 0 ? bus_error_text(&error, r) : "granted");
        if (r >= 0)
                (void) lease_release(bus, lease2, NULL);
}

static void test_fixed_leases(sd_bus *bus, const char *container, uint64_t msi_window) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *lease = NULL, *lease2 = NULL;
        uint64_t iova = 0;
        int r;

        r = has_msi_region(bus, container, msi_window, &error);
        check(r > 0, "ReservedRegions lists the msi window at 0x%" PRIx64 " (%s)", msi_window,
              r < 0 ? bus_error_text(&error, r) : r > 0 ? "found" : "missing");

        sd_bus_error_free(&error);
        r = lease_fixed(bus, container, PAGE, msi_window, &lease, &iova, &error);
        check(r < 0 && sd_bus_error_has_name(&error, ERROR_RESERVED_CONFLICT),
              "fixed Lease at 0x%" PRIx64 " (MSI window) refused with " ERROR_RESERVED_CONFLICT " (%s)",
              msi_window, r < 0 ? bus_error_text(&error, r) : "granted");
        if (r >= 0)
                (void) lease_release(bus, lease, NULL);

        sd_bus_error_free(&error);
        r = lease_fixed(bus, container, PAGE, FREE_IOVA, &lease2, &iova, &error);
        check(r >= 0 && iova == FREE_IOVA, "fixed Lease at free IOVA 0x%llx granted there%s%s",
              FREE_IOVA, r < 0 ? ": " : "", r < 0 ? bus_error_text(&error, r) : "");
        if (r >= 0) {
                sd_bus_error_free(&error);
                r = lease_release(bus, lease2, &error);
                check(r >= 0, "Lease.Release(%s)%s%s", lease2, r < 0 ? ": " : "",
                      r < 0 ? bus_error_text(&error, r) : "");
        }
}

static void test_across_restart(sd_bus *bus, const char *container, uint64_t limit, Edu *edus, unsigned n_edus,
                                const char *go_file) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *lease = NULL;
        _cleanup_(closep) int fd = -1;
        uint64_t iova = 0, iova_after = 0;
        int mapped = 0, r;
        uint8_t *buf;
        double deadline;

        if (!check(n_edus > 0, "an edu device to DMA with"))
                return;
        r = allocate_mapped(bus, container, BUF_SIZE, limit, &lease, &iova, &fd, &error);
        if (!check(r >= 0, "AllocateMapped(0x%x, limit 0x%08" PRIx64 ")%s%s", BUF_SIZE, limit,
                   r < 0 ? ": " : "", r < 0 ? bus_error_text(&error, r) : ""))
                return;
        buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (!check(buf != MAP_FAILED, "AllocateMapped memfd maps read-write"))
                return;
        if (!edu_round_trip(&edus[0], buf, iova, 7, "AllocateMapped (before the restart)"))
                return;

        printf("kernel-client: holding lease %s at 0x%" PRIx64 "\n", lease, iova);
        fflush(stdout);
        deadline = now_ms() + 180000;
        while (access(go_file, F_OK) < 0 && now_ms() < deadline)
                usleep(100000);
        if (!check(access(go_file, F_OK) >= 0, "told to go on (%s) after iovad's restart", go_file))
                return;

        r = sd_bus_get_property_trivial(bus, BUS_NAME, lease, LEASE_IFACE, "Iova", &error, 't', &iova_after);
        check(r >= 0 && iova_after == iova, "after the restart lease %s is at IOVA 0x%" PRIx64 " (%s)", lease,
              iova, r < 0 ? bus_error_text(&error, r) : "as before");
        sd_bus_error_free(&error);
        r = sd_bus_get_property_trivial(bus, BUS_NAME, lease, LEASE_IFACE, "Mapped", &error, 'b', &mapped);
        check(r >= 0 && mapped, "after the restart lease %s is Mapped (%s)", lease,
              r < 0 ? bus_error_text(&error, r) : mapped ? "true" : "false");
        /* The device fd from before the crash, the IOVA from before: the pages must be this process's. */
        edu_round_trip(&edus[0], buf, iova, 77, "the restored AllocateMapped");

        sd_bus_error_free(&error);
        r = lease_release(bus, lease, &error);
        check(r >= 0, "Lease.Release(%s) after the restart%s%s", lease, r < 0 ? ": " : "",
              r < 0 ? bus_error_text(&error, r) : "");
        munmap(buf, BUF_SIZE);
}

/* ---- --hold: one lease across restarts of iovad ------------------------- */

static int lease_state(sd_bus *bus, const char *lease, uint64_t *ret_iova, int *ret_mapped, sd_bus_error *error) {
        int r;

        r = sd_bus_get_property_trivial(bus, BUS_NAME, lease, LEASE_IFACE, "Iova", error, 't', ret_iova);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, BUS_NAME, lease, LEASE_IFACE, "Mapped", error, 'b', ret_mapped);
        return r;
}

static unsigned open_edus(sd_bus *bus, char **addresses, unsigned n, Edu *edus) {
        unsigned ok = 0;

        for (unsigned i = 0; i < n; i++)
                if (edu_open(bus, addresses[i], &edus[ok]) >= 0)
                        ok++;
        check(ok == n, "%u of %u edu devices usable", ok, n);
        return ok;
}

static void close_edus(Edu *edus, unsigned *n) {
        for (unsigned i = 0; i < *n; i++)
                close(edus[i].fd);
        *n = 0;
}

static void phase_done(unsigned phase, unsigned failures_before, const char *what) {
        printf("kernel-client: phase %u %s (%s)\n", phase, n_failures == failures_before ? "PASS" : "FAIL", what);
        fflush(stdout);
}

static void hold_lease(sd_bus *bus, const char *container, uint64_t limit, char **addresses, unsigned n_addresses,
                       bool keep_fds) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *lease = NULL;
        _cleanup_(closep) int fd = -1;
        uint64_t iova = 0;
        uint8_t *buf = MAP_FAILED;
        Edu edus[8];
        unsigned n_edus = 0, phase = 1, before = n_failures;
        bool there = false;
        char line[64];
        int r;

        r = allocate_mapped(bus, container, BUF_SIZE, limit, &lease, &iova, &fd, &error);
        if (check(r >= 0, "AllocateMapped(0x%x, limit 0x%08" PRIx64 ")%s%s", BUF_SIZE, limit,
                  r < 0 ? ": " : "", r < 0 ? bus_error_text(&error, r) : "")) {
                there = true;
                buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                check(buf != MAP_FAILED, "AllocateMapped memfd maps read-write");
        }
        if (buf != MAP_FAILED) {
                printf("kernel-client: holding %s at IOVA 0x%" PRIx64 " (0x%x bytes)\n", lease, iova, BUF_SIZE);
                n_edus = open_edus(bus, addresses, n_addresses, edus);
                for (unsigned i = 0; i < n_edus; i++)
                        edu_round_trip(&edus[i], buf, iova, 7 + 40 * i, "AllocateMapped");
                if (!keep_fds)
                        close_edus(edus, &n_edus);
        }
        phase_done(phase, before, "lease made, DMA through it");

        while (fgets(line, sizeof(line), stdin)) {
                uint64_t now_iova = 0;
                int mapped = -1;

                line[strcspn(line, "\n")] = '\0';
                phase++;
                before = n_failures;
                sd_bus_error_free(&error);
                r = lease_state(bus, lease ? lease : "/", &now_iova, &mapped, &error);
                if (strcmp(line, "gone") == 0) {
                        check(r < 0, "%s is gone (%s)", lease ? lease : "the lease",
                              r < 0 ? bus_error_text(&error, r) : "still there");
                        there = r >= 0;
                } else if (strcmp(line, "mapped") == 0 || strcmp(line, "unmapped") == 0) {
                        bool want = line[0] == 'm';

                        if (check(r >= 0 && now_iova == iova && mapped == want,
                                  "%s is there at IOVA 0x%" PRIx64 ", %s%s%s", lease ? lease : "the lease", now_iova,
                                  mapped > 0 ? "mapped" : mapped == 0 ? "not mapped" : "state unknown",
                                  r < 0 ? ": " : "", r < 0 ? bus_error_text(&error, r) : "") &&
                            want && buf != MAP_FAILED) {
                                if (!keep_fds)
                                        n_edus = open_edus(bus, addresses, n_addresses, edus);
                                for (unsigned i = 0; i < n_edus; i++)
                                        edu_round_trip(&edus[i], buf, iova, 11 * phase + 40 * i, "the held lease's");
                                if (!keep_fds)
                                        close_edus(edus, &n_edus);
                        }
                } else if (strcmp(line, "close") == 0) {
                        /* Device fds closed from now on between checks: before an iovad stop that releases them. */
                        keep_fds = false;
                        close_edus(edus, &n_edus);
                } else
                        check(false, "unknown phase '%s' (mapped, unmapped, gone or close)", line);
                phase_done(phase, before, line);
        }

        close_edus(edus, &n_edus);
        if (buf != MAP_FAILED)
                munmap(buf, BUF_SIZE);
        if (there) {
                sd_bus_error_free(&error);
                r = lease_release(bus, lease, &error);
                check(r >= 0, "Lease.Release(%s)%s%s", lease, r < 0 ? ": " : "", r < 0 ? bus_error_text(&error, r) : "");
        }
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;

        errno = 0;
        *ret = strtoull(s, &end, 0);
        return errno != 0 || end == s || *end != '\0' ? -EINVAL : 0;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "container", required_argument, NULL, 'c' },
                { "limit", required_argument, NULL, 'l' },
                { "msi-window", required_argument, NULL, 'm' },
                { "across-restart", required_argument, NULL, 'r' },
                { "hold", no_argument, NULL, 'H' },
                { "keep-device-fd", no_argument, NULL, 'K' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *container = NULL;
        const char *name = "test", *go_file = NULL;
        uint64_t limit = 0x0fffffff, msi_window = MSI_WINDOW;
        Edu edus[8];
        unsigned n_edus = 0;
        bool hold = false, keep_fds = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "c:l:m:r:h", options, NULL)) >= 0)
                switch (c) {
                case 'r':
                        go_file = optarg;
                        break;
                case 'c':
                        name = optarg;
                        break;
                case 'l':
                        if (parse_u64(optarg, &limit) < 0 || limit < BUF_SIZE) {
                                fprintf(stderr, "kernel-client: bad --limit '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 'm':
                        if (parse_u64(optarg, &msi_window) < 0 || msi_window % PAGE != 0) {
                                fprintf(stderr, "kernel-client: bad --msi-window '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 'H':
                        hold = true;
                        break;
                case 'K':
                        keep_fds = true;
                        break;
                case 'h':
                        printf("usage: kernel-client [--container NAME] [--limit ADDR] [--msi-window ADDR] EDU_ADDRESS...\n"
                               "       kernel-client --hold [--keep-device-fd] [--container NAME] [--limit ADDR] EDU_ADDRESS...\n"
                               "       kernel-client --across-restart GO_FILE [--container NAME] [--limit ADDR] EDU_ADDRESS...\n");
                        return 0;
                default:
                        return 2;
                }
        if (optind >= argc || argc - optind > (int) (sizeof(edus) / sizeof(edus[0]))) {
                fprintf(stderr, "usage: kernel-client [--container NAME] [--limit ADDR] [--msi-window ADDR] EDU_ADDRESS...\n");
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("kernel-client: uid %u gid %u, container '%s', limit 0x%08" PRIx64 "\n",
               (unsigned) getuid(), (unsigned) getgid(), name, limit);

        r = sd_bus_open_system(&bus);
        if (!check(r >= 0, "connected to the system bus%s%s", r < 0 ? ": " : "",
                   r < 0 ? strerror(-r) : ""))
                goto finish;

        r = get_container(bus, name, &container, &error);
        if (!check(r >= 0, "Manager.GetContainer(%s) -> %s", name,
                   r < 0 ? bus_error_text(&error, r) : container))
                goto finish;

        if (hold) {
                hold_lease(bus, container, limit, argv + optind, (unsigned) (argc - optind), keep_fds);
                goto finish;
        }

        for (int i = optind; i < argc; i++)
                if (edu_open(bus, argv[i], &edus[n_edus]) >= 0)
                        n_edus++;
        check(n_edus == (unsigned) (argc - optind), "%u of %d edu devices usable",
              n_edus, argc - optind);

        if (go_file)
                test_across_restart(bus, container, limit, edus, n_edus, go_file);
        else {
                test_allocate_mapped(bus, container, limit, edus, n_edus);
                test_map_memory(bus, container, limit, edus, n_edus);
                test_fixed_leases(bus, container, msi_window);
        }

        for (unsigned i = 0; i < n_edus; i++)
                close(edus[i].fd);
finish:
        if (n_failures == 0)
                printf("kernel-client: PASS (%u checks)\n", n_checks);
        else
                printf("kernel-client: FAIL (%u of %u checks failed)\n", n_failures, n_checks);
        return n_failures == 0 ? 0 : 1;
}
