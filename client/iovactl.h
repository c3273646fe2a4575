/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What iovactl's verbs share: the parsed command line, the libiovad handle
 * (and its bus connection, for what libiovad does not wrap: property
 * tables, the layout, the peer-to-peer and delegation calls) and small
 * helpers to call iovad and report its errors. Verbs return a negative
 * errno after printing why, or an exit status.
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "format.h"
#include "iovad.h"
#include "layout.h"

/* Exit statuses, documented in "iovactl --help". */
enum {
        EXIT_OK = 0,
        EXIT_REFUSED = 1,   /* iovad refused or failed the request, or a local error */
        EXIT_USAGE = 2,     /* bad command line */
        EXIT_NO_DAEMON = 3, /* no bus, or iovad is not there and cannot be activated */
        EXIT_CONFLICT = 4,  /* check-attach: the group cannot attach */
};

/* Options that only some verbs take; each verb lists the ones it accepts. */
typedef enum VerbOption {
        OPT_USER = 1 << 0,
        OPT_ALIGN = 1 << 1,
        OPT_LIMIT = 1 << 2,
        OPT_IOVA = 1 << 3,
        OPT_PERSISTENT = 1 << 4,
        OPT_READONLY = 1 << 5,
        OPT_HUGEPAGES = 1 << 6,
        OPT_HOLD = 1 << 7,
        OPT_RESERVE_PEER_WINDOWS = 1 << 8,
} VerbOption;

typedef struct Iovactl {
        iovad *iovad; /* the connection to iovad */
        sd_bus *bus;  /* its bus connection, owned by @iovad */

        bool json;
        int json_flags;
        bool legend;
        bool ask_password;

        VerbOption options; /* given on the command line */
        uint32_t *users;
        size_t n_users;
        uint64_t align, limit, iova;
        bool persistent, readonly, hugepages, hold, reserve_peer_windows;

        int exit_code; /* set by helpers when a failure needs a specific status */
} Iovactl;

/* Open the libiovad handle on the system bus (or DBUS_SYSTEM_BUS_ADDRESS) once; errors are reported. */
int bus_connect(Iovactl *c);

/* Print "iovactl: " + message to stderr. Returns -EINVAL and sets EXIT_USAGE. */
int usage_error(Iovactl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "iovactl: " + message + ": " + strerror(-r). Returns r. */
int log_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Report a failed bus call as "iovactl: NAME: message", remembering
 * whether it means iovad could not be reached. Returns r.
 */
int log_bus_error(Iovactl *c, const sd_bus_error *error, int r, const char *what);

/*
 * Like log_bus_error(), but for a call on an object path the client built
 * itself: if iovad has no such object, say which one is missing.
 */
int log_object_error(Iovactl *c, const sd_bus_error *error, int r, const char *what,
                     const char *kind, const char *id);

/*
 * Report a failed libiovad call, from iovad_last_error(), as
 * log_bus_error() and log_object_error() report a bus call. Returns r.
 */
int log_iovad_error(Iovactl *c, int r, const char *what);
int log_iovad_object_error(Iovactl *c, int r, const char *what, const char *kind, const char *id);

/* Command line arguments; usage errors are reported. */
int parse_group(Iovactl *c, const char *s, uint32_t *ret);
int parse_size_arg(Iovactl *c, const char *what, const char *s, uint64_t *ret);

/* Call a method of iovad with no a{sv} in its arguments; errors are reported. */
int bus_call(Iovactl *c, const char *path, const char *iface, const char *member,
             sd_bus_message **ret_reply, const char *types, ...);

/* Report an sd-bus message parsing error; returns r. */
int log_parse_error(int r);

/* Manager.GetContainer(name), reporting errors. */
int container_path(Iovactl *c, const char *name, char **ret);
/* A device's object path from an address in any form lspci prints. */
int device_path(Iovactl *c, const char *address, char **ret_path, char **ret_address);

/* Read properties with GetAll into a struct. */
typedef int (*BusPropertyRead)(sd_bus_message *m, void *dest);
typedef struct BusProperty {
        const char *name;
        const char *signature;
        BusPropertyRead read;
        size_t offset;
} BusProperty;
int bus_get_all(Iovactl *c, const char *path, const char *iface, const BusProperty *map, void *dest,
                sd_bus_error *ret_error);

int bus_read_string(sd_bus_message *m, void *dest);  /* char ** (s, o) */
int bus_read_u16(sd_bus_message *m, void *dest);     /* uint16_t * */
int bus_read_u32(sd_bus_message *m, void *dest);     /* uint32_t * */
int bus_read_u64(sd_bus_message *m, void *dest);     /* uint64_t * */
int bus_read_bool(sd_bus_message *m, void *dest);    /* bool * */
int bus_read_range(sd_bus_message *m, void *dest);   /* IovaRange *, from (tt) */

/* MsiWindowPages and CheckMsiWindow: (uus). */
typedef struct MsiWindowInfo {
        uint32_t needed;
        uint32_t capacity;
        char *source;
} MsiWindowInfo;
int bus_read_msi_window(sd_bus_message *m, void *dest); /* MsiWindowInfo * */

/* A peer-to-peer path, a(sss), and windows, a(tts) (Device.PeerToPeerPath, PeerWindows). */
typedef struct P2pHopInfo {
        char *address, *role, *missing;
} P2pHopInfo;
typedef struct P2pPathArray {
        P2pHopInfo *items;
        size_t n;
} P2pPathArray;
int bus_read_p2p_path(sd_bus_message *m, void *dest); /* P2pPathArray * */
void p2p_path_array_clear(P2pPathArray *a);
typedef struct P2pWindowInfo {
        uint64_t start, end;
        char *what;
} P2pWindowInfo;
typedef struct P2pWindowArray {
        P2pWindowInfo *items;
        size_t n;
} P2pWindowArray;
int bus_read_p2p_windows(sd_bus_message *m, void *dest); /* P2pWindowArray * */
void p2p_window_array_clear(P2pWindowArray *a);

typedef struct U32Array {
        uint32_t *items;
        size_t n;
} U32Array;
int bus_read_u32_array(sd_bus_message *m, void *dest); /* U32Array *, from au */

typedef struct RangeArray {
        IovaRange *items;
        size_t n;
} RangeArray;
int bus_read_ranges(sd_bus_message *m, void *dest); /* RangeArray *, from a(tt) */

typedef struct RegionArray {
        IovaRegion *items;
        size_t n;
} RegionArray;
/* a(tts) (no origin) or a(ttss); @with_origin picks which. */
int bus_read_regions_sig(sd_bus_message *m, bool with_origin, RegionArray *ret);
int bus_read_regions(sd_bus_message *m, void *dest); /* RegionArray *, from a(ttss) */
void region_array_clear(RegionArray *a);

typedef struct LeaseArray {
        IovaLease *items;
        size_t n;
} LeaseArray;
int bus_read_leases(sd_bus_message *m, LeaseArray *ret); /* a(ottb) */
void lease_array_clear(LeaseArray *a);

/* Output helpers. */
int print_json(Iovactl *c, json_object *o); /* consumes o; -ENOMEM if o is NULL */
int print_table(Iovactl *c, Table *t, const char *empty, const char *plural);
void print_field(int width, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "1000 (alice), 0 (root)". NULL on OOM. */
char *format_users(const uint32_t *uids, size_t n);

/*
 * Keep the bus connection (and with it the caller's leases and fds) until
 * SIGINT or SIGTERM; returns an exit status.
 */
int hold(Iovactl *c, const char *what);

/* The verbs. */
int verb_status(Iovactl *c, int argc, char **argv);
int verb_devices(Iovactl *c, int argc, char **argv);
int verb_device(Iovactl *c, int argc, char **argv);
int verb_open(Iovactl *c, int argc, char **argv);
int verb_bind(Iovactl *c, int argc, char **argv);
int verb_unbind(Iovactl *c, int argc, char **argv);
int verb_delegate(Iovactl *c, int argc, char **argv);
int verb_undelegate(Iovactl *c, int argc, char **argv);
int verb_open_delegated(Iovactl *c, int argc, char **argv);
int verb_group_regions(Iovactl *c, int argc, char **argv);
int verb_group_p2p(Iovactl *c, int argc, char **argv);
int verb_containers(Iovactl *c, int argc, char **argv);
int verb_create(Iovactl *c, int argc, char **argv);
int verb_destroy(Iovactl *c, int argc, char **argv);
int verb_show(Iovactl *c, int argc, char **argv);
int verb_attach(Iovactl *c, int argc, char **argv);
int verb_detach(Iovactl *c, int argc, char **argv);
int verb_check_attach(Iovactl *c, int argc, char **argv);
int verb_lease(Iovactl *c, int argc, char **argv);
int verb_map(Iovactl *c, int argc, char **argv);
int verb_allocate(Iovactl *c, int argc, char **argv);
int verb_leases(Iovactl *c, int argc, char **argv);
int verb_release(Iovactl *c, int argc, char **argv);
int verb_layout(Iovactl *c, int argc, char **argv);
