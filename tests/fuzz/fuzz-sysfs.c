/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sysfs reader over a recorded tree: the input describes a tree, which
 * is laid out in a scratch directory and read by sysfs_read_platform(), so
 * the attribute reader, the hex and decimal parsers, the symlink reader and
 * the reserved_regions parser all see fuzzed files, in fuzzed directories.
 *
 * Input: entries separated by a line "%%" ("\n%%\n"). An entry is a path
 * relative to the root on its first line, then the content:
 *
 *   bus/pci/devices/0000:00:04.0/vendor      a regular file with the content
 *   bus/pci/devices/0000:00:04.0/driver@     a symlink, the content its target
 *   kernel/iommu_groups/3/devices/0000:00:04.0/   a directory (trailing '/')
 *
 * Parent directories are made as needed. Entries that could leave the tree
 * are dropped: components "", "." or "..", a path through a symlink, an
 * absolute target or one with a ".." component (a relative target without
 * ".." resolves below the real directory that holds the link, so nothing
 * outside the scratch tree is ever read).
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "platform/sysfs.h"

#define SEPARATOR "\n%%\n"
#define ENTRIES_MAX 48
#define DEPTH_MAX 12
#define ELEMENTS(x) (sizeof(x) / sizeof((x)[0]))

static char root[PATH_MAX];

static bool target_ok(const char *t, size_t n) {
        if (n == 0 || n >= 1024 || t[0] == '/' || memchr(t, '\0', n))
                return false;
        for (size_t i = 0; i < n;) {
                size_t e = i;
                while (e < n && t[e] != '/')
                        e++;
                if (e - i == 2 && t[i] == '.' && t[i + 1] == '.')
                        return false;
                i = e + 1;
        }
        return true;
}

/*
 * What this execution made, so it can be removed exactly (one unlinkat()
 * per node, newest first) instead of walking the tree: directories are
 * kept open by their path below the root, nodes by the directory index.
 */
typedef struct Dir {
        char path[512];
        int fd;
} Dir;

typedef struct Node {
        int parent;             /* index in dirs */
        char name[NAME_MAX + 1];
        bool dir;
} Node;

static Dir dirs[ENTRIES_MAX * DEPTH_MAX + 1];
static size_t n_dirs;
static Node nodes[ENTRIES_MAX * (DEPTH_MAX + 1)];
static size_t n_nodes;

static void add_node(int parent, const char *name, bool dir) {
        FUZZ_CHECK(n_nodes < ELEMENTS(nodes), "too many nodes");
        nodes[n_nodes].parent = parent;
        snprintf(nodes[n_nodes].name, sizeof(nodes[n_nodes].name), "%s", name);
        nodes[n_nodes++].dir = dir;
}

/* The directory at @path (below the root), made if needed; -1 if it cannot be. */
static int get_dir(int parent, const char *path, const char *name) {
        for (size_t i = 0; i < n_dirs; i++)
                if (strcmp(dirs[i].path, path) == 0)
                        return (int) i;
        if (n_dirs == ELEMENTS(dirs))
                return -1;
        bool made = mkdirat(dirs[parent].fd, name, 0755) == 0;
        /* Never through a symlink, so nothing outside the tree is reached. */
        int fd = openat(dirs[parent].fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (made)
                add_node(parent, name, true);
        if (fd < 0)
                return -1;
        snprintf(dirs[n_dirs].path, sizeof(dirs[n_dirs].path), "%s", path);
        dirs[n_dirs].fd = fd;
        return (int) n_dirs++;
}

/* Lays out one entry; returns quietly for entries it refuses. */
static void make_entry(const char *entry, size_t len) {
        const char *nl = memchr(entry, '\n', len);
        size_t plen = nl ? (size_t) (nl - entry) : len;
        const char *content = nl ? nl + 1 : entry + len;
        size_t clen = (size_t) (entry + len - content);
        char path[512];
        bool link = false, dir = false;
        int parent = 0, depth = 0;

        if (plen == 0 || plen >= sizeof(path) || memchr(entry, '\0', plen))
                return;
        memcpy(path, entry, plen);
        path[plen] = '\0';
        if (path[plen - 1] == '@') {
                link = true;
                path[--plen] = '\0';
        } else if (path[plen - 1] == '/') {
                dir = true;
                path[--plen] = '\0';
        }
        if (plen == 0 || (link && !target_ok(content, clen)))
                return;

        for (char *c = path, *slash;; c = slash + 1) {
                slash = strchr(c, '/');
                if (slash)
                        *slash = '\0';
                if (!c[0] || strcmp(c, ".") == 0 || strcmp(c, "..") == 0 || strlen(c) > NAME_MAX ||
                    ++depth > DEPTH_MAX)
                        return;
                if (slash || dir) {
                        parent = get_dir(parent, path, c);
                        if (parent < 0 || !slash)
                                return;
                        *slash = '/';
                } else if (link) {
                        char target[1024];
                        memcpy(target, content, clen);
                        target[clen] = '\0';
                        if (symlinkat(target, dirs[parent].fd, c) == 0)
                                add_node(parent, c, false);
                        return;
                } else {
                        int f = openat(dirs[parent].fd, c, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                        if (f < 0)
                                /* The same path twice: the later content wins. */
                                f = openat(dirs[parent].fd, c, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
                        else
                                add_node(parent, c, false);
                        if (f >= 0) {
                                FUZZ_CHECK(clen == 0 || write(f, content, clen) == (ssize_t) clen, "write: %m");
                                close(f);
                        }
                        return;
                }
        }
}

static void lay_out(const uint8_t *data, size_t size) {
        const char *p = (const char *) data, *end = p + size;

        dirs[0].path[0] = '\0';
        dirs[0].fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_CHECK(dirs[0].fd >= 0, "%s: %m", root);
        n_dirs = 1;
        n_nodes = 0;
        for (unsigned n = 0; p < end && n < ENTRIES_MAX; n++) {
                const char *sep = memmem(p, (size_t) (end - p), SEPARATOR, strlen(SEPARATOR));
                const char *e = sep ? sep : end;

                make_entry(p, (size_t) (e - p));
                p = sep ? sep + strlen(SEPARATOR) : end;
        }
}

static void tear_down(void) {
        while (n_nodes > 0) {
                const Node *n = &nodes[--n_nodes];
                FUZZ_CHECK(unlinkat(dirs[n->parent].fd, n->name, n->dir ? AT_REMOVEDIR : 0) == 0, "unlink %s: %m",
                           n->name);
        }
        for (size_t i = 0; i < n_dirs; i++)
                close(dirs[i].fd);
        n_dirs = 0;
}

static void check_platform(const SysfsPlatform *p) {
        FUZZ_CHECK(isolation_to_string(p->isolation), "isolation %d", (int) p->isolation);
        for (size_t i = 0; i < p->n_devices; i++) {
                const SysfsDevice *d = &p->devices[i];
                FUZZ_CHECK(pci_address_valid(d->address), "device %zu: address \"%s\"", i, d->address);
                FUZZ_CHECK(i == 0 || strcmp(p->devices[i - 1].address, d->address) < 0, "devices %zu, %zu unsorted", i - 1,
                           i);
                FUZZ_CHECK(d->class <= 0xffffff && d->iommu_group >= -1, "device %zu: class or group", i);
                FUZZ_CHECK(sysfs_find_device(p, d->address) == d, "device %s not found", d->address);
        }
        for (size_t i = 0; i < p->n_groups; i++) {
                const SysfsGroup *g = &p->groups[i];
                char origin[REGION_ORIGIN_MAX];

                snprintf(origin, sizeof(origin), "group %u", g->id);
                FUZZ_CHECK(i == 0 || p->groups[i - 1].id < g->id, "groups %zu, %zu unsorted", i - 1, i);
                FUZZ_CHECK(sysfs_find_group(p, g->id) == g, "group %u not found", g->id);
                for (size_t k = 0; k < g->regions.n; k++) {
                        const Region *r = &g->regions.items[k];
                        FUZZ_CHECK(r->start <= r->end && strcmp(r->origin, origin) == 0, "group %u region %zu", g->id, k);
                        /* Normalised: one hole per type, never two that overlap or touch. */
                        for (size_t j = 0; j < k; j++) {
                                const Region *q = &g->regions.items[j];
                                FUZZ_CHECK(q->type != r->type || (q->end != UINT64_MAX && q->end + 1 < r->start),
                                           "group %u regions %zu and %zu of one type touch", g->id, j, k);
                        }
                }
                FUZZ_CHECK(g->devices, "group %u: no device list", g->id);
                for (char **a = g->devices; *a; a++) {
                        FUZZ_CHECK(pci_address_valid(*a), "group %u: member \"%s\"", g->id, *a);
                        FUZZ_CHECK(a == g->devices || strcmp(a[-1], *a) < 0, "group %u: members unsorted", g->id);
                }
                (void) sysfs_group_viable(p, g);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SysfsPlatform *p = NULL;
        char *err = NULL;
        int r;

        if (!root[0]) {
                snprintf(root, sizeof(root), "%s/root", fuzz_scratch_dir());
                FUZZ_CHECK(mkdir(root, 0755) == 0, "mkdir %s: %m", root);
        }
        lay_out(data, size);

        r = sysfs_read_platform(root, &p, &err);
        if (r == 0) {
                FUZZ_CHECK(p, "success without a platform");
                check_platform(p);
        } else {
                FUZZ_CHECK(!p, "a platform on error");
                FUZZ_CHECK(r != -EINVAL || (err && err[0]), "-EINVAL without a message");
        }
        sysfs_platform_free(p);
        free(err);
        tear_down();
        return 0;
}
