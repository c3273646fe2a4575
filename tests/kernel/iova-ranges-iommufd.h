/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* iova-ranges --iommufd ADDRESS... (@fds_mode 0) or --iommufd-fds IOMMUFD DEVICE (1); argv[0] is the option. */
int iova_ranges_iommufd(int argc, char *argv[], int fds_mode);
