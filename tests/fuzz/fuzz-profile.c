/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A platform profile (JSON) through profile_parse(): every accepted profile
 * must hold what profile.h promises, and every refusal must come with a
 * message.
 */

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "platform/profile.h"
#include "platform/sysfs.h"

static void check_profile(const Profile *p) {
        FUZZ_CHECK(p->name, "no name");
        FUZZ_CHECK(p->aperture_bits >= 32 && p->aperture_bits <= 64, "aperture_bits %u", p->aperture_bits);
        FUZZ_CHECK(p->page_sizes != 0, "no page sizes");
        FUZZ_CHECK(p->dma_entry_limit >= 1, "dma_entry_limit 0");
        for (size_t i = 0; i < p->n_groups; i++) {
                const ProfileGroup *g = &p->groups[i];
                char origin[REGION_ORIGIN_MAX];
                size_t n_lines = 0;

                FUZZ_CHECK(profile_find_group(p, g->id) == g, "group %u is not unique", g->id);
                FUZZ_CHECK(g->reserved_lines, "groups[%zu]: no line list", i);
                snprintf(origin, sizeof(origin), "group %u", g->id);
                for (char **l = g->reserved_lines; *l; l++, n_lines++) {
                        Region r;
                        FUZZ_CHECK(n_lines < g->regions.n, "groups[%zu]: more lines than regions", i);
                        FUZZ_CHECK(region_parse_line(*l, &r) == 0, "groups[%zu]: line \"%s\" does not parse", i, *l);
                        const Region *k = &g->regions.items[n_lines];
                        FUZZ_CHECK(k->start == r.start && k->end == r.end && k->type == r.type &&
                                           strcmp(k->origin, origin) == 0,
                                   "groups[%zu]: region %zu is not its line", i, n_lines);
                }
                FUZZ_CHECK(n_lines == g->regions.n, "groups[%zu]: %zu lines, %zu regions", i, n_lines, g->regions.n);
                FUZZ_CHECK(g->n_devices >= 1, "groups[%zu]: no devices", i);
                for (size_t d = 0; d < g->n_devices; d++) {
                        const ProfileDevice *dev = &g->devices[d];
                        FUZZ_CHECK(pci_address_valid(dev->address), "bad address \"%s\"", dev->address);
                        FUZZ_CHECK(dev->class <= 0xffffff, "class %#x", dev->class);
                        FUZZ_CHECK(!dev->driver[0] || driver_name_valid(dev->driver, sizeof(dev->driver)),
                                   "bad driver \"%s\"", dev->driver);
                        /* Addresses are unique across the whole profile. */
                        for (size_t j = 0; j <= i; j++)
                                for (size_t e = 0; e < (j == i ? d : p->groups[j].n_devices); e++)
                                        FUZZ_CHECK(strcmp(p->groups[j].devices[e].address, dev->address) != 0,
                                                   "address %s twice", dev->address);
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = fuzz_text(data, size), *err = NULL;
        Profile *p = NULL;
        int r;

        r = profile_parse(text, &p, &err);
        FUZZ_CHECK(r == 0 || r == -EINVAL, "unexpected error %d", r);
        if (r == 0) {
                FUZZ_CHECK(p, "success without a profile");
                check_profile(p);
        } else {
                FUZZ_CHECK(!p, "a profile on error");
                FUZZ_CHECK(err && err[0], "no message for a refused profile");
        }
        profile_free(p);
        free(err);
        free(text);
        return 0;
}
