/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

/* mkdir -p: @dir and its missing parents with @mode; 0 when it exists already. */
int mkdir_p(const char *dir, mode_t mode);
