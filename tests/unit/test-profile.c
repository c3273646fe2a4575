/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform/profile.h"

#define PROFILES_DIR SOURCE_ROOT "/daemon/profiles"

static const char *const shipped[] = {
        "x86-vtd", "x86-amdvi", "arm-smmuv3", "virtio-iommu", "x86-nointremap", "x86-smalldma", "x86-switch",
};

/* A valid profile with a @HOLE@ where each malformed case puts its text. */
#define HEAD                                                                    \
        "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": [4096],"
#define GROUP0                                                                  \
        "{ \"id\": 5, \"reserved_regions\": [\"0x00000000fee00000 0x00000000feefffff msi\"]," \
        "  \"devices\": [ { \"address\": \"0000:01:00.0\", \"vendor\": \"0x8086\"," \
        "                   \"device\": \"0x1521\", \"class\": \"0x020000\", \"driver\": \"vfio-pci\" } ] }"

static Profile *parse_ok(const char *json) {
        Profile *p = NULL;
        char *err = NULL;
        int r;

        r = profile_parse(json, &p, &err);
        ck_assert_msg(r == 0, "refused (%d): %s\n%s", r, err ?: "(no message)", json);
        ck_assert_ptr_null(err);
        ck_assert_ptr_nonnull(p);
        return p;
}

static void parse_bad(const char *json, const char *want_prefix, const char *want_also) {
        Profile *p = NULL;
        char *err = NULL;
        int r;

        r = profile_parse(json, &p, &err);
        ck_assert_msg(r == -EINVAL, "got %d for\n%s", r, json);
        ck_assert_ptr_null(p);
        ck_assert_ptr_nonnull(err);
        ck_assert_msg(strncmp(err, want_prefix, strlen(want_prefix)) == 0,
                      "message \"%s\" does not start with \"%s\"", err, want_prefix);
        if (want_also)
                ck_assert_msg(strstr(err, want_also), "message \"%s\" lacks \"%s\"", err, want_also);
        free(err);
}

START_TEST(test_minimal_defaults) {
        Profile *p = parse_ok(HEAD "\"groups\": [" GROUP0 "] }");
        const ProfileGroup *g;

        ck_assert_str_eq(p->name, "t");
        ck_assert_ptr_null(p->description);
        ck_assert_uint_eq(p->aperture_bits, 39);
        ck_assert_uint_eq(p->page_sizes, 4096);
        ck_assert_uint_eq(p->dma_entry_limit, 65535);
        ck_assert(!p->interrupt_remapping);
        ck_assert(!p->allow_unsafe_interrupts);
        ck_assert_uint_eq(p->n_groups, 1);

        g = profile_find_group(p, 5);
        ck_assert_ptr_nonnull(g);
        ck_assert_ptr_null(profile_find_group(p, 6));
        ck_assert_str_eq(g->reserved_lines[0], "0x00000000fee00000 0x00000000feefffff msi");
        ck_assert_ptr_null(g->reserved_lines[1]);
        ck_assert_uint_eq(g->regions.n, 1);
        ck_assert_uint_eq(g->regions.items[0].start, 0xfee00000);
        ck_assert_uint_eq(g->regions.items[0].end, 0xfeefffff);
        ck_assert_int_eq(g->regions.items[0].type, REGION_MSI);
        ck_assert_str_eq(g->regions.items[0].origin, "group 5");
        ck_assert_uint_eq(g->n_devices, 1);
        ck_assert_str_eq(g->devices[0].address, "0000:01:00.0");
        ck_assert_uint_eq(g->devices[0].vendor, 0x8086);
        ck_assert_uint_eq(g->devices[0].device, 0x1521);
        ck_assert_uint_eq(g->devices[0].class, 0x020000);
        ck_assert_str_eq(g->devices[0].driver, "vfio-pci");
        profile_free(p);
}
END_TEST

START_TEST(test_all_fields) {
        Profile *p = parse_ok(
                "{ \"name\": \"full\", \"description\": \"all of it\", \"aperture_bits\": 64,"
                "  \"page_sizes\": [4096, 2097152, 9223372036854775808],"
                "  \"dma_entry_limit\": 4294967295, \"interrupt_remapping\": true,"
                "  \"allow_unsafe_interrupts\": true,"
                "  \"groups\": [ { \"id\": 4294967295,"
                "                  \"devices\": [ { \"address\": \"ffff:ff:1f.7\", \"vendor\": \"0xFFFF\","
                "                                 \"device\": \"0x0\", \"class\": \"0xffffff\" } ] },"
                "                { \"id\": 0, \"reserved_regions\": [],"
                "                  \"devices\": [ { \"address\": \"0000:00:00.0\", \"vendor\": \"0x1\","
                "                                 \"device\": \"0x2\", \"class\": \"0x0\", \"driver\": \"\" } ] } ] }");

        ck_assert_str_eq(p->description, "all of it");
        ck_assert_uint_eq(p->aperture_bits, 64);
        ck_assert_uint_eq(p->page_sizes, 4096 | 2097152 | (UINT64_C(1) << 63));
        ck_assert_uint_eq(p->dma_entry_limit, UINT32_MAX);
        ck_assert(p->interrupt_remapping);
        ck_assert(p->allow_unsafe_interrupts);
        ck_assert_uint_eq(p->n_groups, 2);
        ck_assert_uint_eq(p->groups[0].id, UINT32_MAX);
        ck_assert_ptr_nonnull(p->groups[0].reserved_lines);
        ck_assert_ptr_null(p->groups[0].reserved_lines[0]);
        ck_assert_uint_eq(p->groups[0].regions.n, 0);
        ck_assert_uint_eq(p->groups[0].devices[0].vendor, 0xffff);
        ck_assert_uint_eq(p->groups[0].devices[0].class, 0xffffff);
        ck_assert_str_eq(p->groups[0].devices[0].driver, "");
        ck_assert_str_eq(p->groups[1].devices[0].driver, "");
        ck_assert_ptr_nonnull(profile_find_group(p, 0));
        profile_free(p);
}
END_TEST

START_TEST(test_page_bitmap) {
        /* The kernel's form: virtio-iommu on 6.12 reports every power of two from 4 KiB. */
        Profile *p = parse_ok("{ \"name\": \"t\", \"aperture_bits\": 64, \"page_sizes\": \"0xfffffffffffff000\","
                              "  \"groups\": [] }");

        ck_assert_uint_eq(p->page_sizes, UINT64_C(0xfffffffffffff000));
        profile_free(p);
        p = parse_ok("{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": \"0x40201000\", \"groups\": [] }");
        ck_assert_uint_eq(p->page_sizes, 4096 | 2097152 | 1073741824);
        profile_free(p);
        p = parse_ok("{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": \"0X1000\", \"groups\": [] }");
        ck_assert_uint_eq(p->page_sizes, 4096);
        profile_free(p);
}
END_TEST

START_TEST(test_malformed) {
        static const struct {
                const char *json;
                const char *prefix;
                const char *also;
        } cases[] = {
                /* Not JSON at all, or not a profile-shaped document. */
                { "{ \"name\": ", "(root): JSON syntax error", NULL },
                { "{ \"name\": 'x' }", "(root): JSON syntax error", NULL },
                { HEAD "\"groups\": [] } trailing", "(root): JSON syntax error", NULL },
                { HEAD "\"groups\": [] } {}", "(root): JSON syntax error", NULL },
                { "[1, 2]", "(root): expected a JSON object", NULL },
                { "", "(root): JSON syntax error", NULL },

                /* Top-level fields. */
                { "{ \"aperture_bits\": 39, \"page_sizes\": [4096], \"groups\": [] }", "name: missing", NULL },
                { "{ \"name\": \"\", \"aperture_bits\": 39, \"page_sizes\": [4096], \"groups\": [] }", "name: ", "non-empty" },
                { "{ \"name\": 7, \"aperture_bits\": 39, \"page_sizes\": [4096], \"groups\": [] }", "name: ", NULL },
                { "{ \"name\": \"t\", \"description\": 1, \"aperture_bits\": 39, \"page_sizes\": [4096], \"groups\": [] }", "description: ", NULL },
                { "{ \"name\": \"t\", \"page_sizes\": [4096], \"groups\": [] }", "aperture_bits: missing", NULL },
                { "{ \"name\": \"t\", \"aperture_bits\": 31, \"page_sizes\": [4096], \"groups\": [] }", "aperture_bits: ", "32..64" },
                { "{ \"name\": \"t\", \"aperture_bits\": 65, \"page_sizes\": [4096], \"groups\": [] }", "aperture_bits: ", "32..64" },
                { "{ \"name\": \"t\", \"aperture_bits\": 39.5, \"page_sizes\": [4096], \"groups\": [] }", "aperture_bits: expected an integer", NULL },
                { "{ \"name\": \"t\", \"aperture_bits\": \"39\", \"page_sizes\": [4096], \"groups\": [] }", "aperture_bits: expected an integer", NULL },
                { "{ \"name\": \"t\", \"aperture_bits\": 39, \"groups\": [] }", "page_sizes: missing", NULL },
                { "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": [], \"groups\": [] }", "page_sizes: ", "non-empty" },
                { "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": [4096, 12288], \"groups\": [] }", "page_sizes[1]: ", "power of two" },
                { "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": [2048], \"groups\": [] }", "page_sizes[0]: ", "at least 4096" },
                { "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": [-4096], \"groups\": [] }", "page_sizes[0]: ", NULL },
                { "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": 4096, \"groups\": [] }", "page_sizes: ", NULL },
                { "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": \"0xfffffffffffff800\", \"groups\": [] }", "page_sizes: ", "at least 4096" },
                { "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": \"0x0\", \"groups\": [] }", "page_sizes: ", "bitmap" },
                { "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": \"fffff000\", \"groups\": [] }", "page_sizes: ", "bitmap" },
                { "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": \"0x1fffffffffffff000\", \"groups\": [] }", "page_sizes: ", "bitmap" },
                { "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": \"0x1000g\", \"groups\": [] }", "page_sizes: ", "bitmap" },
                { HEAD "\"dma_entry_limit\": 0, \"groups\": [] }", "dma_entry_limit: ", NULL },
                { HEAD "\"dma_entry_limit\": 4294967296, \"groups\": [] }", "dma_entry_limit: ", NULL },
                { HEAD "\"interrupt_remapping\": 1, \"groups\": [] }", "interrupt_remapping: expected true or false", NULL },
                { HEAD "\"allow_unsafe_interrupts\": \"yes\", \"groups\": [] }", "allow_unsafe_interrupts: expected true or false", NULL },
                { HEAD "}", "(root): JSON syntax error", NULL }, /* trailing comma */
                { "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": [4096] }", "groups: missing", NULL },
                { HEAD "\"groups\": {} }", "groups: expected an array", NULL },
                { HEAD "\"dma_entry_limt\": 16, \"groups\": [] }", "dma_entry_limt: unknown key", NULL },

                /* MSI controllers: Arm only, matching the isolation, aligned, unique. */
                { HEAD "\"groups\": [" GROUP0 "], \"msi_controllers\": [] }", "msi_controllers: ", "only Arm" },
                { HEAD "\"groups\": [], \"msi_controllers\": {} }", "msi_controllers: expected an array", NULL },
                { HEAD "\"groups\": [], \"msi_controllers\": [ 1 ] }", "msi_controllers[0]: expected an object", NULL },
                { HEAD "\"groups\": [], \"msi_controllers\": [ { \"type\": \"its\", \"base\": \"0x8080000\" } ] }",
                  "msi_controllers[0].type: ", "interrupt_remapping true" },
                { HEAD "\"interrupt_remapping\": true, \"groups\": [], \"msi_controllers\": [ { \"type\": \"gicv2m\", \"base\": \"0x8020000\" } ] }",
                  "msi_controllers[0].type: ", "interrupt_remapping false" },
                { HEAD "\"groups\": [], \"msi_controllers\": [ { \"type\": \"v3\", \"base\": \"0x8020000\" } ] }",
                  "msi_controllers[0].type: ", "\"its\" or \"gicv2m\"" },
                { HEAD "\"groups\": [], \"msi_controllers\": [ { \"type\": \"gicv2m\" } ] }", "msi_controllers[0].base: missing", NULL },
                { HEAD "\"groups\": [], \"msi_controllers\": [ { \"type\": \"gicv2m\", \"base\": \"0x8020040\" } ] }",
                  "msi_controllers[0].base: ", "aligned to 0x1000" },
                { HEAD "\"interrupt_remapping\": true, \"groups\": [], \"msi_controllers\": [ { \"type\": \"its\", \"base\": \"0x8081000\" } ] }",
                  "msi_controllers[0].base: ", "aligned to 0x10000" },
                { HEAD "\"groups\": [], \"msi_controllers\": [ { \"type\": \"gicv2m\", \"base\": \"0x8020000\" },"
                  " { \"type\": \"gicv2m\", \"base\": \"0x8020000\" } ] }", "msi_controllers[1].base: ", "already used" },
                { HEAD "\"groups\": [], \"msi_controllers\": [ { \"type\": \"gicv2m\", \"base\": \"0x8020000\", \"size\": 1 } ] }",
                  "msi_controllers[0].size: unknown key", NULL },

                /* Groups. */
                { HEAD "\"groups\": [ 5 ] }", "groups[0]: expected an object", NULL },
                { HEAD "\"groups\": [ { \"devices\": [] } ] }", "groups[0].id: missing", NULL },
                { HEAD "\"groups\": [ { \"id\": -1, \"devices\": [] } ] }", "groups[0].id: ", NULL },
                { HEAD "\"groups\": [ { \"id\": 4294967296, \"devices\": [] } ] }", "groups[0].id: ", NULL },
                { HEAD "\"groups\": [" GROUP0 ", { \"id\": 5, \"devices\": [] } ] }", "groups[1].id: ", "groups[0]" },
                { HEAD "\"groups\": [ { \"id\": 1, \"devices\": [] } ] }", "groups[0].devices: ", "at least one" },
                { HEAD "\"groups\": [ { \"id\": 1 } ] }", "groups[0].devices: missing", NULL },
                { HEAD "\"groups\": [ { \"id\": 1, \"reserved\": [], \"devices\": [] } ] }", "groups[0].reserved: unknown key", NULL },
                { HEAD "\"groups\": [" GROUP0 ", { \"id\": 6, \"reserved_regions\": [\"0x00000000fee00000 0x00000000feefffff msi\", \"0x1000 0xfff direct\"], \"devices\": [] } ] }",
                  "groups[1].reserved_regions[1]: ", "\"0x1000 0xfff direct\"" },
                { HEAD "\"groups\": [ { \"id\": 6, \"reserved_regions\": [\"0x0 0xfff bogus\"], \"devices\": [] } ] }",
                  "groups[0].reserved_regions[0]: ", "0x0 0xfff bogus" },
                { HEAD "\"groups\": [ { \"id\": 6, \"reserved_regions\": [7], \"devices\": [] } ] }",
                  "groups[0].reserved_regions[0]: ", NULL },
                { HEAD "\"groups\": [ { \"id\": 6, \"reserved_regions\": \"0x0 0xfff msi\", \"devices\": [] } ] }",
                  "groups[0].reserved_regions: ", NULL },

                /* Devices. */
                { HEAD "\"groups\": [ { \"id\": 1, \"devices\": [ 1 ] } ] }", "groups[0].devices[0]: expected an object", NULL },
                { HEAD "\"groups\": [ { \"id\": 1, \"devices\": [ { \"vendor\": \"0x8086\", \"device\": \"0x1\", \"class\": \"0x0\" } ] } ] }",
                  "groups[0].devices[0].address: missing", NULL },
                { HEAD "\"groups\": [ { \"id\": 1, \"devices\": [ { \"address\": \"0000:01:00.0\", \"device\": \"0x1\", \"class\": \"0x0\" } ] } ] }",
                  "groups[0].devices[0].vendor: missing", NULL },
                { HEAD "\"groups\": [ { \"id\": 1, \"devices\": [ { \"address\": \"01:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x1\", \"class\": \"0x0\" } ] } ] }",
                  "groups[0].devices[0].address: ", "0000:01:00.0" },
                { HEAD "\"groups\": [ { \"id\": 1, \"devices\": [ { \"address\": \"0000:01:20.0\", \"vendor\": \"0x8086\", \"device\": \"0x1\", \"class\": \"0x0\" } ] } ] }",
                  "groups[0].devices[0].address: ", NULL },
                { HEAD "\"groups\": [ { \"id\": 1, \"devices\": [ { \"address\": \"0000:01:00.8\", \"vendor\": \"0x8086\", \"device\": \"0x1\", \"class\": \"0x0\" } ] } ] }",
                  "groups[0].devices[0].address: ", NULL },
                { HEAD "\"groups\": [" GROUP0 ", { \"id\": 6, \"devices\": [ { \"address\": \"0000:02:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x1\", \"class\": \"0x0\" },"
                  " { \"address\": \"0000:01:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x1\", \"class\": \"0x0\" } ] } ] }",
                  "groups[1].devices[1].address: ", "groups[0].devices[0]" },
                { HEAD "\"groups\": [ { \"id\": 6, \"devices\": [ { \"address\": \"0000:02:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x1\", \"class\": \"0x0\" },"
                  " { \"address\": \"0000:02:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x1\", \"class\": \"0x0\" } ] } ] }",
                  "groups[0].devices[1].address: ", "groups[0].devices[0]" },
                { HEAD "\"groups\": [" GROUP0 ", { \"id\": 6, \"devices\": [ { \"address\": \"0000:02:00.0\", \"vendor\": \"8086\", \"device\": \"0x1\", \"class\": \"0x0\" } ] } ] }",
                  "groups[1].devices[0].vendor: expected a hex string like \"0x8086\"", NULL },
                { HEAD "\"groups\": [ { \"id\": 6, \"devices\": [ { \"address\": \"0000:02:00.0\", \"vendor\": \"0x10000\", \"device\": \"0x1\", \"class\": \"0x0\" } ] } ] }",
                  "groups[0].devices[0].vendor: ", NULL },
                { HEAD "\"groups\": [ { \"id\": 6, \"devices\": [ { \"address\": \"0000:02:00.0\", \"vendor\": 32902, \"device\": \"0x1\", \"class\": \"0x0\" } ] } ] }",
                  "groups[0].devices[0].vendor: ", NULL },
                { HEAD "\"groups\": [ { \"id\": 6, \"devices\": [ { \"address\": \"0000:02:00.0\", \"vendor\": \"0x8086\", \"device\": \"0xzz\", \"class\": \"0x0\" } ] } ] }",
                  "groups[0].devices[0].device: ", NULL },
                { HEAD "\"groups\": [ { \"id\": 6, \"devices\": [ { \"address\": \"0000:02:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x1\", \"class\": \"0x1000000\" } ] } ] }",
                  "groups[0].devices[0].class: ", NULL },
                { HEAD "\"groups\": [ { \"id\": 6, \"devices\": [ { \"address\": \"0000:02:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x1\", \"class\": \"0x0\", \"driver\": 1 } ] } ] }",
                  "groups[0].devices[0].driver: ", NULL },
                { HEAD "\"groups\": [ { \"id\": 6, \"devices\": [ { \"address\": \"0000:02:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x1\", \"class\": \"0x0\", \"driver\": \"../x\" } ] } ] }",
                  "groups[0].devices[0].driver: ", NULL },
                { HEAD "\"groups\": [ { \"id\": 6, \"devices\": [ { \"address\": \"0000:02:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x1\", \"class\": \"0x0\", \"drvier\": \"x\" } ] } ] }",
                  "groups[0].devices[0].drvier: unknown key", NULL },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                parse_bad(cases[i].json, cases[i].prefix, cases[i].also);
}
END_TEST

START_TEST(test_error_optional) {
        Profile *p = NULL;

        /* Without a place for the message the error code is the same. */
        ck_assert_int_eq(profile_parse("{}", &p, NULL), -EINVAL);
        ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_shipped) {
        for (size_t i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
                Profile *p = NULL;
                char *err = NULL;
                size_t vfio = 0;
                int r;

                r = profile_load(shipped[i], PROFILES_DIR, &p, &err);
                ck_assert_msg(r == 0, "%s: %d %s", shipped[i], r, err ?: "");
                ck_assert_str_eq(p->name, shipped[i]);
                ck_assert_ptr_nonnull(p->description);
                ck_assert_msg(p->n_groups >= 4, "%s has %zu groups", shipped[i], p->n_groups);
                for (size_t g = 0; g < p->n_groups; g++) {
                        ck_assert_uint_ge(p->groups[g].n_devices, 1);
                        /* Every group of every shipped platform has an MSI window. */
                        bool msi = false;
                        for (size_t k = 0; k < p->groups[g].regions.n; k++)
                                msi = msi || p->groups[g].regions.items[k].type == REGION_MSI;
                        ck_assert_msg(msi, "%s group %u has no msi region", shipped[i], p->groups[g].id);
                        for (size_t d = 0; d < p->groups[g].n_devices; d++)
                                vfio += strcmp(p->groups[g].devices[d].driver, "vfio-pci") == 0;
                }
                ck_assert_msg(vfio > 0, "%s has no device on vfio-pci", shipped[i]);
                profile_free(p);
        }
}
END_TEST

START_TEST(test_shipped_facts) {
        Profile *p = NULL;
        const ProfileGroup *g;

        ck_assert_int_eq(profile_load("x86-vtd", PROFILES_DIR, &p, NULL), 0);
        ck_assert_uint_eq(p->aperture_bits, 39);
        ck_assert(p->interrupt_remapping);
        g = profile_find_group(p, 5);
        ck_assert_ptr_nonnull(g);
        ck_assert_str_eq(g->devices[0].address, "0000:01:00.0");
        ck_assert_uint_eq(g->devices[0].vendor, 0x8086);
        ck_assert_uint_eq(g->devices[0].device, 0x1521);
        profile_free(p);

        ck_assert_int_eq(profile_load("x86-amdvi", PROFILES_DIR, &p, NULL), 0);
        g = profile_find_group(p, 14);
        ck_assert_ptr_nonnull(g);
        ck_assert_uint_eq(g->regions.n, 2);
        ck_assert_uint_eq(g->regions.items[1].start, UINT64_C(0xfd00000000));
        ck_assert_uint_eq(g->regions.items[1].end, UINT64_C(0xffffffffff));
        ck_assert_int_eq(g->regions.items[1].type, REGION_RESERVED);
        /* v1 page tables: every size but 512 GiB. */
        ck_assert(p->page_sizes & (UINT64_C(1) << 38));
        ck_assert(!(p->page_sizes & (UINT64_C(1) << 39)));
        profile_free(p);

        ck_assert_int_eq(profile_load("arm-smmuv3", PROFILES_DIR, &p, NULL), 0);
        g = profile_find_group(p, 4);
        ck_assert_ptr_nonnull(g);
        ck_assert_uint_eq(g->regions.items[0].start, 0x8000000);
        ck_assert_uint_eq(g->regions.items[0].end, 0x80fffff);
        ck_assert_int_eq(g->regions.items[0].type, REGION_MSI);
        profile_free(p);

        /* What Linux 6.12's virtio-iommu reports, not just its smallest page. */
        ck_assert_int_eq(profile_load("virtio-iommu", PROFILES_DIR, &p, NULL), 0);
        ck_assert_uint_eq(p->page_sizes, UINT64_C(0xfffffffffffff000));
        profile_free(p);

        ck_assert_int_eq(profile_load("x86-smalldma", PROFILES_DIR, &p, NULL), 0);
        ck_assert_uint_eq(p->dma_entry_limit, 16);
        profile_free(p);

        ck_assert_int_eq(profile_load("virtio-iommu", PROFILES_DIR, &p, NULL), 0);
        ck_assert_uint_eq(p->aperture_bits, 64);
        ck_assert(!p->interrupt_remapping);
        ck_assert(p->allow_unsafe_interrupts);
        profile_free(p);

        ck_assert_int_eq(profile_load("x86-nointremap", PROFILES_DIR, &p, NULL), 0);
        ck_assert(!p->interrupt_remapping);
        ck_assert(!p->allow_unsafe_interrupts);
        profile_free(p);
}
END_TEST

START_TEST(test_load_by_path) {
        char dir[256], path[512], noext[512];
        Profile *p = NULL;
        char *err = NULL;
        FILE *f;

        snprintf(dir, sizeof(dir), "%s/test-profile.XXXXXX", getenv("TMPDIR") ?: "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(dir));

        /* A path to a shipped one. */
        ck_assert_int_eq(profile_load(PROFILES_DIR "/x86-vtd.json", NULL, &p, NULL), 0);
        ck_assert_str_eq(p->name, "x86-vtd");
        profile_free(p);

        /* A file of one's own, named by a path without .json. */
        snprintf(noext, sizeof(noext), "%s/mine", dir);
        f = fopen(noext, "we");
        ck_assert_ptr_nonnull(f);
        fputs("{ \"name\": \"mine\", \"aperture_bits\": 48, \"page_sizes\": [4096], \"groups\": [" GROUP0 "] }", f);
        fclose(f);
        ck_assert_int_eq(profile_load(noext, PROFILES_DIR, &p, &err), 0);
        ck_assert_str_eq(p->name, "mine");
        profile_free(p);

        /* A broken file: the message names the file, then the JSON path. */
        snprintf(path, sizeof(path), "%s/broken.json", dir);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(HEAD "\"groups\": [ { \"id\": 1, \"devices\": [ { \"address\": \"0000:01:00.0\", \"vendor\": \"0x8086\","
              " \"device\": \"0x1521\", \"class\": \"nope\" } ] } ] }", f);
        fclose(f);
        p = NULL;
        ck_assert_int_eq(profile_load(path, NULL, &p, &err), -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_ptr_nonnull(err);
        ck_assert_msg(strstr(err, path) == err, "%s", err);
        ck_assert_msg(strstr(err, ": groups[0].devices[0].class: "), "%s", err);
        free(err);

        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(unlink(noext), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_load_missing) {
        Profile *p = NULL;

        ck_assert_int_eq(profile_load("no-such-platform", PROFILES_DIR, &p, NULL), -ENOENT);
        ck_assert_int_eq(profile_load("no-such-platform.json", PROFILES_DIR, &p, NULL), -ENOENT);
        ck_assert_int_eq(profile_load("/nonexistent/x86-vtd.json", PROFILES_DIR, &p, NULL), -ENOENT);
        ck_assert_int_eq(profile_load("x86-vtd", "/nonexistent", &p, NULL), -ENOENT);
        ck_assert_int_eq(profile_load("", PROFILES_DIR, &p, NULL), -ENOENT);
        /* A name is never a way out of the profiles directory. */
        ck_assert_int_eq(profile_load("..", PROFILES_DIR, &p, NULL), -ENOENT);
        ck_assert_ptr_null(p);
        ck_assert_ptr_null(profile_free(NULL));
}
END_TEST

int main(void) {
        Suite *s = suite_create("profile");
        TCase *tc = tcase_create("core");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_minimal_defaults);
        tcase_add_test(tc, test_all_fields);
        tcase_add_test(tc, test_page_bitmap);
        tcase_add_test(tc, test_malformed);
        tcase_add_test(tc, test_error_optional);
        tcase_add_test(tc, test_shipped);
        tcase_add_test(tc, test_shipped_facts);
        tcase_add_test(tc, test_load_by_path);
        tcase_add_test(tc, test_load_missing);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
