/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The lease journal, RUNTIME_DIR/leases.journal: every lease that belongs
 * to a bus connection (not persistent), so that a restarted iovad gives
 * each still-connected client back what it had. It lives in the runtime
 * directory because these leases die with the bus, so with the machine:
 * surviving a daemon crash is all they need, and an append (a memcpy()
 * into a shared mapping of a file in tmpfs, no fsync) keeps Lease as fast
 * as before. Persistent leases
 * are in state.json instead.
 *
 * The file is text, a header and then one record a line, then zeros up
 * to a multiple of LEASE_JOURNAL_STEP:
 *
 *   iovad-leases 2 BUS-ID
 *   + ID IOVA SIZE OWNER MAPPED WRITABLE OFFSET CLIENT CONTAINER
 *   - ID
 *   = ID
 *   ? ID
 *
 * numbers in hex (IDs, OWNER in decimal), MAPPED/WRITABLE 0 or 1, CLIENT
 * the owner's unique bus name, CONTAINER its name. "= ID" says that the
 * replies of every lease up to ID have been written to the bus: a lease
 * after the last such line may be one whose client never learned of it
 * (iovad died between the record and the reply). "? ID" is written
 * just before the reply of lease ID goes to the bus: a lease after the last
 * "=" but not after the last "?" was being answered when iovad died, and
 * its client may hold the answer, so it is not dropped (a lease the client
 * has must never be lost; one it never learned of goes with its
 * connection). BUS-ID is the bus's
 * GetId(): unique names are only unique on one bus instance, so a journal
 * of another bus is void. Records of a lease that was released are
 * removed by compaction, which rewrites the file (temporary file, rename)
 * once it holds four times as many records as live leases.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "persist/lease-record.h"

#define LEASE_JOURNAL_VERSION 2

/*
 * The file's size is a multiple of this: the records, then zeros. It grows
 * by a step (fallocate()) when an append would not fit, and an append is a
 * memcpy() into a shared mapping of the file, no system call. The replay
 * stops at the first zero byte.
 */
#define LEASE_JOURNAL_STEP (256 * 1024)


typedef struct LeaseJournal LeaseJournal;

/*
 * Replays @dir's journal: calls @f for every lease still live at its end,
 * in the order they were made (a negative return stops the replay and is
 * returned), and sets *@ret_max_id to the highest lease id it names, live
 * or not (ids are never handed out twice). -ENOENT when there is none;
 * -ESTALE when it belongs to another bus than @bus_id; -EINVAL with
 * *@ret_error for a malformed one (a torn last line, which a crash in the
 * middle of a write leaves, is skipped, not an error); @f is not called
 * then. Leases past the last "=" line come back marked unanswered, or in
 * doubt when a "?" line covers them; a version 1 journal has no such
 * lines and all its leases count as answered. The records are read into
 * a compact table first (about 50 bytes a record, names stored once), so
 * the memory this takes is a fraction of the journal's size and is all
 * given back before it returns.
 */
int lease_journal_replay(const char *dir, const char *bus_id, int (*f)(const LeaseRecord *l, void *userdata),
                         void *userdata, uint64_t *ret_max_id, char **ret_error);

/* lease_journal_replay() into an array (*@ret, NULL when empty, freed by the caller). */
int lease_journal_load(const char *dir, const char *bus_id, LeaseRecord **ret, size_t *ret_n, uint64_t *ret_max_id,
                       char **ret_error);

/* Fills *@ret with the next lease to write and returns 1; 0 when there is none left. */
typedef int (*LeaseJournalNext)(void *userdata, LeaseRecord *ret);

/* Starts a fresh journal in @dir holding @leases (tmp file + rename), open for appending. */
int lease_journal_new(const char *dir, const char *bus_id, const LeaseRecord *leases, size_t n,
                      LeaseJournal **ret);
/* The same, with the leases from @next, one at a time (no array of them is ever built). */
int lease_journal_new_from(const char *dir, const char *bus_id, LeaseJournalNext next, void *userdata,
                           LeaseJournal **ret);
/* Writes what is pending (lease_journal_flush()), then frees. */
LeaseJournal *lease_journal_free(LeaseJournal *j);

/*
 * Records are queued in the journal's buffer and written to the file (one
 * append: a memcpy() into its mapping) together with the next one that
 * must happen anyway:
 *
 * - lease_journal_add() queues its "+" line; it is written, with anything
 *   else queued, by the lease_journal_replying() that precedes the reply
 *   (a lease whose reply never went out may be lost with iovad: its client
 *   never learned of it, and it would be dropped on restore anyway);
 * - lease_journal_answered() queues its "=" line; until it is written,
 *   the leases it covers count as in doubt, which keeps them (it writes
 *   at once when a "+" is queued, a lease answered without a "?");
 * - lease_journal_remove() and lease_journal_replying() write what is
 *   queued and their own line at once, before the caller replies.
 *
 * So each returns the error of that append, when it makes one: -ENOSPC
 * (or another errno of fallocate() or mmap()) when the file cannot grow.
 */
int lease_journal_add(LeaseJournal *j, const LeaseRecord *l);
int lease_journal_remove(LeaseJournal *j, uint64_t id);
/* Every lease up to @id has had its reply written to the bus. */
int lease_journal_answered(LeaseJournal *j, uint64_t id);
/* The reply of lease @id (and of every one before it) is about to be written to the bus. */
int lease_journal_replying(LeaseJournal *j, uint64_t id);
/* Writes whatever is queued. */
int lease_journal_flush(LeaseJournal *j);

/* Whether the file has grown enough that lease_journal_compact() should run. */
bool lease_journal_wants_compaction(const LeaseJournal *j, size_t live);
/* Rewrites the file with @leases only, keeping what was answered. */
int lease_journal_compact(LeaseJournal *j, const LeaseRecord *leases, size_t n);
/* The same, with the leases from @next. */
int lease_journal_compact_from(LeaseJournal *j, LeaseJournalNext next, void *userdata);
