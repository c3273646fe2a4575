/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/lease-journal.h"
#include "util/macro.h"
#include "util/parse-error.h"

struct LeaseJournal {
        char *dir;
        char *bus_id;
        int fd;                 /* O_APPEND */
        size_t records;         /* in the file, header not counted */
        uint64_t answered;      /* the last "=" written */
        uint64_t replying;      /* the last "?" written */
};

static char *journal_path(const char *dir, const char *name) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s", dir, name) < 0)
                return NULL;
        return p;
}

/* One record a line, short enough for a single write() to append it whole. */
static int format_add(char *buf, size_t size, const LeaseRecord *l) {
        int n = snprintf(buf, size, "+ %" PRIx64 " %" PRIx64 " %" PRIx64 " %u %d %d %" PRIx64 " %s %s\n", l->id,
                         l->iova, l->size, (unsigned) l->owner, l->mapped, l->writable, l->offset, l->client,
                         l->container);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : n;
}

static bool name_ok(const char *s, size_t max) {
        size_t n = strlen(s);

        if (n == 0 || n >= max)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= ' ' || (unsigned char) *s >= 0x7f)
                        return false;
        return true;
}

static int write_all(int fd, const char *buf, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, buf, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += k;
                n -= (size_t) k;
        }
        return 0;
}

int lease_journal_add(LeaseJournal *j, const LeaseRecord *l) {
        char line[512];
        int n;

        if (!name_ok(l->client, sizeof(l->client)) || !name_ok(l->container, sizeof(l->container)))
                return -EINVAL;
        n = format_add(line, sizeof(line), l);
        if (n < 0)
                return n;
        j->records++;
        return write_all(j->fd, line, (size_t) n);
}

int lease_journal_remove(LeaseJournal *j, uint64_t id) {
        char line[32];
        int n = snprintf(line, sizeof(line), "- %" PRIx64 "\n", id);

        j->records++;
        return write_all(j->fd, line, (size_t) n);
}

int lease_journal_answered(LeaseJournal *j, uint64_t id) {
        char line[32];
        int n, r;

        if (id <= j->answered)
                return 0;
        n = snprintf(line, sizeof(line), "= %" PRIx64 "\n", id);
        r = write_all(j->fd, line, (size_t) n);
        if (r < 0)
                return r;
        j->records++;
        j->answered = id;
        return 0;
}

int lease_journal_replying(LeaseJournal *j, uint64_t id) {
        char line[32];
        int n, r;

        if (id <= j->answered || id <= j->replying)
                return 0;
        n = snprintf(line, sizeof(line), "? %" PRIx64 "\n", id);
        r = write_all(j->fd, line, (size_t) n);
        if (r < 0)
                return r;
        j->records++;
        j->replying = id;
        return 0;
}

bool lease_journal_wants_compaction(const LeaseJournal *j, size_t live) {
        return j->records > 4 * live + 4096;
}

/* Writes header and @leases to a temporary file and renames it over the journal. */
static int rewrite(const char *dir, const char *bus_id, const LeaseRecord *leases, size_t n, uint64_t answered,
                   uint64_t replying, int *ret_fd) {
        _cleanup_free_ char *path = journal_path(dir, "leases.journal"), *tmp = journal_path(dir, ".leases.journal.XXXXXX");
        _cleanup_fclose_ FILE *f = NULL;
        int fd, r = 0;

        if (!path || !tmp)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "we");
        if (!f) {
                r = -errno;
                safe_close(fd);
                (void) unlink(tmp);
                return r;
        }
        fprintf(f, "iovad-leases %d %s\n", LEASE_JOURNAL_VERSION, bus_id);
        for (size_t i = 0; i < n && r >= 0; i++) {
                char line[512];
                r = format_add(line, sizeof(line), &leases[i]);
                if (r >= 0)
                        fputs(line, f);
        }
        if (answered > 0)
                fprintf(f, "= %" PRIx64 "\n", answered);
        if (replying > answered)
                fprintf(f, "? %" PRIx64 "\n", replying);
        if (r >= 0 && (fflush(f) != 0 || ferror(f)))
                r = errno ? -errno : -EIO;
        if (r >= 0 && fchmod(fileno(f), 0600) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int lease_journal_new(const char *dir, const char *bus_id, const LeaseRecord *leases, size_t n,
                      LeaseJournal **ret) {
        LeaseJournal *j;
        int r;

        if (!name_ok(bus_id, 256))
                return -EINVAL;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->fd = -1;
        j->dir = strdup(dir);
        j->bus_id = strdup(bus_id);
        if (!j->dir || !j->bus_id) {
                lease_journal_free(j);
                return -ENOMEM;
        }
        /* What a new journal starts with was answered: it comes from a restore or a compaction. */
        for (size_t i = 0; i < n; i++)
                j->answered = MAX(j->answered, leases[i].id);
        r = rewrite(dir, bus_id, leases, n, j->answered, 0, &j->fd);
        if (r < 0) {
                lease_journal_free(j);
                return r;
        }
        j->records = n;
        *ret = j;
        return 0;
}

int lease_journal_compact(LeaseJournal *j, const LeaseRecord *leases, size_t n) {
        int fd, r;

        r = rewrite(j->dir, j->bus_id, leases, n, j->answered, j->replying, &fd);
        if (r < 0)
                return r;
        safe_close(j->fd);
        j->fd = fd;
        j->records = n;
        return 0;
}

LeaseJournal *lease_journal_free(LeaseJournal *j) {
        if (!j)
                return NULL;
        safe_close(j->fd);
        free(j->dir);
        free(j->bus_id);
        free(j);
        return NULL;
}

static bool parse_hex(const char *s, uint64_t *ret) {
        char *end;

        if (!s || !*s || *s == '-' || *s == '+')
                return false;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 16);
        if (errno != 0 || *end)
                return false;
        *ret = v;
        return true;
}

static int parse_add(char *line, LeaseRecord *l) {
        char *f[10], *save = NULL;
        size_t n = 0;
        uint64_t owner, mapped, writable;

        for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                if (n == ELEMENTSOF(f))
                        return -EINVAL;
                f[n++] = t;
        }
        if (n != ELEMENTSOF(f))
                return -EINVAL;
        *l = (LeaseRecord) {};
        char *end;
        errno = 0;
        owner = strtoull(f[4], &end, 10);
        if (errno != 0 || *end || f[4][0] == '-' || owner >= UINT32_MAX)
                return -EINVAL;
        if (!parse_hex(f[1], &l->id) || l->id == 0 || !parse_hex(f[2], &l->iova) || !parse_hex(f[3], &l->size) ||
            l->size == 0 || !parse_hex(f[5], &mapped) || mapped > 1 || !parse_hex(f[6], &writable) || writable > 1 ||
            !parse_hex(f[7], &l->offset) || !name_ok(f[8], sizeof(l->client)) ||
            !name_ok(f[9], sizeof(l->container)))
                return -EINVAL;
        l->owner = (uid_t) owner;
        l->mapped = mapped;
        l->writable = writable;
        strcpy(l->client, f[8]);
        strcpy(l->container, f[9]);
        return 0;
}

/* Room for one more item after @n in *@p, doubling *@cap. */
static bool grow(void **p, size_t *cap, size_t n, size_t elem) {
        if (n < *cap)
                return true;
        size_t c = *cap ? *cap * 2 : 64;
        void *a = reallocarray(*p, c, elem);
        if (!a)
                return false;
        *p = a;
        *cap = c;
        return true;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

int lease_journal_load(const char *dir, const char *bus_id, LeaseRecord **ret, size_t *ret_n, uint64_t *ret_max_id,
                       char **ret_error) {
        _cleanup_free_ char *path = journal_path(dir, "leases.journal"), *line = NULL;
        _cleanup_free_ LeaseRecord *leases = NULL;
        _cleanup_free_ uint64_t *removed = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t n = 0, cap = 0, n_removed = 0, cap_removed = 0, size = 0, lineno = 0;
        uint64_t max_id = 0, answered = UINT64_MAX, replying = 0;
        char version[16], id[257];
        ssize_t len;

        if (!path)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return -errno;
        len = getline(&line, &size, f);
        if (len < 0)
                return parse_error(ret_error, -EINVAL, "%s is empty", path);
        if (sscanf(line, "iovad-leases %15s %256s", version, id) != 2)
                return parse_error(ret_error, -EINVAL, "%s: no header", path);
        if (strcmp(version, "2") == 0)
                answered = 0;
        else if (strcmp(version, "1") != 0)
                return parse_error(ret_error, -EINVAL, "%s: version %s is not understood", path, version);
        if (strcmp(id, bus_id) != 0)
                return -ESTALE;

        for (lineno = 2; (len = getline(&line, &size, f)) >= 0; lineno++) {
                bool whole = len > 0 && line[len - 1] == '\n';
                if (!whole) {
                        /* Only the last line can be torn, by a crash in its write(). */
                        if (getc(f) == EOF)
                                break;
                        return parse_error(ret_error, -EINVAL, "%s:%zu: line without an end", path, lineno);
                }
                line[len - 1] = '\0';
                if (line[0] == '+' && line[1] == ' ') {
                        if (!grow((void **) &leases, &cap, n, sizeof(*leases)))
                                return -ENOMEM;
                        if (parse_add(line, &leases[n]) < 0)
                                return parse_error(ret_error, -EINVAL, "%s:%zu: malformed record", path, lineno);
                        if (leases[n].id > max_id)
                                max_id = leases[n].id;
                        n++;
                } else if (line[0] == '-' && line[1] == ' ') {
                        uint64_t v;
                        if (!parse_hex(line + 2, &v))
                                return parse_error(ret_error, -EINVAL, "%s:%zu: malformed record", path, lineno);
                        if (!grow((void **) &removed, &cap_removed, n_removed, sizeof(*removed)))
                                return -ENOMEM;
                        removed[n_removed++] = v;
                } else if (line[0] == '=' && line[1] == ' ' && answered != UINT64_MAX) {
                        uint64_t v;
                        if (!parse_hex(line + 2, &v))
                                return parse_error(ret_error, -EINVAL, "%s:%zu: malformed record", path, lineno);
                        answered = MAX(answered, v);
                } else if (line[0] == '?' && line[1] == ' ' && answered != UINT64_MAX) {
                        uint64_t v;
                        if (!parse_hex(line + 2, &v))
                                return parse_error(ret_error, -EINVAL, "%s:%zu: malformed record", path, lineno);
                        replying = MAX(replying, v);
                } else
                        return parse_error(ret_error, -EINVAL, "%s:%zu: unknown record", path, lineno);
        }

        /* Lease ids are never reused, so a removal cancels the one addition of that id. */
        if (n_removed > 0)
                qsort(removed, n_removed, sizeof(*removed), cmp_u64);
        size_t live = 0;
        for (size_t i = 0; i < n; i++)
                if (!n_removed || !bsearch(&leases[i].id, removed, n_removed, sizeof(*removed), cmp_u64)) {
                        /* Its reply may have gone out (and reached its client) or not: kept. */
                        leases[i].in_doubt = leases[i].id > answered && leases[i].id <= replying;
                        leases[i].unanswered = leases[i].id > answered && !leases[i].in_doubt;
                        leases[live++] = leases[i];
                }
        *ret = live ? TAKE_PTR(leases) : NULL;
        *ret_n = live;
        *ret_max_id = max_id;
        return 0;
}
