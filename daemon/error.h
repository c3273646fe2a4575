/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the model tells its callers when an operation is refused: a
 * negative errno for code, and the D-Bus error name plus a sentence for
 * the user. The model never depends on sd-bus; the bus glue turns an
 * IovadError into an sd_bus_error with the same name and text.
 */

#include <stdarg.h>

#include "macro.h"

typedef struct IovadError {
        const char *name; /* an IOVAD_ERROR_* or org.freedesktop.DBus.Error.* name */
        char message[512];
} IovadError;

#define IOVAD_ERROR_INVALID_ARGS "org.freedesktop.DBus.Error.InvalidArgs"
#define IOVAD_ERROR_ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"
#define IOVAD_ERROR_NO_MEMORY "org.freedesktop.DBus.Error.NoMemory"

/* Fills @e (if not NULL) and returns -@errnum, so callers can "return iovad_error(...)". */
_printf_(4, 5) static inline int iovad_error(IovadError *e, int errnum, const char *name, const char *fmt, ...) {
        if (e) {
                va_list ap;
                e->name = name;
                va_start(ap, fmt);
                (void) vsnprintf(e->message, sizeof(e->message), fmt, ap);
                va_end(ap);
        }
        return -errnum;
}
