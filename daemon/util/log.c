/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

void log_write(int level, const char *fmt, ...) {
        char buf[2048];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        /*
         * Under systemd (JOURNAL_STREAM is set) a "<N>" prefix gives journald
         * the priority; on a terminal it would only be noise. One write per
         * line keeps lines whole when several processes share stderr.
         */
        const char *js = getenv("JOURNAL_STREAM");
        if (js && *js)
                dprintf(STDERR_FILENO, "<%d>%s\n", level, buf);
        else
                dprintf(STDERR_FILENO, "iovad: %s\n", buf);
}
