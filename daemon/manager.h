/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The daemon's one context object: event loop, bus, backend, the platform
 * as sysfs shows it, containers, the lease table and the clients that own
 * leases.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "backend.h"
#include "conf.h"
#include "container.h"
#include "lease-journal.h"
#include "state.h"
#include "sysfs.h"

/* A PCI device as the bus sees it; rebuilt whenever the platform is re-read. */
typedef struct Device {
        Manager *manager;
        const SysfsDevice *sysfs;
} Device;

/* A bus peer that owns leases; its leases go when it leaves the bus. */
struct Client {
        Manager *manager;
        char *name;                 /* unique bus name */
        uid_t uid;                  /* its connection's uid, which never changes */
        sd_bus_track *track;
        sd_event_source *gone;      /* deferred cleanup once the peer left */
        Lease *leases;
        Client *prev, *next;
};

struct Manager {
        sd_event *event;
        sd_bus *bus;
        Backend *backend;
        SysfsPlatform *platform;
        Device *devices;            /* one per platform->devices[] */
        Config config;

        char *state_dir;
        char *runtime_dir;
        bool polkit;                /* ask polkit for non-root callers */

        Container **containers;
        size_t n_containers;

        Lease **lease_table;        /* buckets of a chained hash by id */
        size_t lease_buckets;
        size_t n_leases;
        uint64_t next_lease_id;

        Client *clients;

        /* Devices handed to vfio-pci by Bind, and the driver they had; saved in the state file. */
        Rebind *rebind;
        size_t n_rebind;
        bool restoring;             /* loading state: no saves, no signals */
        bool stopping;              /* shutting down: what goes now is not released */

        /* Leases of bus connections, for a restart (lease-journal.h). */
        LeaseJournal *journal;
        char bus_id[33];
};

int manager_new(Manager **ret);
Manager *manager_free(Manager *m);

/* Re-read devices and groups through the backend's sysfs root. */
int manager_refresh_platform(Manager *m, IovadError *e);

Container *manager_find_container(Manager *m, const char *name);
int manager_add_container(Manager *m, Container *c);
void manager_remove_container(Manager *m, Container *c);

Lease *manager_find_lease(Manager *m, uint64_t id);
int manager_add_lease(Manager *m, Lease *l);
void manager_remove_lease(Manager *m, Lease *l);

/* The Client for a bus name (whose connection has @uid), created and tracked on first use. */
int manager_get_client(Manager *m, const char *name, uid_t uid, Client **ret);
/* The Client for a bus name, or NULL when it has none or has left the bus. */
Client *manager_find_client(Manager *m, const char *name);
void client_free(Client *c);

/* Writes the state file; logs on failure (state is best effort at runtime). */
void manager_save_state(Manager *m);

/*
 * What outlives the process, kept in step with each lease: a lease of a
 * connection goes into the lease journal, the memfd of a mapped lease into
 * systemd's fd store (FDNAME=lease-ID), where a restarted iovad finds it.
 * container.c calls these once the lease is complete, and before it goes.
 */
void manager_lease_created(Manager *m, Lease *l);
void manager_lease_released(Manager *m, Lease *l);
/* Rewrites the lease journal from the live leases (after a restore, and when it has grown). */
int manager_compact_journal(Manager *m);

/* Bus glue (the *-dbus.c files). */
int manager_bus_setup(Manager *m);
void bus_emit_container_changed(Container *c, const char *property, ...);
void bus_emit_devices_changed(Manager *m, unsigned group);
