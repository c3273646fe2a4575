/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "iovad-bus.h"

const sd_bus_error_map iovad_bus_errors[] = {
        SD_BUS_ERROR_MAP(IOVAD_ERROR_NO_SUCH_CONTAINER, ENOENT),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_NO_SUCH_GROUP, ENODEV),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_NO_SUCH_LEASE, ENOENT),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_NO_SUCH_DEVICE, ENODEV),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_EXISTS, EEXIST),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_NO_SPACE, ENOSPC),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_RESERVED_CONFLICT, EADDRINUSE),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_QUOTA_EXCEEDED, EDQUOT),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_DMA_LIMIT, ENOBUFS),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_BAD_MEMORY, EBADF),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_NOT_ATTACHED, ENXIO),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_NOT_SUPPORTED, EOPNOTSUPP),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_INTERRUPT_ISOLATION, EPERM),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_NOT_VIABLE, EPERM),
        SD_BUS_ERROR_MAP(IOVAD_ERROR_KERNEL, EIO),
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

char *iovad_lease_path(uint64_t id) {
        char *p = NULL;

        if (asprintf(&p, IOVAD_LEASE_PREFIX "/%" PRIu64, id) < 0)
                return NULL;
        return p;
}
