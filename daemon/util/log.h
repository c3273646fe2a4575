/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Logging: lines on stderr with a syslog priority prefix ("<4>"), which
 * journald reads as the priority when iovad runs under systemd. Who logs:
 * main.c, the bus glue (bus/) and the model (model/), each once at the
 * place that decides what a failure means. The layers below the model
 * (util, iommu, platform, backend, persist) never log: they return errors
 * and messages, and tests/unit/test-layers.sh keeps log.h out of them.
 */

#include <errno.h>
#include <string.h>
#include <syslog.h>

#include "util/macro.h"

extern int log_max_level;

int log_level_from_string(const char *s);
_printf_(2, 3) void log_write(int level, const char *fmt, ...);

#define log_full(level, ...)                                 \
        do {                                                 \
                if ((level) <= log_max_level)                \
                        log_write((level), __VA_ARGS__);     \
        } while (0)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

/* Log and return the negative errno, for "return log_error_errno(r, ...)". */
#define log_error_errno(r, fmt, ...)                                          \
        ({                                                                    \
                int _r_ = (r) < 0 ? -(r) : (r);                               \
                log_error(fmt ": %s", ##__VA_ARGS__, strerror(_r_));          \
                -_r_;                                                         \
        })
