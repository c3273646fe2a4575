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
 * step worked.
 */
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
        const char *ref = getenv("IOVAD_CONTAINER");
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
        r = iovad_open(&h, 0);
        if (r < 0)
                return fail(NULL, "iovad_open", r);
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
