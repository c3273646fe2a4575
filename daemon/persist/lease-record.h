/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One lease as it is written down to survive a restart: the same record
 * for the state file (persistent leases, client "") and the lease journal
 * (leases of bus connections, client the owner's unique name).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define LEASE_RECORD_CLIENT_MAX 256
#define LEASE_RECORD_CONTAINER_MAX 65   /* container names are 1..64 characters */

typedef struct LeaseRecord {
        uint64_t id;
        uint64_t iova;
        uint64_t size;
        uid_t owner;
        bool mapped;
        bool writable;
        uint64_t offset;                              /* into the memfd of a mapped lease */
        char client[LEASE_RECORD_CLIENT_MAX];         /* ":1.42", "" when persistent */
        char container[LEASE_RECORD_CONTAINER_MAX];
        bool unanswered;                              /* journal only: the call that made it was never answered */
        bool in_doubt;                                /* journal only: iovad died while answering it */
} LeaseRecord;
