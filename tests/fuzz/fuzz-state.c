/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state file (state.json) through state_parse(), and every accepted
 * file through state_format() and state_parse() again: what iovad writes
 * back after a restart must read as what it read.
 */

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "persist/state.h"
#include "platform/sysfs.h"

static void check_equal(const State *a, const State *b) {
        FUZZ_CHECK(a->next_lease_id == b->next_lease_id, "next_lease_id differs");
        FUZZ_CHECK(a->n_containers == b->n_containers && a->n_leases == b->n_leases && a->n_rebinds == b->n_rebinds,
                   "counts differ");
        for (size_t i = 0; i < a->n_containers; i++) {
                const StateContainer *x = &a->containers[i], *y = &b->containers[i];
                FUZZ_CHECK(strcmp(x->name, y->name) == 0, "containers[%zu].name differs", i);
                FUZZ_CHECK(x->n_users == y->n_users && x->n_groups == y->n_groups, "containers[%zu] counts differ", i);
                FUZZ_CHECK(x->n_users == 0 || memcmp(x->users, y->users, x->n_users * sizeof(uid_t)) == 0,
                           "containers[%zu].users differ", i);
                FUZZ_CHECK(x->n_groups == 0 || memcmp(x->groups, y->groups, x->n_groups * sizeof(unsigned)) == 0,
                           "containers[%zu].groups differ", i);
        }
        for (size_t i = 0; i < a->n_leases; i++) {
                const LeaseRecord *x = &a->leases[i], *y = &b->leases[i];
                FUZZ_CHECK(x->id == y->id && strcmp(x->container, y->container) == 0 && x->iova == y->iova &&
                                   x->size == y->size && x->owner == y->owner && x->mapped == y->mapped &&
                                   x->writable == y->writable && x->offset == y->offset,
                           "leases[%zu] differs", i);
        }
        for (size_t i = 0; i < a->n_rebinds; i++)
                FUZZ_CHECK(strcmp(a->rebinds[i].address, b->rebinds[i].address) == 0 &&
                                   strcmp(a->rebinds[i].driver, b->rebinds[i].driver) == 0,
                           "rebinds[%zu] differs", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = fuzz_text(data, size), *err = NULL, *formatted = NULL;
        State s = {}, back = {};
        int r;

        r = state_parse(text, &s, &err);
        FUZZ_CHECK(r == 0 || r == -EINVAL, "unexpected error %d", r);
        if (r < 0) {
                FUZZ_CHECK(err && err[0], "no message for a refused file");
                goto out;
        }
        for (size_t i = 0; i < s.n_leases; i++)
                FUZZ_CHECK(s.leases[i].id != 0 && s.leases[i].size != 0 && s.leases[i].container[0],
                           "leases[%zu] accepted with id 0, size 0 or no container", i);
        for (size_t i = 0; i < s.n_rebinds; i++)
                FUZZ_CHECK(pci_address_valid(s.rebinds[i].address), "rebinds[%zu]: bad address", i);

        formatted = state_format(&s);
        FUZZ_CHECK(formatted, "state_format failed");
        r = state_parse(formatted, &back, &err);
        FUZZ_CHECK(r == 0, "the formatted state does not parse (%d, %s):\n%s", r, err ? err : "", formatted);
        check_equal(&s, &back);
out:
        state_done(&s);
        state_done(&back);
        free(formatted);
        free(err);
        free(text);
        return 0;
}
