/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "util/log.h"

int log_max_level = LOG_INFO;

int log_level_from_string(const char *s) {
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",     [LOG_ERR] = "err",
                [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        for (int i = 0; i < (int) ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0)
                        return i;
        if (strcmp(s, "error") == 0)
                return LOG_ERR;
        return -EINVAL;
}

/*
 * systemd sets $JOURNAL_STREAM to "DEVICE:INODE" of the stream it connected
 * stdout and stderr to. Only when stderr is still that stream does iovad
 * write to the journal directly: a caller that redirected stderr (a test, a
 * pipe to a file) gets plain lines there, as it asked.
 */
bool log_to_journal(void) {
        static int cached = -1;

        if (cached < 0) {
                const char *e = getenv("JOURNAL_STREAM");
                unsigned long long dev, ino;
                struct stat st;
                char c;

                cached = e && sscanf(e, "%llu:%llu%c", &dev, &ino, &c) == 2 &&
                         fstat(STDERR_FILENO, &st) >= 0 &&
                         (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
        }
        return cached;
}

#define N_FIELDS 8

static void write_journal(int level, const LogFields *f, const char *msg) {
        char prio[sizeof("PRIORITY=") + 2], lease[sizeof("IOVAD_LEASE=") + 20], group[sizeof("IOVAD_GROUP=") + 10],
                err[sizeof("ERRNO=") + 11];
        _cleanup_free_ char *message = NULL, *container = NULL, *device = NULL;
        struct iovec iov[N_FIELDS];
        size_t n = 0;

        if (asprintf(&message, "MESSAGE=%s", msg) < 0) {
                message = NULL;
                goto fallback;
        }
        iov[n++] = (struct iovec) { message, strlen(message) };
        snprintf(prio, sizeof(prio), "PRIORITY=%d", level & LOG_PRIMASK);
        iov[n++] = (struct iovec) { prio, strlen(prio) };
        iov[n++] = (struct iovec) { (char *) "SYSLOG_IDENTIFIER=iovad", strlen("SYSLOG_IDENTIFIER=iovad") };
        if (f && f->container) {
                if (asprintf(&container, "IOVAD_CONTAINER=%s", f->container) < 0) {
                        container = NULL;
                        goto fallback;
                }
                iov[n++] = (struct iovec) { container, strlen(container) };
        }
        if (f && f->lease > 0) {
                snprintf(lease, sizeof(lease), "IOVAD_LEASE=%" PRIu64, f->lease);
                iov[n++] = (struct iovec) { lease, strlen(lease) };
        }
        if (f && f->has_group) {
                snprintf(group, sizeof(group), "IOVAD_GROUP=%" PRIu32, f->group);
                iov[n++] = (struct iovec) { group, strlen(group) };
        }
        if (f && f->device) {
                if (asprintf(&device, "IOVAD_DEVICE=%s", f->device) < 0) {
                        device = NULL;
                        goto fallback;
                }
                iov[n++] = (struct iovec) { device, strlen(device) };
        }
        if (f && f->error != 0) {
                snprintf(err, sizeof(err), "ERRNO=%d", f->error < 0 ? -f->error : f->error);
                iov[n++] = (struct iovec) { err, strlen(err) };
        }
        if (sd_journal_sendv(iov, (int) n) >= 0)
                return;
fallback:
        /* The journal's socket is gone (journald restarting): the stream still takes a "<N>" line. */
        dprintf(STDERR_FILENO, "<%d>%s\n", level & LOG_PRIMASK, msg);
}

void log_write_fields(int level, const LogFields *fields, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0) {
                /* Out of memory: the format itself says at least what happened. */
                msg = NULL;
                dprintf(STDERR_FILENO, log_to_journal() ? "<%d>%s\n" : "iovad: %.0d%s\n", level & LOG_PRIMASK, fmt);
                return;
        }
        if (log_to_journal())
                write_journal(level, fields, msg);
        else
                /* One write per line keeps lines whole when several processes share stderr. */
                dprintf(STDERR_FILENO, "iovad: %s\n", msg);
}
