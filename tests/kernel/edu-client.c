/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guests' clients' shared checks, Device.Open and edu DMA (edu-client.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "edu-client.h"

unsigned n_checks, n_failures;
bool check_quiet;

bool check(bool ok, const char *fmt, ...) {
        va_list ap;

        if (check_quiet && ok)
                return true;
        n_checks++;
        if (!ok)
                n_failures++;
        printf("%s: ", ok ? "ok" : "FAIL");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
        return ok;
}

const char *bus_error_text(const sd_bus_error *e, int r) {
        static char buf[512];

        if (sd_bus_error_is_set(e))
                snprintf(buf, sizeof(buf), "%s: %s", e->name, e->message ?: "");
        else
                snprintf(buf, sizeof(buf), "%s", strerror(r < 0 ? -r : r));
        return buf;
}

void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}

void freep(void *p) {
        free(*(void **) p);
}

int device_open(sd_bus *bus, const char *address, int *ret_fd, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *path = NULL;
        int fd, r;

        r = sd_bus_path_encode(DEVICE_PREFIX, address, &path);
        if (r < 0)
                return r;
        r = sd_bus_call_method(bus, BUS_NAME, path, DEVICE_IFACE, "Open", error, &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return r;
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}


uint32_t edu_read32(const Edu *e, uint64_t reg) {
        uint32_t v = UINT32_MAX;

        if (pread(e->fd, &v, sizeof(v), e->bar0 + reg) != sizeof(v))
                return UINT32_MAX;
        return v;
}

int edu_write(const Edu *e, uint64_t reg, uint64_t v, size_t size) {
        uint32_t v32 = (uint32_t) v;
        const void *p = size == 8 ? (const void *) &v : (const void *) &v32;

        return pwrite(e->fd, p, size, e->bar0 + reg) == (ssize_t) size ? 0 : -EIO;
}

static int region_offset(int fd, uint32_t index, uint64_t *ret) {
        struct vfio_region_info ri = { .argsz = sizeof(ri), .index = index };

        if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0)
                return -errno;
        if (ri.size == 0)
                return -ENXIO;
        *ret = ri.offset;
        return 0;
}

/* Opens the device through iovad and makes it ready for DMA. */
int edu_open(sd_bus *bus, const char *address, Edu *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(closep) int fd = -1;
        Edu e = { .address = address };
        uint16_t cmd = 0;
        uint32_t id;
        int r;

        r = device_open(bus, address, &fd, &error);
        if (!check(r >= 0, "Device.Open(%s) gives a VFIO device fd%s%s", address,
                   r < 0 ? ": " : "", r < 0 ? bus_error_text(&error, r) : ""))
                return r;
        e.fd = fd;

        r = region_offset(fd, VFIO_PCI_BAR0_REGION_INDEX, &e.bar0);
        if (r >= 0)
                r = region_offset(fd, VFIO_PCI_CONFIG_REGION_INDEX, &e.config);
        if (!check(r >= 0, "%s: BAR0 and config regions%s%s", address,
                   r < 0 ? ": " : "", r < 0 ? strerror(-r) : ""))
                return r;

        /* Memory decoding for BAR access, bus mastering or edu's DMA is dropped. */
        if (pread(fd, &cmd, sizeof(cmd), e.config + 0x4) == sizeof(cmd)) {
                cmd |= 0x6;
                (void) pwrite(fd, &cmd, sizeof(cmd), e.config + 0x4);
                cmd = 0;
                (void) pread(fd, &cmd, sizeof(cmd), e.config + 0x4);
        }
        if (!check((cmd & 0x6) == 0x6, "%s: PCI command 0x%04x, memory and bus master on",
                   address, cmd))
                return -EIO;

        id = edu_read32(&e, EDU_ID);
        if (!check((id & 0xff) == 0xed, "%s: edu id register 0x%08x", address, id))
                return -ENODEV;
        (void) edu_write(&e, EDU_LIVENESS, 0x12345678, 4);
        if (!check(edu_read32(&e, EDU_LIVENESS) == ~0x12345678u,
                   "%s: edu liveness register answers", address))
                return -EIO;

        e.fd = fd;
        fd = -1;
        *ret = e;
        return 0;
}

double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One edu DMA; waits for the RUN bit to clear (edu's timer fires after 100 ms). */
int edu_dma(const Edu *e, uint64_t src, uint64_t dst, uint32_t count, bool to_ram) {
        double deadline = now_ms() + 10000;

        if (edu_write(e, EDU_DMA_SRC, src, 8) < 0 ||
            edu_write(e, EDU_DMA_DST, dst, 8) < 0 ||
            edu_write(e, EDU_DMA_COUNT, count, 8) < 0 ||
            edu_write(e, EDU_DMA_CMD, EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0), 8) < 0)
                return -EIO;
        while (now_ms() < deadline) {
                if (!(edu_read32(e, EDU_DMA_CMD) & EDU_DMA_RUN))
                        return 0;
                usleep(10000);
        }
        return -ETIMEDOUT;
}

/*
 * buf is the client's view of the BUF_SIZE bytes at iova: edu copies a
 * pattern from iova into its buffer, then from its buffer to iova + PAGE.
 */
bool edu_round_trip(const Edu *e, uint8_t *buf, uint64_t iova, uint8_t seed, const char *what) {
        double t0 = now_ms();
        int r;

        for (unsigned i = 0; i < XFER; i++)
                buf[i] = (uint8_t) (i * 13 + seed);
        memset(buf + PAGE, 0, XFER);

        r = edu_dma(e, iova, EDU_BUFFER, XFER, false);
        if (r >= 0)
                r = edu_dma(e, EDU_BUFFER, iova + PAGE, XFER, true);
        if (!check(r >= 0, "%s: edu DMA commands completed (%s)", e->address,
                   r < 0 ? strerror(-r) : "ok"))
                return false;
        return check(memcmp(buf, buf + PAGE, XFER) == 0,
                     "%s: DMA check: %u bytes from %s IOVA 0x%" PRIx64 " -> edu -> IOVA 0x%" PRIx64
                     " match (%02x %02x %02x ..., %.0f ms)",
                     e->address, XFER, what, iova, iova + PAGE,
                     buf[PAGE], buf[PAGE + 1], buf[PAGE + 2], now_ms() - t0);
}
