/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/**
 * pci_describe() - "8086:1521 Intel Corporation I350 Gigabit Network
 * Connection" from libpci's ID database; ids alone when it has no names.
 */
char *pci_describe(uint16_t vendor, uint16_t device);
