/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Chaos on the real iovad, shared by the bus tier's test-bus-chaos (CI
 * scale) and tests/bench/chaos-bench (full scale): client processes of
 * several uids make leases while clients, iovad or the bus are killed
 * under them, or while iovad runs out of fds. Each scenario runs inside a
 * Check test (bus-env.h) and fills a ChaosResult; the caller decides what
 * to assert and what to print.
 *
 * What the scenarios count, independently of what iovad says of itself:
 * every client records in shared memory each lease it got an answer for
 * (id, IOVA, size, and for mapped ones the memfd's inode and a pattern it
 * wrote through its own mapping). The auditor compares that with root's
 * ListLeases and each lease's properties, with the memfds iovad holds
 * (/proc/PID/fd: the same inodes, the same bytes), with the fd store
 * stand-in, with DmaMappingsAvailable, and checks that no two leases
 * overlap and that the whole usable range can be leased again at the end.
 *
 *   acked     leases a client was answered for
 *   restored  acked leases found again after an iovad restart (same id, IOVA, size, pages)
 *   lost      acked leases not found where they should be (0 is the only good figure)
 *   leaked    leases, memfds, DMA mappings or stored fds iovad holds that no
 *             live client was answered for, past the documented rules (0 likewise)
 */

#include <stdint.h>

#include "bus-env.h"

typedef struct ChaosParams {
        unsigned seed;
        unsigned clients;        /* client processes */
        unsigned rounds;         /* kill storm: waves of kills; iovad kills; bus restarts; fd: daemon kills at the budget */
        unsigned live_max;       /* leases a client holds at most */
        unsigned load_ms;        /* client load between two kills (the actual pause is random up to this) */
        unsigned nofile;         /* fd exhaustion: iovad's RLIMIT_NOFILE */
        bool verbose;
} ChaosParams;

typedef struct ChaosResult {
        char scenario[32];
        unsigned seed;
        uint64_t clients;
        uint64_t calls;          /* calls the clients made */
        uint64_t cut;            /* calls that got no reply: the callee died mid-call */
        uint64_t named_errors;   /* refusals with a documented error name (TooManyFiles, ...) */
        uint64_t unnamed_errors; /* anything else (must be 0) */
        uint64_t too_many_files; /* of the named ones: TooManyFiles */
        uint64_t fd_budget;      /* fd exhaustion: mapped leases iovad's fd limit allows */
        uint64_t at_budget;      /* fd exhaustion: mapped leases acked when iovad said TooManyFiles */
        uint64_t client_kills, mid_call_kills;
        uint64_t daemon_kills, bus_restarts;
        uint64_t daemon_failures;  /* iovad ending with a failure status on a bus loss */
        uint64_t acked, restored, lost, leaked;
        uint64_t orphans;        /* leases back after a restart whose call got no reply: matched to such a call of
                                    their owner (uid, size, kind) and released by that client, as documented */
        uint64_t in_doubt_kept, unanswered_dropped; /* what iovad's logs say of calls it died in */
        uint64_t gone_as_documented; /* leases of killed clients, of old bus connections, orphans dropped */
        uint64_t max_live;       /* most leases iovad held at an audit */
        uint64_t max_memfds;     /* most memfds iovad held at an audit */
        uint64_t audits;
        double seconds;
        char problem[512];       /* the first thing that counted as lost or leaked, for the report */
} ChaosResult;

/* The CI scale; chaos-bench scales these up. */
extern const ChaosParams chaos_ci_kill_storm, chaos_ci_daemon_kills, chaos_ci_bus_restarts, chaos_ci_fd_exhaustion;

void chaos_kill_storm(const ChaosParams *p, ChaosResult *r);
void chaos_daemon_kills(const ChaosParams *p, ChaosResult *r);
void chaos_bus_restarts(const ChaosParams *p, ChaosResult *r);
void chaos_fd_exhaustion(const ChaosParams *p, ChaosResult *r);

/* One line per result, and the header above them. */
void chaos_print_header(FILE *f);
void chaos_print(FILE *f, const ChaosResult *r);
