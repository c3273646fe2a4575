/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Peer-to-peer risk from recorded configuration spaces: the x86-switch
 * profile (a root port with ACS, a switch whose downstream ports have
 * none, a multifunction NIC without ACS) laid out as sysfs and read back
 * through libpci, and hand-made trees for the rules' corners.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/macro.h"
#include "platform/p2p.h"
#include "platform/profile.h"
#include "platform/sysfs.h"
#include "platform/sysfs-write.h"

#define PROFILES_DIR SOURCE_ROOT "/daemon/profiles"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? -1 : 0;
}

static SysfsPlatform *platform_of(const char *profile_json_or_name, char **ret_dir) {
        char *dir = NULL, *err = NULL;
        Profile *p = NULL;
        SysfsPlatform *sp = NULL;
        int r;

        if (strchr(profile_json_or_name, '{'))
                r = profile_parse(profile_json_or_name, &p, &err);
        else
                r = profile_load(profile_json_or_name, PROFILES_DIR, &p, &err);
        ck_assert_msg(r == 0, "%s", err ?: "");
        ck_assert_int_ge(asprintf(&dir, "%s/test-p2p.XXXXXX", getenv("TMPDIR") ?: "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(sysfs_write_profile(p, dir), 0);
        ck_assert_int_eq(sysfs_read_platform(dir, &sp, &err), 0);
        profile_free(p);
        *ret_dir = dir;
        return sp;
}

static void done(SysfsPlatform *p, char *dir) {
        sysfs_platform_free(p);
        ck_assert_int_eq(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(dir);
}

static const P2pHop *hop(const P2pReport *r, const char *address) {
        for (size_t i = 0; i < r->n_hops; i++)
                if (strcmp(r->hops[i].address, address) == 0)
                        return &r->hops[i];
        return NULL;
}

static bool has_window(const P2pReport *r, uint64_t start, uint64_t end, const char *what) {
        for (size_t i = 0; i < r->n_windows; i++)
                if (r->windows[i].start == start && r->windows[i].end == end && strcmp(r->windows[i].what, what) == 0)
                        return true;
        return false;
}

START_TEST(test_config_read) {
        char *dir;
        SysfsPlatform *p = platform_of("x86-switch", &dir);
        const SysfsDevice *d;

        /* The topology comes from where sysfs puts each device. */
        d = sysfs_find_device(p, "0000:03:00.1");
        ck_assert_ptr_nonnull(d);
        ck_assert_str_eq(d->parent, "0000:02:01.0");
        ck_assert_str_eq(d->root_bus, "pci0000:00");
        ck_assert(d->config.readable);
        ck_assert(d->config.pcie);
        ck_assert_uint_eq(d->config.pcie_type, 0); /* endpoint */
        ck_assert(d->config.multifunction);
        ck_assert(!d->config.has_acs); /* AER, DSN, ARI, SR-IOV: no ACS in the chain */
        ck_assert_uint_eq(d->config.n_windows, 1);
        ck_assert_uint_eq(d->config.windows[0].start, 0xfe020000);
        ck_assert_uint_eq(d->config.windows[0].end, 0xfe03ffff);

        d = sysfs_find_device(p, "0000:00:1c.0");
        ck_assert_str_eq(d->parent, "");
        ck_assert(d->config.bridge);
        ck_assert_uint_eq(d->config.pcie_type, 4); /* root port */
        ck_assert(d->config.has_acs);
        ck_assert_uint_eq(d->config.acs_cap, 0x1f);
        ck_assert_uint_eq(d->config.acs_ctrl, 0x1d);
        ck_assert_uint_eq(d->config.n_windows, 1); /* the prefetchable window is off */
        ck_assert_uint_eq(d->config.windows[0].start, 0xfe000000);
        ck_assert_uint_eq(d->config.windows[0].end, 0xfe1fffff);

        /* A 64-bit BAR, sized by the resource file. */
        d = sysfs_find_device(p, "0000:04:00.0");
        ck_assert_uint_eq(d->config.n_windows, 1);
        ck_assert_uint_eq(d->config.windows[0].start, 0xfe100000);
        ck_assert_uint_eq(d->config.windows[0].end, 0xfe103fff);
        ck_assert_str_eq(d->config.windows[0].what, "BAR 0");
        done(p, dir);
}
END_TEST

START_TEST(test_switch_without_acs) {
        char *dir;
        SysfsPlatform *p = platform_of("x86-switch", &dir);
        P2pReport r = {};
        const P2pHop *h;

        /* The NIC: its functions reach each other, and through the port
         * without ACS the other downstream port's window. */
        ck_assert_int_eq(p2p_device(p, "0000:03:00.0", &r), 0);
        ck_assert_int_eq(r.verdict, P2P_PEERS);
        ck_assert_uint_eq(r.n_hops, 4);
        ck_assert_str_eq(r.hops[0].address, "0000:03:00.0");
        ck_assert_str_eq(r.hops[0].role, "endpoint");
        ck_assert_str_eq(r.hops[0].missing, "no ACS capability");
        h = hop(&r, "0000:02:01.0");
        ck_assert_str_eq(h->role, "switch downstream port");
        ck_assert_str_eq(h->missing, "no ACS capability");
        h = hop(&r, "0000:01:00.0");
        ck_assert_str_eq(h->role, "switch upstream port");
        ck_assert_str_eq(h->missing, ""); /* single function: needs no ACS */
        h = hop(&r, "0000:00:1c.0");
        ck_assert_str_eq(h->role, "root port");
        ck_assert_str_eq(h->missing, "");
        ck_assert_uint_eq(r.n_windows, 2);
        ck_assert(has_window(&r, 0xfe020000, 0xfe03ffff, "0000:03:00.1 BAR 0"));
        ck_assert(has_window(&r, 0xfe100000, 0xfe1fffff, "0000:02:03.0 memory window"));
        p2p_report_done(&r);

        /* The NVMe drive in the other group: the NIC's port window. */
        ck_assert_int_eq(p2p_device(p, "0000:04:00.0", &r), 0);
        ck_assert_int_eq(r.verdict, P2P_PEERS);
        ck_assert_str_eq(r.hops[0].missing, "");
        ck_assert_uint_eq(r.n_windows, 1);
        ck_assert(has_window(&r, 0xfe000000, 0xfe0fffff, "0000:02:01.0 memory window"));
        p2p_report_done(&r);

        /* Behind the root port with ACS: isolated. */
        ck_assert_int_eq(p2p_device(p, "0000:05:00.0", &r), 0);
        ck_assert_int_eq(r.verdict, P2P_ISOLATED);
        ck_assert_uint_eq(r.n_hops, 2);
        ck_assert_uint_eq(r.n_windows, 0);
        p2p_report_done(&r);

        /* The group: both functions and their port, each hop once. */
        ck_assert_int_eq(p2p_group(p, sysfs_find_group(p, 12), &r), 0);
        ck_assert_int_eq(r.verdict, P2P_PEERS);
        ck_assert_uint_eq(r.n_hops, 5);
        ck_assert_uint_eq(r.n_windows, 3); /* each function's BAR, reached by the other, and 02:03.0's window */
        ck_assert(has_window(&r, 0xfe000000, 0xfe01ffff, "0000:03:00.0 BAR 0"));
        for (size_t i = 1; i < r.n_windows; i++)
                ck_assert_uint_lt(r.windows[i - 1].start, r.windows[i].start);
        p2p_report_done(&r);

        ck_assert_int_eq(p2p_device(p, "0000:09:00.0", &r), -ENODEV);
        done(p, dir);
}
END_TEST

#define ROOT_PORT(acs_line) \
        "\"config\": [ \"00: 86 80 3c a3 07 04 10 00 f0 00 04 06 10 00 01 00\"," \
        "              \"18: 00 01 01 00\", \"20: 00 fe 00 fe\", \"34: 40\", \"40: 10 00 42 01\"" acs_line " ]"
#define EP_ON_1(extra) \
        "{ \"address\": \"0000:01:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x1521\", \"class\": \"0x020000\"," \
        "  \"driver\": \"vfio-pci\", \"parent\": \"0000:00:1c.0\", " extra " }"
#define PROFILE(rp_config, ep) \
        "{ \"name\": \"t\", \"aperture_bits\": 39, \"page_sizes\": [4096], \"interrupt_remapping\": true," \
        "  \"groups\": [ { \"id\": 1, \"reserved_regions\": [\"0x00000000fee00000 0x00000000feefffff msi\"]," \
        "    \"devices\": [ { \"address\": \"0000:00:1c.0\", \"vendor\": \"0x8086\", \"device\": \"0xa33c\"," \
        "                     \"class\": \"0x060400\", \"driver\": \"pcieport\", " rp_config " }," \
        "                   { \"address\": \"0000:00:1d.0\", \"vendor\": \"0x8086\", \"device\": \"0xa330\"," \
        "                     \"class\": \"0x060400\", \"driver\": \"pcieport\", " \
        "                     \"config\": [ \"00: 86 80 30 a3 07 04 10 00 f0 00 04 06 10 00 01 00\", \"20: 10 fe 10 fe\" ] }," \
        ep " ] } ] }"
#define EP_CONFIG "\"config\": [ \"00: 86 80 21 15 06 04 10 00 01 00 00 02 10 00 00 00\", \"34: a0\", \"a0: 10 00 02 00\" ]"

START_TEST(test_acs_flags) {
        static const struct {
                const char *acs;       /* the root port's ACS line, "" for none */
                const char *missing;
                P2pVerdict verdict;
        } cases[] = {
                { "", "no ACS capability", P2P_PEERS },
                /* All four required, enabled. */
                { ", \"100: 0d 00 01 00 1f 00 1d 00\"", "", P2P_ISOLATED },
                /* Capable but not enabled: what is missing is named. */
                { ", \"100: 0d 00 01 00 1f 00 01 00\"", "RR CR UF", P2P_PEERS },
                { ", \"100: 0d 00 01 00 1f 00 00 00\"", "SV RR CR UF", P2P_PEERS },
                /* A capability the port lacks (no UF) counts as hard-wired. */
                { ", \"100: 0d 00 01 00 0d 00 0d 00\"", "", P2P_ISOLATED },
                /* Translation Blocking is not required. */
                { ", \"100: 0d 00 01 00 1f 00 1f 00\"", "", P2P_ISOLATED },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char json[4096], *dir;
                SysfsPlatform *p;
                P2pReport r = {};

                /* The root port's config with this case's ACS line. */
                snprintf(json, sizeof(json), PROFILE(ROOT_PORT("%s"), EP_ON_1(EP_CONFIG)), cases[i].acs);
                p = platform_of(json, &dir);
                ck_assert_int_eq(p2p_device(p, "0000:01:00.0", &r), 0);
                ck_assert_msg(r.verdict == cases[i].verdict, "case %zu: verdict %d", i, r.verdict);
                ck_assert_str_eq(hop(&r, "0000:00:1c.0")->missing, cases[i].missing);
                /* The other root port's window is what the root bus would route to. */
                if (cases[i].verdict == P2P_PEERS)
                        ck_assert(has_window(&r, 0xfe100000, 0xfe1fffff, "0000:00:1d.0 memory window"));
                else
                        ck_assert_uint_eq(r.n_windows, 0);
                p2p_report_done(&r);
                done(p, dir);
        }
}
END_TEST

START_TEST(test_unreadable_and_conventional) {
        char json[4096], *dir;
        SysfsPlatform *p;
        P2pReport r = {};

        /* No config file for the endpoint: the verdict is unknown, not isolated. */
        snprintf(json, sizeof(json), PROFILE(ROOT_PORT("%s"),
                 "{ \"address\": \"0000:01:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x1521\", \"class\": \"0x020000\","
                 "  \"parent\": \"0000:00:1c.0\" }"), ", \"100: 0d 00 01 00 1f 00 1d 00\"");
        p = platform_of(json, &dir);
        ck_assert_int_eq(p2p_device(p, "0000:01:00.0", &r), 0);
        ck_assert_int_eq(r.verdict, P2P_UNKNOWN);
        ck_assert_str_eq(r.hops[0].missing, "config space unreadable");
        p2p_report_done(&r);
        done(p, dir);

        /* A conventional PCI device (no PCIe capability) shares its bus. */
        snprintf(json, sizeof(json), PROFILE(ROOT_PORT("%s"),
                 "{ \"address\": \"0000:01:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x1521\", \"class\": \"0x020000\","
                 "  \"parent\": \"0000:00:1c.0\", \"config\": [ \"00: 86 80 21 15 06 04 10 00 01 00 00 02 10 00 00 00\" ] },"
                 "{ \"address\": \"0000:01:01.0\", \"vendor\": \"0x8086\", \"device\": \"0x100e\", \"class\": \"0x020000\","
                 "  \"parent\": \"0000:00:1c.0\", \"config\": [ \"00: 86 80 0e 10 06 04 10 00 01 00 00 02 10 00 00 00\","
                 "  \"10: 00 00 00 fd\" ], \"resources\": [ \"0x00000000fd000000 0x00000000fd01ffff 0x0000000000040200\" ] }"),
                 ", \"100: 0d 00 01 00 1f 00 1d 00\"");
        p = platform_of(json, &dir);
        ck_assert_int_eq(p2p_device(p, "0000:01:00.0", &r), 0);
        ck_assert_int_eq(r.verdict, P2P_PEERS);
        ck_assert_str_eq(r.hops[0].role, "conventional PCI device");
        ck_assert_str_eq(r.hops[0].missing, "conventional PCI");
        ck_assert(has_window(&r, 0xfd000000, 0xfd01ffff, "0000:01:01.0 BAR 0"));
        p2p_report_done(&r);
        done(p, dir);
}
END_TEST

START_TEST(test_function_after_the_first) {
        /* QEMU sets the multifunction bit on function 0 only; the kernel
         * counts every later function as multifunction all the same
         * (pci_scan_slot()), so 01:00.1 needs ACS and 01:00.0 does not. */
        char json[4096], *dir;
        SysfsPlatform *p;
        P2pReport r = {};

        snprintf(json, sizeof(json), PROFILE(ROOT_PORT("%s"),
                 "{ \"address\": \"0000:01:00.0\", \"vendor\": \"0x8086\", \"device\": \"0x10d3\", \"class\": \"0x020000\","
                 "  \"parent\": \"0000:00:1c.0\", \"config\": [ \"00: 86 80 d3 10 06 04 10 00 00 00 00 02 10 00 00 00\","
                 "  \"10: 00 00 08 fe\", \"34: e0\", \"e0: 10 00 01 00\" ],"
                 "  \"resources\": [ \"0x00000000fe080000 0x00000000fe09ffff 0x0000000000040200\" ] },"
                 "{ \"address\": \"0000:01:00.1\", \"vendor\": \"0x8086\", \"device\": \"0x10d3\", \"class\": \"0x020000\","
                 "  \"parent\": \"0000:00:1c.0\", \"config\": [ \"00: 86 80 d3 10 06 04 10 00 00 00 00 02 10 00 00 00\","
                 "  \"10: 00 00 0c fe\", \"34: e0\", \"e0: 10 00 01 00\" ],"
                 "  \"resources\": [ \"0x00000000fe0c0000 0x00000000fe0dffff 0x0000000000040200\" ] }"),
                 ", \"100: 0d 00 01 00 1f 00 1d 00\"");
        p = platform_of(json, &dir);
        ck_assert(!sysfs_find_device(p, "0000:01:00.0")->config.multifunction);
        ck_assert(sysfs_find_device(p, "0000:01:00.1")->config.multifunction);
        ck_assert_int_eq(p2p_device(p, "0000:01:00.0", &r), 0);
        ck_assert_int_eq(r.verdict, P2P_ISOLATED);
        p2p_report_done(&r);
        ck_assert_int_eq(p2p_device(p, "0000:01:00.1", &r), 0);
        ck_assert_int_eq(r.verdict, P2P_PEERS);
        ck_assert_str_eq(r.hops[0].missing, "no ACS capability");
        ck_assert_uint_eq(r.n_windows, 1);
        ck_assert(has_window(&r, 0xfe080000, 0xfe09ffff, "0000:01:00.0 BAR 0"));
        p2p_report_done(&r);
        done(p, dir);
}
END_TEST

START_TEST(test_malformed_resource_file) {
        /* A resource line libpci cannot parse would make it abort iovad:
         * the BARs go unsized instead, and the rest still reads. */
        char json[4096], *dir, path[PATH_MAX];
        SysfsPlatform *p;
        Profile *pr = NULL;
        FILE *f;

        snprintf(json, sizeof(json), PROFILE(ROOT_PORT("%s"), EP_ON_1(EP_CONFIG)), "");
        ck_assert_int_eq(profile_parse(json, &pr, NULL), 0);
        ck_assert_int_ge(asprintf(&dir, "%s/test-p2p.XXXXXX", getenv("TMPDIR") ?: "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(sysfs_write_profile(pr, dir), 0);
        profile_free(pr);
        snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:01:00.0/resource", dir);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("0x00000000fe000000 0x00000000fe01ffff 0x0000000000040200\nnot a resource line\n", f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(sysfs_read_platform(dir, &p, NULL), 0);
        ck_assert(sysfs_find_device(p, "0000:01:00.0")->config.readable);
        ck_assert_uint_eq(sysfs_find_device(p, "0000:01:00.0")->config.n_windows, 0);
        done(p, dir);
}
END_TEST

START_TEST(test_shipped_without_config) {
        /* Profiles without recorded config spaces: nothing can be told. */
        char *dir;
        SysfsPlatform *p = platform_of("x86-vtd", &dir);
        P2pReport r = {};

        ck_assert_int_eq(p2p_group(p, sysfs_find_group(p, 5), &r), 0);
        ck_assert_int_eq(r.verdict, P2P_UNKNOWN);
        ck_assert_uint_eq(r.n_windows, 0);
        ck_assert_str_eq(p2p_verdict_to_string(r.verdict), "unknown");
        p2p_report_done(&r);
        done(p, dir);
}
END_TEST

int main(void) {
        Suite *s = suite_create("p2p");
        TCase *tc = tcase_create("core");
        SRunner *sr;
        int failed;

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_config_read);
        tcase_add_test(tc, test_switch_without_acs);
        tcase_add_test(tc, test_acs_flags);
        tcase_add_test(tc, test_unreadable_and_conventional);
        tcase_add_test(tc, test_function_after_the_first);
        tcase_add_test(tc, test_malformed_resource_file);
        tcase_add_test(tc, test_shipped_without_config);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
