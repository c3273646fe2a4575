/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

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

char *iovad_lease_path(uint64_t id) {
        char *p = NULL;

        if (asprintf(&p, IOVAD_LEASE_PREFIX "/%" PRIu64, id) < 0)
                return NULL;
        return p;
}
