/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lease journal (RUNTIME_DIR/leases.journal): the input is the file,
 * written into a scratch directory and replayed by lease_journal_load().
 * What it replays is then written to a fresh journal with
 * lease_journal_new() and replayed again, which must give the same leases.
 */

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "persist/lease-journal.h"

/* The seeds' header names this bus; any other id is a journal of another bus. */
#define BUS_ID "6f1f0a3c2c7e4f0b9a51d1c3b7e2a0d4"

static char dir_in[PATH_MAX], dir_out[PATH_MAX];

static void setup(void) {
        if (dir_in[0])
                return;
        snprintf(dir_in, sizeof(dir_in), "%s/in", fuzz_scratch_dir());
        snprintf(dir_out, sizeof(dir_out), "%s/out", fuzz_scratch_dir());
        FUZZ_CHECK(mkdir(dir_in, 0700) == 0 && mkdir(dir_out, 0700) == 0, "mkdir: %m");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        LeaseRecord *leases = NULL, *back = NULL;
        size_t n = 0, n_back = 0;
        uint64_t max_id = 0, max_back = 0;
        LeaseJournal *j = NULL;
        char path[PATH_MAX + 32], *err = NULL;
        int r;

        setup();
        snprintf(path, sizeof(path), "%s/leases.journal", dir_in);
        fuzz_write_file(path, data, size);

        r = lease_journal_load(dir_in, BUS_ID, &leases, &n, &max_id, &err);
        FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ESTALE, "unexpected error %d", r);
        if (r == -EINVAL)
                FUZZ_CHECK(err && err[0], "no message for a refused journal");
        if (r < 0)
                goto out;

        FUZZ_CHECK(n == 0 || leases, "%zu leases without an array", n);
        for (size_t i = 0; i < n; i++) {
                const LeaseRecord *l = &leases[i];
                FUZZ_CHECK(l->id != 0 && l->id <= max_id, "lease %zu: id %#lx, highest id %#lx", i,
                           (unsigned long) l->id, (unsigned long) max_id);
                FUZZ_CHECK(l->size != 0, "lease %zu: size 0", i);
                FUZZ_CHECK(memchr(l->client, '\0', sizeof(l->client)) && l->client[0] &&
                                   memchr(l->container, '\0', sizeof(l->container)) && l->container[0],
                           "lease %zu: empty or unterminated name", i);
        }

        /* What a restarted iovad writes back (lease_journal_new) replays as the same leases. */
        FUZZ_CHECK(lease_journal_new(dir_out, BUS_ID, leases, n, &j) == 0, "lease_journal_new failed");
        lease_journal_free(j);
        r = lease_journal_load(dir_out, BUS_ID, &back, &n_back, &max_back, NULL);
        FUZZ_CHECK(r == 0, "the rewritten journal does not load: %d", r);
        FUZZ_CHECK(n_back == n, "%zu leases back, %zu written", n_back, n);
        for (size_t i = 0; i < n; i++)
                FUZZ_CHECK(leases[i].id == back[i].id && leases[i].iova == back[i].iova &&
                                   leases[i].size == back[i].size && leases[i].owner == back[i].owner &&
                                   leases[i].mapped == back[i].mapped && leases[i].writable == back[i].writable &&
                                   leases[i].offset == back[i].offset && strcmp(leases[i].client, back[i].client) == 0 &&
                                   strcmp(leases[i].container, back[i].container) == 0,
                           "lease %zu differs after the rewrite", i);
        /* A journal written at a restore holds only answered leases. */
        for (size_t i = 0; i < n_back; i++)
                FUZZ_CHECK(!back[i].unanswered, "lease %zu of a rewritten journal is unanswered", i);
out:
        free(leases);
        free(back);
        free(err);
        return 0;
}
