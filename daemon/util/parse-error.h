/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one way parsers of outside input (profiles, iovad.conf, the state
 * file, the lease journal, sysfs) report what is wrong: a message
 * allocated into *@ret_error, which may be NULL when the caller does not
 * want one. Returns @r (a negative errno), so parsers can write
 * "return parse_error(ret_error, -EINVAL, ...)". A message that cannot be
 * allocated leaves *@ret_error NULL; the errno still says what happened.
 */

#include "util/macro.h"

_printf_(3, 4) int parse_error(char **ret_error, int r, const char *fmt, ...);
