/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "platform/profile.h"

/**
 * sysfs_write_profile() - lay @p out below @dir as sysfs would show it:
 * bus/pci/devices/ADDR/{vendor,device,class,driver_override,iommu_group,driver},
 * kernel/iommu_groups/N/{reserved_regions,devices/ADDR},
 * bus/pci/drivers/NAME/ and the interrupt-isolation markers
 * sysfs_read_platform() reads (kernel/irq/N/chip_name and
 * module/vfio_iommu_type1/parameters/, see docs/profiles.md).
 * @dir must exist and be empty: -ENOTEMPTY otherwise.
 */
int sysfs_write_profile(const Profile *p, const char *dir);
