/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iovad.conf (JSON) through config_parse(): on success the quotas and the
 * normalised policy regions it promises, on error a message naming the key
 * and the previous configuration untouched.
 */

#include <errno.h>
#include <string.h>

#include "persist/conf.h"
#include "fuzz.h"

static const char previous[] =
        "{ \"quota\": { \"leases\": 7, \"mapped_bytes\": 8192, \"dma_entries\": 9 },"
        "  \"reserved_regions\": [ \"0x0000000000000000 0x0000000000000fff reserved\" ] }";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = fuzz_text(data, size), *err = NULL;
        Config c;
        int r;

        config_init(&c);
        FUZZ_CHECK(config_parse(&c, previous, NULL) == 0, "the fixed configuration does not parse");

        r = config_parse(&c, text, &err);
        FUZZ_CHECK(r == 0 || r == -EINVAL, "unexpected error %d", r);
        if (r < 0) {
                FUZZ_CHECK(err && err[0], "no message for a refused configuration");
                FUZZ_CHECK(c.max_leases == 7 && c.max_mapped_bytes == 8192 && c.max_dma_entries == 9 &&
                                   c.reserved.n == 1 && c.reserved.items[0].end == 0xfff,
                           "a refused configuration changed the previous one");
        } else {
                for (size_t i = 0; i < c.reserved.n; i++) {
                        const Region *g = &c.reserved.items[i];
                        FUZZ_CHECK(g->start <= g->end && region_type_to_string(g->type), "region %zu invalid", i);
                        FUZZ_CHECK(strcmp(g->origin, "policy") == 0, "region %zu has origin \"%s\"", i, g->origin);
                        FUZZ_CHECK(i == 0 || c.reserved.items[i - 1].start <= g->start, "regions %zu and %zu unsorted",
                                   i - 1, i);
                        /* Normalised: regions of one type neither overlap nor touch. */
                        for (size_t k = 0; k < i; k++) {
                                const Region *p = &c.reserved.items[k];
                                FUZZ_CHECK(p->type != g->type || (p->end != UINT64_MAX && p->end + 1 < g->start),
                                           "regions %zu and %zu of one type touch", k, i);
                        }
                }
        }
        config_done(&c);
        free(err);
        free(text);
        return 0;
}
