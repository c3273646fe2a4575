/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * iovad.conf: quotas per uid per container and IOVA ranges that policy
 * keeps out of every container. JSON; docs/configuration.md.
 */

#include <stdint.h>

#include "iommu/region.h"

typedef struct Config {
        uint32_t max_leases;         /* per uid per container */
        uint64_t max_mapped_bytes;   /* per uid per container */
        uint32_t max_dma_entries;    /* per uid per container */
        uint32_t max_memfds;         /* per uid, all containers: memory fds iovad holds for mapped leases */
        RegionList reserved;         /* origin "policy" */
        bool refuse_unsafe_interrupts; /* refuse groups whose MSIs are not isolated, whatever the kernel allows */
        char *cdi_spec_dir;          /* cdi.spec_dir: NULL for the default, "" for no spec */
        char **cdi_bind_devices;     /* cdi.bind_devices: PCI addresses the CDI hook may bind to vfio-pci */
        size_t n_cdi_bind_devices;
} Config;

#define CONFIG_DEFAULT_MAX_LEASES 65536U
#define CONFIG_DEFAULT_MAX_MAPPED_BYTES (4ULL << 30)
#define CONFIG_DEFAULT_MAX_DMA_ENTRIES 4096U
#define CONFIG_DEFAULT_MAX_MEMFDS 4096U

void config_init(Config *c);
void config_done(Config *c);

/**
 * config_parse() - parse iovad.conf text into @c (initialised first).
 * -EINVAL with *@ret_error naming the offending key on bad input.
 */
int config_parse(Config *c, const char *json, char **ret_error);

/* Load @path; a missing file leaves the defaults (returns 0). */
int config_load(Config *c, const char *path, char **ret_error);
