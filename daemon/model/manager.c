/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "util/log.h"
#include "model/delegate.h"
#include "model/manager.h"
#include "platform/cdi.h"
#include "persist/state.h"

int manager_new(Backend *backend, Config *config, const char *state_dir, const char *runtime_dir, Manager **ret) {
        Manager *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        m->backend = backend;
        m->config = *config;
        *config = (Config) {};
        m->next_lease_id = 1;
        m->lease_buckets = 1024;
        m->lease_table = calloc(m->lease_buckets, sizeof(Lease *));
        m->state_dir = state_dir ? strdup(state_dir) : NULL;
        m->runtime_dir = runtime_dir ? strdup(runtime_dir) : NULL;
        if (!m->lease_table || (state_dir && !m->state_dir) || (runtime_dir && !m->runtime_dir)) {
                manager_free(m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

static size_t client_bucket(const Manager *m, const char *name) {
        uint64_t h = 0xcbf29ce484222325ULL;     /* FNV-1a */

        for (const char *p = name; *p; p++)
                h = (h ^ (unsigned char) *p) * 0x100000001b3ULL;
        return (size_t) (h & (m->client_buckets - 1));
}

/* Keeps the table at most one client a bucket; false when it cannot grow (the chains just get longer). */
static bool client_table_grow(Manager *m) {
        size_t n = m->client_buckets ? m->client_buckets * 2 : 64;
        Client **t = calloc(n, sizeof(Client *));

        if (!t)
                return false;
        free(m->client_table);
        m->client_table = t;
        m->client_buckets = n;
        for (Client *c = m->clients; c; c = c->next) {
                size_t b = client_bucket(m, c->name);
                c->hash_next = t[b];
                t[b] = c;
        }
        return true;
}

static void client_free(Manager *m, Client *c) {
        Client **p = &m->client_table[client_bucket(m, c->name)];

        while (*p != c)
                p = &(*p)->hash_next;
        *p = c->hash_next;
        m->n_clients--;
        if (c->prev)
                c->prev->next = c->next;
        else
                m->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        free(c->name);
        free(c);
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* Containers release their leases (unmapping them) before the backend goes. */
        for (size_t i = m->n_containers; i > 0; i--)
                container_free(m->containers[i - 1]);
        free(m->containers);
        while (m->clients)
                client_free(m, m->clients);
        free(m->client_table);
        free(m->lease_table);
        lease_journal_free(m->journal);
        free(m->rebind);
        free(m->delegations);
        free(m->memfd_use);
        sysfs_platform_free(m->platform);
        backend_free(m->backend);
        config_done(&m->config);
        free(m->state_dir);
        free(m->runtime_dir);
        free(m->cdi_dir);
        free(m->cdi_hook);
        free(m->cdi_bus_socket);
        free(m->cdi_written);
        free(m);
        return NULL;
}

int manager_set_fd_budget(Manager *m, size_t headroom) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
                (void) getrlimit(RLIMIT_NOFILE, &rl);
        }
        /* Beyond FD_SETSIZE nothing here cares; keep the figure in size_t range. */
        rlim_t cur = rl.rlim_cur == RLIM_INFINITY ? (rlim_t) 1 << 20 : rl.rlim_cur;
        m->memfd_budget = cur > headroom + 64 ? (size_t) (cur - headroom) : 64;
        return 0;
}

static uint32_t *memfd_use_of(Manager *m, uid_t uid, bool create) {
        for (size_t i = 0; i < m->n_memfd_use; i++)
                if (m->memfd_use[i].uid == uid)
                        return &m->memfd_use[i].n;
        if (!create)
                return NULL;
        void *a = reallocarray(m->memfd_use, m->n_memfd_use + 1, sizeof(*m->memfd_use));
        if (!a)
                return NULL;
        m->memfd_use = a;
        m->memfd_use[m->n_memfd_use].uid = uid;
        m->memfd_use[m->n_memfd_use].n = 0;
        return &m->memfd_use[m->n_memfd_use++].n;
}

/*
 * The fds that are containers and groups in the kernel: one per container
 * and one per attached group, which the fd store holds too.
 */
static size_t kernel_fds(const Manager *m) {
        size_t n = m->n_containers;

        for (size_t i = 0; i < m->n_containers; i++)
                n += m->containers[i]->n_groups;
        return n;
}

/* TOO_MANY_FILES when one more container or group fd would not leave the memory fds their budget. */
static int check_kernel_fd_budget(Manager *m, const char *what, IovadError *e) {
        if (m->memfd_budget == 0 || m->restoring || m->n_memfds + kernel_fds(m) < m->memfd_budget)
                return 0;
        return iovad_error(e, IOVAD_E_TOO_MANY_FILES,
                           "%s would take a file descriptor, and iovad holds %zu for containers, groups and the "
                           "memory of mapped leases, all its file descriptors allow: raise LimitNOFILE=",
                           what, m->n_memfds + kernel_fds(m));
}

/* As manager_check_memfd_budget() for @more memory fds at once. */
static int check_memfd_budget_n(Manager *m, uid_t uid, size_t more, IovadError *e) {
        uint32_t *n = memfd_use_of(m, uid, false);
        uint32_t have = n ? *n : 0;

        if (uid != 0 && (more > m->config.max_memfds || have > m->config.max_memfds - more))
                return iovad_error(e, IOVAD_E_QUOTA_EXCEEDED,
                                   more == 1 ? "uid %u has %" PRIu32 " mapped leases whose memory iovad holds, the most allowed"
                                             : "uid %u has %" PRIu32 " mapped leases whose memory iovad holds: the batch "
                                               "would pass the most allowed",
                                   (unsigned) uid, have);
        if (m->memfd_budget > 0 && m->n_memfds + kernel_fds(m) + more > m->memfd_budget)
                return iovad_error(e, IOVAD_E_TOO_MANY_FILES,
                                   "iovad holds the memory of %zu mapped leases and %zu container and group fds, "
                                   "all its file descriptors allow: release some, or raise LimitNOFILE=",
                                   m->n_memfds, kernel_fds(m));
        return 0;
}

int manager_check_memfd_budget(Manager *m, uid_t uid, IovadError *e) {
        return check_memfd_budget_n(m, uid, 1, e);
}

static void memfd_count(Manager *m, const Lease *l, int delta) {
        uint32_t *n;

        if (!l->mapped)
                return;
        n = memfd_use_of(m, l->owner, delta > 0);
        if (n)
                *n += (uint32_t) delta;
        m->n_memfds += (size_t) delta;
}

int manager_set_cdi(Manager *m, const char *dir, const char *hook, const char *bus_socket) {
        char *d = strdup(dir), *h = strdup(hook), *b = strdup(bus_socket);

        if (!d || !h || !b) {
                free(d);
                free(h);
                free(b);
                return -ENOMEM;
        }
        free(m->cdi_dir);
        free(m->cdi_hook);
        free(m->cdi_bus_socket);
        m->cdi_dir = d, m->cdi_hook = h, m->cdi_bus_socket = b;
        free(m->cdi_written);
        m->cdi_written = NULL;
        return 0;
}

/* The spec follows the platform: written when its text differs from what was last written. */
static void cdi_update(Manager *m) {
        const CdiOptions o = {
                .hook = m->cdi_hook,
                .bus_socket = m->cdi_bus_socket,
                .bind_devices = m->config.cdi_bind_devices,
                .n_bind_devices = m->config.n_cdi_bind_devices,
        };
        _cleanup_free_ char *json = NULL;
        size_t n = 0;
        int r;

        if (!m->cdi_dir)
                return;
        r = cdi_spec_build(m->platform, &o, &json);
        if (r < 0) {
                log_error_errno(r, "Cannot make the CDI spec");
                return;
        }
        if (m->cdi_written && strcmp(m->cdi_written, json) == 0)
                return;
        r = cdi_spec_write(m->cdi_dir, json);
        if (r < 0) {
                log_error_errno(r, "Cannot write the CDI spec %s/%s", m->cdi_dir, CDI_SPEC_FILE);
                return;
        }
        for (size_t i = 0; i < m->platform->n_devices; i++)
                n += cdi_device_listed(&m->platform->devices[i], &o);
        log_info("Wrote the CDI spec %s/%s (kind %s, %zu device%s)", m->cdi_dir, CDI_SPEC_FILE, CDI_KIND, n,
                 n == 1 ? "" : "s");
        free(m->cdi_written);
        m->cdi_written = TAKE_PTR(json);
}

int manager_refresh_platform(Manager *m, IovadError *e) {
        _cleanup_free_ char *msg = NULL;
        SysfsPlatform *p = NULL;
        int r;

        r = sysfs_read_platform(m->backend->sysfs_root, &p, &msg);
        if (r < 0)
                return iovad_error(e, IOVAD_E_KERNEL, "Reading %s failed: %s", m->backend->sysfs_root,
                                   msg ? msg : strerror(-r));
        /*
         * Isolation hardware does not come and go: evidence of it (an IR-
         * or ITS- interrupt chip) may vanish when the last host driver
         * using it lets go, but the isolation stays.
         */
        if (m->platform && (m->platform->isolation == ISOLATION_REMAPPED ||
                            m->platform->isolation == ISOLATION_ISOLATED_MSI) &&
            (p->isolation == ISOLATION_UNSAFE || p->isolation == ISOLATION_NONE || p->isolation == ISOLATION_UNKNOWN))
                p->isolation = m->platform->isolation;
        sysfs_platform_free(m->platform);
        m->platform = p;
        cdi_update(m);
        return 0;
}

Container *manager_find_container(Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_containers; i++)
                if (strcmp(m->containers[i]->name, name) == 0)
                        return m->containers[i];
        return NULL;
}

Container *manager_container_of_group(Manager *m, unsigned group) {
        for (size_t i = 0; i < m->n_containers; i++)
                if (container_has_group(m->containers[i], group))
                        return m->containers[i];
        return NULL;
}

/* The state file's picture of @m; the strings point into the manager (not owned). */
static int state_collect(Manager *m, State *s) {
        size_t nl = 0;

        for (size_t i = 0; i < m->n_containers; i++)
                for (Lease *l = m->containers[i]->leases; l; l = l->c_next)
                        nl += l->persistent;
        s->next_lease_id = MAX(m->next_lease_id, m->lease_id_reserved);
        s->containers = calloc(m->n_containers ? m->n_containers : 1, sizeof(StateContainer));
        s->leases = calloc(nl ? nl : 1, sizeof(LeaseRecord));
        if (!s->containers || !s->leases)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_containers; i++) {
                Container *c = m->containers[i];
                s->containers[s->n_containers++] = (StateContainer) {
                        .name = c->name,
                        .users = c->users,
                        .n_users = c->n_users,
                        .groups = c->groups,
                        .n_groups = c->n_groups,
                        .reserve_peer_windows = c->reserve_peer_windows,
                };
                for (Lease *l = c->leases; l; l = l->c_next) {
                        if (!l->persistent)
                                continue;
                        LeaseRecord *rec = &s->leases[s->n_leases++];
                        *rec = (LeaseRecord) {
                                .id = l->id,
                                .iova = l->iova,
                                .size = l->size,
                                .owner = l->owner,
                                .mapped = l->mapped,
                                .writable = l->writable,
                                .offset = l->offset,
                        };
                        snprintf(rec->container, sizeof(rec->container), "%s", c->name);
                }
        }
        s->rebinds = m->rebind;
        s->n_rebinds = m->n_rebind;
        return 0;
}

void manager_save_state(Manager *m) {
        State s = {};
        int r;

        if (m->restoring || !m->state_dir)
                return;
        if (m->save_deferred > 0) {
                m->save_wanted = true;
                return;
        }
        r = state_collect(m, &s);
        if (r >= 0)
                r = state_save(m->state_dir, &s);
        free(s.containers);
        free(s.leases);
        if (r < 0)
                log_error_f(LOG_FIELDS(.error = r), "Saving state to %s failed: %s", m->state_dir, strerror(-r));
}

int manager_create_container(Manager *m, const char *name, const uid_t *users, size_t n_users, Container **ret,
                             IovadError *e) {
        return manager_create_container_full(m, name, users, n_users, false, ret, e);
}

int manager_create_container_full(Manager *m, const char *name, const uid_t *users, size_t n_users,
                                  bool reserve_peer_windows, Container **ret, IovadError *e) {
        Container **a, *c;
        int r;

        if (manager_find_container(m, name))
                return iovad_error(e, IOVAD_E_EXISTS, "Container '%s' exists already", name);
        r = check_kernel_fd_budget(m, "A new container", e);
        if (r < 0)
                return r;
        a = reallocarray(m->containers, m->n_containers + 1, sizeof(Container *));
        if (!a)
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        m->containers = a;
        r = container_new(m->backend, &m->config, name, users, n_users, &c, e);
        if (r < 0)
                return r;
        /* Before any group: its windows are holes from its first attach on. */
        c->reserve_peer_windows = reserve_peer_windows;
        m->containers[m->n_containers++] = c;
        manager_save_state(m);
        *ret = c;
        return 0;
}

/* ---- the lease table ---- */

static size_t bucket_of(const Manager *m, uint64_t id) {
        /* Ids are sequential: a multiplicative hash spreads them over the buckets. */
        return (size_t) ((id * 0x9e3779b97f4a7c15ULL) >> 20) & (m->lease_buckets - 1);
}

static void lease_table_grow(Manager *m) {
        size_t n = m->lease_buckets * 2;
        Lease **t = calloc(n, sizeof(Lease *));

        /* A crowded table still works: growing is an optimisation. */
        if (!t)
                return;
        Lease **old = m->lease_table;
        size_t old_n = m->lease_buckets;
        m->lease_table = t;
        m->lease_buckets = n;
        for (size_t i = 0; i < old_n; i++)
                for (Lease *l = old[i], *next; l; l = next) {
                        next = l->hash_next;
                        size_t b = bucket_of(m, l->id);
                        l->hash_next = t[b];
                        t[b] = l;
                }
        free(old);
}

Lease *manager_find_lease(Manager *m, uint64_t id) {
        for (Lease *l = m->lease_table[bucket_of(m, id)]; l; l = l->hash_next)
                if (l->id == id)
                        return l;
        return NULL;
}

static void table_add(Manager *m, Lease *l) {
        if (m->n_leases >= m->lease_buckets)
                lease_table_grow(m);
        size_t b = bucket_of(m, l->id);
        l->hash_next = m->lease_table[b];
        m->lease_table[b] = l;
        m->n_leases++;
}

static void table_remove(Manager *m, Lease *l) {
        for (Lease **p = &m->lease_table[bucket_of(m, l->id)]; *p; p = &(*p)->hash_next)
                if (*p == l) {
                        *p = l->hash_next;
                        m->n_leases--;
                        return;
                }
}

static void client_link(Client *c, Lease *l) {
        l->client = c;
        l->cl_prev = NULL;
        l->cl_next = c->leases;
        if (c->leases)
                c->leases->cl_prev = l;
        c->leases = l;
        c->n_leases++;
}

static void client_unlink(Lease *l) {
        Client *c = l->client;

        if (!c)
                return;
        if (l->cl_prev)
                l->cl_prev->cl_next = l->cl_next;
        else
                c->leases = l->cl_next;
        if (l->cl_next)
                l->cl_next->cl_prev = l->cl_prev;
        c->n_leases--;
        l->client = NULL;
        l->cl_prev = l->cl_next = NULL;
}

/* ---- what outlives the process ---- */

/* What snprintf("%s") would write, without its cost on every Lease. */
static void copy_name(char *dst, size_t size, const char *src) {
        size_t n = strnlen(src, size - 1);

        memcpy(dst, src, n);
        dst[n] = 0;
}

static void record_of(const Lease *l, LeaseRecord *ret) {
        *ret = (LeaseRecord) {
                .id = l->id,
                .iova = l->iova,
                .size = l->size,
                .owner = l->owner,
                .mapped = l->mapped,
                .writable = l->writable,
                .offset = l->offset,
        };
        copy_name(ret->client, sizeof(ret->client), l->client ? l->client->name : "");
        copy_name(ret->container, sizeof(ret->container), l->container->name);
}


void manager_leases_answered(Manager *m) {
        int r;

        if (!m->journal || m->journaled == 0)
                return;
        r = lease_journal_answered(m->journal, m->journaled);
        if (r < 0)
                log_error_f(LOG_FIELDS(.error = r), "Cannot note answered leases in the lease journal: %s", strerror(-r));
        m->journaled = 0;
}

void manager_lease_replying(Manager *m, const Lease *l) {
        int r;

        if (!m->journal || !l->client || l->persistent)
                return;
        r = lease_journal_replying(m->journal, l->id);
        if (r < 0)
                log_error("Cannot note the reply of lease %" PRIu64 " in the lease journal: %s", l->id, strerror(-r));
}

/* The leases of connections, one at a time, for the journal's rewrite. */
typedef struct JournalCursor {
        Manager *m;
        size_t container;
        Lease *next;
} JournalCursor;

static int journal_next(void *userdata, LeaseRecord *ret) {
        JournalCursor *k = userdata;

        for (;;) {
                while (k->next && !k->next->client)
                        k->next = k->next->c_next;
                if (k->next) {
                        record_of(k->next, ret);
                        k->next = k->next->c_next;
                        return 1;
                }
                if (++k->container >= k->m->n_containers)
                        return 0;
                k->next = k->m->containers[k->container]->leases;
        }
}

int manager_compact_journal(Manager *m) {
        JournalCursor k = { m, 0, NULL };
        int r;

        if (!m->runtime_dir || !m->bus_id[0])
                return 0;
        if (m->n_containers > 0)
                k.next = m->containers[0]->leases;
        if (m->journal)
                r = lease_journal_compact_from(m->journal, journal_next, &k);
        else
                r = lease_journal_new_from(m->runtime_dir, m->bus_id, journal_next, &k, &m->journal);
        if (r < 0)
                log_error_f(LOG_FIELDS(.error = r), "Writing the lease journal in %s failed: %s", m->runtime_dir, strerror(-r));
        return r;
}

/* A new lease goes into the journal (a connection's) or the state file (persistent), its memory into the fd store. */
static void lease_written(Manager *m, Lease *l) {
        int r;

        /* A restore re-creates what the journal and the fd store already hold. */
        if (m->restoring)
                return;
        if (l->persistent)
                manager_save_state(m);
        else if (l->client && m->journal) {
                LeaseRecord rec;
                record_of(l, &rec);
                r = lease_journal_add(m->journal, &rec);
                if (r >= 0)
                        m->journaled = MAX(m->journaled, l->id);
                if (r < 0)
                        log_error_f(LOG_FIELDS(.container = l->container->name, .lease = l->id, .error = r),
                                    "Lease %" PRIu64 " is not in the lease journal, so a restart of iovad would lose it: %s",
                                    l->id, strerror(-r));
                else if (lease_journal_wants_compaction(m->journal, m->n_leases))
                        (void) manager_compact_journal(m);
        }
        if (l->mapped) {
                /* 0 without a service manager: the memory then lasts as long as iovad. */
                r = fd_store_push_lease(l->id, l->memfd);
                if (r < 0)
                        log_warning_f(LOG_FIELDS(.container = l->container->name, .lease = l->id, .error = r),
                                      "Cannot keep the memory of lease %" PRIu64 " in the fd store: %s", l->id,
                                      strerror(-r));
                else if (r == 0 && l->persistent)
                        log_warning_f(LOG_FIELDS(.container = l->container->name, .lease = l->id),
                                      "Persistent lease %" PRIu64 " maps memory that only lives as long as iovad: "
                                    "no service manager keeps it in an fd store",
                                    l->id);
        }
}

/* @l is gone: its records go too, unless iovad is stopping (the next start wants them). */
/*
 * Around the leases of one batch: the state file (every persistent lease in
 * it) is written once at the end, not once per lease.
 */
static void save_defer(Manager *m) {
        m->save_deferred++;
}

static void save_resume(Manager *m) {
        if (--m->save_deferred > 0 || !m->save_wanted)
                return;
        m->save_wanted = false;
        manager_save_state(m);
}

static void lease_erased(Manager *m, bool persistent, bool mapped, uint64_t id, bool had_client) {
        int r;

        if (m->restoring || m->stopping)
                return;
        if (persistent)
                manager_save_state(m);
        else if (had_client && m->journal) {
                r = lease_journal_remove(m->journal, id);
                if (r < 0)
                        log_error_f(LOG_FIELDS(.lease = id, .error = r),
                                    "Cannot note the release of lease %" PRIu64 " in the lease journal: %s", id,
                                    strerror(-r));
        }
        if (mapped)
                fd_store_remove_lease(id);
}

/* ---- a lease's life ---- */

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* Ids are reserved in the state file this many at a time: one fsync per block, not per lease. */
#define LEASE_ID_BLOCK 4096

static void lease_adopt(Manager *m, Lease *l, uint64_t id, Client *client) {
        l->id = id ? id : m->next_lease_id;
        if (l->id >= m->next_lease_id)
                m->next_lease_id = l->id + 1;
        if (m->next_lease_id > m->lease_id_reserved && !m->restoring) {
                m->lease_id_reserved = m->next_lease_id + LEASE_ID_BLOCK;
                manager_save_state(m);
        }
        table_add(m, l);
        if (client && !l->persistent)
                client_link(client, l);
}

static int lease_make(Manager *m, Container *c, uint64_t id, uid_t owner, Client *client, uint64_t size,
                      const LeaseOptions *o, int memfd, uint64_t offset, Lease **ret, IovadError *e) {
        Lease *l;
        int r;

        if (memfd >= 0) {
                /* The count's slot first, so that counting cannot fail once the lease is made. */
                r = memfd_use_of(m, owner, true) ? 0 : iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
                /* A restore takes back what was held before, whatever the budget says now. */
                if (r >= 0 && !m->restoring)
                        r = manager_check_memfd_budget(m, owner, e);
                if (r < 0) {
                        safe_close(memfd);
                        return r;
                }
        }
        r = container_lease_new(c, owner, size, o, memfd, offset, &l, e);
        if (r < 0)
                return r;
        memfd_count(m, l, +1);
        lease_adopt(m, l, id, client);
        lease_written(m, l);
        *ret = l;
        return 0;
}

int manager_lease(Manager *m, Container *c, uid_t owner, Client *client, uint64_t size, const LeaseOptions *o,
                  int memfd, uint64_t offset, Lease **ret, IovadError *e) {
        return lease_make(m, c, 0, owner, client, size, o, memfd, offset, ret, e);
}

int manager_lease_batch(Manager *m, Container *c, uid_t owner, Client *client, const LeaseOptions *o, int memfd,
                        const LeasePiece *pieces, size_t n, Lease **ret, ssize_t *ret_failed, IovadError *e) {
        int r;

        *ret_failed = -1;
        /* The count's slot first, so that counting cannot fail once the leases are made. */
        if (!memfd_use_of(m, owner, true))
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        r = check_memfd_budget_n(m, owner, n, e);
        if (r < 0)
                return r;
        r = container_lease_batch(c, owner, o, memfd, pieces, n, ret, ret_failed, e);
        if (r < 0)
                return r;
        /*
         * Ids in order, then the records, one journal line each: a crash
         * before the reply's "?" line leaves them all unanswered (dropped
         * by the restore), one after it keeps them all.
         */
        save_defer(m);
        for (size_t i = 0; i < n; i++) {
                memfd_count(m, ret[i], +1);
                lease_adopt(m, ret[i], 0, client);
                lease_written(m, ret[i]);
        }
        save_resume(m);
        return 0;
}

int manager_release_lease(Manager *m, Lease *l, IovadError *e) {
        IovadError local = {};
        bool persistent = l->persistent, mapped = l->mapped, had_client = l->client != NULL;
        uint64_t id = l->id;
        int r;

        if (!e)
                e = &local;
        table_remove(m, l);
        client_unlink(l);
        memfd_count(m, l, -1);
        r = container_lease_release(l->container, l, e);
        if (r < 0) {
                /* Still mapped: it keeps its id, its range and its memory, but no connection holds it any more. */
                memfd_count(m, l, +1);
                table_add(m, l);
                log_error_f(LOG_FIELDS(.container = l->container->name, .lease = id, .error = r), "Lease %" PRIu64 " stays: %s",
                            id, e->message);
                return r;
        }
        lease_erased(m, persistent, mapped, id, had_client);
        return 0;
}

int manager_release_leases(Manager *m, uid_t caller, const uint64_t *ids, size_t n, ssize_t *ret_failed,
                           Container **changed, size_t n_max, size_t *ret_n_changed, IovadError *e) {
        _cleanup_free_ Lease **ls = NULL;
        size_t n_changed = 0;
        int r = 0;

        *ret_failed = -1;
        *ret_n_changed = 0;
        ls = calloc(n ? n : 1, sizeof(Lease *));
        if (!ls)
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        for (size_t i = 0; i < n; i++) {
                ls[i] = manager_find_lease(m, ids[i]);
                if (!ls[i]) {
                        *ret_failed = (ssize_t) i;
                        return iovad_error(e, IOVAD_E_NO_SUCH_LEASE, "Lease %zu of the list: there is no lease %" PRIu64
                                           " (never made, or released); nothing was released", i, ids[i]);
                }
                if (caller != 0 && ls[i]->owner != caller) {
                        *ret_failed = (ssize_t) i;
                        return iovad_error(e, IOVAD_E_ACCESS_DENIED,
                                           "Lease %zu of the list: lease %" PRIu64 " belongs to another user; nothing "
                                           "was released", i, ids[i]);
                }
                /* Marked as seen, so that an id listed twice is caught (ids are few per call: n^2 is fine below 4096). */
                for (size_t k = 0; k < i && n <= 4096; k++)
                        if (ls[k] == ls[i]) {
                                *ret_failed = (ssize_t) i;
                                return iovad_error(e, IOVAD_E_NO_SUCH_LEASE,
                                                   "Lease %zu of the list: lease %" PRIu64 " is listed twice; nothing "
                                                   "was released", i, ids[i]);
                        }
        }
        if (n > 4096) {
                /* Many: sort a copy of the ids to find a duplicate. */
                _cleanup_free_ uint64_t *sorted = malloc(n * sizeof(uint64_t));
                if (!sorted)
                        return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
                memcpy(sorted, ids, n * sizeof(uint64_t));
                qsort(sorted, n, sizeof(uint64_t), cmp_u64);
                for (size_t i = 1; i < n; i++)
                        if (sorted[i] == sorted[i - 1])
                                return iovad_error(e, IOVAD_E_NO_SUCH_LEASE,
                                                   "Lease %" PRIu64 " is listed twice; nothing was released", sorted[i]);
        }
        save_defer(m);
        for (size_t i = 0; i < n; i++) {
                Container *ct = ls[i]->container;
                bool mapped = ls[i]->mapped, seen = false;
                IovadError local = {};
                int k;

                k = manager_release_lease(m, ls[i], &local);
                if (k < 0) {
                        if (r == 0) {
                                *ret_failed = (ssize_t) i;
                                r = iovad_error(e, local.code, "Lease %zu of the list: %s", i, local.message);
                        }
                        continue;
                }
                for (size_t x = 0; x < n_changed; x++)
                        seen = seen || changed[x] == ct;
                if (mapped && !seen && n_changed < n_max)
                        changed[n_changed++] = ct;
        }
        save_resume(m);
        *ret_n_changed = n_changed;
        return r;
}

/*
 * @group is attached to @c now: its fd goes to the fd store, and with the
 * first group the container's (its IOMMU exists from then on), so that a
 * restarted iovad adopts them with their mappings.
 */
static void kernel_fds_stored(Manager *m, Container *c, unsigned group) {
        const BackendOps *ops = m->backend->ops;
        int fd, r;

        /* A backend whose containers cannot be adopted (iommufd) keeps nothing there. */
        if (!ops->container_fd || !ops->group_fd || !ops->container_adopt)
                return;
        if (c->n_groups == 1) {
                fd = ops->container_fd(c->kernel);
                r = fd < 0 ? fd : fd_store_push_container(c->name, fd);
                if (r < 0)
                        log_warning("Cannot keep the fd of container '%s' in the fd store, so a restart of iovad "
                                    "cannot adopt its mappings: %s",
                                    c->name, strerror(-r));
        }
        fd = ops->group_fd(c->kernel, group);
        r = fd < 0 ? fd : fd_store_push_group(group, fd);
        if (r < 0)
                log_warning("Cannot keep the fd of group %u in the fd store, so a restart of iovad cannot adopt "
                            "container '%s': %s",
                            group, c->name, strerror(-r));
}

/* @c's container and group fds leave the fd store. */
static void kernel_fds_removed(Container *c) {
        if (c->n_groups == 0)
                return;
        for (size_t k = 0; k < c->n_groups; k++)
                fd_store_remove_group(c->groups[k]);
        fd_store_remove_container(c->name);
}

void manager_destroy_container(Manager *m, Container *c) {
        for (size_t i = 0; i < m->n_containers; i++)
                if (m->containers[i] == c) {
                        memmove(m->containers + i, m->containers + i + 1,
                                (m->n_containers - i - 1) * sizeof(Container *));
                        m->n_containers--;
                        break;
                }
        /* The container unmaps what is left as it goes; the records go here. */
        for (Lease *l = c->leases; l; l = l->c_next) {
                memfd_count(m, l, -1);
                table_remove(m, l);
                bool had_client = l->client != NULL;
                client_unlink(l);
                lease_erased(m, false, l->mapped, l->id, had_client);
        }
        kernel_fds_removed(c);
        container_free(c);
        manager_save_state(m);
}

/* ---- groups ---- */

static const SysfsGroup *find_group(Manager *m, unsigned group, IovadError *e) {
        const SysfsGroup *g = sysfs_find_group(m->platform, group);
        if (!g)
                (void) iovad_error(e, IOVAD_E_NO_SUCH_GROUP, "There is no IOMMU group %u", group);
        return g;
}

static int check_group_free(Manager *m, Container *c, unsigned group, IovadError *e) {
        Container *owner = manager_container_of_group(m, group);

        if (owner && owner != c)
                return iovad_error(e, IOVAD_E_BUSY, "Group %u is attached to container '%s'", group, owner->name);
        return manager_check_not_delegated(m, group, e);
}

/*
 * Where sysfs cannot tell whether MSIs are isolated, the kernel can: attach
 * the (viable, free) group to a container of its own and let go again.
 */
static int probe_isolation(Manager *m, unsigned group, IovadError *e) {
        BackendContainer *probe = NULL;
        int r;

        r = m->backend->ops->container_new(m->backend, &probe);
        if (r < 0)
                return iovad_error(e, IOVAD_E_KERNEL, "Cannot create an IOMMU container to ask the kernel: %s",
                                   strerror(-r));
        r = m->backend->ops->attach_group(probe, group);
        if (r >= 0)
                (void) m->backend->ops->detach_group(probe, group);
        m->backend->ops->container_free(probe);
        if (r == -EPERM)
                return iovad_error(e, IOVAD_E_INTERRUPT_ISOLATION,
                                   "Group %u cannot be attached: the kernel refuses it for interrupt isolation "
                                   "(no MSI isolation, and vfio_iommu_type1.allow_unsafe_interrupts is off)",
                                   group);
        /* Anything else is the real attach's to find out. */
        return 0;
}

ssize_t manager_check_attach(Manager *m, Container *c, unsigned group, AttachConflict **ret, IovadError *e) {
        const SysfsGroup *g = find_group(m, group, e);
        ssize_t n;
        int r;

        if (!g)
                return -ENODEV;
        r = check_group_free(m, c, group, e);
        if (r < 0)
                return r;
        n = container_check_attach(c, m->platform, g, ret, e);
        if (n >= 0 && m->platform->isolation == ISOLATION_UNKNOWN) {
                r = probe_isolation(m, group, e);
                if (r < 0) {
                        if (ret) {
                                free(*ret);
                                *ret = NULL;
                        }
                        return r;
                }
        }
        return n;
}

int manager_attach_group(Manager *m, Container *c, unsigned group, IovadError *e) {
        const SysfsGroup *g;
        int r;

        /* Drivers may have changed since we last looked (viability). */
        r = manager_refresh_platform(m, e);
        if (r < 0)
                return r;
        g = find_group(m, group, e);
        if (!g)
                return -ENODEV;
        r = check_group_free(m, c, group, e);
        if (r < 0)
                return r;
        r = check_kernel_fd_budget(m, "Attaching a group", e);
        if (r < 0)
                return r;
        {
                MsiWindowUse u;

                container_msi_window(c, m->platform, g, &u);
                if (u.needed > u.capacity)
                        log_warning("Attaching group %u to '%s': its devices may need %" PRIu32 " MSI doorbell pages "
                                    "in the software MSI window 0x%" PRIx64 "-0x%" PRIx64 ", which holds %" PRIu32
                                    "; the kernel maps the rest above it, over IOVAs leases may use",
                                    group, c->name, u.needed, u.window.start, u.window.end, u.capacity);
        }
        r = container_attach(c, m->platform, g, e);
        if (r < 0)
                return r;
        kernel_fds_stored(m, c, group);
        manager_save_state(m);
        return 0;
}

int manager_group_p2p(Manager *m, unsigned group, P2pReport *ret, IovadError *e) {
        const SysfsGroup *g = find_group(m, group, e);

        if (!g)
                return -ENODEV;
        if (p2p_group(m->platform, g, ret) < 0)
                return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
        return 0;
}

int manager_check_msi_window(Manager *m, Container *c, unsigned group, MsiWindowUse *ret, IovadError *e) {
        const SysfsGroup *g = find_group(m, group, e);

        if (!g)
                return -ENODEV;
        /* An attached group counts once. */
        container_msi_window(c, m->platform, container_has_group(c, group) ? NULL : g, ret);
        return 0;
}

int manager_detach_group(Manager *m, Container *c, unsigned group, IovadError *e) {
        int r = container_detach(c, m->platform, group, e);

        if (r < 0)
                return r;
        fd_store_remove_group(group);
        /* With its last group the kernel let go of the container's IOMMU, and the backend of its fd. */
        if (c->n_groups == 0)
                fd_store_remove_container(c->name);
        manager_save_state(m);
        return 0;
}

void manager_release_kernel_fds(Manager *m) {
        for (size_t i = 0; i < m->n_containers; i++)
                kernel_fds_removed(m->containers[i]);
}

void manager_keep_kernel(Manager *m) {
        for (size_t i = 0; i < m->n_containers; i++)
                m->containers[i]->kept = true;
}

/* ---- clients ---- */

Client *manager_find_client(Manager *m, const char *name) {
        if (m->n_clients == 0)
                return NULL;
        for (Client *c = m->client_table[client_bucket(m, name)]; c; c = c->hash_next)
                if (strcmp(c->name, name) == 0)
                        return c;
        return NULL;
}

int manager_get_client(Manager *m, const char *name, uid_t uid, Client **ret) {
        Client *c = manager_find_client(m, name);

        if (c) {
                *ret = c;
                return 0;
        }
        if (m->n_clients >= m->client_buckets && !client_table_grow(m) && !m->client_table)
                return -ENOMEM;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->uid = uid;
        c->name = strdup(name);
        if (!c->name) {
                free(c);
                return -ENOMEM;
        }
        c->next = m->clients;
        if (m->clients)
                m->clients->prev = c;
        m->clients = c;
        size_t b = client_bucket(m, name);
        c->hash_next = m->client_table[b];
        m->client_table[b] = c;
        m->n_clients++;
        *ret = c;
        return 1;
}

size_t manager_client_gone(Manager *m, Client *c, Container **changed, size_t n_max) {
        size_t n = c->n_leases, n_changed = 0;

        if (n > 0)
                log_info("Client %s left the bus: releasing its %zu lease%s", c->name, n, n == 1 ? "" : "s");
        while (c->leases) {
                Lease *l = c->leases;
                Container *ct = l->container;
                bool seen = false, mapped = l->mapped;

                /* A lease the kernel will not unmap leaves the client anyway (manager_release_lease()). */
                (void) manager_release_lease(m, l, NULL);
                for (size_t i = 0; i < n_changed; i++)
                        seen = seen || changed[i] == ct;
                if (mapped && !seen && n_changed < n_max)
                        changed[n_changed++] = ct;
        }
        client_free(m, c);
        return n_changed;
}

/* ---- drivers ---- */

static Rebind *find_rebind(Manager *m, const char *address) {
        for (size_t i = 0; i < m->n_rebind; i++)
                if (strcmp(m->rebind[i].address, address) == 0)
                        return &m->rebind[i];
        return NULL;
}

static int driver_errno_to_error(const Manager *m, int r, const char *what, const char *address, IovadError *e) {
        switch (-r) {
        case EBUSY:
                return iovad_error(e, IOVAD_E_BUSY, "%s %s failed: %s", what, address, strerror(-r));
        case EOPNOTSUPP:
                return iovad_error(e, IOVAD_E_NOT_SUPPORTED, "%s %s is not possible on the %s backend", what, address,
                                   m->backend->ops->name);
        case ENODEV:
        case ENOENT:
                return iovad_error(e, IOVAD_E_NO_SUCH_DEVICE, "There is no PCI device %s", address);
        default:
                return iovad_error(e, IOVAD_E_KERNEL, "%s %s failed: %s", what, address, strerror(-r));
        }
}

int manager_bind_device(Manager *m, const char *address, IovadError *e) {
        const SysfsDevice *d = sysfs_find_device(m->platform, address);
        char driver[sizeof(m->rebind[0].driver)];
        Rebind *rb;
        int r;

        if (!d)
                return iovad_error(e, IOVAD_E_NO_SUCH_DEVICE, "There is no PCI device %s", address);
        if (strcmp(d->driver, "vfio-pci") == 0)
                return 0;
        if (d->iommu_group < 0)
                return iovad_error(e, IOVAD_E_NOT_VIABLE, "Device %s has no IOMMU group", address);
        /* The platform is re-read below: copy what we need first. */
        snprintf(driver, sizeof(driver), "%s", d->driver);
        rb = find_rebind(m, address);
        if (!rb) {
                Rebind *a = reallocarray(m->rebind, m->n_rebind + 1, sizeof(*m->rebind));
                if (!a)
                        return iovad_error(e, IOVAD_E_NO_MEMORY, "Out of memory");
                m->rebind = a;
        }
        r = m->backend->ops->bind_vfio(m->backend, address);
        if (r < 0)
                return driver_errno_to_error(m, r, "Binding to vfio-pci of", address, e);
        if (!rb)
                rb = &m->rebind[m->n_rebind++];
        snprintf(rb->address, sizeof(rb->address), "%s", address);
        snprintf(rb->driver, sizeof(rb->driver), "%s", driver);
        log_info_f(LOG_FIELDS(.device = address), "Bound %s to vfio-pci (was %s)", address, *driver ? driver : "unbound");
        manager_save_state(m);
        (void) manager_refresh_platform(m, NULL);
        return 1;
}

int manager_unbind_device(Manager *m, const char *address, IovadError *e) {
        const SysfsDevice *d = sysfs_find_device(m->platform, address);
        const char *previous = NULL;
        Container *c;
        Rebind *rb;
        int r;

        if (!d)
                return iovad_error(e, IOVAD_E_NO_SUCH_DEVICE, "There is no PCI device %s", address);
        c = d->iommu_group >= 0 ? manager_container_of_group(m, (unsigned) d->iommu_group) : NULL;
        if (c)
                /* vfio-pci waits for every device fd to close: never block the daemon on that. */
                return iovad_error(e, IOVAD_E_BUSY, "Device %s is in container '%s': detach group %d first", address,
                                   c->name, d->iommu_group);
        if (strcmp(d->driver, "vfio-pci") != 0)
                return iovad_error(e, IOVAD_E_NOT_ATTACHED, "Device %s is not bound to vfio-pci", address);
        r = d->iommu_group >= 0 ? manager_check_not_delegated(m, (unsigned) d->iommu_group, e) : 0;
        if (r < 0)
                return r;
        rb = find_rebind(m, address);
        if (rb && rb->driver[0])
                previous = rb->driver;
        r = m->backend->ops->unbind_vfio(m->backend, address, previous);
        if (r < 0)
                return driver_errno_to_error(m, r, "Unbinding from vfio-pci of", address, e);
        log_info_f(LOG_FIELDS(.device = address), "Gave %s back to %s", address,
                   previous ? previous : "the kernel's choice of driver");
        if (rb) {
                size_t i = (size_t) (rb - m->rebind);
                memmove(m->rebind + i, m->rebind + i + 1, (m->n_rebind - i - 1) * sizeof(*m->rebind));
                m->n_rebind--;
                manager_save_state(m);
        }
        (void) manager_refresh_platform(m, NULL);
        return 0;
}

/* ---- restore ---- */

/*
 * One lease back where it was, with its id (and so its object path); its
 * memory mapped again when the fd store kept it.
 */
static int restore_lease(Manager *m, const LeaseRecord *rec, Client *client, FdStore *fds) {
        LeaseOptions o = LEASE_OPTIONS_INIT;
        Container *c = manager_find_container(m, rec->container);
        IovadError e = {};
        int memfd = -1, r;
        Lease *l;

        if (!c) {
                log_error("Lease %" PRIu64 " belongs to unknown container '%s': dropped", rec->id, rec->container);
                return -ENOENT;
        }
        o.fixed = true;
        o.iova = rec->iova;
        o.persistent = !client;
        o.readonly = !rec->writable;
        if (rec->mapped) {
                memfd = fd_store_take_lease(fds, rec->id);
                if (memfd < 0)
                        log_warning("Lease %" PRIu64 " was mapped, but its memory is not in the fd store (iovad ran "
                                    "without a service manager, or was stopped): keeping its IOVA range reserved, unmapped",
                                    rec->id);
        }
        r = lease_make(m, c, rec->id, rec->owner, client, rec->size, &o, memfd, memfd >= 0 ? rec->offset : 0, &l, &e);
        if (r < 0)
                log_error("Cannot restore lease %" PRIu64 ": %s", rec->id, e.message);
        return r;
}

typedef struct RestoreCtx {
        Manager *m;
        FdStore *fds;
        size_t restored;
        Client *last;           /* a client's leases come one after another: saves most lookups */
} RestoreCtx;

static int restore_connection_lease(const LeaseRecord *rec, void *userdata) {
        RestoreCtx *x = userdata;
        Manager *m = x->m;
        Client *client;
        int r;

        if (rec->unanswered) {
                /* iovad died before the reply went out: its client never learned of it. */
                log_info("Lease %" PRIu64 " of %s was never answered before iovad stopped: released", rec->id,
                         rec->client);
                return 0;
        }
        if (rec->in_doubt)
                log_info("Lease %" PRIu64 " of %s was being answered when iovad stopped: kept, as its "
                         "client may have the answer",
                         rec->id, rec->client);
        if (x->last && strcmp(x->last->name, rec->client) == 0) {
                client = x->last;
                r = 0;
        } else
                r = manager_get_client(m, rec->client, rec->owner, &client);
        if (r < 0) {
                log_error("Lease %" PRIu64 " of %s: %s", rec->id, rec->client, strerror(-r));
                return 0;
        }
        x->last = client;
        if (restore_lease(m, rec, client, x->fds) >= 0)
                x->restored++;
        else if (r > 0 && client->n_leases == 0) {
                client_free(m, client);
                x->last = NULL;
        }
        return 0;
}

static size_t restore_connection_leases(Manager *m, FdStore *fds, uint64_t *max_id) {
        _cleanup_free_ char *msg = NULL;
        RestoreCtx x = { .m = m, .fds = fds };
        int r;

        r = lease_journal_replay(m->runtime_dir, m->bus_id, restore_connection_lease, &x, max_id, &msg);
        if (r == -ENOENT)
                return 0;
        if (r == -ESTALE) {
                log_info("The lease journal is of an earlier bus: its connections are gone, and their leases");
                return 0;
        }
        if (r < 0) {
                log_error("Ignoring the lease journal: %s", msg ? msg : strerror(-r));
                return 0;
        }
        return x.restored;
}

/* Fds taken from the store for a container that is not adopted after all: out of the service manager's store too. */
static void drop_stored(const StateContainer *sc, size_t n_groups) {
        fd_store_remove_container(sc->name);
        for (size_t k = 0; k < n_groups; k++)
                fd_store_remove_group(sc->groups[k]);
}

/*
 * Container @sc as the kernel still has it, from its fd @fd and its
 * groups' fds in the store (docs/state.md, "Adopting a container"). 0 and
 * *@ret when adopted; negative when not, logged, with the stored fds
 * closed and dropped, so that the caller makes a new one.
 */
static int adopt_container(Manager *m, const StateContainer *sc, int fd, FdStore *fds, Container **ret) {
        _cleanup_free_ int *group_fds = NULL;
        BackendContainer *kernel = NULL;
        IovadError e = {};
        Container *c;
        size_t k;
        int r;

        if (!m->backend->ops->container_adopt) {
                log_error("Container '%s' is in the fd store, but the %s backend cannot adopt containers: "
                          "making it anew", sc->name, m->backend->ops->name);
                safe_close(fd);
                drop_stored(sc, sc->n_groups);
                return -EOPNOTSUPP;
        }
        group_fds = calloc(sc->n_groups > 0 ? sc->n_groups : 1, sizeof(int));
        if (!group_fds) {
                safe_close(fd);
                drop_stored(sc, 0);
                log_error("Out of memory: not adopting container '%s'", sc->name);
                return -ENOMEM;
        }
        for (k = 0; k < sc->n_groups; k++) {
                group_fds[k] = fd_store_take_group(fds, sc->groups[k]);
                if (group_fds[k] < 0)
                        break;
        }
        if (sc->n_groups == 0 || k < sc->n_groups) {
                log_error("Container '%s' is in the fd store but %s: not adopting it", sc->name,
                          sc->n_groups == 0 ? "the state file gives it no group" : "not all its groups are");
                safe_close(fd);
                for (size_t i = 0; i < k; i++)
                        safe_close(group_fds[i]);
                drop_stored(sc, k);
                return -ENOENT;
        }
        r = m->backend->ops->container_adopt(m->backend, fd, sc->groups, group_fds, sc->n_groups, &kernel);
        if (r < 0) {
                log_error("Cannot adopt container '%s' from the fd store, the kernel says: %s%s", sc->name,
                          r == -EBADF   ? "its fds are not the container and groups they are named for"
                          : r == -ENXIO ? "it has no IOMMU, or its groups are not in it"
                          : r == -EPERM ? "a group is no longer viable"
                                        : strerror(-r),
                          "; making a new one");
                drop_stored(sc, sc->n_groups);
                return r;
        }
        r = container_adopt(m->backend, &m->config, sc->name, sc->users, sc->n_users, sc->reserve_peer_windows,
                            kernel, sc->groups, sc->n_groups, m->platform, &c, &e);
        if (r < 0) {
                log_error("Cannot adopt container '%s': %s; making a new one", sc->name, e.message);
                drop_stored(sc, sc->n_groups);
                return r;
        }
        *ret = c;
        return 0;
}

/*
 * The leases of adopted @c are back, each mapped lease on the kernel's
 * mapping of it: whatever else the kernel has mapped in the container is
 * no lease's (its record was lost, or its call never answered) and is
 * unmapped, each gap between mapped leases at once. Then the container's
 * picture (DMA entries left) is read again from the kernel.
 */
static void adoption_done(Manager *m, Container *c) {
        _cleanup_free_ Range *ranges = NULL;
        _cleanup_free_ Lease **leases = NULL;
        uint64_t page = c->page_sizes & -c->page_sizes, at = c->aperture.start, end = c->aperture.end, stray = 0;
        IovadError e = {};
        size_t n = 0;
        int r;

        c->adopting = false;
        /* type1 before 6.18 mishandles a range that ends at 2^64 - 1; iovad never maps the last page. */
        if (end == UINT64_MAX)
                end -= page;
        r = container_lease_ranges(c, &ranges, &leases, &n);
        if (r < 0) {
                log_error("Out of memory: container '%s' keeps whatever the kernel had mapped", c->name);
                return;
        }
        for (size_t i = 0; i <= n; i++) {
                uint64_t last = end, unmapped = 0;

                if (i < n) {
                        if (!leases[i]->mapped)
                                continue; /* an IOVA-only lease has nothing mapped: part of the gap */
                        last = MIN(end, ranges[i].start - 1);
                }
                if (i == n || ranges[i].start > at) {
                        if (at <= last) {
                                r = m->backend->ops->unmap_dma(c->kernel, at, last - at + 1, &unmapped);
                                if (r < 0) {
                                        log_error("Container '%s': the kernel refused to unmap 0x%" PRIx64
                                                  "-0x%" PRIx64 ", where no lease is mapped (%s): it takes no new "
                                                  "leases",
                                                  c->name, at, last, strerror(-r));
                                        c->faulted = true;
                                }
                                stray += unmapped;
                        }
                }
                if (i == n || ranges[i].end >= end)
                        break;
                at = ranges[i].end + 1;
        }
        if (stray > 0)
                log_warning("Container '%s': the kernel had 0x%" PRIx64 " bytes mapped that no restored lease "
                            "holds: unmapped",
                            c->name, stray);
        if (container_refresh(c, m->platform, &e) < 0)
                log_error("Container '%s' after its adoption: %s", c->name, e.message);
        log_info("Adopted the kernel's container '%s' with %zu group%s from the fd store: %u mapping%s taken over, "
                 "%u mapped again, %u replaced",
                 c->name, c->n_groups, c->n_groups == 1 ? "" : "s", c->adopted[BACKEND_ADOPTED],
                 c->adopted[BACKEND_ADOPTED] == 1 ? "" : "s", c->adopted[BACKEND_MAPPED_AGAIN],
                 c->adopted[BACKEND_REPLACED]);
}

void manager_restore(Manager *m, const char *bus_id, FdStore *fds) {
        _cleanup_free_ Container **adopted = NULL;
        _cleanup_free_ char *msg = NULL;
        State s = {};
        size_t n_persistent = 0, n_connection = 0;
        uint64_t max_id = 0;
        int r;

        snprintf(m->bus_id, sizeof(m->bus_id), "%s", bus_id ? bus_id : "");
        m->restoring = true;
        if (m->state_dir) {
                r = state_load(m->state_dir, &s, &msg);
                if (r < 0 && r != -ENOENT)
                        log_error("Ignoring %s/state.json: %s", m->state_dir, msg ? msg : strerror(-r));
        }
        /*
         * Adoption first, for every container: what is left of containers
         * and groups in the store after it is stale, and goes before any
         * group is attached anew (a stale group fd would keep the group
         * busy, and removing its name later would drop the new fd too).
         */
        adopted = calloc(s.n_containers > 0 ? s.n_containers : 1, sizeof(Container *));
        for (size_t i = 0; adopted && i < s.n_containers; i++) {
                int fd = fd_store_take_container(fds, s.containers[i].name);

                if (fd >= 0)
                        (void) adopt_container(m, &s.containers[i], fd, fds, &adopted[i]);
        }
        if (fd_store_drop(fds, FD_STORE_CONTAINER) + fd_store_drop(fds, FD_STORE_GROUP) > 0)
                log_info("Dropped the stored fds of containers and groups that were not adopted");
        for (size_t i = 0; i < s.n_containers; i++) {
                StateContainer *sc = &s.containers[i];
                IovadError e = {};
                Container *c;

                if (adopted && adopted[i]) {
                        Container **a = reallocarray(m->containers, m->n_containers + 1, sizeof(Container *));
                        if (!a) {
                                log_error("Out of memory: container '%s' is given up", sc->name);
                                container_free(adopted[i]);
                                continue;
                        }
                        m->containers = a;
                        m->containers[m->n_containers++] = adopted[i];
                        continue;
                }
                if (manager_create_container_full(m, sc->name, sc->users, sc->n_users, sc->reserve_peer_windows, &c,
                                                  &e) < 0) {
                        log_error("Cannot restore container '%s': %s", sc->name, e.message);
                        continue;
                }
                for (size_t k = 0; k < sc->n_groups; k++)
                        if (manager_attach_group(m, c, sc->groups[k], &e) < 0)
                                log_error("Cannot re-attach group %u to '%s': %s", sc->groups[k], sc->name, e.message);
        }
        for (size_t i = 0; i < s.n_leases; i++)
                if (restore_lease(m, &s.leases[i], NULL, fds) >= 0)
                        n_persistent++;
        /* Only what is still on vfio-pci has a driver to go back to. */
        for (size_t i = 0; i < s.n_rebinds; i++) {
                const SysfsDevice *d = sysfs_find_device(m->platform, s.rebinds[i].address);
                if (!d || strcmp(d->driver, "vfio-pci") != 0) {
                        log_info("%s is no longer on vfio-pci: forgetting that Bind took it from %s",
                                 s.rebinds[i].address, s.rebinds[i].driver[0] ? s.rebinds[i].driver : "no driver");
                        continue;
                }
                Rebind *a = reallocarray(m->rebind, m->n_rebind + 1, sizeof(*m->rebind));
                if (!a) {
                        log_error("Out of memory: forgetting the driver %s had", s.rebinds[i].address);
                        continue;
                }
                m->rebind = a;
                m->rebind[m->n_rebind++] = s.rebinds[i];
        }
        if (m->runtime_dir && m->bus_id[0])
                n_connection = restore_connection_leases(m, fds, &max_id);
        for (size_t i = 0; i < m->n_containers; i++)
                if (m->containers[i]->adopting)
                        adoption_done(m, m->containers[i]);

        /* Never hand out an id again that a client might still hold. */
        if (s.next_lease_id > m->next_lease_id)
                m->next_lease_id = s.next_lease_id;
        m->lease_id_reserved = m->next_lease_id;
        if (max_id >= m->next_lease_id)
                m->next_lease_id = max_id + 1;
        m->restoring = false;
        if (fd_store_untaken(fds) > 0)
                log_info("Dropping %zu stored fd%s that no restored lease took", fd_store_untaken(fds),
                         fd_store_untaken(fds) == 1 ? "" : "s");
        log_info("Restored %zu container%s, %zu persistent lease%s, %zu lease%s of connections and %zu bound device%s",
                 m->n_containers, m->n_containers == 1 ? "" : "s", n_persistent, n_persistent == 1 ? "" : "s",
                 n_connection, n_connection == 1 ? "" : "s", m->n_rebind, m->n_rebind == 1 ? "" : "s");
        state_done(&s);
}

void manager_restore_done(Manager *m) {
        manager_save_state(m);
        (void) manager_compact_journal(m);
}
