/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The state file, STATE_DIR/state.json: containers (name, users, groups),
 * persistent leases and the devices Bind gave to vfio-pci, so a restarted
 * iovad keeps what it promised. Leases of connections are in the lease
 * journal (lease-journal.h); the memory of mapped leases lives in systemd's
 * file descriptor store (FDNAME=lease-ID) when iovad runs under systemd.
 * This module owns the format: docs/state.md.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "persist/lease-record.h"

#define STATE_VERSION 1


typedef struct StateContainer {
        char *name;
        uid_t *users;
        size_t n_users;
        unsigned *groups;
        size_t n_groups;
        bool reserve_peer_windows;  /* written only when true: older files have no such key */
} StateContainer;

/* A device Bind handed to vfio-pci and the driver Unbind gives it back to. */
typedef struct Rebind {
        char address[16];           /* "0000:00:06.0" */
        char driver[64];            /* "" when it had none */
} Rebind;

typedef struct State {
        uint64_t next_lease_id;
        StateContainer *containers;
        size_t n_containers;
        LeaseRecord *leases;       /* persistent ones; client "" */
        size_t n_leases;
        Rebind *rebinds;
        size_t n_rebinds;
} State;

/* Writes @s to DIR/state.json: temp file in the same directory, fsync, rename. */
int state_save(const char *dir, const State *s);

/* Text <-> State; -EINVAL with *@ret_error for a malformed or newer file. */
char *state_format(const State *s);
int state_parse(const char *json, State *ret, char **ret_error);
void state_done(State *s);

/* Read STATE_DIR/state.json; -ENOENT when there is none. */
int state_load(const char *dir, State *ret, char **ret_error);
