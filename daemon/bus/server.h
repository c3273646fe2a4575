/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The bus glue's context: iovad on D-Bus. It owns the bus connection, the
 * objects (vtables in the *-dbus.c files), the tracking of clients'
 * connections and the authorization seam, and drives the model
 * (manager.h) from bus calls: parse, validate, authorize, call the model,
 * translate its error code, reply, emit signals.
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus/auth.h"
#include "model/error.h"
#include "persist/fd-store.h"
#include "model/manager.h"

typedef struct DirectConn DirectConn;

/*
 * Direct connections (OpenDirectConnection, docs/api.md): peer-to-peer
 * connections on which the same objects are served, acting for the uid
 * that opened them. At most this many per uid, and in all.
 */
#define DIRECT_MAX_PER_UID 8
#define DIRECT_MAX 256

typedef struct Server {
        sd_event *event;
        sd_bus *bus;
        Manager *manager;        /* not owned */
        Auth *auth;
        bool polkit;
        sd_event_source *answered;   /* after each dispatch: have the replies gone out? */
        sd_bus_slot *name_gone;      /* the match for clients leaving the bus */
        DirectConn *direct;          /* the open direct connections */
        size_t n_direct;
        uint64_t direct_seq;         /* for their client names */
} Server;

typedef struct ServerOptions {
        bool polkit;             /* ask polkit for callers other than root */
} ServerOptions;

/*
 * server_new() - connect to the system bus, register the objects, bring
 * back what @fds and the manager's files hold (departed clients' leases
 * released), then take the bus name. The manager is the caller's.
 */
int server_new(sd_event *event, Manager *manager, const ServerOptions *o, FdStore *fds, Server **ret);
Server *server_free(Server *s);

/*
 * The objects on a connection the caller made (a peer-to-peer connection,
 * the fuzzer's socketpair): registered, nothing restored, no name taken.
 */
int server_new_on_bus(sd_event *event, sd_bus *bus, Manager *manager, const ServerOptions *o, Server **ret);

/**
 * server_open_direct() - a direct connection for the caller of @m: a
 * socketpair whose one end iovad serves peer-to-peer, acting for the
 * caller's uid, and whose other end is returned in *@ret_fd (the caller's
 * to close). QUOTA_EXCEEDED past DIRECT_MAX_PER_UID for the uid,
 * TOO_MANY_FILES past DIRECT_MAX or when no socket can be made.
 */
int server_open_direct(Server *s, sd_bus_message *m, int *ret_fd, sd_bus_error *error);
/* Whether @m came on a direct connection rather than the bus. */
bool server_is_direct(Server *s, sd_bus_message *m);
/* Who sent @m, for log messages: its unique bus name, or "a direct connection". */
const char *server_caller_name(sd_bus_message *m);

/* Bus helpers for the *-dbus.c files. */

/* The Server behind the object the current call is addressed to. */
Server *server_of_bus(sd_bus *bus);

/*
 * The caller's effective uid, from the bus (never from the message body,
 * never from /proc); asked of the bus once per client that holds leases,
 * then remembered. On a direct connection: the uid that opened it.
 */
int server_caller_uid(Server *s, sd_bus_message *m, uid_t *ret);

/* The model's error as the reply: its code's D-Bus name and its message. Returns a negative errno. */
int bus_reply_error(sd_bus_error *error, const IovadError *e, int r);

/*
 * Authorization, as auth_check(): 1 yes, 0 pending (return 1 from the
 * handler), negative no. On a direct connection only root is authorized:
 * polkit's subject is a bus name, which a direct connection has none of.
 */
int server_authorize(Server *s, sd_bus_message *m, const char *action, const char *const *details,
                     sd_bus_error *error);
/* May the caller use @c (uid in Users, or root)? 1 yes, -EACCES with AccessDenied. */
int server_authorize_container_use(Server *s, Container *c, sd_bus_message *m, uid_t *ret_uid,
                                   sd_bus_error *error);

/* The Client of the caller, tracked so that its leases go when it leaves the bus. */
int server_get_client(Server *s, sd_bus_message *m, uid_t uid, Client **ret);

typedef enum LeaseOptionSet {
        LEASE_OPTIONS_LEASE,      /* alignment limit iova persistent */
        LEASE_OPTIONS_MAP,        /* ... and readonly */
        LEASE_OPTIONS_ALLOCATE,   /* readonly hugepages limit alignment persistent */
} LeaseOptionSet;

/* Reads an a{sv} of lease options; unknown keys and wrong types are InvalidArgs. */
int bus_read_lease_options(sd_bus_message *m, LeaseOptionSet set, LeaseOptions *ret, sd_bus_error *error);
int bus_append_ranges(sd_bus_message *reply, const RangeList *l);
/* A peer-to-peer report's hops as a(sss) (address, role, what is missing) and windows as a(tts). */
int bus_append_p2p_path(sd_bus_message *m, const P2pReport *rep);
int bus_append_p2p_windows(sd_bus_message *m, const P2pReport *rep);

/**
 * bus_object_missing() - answer for a well-formed path whose object is gone.
 * A call of a member of @vt (interface @iface) addressed to exactly @path
 * gets the error of @code (so a client learns "no such lease" rather than
 * "unknown object"); any other call, and everything sd-bus walks on its
 * own (introspection, GetManagedObjects), finds no object there and gets
 * UnknownObject. Returns what a find callback returns.
 */
_printf_(7, 8) int bus_object_missing(sd_bus *bus, const char *path, sd_bus_error *error, IovadErrorCode code,
                                      const sd_bus_vtable *vt, const char *iface, const char *fmt, ...);

/* Vtables, object lookup and signals of the *-dbus.c files. */
extern const sd_bus_vtable manager_vtable[];
extern const sd_bus_vtable container_vtable[];
extern const sd_bus_vtable lease_vtable[];
extern const sd_bus_vtable device_vtable[];
int container_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                          sd_bus_error *error);
int container_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error);
int lease_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                      sd_bus_error *error);
int lease_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error);
int device_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error);
int device_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error);

/*
 * Container.Lease and Lease.Release, dispatched without sd-bus's object
 * lookup (server.c's filter): 0 when @msg is not that call, or names no
 * object of ours (sd-bus's own dispatch then answers it, as for any call);
 * otherwise what the method handler returns, 1 for done, or a negative
 * errno with @error set from the object lookup's refusal.
 */
int container_dispatch_lease(Server *s, sd_bus_message *msg, sd_bus_error *error);
int lease_dispatch_release(Server *s, sd_bus_message *msg, sd_bus_error *error);

_sentinel_ void bus_emit_container_changed(Server *s, Container *c, const char *property, ...);
void bus_emit_devices_changed(Server *s, unsigned group);
