/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
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

static const char *const kind_prefix[] = {
        [FD_STORE_LEASE] = "lease-",
        [FD_STORE_CONTAINER] = "container-",
        [FD_STORE_GROUP] = "group-",
};

/* The rule of container_name_valid() (model/container.c), which this layer cannot call. */
static bool container_name_ok(const char *name) {
        size_t n = strlen(name);

        if (n == 0 || n > 64)
                return false;
        for (const char *p = name; *p; p++)
                if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
                      *p == '-' || *p == '_' || *p == '.'))
                        return false;
        return true;
}

int fd_store_name(FdStoreKind kind, uint64_t id, const char *container, char buf[static FD_STORE_NAME_MAX]) {
        switch (kind) {
        case FD_STORE_LEASE:
                snprintf(buf, FD_STORE_NAME_MAX, "lease-%" PRIu64, id);
                return 0;
        case FD_STORE_GROUP:
                if (id > UINT32_MAX)
                        return -EINVAL;
                snprintf(buf, FD_STORE_NAME_MAX, "group-%" PRIu64, id);
                return 0;
        case FD_STORE_CONTAINER:
                if (!container || !container_name_ok(container))
                        return -EINVAL;
                snprintf(buf, FD_STORE_NAME_MAX, "container-%s", container);
                return 0;
        }
        return -EINVAL;
}

/* A decimal number as fd_store_name() writes it: digits, no leading zero, no overflow. */
static int parse_id(const char *p, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (!*p || (p[0] == '0' && p[1]))
                return -EINVAL;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                if (v > (max - (uint64_t) (*p - '0')) / 10)
                        return -EINVAL;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        *ret = v;
        return 0;
}

int fd_store_name_parse(const char *name, FdStoreKind *ret_kind, uint64_t *ret_id, const char **ret_container) {
        for (FdStoreKind k = 0; k < ELEMENTSOF(kind_prefix); k++) {
                size_t n = strlen(kind_prefix[k]);
                const char *rest = name + n;
                uint64_t id = 0;

                if (strncmp(name, kind_prefix[k], n) != 0)
                        continue;
                if (k == FD_STORE_CONTAINER) {
                        if (!container_name_ok(rest))
                                return -EINVAL;
                        if (ret_container)
                                *ret_container = rest;
                } else if (parse_id(rest, k == FD_STORE_GROUP ? UINT32_MAX : UINT64_MAX, &id) < 0)
                        return -EINVAL;
                *ret_kind = k;
                if (ret_id)
                        *ret_id = id;
                return 0;
        }
        return -EINVAL;
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

/* The fd stored under @name, now the caller's; -ENOENT when there is none. */
static int take(FdStore *s, const char *name) {
        if (!s)
                return -ENOENT;
        for (size_t i = 0; i < s->n; i++)
                if (s->names[i] && strcmp(s->names[i], name) == 0) {
                        free(s->names[i]);
                        s->names[i] = NULL;
                        return TAKE_FD(s->fds[i]);
                }
        return -ENOENT;
}

int fd_store_take_lease(FdStore *s, uint64_t id) {
        char name[FD_STORE_NAME_MAX];

        (void) fd_store_name(FD_STORE_LEASE, id, NULL, name);
        return take(s, name);
}

int fd_store_take_container(FdStore *s, const char *container) {
        char name[FD_STORE_NAME_MAX];

        if (fd_store_name(FD_STORE_CONTAINER, 0, container, name) < 0)
                return -ENOENT;
        return take(s, name);
}

int fd_store_take_group(FdStore *s, unsigned group) {
        char name[FD_STORE_NAME_MAX];

        (void) fd_store_name(FD_STORE_GROUP, group, NULL, name);
        return take(s, name);
}

static int push(const char *name, int fd) {
        char msg[FD_STORE_NAME_MAX + 32];

        snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
        return sd_pid_notify_with_fds(0, false, msg, &fd, 1);
}

static void remove_name(const char *name) {
        (void) sd_notifyf(false, "FDSTOREREMOVE=1\nFDNAME=%s", name);
}

size_t fd_store_drop(FdStore *s, FdStoreKind kind) {
        size_t n = 0;

        for (size_t i = 0; s && i < s->n; i++) {
                FdStoreKind k;

                if (!s->names[i] || fd_store_name_parse(s->names[i], &k, NULL, NULL) < 0 || k != kind)
                        continue;
                safe_close(s->fds[i]);
                s->fds[i] = -1;
                remove_name(s->names[i]);
                free(s->names[i]);
                s->names[i] = NULL;
                n++;
        }
        return n;
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
        char name[FD_STORE_NAME_MAX], path[sizeof("/proc/self/fd/") + 12];
        _cleanup_close_ int copy = -1;
        int flags;

        if (!getenv("NOTIFY_SOCKET"))
                return 0;
        /*
         * The service manager keeps one fd per open file: systemd drops an
         * fd that refers to the same open file as one it holds (same_fd()),
         * whatever its name. Leases of one memfd (a batch, several
         * MapMemory calls of one client's memfd) hold duplicates of one open
         * file, so each is pushed as an open file of its own, opened anew
         * through /proc with the same access mode.
         */
        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        copy = open(path, (flags & O_ACCMODE) | O_CLOEXEC);
        if (copy < 0)
                return -errno;
        (void) fd_store_name(FD_STORE_LEASE, id, NULL, name);
        return push(name, copy);
}


void fd_store_remove_lease(uint64_t id) {
        char name[FD_STORE_NAME_MAX];

        (void) fd_store_name(FD_STORE_LEASE, id, NULL, name);
        remove_name(name);
}

int fd_store_push_container(const char *container, int fd) {
        char name[FD_STORE_NAME_MAX];
        int r = fd_store_name(FD_STORE_CONTAINER, 0, container, name);

        return r < 0 ? r : push(name, fd);
}

void fd_store_remove_container(const char *container) {
        char name[FD_STORE_NAME_MAX];

        if (fd_store_name(FD_STORE_CONTAINER, 0, container, name) >= 0)
                remove_name(name);
}

int fd_store_push_group(unsigned group, int fd) {
        char name[FD_STORE_NAME_MAX];

        (void) fd_store_name(FD_STORE_GROUP, group, NULL, name);
        return push(name, fd);
}

void fd_store_remove_group(unsigned group) {
        char name[FD_STORE_NAME_MAX];

        (void) fd_store_name(FD_STORE_GROUP, group, NULL, name);
        remove_name(name);
}
