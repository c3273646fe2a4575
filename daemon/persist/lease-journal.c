/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/lease-journal.h"
#include "util/macro.h"
#include "util/parse-error.h"

/* Queued records: a few lines, so the buffer is written well before it fills. */
#define PENDING_MAX 4096

#define JOURNAL_STEP ((size_t) LEASE_JOURNAL_STEP)

/*
 * Only the part being written is mapped, this much from the page the
 * records end in: the pages iovad has touched stay few (they count in its
 * Private_Dirty while mapped), and a new window every 64 KiB of records
 * (about 700 Leases) costs a munmap() and an mmap().
 */
#define MAP_WINDOW ((size_t) 64 * 1024)
/* A window is at least two pages, and the records end in its first: what is queued fits after them. */
_Static_assert(PENDING_MAX <= 64 * 1024 / 2, "an append must fit in a window");

struct LeaseJournal {
        char *dir;
        char *bus_id;
        int fd;                 /* O_RDWR */
        size_t size;            /* of the file: the records, then zeros */
        size_t end;             /* where the records end, the next append goes */
        char *map;              /* MAP_SHARED window of the file, [map_off, map_off + map_len) */
        size_t map_off, map_len;
        size_t records;         /* in the file or queued, header not counted */
        uint64_t answered;      /* the last "=" written or queued */
        uint64_t replying;      /* the last "?" written */
        size_t n_pending;
        size_t pending_adds;    /* "+" lines among them */
        char pending[PENDING_MAX];
};

static char *journal_path(const char *dir, const char *name) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s", dir, name) < 0)
                return NULL;
        return p;
}

/* Lower-case hex without leading zeros, as %PRIx64 writes it; returns the end. */
static char *put_hex(char *p, uint64_t v) {
        char tmp[16];
        unsigned n = 0;

        do {
                tmp[n++] = "0123456789abcdef"[v & 0xf];
                v >>= 4;
        } while (v);
        while (n > 0)
                *p++ = tmp[--n];
        return p;
}

static char *put_dec(char *p, uint64_t v) {
        char tmp[20];
        unsigned n = 0;

        do {
                tmp[n++] = (char) ('0' + v % 10);
                v /= 10;
        } while (v);
        while (n > 0)
                *p++ = tmp[--n];
        return p;
}

static char *put_str(char *p, const char *s, size_t n) {
        memcpy(p, s, n);
        return p + n;
}

/* The longest line: "+ " and five numbers of 16 hex digits, the owner, two flags, two names and the spaces. */
#define LINE_MAX_LEN (2 + 5 * 17 + 11 + 4 + LEASE_RECORD_CLIENT_MAX + LEASE_RECORD_CONTAINER_MAX + 1)

/*
 * One record a line, short enough to sit in the queue whole; the names
 * were checked by name_ok(). Returns its length.
 */
static size_t format_add(char buf[static LINE_MAX_LEN], const LeaseRecord *l) {
        char *p = buf;

        p = put_str(p, "+ ", 2);
        p = put_hex(p, l->id);
        *p++ = ' ';
        p = put_hex(p, l->iova);
        *p++ = ' ';
        p = put_hex(p, l->size);
        *p++ = ' ';
        p = put_dec(p, (unsigned) l->owner);
        *p++ = ' ';
        *p++ = l->mapped ? '1' : '0';
        *p++ = ' ';
        *p++ = l->writable ? '1' : '0';
        *p++ = ' ';
        p = put_hex(p, l->offset);
        *p++ = ' ';
        p = put_str(p, l->client, strnlen(l->client, sizeof(l->client)));
        *p++ = ' ';
        p = put_str(p, l->container, strnlen(l->container, sizeof(l->container)));
        *p++ = '\n';
        return (size_t) (p - buf);
}

/* "C ID\n" */
static size_t format_id(char buf[static 20], char c, uint64_t id) {
        char *p = buf;

        *p++ = c;
        *p++ = ' ';
        p = put_hex(p, id);
        *p++ = '\n';
        return (size_t) (p - buf);
}

static bool name_ok(const char *s, size_t max) {
        size_t n = strnlen(s, max);

        if (n == 0 || n >= max)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= ' ' || (unsigned char) *s >= 0x7f)
                        return false;
        return true;
}

static size_t page_size(void) {
        static size_t ps;

        if (ps == 0)
                ps = (size_t) sysconf(_SC_PAGESIZE);
        return ps;
}

/* Zero-filled room up to @size: fallocate() so that a full tmpfs says ENOSPC now, not SIGBUS later. */
static int extend_file(int fd, size_t from, size_t size) {
        int r;

        if (size <= from)
                return 0;
        r = posix_fallocate(fd, (off_t) from, (off_t) (size - from));
        if (r == EOPNOTSUPP || r == EINVAL) {
                /* A file system without fallocate(): a hole reads as zeros too. */
                if (ftruncate(fd, (off_t) size) < 0)
                        return -errno;
                return 0;
        }
        return -r;
}

static void unmap_window(LeaseJournal *j) {
        if (j->map)
                (void) munmap(j->map, j->map_len);
        j->map = NULL;
}

/* Maps a window of the file (less at its end) from the page the records end in, dropping the old one. */
static int map_window(LeaseJournal *j) {
        size_t off = j->end & ~(page_size() - 1), len = MIN(MAX(MAP_WINDOW, 2 * page_size()), j->size - off);
        void *p;

        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, (off_t) off);
        if (p == MAP_FAILED)
                return -errno;
        unmap_window(j);
        j->map = p;
        j->map_off = off;
        j->map_len = len;
        return 0;
}

/*
 * Appends @n bytes at the end of the records: a memcpy() into the mapping,
 * the file first grown by a step when they do not fit. The bytes past
 * the end are zeros, and records hold none, so the replay stops at the
 * first zero: iovad dying in the middle of the copy leaves, up to the
 * first byte not yet copied (whichever order the copy took), a torn last
 * line, as a write() cut short would.
 */
static int append(LeaseJournal *j, const char *buf, size_t n) {
        int r;

        if (j->end + n > j->size) {
                size_t size = (j->end + n + JOURNAL_STEP - 1) / JOURNAL_STEP * JOURNAL_STEP;
                r = extend_file(j->fd, j->size, size);
                if (r < 0)
                        return r;
                j->size = size;
        }
        if (!j->map || j->end + n > j->map_off + j->map_len) {
                r = map_window(j);
                if (r < 0)
                        return r;
        }
        assert(j->end + n <= j->map_off + j->map_len);
        memcpy(j->map + (j->end - j->map_off), buf, n);
        j->end += n;
        return 0;
}

int lease_journal_flush(LeaseJournal *j) {
        int r;

        if (j->n_pending == 0)
                return 0;
        r = append(j, j->pending, j->n_pending);
        /* Written or not, it is not written twice: a failed append is reported once. */
        j->n_pending = 0;
        j->pending_adds = 0;
        return r;
}

/* Queues @n bytes, writing what was queued first when they would not fit. */
static int queue(LeaseJournal *j, const char *line, size_t n) {
        int r = 0;

        assert(n <= PENDING_MAX);
        if (j->n_pending + n > PENDING_MAX)
                r = lease_journal_flush(j);
        memcpy(j->pending + j->n_pending, line, n);
        j->n_pending += n;
        return r;
}

int lease_journal_add(LeaseJournal *j, const LeaseRecord *l) {
        char line[LINE_MAX_LEN];
        int r;

        if (!name_ok(l->client, sizeof(l->client)) || !name_ok(l->container, sizeof(l->container)))
                return -EINVAL;
        j->records++;
        r = queue(j, line, format_add(line, l));
        j->pending_adds++;
        return r;
}

int lease_journal_remove(LeaseJournal *j, uint64_t id) {
        char line[20];
        int r;

        j->records++;
        r = queue(j, line, format_id(line, '-', id));
        if (r < 0) {
                (void) lease_journal_flush(j);
                return r;
        }
        return lease_journal_flush(j);
}

int lease_journal_answered(LeaseJournal *j, uint64_t id) {
        char line[20];

        int r;

        if (id <= j->answered)
                return 0;
        j->records++;
        j->answered = id;
        r = queue(j, line, format_id(line, '=', id));
        /*
         * A lease answered without a "?" before its reply (a caller that
         * does not note replies) must not stay only in the buffer.
         */
        if (r >= 0 && j->pending_adds > 0)
                r = lease_journal_flush(j);
        return r;
}

int lease_journal_replying(LeaseJournal *j, uint64_t id) {
        char line[20];
        int r = 0;

        if (id > j->answered && id > j->replying) {
                j->records++;
                j->replying = id;
                r = queue(j, line, format_id(line, '?', id));
        }
        /* What is queued (the "+" of this very lease, most often) goes out before the reply. */
        if (r < 0) {
                (void) lease_journal_flush(j);
                return r;
        }
        return lease_journal_flush(j);
}

bool lease_journal_wants_compaction(const LeaseJournal *j, size_t live) {
        return j->records > 4 * live + 4096;
}

typedef struct ArrayNext {
        const LeaseRecord *leases;
        size_t n, i;
} ArrayNext;

static int array_next(void *userdata, LeaseRecord *ret) {
        ArrayNext *a = userdata;

        if (a->i == a->n)
                return 0;
        *ret = a->leases[a->i++];
        return 1;
}

/*
 * Writes header and the leases from @next to a temporary file, zero-filled
 * up to a whole step, and renames it over the journal. *@ret_fd: the file,
 * open for reading and writing; *@ret_end: where its records end;
 * *@ret_size: its size; *@ret_n: how many leases; *@ret_answered: the "="
 * it wrote.
 */
static int rewrite(const char *dir, const char *bus_id, LeaseJournalNext next, void *userdata, uint64_t answered,
                   uint64_t replying, bool answered_from_leases, int *ret_fd, size_t *ret_end, size_t *ret_size,
                   size_t *ret_n, uint64_t *ret_answered) {
        _cleanup_free_ char *path = journal_path(dir, "leases.journal"), *tmp = journal_path(dir, ".leases.journal.XXXXXX");
        _cleanup_fclose_ FILE *f = NULL;
        LeaseRecord l;
        size_t n = 0, end = 0, size = 0;
        long pos;
        int fd, r = 0, k;

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
        while ((k = next(userdata, &l)) > 0) {
                char line[LINE_MAX_LEN];
                if (!name_ok(l.client, sizeof(l.client)) || !name_ok(l.container, sizeof(l.container))) {
                        r = -EINVAL;
                        break;
                }
                fwrite(line, 1, format_add(line, &l), f);
                n++;
                /* What a new journal starts with was answered: it comes from a restore or a compaction. */
                if (answered_from_leases)
                        answered = MAX(answered, l.id);
        }
        if (k < 0)
                r = k;
        if (r >= 0 && answered > 0)
                fprintf(f, "= %" PRIx64 "\n", answered);
        if (r >= 0 && replying > answered)
                fprintf(f, "? %" PRIx64 "\n", replying);
        if (r >= 0 && (fflush(f) != 0 || ferror(f)))
                r = errno ? -errno : -EIO;
        if (r >= 0 && (pos = ftell(f)) < 0)
                r = -errno;
        if (r >= 0) {
                end = (size_t) pos;
                size = MAX(JOURNAL_STEP, (end + JOURNAL_STEP - 1) / JOURNAL_STEP * JOURNAL_STEP);
                r = extend_file(fileno(f), end, size);
        }
        if (r >= 0 && fchmod(fileno(f), 0600) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        /* The same file, now under the journal's name. */
        fd = fcntl(fileno(f), F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        *ret_end = end;
        *ret_size = size;
        *ret_n = n;
        *ret_answered = answered;
        return 0;
}

static LeaseJournal *journal_alloc(const char *dir, const char *bus_id) {
        LeaseJournal *j;

        if (!name_ok(bus_id, 256))
                return NULL;
        j = calloc(1, sizeof(*j));
        if (!j)
                return NULL;
        j->fd = -1;
        j->dir = strdup(dir);
        j->bus_id = strdup(bus_id);
        if (!j->dir || !j->bus_id)
                return lease_journal_free(j);
        return j;
}

int lease_journal_new_from(const char *dir, const char *bus_id, LeaseJournalNext next, void *userdata,
                           LeaseJournal **ret) {
        LeaseJournal *j;
        int r;

        if (!name_ok(bus_id, 256))
                return -EINVAL;
        j = journal_alloc(dir, bus_id);
        if (!j)
                return -ENOMEM;
        r = rewrite(dir, bus_id, next, userdata, 0, 0, true, &j->fd, &j->end, &j->size, &j->records, &j->answered);
        if (r >= 0)
                r = map_window(j);
        if (r < 0) {
                lease_journal_free(j);
                return r;
        }
        *ret = j;
        return 0;
}

int lease_journal_new(const char *dir, const char *bus_id, const LeaseRecord *leases, size_t n,
                      LeaseJournal **ret) {
        ArrayNext a = { leases, n, 0 };
        return lease_journal_new_from(dir, bus_id, array_next, &a, ret);
}

int lease_journal_compact_from(LeaseJournal *j, LeaseJournalNext next, void *userdata) {
        size_t n, end, size;
        int fd, r;

        /* The old file gets what is queued: the new one is written from @next, which has all of it. */
        (void) lease_journal_flush(j);
        r = rewrite(j->dir, j->bus_id, next, userdata, j->answered, j->replying, false, &fd, &end, &size, &n,
                    &j->answered);
        if (r < 0)
                return r;
        unmap_window(j);
        safe_close(j->fd);
        j->fd = fd;
        j->end = end;
        j->size = size;
        j->records = n;
        /* Should this fail, the next append maps it again (and reports the error). */
        (void) map_window(j);
        return 0;
}

int lease_journal_compact(LeaseJournal *j, const LeaseRecord *leases, size_t n) {
        ArrayNext a = { leases, n, 0 };
        return lease_journal_compact_from(j, array_next, &a);
}

LeaseJournal *lease_journal_free(LeaseJournal *j) {
        if (!j)
                return NULL;
        if (j->fd >= 0)
                (void) lease_journal_flush(j);
        unmap_window(j);
        safe_close(j->fd);
        free(j->dir);
        free(j->bus_id);
        free(j);
        return NULL;
}

/* Hex digits, 1 to 16 of them, the whole of [s, e). */
static bool parse_hex_n(const char *s, const char *e, uint64_t *ret) {
        uint64_t v = 0;

        if (s == e || e - s > 16)
                return false;
        for (; s < e; s++) {
                unsigned d;
                if (*s >= '0' && *s <= '9')
                        d = (unsigned) (*s - '0');
                else if (*s >= 'a' && *s <= 'f')
                        d = (unsigned) (*s - 'a' + 10);
                else if (*s >= 'A' && *s <= 'F')
                        d = (unsigned) (*s - 'A' + 10);
                else
                        return false;
                v = v << 4 | d;
        }
        *ret = v;
        return true;
}

static bool parse_hex(const char *s, uint64_t *ret) {
        return s && parse_hex_n(s, s + strlen(s), ret);
}

static bool parse_dec_n(const char *s, const char *e, uint64_t *ret) {
        uint64_t v = 0;

        if (s == e || e - s > 19)
                return false;
        for (; s < e; s++) {
                if (*s < '0' || *s > '9')
                        return false;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *ret = v;
        return true;
}

/*
 * A "+" record as the replay keeps it: the names are offsets into one
 * pool where each distinct name is stored once (a thousand clients' names
 * for a hundred thousand leases).
 */
typedef struct Entry {
        uint64_t id, iova, size, offset;
        uint32_t owner;
        uint32_t client, container;     /* offsets into the name pool */
        bool mapped, writable, removed;
} Entry;

typedef struct Names {
        char *pool;
        size_t n_pool, cap_pool;
        uint32_t *slot;                 /* open addressing: offset + 1, 0 for empty */
        size_t n_slots, used;
} Names;

static void names_done(Names *n) {
        free(n->pool);
        free(n->slot);
}

static uint64_t hash_bytes(const char *s, size_t len) {
        uint64_t h = 0xcbf29ce484222325ULL;     /* FNV-1a */

        for (size_t i = 0; i < len; i++)
                h = (h ^ (unsigned char) s[i]) * 0x100000001b3ULL;
        return h;
}

static bool names_grow(Names *n) {
        size_t c = n->n_slots ? n->n_slots * 2 : 64;
        uint32_t *t = calloc(c, sizeof(uint32_t));

        if (!t)
                return false;
        for (size_t i = 0; i < n->n_slots; i++) {
                if (!n->slot[i])
                        continue;
                const char *name = n->pool + n->slot[i] - 1;
                size_t k = hash_bytes(name, strlen(name)) & (c - 1);
                while (t[k])
                        k = (k + 1) & (c - 1);
                t[k] = n->slot[i];
        }
        free(n->slot);
        n->slot = t;
        n->n_slots = c;
        return true;
}

/* The offset of [s, s + len) in the pool, added when new; -ENOMEM. */
static int names_intern(Names *n, const char *s, size_t len, uint32_t *ret) {
        size_t k;

        if (2 * (n->used + 1) > n->n_slots && !names_grow(n))
                return -ENOMEM;
        for (k = hash_bytes(s, len) & (n->n_slots - 1); n->slot[k]; k = (k + 1) & (n->n_slots - 1)) {
                const char *name = n->pool + n->slot[k] - 1;
                if (strncmp(name, s, len) == 0 && name[len] == 0) {
                        *ret = n->slot[k] - 1;
                        return 0;
                }
        }
        if (n->n_pool + len + 1 > n->cap_pool) {
                size_t c = MAX(n->cap_pool * 2, n->n_pool + len + 1 + 1024);
                if (c > UINT32_MAX)
                        return -ENOMEM;
                char *p = realloc(n->pool, c);
                if (!p)
                        return -ENOMEM;
                n->pool = p;
                n->cap_pool = c;
        }
        memcpy(n->pool + n->n_pool, s, len);
        n->pool[n->n_pool + len] = 0;
        *ret = (uint32_t) n->n_pool;
        n->slot[k] = (uint32_t) n->n_pool + 1;
        n->n_pool += len + 1;
        n->used++;
        return 0;
}

/* A name field: what name_ok() accepts, in [s, e). */
static bool name_ok_n(const char *s, const char *e, size_t max) {
        if (s == e || (size_t) (e - s) >= max)
                return false;
        for (; s < e; s++)
                if ((unsigned char) *s <= ' ' || (unsigned char) *s >= 0x7f)
                        return false;
        return true;
}

/* "+ ID IOVA SIZE OWNER MAPPED WRITABLE OFFSET CLIENT CONTAINER", fields split by runs of spaces. */
static int parse_add(const char *line, Names *names, Entry *ret) {
        const char *f[10], *fe[10], *p = line;
        size_t n = 0;
        uint64_t owner, mapped, writable;
        Entry l = {};
        int r;

        for (;;) {
                while (*p == ' ')
                        p++;
                if (!*p)
                        break;
                if (n == ELEMENTSOF(f))
                        return -EINVAL;
                f[n] = p;
                while (*p && *p != ' ')
                        p++;
                fe[n++] = p;
        }
        if (n != ELEMENTSOF(f) || fe[0] - f[0] != 1)
                return -EINVAL;
        if (!parse_hex_n(f[1], fe[1], &l.id) || l.id == 0 || !parse_hex_n(f[2], fe[2], &l.iova) ||
            !parse_hex_n(f[3], fe[3], &l.size) || l.size == 0 || !parse_dec_n(f[4], fe[4], &owner) ||
            owner >= UINT32_MAX || !parse_hex_n(f[5], fe[5], &mapped) || mapped > 1 ||
            !parse_hex_n(f[6], fe[6], &writable) || writable > 1 || !parse_hex_n(f[7], fe[7], &l.offset) ||
            !name_ok_n(f[8], fe[8], LEASE_RECORD_CLIENT_MAX) || !name_ok_n(f[9], fe[9], LEASE_RECORD_CONTAINER_MAX))
                return -EINVAL;
        l.owner = (uint32_t) owner;
        l.mapped = mapped;
        l.writable = writable;
        r = names_intern(names, f[8], (size_t) (fe[8] - f[8]), &l.client);
        if (r >= 0)
                r = names_intern(names, f[9], (size_t) (fe[9] - f[9]), &l.container);
        if (r < 0)
                return r;
        *ret = l;
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

/* Index of the entry with @id, the entries being sorted by id at [0, n); -1 when none. */
static ssize_t find_sorted(const Entry *e, const size_t *order, size_t n, uint64_t id) {
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (e[order[mid]].id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < n && e[order[lo]].id == id ? (ssize_t) order[lo] : -1;
}

static int cmp_entry_id(const void *a, const void *b, void *userdata) {
        const Entry *e = userdata;
        uint64_t x = e[*(const size_t *) a].id, y = e[*(const size_t *) b].id;
        return x < y ? -1 : x > y;
}

int lease_journal_replay(const char *dir, const char *bus_id, int (*cb)(const LeaseRecord *l, void *userdata),
                         void *userdata, uint64_t *ret_max_id, char **ret_error) {
        _cleanup_free_ char *path = journal_path(dir, "leases.journal"), *line = NULL;
        _cleanup_free_ Entry *entries = NULL;
        _cleanup_free_ uint64_t *removed = NULL;
        _cleanup_free_ size_t *order = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_(names_done) Names names = {};
        size_t n = 0, cap = 0, n_removed = 0, cap_removed = 0, size = 0, lineno = 0;
        uint64_t max_id = 0, answered = UINT64_MAX, replying = 0, last_id = 0;
        bool sorted = true;
        char version[16], id[257];
        ssize_t len;
        int r;

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
                /*
                 * The records end at the first zero byte: the rest of the
                 * file is room for the next ones (and after a crash in the
                 * middle of an append, perhaps part of that one).
                 */
                if (memchr(line, 0, (size_t) len))
                        break;
                if (!whole) {
                        /* Only the last line can be torn, by a crash in its append (a file without a zero tail). */
                        if (getc(f) == EOF)
                                break;
                        return parse_error(ret_error, -EINVAL, "%s:%zu: line without an end", path, lineno);
                }
                line[len - 1] = '\0';
                if (line[0] == '+' && line[1] == ' ') {
                        if (!grow((void **) &entries, &cap, n, sizeof(*entries)))
                                return -ENOMEM;
                        r = parse_add(line, &names, &entries[n]);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return parse_error(ret_error, -EINVAL, "%s:%zu: malformed record", path, lineno);
                        if (entries[n].id > max_id)
                                max_id = entries[n].id;
                        if (entries[n].id <= last_id)
                                sorted = false;
                        last_id = entries[n].id;
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
        free(line);
        line = NULL;
        fclose(f);
        f = NULL;

        /*
         * Lease ids are never reused, so a removal cancels the one addition
         * of that id. The additions are in id order but for what a
         * compaction wrote (in container order): sort an index only then.
         */
        order = reallocarray(NULL, n ? n : 1, sizeof(size_t));
        if (!order)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                order[i] = i;
        if (!sorted)
                qsort_r(order, n, sizeof(size_t), cmp_entry_id, entries);
        for (size_t k = 0; k < n_removed; k++) {
                ssize_t i = find_sorted(entries, order, n, removed[k]);
                if (i >= 0)
                        entries[i].removed = true;
        }
        free(removed);
        removed = NULL;
        free(order);
        order = NULL;

        *ret_max_id = max_id;
        for (size_t i = 0; i < n; i++) {
                const Entry *e = &entries[i];
                LeaseRecord l;

                if (e->removed)
                        continue;
                l = (LeaseRecord) {
                        .id = e->id,
                        .iova = e->iova,
                        .size = e->size,
                        .owner = (uid_t) e->owner,
                        .mapped = e->mapped,
                        .writable = e->writable,
                        .offset = e->offset,
                        /* Its reply may have gone out (and reached its client) or not: kept. */
                        .in_doubt = e->id > answered && e->id <= replying,
                };
                l.unanswered = e->id > answered && !l.in_doubt;
                strcpy(l.client, names.pool + e->client);
                strcpy(l.container, names.pool + e->container);
                r = cb(&l, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

typedef struct Collect {
        LeaseRecord *leases;
        size_t n, cap;
} Collect;

static int collect(const LeaseRecord *l, void *userdata) {
        Collect *c = userdata;

        if (!grow((void **) &c->leases, &c->cap, c->n, sizeof(*c->leases)))
                return -ENOMEM;
        c->leases[c->n++] = *l;
        return 0;
}

int lease_journal_load(const char *dir, const char *bus_id, LeaseRecord **ret, size_t *ret_n, uint64_t *ret_max_id,
                       char **ret_error) {
        Collect c = {};
        uint64_t max_id = 0;
        int r;

        r = lease_journal_replay(dir, bus_id, collect, &c, &max_id, ret_error);
        if (r < 0) {
                free(c.leases);
                return r;
        }
        if (c.n == 0) {
                free(c.leases);
                c.leases = NULL;
        }
        *ret = c.leases;
        *ret_n = c.n;
        *ret_max_id = max_id;
        return 0;
}
