/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The error contract: every way an iovad call can be refused, as a code,
 * its D-Bus error name and the errno a client maps it back to. One list
 * (IOVAD_ERROR_LIST) feeds the daemon's model (codes), the bus glue (code
 * to name) and every client's sd_bus_error_map (name to errno), so the
 * three never drift. docs/api.md says what each one means.
 *
 * No sd-bus here: the model includes this header.
 */

#include <errno.h>

#define IOVAD_ERROR_PREFIX "org.iovad1.Error."

/* X(CODE, D-Bus name, errno) */
#define IOVAD_ERROR_LIST(X)                                                      \
        X(NO_SUCH_CONTAINER, "org.iovad1.Error.NoSuchContainer", ENOENT)         \
        X(NO_SUCH_GROUP, "org.iovad1.Error.NoSuchGroup", ENODEV)                 \
        X(NO_SUCH_LEASE, "org.iovad1.Error.NoSuchLease", ENOENT)                 \
        X(NO_SUCH_DEVICE, "org.iovad1.Error.NoSuchDevice", ENODEV)               \
        X(EXISTS, "org.iovad1.Error.Exists", EEXIST)                             \
        X(NO_SPACE, "org.iovad1.Error.NoSpace", ENOSPC)                          \
        X(RESERVED_CONFLICT, "org.iovad1.Error.ReservedConflict", EADDRINUSE)    \
        X(QUOTA_EXCEEDED, "org.iovad1.Error.QuotaExceeded", EDQUOT)              \
        X(DMA_LIMIT, "org.iovad1.Error.DmaLimit", ENOBUFS)                       \
        X(BAD_MEMORY, "org.iovad1.Error.BadMemory", EBADF)                       \
        X(NOT_ATTACHED, "org.iovad1.Error.NotAttached", ENXIO)                   \
        X(BUSY, "org.iovad1.Error.Busy", EBUSY)                                  \
        X(NOT_SUPPORTED, "org.iovad1.Error.NotSupported", EOPNOTSUPP)            \
        X(INTERRUPT_ISOLATION, "org.iovad1.Error.InterruptIsolation", EPERM)     \
        X(NOT_VIABLE, "org.iovad1.Error.NotViable", EPERM)                       \
        X(KERNEL, "org.iovad1.Error.Kernel", EIO)                                \
        X(TOO_MANY_FILES, "org.iovad1.Error.TooManyFiles", EMFILE)               \
        X(INVALID_ARGS, "org.freedesktop.DBus.Error.InvalidArgs", EINVAL)        \
        X(ACCESS_DENIED, "org.freedesktop.DBus.Error.AccessDenied", EACCES)      \
        X(NO_MEMORY, "org.freedesktop.DBus.Error.NoMemory", ENOMEM)

typedef enum IovadErrorCode {
        IOVAD_E_NONE = 0,
#define IOVAD_ERROR_ENUM_(code, name, errnum) IOVAD_E_##code,
        IOVAD_ERROR_LIST(IOVAD_ERROR_ENUM_)
#undef IOVAD_ERROR_ENUM_
        _IOVAD_E_MAX,
} IovadErrorCode;

/* The names as constants, for clients that test for one. */
#define IOVAD_ERROR_NO_SUCH_CONTAINER "org.iovad1.Error.NoSuchContainer"
#define IOVAD_ERROR_NO_SUCH_GROUP "org.iovad1.Error.NoSuchGroup"
#define IOVAD_ERROR_NO_SUCH_LEASE "org.iovad1.Error.NoSuchLease"
#define IOVAD_ERROR_NO_SUCH_DEVICE "org.iovad1.Error.NoSuchDevice"
#define IOVAD_ERROR_EXISTS "org.iovad1.Error.Exists"
#define IOVAD_ERROR_NO_SPACE "org.iovad1.Error.NoSpace"
#define IOVAD_ERROR_RESERVED_CONFLICT "org.iovad1.Error.ReservedConflict"
#define IOVAD_ERROR_QUOTA_EXCEEDED "org.iovad1.Error.QuotaExceeded"
#define IOVAD_ERROR_DMA_LIMIT "org.iovad1.Error.DmaLimit"
#define IOVAD_ERROR_BAD_MEMORY "org.iovad1.Error.BadMemory"
#define IOVAD_ERROR_NOT_ATTACHED "org.iovad1.Error.NotAttached"
#define IOVAD_ERROR_BUSY "org.iovad1.Error.Busy"
#define IOVAD_ERROR_NOT_SUPPORTED "org.iovad1.Error.NotSupported"
#define IOVAD_ERROR_INTERRUPT_ISOLATION "org.iovad1.Error.InterruptIsolation"
#define IOVAD_ERROR_NOT_VIABLE "org.iovad1.Error.NotViable"
#define IOVAD_ERROR_KERNEL "org.iovad1.Error.Kernel"
#define IOVAD_ERROR_TOO_MANY_FILES "org.iovad1.Error.TooManyFiles"

/* The D-Bus name of @code; NULL for IOVAD_E_NONE or a value out of range. */
const char *iovad_error_name(IovadErrorCode code);
/* The errno of @code (positive); EIO for a value out of range. */
int iovad_error_errno(IovadErrorCode code);
/* The code of a D-Bus error name; IOVAD_E_NONE for a name not in the list. */
IovadErrorCode iovad_error_from_name(const char *name);
