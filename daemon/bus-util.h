/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers shared by the *-dbus.c files: callers, errors, options. */

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <sys/types.h>

#include "container.h"
#include "error.h"
#include "macro.h"

typedef struct Manager Manager;

/*
 * The caller's effective uid, from the bus (never from the message body);
 * asked of the bus once per client that holds leases, then remembered.
 */
int bus_caller_uid(Manager *mgr, sd_bus_message *m, uid_t *ret);

/* sd_bus_error from an IovadError; returns the negative errno for handlers. */
int bus_error_from(sd_bus_error *error, const IovadError *e, int r);

/**
 * bus_authorize() - may the caller do @action?
 * Root may; anyone else if polkit says so (CheckAuthorization, subject
 * system-bus-name, no interaction). Returns 1 when allowed, 0 when not (with
 * AccessDenied set in @error), negative on failure.
 */
int bus_authorize(Manager *mgr, sd_bus_message *m, const char *action, sd_bus_error *error);

/* May the caller use @c (uid in Users, or root)? 1/0 as above. */
int bus_authorize_container_use(Container *c, sd_bus_message *m, uid_t *ret_uid, sd_bus_error *error);

typedef enum LeaseOptionSet {
        LEASE_OPTIONS_LEASE,      /* alignment limit iova persistent */
        LEASE_OPTIONS_MAP,        /* ... and readonly */
        LEASE_OPTIONS_ALLOCATE,   /* readonly hugepages limit alignment persistent */
} LeaseOptionSet;

/* Reads an a{sv} of lease options; unknown keys and wrong types are InvalidArgs. */
int bus_read_lease_options(sd_bus_message *m, LeaseOptionSet set, LeaseOptions *ret, sd_bus_error *error);

int bus_append_ranges(sd_bus_message *reply, const RangeList *l);

/**
 * bus_object_missing() - answer for a well-formed path whose object is gone.
 * A call addressed to exactly @path gets the named error @name (so a client
 * learns "no such lease" rather than "unknown object"); everything else
 * sd-bus walks on its own (introspection, GetManagedObjects) just sees no
 * object there, since sd-bus's object manager does not expect a lookup to
 * fail. Returns what a find callback returns.
 */
_printf_(5, 6) int bus_object_missing(sd_bus *bus, const char *path, sd_bus_error *error, const char *name,
                                      const char *fmt, ...);

/* Container, lease and device vtables and their registration. */
extern const sd_bus_vtable manager_vtable[];
extern const sd_bus_vtable container_vtable[];
extern const sd_bus_vtable lease_vtable[];
extern const sd_bus_vtable device_vtable[];
int container_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found, sd_bus_error *error);
int container_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error);
int lease_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found, sd_bus_error *error);
int lease_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error);
int device_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found, sd_bus_error *error);
int device_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error);

/* Signals after a change. */
void bus_emit_lease_gone(Manager *m, Lease *l);
