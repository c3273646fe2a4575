/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "persist/fd-store.h"
#include "util/macro.h"

struct FdStore {
        int *fds;
        char **names;      /* NULL once taken */
        size_t n;
};

#define LEASE_FD_NAME_MAX 32

static void lease_fd_name(uint64_t id, char buf[static LEASE_FD_NAME_MAX]) {
        snprintf(buf, LEASE_FD_NAME_MAX, "lease-%" PRIu64, id);
}

int fd_store_new(int *fds, char **names, size_t n, FdStore **ret) {
        FdStore *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->fds = fds;
        s->names = names;
        s->n = n;
        *ret = s;
        return 0;
}

int fd_store_load(FdStore **ret) {
        char **names = NULL;
        int *fds = NULL;
        int n, r;

        n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                return n;
        if (n > 0) {
                fds = calloc((size_t) n, sizeof(int));
                if (!fds) {
                        for (int i = 0; i < n; i++)
                                free(names[i]);
                        free(names);
                        return -ENOMEM;
                }
                for (int i = 0; i < n; i++)
                        fds[i] = SD_LISTEN_FDS_START + i;
        }
        r = fd_store_new(fds, names, (size_t) n, ret);
        if (r < 0) {
                free(fds);
                free(names);
        }
        return r;
}

size_t fd_store_untaken(const FdStore *s) {
        size_t n = 0;

        for (size_t i = 0; s && i < s->n; i++)
                n += s->names[i] != NULL;
        return n;
}

int fd_store_take_lease(FdStore *s, uint64_t id) {
        char name[LEASE_FD_NAME_MAX];

        if (!s)
                return -ENOENT;
        lease_fd_name(id, name);
        for (size_t i = 0; i < s->n; i++)
                if (s->names[i] && strcmp(s->names[i], name) == 0) {
                        free(s->names[i]);
                        s->names[i] = NULL;
                        return TAKE_FD(s->fds[i]);
                }
        return -ENOENT;
}

FdStore *fd_store_free(FdStore *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n; i++) {
                if (!s->names[i])
                        continue;
                safe_close(s->fds[i]);
                (void) sd_notifyf(false, "FDSTOREREMOVE=1\nFDNAME=%s", s->names[i]);
                free(s->names[i]);
        }
        free(s->names);
        free(s->fds);
        free(s);
        return NULL;
}

int fd_store_push_lease(uint64_t id, int fd) {
        char name[LEASE_FD_NAME_MAX], msg[LEASE_FD_NAME_MAX + 32];

        lease_fd_name(id, name);
        snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
        return sd_pid_notify_with_fds(0, false, msg, &fd, 1);
}

void fd_store_remove_lease(uint64_t id) {
        char name[LEASE_FD_NAME_MAX];

        lease_fd_name(id, name);
        (void) sd_notifyf(false, "FDSTOREREMOVE=1\nFDNAME=%s", name);
}
