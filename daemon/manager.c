/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "iovad-bus.h"
#include "log.h"
#include "manager.h"
#include "state.h"

int manager_new(Manager **ret) {
        Manager *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        config_init(&m->config);
        m->next_lease_id = 1;
        m->lease_buckets = 1024;
        m->lease_table = calloc(m->lease_buckets, sizeof(Lease *));
        if (!m->lease_table) {
                free(m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* Containers release their leases (unmapping them) before the backend goes. */
        for (size_t i = m->n_containers; i > 0; i--)
                container_free(m->containers[i - 1]);
        free(m->containers);
        while (m->clients)
                client_free(m->clients);
        free(m->lease_table);
        lease_journal_free(m->journal);
        free(m->rebind);
        free(m->devices);
        sysfs_platform_free(m->platform);
        backend_free(m->backend);
        config_done(&m->config);
        sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        free(m->state_dir);
        free(m->runtime_dir);
        free(m);
        return NULL;
}

int manager_refresh_platform(Manager *m, IovadError *e) {
        _cleanup_free_ char *msg = NULL;
        SysfsPlatform *p = NULL;
        int r;

        r = sysfs_read_platform(m->backend->sysfs_root, &p, &msg);
        if (r < 0)
                return iovad_error(e, -r, IOVAD_ERROR_KERNEL, "Reading %s failed: %s", m->backend->sysfs_root,
                                   msg ? msg : strerror(-r));
        Device *devices = calloc(p->n_devices ? p->n_devices : 1, sizeof(Device));
        if (!devices) {
                sysfs_platform_free(p);
                return iovad_error(e, ENOMEM, IOVAD_ERROR_NO_MEMORY, "Out of memory");
        }
        for (size_t i = 0; i < p->n_devices; i++)
                devices[i] = (Device) { .manager = m, .sysfs = &p->devices[i] };
        free(m->devices);
        m->devices = devices;
        sysfs_platform_free(m->platform);
        m->platform = p;
        return 0;
}

Container *manager_find_container(Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_containers; i++)
                if (strcmp(m->containers[i]->name, name) == 0)
                        return m->containers[i];
        return NULL;
}

int manager_add_container(Manager *m, Container *c) {
        Container **a = reallocarray(m->containers, m->n_containers + 1, sizeof(Container *));

        if (!a)
                return -ENOMEM;
        m->containers = a;
        a[m->n_containers++] = c;
        return 0;
}

void manager_remove_container(Manager *m, Container *c) {
        for (size_t i = 0; i < m->n_containers; i++)
                if (m->containers[i] == c) {
                        memmove(m->containers + i, m->containers + i + 1,
                                (m->n_containers - i - 1) * sizeof(Container *));
                        m->n_containers--;
                        return;
                }
}

static size_t bucket_of(const Manager *m, uint64_t id) {
        /* Ids are sequential: a multiplicative hash spreads them over the buckets. */
        return (size_t) ((id * 0x9e3779b97f4a7c15ULL) >> 20) & (m->lease_buckets - 1);
}

static int lease_table_grow(Manager *m) {
        size_t n = m->lease_buckets * 2;
        Lease **t = calloc(n, sizeof(Lease *));

        if (!t)
                return -ENOMEM;
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
        return 0;
}

Lease *manager_find_lease(Manager *m, uint64_t id) {
        for (Lease *l = m->lease_table[bucket_of(m, id)]; l; l = l->hash_next)
                if (l->id == id)
                        return l;
        return NULL;
}

int manager_add_lease(Manager *m, Lease *l) {
        if (m->n_leases >= m->lease_buckets && lease_table_grow(m) < 0 && m->n_leases >= 4 * m->lease_buckets)
                return -ENOMEM; /* a crowded table still works; only refuse when it is far over */
        if (l->id == 0)
                l->id = m->next_lease_id++;
        else if (l->id >= m->next_lease_id)
                m->next_lease_id = l->id + 1;
        size_t b = bucket_of(m, l->id);
        l->hash_next = m->lease_table[b];
        m->lease_table[b] = l;
        m->n_leases++;
        return 0;
}

void manager_remove_lease(Manager *m, Lease *l) {
        for (Lease **p = &m->lease_table[bucket_of(m, l->id)]; *p; p = &(*p)->hash_next)
                if (*p == l) {
                        *p = l->hash_next;
                        m->n_leases--;
                        return;
                }
}

void client_free(Client *c) {
        if (!c)
                return;
        /* Persistent leases never sit on a client; everything here dies with it. */
        while (c->leases)
                lease_release(c->leases);
        if (c->prev)
                c->prev->next = c->next;
        else
                c->manager->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        sd_event_source_disable_unref(c->gone);
        sd_bus_track_unref(c->track);
        free(c->name);
        free(c);
}

static int on_client_gone_deferred(sd_event_source *s, void *userdata) {
        Client *c = userdata;
        Container *changed[64];
        size_t n = 0, n_changed = 0;

        for (Lease *l = c->leases; l; l = l->cl_next) {
                n++;
                bool seen = false;
                for (size_t i = 0; i < n_changed; i++)
                        seen = seen || changed[i] == l->container;
                if (l->mapped && !seen && n_changed < ELEMENTSOF(changed))
                        changed[n_changed++] = l->container;
        }
        if (n > 0)
                log_info("Client %s left the bus: releasing its %zu lease%s", c->name, n, n == 1 ? "" : "s");
        client_free(c);
        /* Their mappings gave DMA entries back. */
        for (size_t i = 0; i < n_changed; i++)
                bus_emit_container_changed(changed[i], "DmaMappingsAvailable", NULL);
        return 0;
}

static int on_client_gone(sd_bus_track *t, void *userdata) {
        Client *c = userdata;

        /*
         * Releasing leases unmaps DMA and emits signals; do it from a defer
         * source rather than inside sd-bus's tracking callback.
         */
        if (c->gone)
                return 0;
        return sd_event_add_defer(c->manager->event, &c->gone, on_client_gone_deferred, c);
}

Client *manager_find_client(Manager *m, const char *name) {
        for (Client *c = m->clients; c; c = c->next)
                if (strcmp(c->name, name) == 0 && !c->gone)
                        return c;
        return NULL;
}

int manager_get_client(Manager *m, const char *name, uid_t uid, Client **ret) {
        Client *c;
        int r;

        c = manager_find_client(m, name);
        if (c) {
                *ret = c;
                return 0;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->uid = uid;
        c->name = strdup(name);
        if (!c->name) {
                free(c);
                return -ENOMEM;
        }
        r = sd_bus_track_new(m->bus, &c->track, on_client_gone, c);
        if (r >= 0)
                r = sd_bus_track_add_name(c->track, name);
        if (r < 0) {
                sd_bus_track_unref(c->track);
                free(c->name);
                free(c);
                return r;
        }
        c->next = m->clients;
        if (m->clients)
                m->clients->prev = c;
        m->clients = c;
        *ret = c;
        return 0;
}

void manager_save_state(Manager *m) {
        int r;

        if (m->restoring || !m->state_dir)
                return;
        r = state_save(m);
        if (r < 0)
                log_error("Saving state to %s failed: %s", m->state_dir, strerror(-r));
}

static void journal_lease_of(const Lease *l, JournalLease *ret) {
        *ret = (JournalLease) {
                .id = l->id,
                .iova = l->iova,
                .size = l->size,
                .owner = l->owner,
                .mapped = l->mapped,
                .writable = l->writable,
                .offset = l->offset,
        };
        snprintf(ret->client, sizeof(ret->client), "%s", l->client ? l->client->name : "");
        snprintf(ret->container, sizeof(ret->container), "%s", l->container->name);
}

int manager_compact_journal(Manager *m) {
        _cleanup_free_ JournalLease *all = NULL;
        size_t n = 0;
        int r;

        all = calloc(m->n_leases ? m->n_leases : 1, sizeof(JournalLease));
        if (!all)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_containers; i++)
                for (Lease *l = m->containers[i]->leases; l; l = l->c_next)
                        if (l->client)
                                journal_lease_of(l, &all[n++]);
        if (m->journal)
                r = lease_journal_compact(m->journal, all, n);
        else
                r = lease_journal_new(m->runtime_dir, m->bus_id, all, n, &m->journal);
        if (r < 0)
                log_error("Writing the lease journal in %s failed: %s", m->runtime_dir, strerror(-r));
        return r;
}

void manager_lease_created(Manager *m, Lease *l) {
        int r;

        /* A restore re-creates what the journal and the fd store already hold. */
        if (m->restoring)
                return;
        if (l->client && m->journal) {
                JournalLease j;
                journal_lease_of(l, &j);
                r = lease_journal_add(m->journal, &j);
                if (r < 0)
                        log_error("Lease %" PRIu64 " is not in the lease journal, so a restart of iovad would lose it: %s",
                                  l->id, strerror(-r));
                else if (lease_journal_wants_compaction(m->journal, m->n_leases))
                        (void) manager_compact_journal(m);
        }
        if (l->mapped) {
                char msg[64];
                snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=lease-%" PRIu64, l->id);
                /* 0 without a service manager: the memory then lasts as long as iovad. */
                r = sd_pid_notify_with_fds(0, false, msg, &l->memfd, 1);
                if (r < 0)
                        log_warning("Cannot keep the memory of lease %" PRIu64 " in the fd store: %s", l->id,
                                    strerror(-r));
                else if (r == 0 && l->persistent)
                        log_warning("Persistent lease %" PRIu64 " maps memory that only lives as long as iovad: "
                                    "no service manager keeps it in an fd store",
                                    l->id);
        }
}

void manager_lease_released(Manager *m, Lease *l) {
        int r;

        if (m->restoring || m->stopping)
                return;
        if (l->client && m->journal) {
                r = lease_journal_remove(m->journal, l->id);
                if (r < 0)
                        log_error("Cannot note the release of lease %" PRIu64 " in the lease journal: %s", l->id,
                                  strerror(-r));
        }
        if (l->mapped)
                (void) sd_notifyf(false, "FDSTOREREMOVE=1\nFDNAME=lease-%" PRIu64, l->id);
}
