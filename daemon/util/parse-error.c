/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/parse-error.h"

int parse_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        char *msg;

        if (!ret_error)
                return r;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        free(*ret_error);
        *ret_error = msg;
        return r;
}
