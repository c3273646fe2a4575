/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the guests' clients share (kernel-client, and cdi-workload inside a
 * container): their "ok:"/"FAIL:" checks, Device.Open over the bus, and
 * QEMU's edu device driven through a VFIO device fd: its registers, its
 * DMA engine and a round trip of a pattern through it. Like the clients,
 * it names the bus interface with literal strings: it tests the documented
 * contract, not the project's header.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#define BUS_NAME "org.iovad1"
#define DEVICE_IFACE "org.iovad1.Device"
#define DEVICE_PREFIX "/org/iovad1/device"

#define PAGE 4096u
#define BUF_SIZE (2 * PAGE)       /* pattern in the first page, copy in the second */
#define XFER 2048u                /* < 4096: QEMU's edu refuses a transfer that ends at its buffer's end */

/* QEMU's edu device (docs/specs/edu.rst in QEMU). */
#define EDU_ID 0x00
#define EDU_LIVENESS 0x04
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_COUNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_DMA_RUN 0x1
#define EDU_DMA_TO_RAM 0x2
#define EDU_BUFFER 0x40000

#define _cleanup_(f) __attribute__((cleanup(f)))

/* The checks made so far and those that failed; with check_quiet, passes are neither printed nor counted. */
extern unsigned n_checks, n_failures;
extern bool check_quiet;

/* Prints "ok: ..." or "FAIL: ..." and counts it; returns ok. */
bool __attribute__((format(printf, 2, 3))) check(bool ok, const char *fmt, ...);

/* "NAME: message" of a set error, else strerror(r); a static buffer. */
const char *bus_error_text(const sd_bus_error *e, int r);

void closep(int *fd);
void freep(void *p);

/* Device.Open of the device at @address: its VFIO device fd (at least 3, close-on-exec). */
int device_open(sd_bus *bus, const char *address, int *ret_fd, sd_bus_error *error);

typedef struct Edu {
        const char *address;
        int fd;
        uint64_t bar0;     /* offsets of the regions in the device fd */
        uint64_t config;
} Edu;

/* Opens the device through iovad and makes it ready for DMA, checking each step. */
int edu_open(sd_bus *bus, const char *address, Edu *ret);
uint32_t edu_read32(const Edu *e, uint64_t reg);
int edu_write(const Edu *e, uint64_t reg, uint64_t v, size_t size);
/* One edu DMA; waits for the RUN bit to clear (edu's timer fires after 100 ms). */
int edu_dma(const Edu *e, uint64_t src, uint64_t dst, uint32_t count, bool to_ram);
/*
 * buf is the client's view of the BUF_SIZE bytes at iova: edu copies a
 * pattern from iova into its buffer, then from its buffer to iova + PAGE;
 * checks that the bytes came back.
 */
bool edu_round_trip(const Edu *e, uint8_t *buf, uint64_t iova, uint8_t seed, const char *what);
double now_ms(void);
