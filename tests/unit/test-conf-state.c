/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "persist/conf.h"
#include "persist/fd-store.h"
#include "util/macro.h"
#include "persist/lease-journal.h"
#include "persist/state.h"

START_TEST(test_conf_defaults_and_values) {
        Config c;
        char *err = NULL;

        config_init(&c);
        ck_assert_int_eq(config_parse(&c, "{}", &err), 0);
        ck_assert_uint_eq(c.max_leases, CONFIG_DEFAULT_MAX_LEASES);
        ck_assert_uint_eq(c.max_mapped_bytes, CONFIG_DEFAULT_MAX_MAPPED_BYTES);
        ck_assert_int_eq(config_parse(&c,
                                      "{ \"quota\": { \"leases\": 2, \"mapped_bytes\": 8192, \"dma_entries\": 1 },"
                                      "  \"reserved_regions\": [ \"0x0 0xfff reserved\", \"0x0 0xfff reserved\" ] }",
                                      &err), 0);
        ck_assert_uint_eq(c.max_leases, 2);
        ck_assert_uint_eq(c.max_mapped_bytes, 8192);
        ck_assert_uint_eq(c.max_dma_entries, 1);
        ck_assert_uint_eq(c.reserved.n, 1); /* repeated lines merge */
        ck_assert_str_eq(c.reserved.items[0].origin, "policy");
        ck_assert_uint_eq(c.max_memfds, CONFIG_DEFAULT_MAX_MEMFDS);
        ck_assert(!c.refuse_unsafe_interrupts);
        ck_assert_int_eq(config_parse(&c, "{ \"quota\": { \"memfds\": 7 }, \"interrupts\": { \"refuse_unsafe\": true } }",
                                      &err), 0);
        ck_assert_uint_eq(c.max_memfds, 7);
        ck_assert(c.refuse_unsafe_interrupts);
        /* Named, and nothing changes. */
        ck_assert_int_eq(config_parse(&c, "{ \"interrupts\": { \"refuse_unsafe\": 1 } }", &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "interrupts.refuse_unsafe"));
        free(err);
        err = NULL;
        ck_assert_int_eq(config_parse(&c, "{ \"interrupts\": { \"colour\": true } }", &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "interrupts.colour"));
        free(err);
        ck_assert(c.refuse_unsafe_interrupts);
        config_done(&c);
}
END_TEST

START_TEST(test_conf_bad_input_named_and_unchanged) {
        static const struct { const char *json, *names; } bad[] = {
                { "[]", "$" },
                { "not json", "$" },
                { "{ \"quota\": 5 }", "quota" },
                { "{ \"quota\": { \"leases\": -1 } }", "quota.leases" },
                { "{ \"quota\": { \"leases\": 4294967296 } }", "quota.leases" },
                { "{ \"quota\": { \"lease\": 1 } }", "quota.lease" },
                { "{ \"quota\": { \"dma_entries\": \"1\" } }", "quota.dma_entries" },
                { "{ \"reserved_regions\": [ \"0x1000 0x0 msi\" ] }", "reserved_regions[0]" },
                { "{ \"reserved_regions\": \"0x0 0xfff msi\" }", "reserved_regions" },
                { "{ \"typo\": 1 }", "typo" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                Config c;
                char *err = NULL;

                config_init(&c);
                c.max_leases = 7;
                ck_assert_int_eq(config_parse(&c, bad[i].json, &err), -EINVAL);
                ck_assert_msg(err && strncmp(err, bad[i].names, strlen(bad[i].names)) == 0, "'%s': message '%s'",
                              bad[i].json, err ? err : "(none)");
                ck_assert_uint_eq(c.max_leases, 7);
                free(err);
                config_done(&c);
        }
}
END_TEST

START_TEST(test_state_round_trip) {
        uid_t users[] = { 0, 1000 };
        unsigned groups[] = { 5, 12 };
        StateContainer sc[] = {
                { .name = (char *) "vm1", .users = users, .n_users = 2, .groups = groups, .n_groups = 2 },
                { .name = (char *) "guarded", .users = users, .n_users = 1, .reserve_peer_windows = true },
        };
        LeaseRecord sl = { .id = 7, .container = "vm1", .iova = 0xfef00000, .size = 0x200000,
                           .owner = 1000, .mapped = true, .writable = false, .offset = 0x1000 };
        Rebind rb[] = { { "0000:00:06.0", "virtio-pci" }, { "0000:03:00.1", "" } };
        State s = { .next_lease_id = 9, .containers = sc, .n_containers = 2, .leases = &sl, .n_leases = 1,
                    .rebinds = rb, .n_rebinds = 2 };
        State back = {};
        char *text = state_format(&s), *err = NULL;

        ck_assert_ptr_nonnull(text);
        ck_assert_int_eq(state_parse(text, &back, &err), 0);
        ck_assert_uint_eq(back.next_lease_id, 9);
        ck_assert_uint_eq(back.n_containers, 2);
        ck_assert_str_eq(back.containers[0].name, "vm1");
        ck_assert(!back.containers[0].reserve_peer_windows);
        ck_assert(!strstr(text, "\"reserve_peer_windows\": false")); /* written only when set */
        ck_assert(back.containers[1].reserve_peer_windows);
        ck_assert_uint_eq(back.containers[0].n_users, 2);
        ck_assert_uint_eq(back.containers[0].users[1], 1000);
        ck_assert_uint_eq(back.containers[0].n_groups, 2);
        ck_assert_uint_eq(back.containers[0].groups[1], 12);
        ck_assert_uint_eq(back.n_leases, 1);
        ck_assert_uint_eq(back.leases[0].id, 7);
        ck_assert_uint_eq(back.leases[0].iova, 0xfef00000);
        ck_assert_uint_eq(back.leases[0].size, 0x200000);
        ck_assert_uint_eq(back.leases[0].owner, 1000);
        ck_assert(back.leases[0].mapped);
        ck_assert(!back.leases[0].writable);
        ck_assert_uint_eq(back.leases[0].offset, 0x1000);
        ck_assert_uint_eq(back.n_rebinds, 2);
        ck_assert_str_eq(back.rebinds[0].address, "0000:00:06.0");
        ck_assert_str_eq(back.rebinds[0].driver, "virtio-pci");
        ck_assert_str_eq(back.rebinds[1].address, "0000:03:00.1");
        ck_assert_str_eq(back.rebinds[1].driver, "");
        state_done(&back);
        free(text);
}
END_TEST

/* A file from before Bind was remembered has no "rebinds": it still loads. */
START_TEST(test_state_without_rebinds) {
        State s = {};
        char *err = NULL;

        ck_assert_int_eq(state_parse("{ \"version\": 1, \"next_lease_id\": 3, \"containers\": [], \"leases\": [] }",
                                     &s, &err), 0);
        ck_assert_uint_eq(s.next_lease_id, 3);
        ck_assert_uint_eq(s.n_rebinds, 0);
        state_done(&s);
}
END_TEST

START_TEST(test_state_refuses_bad_files) {
        static const char *const bad[] = {
                "",
                "[]",
                "{ \"version\": 2, \"next_lease_id\": 1, \"containers\": [], \"leases\": [] }",
                "{ \"next_lease_id\": 1, \"containers\": [], \"leases\": [] }",
                "{ \"version\": 1, \"next_lease_id\": 1, \"containers\": {}, \"leases\": [] }",
                "{ \"version\": 1, \"next_lease_id\": 1, \"containers\": [ { \"name\": \"a\", \"users\": [ -1 ], \"groups\": [] } ], \"leases\": [] }",
                "{ \"version\": 1, \"next_lease_id\": 1, \"containers\": [], \"leases\": [ { \"id\": 0, \"container\": \"a\", \"iova\": 0, \"size\": 4096, \"owner\": 0, \"mapped\": false, \"writable\": true, \"offset\": 0 } ] }",
                "{ \"version\": 1, \"next_lease_id\": 1, \"containers\": [], \"leases\": [ { \"id\": 1, \"container\": \"a\", \"iova\": 0, \"size\": 0, \"owner\": 0, \"mapped\": false, \"writable\": true, \"offset\": 0 } ] }",
                "{ \"version\": 1, \"next_lease_id\": 1, \"containers\": [], \"leases\": [ { \"id\": 1, \"container\": \"a\", \"iova\": 0, \"size\": 4096, \"owner\": 0, \"mapped\": 1, \"writable\": true, \"offset\": 0 } ] }",
                "{ \"version\": 1, \"next_lease_id\": 1, \"containers\": [], \"leases\": [], \"rebinds\": {} }",
                "{ \"version\": 1, \"next_lease_id\": 1, \"containers\": [ { \"name\": \"a\", \"users\": [ 0 ], \"groups\": [], \"reserve_peer_windows\": 1 } ], \"leases\": [] }",
                "{ \"version\": 1, \"next_lease_id\": 1, \"containers\": [], \"leases\": [], \"rebinds\": [ { \"address\": \"00:06.0\", \"driver\": \"e1000e\" } ] }",
                "{ \"version\": 1, \"next_lease_id\": 1, \"containers\": [], \"leases\": [], \"rebinds\": [ { \"address\": \"0000:00:06.0\", \"driver\": \"../../x\" } ] }",
                "{ \"version\": 1, \"next_lease_id\": 1, \"containers\": [], \"leases\": [], \"rebinds\": [ { \"address\": \"0000:00:06.0\" } ] }",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                State s = {};
                char *err = NULL;
                ck_assert_msg(state_parse(bad[i], &s, &err) == -EINVAL, "accepted: %s", bad[i]);
                ck_assert_ptr_nonnull(err);
                free(err);
        }
}
END_TEST

static void journal_dir(char *dir, size_t size) {
        snprintf(dir, size, "/tmp/test-journal.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void journal_cleanup(const char *dir) {
        char p[256];
        snprintf(p, sizeof(p), "%s/leases.journal", dir);
        (void) unlink(p);
        ck_assert_int_eq(rmdir(dir), 0);
}

static LeaseRecord jlease(uint64_t id, const char *client) {
        LeaseRecord l = { .id = id, .iova = id << 12, .size = 0x1000, .owner = 1000, .mapped = id % 2,
                           .writable = true, .offset = 0x2000 };
        snprintf(l.client, sizeof(l.client), "%s", client);
        snprintf(l.container, sizeof(l.container), "vm-%" PRIu64, id % 3);
        return l;
}

START_TEST(test_journal_replay) {
        char dir[64];
        LeaseJournal *j = NULL;
        LeaseRecord first = jlease(1, ":1.7"), *got = NULL;
        size_t n;
        uint64_t max_id;

        journal_dir(dir, sizeof(dir));
        ck_assert_int_eq(lease_journal_new(dir, "0123abcd", &first, 1, &j), 0);
        for (uint64_t id = 2; id <= 100; id++) {
                LeaseRecord l = jlease(id, id % 5 ? ":1.8" : ":1.9");
                ck_assert_int_eq(lease_journal_add(j, &l), 0);
        }
        for (uint64_t id = 1; id <= 100; id += 3)
                ck_assert_int_eq(lease_journal_remove(j, id), 0);

        /* Another bus: void. */
        ck_assert_int_eq(lease_journal_load(dir, "ffff", &got, &n, &max_id, NULL), -ESTALE);
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        ck_assert_uint_eq(n, 100 - 34);
        ck_assert_uint_eq(max_id, 100);
        for (size_t i = 0, id = 2; i < n; i++, id++) {
                if (id % 3 == 1)
                        id++;
                LeaseRecord want = jlease(id, id % 5 ? ":1.8" : ":1.9");
                /* Nothing said their replies went out: only the lease the journal began with was answered. */
                want.unanswered = true;
                ck_assert_int_eq(memcmp(&got[i], &want, sizeof(want)), 0);
        }
        free(got);

        /* Replies written up to lease 50: those after it stay unanswered. */
        ck_assert_int_eq(lease_journal_answered(j, 50), 0);
        ck_assert_int_eq(lease_journal_answered(j, 20), 0); /* never backwards */
        /* "=" is queued for the next write: until then the leases it covers are in doubt, so kept. */
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        for (size_t i = 0; i < n; i++)
                ck_assert(got[i].unanswered);
        free(got);
        ck_assert_int_eq(lease_journal_flush(j), 0);
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        for (size_t i = 0; i < n; i++)
                ck_assert_msg(got[i].unanswered == (got[i].id > 50), "lease %" PRIu64 " unanswered %d", got[i].id,
                              got[i].unanswered);
        free(got);

        /* Lease 60's reply was on its way: up to it in doubt (kept), after it unanswered. */
        ck_assert_int_eq(lease_journal_replying(j, 60), 0);
        ck_assert_int_eq(lease_journal_replying(j, 30), 0); /* covered by "=" already: nothing written */
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        for (size_t i = 0; i < n; i++) {
                ck_assert_msg(got[i].in_doubt == (got[i].id > 50 && got[i].id <= 60), "lease %" PRIu64 " in doubt %d",
                              got[i].id, got[i].in_doubt);
                ck_assert_msg(got[i].unanswered == (got[i].id > 60), "lease %" PRIu64 " unanswered %d", got[i].id,
                              got[i].unanswered);
        }
        free(got);

        /* Compaction keeps what is given, and the file stays appendable. */
        LeaseRecord keep[3] = { jlease(40, ":1.8"), jlease(41, ":1.8"), jlease(56, ":1.8") };
        ck_assert(lease_journal_wants_compaction(j, 0) == false); /* 135 records are no reason */
        ck_assert_int_eq(lease_journal_compact(j, keep, 3), 0);
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        ck_assert_uint_eq(n, 3);
        /* What was answered, and what was being answered, stays so. */
        ck_assert(!got[0].unanswered && !got[1].unanswered && !got[0].in_doubt);
        ck_assert(got[2].in_doubt && !got[2].unanswered);
        free(got);
        ck_assert_int_eq(lease_journal_remove(j, 56), 0);
        ck_assert_int_eq(lease_journal_remove(j, 40), 0);
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_uint_eq(got[0].id, 41);
        ck_assert_uint_eq(max_id, 56);
        free(got);

        /* A "+" is queued until the reply's "?" (or another write): one write() per Lease. */
        LeaseRecord queued = jlease(200, ":1.8");
        ck_assert_int_eq(lease_journal_add(j, &queued), 0);
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        ck_assert_uint_eq(n, 1);
        free(got);
        ck_assert_int_eq(lease_journal_replying(j, 200), 0);
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(got[1].id, 200);
        ck_assert(got[1].in_doubt);
        ck_assert_uint_eq(max_id, 200);
        free(got);

        /* Names that would break the line format are refused. */
        LeaseRecord bad = jlease(7, ":1.8 x");
        ck_assert_int_eq(lease_journal_add(j, &bad), -EINVAL);
        bad = jlease(7, "");
        ck_assert_int_eq(lease_journal_add(j, &bad), -EINVAL);
        lease_journal_free(j);
        journal_cleanup(dir);
}
END_TEST

static int load_text(const char *dir, const char *text, size_t *n, char **err) {
        char p[256];
        LeaseRecord *got = NULL;
        uint64_t max_id;
        FILE *f;
        int r;

        snprintf(p, sizeof(p), "%s/leases.journal", dir);
        f = fopen(p, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
        r = lease_journal_load(dir, "b1", &got, n, &max_id, err);
        free(got);
        return r;
}

START_TEST(test_journal_bad_files) {
        static const char *const bad[] = {
                "",
                "iovad-leases 3 b1\n",
                "iovad-leases 2 b1\n= zz\n",
                "something else\n",
                "iovad-leases 1 b1\n+ 1 0 1000 0 0 1 0 :1.1\n",
                "iovad-leases 1 b1\n+ 0 0 1000 0 0 1 0 :1.1 vm\n",
                "iovad-leases 1 b1\n+ 1 0 0 0 0 1 0 :1.1 vm\n",
                "iovad-leases 1 b1\n+ 1 0 1000 -1 0 1 0 :1.1 vm\n",
                "iovad-leases 1 b1\n+ 1 0 1000 0 2 1 0 :1.1 vm\n",
                "iovad-leases 1 b1\n+ 1 0 1000 0 0 1 0 :1.1 vm extra\n",
                "iovad-leases 1 b1\n- zz\n",
                "iovad-leases 1 b1\n* 1\n",
                "iovad-leases 1 b1\n- 1",
        };
        char dir[64];
        size_t n;

        journal_dir(dir, sizeof(dir));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *err = NULL;
                int r = load_text(dir, bad[i], &n, &err);
                /* The last one is a torn last line: skipped, not an error. */
                if (i == ELEMENTSOF(bad) - 1) {
                        ck_assert_int_eq(r, 0);
                        ck_assert_uint_eq(n, 0);
                } else {
                        ck_assert_msg(r == -EINVAL, "bad[%zu] accepted (%d)", i, r);
                        ck_assert_ptr_nonnull(err);
                }
                free(err);
        }
        /* A version 1 journal has no "=" lines: everything in it counts as answered. */
        {
                LeaseRecord *got = NULL;
                uint64_t max_id;
                ck_assert_int_eq(load_text(dir, "iovad-leases 1 b1\n+ 1 0 1000 0 0 1 0 :1.1 vm\n", &n, NULL), 0);
                ck_assert_uint_eq(n, 1);
                ck_assert_int_eq(lease_journal_load(dir, "b1", &got, &n, &max_id, NULL), 0);
                ck_assert(!got[0].unanswered);
                free(got);
        }
        /* A torn record after good ones: the good ones stand. */
        ck_assert_int_eq(load_text(dir, "iovad-leases 1 b1\n+ 1 0 1000 0 0 1 0 :1.1 vm\n+ 2 1000 10", &n, NULL), 0);
        ck_assert_uint_eq(n, 1);
        journal_cleanup(dir);
}
END_TEST

START_TEST(test_fd_store_names) {
        char buf[FD_STORE_NAME_MAX], long_name[66];
        const char *container = NULL;
        FdStoreKind kind;
        uint64_t id = 0;

        /* What fd_store_name() writes, fd_store_name_parse() reads back. */
        ck_assert_int_eq(fd_store_name(FD_STORE_LEASE, 42, NULL, buf), 0);
        ck_assert_str_eq(buf, "lease-42");
        ck_assert_int_eq(fd_store_name_parse(buf, &kind, &id, NULL), 0);
        ck_assert_int_eq(kind, FD_STORE_LEASE);
        ck_assert_uint_eq(id, 42);
        ck_assert_int_eq(fd_store_name(FD_STORE_LEASE, UINT64_MAX, NULL, buf), 0);
        ck_assert_int_eq(fd_store_name_parse(buf, &kind, &id, NULL), 0);
        ck_assert_uint_eq(id, UINT64_MAX);
        ck_assert_int_eq(fd_store_name(FD_STORE_GROUP, 5, NULL, buf), 0);
        ck_assert_str_eq(buf, "group-5");
        ck_assert_int_eq(fd_store_name_parse(buf, &kind, &id, NULL), 0);
        ck_assert_int_eq(kind, FD_STORE_GROUP);
        ck_assert_uint_eq(id, 5);
        ck_assert_int_eq(fd_store_name(FD_STORE_CONTAINER, 0, "vm-1.a_b", buf), 0);
        ck_assert_str_eq(buf, "container-vm-1.a_b");
        ck_assert_int_eq(fd_store_name_parse(buf, &kind, NULL, &container), 0);
        ck_assert_int_eq(kind, FD_STORE_CONTAINER);
        ck_assert_str_eq(container, "vm-1.a_b");
        /* The longest container name fits. */
        memset(long_name, 'x', 64);
        long_name[64] = '\0';
        ck_assert_int_eq(fd_store_name(FD_STORE_CONTAINER, 0, long_name, buf), 0);
        ck_assert_uint_eq(strlen(buf), strlen("container-") + 64);

        /* What it never writes, it refuses, and leaves the outputs alone. */
        long_name[64] = 'x';
        long_name[65] = '\0';
        ck_assert_int_eq(fd_store_name(FD_STORE_CONTAINER, 0, long_name, buf), -EINVAL);
        ck_assert_int_eq(fd_store_name(FD_STORE_CONTAINER, 0, "a:b", buf), -EINVAL);
        ck_assert_int_eq(fd_store_name(FD_STORE_CONTAINER, 0, "", buf), -EINVAL);
        ck_assert_int_eq(fd_store_name(FD_STORE_GROUP, (uint64_t) UINT32_MAX + 1, NULL, buf), -EINVAL);
        static const char *const bad[] = {
                "", "lease-", "lease-007", "lease-1x", "lease--1", "lease-18446744073709551616", "group-",
                "group-4294967296", "group-05", "container-", "container-a:b", "container-a b", "stored", "Lease-1",
                "groups-1",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                kind = FD_STORE_LEASE;
                id = 7;
                ck_assert_msg(fd_store_name_parse(bad[i], &kind, &id, &container) == -EINVAL, "'%s' parsed", bad[i]);
                ck_assert_int_eq(kind, FD_STORE_LEASE);
                ck_assert_uint_eq(id, 7);
        }
        ck_assert_int_eq(fd_store_name_parse("group-4294967295", &kind, &id, NULL), 0);
        ck_assert_uint_eq(id, UINT32_MAX);
}
END_TEST

/* Each fd is taken once, by the name of its kind. */
START_TEST(test_fd_store_take) {
        static const char *const names[] = { "lease-3", "container-vm", "group-5", "group-12", "container-other" };
        int *fds = calloc(ELEMENTSOF(names), sizeof(int));
        char **n = calloc(ELEMENTSOF(names), sizeof(char *));
        FdStore *s;
        int fd;

        ck_assert(fds && n);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                fds[i] = memfd_create(names[i], MFD_CLOEXEC);
                ck_assert_int_ge(fds[i], 0);
                n[i] = strdup(names[i]);
        }
        ck_assert_int_eq(fd_store_new(fds, n, ELEMENTSOF(names), &s), 0);
        ck_assert_uint_eq(fd_store_untaken(s), 5);
        ck_assert_int_eq(fd_store_take_group(s, 3), -ENOENT); /* a lease's id is not a group's */
        ck_assert_int_eq(fd_store_take_lease(s, 5), -ENOENT);
        ck_assert_int_eq(fd_store_take_container(s, "v"), -ENOENT);
        ck_assert_int_eq(fd_store_take_container(s, "bad:name"), -ENOENT);
        fd = fd_store_take_container(s, "vm");
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(fd_store_take_container(s, "vm"), -ENOENT);
        fd = fd_store_take_group(s, 12);
        ck_assert_int_ge(fd, 0);
        close(fd);
        fd = fd_store_take_lease(s, 3);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_uint_eq(fd_store_untaken(s), 2);
        /* Without a service manager dropping and freeing just close what is left. */
        unsetenv("NOTIFY_SOCKET");
        ck_assert_uint_eq(fd_store_drop(s, FD_STORE_GROUP), 1); /* group-5 */
        ck_assert_uint_eq(fd_store_drop(s, FD_STORE_GROUP), 0);
        ck_assert_uint_eq(fd_store_drop(s, FD_STORE_LEASE), 0);
        ck_assert_int_eq(fd_store_take_group(s, 5), -ENOENT);
        ck_assert_uint_eq(fd_store_untaken(s), 1);              /* container-other */
        fd = fd_store_take_container(s, "other");
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_uint_eq(fd_store_untaken(s), 0);
        fd_store_free(s);
}
END_TEST

/* The journal file of @dir, whole, and where its records end (the first zero byte). */
static char *read_journal(const char *dir, size_t *ret_size, size_t *ret_end) {
        char p[256];
        struct stat st;
        char *buf;
        FILE *f;

        snprintf(p, sizeof(p), "%s/leases.journal", dir);
        f = fopen(p, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fstat(fileno(f), &st), 0);
        buf = malloc((size_t) st.st_size + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_uint_eq(fread(buf, 1, (size_t) st.st_size, f), (size_t) st.st_size);
        fclose(f);
        buf[st.st_size] = 0;
        *ret_size = (size_t) st.st_size;
        *ret_end = strlen(buf);
        return buf;
}

/* Everything in [from, size) is zero. */
static bool zeros(const char *buf, size_t from, size_t size) {
        for (size_t i = from; i < size; i++)
                if (buf[i])
                        return false;
        return true;
}

static int load_bytes(const char *dir, const char *data, size_t len, size_t tail, LeaseRecord **got, size_t *n,
                      uint64_t *max_id) {
        char p[256], *err = NULL;
        FILE *f;
        int r;

        snprintf(p, sizeof(p), "%s/leases.journal", dir);
        f = fopen(p, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(data, 1, len, f), len);
        for (size_t i = 0; i < tail; i++)
                ck_assert_int_eq(fputc(0, f), 0);
        fclose(f);
        r = lease_journal_load(dir, "b1", got, n, max_id, &err);
        free(err);
        return r;
}

START_TEST(test_journal_zero_tail) {
        static const char good[] = "iovad-leases 2 b1\n+ 1 0 1000 0 0 1 0 :1.1 vm\n+ 2 1000 1000 0 0 1 0 :1.1 vm\n"
                                   "= 1\n? 2\n";
        char dir[64], *buf;
        LeaseJournal *j = NULL;
        LeaseRecord first = jlease(1, ":1.7"), second = jlease(2, ":1.7"), *got = NULL;
        size_t n, size, end, end0;
        uint64_t max_id;

        journal_dir(dir, sizeof(dir));

        /* A new journal is one step long: header, the lease, its "=", then zeros. */
        ck_assert_int_eq(lease_journal_new(dir, "0123abcd", &first, 1, &j), 0);
        buf = read_journal(dir, &size, &end0);
        ck_assert_uint_eq(size, LEASE_JOURNAL_STEP);
        ck_assert(zeros(buf, end0, size));
        ck_assert_str_eq(buf, "iovad-leases 2 0123abcd\n+ 1 1000 1000 1000 1 1 2000 :1.7 vm-1\n= 1\n");
        free(buf);

        /* An append lands right after the records, in place: the file keeps its size. */
        ck_assert_int_eq(lease_journal_add(j, &second), 0);
        ck_assert_int_eq(lease_journal_replying(j, 2), 0);
        buf = read_journal(dir, &size, &end);
        ck_assert_uint_eq(size, LEASE_JOURNAL_STEP);
        ck_assert(zeros(buf, end, size));
        ck_assert_str_eq(buf + end0, "+ 2 2000 1000 1000 0 1 2000 :1.7 vm-2\n? 2\n");
        free(buf);
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert(!got[0].in_doubt && got[1].in_doubt);
        free(got);
        lease_journal_free(j);
        /* Freeing it leaves the file as it was: nothing was queued. */
        buf = read_journal(dir, &size, &n);
        ck_assert_uint_eq(n, end);
        free(buf);

        /* A file of records and zeros replays as the records alone, whatever the length of the zeros. */
        for (size_t tail = 0; tail <= 8192; tail += 4096) {
                ck_assert_int_eq(load_bytes(dir, good, sizeof(good) - 1, tail, &got, &n, &max_id), 0);
                ck_assert_uint_eq(n, 2);
                ck_assert_uint_eq(max_id, 2);
                ck_assert(!got[0].in_doubt && !got[0].unanswered && got[1].in_doubt);
                free(got);
        }
        /* Only zeros after the header: no leases. */
        ck_assert_int_eq(load_bytes(dir, good, strlen("iovad-leases 2 b1\n"), 100, &got, &n, &max_id), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_ptr_null(got);
        journal_cleanup(dir);
}
END_TEST

START_TEST(test_journal_torn_append) {
        static const char head[] = "iovad-leases 2 b1\n+ 1 0 1000 0 0 1 0 :1.1 vm\n? 1\n";
        static const char *const torn[] = {
                /* an append cut short after its first bytes */
                "+ 2 1000 10",
                /* ... after its last bytes: a copy may run backwards */
                "\0\0\0\0\0\0 1000 0 0 1 0 :1.1 vm\n? 2\n",
                /* ... in its middle, the end of the line already there */
                "+ 2 10\0\0 0 0 1 0 :1.1 vm\n? 2\n",
                /* ... a zero right where the next line would start */
                "\0? 2\n",
        };
        static const size_t len[] = { 11, 33, 29, 5 };
        char dir[64], data[256];
        LeaseRecord *got = NULL;
        size_t n;
        uint64_t max_id;

        journal_dir(dir, sizeof(dir));
        for (size_t i = 0; i < ELEMENTSOF(torn); i++) {
                memcpy(data, head, sizeof(head) - 1);
                memcpy(data + sizeof(head) - 1, torn[i], len[i]);
                ck_assert_msg(load_bytes(dir, data, sizeof(head) - 1 + len[i], 4096, &got, &n, &max_id) == 0,
                              "torn[%zu] refused", i);
                /* The lease before it stands, in doubt as its "?" says; the torn one is not there. */
                ck_assert_msg(n == 1, "torn[%zu]: %zu leases", i, n);
                ck_assert_uint_eq(got[0].id, 1);
                ck_assert(got[0].in_doubt);
                ck_assert_uint_eq(max_id, 1);
                free(got);
        }
        journal_cleanup(dir);
}
END_TEST

START_TEST(test_journal_growth_and_compaction) {
        char dir[64], *buf;
        LeaseJournal *j = NULL;
        LeaseRecord *got = NULL, keep[3];
        size_t n, size, end;
        uint64_t max_id, id;

        journal_dir(dir, sizeof(dir));
        ck_assert_int_eq(lease_journal_new(dir, "0123abcd", NULL, 0, &j), 0);
        buf = read_journal(dir, &size, &end);
        ck_assert_uint_eq(size, LEASE_JOURNAL_STEP);
        free(buf);

        /* Past the first step and the second: the file grows a step at a time, the records stay whole. */
        for (id = 1; size <= 2 * LEASE_JOURNAL_STEP; id++) {
                LeaseRecord l = jlease(id, ":1.8");
                ck_assert_int_eq(lease_journal_add(j, &l), 0);
                ck_assert_int_eq(lease_journal_replying(j, id), 0);
                if (id % 2 == 0)
                        ck_assert_int_eq(lease_journal_remove(j, id), 0);
                if (id % 1000 == 0) {
                        buf = read_journal(dir, &size, &end);
                        ck_assert_uint_eq(size % LEASE_JOURNAL_STEP, 0);
                        ck_assert_uint_lt(size - end, LEASE_JOURNAL_STEP);
                        ck_assert(zeros(buf, end, size));
                        free(buf);
                }
        }
        ck_assert_uint_eq(size, 3 * LEASE_JOURNAL_STEP);
        ck_assert_int_eq(lease_journal_answered(j, id - 1), 0);
        ck_assert_int_eq(lease_journal_flush(j), 0);
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        ck_assert_uint_eq(n, (id - 1 + 1) / 2);
        ck_assert_uint_eq(max_id, id - 1);
        for (size_t i = 0; i < n; i++) {
                ck_assert_uint_eq(got[i].id, 2 * i + 1);
                ck_assert(!got[i].in_doubt && !got[i].unanswered);
                ck_assert_str_eq(got[i].client, ":1.8");
        }
        free(got);
        ck_assert(lease_journal_wants_compaction(j, 3));

        /* Compaction: a fresh file of one step with the three leases kept, still answered. */
        keep[0] = jlease(1, ":1.8");
        keep[1] = jlease(3, ":1.8");
        keep[2] = jlease(5, ":1.8");
        ck_assert_int_eq(lease_journal_compact(j, keep, 3), 0);
        buf = read_journal(dir, &size, &end);
        ck_assert_uint_eq(size, LEASE_JOURNAL_STEP);
        ck_assert(zeros(buf, end, size));
        free(buf);
        ck_assert(!lease_journal_wants_compaction(j, 3));
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        ck_assert_uint_eq(n, 3);
        ck_assert_uint_eq(got[2].id, 5);
        ck_assert(!got[0].in_doubt && !got[0].unanswered);
        free(got);

        /* Appends go on in the new file's mapping. */
        {
                LeaseRecord l = jlease(id, ":1.9");
                ck_assert_int_eq(lease_journal_add(j, &l), 0);
                ck_assert_int_eq(lease_journal_replying(j, id), 0);
                ck_assert_int_eq(lease_journal_remove(j, 3), 0);
        }
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        ck_assert_uint_eq(n, 3);
        ck_assert_uint_eq(got[1].id, 5);
        ck_assert_uint_eq(got[2].id, id);
        ck_assert(got[2].in_doubt);
        ck_assert_uint_eq(max_id, id);
        free(got);
        lease_journal_free(j);
        /* No temporary file is left behind (journal_cleanup() removes the directory). */
        journal_cleanup(dir);
}
END_TEST

/* A process killed right after its appends: what it copied into the mapping is in the file. */
START_TEST(test_journal_survives_kill) {
        char dir[64];
        LeaseRecord *got = NULL;
        size_t n;
        uint64_t max_id;
        pid_t pid;
        int status;

        journal_dir(dir, sizeof(dir));
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                LeaseJournal *j = NULL;
                if (lease_journal_new(dir, "0123abcd", NULL, 0, &j) < 0)
                        _exit(1);
                for (uint64_t id = 1; id <= 3; id++) {
                        LeaseRecord l = jlease(id, ":1.5");
                        if (lease_journal_add(j, &l) < 0 || lease_journal_replying(j, id) < 0)
                                _exit(1);
                }
                if (lease_journal_remove(j, 2) < 0)
                        _exit(1);
                /* Queued, never written: lost with the process, as its lease's reply would be. */
                LeaseRecord l = jlease(4, ":1.5");
                if (lease_journal_add(j, &l) < 0)
                        _exit(1);
                raise(SIGKILL);
                _exit(1);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ck_assert_int_eq(lease_journal_load(dir, "0123abcd", &got, &n, &max_id, NULL), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(got[0].id, 1);
        ck_assert_uint_eq(got[1].id, 3);
        ck_assert(got[0].in_doubt && got[1].in_doubt);
        ck_assert_uint_eq(max_id, 3);
        free(got);
        journal_cleanup(dir);
}
END_TEST

int main(void) {
        Suite *s = suite_create("conf-state");
        TCase *tc = tcase_create("conf");
        tcase_add_test(tc, test_conf_defaults_and_values);
        tcase_add_test(tc, test_conf_bad_input_named_and_unchanged);
        suite_add_tcase(s, tc);
        tc = tcase_create("state");
        tcase_add_test(tc, test_state_round_trip);
        tcase_add_test(tc, test_state_without_rebinds);
        tcase_add_test(tc, test_state_refuses_bad_files);
        suite_add_tcase(s, tc);
        tc = tcase_create("lease-journal");
        tcase_add_test(tc, test_journal_replay);
        tcase_add_test(tc, test_journal_bad_files);
        tcase_add_test(tc, test_journal_zero_tail);
        tcase_add_test(tc, test_journal_torn_append);
        tcase_add_test(tc, test_journal_growth_and_compaction);
        tcase_add_test(tc, test_journal_survives_kill);
        suite_add_tcase(s, tc);
        tc = tcase_create("fd-store");
        tcase_add_test(tc, test_fd_store_names);
        tcase_add_test(tc, test_fd_store_take);
        suite_add_tcase(s, tc);

        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
