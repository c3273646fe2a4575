/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * PCI configuration space through libpci, from the sysfs tree below a
 * root ("/sys", a recorded tree, the simulated one): each function's
 * bus/pci/devices/ADDR/config (and resource, for BAR sizes) is read by
 * libpci's sysfs method, so recorded config spaces and real ones take the
 * same path.
 */

#include <stddef.h>

#include "platform/sysfs.h"

/**
 * pci_config_read() - fill @d->config for each of @n devices below @root.
 * A device without a readable config file is left with readable false;
 * BARs count only where the resource file gives their size. -ENOMEM only.
 */
int pci_config_read(const char *root, SysfsDevice *d, size_t n);
