/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iovad-bus.h"

const sd_bus_error_map iovad_bus_errors[] = {
#define IOVAD_ERROR_MAP_(code, name, errnum) SD_BUS_ERROR_MAP(name, errnum),
        IOVAD_ERROR_LIST(IOVAD_ERROR_MAP_)
#undef IOVAD_ERROR_MAP_
        SD_BUS_ERROR_MAP_END
};

char *iovad_container_path(const char *name) {
        char *p = NULL;

        if (sd_bus_path_encode(IOVAD_CONTAINER_PREFIX, name, &p) < 0)
                return NULL;
        return p;
}

char *iovad_device_path(const char *pci_address) {
        char *p = NULL;

        if (sd_bus_path_encode(IOVAD_DEVICE_PREFIX, pci_address, &p) < 0)
                return NULL;
        return p;
}

/* Built by hand: asprintf() costs about a thousand instructions, and every Lease reply names a path. */
char *iovad_lease_path(uint64_t id) {
        static const char prefix[] = IOVAD_LEASE_PREFIX "/";
        char digits[20], *p;
        size_t n = 0;

        do {
                digits[n++] = (char) ('0' + id % 10);
                id /= 10;
        } while (id);
        p = malloc(sizeof(prefix) + n);
        if (!p)
                return NULL;
        memcpy(p, prefix, sizeof(prefix) - 1);
        for (size_t i = 0; i < n; i++)
                p[sizeof(prefix) - 1 + i] = digits[n - 1 - i];
        p[sizeof(prefix) - 1 + n] = 0;
        return p;
}
