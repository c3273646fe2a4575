/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The chaos engine (chaos.h): client processes, the kills, and the audit
 * that compares what the clients were told with what iovad holds.
 *
 * Clients and the test share one anonymous shared mapping: a Client per
 * process with its leases (Slot), written by the client as it goes, so a
 * client killed at any moment leaves a record of what it had been answered
 * for. The test asks the clients to pause (Shared.pause) before every
 * audit: a paused client has resolved every Release whose outcome it could
 * not know (retried: gone either way afterwards), checked each of its
 * leases through its own connection, and makes no call until resumed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "chaos.h"

#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

#define MAX_CLIENTS 1024
#define MAX_LIVE 512
#define CALL_TIMEOUT_USEC (120ULL * 1000 * 1000)
#define SETTLE_USEC (90ULL * 1000 * 1000)
#define PAUSE_TIMEOUT_USEC (180ULL * 1000 * 1000)
#define GROUP 5
/* The container's users besides root: with root, the uids the bus tier's environment lets connect. */
static const uid_t chaos_uids[] = { 0, UID_OTHER, UID_NOBODY };

const ChaosParams chaos_ci_kill_storm = { .clients = 60, .rounds = 4, .live_max = 6, .load_ms = 150 };
const ChaosParams chaos_ci_daemon_kills = { .clients = 9, .rounds = 5, .live_max = 8, .load_ms = 300 };
const ChaosParams chaos_ci_bus_restarts = { .clients = 6, .rounds = 2, .live_max = 6, .load_ms = 300 };
const ChaosParams chaos_ci_fd_exhaustion = { .clients = 6, .rounds = 1, .nofile = 320 };

/*
 * SLOT_DOUBT: a Lease, MapMemory or AllocateMapped that got no reply (iovad
 * died with it in hand). If iovad had already begun to answer, the lease
 * comes back (docs/reliability.md): the auditor then finds it, matches it to
 * this slot by owner, size and kind, and tells the client its id (adopt),
 * which releases it as the documented rule asks.
 */
enum { SLOT_FREE, SLOT_ACKED, SLOT_RELEASING, SLOT_DOUBT };
enum { KIND_LEASE, KIND_ALLOC, KIND_MAP };
enum { MODE_LOAD, MODE_FILL };
enum { STOP_NONE, STOP_RELEASE, STOP_LEAVE };

typedef struct Slot {
        uint64_t id, iova, size;
        uint64_t dev, ino, pattern; /* mapped ones: the memfd, and what the client wrote at its start */
        unsigned epoch;             /* the iovad the call went to (Shared.epoch when it was made) */
        uint8_t kind;
        uint8_t missing;            /* the client's own check did not find it */
        uint8_t counted;            /* the auditor counted it as lost already (written by the auditor) */
        uint64_t adopt;             /* SLOT_DOUBT: the id of the lease the auditor found for it (written by the auditor) */
        uint8_t state;              /* atomic; written last */
} Slot;

typedef struct Client {
        pid_t pid;
        uid_t uid;
        int in_call, ready, full, stop, done; /* atomic */
        unsigned seen_pause, bus_gen;        /* atomic: written by the client */
        uint64_t calls, cut, named, unnamed, too_many_files, acked, gone;
        uint64_t lingering;                  /* leases of its connection on an old bus still there on the new one */
        uint64_t max_id;                     /* the highest lease id it was answered with */
        char problem[256];
        Slot slots[MAX_LIVE];
} Client;

typedef struct Shared {
        unsigned pause, resume, epoch, bus_gen; /* atomic: written by the test */
        unsigned mode, live_max, seed;
        char address[600];
        char container[128];
        Client c[];
} Shared;

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

/* ---- randomness: one xorshift64* per process, seeded from the scenario's seed ---- */

typedef struct Rng {
        uint64_t s;
} Rng;

static uint64_t rng_next(Rng *r) {
        r->s ^= r->s >> 12;
        r->s ^= r->s << 25;
        r->s ^= r->s >> 27;
        return r->s * 0x2545F4914F6CDD1DULL;
}

static unsigned rng_below(Rng *r, unsigned n) {
        return n ? (unsigned) (rng_next(r) % n) : 0;
}

static Rng rng_new(unsigned seed, unsigned stream) {
        Rng r = { .s = ((uint64_t) seed << 32 | stream) * 0x9E3779B97F4A7C15ULL + 1 };
        for (int i = 0; i < 8; i++)
                (void) rng_next(&r);
        return r;
}

/* ---- calls, and what their outcome means ---- */

typedef enum Outcome {
        OUT_OK,
        OUT_CUT,           /* no reply: iovad died with the call in hand; the outcome is unknown */
        OUT_NOT_DELIVERED, /* nobody owned org.iovad1: the call never reached iovad */
        OUT_DISCONNECTED,  /* our own bus went away */
        OUT_NAMED,         /* refused, with a documented name */
        OUT_UNNAMED,
} Outcome;

static bool documented(const char *name) {
        static const char *const dbus_ok[] = { SD_BUS_ERROR_INVALID_ARGS, SD_BUS_ERROR_ACCESS_DENIED,
                                               SD_BUS_ERROR_NO_MEMORY };
        for (const sd_bus_error_map *m = iovad_bus_errors; m->name; m++)
                if (streq(m->name, name))
                        return true;
        for (size_t i = 0; i < ELEMENTSOF(dbus_ok); i++)
                if (streq(dbus_ok[i], name))
                        return true;
        return false;
}

static Outcome classify(sd_bus *bus, int r, const sd_bus_error *error) {
        if (r >= 0)
                return OUT_OK;
        if (!sd_bus_is_open(bus) || r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE || r == -ESHUTDOWN ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_DISCONNECTED))
                return OUT_DISCONNECTED;
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_NO_REPLY))
                return OUT_CUT;
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return OUT_NOT_DELIVERED;
        if (error->name && documented(error->name))
                return OUT_NAMED;
        return OUT_UNNAMED;
}

static void note_problem(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void note_problem(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;

        if (buf[0])
                return;
        va_start(ap, fmt);
        vsnprintf(buf, size, fmt, ap);
        va_end(ap);
}

/* One call as a client makes it: counted, with in_call set while it is out. */
static Outcome client_call(Client *me, sd_bus *bus, sd_bus_message *m, sd_bus_message **reply, sd_bus_error *error) {
        Outcome o;
        int r;

        STORE(me->in_call, 1);
        me->calls++;
        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, error, reply);
        STORE(me->in_call, 0);
        o = classify(bus, r, error);
        switch (o) {
        case OUT_CUT:
                me->cut++;
                break;
        case OUT_NAMED:
                me->named++;
                if (sd_bus_error_has_name(error, IOVAD_ERROR_TOO_MANY_FILES))
                        me->too_many_files++;
                break;
        case OUT_UNNAMED:
                me->unnamed++;
                note_problem(me->problem, sizeof(me->problem), "uid %u: %s: %s (%s)", (unsigned) me->uid,
                             error->name ?: "?", error->message ?: "", strerror(-r));
                break;
        default:
                break;
        }
        return o;
}

static uint64_t path_id(const char *path) {
        const char *p = strrchr(path, '/');
        return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* ---- the client process ---- */

typedef struct ClientLocal {
        Shared *sh;
        Client *me;
        unsigned index;
        Rng rng;
        sd_bus *bus;
        unsigned bus_gen;
        int fds[MAX_LIVE];
        void *maps[MAX_LIVE];
} ClientLocal;

static sd_bus *client_connect(Shared *sh) {
        sd_bus *bus = NULL;

        if (sd_bus_new(&bus) < 0)
                return NULL;
        if (sd_bus_set_address(bus, sh->address) < 0 || sd_bus_set_bus_client(bus, true) < 0 ||
            sd_bus_set_trusted(bus, false) < 0 || sd_bus_start(bus) < 0) {
                sd_bus_unref(bus);
                return NULL;
        }
        return bus;
}

static void slot_forget(ClientLocal *cl, size_t i) {
        Slot *s = &cl->me->slots[i];

        if (cl->maps[i]) {
                (void) munmap(cl->maps[i], s->size);
                cl->maps[i] = NULL;
        }
        if (cl->fds[i] >= 0) {
                close(cl->fds[i]);
                cl->fds[i] = -1;
        }
        STORE(s->state, SLOT_FREE);
}

static int new_call(sd_bus *bus, const char *path, const char *iface, const char *member, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(bus, ret, IOVAD_BUS_NAME, path, iface, member);
}

/* Lease, AllocateMapped or MapMemory into free slot @i. */
static Outcome client_make(ClientLocal *cl, size_t i, unsigned kind, uint64_t size) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        static const char *const members[] = { "Lease", "AllocateMapped", "MapMemory" };
        Slot *s = &cl->me->slots[i];
        const char *path;
        uint64_t iova;
        int fd = -1, memfd = -1;
        unsigned epoch;
        Outcome o;

        if (new_call(cl->bus, cl->sh->container, IOVAD_CONTAINER_IFACE, members[kind], &m) < 0)
                return OUT_DISCONNECTED;
        if (kind == KIND_MAP) {
                memfd = memfd_create("chaos", MFD_CLOEXEC | MFD_ALLOW_SEALING);
                if (memfd < 0 || ftruncate(memfd, (off_t) size) < 0 || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
                        _exit(3);
                if (sd_bus_message_append(m, "htta{sv}", memfd, (uint64_t) 0, size, 0) < 0)
                        _exit(3);
        } else if (sd_bus_message_append(m, "ta{sv}", size, 0) < 0)
                _exit(3);

        /* Taken before the call: the test bumps it once iovad is dead, so it names the iovad that got the call. */
        epoch = LOAD(cl->sh->epoch);
        o = client_call(cl->me, cl->bus, m, &reply, &error);
        if (o == OUT_CUT) {
                *s = (Slot) { .size = size, .kind = (uint8_t) kind, .epoch = epoch };
                STORE(s->state, SLOT_DOUBT);
        }
        if (o != OUT_OK) {
                if (memfd >= 0)
                        close(memfd);
                return o;
        }
        if (kind == KIND_ALLOC) {
                int got;
                if (sd_bus_message_read(reply, "oth", &path, &iova, &got) < 0)
                        _exit(4);
                fd = fcntl(got, F_DUPFD_CLOEXEC, 3);
        } else {
                if (sd_bus_message_read(reply, "ot", &path, &iova) < 0)
                        _exit(4);
                fd = memfd;
        }
        *s = (Slot) { .id = path_id(path), .iova = iova, .size = size, .kind = (uint8_t) kind, .epoch = epoch };
        cl->fds[i] = fd;
        if (kind != KIND_LEASE) {
                struct stat st;
                uint64_t *p;

                if (fd < 0 || fstat(fd, &st) < 0)
                        _exit(5);
                p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (p == MAP_FAILED)
                        _exit(5);
                cl->maps[i] = p;
                s->dev = st.st_dev;
                s->ino = st.st_ino;
                /* Through the client's own mapping: the auditor reads it back through iovad's fd. */
                s->pattern = rng_next(&cl->rng) | 1;
                p[0] = s->pattern;
                p[size / sizeof(uint64_t) - 1] = ~s->pattern;
        }
        cl->me->acked++;
        if (s->id > cl->me->max_id)
                cl->me->max_id = s->id;
        STORE(s->state, SLOT_ACKED);
        return o;
}

/* Release of slot @i: gone, still there, or (no reply) not known until asked again. */
static Outcome client_release(ClientLocal *cl, size_t i) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Slot *s = &cl->me->slots[i];
        char path[128];
        bool uncertain = LOAD(s->state) == SLOT_RELEASING;
        Outcome o;

        snprintf(path, sizeof(path), IOVAD_LEASE_PREFIX "/%" PRIu64, s->id);
        if (new_call(cl->bus, path, IOVAD_LEASE_IFACE, "Release", &m) < 0)
                return OUT_DISCONNECTED;
        STORE(s->state, SLOT_RELEASING);
        o = client_call(cl->me, cl->bus, m, NULL, &error);
        if (o == OUT_OK)
                slot_forget(cl, i);
        else if (o == OUT_NAMED && sd_bus_error_has_name(&error, IOVAD_ERROR_NO_SUCH_LEASE)) {
                /* Gone: expected only when an earlier Release got no reply. */
                if (!uncertain) {
                        s->missing = 1;
                        note_problem(cl->me->problem, sizeof(cl->me->problem),
                                     "lease %" PRIu64 " (acked) was gone at its Release", s->id);
                        STORE(s->state, SLOT_ACKED); /* stays in the record, as lost */
                        return o;
                }
                /* Not a refusal: the answer to "did it go?" after a Release without a reply. */
                cl->me->named--;
                cl->me->gone++;
                slot_forget(cl, i);
        } else if (o == OUT_NOT_DELIVERED || (o != OUT_CUT && o != OUT_DISCONNECTED))
                /* It never reached iovad, or iovad refused it: the lease is still there. */
                STORE(s->state, uncertain ? SLOT_RELEASING : SLOT_ACKED);
        return o;
}

/* The client's own view of slot @i, through its connection: same IOVA, size, mapped. */
static void client_check(ClientLocal *cl, size_t i) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Slot *s = &cl->me->slots[i];
        uint64_t iova = 0, size = 0;
        int mapped = 0, r;
        char path[128];

        snprintf(path, sizeof(path), IOVAD_LEASE_PREFIX "/%" PRIu64, s->id);
        r = sd_bus_call_method(cl->bus, IOVAD_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll", &error,
                               &reply, "s", IOVAD_LEASE_IFACE);
        if (r >= 0) {
                const char *name;
                if (sd_bus_message_enter_container(reply, 'a', "{sv}") < 0)
                        _exit(6);
                while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                        if (sd_bus_message_read(reply, "s", &name) < 0)
                                _exit(6);
                        if (streq(name, "Iova"))
                                r = sd_bus_message_read(reply, "v", "t", &iova);
                        else if (streq(name, "Size"))
                                r = sd_bus_message_read(reply, "v", "t", &size);
                        else if (streq(name, "Mapped"))
                                r = sd_bus_message_read(reply, "v", "b", &mapped);
                        else
                                r = sd_bus_message_skip(reply, "v");
                        if (r < 0 || sd_bus_message_exit_container(reply) < 0)
                                _exit(6);
                }
        }
        if (r < 0 || iova != s->iova || size != s->size || !!mapped != (s->kind != KIND_LEASE)) {
                s->missing = 1;
                note_problem(cl->me->problem, sizeof(cl->me->problem),
                             "uid %u: lease %" PRIu64 " at 0x%" PRIx64 ": %s (iova 0x%" PRIx64 " size 0x%" PRIx64
                             " mapped %d)",
                             (unsigned) cl->me->uid, s->id, s->iova, r < 0 ? error.name ?: strerror(-r) : "differs",
                             iova, size, mapped);
        }
        if (cl->maps[i]) {
                const uint64_t *p = cl->maps[i];
                if (p[0] != s->pattern || p[s->size / sizeof(uint64_t) - 1] != ~s->pattern) {
                        s->missing = 1;
                        note_problem(cl->me->problem, sizeof(cl->me->problem), "lease %" PRIu64 ": memory changed",
                                     s->id);
                }
        }
}

/*
 * After a bus restart: the old connection is gone, and with it every lease
 * of it (docs/reliability.md). Asked again on the new bus, each must be
 * NoSuchLease; one that is still there lingers, and is counted as leaked
 * by the auditor, since the slot stays.
 */
static void client_reconnect(ClientLocal *cl) {
        unsigned gen;

        while ((gen = LOAD(cl->sh->bus_gen)) == cl->bus_gen) {
                if (LOAD(cl->me->stop) != STOP_NONE)
                        _exit(0);
                (void) usleep(2000);
        }
        cl->bus = sd_bus_flush_close_unref(cl->bus);
        while (!(cl->bus = client_connect(cl->sh)))
                (void) usleep(10000);
        cl->bus_gen = gen;
        for (size_t i = 0; i < MAX_LIVE; i++) {
                Slot *s = &cl->me->slots[i];
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                char path[128];
                uint64_t v;
                int r;

                if (LOAD(s->state) == SLOT_FREE)
                        continue;
                snprintf(path, sizeof(path), IOVAD_LEASE_PREFIX "/%" PRIu64, s->id);
                r = sd_bus_get_property_trivial(cl->bus, IOVAD_BUS_NAME, path, IOVAD_LEASE_IFACE, "Iova", &error, 't',
                                                &v);
                if (r < 0 && sd_bus_error_has_name(&error, IOVAD_ERROR_NO_SUCH_LEASE)) {
                        cl->me->gone++;
                        slot_forget(cl, i);
                } else if (r < 0 && (sd_bus_error_has_name(&error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                                     sd_bus_error_has_name(&error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))) {
                        /* iovad is not back yet: ask again. */
                        (void) usleep(5000);
                        i--;
                } else {
                        /* Leaked: counted, and released so that the rest of the run can go on. */
                        note_problem(cl->me->problem, sizeof(cl->me->problem),
                                     "lease %" PRIu64 " of a connection of the old bus: %s", s->id,
                                     r < 0 ? error.name : "still there");
                        cl->me->lingering++;
                        STORE(s->state, SLOT_ACKED);
                        if (client_release(cl, i) != OUT_OK)
                                slot_forget(cl, i);
                }
        }
}

static size_t count_live(const Client *me) {
        size_t n = 0;
        for (size_t i = 0; i < MAX_LIVE; i++)
                n += LOAD(me->slots[i].state) != SLOT_FREE;
        return n;
}

static void client_pause(ClientLocal *cl, unsigned gen) {
        if (LOAD(cl->sh->bus_gen) != cl->bus_gen)
                client_reconnect(cl);
        for (size_t i = 0; i < MAX_LIVE; i++)
                if (LOAD(cl->me->slots[i].state) == SLOT_RELEASING) {
                        /* Its Release got no reply: ask again; afterwards it is gone either way. */
                        Outcome o = client_release(cl, i);
                        if (o == OUT_DISCONNECTED) {
                                client_reconnect(cl);
                                i = (size_t) -1;
                        } else if (o == OUT_NOT_DELIVERED || o == OUT_CUT) {
                                (void) usleep(5000);
                                i--;
                        }
                }
        for (size_t i = 0; i < MAX_LIVE; i++)
                if (LOAD(cl->me->slots[i].state) == SLOT_ACKED)
                        client_check(cl, i);
        STORE(cl->me->seen_pause, gen);
        while (LOAD(cl->sh->resume) != gen && LOAD(cl->me->stop) == STOP_NONE)
                (void) usleep(1000);
        /* Calls without a reply: a lease the auditor found for one is released, as the rule asks. */
        for (size_t i = 0; i < MAX_LIVE; i++) {
                Slot *s = &cl->me->slots[i];
                if (LOAD(s->state) != SLOT_DOUBT)
                        continue;
                if (LOAD(s->adopt) != 0) {
                        s->id = LOAD(s->adopt);
                        STORE(s->state, SLOT_ACKED);
                        if (client_release(cl, i) != OUT_OK)
                                note_problem(cl->me->problem, sizeof(cl->me->problem),
                                             "lease %" PRIu64 ", back after a call without a reply, cannot be released",
                                             s->id);
                } else
                        slot_forget(cl, i);
        }
}

/* A call carrying 8 fds that iovad does not take: refused by name, without costing iovad its bus. */
static void client_fd_flood(ClientLocal *cl) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int fds[8];

        if (new_call(cl->bus, cl->sh->container, IOVAD_CONTAINER_IFACE, "MapMemory", &m) < 0)
                _exit(7);
        for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
                fds[i] = memfd_create("chaos-flood", MFD_CLOEXEC | MFD_ALLOW_SEALING);
                if (fds[i] < 0 || ftruncate(fds[i], PAGE) < 0 || fcntl(fds[i], F_ADD_SEALS, F_SEAL_SHRINK) < 0 ||
                    sd_bus_message_append(m, "h", fds[i]) < 0)
                        _exit(7);
        }
        if (client_call(cl->me, cl->bus, m, NULL, &error) != OUT_NAMED ||
            !sd_bus_error_has_name(&error, SD_BUS_ERROR_INVALID_ARGS))
                note_problem(cl->me->problem, sizeof(cl->me->problem), "8 fds with a wrong signature: %s",
                             error.name ?: "accepted");
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                close(fds[i]);
}

static void client_main(void *userdata) {
        ClientLocal *cl = userdata;
        Client *me = cl->me;
        bool full_done = false;

        for (size_t i = 0; i < MAX_LIVE; i++) {
                cl->fds[i] = -1;
                cl->maps[i] = NULL;
        }
        cl->bus_gen = LOAD(cl->sh->bus_gen);
        while (!(cl->bus = client_connect(cl->sh))) {
                if (LOAD(me->stop) != STOP_NONE)
                        _exit(0);
                (void) usleep(10000);
        }
        STORE(me->ready, 1);

        for (;;) {
                unsigned stop = LOAD(me->stop), gen = LOAD(cl->sh->pause);
                size_t live, pick;
                Outcome o;

                if (stop == STOP_LEAVE)
                        break;
                if (gen != LOAD(me->seen_pause)) {
                        client_pause(cl, gen);
                        continue;
                }
                if (stop == STOP_RELEASE) {
                        for (size_t i = 0; i < MAX_LIVE; i++) {
                                if (LOAD(me->slots[i].state) == SLOT_DOUBT)
                                        slot_forget(cl, i);
                                while (LOAD(me->slots[i].state) != SLOT_FREE && !me->slots[i].missing) {
                                        o = client_release(cl, i);
                                        if (o == OUT_DISCONNECTED)
                                                _exit(8);
                                        if (o != OUT_OK && o != OUT_NAMED)
                                                (void) usleep(5000);
                                        if (o == OUT_NAMED && LOAD(me->slots[i].state) != SLOT_FREE)
                                                break;
                                }
                        }
                        break;
                }
                if (!sd_bus_is_open(cl->bus)) {
                        client_reconnect(cl);
                        continue;
                }
                if (cl->sh->mode == MODE_FILL) {
                        if (full_done) {
                                (void) usleep(2000);
                                continue;
                        }
                        /* Mapped leases until iovad's fd budget says no. */
                        for (pick = 0; pick < MAX_LIVE && LOAD(me->slots[pick].state) != SLOT_FREE; pick++)
                                ;
                        if (pick == MAX_LIVE)
                                _exit(9);
                        o = client_make(cl, pick, rng_below(&cl->rng, 2) ? KIND_ALLOC : KIND_MAP, PAGE);
                        if (o == OUT_NAMED && me->too_many_files > 0) {
                                /* Named, and iovad still serves what holds no fd. */
                                for (pick = 0; LOAD(me->slots[pick].state) != SLOT_FREE; pick++)
                                        ;
                                if (client_make(cl, pick, KIND_LEASE, PAGE) != OUT_OK)
                                        note_problem(me->problem, sizeof(me->problem),
                                                     "an IOVA-only lease at the fd budget failed");
                                if (cl->index == 0)
                                        client_fd_flood(cl);
                                full_done = true;
                                STORE(me->full, 1);
                        } else if (o == OUT_NOT_DELIVERED)
                                (void) usleep(2000);
                        continue;
                }

                live = count_live(me);
                if (live > 0 && (live >= cl->sh->live_max || rng_below(&cl->rng, 100) < 40)) {
                        /* A random one of them goes. */
                        bool called = false;
                        pick = rng_below(&cl->rng, (unsigned) live);
                        for (size_t i = 0, k = 0; i < MAX_LIVE; i++)
                                if (LOAD(me->slots[i].state) == SLOT_ACKED && k++ == pick) {
                                        o = client_release(cl, i);
                                        if (o == OUT_NOT_DELIVERED)
                                                (void) usleep(2000);
                                        called = true;
                                        break;
                                }
                        /* Only calls in doubt left: they wait for the next pause. */
                        if (!called)
                                (void) usleep(1000);
                        continue;
                }
                for (pick = 0; pick < MAX_LIVE && LOAD(me->slots[pick].state) != SLOT_FREE; pick++)
                        ;
                if (pick == MAX_LIVE)
                        continue;
                o = client_make(cl, pick, rng_below(&cl->rng, 3), PAGE * (1 + rng_below(&cl->rng, 4)));
                if (o == OUT_NOT_DELIVERED)
                        (void) usleep(2000);
        }
        sd_bus_flush_close_unref(cl->bus);
        STORE(me->done, 1);
        _exit(0);
}

/* ---- the test's side ---- */

typedef struct Persistent {
        char path[128];
        uint64_t id, iova, size, dev, ino, pattern;
        bool mapped;
        uint8_t counted;
        int fd;
        void *map;
} Persistent;

typedef struct Chaos {
        const ChaosParams *p;
        ChaosResult *r;
        BusEnv e;
        Shared *sh;
        size_t shared_size;
        unsigned n;
        Rng rng;
        sd_bus *bus;              /* root's */
        char *container;
        uint32_t dma_base;
        TRange usable[16];
        size_t n_usable;
        Persistent pers[8];
        size_t n_pers;
        uint64_t max_id_before;   /* the highest id any client had at the last kill of iovad or the bus */
        uint64_t t0;
} Chaos;

static void chaos_collect(Chaos *x) {
        if (x->e.fdstore)
                (void) env_fdstore_collect(&x->e);
}

/*
 * Sleeps @usec, reading the fd store's socket meanwhile: it holds few
 * datagrams (net.unix.max_dgram_qlen), and iovad waits in sd_notify() for
 * room, as it would with systemd.
 */
static void chaos_sleep(Chaos *x, uint64_t usec) {
        uint64_t end = now_usec() + usec;

        for (;;) {
                uint64_t now = now_usec();
                if (now >= end)
                        break;
                if (x->e.fdstore) {
                        struct pollfd pfd = { .fd = x->e.notify_fd, .events = POLLIN };
                        int ms = (int) ((end - now + 999) / 1000);
                        (void) poll(&pfd, 1, ms > 5 ? 5 : ms);
                        chaos_collect(x);
                } else
                        (void) usleep((useconds_t) (end - now > 5000 ? 5000 : end - now));
        }
}

static void chaos_init(Chaos *x, const ChaosParams *p, ChaosResult *r, const char *name, bool fdstore,
                       unsigned nofile, const char *config) {
        struct rlimit rl;

        *r = (ChaosResult) { .seed = p->seed, .clients = p->clients };
        xsprintf(r->scenario, "%s", name);
        memset(x, 0, sizeof(*x));
        x->p = p;
        x->r = r;
        x->n = p->clients;
        x->rng = rng_new(p->seed, 0xffffffffu);
        x->t0 = now_usec();
        ck_assert_uint_le(x->n, MAX_CLIENTS);
        ck_assert_uint_le(p->live_max, MAX_LIVE - 2);
        printf("chaos %s: seed %u, %u clients, %u rounds\n", name, p->seed, p->clients, p->rounds);
        fflush(stdout);

        /* The stand-in for the fd store holds every stored memfd in this process. */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
        x->shared_size = sizeof(Shared) + sizeof(Client) * (x->n ? x->n : 1);
        x->sh = mmap(NULL, x->shared_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert_ptr_ne(x->sh, MAP_FAILED);
        x->sh->seed = p->seed;
        x->sh->live_max = p->live_max;

        env_start_full(&x->e, name, NULL, config);
        env_daemon_stop(&x->e);
        if (fdstore)
                env_fdstore_enable(&x->e);
        x->e.nofile = nofile;
        env_daemon_start(&x->e);
        xsprintf(x->sh->address, "%s", x->e.address);

        x->bus = env_connect();
        x->container = create_container(x->bus, "chaos", chaos_uids + 1, ELEMENTSOF(chaos_uids) - 1);
        attach(x->bus, x->container, GROUP);
        xsprintf(x->sh->container, "%s", x->container);
        x->dma_base = prop_u(x->bus, x->container, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable");
        x->n_usable = prop_ranges(x->bus, x->container, IOVAD_CONTAINER_IFACE, "UsableRanges", x->usable,
                                  ELEMENTSOF(x->usable));
        ck_assert_uint_gt(x->n_usable, 0);
}

static void chaos_spawn(Chaos *x, unsigned i) {
        ClientLocal *cl = calloc(1, sizeof(*cl));
        Client *c = &x->sh->c[i];

        ck_assert_ptr_nonnull(cl);
        memset(c, 0, sizeof(*c));
        c->uid = chaos_uids[i % ELEMENTSOF(chaos_uids)];
        c->seen_pause = LOAD(x->sh->pause);
        cl->sh = x->sh;
        cl->me = c;
        cl->index = i;
        cl->rng = rng_new(x->p->seed, i);
        c->pid = spawn_as(c->uid, client_main, cl);
        free(cl);
}

static void chaos_spawn_all(Chaos *x) {
        uint64_t deadline;

        for (unsigned i = 0; i < x->n; i++)
                chaos_spawn(x, i);
        deadline = now_usec() + PAUSE_TIMEOUT_USEC;
        for (unsigned i = 0; i < x->n; i++)
                while (!LOAD(x->sh->c[i].ready)) {
                        ck_assert_msg(now_usec() < deadline, "client %u did not connect", i);
                        chaos_sleep(x, 1000);
                }
}

static bool client_running(const Client *c) {
        return c->pid > 0;
}

/* Every running client paused: its uncertain Releases resolved, its leases checked by itself. */
static void chaos_pause(Chaos *x) {
        unsigned gen = LOAD(x->sh->pause) + 1;
        uint64_t deadline = now_usec() + PAUSE_TIMEOUT_USEC;

        STORE(x->sh->pause, gen);
        for (unsigned i = 0; i < x->n; i++) {
                Client *c = &x->sh->c[i];
                while (client_running(c) && LOAD(c->seen_pause) != gen) {
                        int status;
                        if (waitpid(c->pid, &status, WNOHANG) == c->pid)
                                ck_abort_msg("client %u (uid %u) ended (status 0x%x) instead of pausing: %s", i,
                                             (unsigned) c->uid, (unsigned) status, c->problem);
                        ck_assert_msg(now_usec() < deadline, "client %u did not pause within %llu s", i,
                                      PAUSE_TIMEOUT_USEC / 1000000ULL);
                        chaos_sleep(x, 1000);
                }
        }
}

/* iovad or the bus was just killed: every id handed out after this must be higher than any before. */
static void chaos_note_kill(Chaos *x) {
        STORE(x->sh->epoch, LOAD(x->sh->epoch) + 1);
        for (unsigned i = 0; i < x->n; i++)
                x->max_id_before = MAX(x->max_id_before, x->sh->c[i].max_id);
        for (size_t k = 0; k < x->n_pers; k++)
                x->max_id_before = MAX(x->max_id_before, x->pers[k].id);
}

static void chaos_resume(Chaos *x) {
        STORE(x->sh->resume, LOAD(x->sh->pause));
}

/* ---- the audit ---- */

typedef struct Held {
        uint64_t dev, ino;
        int fdnum;
        bool matched;
} Held;

/* The memfds iovad holds, from /proc: what it says of itself plays no part. */
static size_t daemon_memfds(pid_t pid, Held *ret, size_t max) {
        char dir[64];
        DIR *d;
        struct dirent *de;
        size_t n = 0;

        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) pid);
        d = opendir(dir);
        ck_assert_msg(d, "cannot read %s: %s", dir, strerror(errno));
        while ((de = readdir(d))) {
                char link[700], target[256];
                struct stat st;
                ssize_t k;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
                k = readlink(link, target, sizeof(target) - 1);
                if (k <= 0)
                        continue;
                target[k] = 0;
                if (strncmp(target, "/memfd:", 7) != 0 || stat(link, &st) < 0)
                        continue;
                /* A simulated container's state is a memfd too (docs/profiles.md): the kernel's, no lease memory. */
                if (strncmp(target, "/memfd:iovad-sim-container", 26) == 0)
                        continue;
                ck_assert_uint_lt(n, max);
                ret[n++] = (Held) { .dev = st.st_dev, .ino = st.st_ino, .fdnum = atoi(de->d_name) };
        }
        closedir(d);
        return n;
}

typedef struct Expect {
        uint64_t id, iova, size, dev, ino, pattern;
        bool mapped, missing, old;
        uint8_t *counted;
        const char *who;
} Expect;

static int cmp_lease_iova(const void *a, const void *b) {
        const LeaseInfo *x = a, *y = b;
        return x->iova < y->iova ? -1 : x->iova > y->iova;
}

static size_t root_leases(Chaos *x, LeaseInfo **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = container_ok(x->bus, x->container, "ListLeases", NULL);
        size_t n = 0, cap = 256;
        LeaseInfo *li = malloc(cap * sizeof(*li));
        const char *path;
        uint64_t iova, size;
        int mapped, r;

        ck_assert_ptr_nonnull(li);
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "(ottb)"), 0);
        while ((r = sd_bus_message_read(reply, "(ottb)", &path, &iova, &size, &mapped)) > 0) {
                if (n == cap) {
                        cap *= 2;
                        li = realloc(li, cap * sizeof(*li));
                        ck_assert_ptr_nonnull(li);
                }
                xsprintf(li[n].path, "%s", path);
                li[n].iova = iova;
                li[n].size = size;
                li[n].mapped = mapped;
                n++;
        }
        ck_assert_int_ge(r, 0);
        *ret = li;
        return n;
}

typedef struct Audit {
        uint64_t lost, leaked, restored, orphans, expected, live, memfds;
        char problem[512];
} Audit;

/* A lease counts as lost once, however many audits find it missing. */
static void count_lost(Audit *a, Expect *e) {
        if (!*e->counted)
                a->lost++;
        *e->counted = 1;
}

/*
 * A lease nobody was answered for may be the one of a call that got no reply,
 * brought back because iovad had begun to answer it: it belongs to a client
 * with such a call of the same uid, size and kind, which is told its id
 * (and releases it). Returns whether one was found.
 */
static bool adopt_orphan(Chaos *x, const LeaseInfo *li, bool *mapped_orphan) {
        uint32_t owner = prop_u(x->bus, li->path, IOVAD_LEASE_IFACE, "Owner");

        for (unsigned i = 0; i < x->n; i++) {
                Client *c = &x->sh->c[i];
                if (!client_running(c) || c->uid != owner)
                        continue;
                for (size_t k = 0; k < MAX_LIVE; k++) {
                        Slot *s = &c->slots[k];
                        if (LOAD(s->state) != SLOT_DOUBT || LOAD(s->adopt) != 0 || s->size != li->size ||
                            (s->kind != KIND_LEASE) != li->mapped)
                                continue;
                        STORE(s->adopt, path_id(li->path));
                        *mapped_orphan = li->mapped;
                        return true;
                }
        }
        return false;
}

/*
 * What the clients (paused) and the test hold against what iovad holds.
 * @restart: the first audit after an iovad restart, so leases acked
 * before it count as restored.
 */
static void chaos_audit_once(Chaos *x, bool restart, Audit *a) {
        _cleanup_(freep) LeaseInfo *li = NULL;
        _cleanup_(freep) Expect *ex = NULL;
        _cleanup_(freep) Held *held = NULL;
        size_t n_li, n_ex = 0, cap = 1024, n_held, mapped_expected = 0, n_orphan_mapped = 0;
        unsigned epoch = LOAD(x->sh->epoch);
        uint32_t dma;

        *a = (Audit) {};
        ex = malloc(cap * sizeof(*ex));
        ck_assert_ptr_nonnull(ex);
        for (unsigned i = 0; i < x->n; i++) {
                Client *c = &x->sh->c[i];
                if (!client_running(c))
                        continue;
                for (size_t k = 0; k < MAX_LIVE; k++) {
                        Slot *s = &c->slots[k];
                        if (LOAD(s->state) == SLOT_FREE || LOAD(s->state) == SLOT_DOUBT)
                                continue;
                        ck_assert_msg(LOAD(s->state) == SLOT_ACKED, "client %u still has a Release in doubt", i);
                        if (n_ex == cap) {
                                cap *= 2;
                                ex = realloc(ex, cap * sizeof(*ex));
                                ck_assert_ptr_nonnull(ex);
                        }
                        if (s->epoch == epoch && epoch > 0 && s->id <= x->max_id_before) {
                                a->leaked++;
                                note_problem(a->problem, sizeof(a->problem),
                                             "lease id %" PRIu64 " handed out again after a restart (ids up to %" PRIu64
                                             " were out before)",
                                             s->id, x->max_id_before);
                        }
                        ex[n_ex++] = (Expect) { .counted = &s->counted, .id = s->id, .iova = s->iova, .size = s->size, .dev = s->dev,
                                                .ino = s->ino, .pattern = s->pattern, .mapped = s->kind != KIND_LEASE,
                                                .missing = s->missing, .old = s->epoch < epoch, .who = "a client" };
                }
        }
        for (size_t k = 0; k < x->n_pers; k++) {
                Persistent *p = &x->pers[k];
                ck_assert_uint_lt(n_ex, cap);
                ex[n_ex++] = (Expect) { .id = p->id, .iova = p->iova, .size = p->size, .dev = p->dev, .ino = p->ino,
                                        .pattern = p->pattern, .mapped = p->mapped, .old = true, .counted = &p->counted,
                                        .who = "the persistent set" };
        }
        a->expected = n_ex;

        n_li = root_leases(x, &li);
        a->live = n_li;
        held = calloc(n_ex + n_li + 64, sizeof(*held));
        ck_assert_ptr_nonnull(held);
        n_held = daemon_memfds(x->e.daemon_pid, held, n_ex + n_li + 64);
        a->memfds = n_held;
        chaos_collect(x);

        /* Every lease someone was answered for: there, where it was, with its memory. */
        for (size_t k = 0; k < n_ex; k++) {
                Expect *e = &ex[k];
                char want[128];
                bool found = false, ok = true;

                snprintf(want, sizeof(want), IOVAD_LEASE_PREFIX "/%" PRIu64, e->id);
                for (size_t j = 0; j < n_li; j++)
                        if (streq(li[j].path, want)) {
                                found = true;
                                ok = li[j].iova == e->iova && li[j].size == e->size && li[j].mapped == e->mapped;
                                break;
                        }
                if (!found || !ok || e->missing) {
                        count_lost(a, e);
                        note_problem(a->problem, sizeof(a->problem),
                                     "lease %" PRIu64 " of %s at 0x%" PRIx64 "+0x%" PRIx64 ": %s", e->id, e->who,
                                     e->iova, e->size,
                                     !found ? "not in ListLeases" : !ok ? "moved or changed" : "its owner cannot see it");
                        continue;
                }
                if (e->mapped) {
                        bool mem = false;
                        mapped_expected++;
                        for (size_t j = 0; j < n_held; j++)
                                if (!held[j].matched && held[j].dev == e->dev && held[j].ino == e->ino) {
                                        char path[64];
                                        uint64_t first = 0;
                                        int fd;

                                        held[j].matched = true;
                                        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int) x->e.daemon_pid,
                                                 held[j].fdnum);
                                        fd = open(path, O_RDONLY | O_CLOEXEC);
                                        mem = fd >= 0 && pread(fd, &first, sizeof(first), 0) == sizeof(first) &&
                                              first == e->pattern;
                                        if (fd >= 0)
                                                close(fd);
                                        break;
                                }
                        if (!mem) {
                                count_lost(a, e);
                                note_problem(a->problem, sizeof(a->problem),
                                             "lease %" PRIu64 " of %s: iovad does not hold its memory (inode %" PRIu64
                                             ") with the client's bytes",
                                             e->id, e->who, e->ino);
                                continue;
                        }
                        if (x->e.fdstore) {
                                char name[64];
                                struct stat st;
                                int fd;
                                snprintf(name, sizeof(name), "lease-%" PRIu64, e->id);
                                fd = env_fdstore_find(&x->e, name);
                                if (fd < 0 || fstat(fd, &st) < 0 || st.st_dev != e->dev || st.st_ino != e->ino) {
                                        count_lost(a, e);
                                        note_problem(a->problem, sizeof(a->problem),
                                                     "lease %" PRIu64 ": its memory is not in the fd store", e->id);
                                        continue;
                                }
                        }
                }
                if (restart && e->old)
                        a->restored++;
        }

        /* Nothing else: no lease, memfd, stored fd or DMA mapping that nobody was answered for. */
        for (size_t j = 0; j < n_li; j++) {
                bool known = false, mapped_orphan = false;
                for (size_t k = 0; k < n_ex && !known; k++)
                        known = path_id(li[j].path) == ex[k].id;
                if (!known && restart && adopt_orphan(x, &li[j], &mapped_orphan)) {
                        if (x->p->verbose)
                                printf("  %s: back, of a call without a reply\n", li[j].path);
                        a->orphans++;
                        n_orphan_mapped += mapped_orphan;
                        continue;
                }
                if (!known) {
                        a->leaked++;
                        note_problem(a->problem, sizeof(a->problem),
                                     "%s at 0x%" PRIx64 "+0x%" PRIx64 "%s: nobody was answered for it", li[j].path,
                                     li[j].iova, li[j].size, li[j].mapped ? ", mapped" : "");
                }
        }
        for (size_t j = 0, spare = n_orphan_mapped; j < n_held; j++)
                if (!held[j].matched && spare > 0)
                        spare--; /* an orphan's memory, as long as its lease lives */
                else if (!held[j].matched) {
                        a->leaked++;
                        note_problem(a->problem, sizeof(a->problem), "iovad holds a memfd (inode %" PRIu64
                                     ") of no lease anyone was answered for", held[j].ino);
                }
        mapped_expected += n_orphan_mapped;
        /* The store holds the container's and its groups' fds too: only the leases' memory counts here. */
        size_t n_stored = 0;
        for (size_t j = 0; x->e.fdstore && j < x->e.n_store; j++)
                n_stored += strncmp(x->e.store[j].name, "lease-", 6) == 0;
        if (x->e.fdstore && n_stored != mapped_expected) {
                a->leaked += n_stored > mapped_expected ? n_stored - mapped_expected : 0;
                note_problem(a->problem, sizeof(a->problem), "the fd store holds %zu lease fds for %zu mapped leases",
                             n_stored, mapped_expected);
        }
        dma = prop_u(x->bus, x->container, IOVAD_CONTAINER_IFACE, "DmaMappingsAvailable");
        if ((uint64_t) dma + mapped_expected != x->dma_base) {
                if ((uint64_t) dma + mapped_expected < x->dma_base)
                        a->leaked += x->dma_base - mapped_expected - dma;
                note_problem(a->problem, sizeof(a->problem), "%u DMA mappings available with %zu mapped leases (of %u)",
                             dma, mapped_expected, x->dma_base);
        }
        /* No two leases share IOVA space: counted from ListLeases, not from iovad's allocator. */
        qsort(li, n_li, sizeof(*li), cmp_lease_iova);
        for (size_t j = 1; j < n_li; j++)
                if (li[j].iova < li[j - 1].iova + li[j - 1].size) {
                        a->leaked++;
                        note_problem(a->problem, sizeof(a->problem), "%s and %s overlap", li[j - 1].path, li[j].path);
                }
}

/*
 * The audit as the result counts it. What iovad does once a client left the
 * bus takes a moment: an audit with a discrepancy is repeated (the clients
 * stay paused) until it is clean or SETTLE_USEC passed; restored counts come
 * from the first one.
 */
static void chaos_audit(Chaos *x, bool restart, bool settle) {
        uint64_t deadline = now_usec() + SETTLE_USEC;
        uint64_t restored = 0, orphans = 0;
        bool first = true;
        Audit a;

        for (;;) {
                chaos_audit_once(x, restart && first, &a);
                if (first) {
                        restored = a.restored;
                        orphans = a.orphans;
                }
                first = false;
                if ((a.lost == 0 && a.leaked == 0) || !settle || now_usec() > deadline)
                        break;
                chaos_sleep(x, 20 * 1000);
        }
        x->r->audits++;
        x->r->restored += restored;
        x->r->orphans += orphans;
        x->r->lost += a.lost;
        x->r->leaked += a.leaked;
        x->r->max_live = MAX(x->r->max_live, a.live);
        x->r->max_memfds = MAX(x->r->max_memfds, a.memfds);
        if (a.problem[0])
                note_problem(x->r->problem, sizeof(x->r->problem), "%s", a.problem);
        if (x->p->verbose)
                printf("  audit %" PRIu64 ": %" PRIu64 " leases (%" PRIu64 " expected), %" PRIu64
                       " memfds; restored %" PRIu64 ", orphans %" PRIu64 ", lost %" PRIu64 ", leaked %" PRIu64 "%s%s\n",
                       x->r->audits, a.live, a.expected, a.memfds, restored, orphans, a.lost, a.leaked,
                       a.problem[0] ? ": " : "",
                       a.problem);
}

/* With nothing left, the whole of every usable range can be leased again: no IOVA space is held. */
static void chaos_audit_empty(Chaos *x) {
        chaos_audit(x, false, true);
        for (size_t i = 0; i < x->n_usable; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                uint64_t size = x->usable[i].end - x->usable[i].start + 1;
                const char *path;
                int r;

                r = sd_bus_call_method(x->bus, IOVAD_BUS_NAME, x->container, IOVAD_CONTAINER_IFACE, "Lease", &error,
                                       &reply, "ta{sv}", size, 1, "iova", "t", x->usable[i].start);
                if (r < 0) {
                        x->r->leaked++;
                        note_problem(x->r->problem, sizeof(x->r->problem),
                                     "the usable range 0x%" PRIx64 "-0x%" PRIx64 " cannot be leased whole: %s: %s",
                                     x->usable[i].start, x->usable[i].end, error.name, error.message);
                        continue;
                }
                ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, NULL), 0);
                release(x->bus, path);
        }
}

static void chaos_sum_clients(Chaos *x) {
        for (unsigned i = 0; i < x->n; i++) {
                Client *c = &x->sh->c[i];
                x->r->calls += c->calls;
                x->r->cut += c->cut;
                x->r->named_errors += c->named;
                x->r->unnamed_errors += c->unnamed;
                x->r->too_many_files += c->too_many_files;
                x->r->acked += c->acked;
                x->r->gone_as_documented += c->gone;
                x->r->leaked += c->lingering;
                if (c->problem[0])
                        note_problem(x->r->problem, sizeof(x->r->problem), "client %u: %s", i, c->problem);
        }
}

/* Stops every running client (@how; -1: every other one leaves without releasing), waits for it, asserts it ended well. */
static void chaos_stop_clients(Chaos *x, int how) {
        for (unsigned i = 0; i < x->n; i++)
                if (client_running(&x->sh->c[i]))
                        STORE(x->sh->c[i].stop, how >= 0 ? how : i % 2 ? STOP_LEAVE : STOP_RELEASE);
        chaos_resume(x);
        for (unsigned i = 0; i < x->n; i++) {
                Client *c = &x->sh->c[i];
                uint64_t deadline = now_usec() + PAUSE_TIMEOUT_USEC;
                int status;
                pid_t r;

                if (!client_running(c))
                        continue;
                while ((r = waitpid(c->pid, &status, WNOHANG)) == 0) {
                        ck_assert_msg(now_usec() < deadline, "client %u did not stop", i);
                        chaos_sleep(x, 1000);
                }
                ck_assert_int_eq(r, c->pid);
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client %u (uid %u) ended with 0x%x: %s",
                              i, (unsigned) c->uid, (unsigned) status, c->problem);
                c->pid = 0;
        }
}

/*
 * What iovad's logs say it did with leases whose call it died in (its own
 * word, printed beside the figures), and any sanitizer report in them: a
 * killed iovad's log is checked by nobody else.
 */
static void count_log_lines(Chaos *x) {
        for (unsigned i = 1; i <= x->e.starts; i++) {
                char path[700], *line = NULL;
                size_t size = 0;
                FILE *f;

                xsprintf(path, "%s/iovad-%u.log", x->e.dir, i);
                f = fopen(path, "re");
                if (!f)
                        continue;
                while (getline(&line, &size, f) > 0) {
                        if (strstr(line, "was being answered when iovad stopped: kept"))
                                x->r->in_doubt_kept++;
                        if (strstr(line, "was never answered before iovad stopped: released"))
                                x->r->unanswered_dropped++;
                        if (strstr(line, "Sanitizer") || strstr(line, "runtime error:"))
                                note_problem(x->r->problem, sizeof(x->r->problem), "%s has a sanitizer report: %s",
                                             path, line);
                }
                free(line);
                fclose(f);
        }
}

static void chaos_done(Chaos *x) {
        chaos_sum_clients(x);
        count_log_lines(x);
        x->r->seconds = (double) (now_usec() - x->t0) / 1e6;
        sd_bus_flush_close_unref(x->bus);
        x->bus = NULL;
        free(x->container);
        for (size_t k = 0; k < x->n_pers; k++) {
                if (x->pers[k].map)
                        (void) munmap(x->pers[k].map, x->pers[k].size);
                if (x->pers[k].fd >= 0)
                        close(x->pers[k].fd);
        }
        env_stop(&x->e);
        (void) munmap(x->sh, x->shared_size);
}

static void chaos_reap_killed(Chaos *x, unsigned i) {
        Client *c = &x->sh->c[i];
        int status = wait_child(c->pid);

        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "client %u ended with 0x%x before its kill: %s",
                      i, (unsigned) status, c->problem);
        x->r->client_kills++;
        if (LOAD(c->in_call))
                x->r->mid_call_kills++;
        /* What it held goes with its connection (docs/reliability.md). */
        x->r->gone_as_documented += count_live(c);
        c->pid = 0;
}

/* ---- a: client kill storm ---- */

void chaos_kill_storm(const ChaosParams *p, ChaosResult *r) {
        _cleanup_(freep) unsigned *victims = NULL;
        unsigned n_victims = 0, next = 0;
        Chaos x;

        chaos_init(&x, p, r, "kill-storm", false, 16384, NULL);
        x.sh->mode = MODE_LOAD;
        chaos_spawn_all(&x);

        /* Every fifth client survives; the rest die in waves, in a random order. */
        victims = calloc(x.n ? x.n : 1, sizeof(*victims));
        ck_assert_ptr_nonnull(victims);
        for (unsigned i = 0; i < x.n; i++)
                if (i % 5 != 0)
                        victims[n_victims++] = i;
        for (unsigned i = n_victims; i > 1; i--) {
                unsigned j = rng_below(&x.rng, i), t = victims[i - 1];
                victims[i - 1] = victims[j];
                victims[j] = t;
        }
        for (unsigned w = 0; w < p->rounds; w++) {
                unsigned end = w + 1 == p->rounds ? n_victims : n_victims * (w + 1) / p->rounds;
                unsigned first = next;

                chaos_sleep(&x, 1000ULL * (p->load_ms / 2 + rng_below(&x.rng, p->load_ms / 2 + 1)));
                for (; next < end; next++) {
                        ck_assert_int_eq(kill(x.sh->c[victims[next]].pid, SIGKILL), 0);
                        if (rng_below(&x.rng, 2))
                                (void) usleep(rng_below(&x.rng, 2000));
                }
                for (unsigned k = first; k < end; k++)
                        chaos_reap_killed(&x, victims[k]);
        }

        /* Nothing of the dead is left; the survivors have all they were answered for. */
        chaos_pause(&x);
        chaos_audit(&x, false, true);
        chaos_stop_clients(&x, STOP_RELEASE);
        chaos_audit_empty(&x);
        chaos_done(&x);
}

/* ---- b: iovad SIGKILLed under load, restarted with the fd store ---- */

void chaos_daemon_kills(const ChaosParams *p, ChaosResult *r) {
        Chaos x;

        chaos_init(&x, p, r, "iovad-kills", true, 16384, NULL);
        x.sh->mode = MODE_LOAD;
        chaos_spawn_all(&x);
        for (unsigned k = 0; k < p->rounds; k++) {
                chaos_sleep(&x, 1000ULL * (p->load_ms / 2 + rng_below(&x.rng, p->load_ms / 2 + 1)));
                env_daemon_kill(&x.e);
                chaos_note_kill(&x);
                r->daemon_kills++;
                /* Down for a moment, as systemd's RestartSec= would have it; the clients keep calling. */
                chaos_sleep(&x, 1000ULL * rng_below(&x.rng, 50));
                env_daemon_start(&x.e);
                /* Right after the restart, before any client leaves: nothing to settle. */
                chaos_pause(&x);
                chaos_audit(&x, true, false);
                chaos_resume(&x);
        }
        chaos_stop_clients(&x, STOP_RELEASE);
        chaos_audit_empty(&x);
        chaos_done(&x);
}

/* ---- c: bus restarts ---- */

static void make_persistent(Chaos *x, unsigned kind, uint64_t size) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Persistent *p = &x->pers[x->n_pers++];
        const char *path;
        struct stat st;
        int fd = -1;

        *p = (Persistent) { .size = size, .fd = -1, .mapped = kind != KIND_LEASE };
        if (kind == KIND_LEASE)
                reply = container_ok(x->bus, x->container, "Lease", "ta{sv}", size, 1, "persistent", "b", 1);
        else if (kind == KIND_MAP) {
                p->fd = sealed_memfd(size, 0);
                reply = container_ok(x->bus, x->container, "MapMemory", "htta{sv}", p->fd, (uint64_t) 0, size, 1,
                                     "persistent", "b", 1);
        } else
                reply = container_ok(x->bus, x->container, "AllocateMapped", "ta{sv}", size, 1, "persistent", "b", 1);
        if (kind == KIND_ALLOC) {
                ck_assert_int_ge(sd_bus_message_read(reply, "oth", &path, &p->iova, &fd), 0);
                p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        } else
                ck_assert_int_ge(sd_bus_message_read(reply, "ot", &path, &p->iova), 0);
        xsprintf(p->path, "%s", path);
        p->id = path_id(path);
        if (p->mapped) {
                uint64_t *m;
                ck_assert_int_eq(fstat(p->fd, &st), 0);
                p->dev = st.st_dev;
                p->ino = st.st_ino;
                m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
                ck_assert_ptr_ne(m, MAP_FAILED);
                p->map = m;
                p->pattern = rng_next(&x->rng) | 1;
                m[0] = p->pattern;
        }
}

void chaos_bus_restarts(const ChaosParams *p, ChaosResult *r) {
        Chaos x;

        chaos_init(&x, p, r, "bus-restarts", true, 16384, NULL);
        x.sh->mode = MODE_LOAD;
        /* Root's persistent leases: IOVA only, its own memfd mapped, and memory iovad made. */
        make_persistent(&x, KIND_LEASE, 4 * PAGE);
        make_persistent(&x, KIND_MAP, 2 * PAGE);
        make_persistent(&x, KIND_ALLOC, 2 * PAGE);
        chaos_spawn_all(&x);
        for (unsigned k = 0; k < p->rounds; k++) {
                uint64_t deadline;
                int status = 0;
                pid_t w = 0;

                chaos_sleep(&x, 1000ULL * (p->load_ms / 2 + rng_below(&x.rng, p->load_ms / 2 + 1)));
                x.bus = sd_bus_flush_close_unref(x.bus);
                env_bus_kill(&x.e);
                chaos_note_kill(&x);
                r->bus_restarts++;
                /* iovad must notice and fail, so that systemd starts it again. */
                deadline = now_usec() + 30ULL * 1000 * 1000;
                while ((w = waitpid(x.e.daemon_pid, &status, WNOHANG)) == 0) {
                        ck_assert_msg(now_usec() < deadline, "iovad still runs 30 s after its bus went away");
                        chaos_sleep(&x, 2000);
                }
                ck_assert_int_eq(w, x.e.daemon_pid);
                x.e.daemon_pid = 0;
                if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
                        r->daemon_failures++;
                else
                        note_problem(r->problem, sizeof(r->problem), "iovad ended with status 0x%x on the bus loss",
                                     (unsigned) status);
                /* A new bus, and iovad started again as Restart=on-failure does. */
                env_bus_start(&x.e);
                xsprintf(x.sh->address, "%s", x.e.address);
                STORE(x.sh->bus_gen, LOAD(x.sh->bus_gen) + 1);
                env_daemon_start(&x.e);
                x.bus = env_connect();
                /* The clients reconnect and find their old leases gone; the persistent ones are back. */
                chaos_pause(&x);
                chaos_audit(&x, true, false);
                chaos_resume(&x);
        }
        chaos_stop_clients(&x, STOP_RELEASE);
        for (size_t k = 0; k < x.n_pers; k++)
                release(x.bus, x.pers[k].path);
        for (size_t k = 0; k < x.n_pers; k++) {
                if (x.pers[k].map)
                        (void) munmap(x.pers[k].map, x.pers[k].size);
                if (x.pers[k].fd >= 0)
                        close(x.pers[k].fd);
        }
        x.n_pers = 0;
        chaos_audit_empty(&x);
        chaos_done(&x);
}

/* ---- d: fd exhaustion ---- */

void chaos_fd_exhaustion(const ChaosParams *p, ChaosResult *r) {
        uint64_t deadline;
        Chaos x;

        ck_assert_uint_ge(p->nofile, 256 + 64);
        chaos_init(&x, p, r, "fd-exhaustion", true, p->nofile, NULL);
        /* iovad's FD_HEADROOM, and the fds of the container and its group, which count too. */
        r->fd_budget = p->nofile - 256 - 2;
        x.sh->mode = MODE_FILL;
        chaos_spawn_all(&x);
        deadline = now_usec() + PAUSE_TIMEOUT_USEC;
        for (unsigned i = 0; i < x.n; i++)
                while (!LOAD(x.sh->c[i].full)) {
                        int status;
                        if (waitpid(x.sh->c[i].pid, &status, WNOHANG) == x.sh->c[i].pid)
                                ck_abort_msg("client %u ended (0x%x): %s", i, (unsigned) status, x.sh->c[i].problem);
                        ck_assert_msg(now_usec() < deadline, "client %u never reached the fd budget", i);
                        chaos_sleep(&x, 1000);
                }
        for (unsigned k = 0; k <= p->rounds; k++) {
                uint64_t mapped = 0;

                chaos_pause(&x);
                /* Still on the bus, with every lease, and exactly the budget's worth of memory. */
                {
                        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                        int has = 0;
                        ck_assert_int_ge(sd_bus_call_method(x.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                            "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s",
                                                            IOVAD_BUS_NAME),
                                         0);
                        ck_assert_int_ge(sd_bus_message_read(reply, "b", &has), 0);
                        if (!has)
                                note_problem(r->problem, sizeof(r->problem), "iovad is off the bus at its fd budget");
                }
                chaos_audit(&x, k > 0, false);
                for (unsigned i = 0; i < x.n; i++)
                        for (size_t s = 0; s < MAX_LIVE; s++)
                                mapped += LOAD(x.sh->c[i].slots[s].state) == SLOT_ACKED &&
                                          x.sh->c[i].slots[s].kind != KIND_LEASE;
                r->at_budget = mapped;
                chaos_resume(&x);
                if (k == p->rounds)
                        break;
                /* At the budget, iovad dies; the next one takes all of it back from the fd store. */
                env_daemon_kill(&x.e);
                chaos_note_kill(&x);
                r->daemon_kills++;
                env_daemon_start(&x.e);
        }
        /* Half the clients release, the other half just leave. */
        chaos_stop_clients(&x, -1);
        chaos_audit_empty(&x);
        chaos_done(&x);
}

/* ---- figures ---- */

void chaos_print_header(FILE *f) {
        fprintf(f, "%-14s %10s %7s %8s %6s %11s %7s %7s %8s %8s %5s %6s %6s %6s %6s %8s\n", "scenario", "seed", "clients",
                "calls", "cut", "kills(mid)", "iovad-k", "bus-r", "acked", "restored", "lost", "leaked", "gone",
                "named", "other", "seconds");
}

void chaos_print(FILE *f, const ChaosResult *r) {
        char kills[32];

        snprintf(kills, sizeof(kills), "%" PRIu64 "(%" PRIu64 ")", r->client_kills, r->mid_call_kills);
        fprintf(f,
                "%-14s %10u %7" PRIu64 " %8" PRIu64 " %6" PRIu64 " %11s %7" PRIu64 " %7" PRIu64 " %8" PRIu64
                " %8" PRIu64 " %5" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %8.1f\n",
                r->scenario, r->seed, r->clients, r->calls, r->cut, kills, r->daemon_kills, r->bus_restarts, r->acked,
                r->restored, r->lost, r->leaked, r->gone_as_documented, r->named_errors, r->unnamed_errors,
                r->seconds);
        if (r->fd_budget)
                fprintf(f, "%-14s fd budget %" PRIu64 " mapped leases, %" PRIu64 " acked when TooManyFiles came (%" PRIu64
                        " times)\n", "", r->fd_budget, r->at_budget, r->too_many_files);
        if (r->bus_restarts)
                fprintf(f, "%-14s iovad failed (exit status != 0) on %" PRIu64 " of %" PRIu64 " bus losses\n", "",
                        r->daemon_failures, r->bus_restarts);
        fprintf(f, "%-14s most leases %" PRIu64 ", most memfds %" PRIu64 ", %" PRIu64 " audits\n", "", r->max_live,
                r->max_memfds, r->audits);
        if (r->daemon_kills)
                fprintf(f, "%-14s orphans %" PRIu64 ": leases back whose call got no reply, each matched to such a call "
                        "of its owner and released by it\n", "", r->orphans);
        if (r->daemon_kills)
                fprintf(f, "%-14s iovad's logs: %" PRIu64 " leases being answered at a kill kept, %" PRIu64
                        " never answered dropped\n", "", r->in_doubt_kept, r->unanswered_dropped);
        if (r->problem[0])
                fprintf(f, "%-14s first problem: %s\n", "", r->problem);
        fflush(f);
}
