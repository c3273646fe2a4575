/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Logging. Under systemd, when stderr is the journal's stream
 * ($JOURNAL_STREAM names stderr's device and inode), each message goes to
 * the journal itself with sd_journal_sendv(): MESSAGE=, PRIORITY= and the
 * structured fields of LogFields below (IOVAD_CONTAINER=, IOVAD_LEASE=,
 * IOVAD_GROUP=, IOVAD_DEVICE=, ERRNO=), which `journalctl -u iovad -o
 * verbose` shows and `journalctl IOVAD_CONTAINER=vm1` matches. Otherwise
 * it is one line on stderr, "iovad: MESSAGE". Messages have no length limit
 * in either case.
 *
 * Who logs: main.c, the bus glue (bus/) and the model (model/), each once
 * at the place that decides what a failure means. The layers below the
 * model (util, iommu, platform, backend, persist) never log: they return
 * errors and messages, and tests/unit/test-layers.sh keeps log.h out of
 * them.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <syslog.h>

#include "util/macro.h"

extern int log_max_level;

/* What a message is about, for the journal. Unset members are left out. */
typedef struct LogFields {
        const char *container;  /* IOVAD_CONTAINER=, the container's name */
        uint64_t lease;         /* IOVAD_LEASE=, a lease id (ids start at 1; 0: none) */
        const char *device;     /* IOVAD_DEVICE=, a PCI address */
        uint32_t group;         /* IOVAD_GROUP=, when has_group */
        bool has_group;
        int error;              /* ERRNO=, an errno (either sign; 0: none) */
} LogFields;

/* LOG_FIELDS(.container = name, LOG_GROUP(g), .error = r): a pointer to the fields. */
#define LOG_FIELDS(...) (&(const LogFields) { __VA_ARGS__ })
#define LOG_GROUP(g) .group = (g), .has_group = true

int log_level_from_string(const char *s);
_printf_(3, 4) void log_write_fields(int level, const LogFields *fields, const char *fmt, ...);
#define log_write(level, ...) log_write_fields((level), NULL, __VA_ARGS__)

/* Whether messages go to the journal's native protocol (for tests: false outside systemd). */
bool log_to_journal(void);

#define log_full_fields(level, fields, ...)                              \
        do {                                                             \
                if ((level) <= log_max_level)                            \
                        log_write_fields((level), (fields), __VA_ARGS__); \
        } while (0)
#define log_full(level, ...) log_full_fields((level), NULL, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_f(fields, ...) log_full_fields(LOG_DEBUG, (fields), __VA_ARGS__)
#define log_info_f(fields, ...) log_full_fields(LOG_INFO, (fields), __VA_ARGS__)
#define log_notice_f(fields, ...) log_full_fields(LOG_NOTICE, (fields), __VA_ARGS__)
#define log_warning_f(fields, ...) log_full_fields(LOG_WARNING, (fields), __VA_ARGS__)
#define log_error_f(fields, ...) log_full_fields(LOG_ERR, (fields), __VA_ARGS__)

/* Log with ERRNO= and ": strerror" appended, and return the negative errno, for "return log_error_errno(r, ...)". */
#define log_error_errno(r, fmt, ...)                                                               \
        ({                                                                                         \
                int _r_ = (r) < 0 ? -(r) : (r);                                                    \
                log_error_f(LOG_FIELDS(.error = _r_), fmt ": %s", ##__VA_ARGS__, strerror(_r_));   \
                -_r_;                                                                              \
        })
