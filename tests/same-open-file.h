/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Whether two fds refer to one open file, as systemd's fd store tells
 * (same_fd()): it keeps one fd per open file and drops the others, so the
 * tests' stand-ins for it do the same. kcmp() where the kernel has it,
 * else the same inode and an O_NONBLOCK set on one showing on the other.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif

static inline bool same_open_file(int a, int b) {
        struct stat sa, sb;
        int fa, fb;
        bool same;
        long r = syscall(SYS_kcmp, (long) getpid(), (long) getpid(), KCMP_FILE, (long) a, (long) b);

        if (r >= 0)
                return r == 0;
        if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0 || sa.st_dev != sb.st_dev || sa.st_ino != sb.st_ino)
                return false;
        fa = fcntl(a, F_GETFL);
        fb = fcntl(b, F_GETFL);
        if (fa < 0 || fb < 0 || fa != fb)
                return false;
        if (fcntl(a, F_SETFL, fa ^ O_NONBLOCK) < 0)
                return false;
        same = fcntl(b, F_GETFL) == (fa ^ O_NONBLOCK);
        (void) fcntl(a, F_SETFL, fa);
        return same;
}
