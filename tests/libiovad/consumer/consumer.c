/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A libiovad program as a user writes one, built outside the source tree
 * against the installed header and library only:
 *
 *   cc consumer.c $(pkg-config --cflags --libs libiovad)
 *
 * It finds its container as a workload would (IOVAD_CONTAINER, a name or
 * device:ADDRESS), has iovad allocate and map memory, writes it, reads it
 * back through a second mapping, checks what iovad says about the lease,
 * and releases it. It prints one line per step and exits 0 only if every
 * step worked. With IOVAD_DIRECT=open it does all that over a direct
 * connection (IOVAD_OPEN_DIRECT); with IOVAD_DIRECT=fd it asks for one
 * itself over a bus handle and starts the handle on the socket with
 * iovad_open_fd(), as a sandboxed child given the fd would.
 */
/* F_DUPFD_CLOEXEC under -std=c11. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <iovad.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int fail(iovad *h, const char *what, int r) {
        const char *name = NULL, *message = NULL;

        if (h)
                (void) iovad_last_error(h, &name, &message);
        fprintf(stderr, "consumer: %s: %s (%s: %s)\n", what, strerror(-r), name ? name : "-",
                message ? message : "-");
        return EXIT_FAILURE;
}

int main(void) {
        const char *ref = getenv("IOVAD_CONTAINER"), *direct = getenv("IOVAD_DIRECT");
        const size_t size = 64 * 1024;
        iovad_lease_info lease, got;
        char *container = NULL;
        unsigned char *p;
        iovad *h = NULL;
        int r, memfd = -1;

        if (!ref) {
                fprintf(stderr, "consumer: IOVAD_CONTAINER is not set\n");
                return EXIT_FAILURE;
        }
        if (direct && strcmp(direct, "open") == 0) {
                r = iovad_open(&h, IOVAD_OPEN_DIRECT);
                if (r < 0)
                        return fail(NULL, "iovad_open", r);
                printf("direct connection\n");
        } else if (direct && strcmp(direct, "fd") == 0) {
                sd_bus_message *reply = NULL;
                iovad *bus_handle = NULL;
                int fd;

                r = iovad_open(&bus_handle, 0);
                if (r < 0)
                        return fail(NULL, "iovad_open", r);
                r = sd_bus_call_method(iovad_get_bus(bus_handle), "org.iovad1", "/org/iovad1", "org.iovad1.Manager",
                                       "OpenDirectConnection", NULL, &reply, "a{sv}", 0);
                if (r < 0)
                        return fail(NULL, "OpenDirectConnection", r);
                r = sd_bus_message_read(reply, "h", &fd);
                if (r < 0)
                        return fail(NULL, "OpenDirectConnection's reply", r);
                /* The reply's fd goes with the reply. */
                fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return fail(NULL, "F_DUPFD_CLOEXEC", -errno);
                sd_bus_message_unref(reply);
                iovad_free(bus_handle);
                r = iovad_open_fd(&h, fd, 0);
                if (r < 0)
                        return fail(NULL, "iovad_open_fd", r);
                printf("direct connection from an fd\n");
        } else if (direct) {
                fprintf(stderr, "consumer: IOVAD_DIRECT is neither open nor fd\n");
                return EXIT_FAILURE;
        } else {
                r = iovad_open(&h, 0);
                if (r < 0)
                        return fail(NULL, "iovad_open", r);
        }
        if (direct && sd_bus_is_bus_client(iovad_get_bus(h)) != 0) {
                fprintf(stderr, "consumer: the handle is on the bus, not a direct connection\n");
                return EXIT_FAILURE;
        }
        r = iovad_resolve_container(h, ref, &container);
        if (r < 0)
                return fail(h, "iovad_resolve_container", r);
        printf("container %s is %s\n", ref, container);

        r = iovad_allocate_mapped(h, container, size, NULL, &lease, &memfd);
        if (r < 0)
                return fail(h, "iovad_allocate_mapped", r);
        printf("lease %s at 0x%llx, %zu bytes, memfd %d\n", lease.object, (unsigned long long) lease.iova, size,
               memfd);
        if (!lease.mapped || !lease.writable || lease.size != size) {
                fprintf(stderr, "consumer: the lease is not what was asked for\n");
                return EXIT_FAILURE;
        }

        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        if (p == MAP_FAILED)
                return fail(h, "mmap", -errno);
        for (size_t i = 0; i < size; i++)
                p[i] = (unsigned char) (i ^ (i >> 8));
        munmap(p, size);
        p = mmap(NULL, size, PROT_READ, MAP_SHARED, memfd, 0);
        if (p == MAP_FAILED)
                return fail(h, "mmap", -errno);
        for (size_t i = 0; i < size; i++)
                if (p[i] != (unsigned char) (i ^ (i >> 8))) {
                        fprintf(stderr, "consumer: byte %zu reads 0x%02x\n", i, p[i]);
                        return EXIT_FAILURE;
                }
        munmap(p, size);
        printf("memory reads back what was written\n");

        r = iovad_lease_get_info(h, lease.object, &got);
        if (r < 0)
                return fail(h, "iovad_lease_get_info", r);
        if (got.iova != lease.iova || got.size != size || !got.mapped) {
                fprintf(stderr, "consumer: iovad reports 0x%llx, %llu bytes, mapped %d\n",
                        (unsigned long long) got.iova, (unsigned long long) got.size, got.mapped);
                return EXIT_FAILURE;
        }
        r = iovad_release(h, lease.object);
        if (r < 0)
                return fail(h, "iovad_release", r);
        r = iovad_release(h, lease.object);
        if (r != -ENOENT)
                return fail(h, "second iovad_release", r < 0 ? r : -EIO);
        printf("released\n");

        close(memfd);
        free(container);
        iovad_free(h);
        printf("consumer: ok\n");
        return EXIT_SUCCESS;
}
