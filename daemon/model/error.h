/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the model tells its callers when an operation is refused: a code
 * from the error contract (dbus/iovad-errors.h) and a sentence for the
 * user. Functions return the code's errno, negated, so "return
 * iovad_error(e, IOVAD_E_NO_SPACE, ...)" reads as any other failure; the
 * bus glue turns the code into its D-Bus name and never picks one itself.
 * The model never depends on sd-bus.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "iovad-errors.h"
#include "util/macro.h"

typedef struct IovadError {
        IovadErrorCode code;   /* IOVAD_E_NONE until something fills it */
        char message[512];
} IovadError;

/* Fills @e (if not NULL) and returns -errno of @code. */
_printf_(3, 4) static inline int iovad_error(IovadError *e, IovadErrorCode code, const char *fmt, ...) {
        if (e) {
                va_list ap;
                e->code = code;
                va_start(ap, fmt);
                (void) vsnprintf(e->message, sizeof(e->message), fmt, ap);
                va_end(ap);
        }
        return -iovad_error_errno(code);
}

/*
 * An unexpected failure @r (negative errno) while doing @what: NO_MEMORY
 * for -ENOMEM, KERNEL with the errno's text for anything else, so that no
 * failure leaves without a documented name.
 */
static inline int iovad_error_errno_(IovadError *e, int r, const char *what) {
        if (r == -ENOMEM)
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        (void) iovad_error(e, IOVAD_E_KERNEL, "%s: %s", what, strerror(-r));
        return r;
}
