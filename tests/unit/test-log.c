/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util/log.c: where messages go ($JOURNAL_STREAM must name stderr itself)
 * and that none is cut short. Each test runs in a process of its own
 * (Check forks), so log.c's cached answer starts afresh.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

/* stderr goes to a fresh file; returns its fd for reading back. */
static int capture_stderr(void) {
        char path[] = "/tmp/test-log.XXXXXX";
        int fd = mkstemp(path);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        return fd;
}

static char *read_all(int fd) {
        struct stat st;
        char *buf;

        ck_assert_int_eq(fstat(fd, &st), 0);
        buf = calloc(1, st.st_size + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(pread(fd, buf, st.st_size, 0), st.st_size);
        return buf;
}

static char *long_text(size_t n) {
        char *s = malloc(n + 1);

        ck_assert_ptr_nonnull(s);
        for (size_t i = 0; i < n; i++)
                s[i] = 'a' + i % 26;
        s[n] = '\0';
        return s;
}

static void set_journal_stream(int fd) {
        struct stat st;
        char v[64];

        ck_assert_int_eq(fstat(fd, &st), 0);
        snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);
        ck_assert_int_eq(setenv("JOURNAL_STREAM", v, 1), 0);
}

START_TEST(test_plain_stderr_whole) {
        int fd = capture_stderr();
        char *text = long_text(10000), *want, *got;

        unsetenv("JOURNAL_STREAM");
        ck_assert(!log_to_journal());
        log_error_f(LOG_FIELDS(.container = "vm1", .lease = 7, LOG_GROUP(0), .error = 5), "lease %s", text);
        ck_assert_int_ne(asprintf(&want, "iovad: lease %s\n", text), -1);
        got = read_all(fd);
        ck_assert_str_eq(got, want);
        free(text);
        free(want);
        free(got);
}
END_TEST

START_TEST(test_journal_stream_of_another_fd) {
        int fd = capture_stderr();
        char path[] = "/tmp/test-log-other.XXXXXX";
        int other = mkstemp(path);
        char *got;

        ck_assert_int_ge(other, 0);
        unlink(path);
        /* systemd connected a stream, but stderr was redirected since: plain lines. */
        set_journal_stream(other);
        ck_assert(!log_to_journal());
        log_info("to the file");
        got = read_all(fd);
        ck_assert_str_eq(got, "iovad: to the file\n");
        free(got);
}
END_TEST

START_TEST(test_journal_stream_is_stderr) {
        int fd = capture_stderr();
        char *text = long_text(70000), *got, *want;

        set_journal_stream(STDERR_FILENO);
        ck_assert(log_to_journal());
        log_warning_f(LOG_FIELDS(.container = "vm1"), "%s", text);
        got = read_all(fd);
        /* Either journald took it (nothing on stderr) or, without one, the stream gets the whole line. */
        if (*got) {
                ck_assert_int_ne(asprintf(&want, "<4>%s\n", text), -1);
                ck_assert_str_eq(got, want);
                free(want);
        }
        free(text);
        free(got);
}
END_TEST

START_TEST(test_errno_macro_returns_negative) {
        int fd = capture_stderr();
        char *got;
        int r;

        unsetenv("JOURNAL_STREAM");
        r = log_error_errno(-ENOENT, "Cannot open %s", "x");
        ck_assert_int_eq(r, -ENOENT);
        r = log_error_errno(EACCES, "Cannot write");
        ck_assert_int_eq(r, -EACCES);
        got = read_all(fd);
        ck_assert_str_eq(got, "iovad: Cannot open x: No such file or directory\niovad: Cannot write: Permission denied\n");
        free(got);
}
END_TEST

int main(void) {
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("log");
        tcase_add_test(tc, test_plain_stderr_whole);
        tcase_add_test(tc, test_journal_stream_of_another_fd);
        tcase_add_test(tc, test_journal_stream_is_stderr);
        tcase_add_test(tc, test_errno_macro_returns_negative);
        suite_add_tcase(s, tc);

        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
