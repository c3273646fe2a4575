/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The bus tier's harness: a private system-like dbus-daemon and the real
 * iovad on the simulated backend, one pair per test, plus small helpers
 * to call iovad and check what it answers.
 *
 * Check forks once per test, and sd-bus refuses a connection after a
 * fork, so every test starts its own bus and daemon and opens its own
 * connections inside the test body. Both processes get PR_SET_PDEATHSIG:
 * when a failed assertion ends the test process, they go with it. A
 * test's files live in its own directory under one base directory made by
 * main(); env_done() prints the daemon logs of tests that did not finish
 * cleanly and removes the base directory.
 *
 * Paths come from the environment, as meson passes them: IOVAD_BUILD (the
 * build directory, for daemon/iovad) and IOVAD_SOURCE (the source tree,
 * for daemon/profiles and dbus/org.iovad1.conf).
 */

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "iovad-bus.h"

#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
/* snprintf() into an array, asserting nothing was cut off. */
#define xsprintf(buf, ...) \
        ck_assert_msg((size_t) snprintf((buf), sizeof(buf), __VA_ARGS__) < sizeof(buf), "%s: too long", #buf)
#define streq(a, b) (strcmp((a), (b)) == 0)

#define UID_NOBODY ((uid_t) 65534)
#define UID_OTHER ((uid_t) 1000)

#define PAGE 4096ULL
#define MSI_START 0xfee00000ULL
#define MSI_END 0xfeefffffULL

#define ERR_INVALID_ARGS "org.freedesktop.DBus.Error.InvalidArgs"
#define ERR_ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"
#define ERR_UNKNOWN_OBJECT "org.freedesktop.DBus.Error.UnknownObject"

typedef struct BusEnv {
        char dir[512];          /* this test's directory, 0755 */
        char address[600];      /* unix:path=DIR/bus.sock */
        char state_dir[600];
        char runtime_dir[600];
        char config[600];       /* "" when iovad runs without --config */
        char log[600];          /* the current daemon log */
        char profile[256];
        pid_t bus_pid;
        pid_t daemon_pid;
        unsigned starts;        /* daemon starts, for log names */

        /* iovad's RLIMIT_NOFILE (soft and hard), as a unit's LimitNOFILE= sets it; 0: inherited. */
        unsigned nofile;
        /* iovad asks polkit (the test runs its stand-in); else it runs with --no-polkit. */
        bool polkit;
        /* The stand-in for systemd's fd store, when enabled. */
        bool fdstore;
        int notify_fd;          /* bound at DIR/notify.sock */
        struct {
                char name[96];  /* FDNAME: up to "container-" and 64 characters */
                int fd;
        } store[2048];
        size_t n_store;
} BusEnv;

/* In main(), around srunner_run_all(): the base directory and what is left in it. */
void env_init(void);
void env_done(int failed);
/* A runner in fork mode with a timeout that fits ASan builds. */
SRunner *env_runner(Suite *s);
TCase *env_tcase(const char *name);

const char *env_source_root(void);
const char *env_build_root(void);

/*
 * Starts a bus and iovad --simulate=@profile (NULL: x86-vtd) with @config
 * (JSON text for --config, or NULL), and waits (bounded) for org.iovad1.
 * Sets DBUS_SYSTEM_BUS_ADDRESS for this process and its children.
 */
void env_start_full(BusEnv *e, const char *test, const char *profile, const char *config);
#define env_start(e, profile, config) env_start_full((e), __func__, (profile), (config))
/* Stops iovad (SIGTERM), asserts it exited 0 and logged no sanitizer report, then the bus. */
void env_stop(BusEnv *e);
/* The daemon alone: for restarts with the same state directory. */
void env_daemon_start(BusEnv *e);
void env_daemon_stop(BusEnv *e);

/* SIGKILL, as a crash: no log check. */
void env_daemon_kill(BusEnv *e);

/*
 * The bus alone: env_bus_kill() SIGKILLs the dbus-daemon and reaps it;
 * env_bus_start() starts a new one on the same socket path (a new bus, with
 * a new id and guid) and points DBUS_SYSTEM_BUS_ADDRESS at it. iovad is
 * left alone: it notices for itself.
 */
void env_bus_kill(BusEnv *e);
void env_bus_start(BusEnv *e);

/*
 * A stand-in for systemd's file descriptor store, for the daemon's next
 * starts: iovad gets NOTIFY_SOCKET, and the fds it stores (FDSTORE=1,
 * FDNAME=) come back at each later start as LISTEN_FDS and LISTEN_FDNAMES,
 * as systemd passes them across a restart; FDSTOREREMOVE=1 drops them.
 */
void env_fdstore_enable(BusEnv *e);
/* Reads what iovad sent so far; returns the number of fds held. */
size_t env_fdstore_collect(BusEnv *e);
/* The held fd named @name (after a collect), or -1. */
int env_fdstore_find(const BusEnv *e, const char *name);

/* The current daemon's log so far. */
char *env_daemon_log(const BusEnv *e);

/* When iovad is found dead: how it ended and the end of its log; else "". */
char *env_daemon_death(void);
uint64_t now_usec(void);

/* A new connection to the test's bus, as the current uid. */
sd_bus *env_connect(void);

/*
 * Runs @fn in a child process as @uid (gid the same, no supplementary
 * groups) and asserts that it exits 0. @fn opens its own connections;
 * Check's assertions work in it (a failure ends the child with status 1).
 */
void run_as(uid_t uid, void (*fn)(void *userdata), void *userdata);
/* The same without waiting: returns the child's pid. */
pid_t spawn_as(uid_t uid, void (*fn)(void *userdata), void *userdata);
/* Waits for @pid and returns its wait status. */
int wait_child(pid_t pid);

/*
 * Method calls on org.iovad1. types may be NULL for no arguments. Failures
 * name the test's line, and say so when iovad died.
 */
sd_bus_message *call_ok_at(const char *file, int line, sd_bus *bus, const char *path, const char *iface,
                           const char *member, const char *types, ...);
/* Asserts the call fails with error @want; returns the error message (strdup'd) for further checks. */
char *call_fail_at(const char *file, int line, sd_bus *bus, const char *want, const char *path, const char *iface,
                   const char *member, const char *types, ...);
#define call_ok(...) call_ok_at(__FILE__, __LINE__, __VA_ARGS__)
#define call_fail(...) call_fail_at(__FILE__, __LINE__, __VA_ARGS__)

#define manager_ok(bus, member, ...) call_ok((bus), IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, (member), __VA_ARGS__)
#define manager_fail(bus, want, member, ...) \
        free(call_fail((bus), (want), IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, (member), __VA_ARGS__))
#define container_ok(bus, path, member, ...) call_ok((bus), (path), IOVAD_CONTAINER_IFACE, (member), __VA_ARGS__)
#define container_fail(bus, want, path, member, ...) \
        free(call_fail((bus), (want), (path), IOVAD_CONTAINER_IFACE, (member), __VA_ARGS__))

/* Properties of objects of org.iovad1. */
uint32_t prop_u(sd_bus *bus, const char *path, const char *iface, const char *name);
uint64_t prop_t(sd_bus *bus, const char *path, const char *iface, const char *name);
bool prop_b(sd_bus *bus, const char *path, const char *iface, const char *name);
char *prop_s(sd_bus *bus, const char *path, const char *iface, const char *name); /* s or o */
/* Asserts reading the property fails with @want. */
#define prop_fail(bus, want, path, iface, name) \
        free(call_fail((bus), (want), (path), "org.freedesktop.DBus.Properties", "Get", "ss", (iface), (name)))

/* Array properties: the number of items read (at most @max). */
typedef struct TRange {
        uint64_t start, end;
} TRange;
typedef struct TRegion {
        uint64_t start, end;
        char type[32];
        char origin[64];
} TRegion;
size_t prop_au(sd_bus *bus, const char *path, const char *iface, const char *name, uint32_t *ret, size_t max);
size_t prop_ranges(sd_bus *bus, const char *path, const char *iface, const char *name, TRange *ret, size_t max);
size_t prop_regions(sd_bus *bus, const char *container, TRegion *ret, size_t max); /* ReservedRegions */
TRange prop_range(sd_bus *bus, const char *path, const char *iface, const char *name); /* (tt) */

/* A signal match's record: set by signal_record(), which keeps a reference to the last one. */
typedef struct Signal {
        bool seen;
        unsigned count;
        sd_bus_message *last;
} Signal;
int signal_record(sd_bus_message *m, void *userdata, sd_bus_error *error);

/* Everything a caller can see of a container: all properties and ListLeases, as text. */
char *container_snapshot(sd_bus *bus, const char *path);
/* Asserts that container_snapshot() still gives @before. */
#define assert_unchanged(bus, container, before, what) \
        assert_unchanged_at(__FILE__, __LINE__, (bus), (container), (before), (what))
void assert_unchanged_at(const char *file, int line, sd_bus *bus, const char *container, const char *before,
                         const char *what);
/* A message's body as text. */
char *message_dump(sd_bus_message *m);

/* Common steps. Return the object path (free it). */
char *create_container(sd_bus *bus, const char *name, const uid_t *users, size_t n_users);
void attach(sd_bus *bus, const char *container, uint32_t group);
/* Lease(size, {}) and friends; *ret_iova may be NULL. */
char *lease(sd_bus *bus, const char *container, uint64_t size, uint64_t *ret_iova);
char *lease_fixed(sd_bus *bus, const char *container, uint64_t iova, uint64_t size);
void release(sd_bus *bus, const char *lease_path);
/* AllocateMapped(size, {}): returns the lease and the memfd. */
char *allocate_mapped(sd_bus *bus, const char *container, uint64_t size, uint64_t *ret_iova, int *ret_fd);
/* A memfd of @size with F_SEAL_SHRINK (and @more_seals). */
int sealed_memfd(uint64_t size, int more_seals);

/* ListLeases as (path, iova, size, mapped) records. */
typedef struct LeaseInfo {
        char path[128];
        uint64_t iova, size;
        bool mapped;
} LeaseInfo;
size_t list_leases(sd_bus *bus, const char *container, LeaseInfo *ret, size_t max);

/*
 * Waits until ListLeases (as the caller of @bus) shows @n leases: a bounded
 * poll, for what iovad does once a client has left the bus.
 */
void wait_leases(sd_bus *bus, const char *container, size_t n);
/* Whether Introspect of @path lists the child node @name. */
bool introspect_has_node(sd_bus *bus, const char *path, const char *name);

/* Lines between a test and its client processes. */
void write_line(int fd, const char *line);
char *read_line(int fd); /* NULL at EOF */

/* Processes every queued message, waiting at most @timeout_usec for @done to become true. */
void process_until(sd_bus *bus, const bool *done, uint64_t timeout_usec);

/* Cleanup helpers. */
void freep(void *p);
void closep(int *fd);
