/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static char scratch[PATH_MAX];

static int remove_all(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st;
        (void) type;
        (void) ftw;
        (void) remove(path);
        return 0;
}

static void remove_scratch(void) {
        if (scratch[0])
                (void) nftw(scratch, remove_all, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_scratch_dir(void) {
        const char *base = getenv("TMPDIR");
        struct stat st;

        if (scratch[0])
                return scratch;
        if (!base || !base[0])
                base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                                                                              : "/tmp";
        snprintf(scratch, sizeof(scratch), "%s/iovad-fuzz.XXXXXX", base);
        if (!mkdtemp(scratch)) {
                perror(scratch);
                abort();
        }
        atexit(remove_scratch);
        return scratch;
}

void fuzz_write_file(const char *path, const void *data, size_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        const char *p = data;

        if (fd < 0) {
                perror(path);
                abort();
        }
        while (size > 0) {
                ssize_t k = write(fd, p, size);
                if (k < 0) {
                        perror(path);
                        abort();
                }
                p += k;
                size -= (size_t) k;
        }
        close(fd);
}
