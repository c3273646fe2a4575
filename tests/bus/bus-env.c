/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "bus-env.h"
#include "../same-open-file.h"

/* How long iovad may take to own its name: generous, for sanitizer builds on a busy machine. */
#define NAME_TIMEOUT_USEC (60ULL * 1000 * 1000)

static char base_dir[256];
static BusEnv *current_env; /* for failure messages: did iovad die? */

void freep(void *p) {
        free(*(void **) p);
}

void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}

uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

const char *env_source_root(void) {
        const char *s = getenv("IOVAD_SOURCE");
        return s && *s ? s : DEFAULT_SOURCE_ROOT;
}

const char *env_build_root(void) {
        const char *s = getenv("IOVAD_BUILD");
        return s && *s ? s : DEFAULT_BUILD_ROOT;
}

static char *read_text(const char *path) {
        FILE *f = fopen(path, "re");
        char *text = NULL;
        size_t size = 0;

        if (!f)
                return strdup("");
        if (getdelim(&text, &size, '\0', f) < 0) {
                free(text);
                text = strdup("");
        }
        fclose(f);
        return text;
}

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ck_assert_msg(f, "cannot write %s: %s", path, strerror(errno));
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

/* The last @max bytes of a log, for failure messages. */
static char *log_tail(const char *path, size_t max) {
        char *text = read_text(path);
        size_t n = strlen(text);

        if (n > max)
                memmove(text, text + n - max, max + 1);
        return text;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void rm_rf(const char *path) {
        (void) nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* meson's "skipped": the tier needs root (to become other uids) and a dbus-daemon. */
#define EXIT_SKIP 77

static bool in_path(const char *prog) {
        const char *path = getenv("PATH");
        _cleanup_(freep) char *copy = strdup(path && *path ? path : "/usr/bin:/bin");

        for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char p[1024];
                if ((size_t) snprintf(p, sizeof(p), "%s/%s", dir, prog) < sizeof(p) && access(p, X_OK) == 0)
                        return true;
        }
        return false;
}

void env_init(void) {
        if (geteuid() != 0) {
                printf("SKIP: the bus tests run as root (they become other uids)\n");
                exit(EXIT_SKIP);
        }
        if (!in_path("dbus-daemon")) {
                printf("SKIP: dbus-daemon is not installed\n");
                exit(EXIT_SKIP);
        }
        /* Not in a test yet: no Check assertions here. */
        strcpy(base_dir, "/tmp/iovad-bus.XXXXXX");
        /* Clients of other uids must reach the bus socket below it. */
        if (!mkdtemp(base_dir) || chmod(base_dir, 0755) < 0) {
                fprintf(stderr, "cannot make %s: %s\n", base_dir, strerror(errno));
                exit(EXIT_FAILURE);
        }
        /* So that callers see iovad's errors as themselves, not as errnos. */
        sd_bus_error_add_map(iovad_bus_errors);
}

static void print_file(const char *dir, const char *name) {
        char path[1024];
        _cleanup_(freep) char *text = NULL;

        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
                return;
        text = read_text(path);
        if (!*text)
                return;
        fprintf(stderr, "---- %s ----\n%s%s", path, text, text[strlen(text) - 1] == '\n' ? "" : "\n");
}

void env_done(int failed) {
        DIR *d = opendir(base_dir);
        struct dirent *de;
        bool keep = getenv("IOVAD_TEST_KEEP") != NULL;

        /* A test whose directory still has RUNNING ended early: show what its processes said. */
        while (d && (de = readdir(d))) {
                char dir[1024], marker[1100];
                DIR *sub;
                struct dirent *f;

                if (de->d_name[0] == '.')
                        continue;
                if ((size_t) snprintf(dir, sizeof(dir), "%s/%s", base_dir, de->d_name) >= sizeof(dir) ||
                    (size_t) snprintf(marker, sizeof(marker), "%s/RUNNING", dir) >= sizeof(marker) ||
                    access(marker, F_OK) < 0)
                        continue;
                fprintf(stderr, "==== %s did not finish cleanly; its logs: ====\n", de->d_name);
                sub = opendir(dir);
                while (sub && (f = readdir(sub)))
                        if (strstr(f->d_name, ".log"))
                                print_file(dir, f->d_name);
                if (sub)
                        closedir(sub);
        }
        if (d)
                closedir(d);
        if (keep || failed)
                fprintf(stderr, "bus test files kept in %s\n", base_dir);
        if (!keep && !failed)
                rm_rf(base_dir);
}

SRunner *env_runner(Suite *s) {
        SRunner *sr = srunner_create(s);

        /* The harness relies on one process per test (see bus-env.h). */
        srunner_set_fork_status(sr, CK_FORK);
        return sr;
}

TCase *env_tcase(const char *name) {
        TCase *tc = tcase_create(name);

        tcase_set_timeout(tc, 240);
        return tc;
}

/* The parent may be gone by the time PR_SET_PDEATHSIG is set: then go at once. */
static void die_with_parent(pid_t parent) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(126);
}

static void write_bus_config(BusEnv *e, const char *path) {
        char policy[1024], text[4096];

        xsprintf(policy, "%s/dbus/org.iovad1.conf", env_source_root());
        /* The shipped policy decides who may own and call org.iovad1; the rest is system.conf's. */
        snprintf(text, sizeof(text),
                 "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                 " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                 "<busconfig>\n"
                 "  <type>system</type>\n"
                 "  <listen>unix:path=%s/bus.sock</listen>\n"
                 "  <auth>EXTERNAL</auth>\n"
                 "  <policy context=\"default\">\n"
                 "    <allow user=\"*\"/>\n"
                 "    <deny own=\"*\"/>\n"
                 "    <deny send_type=\"method_call\"/>\n"
                 "    <allow send_type=\"signal\"/>\n"
                 "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
                 "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
                 "    <allow receive_type=\"method_call\"/>\n"
                 "    <allow receive_type=\"method_return\"/>\n"
                 "    <allow receive_type=\"error\"/>\n"
                 "    <allow receive_type=\"signal\"/>\n"
                 "    <allow send_destination=\"org.freedesktop.DBus\"/>\n"
                 "    <allow send_destination=\"org.freedesktop.PolicyKit1\"/>\n"
                 "  </policy>\n"
                 "  <policy user=\"root\"><allow own=\"org.freedesktop.PolicyKit1\"/></policy>\n"
                 "%s%s%s"
                 "</busconfig>\n",
                 e->dir,
                 access(policy, R_OK) == 0 ? "  <include>" : "",
                 access(policy, R_OK) == 0 ? policy : "",
                 access(policy, R_OK) == 0
                         ? "</include>\n"
                         : "  <policy user=\"root\"><allow own=\"org.iovad1\"/></policy>\n"
                           "  <policy context=\"default\"><allow send_destination=\"org.iovad1\"/></policy>\n");
        write_text(path, text);
}

static void start_bus(BusEnv *e) {
        char conf[700], log[700], fdarg[32], sock[700];
        int p[2];
        pid_t parent = getpid(), pid;
        FILE *f;
        char *line = NULL;
        size_t n = 0;

        xsprintf(conf, "%s/bus.conf", e->dir);
        xsprintf(log, "%s/bus.log", e->dir);
        xsprintf(sock, "%s/bus.sock", e->dir);
        write_bus_config(e, conf);
        /* A bus that was killed leaves its socket behind. */
        (void) unlink(sock);

        ck_assert_int_eq(pipe(p), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd;

                die_with_parent(parent);
                close(p[0]);
                fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
                        _exit(127);
                xsprintf(fdarg, "--print-address=%d", p[1]);
                execlp("dbus-daemon", "dbus-daemon", "--nofork", "--nopidfile", "--nosyslog", fdarg,
                       "--config-file", conf, (char *) NULL);
                _exit(127);
        }
        close(p[1]);
        e->bus_pid = pid;
        /* The address is printed once the socket listens: that is the readiness signal. */
        f = fdopen(p[0], "r");
        ck_assert_ptr_nonnull(f);
        if (getline(&line, &n, f) <= 0) {
                _cleanup_(freep) char *tail = log_tail(log, 2000);
                free(line);
                fclose(f);
                ck_abort_msg("dbus-daemon did not start:\n%s", tail);
        }
        fclose(f);
        line[strcspn(line, "\n")] = 0;
        xsprintf(e->address, "%s", line);
        free(line);
        ck_assert_int_eq(setenv("DBUS_SYSTEM_BUS_ADDRESS", e->address, 1), 0);
}

void env_start_full(BusEnv *e, const char *test, const char *profile, const char *config) {
        char marker[700];

        ck_assert_msg(base_dir[0], "env_init() was not called");
        *e = (BusEnv) {};
        xsprintf(e->dir, "%s/%s.XXXXXX", base_dir, test);
        ck_assert_ptr_nonnull(mkdtemp(e->dir));
        ck_assert_int_eq(chmod(e->dir, 0755), 0);
        xsprintf(marker, "%s/RUNNING", e->dir);
        write_text(marker, "");
        xsprintf(e->state_dir, "%s/state", e->dir);
        xsprintf(e->runtime_dir, "%s/run", e->dir);
        xsprintf(e->profile, "%s", profile ? profile : "x86-vtd");
        if (config) {
                xsprintf(e->config, "%s/iovad.conf", e->dir);
                write_text(e->config, config);
        }
        start_bus(e);
        env_daemon_start(e);
        current_env = e;
}

static int name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *name, *old, *new;

        if (sd_bus_message_read(m, "sss", &name, &old, &new) >= 0 && strcmp(name, IOVAD_BUS_NAME) == 0 && *new)
                *(bool *) userdata = true;
        return 0;
}

/* In the daemon's child process: NOTIFY_SOCKET, and the stored fds as systemd passes them (fd 3 on). */
static void pass_stored_fds(BusEnv *e) {
        char sock[700], n[16], pid[16];
        static int moved[ELEMENTSOF(e->store)];
        static char names[ELEMENTSOF(e->store) * (sizeof(e->store[0].name) + 1)];

        xsprintf(sock, "%s/notify.sock", e->dir);
        setenv("NOTIFY_SOCKET", sock, 1);
        if (e->n_store == 0)
                return;
        /* Out of the way first, above every target: the targets 3.. may be taken by other fds. */
        for (size_t i = 0; i < e->n_store; i++) {
                moved[i] = fcntl(e->store[i].fd, F_DUPFD_CLOEXEC, 3 + (int) e->n_store);
                if (moved[i] < 0)
                        _exit(127);
        }
        names[0] = '\0';
        for (size_t i = 0; i < e->n_store; i++) {
                if (dup2(moved[i], 3 + (int) i) < 0) /* without O_CLOEXEC */
                        _exit(127);
                if (i > 0)
                        strcat(names, ":");
                strcat(names, e->store[i].name);
        }
        snprintf(n, sizeof(n), "%zu", e->n_store);
        snprintf(pid, sizeof(pid), "%d", (int) getpid());
        setenv("LISTEN_FDS", n, 1);
        setenv("LISTEN_FDNAMES", names, 1);
        setenv("LISTEN_PID", pid, 1);
}

char *env_daemon_log(const BusEnv *e) {
        return read_text(e->log);
}

void env_fdstore_enable(BusEnv *e) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        ck_assert(!e->fdstore);
        ck_assert_uint_lt((size_t) snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify.sock", e->dir),
                          sizeof(sa.sun_path));
        e->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(e->notify_fd, 0);
        ck_assert_int_eq(bind(e->notify_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        e->fdstore = true;
}

static void fdstore_drop(BusEnv *e, const char *name) {
        for (size_t i = 0; i < e->n_store;)
                if (streq(e->store[i].name, name)) {
                        close(e->store[i].fd);
                        e->store[i] = e->store[--e->n_store];
                } else
                        i++;
}

size_t env_fdstore_collect(BusEnv *e) {
        ck_assert(e->fdstore);
        for (;;) {
                char text[4096], control[CMSG_SPACE(sizeof(int) * 16)];
                struct iovec iov = { .iov_base = text, .iov_len = sizeof(text) - 1 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                                     .msg_controllen = sizeof(control) };
                int fds[16];
                size_t n_fds = 0;
                ssize_t k = recvmsg(e->notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

                if (k < 0 && errno == EAGAIN)
                        break;
                ck_assert_msg(k >= 0, "recvmsg: %s", strerror(errno));
                text[k] = '\0';
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                                size_t m = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                                ck_assert_uint_le(n_fds + m, ELEMENTSOF(fds));
                                memcpy(fds + n_fds, CMSG_DATA(c), m * sizeof(int));
                                n_fds += m;
                        }

                bool store = false, remove = false;
                char name[sizeof(e->store[0].name)] = "stored";
                for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                        if (streq(line, "FDSTORE=1"))
                                store = true;
                        else if (streq(line, "FDSTOREREMOVE=1"))
                                remove = true;
                        else if (strncmp(line, "FDNAME=", 7) == 0)
                                xsprintf(name, "%s", line + 7);
                if (remove)
                        fdstore_drop(e, name);
                for (size_t i = 0; i < n_fds; i++) {
                        if (!store) {
                                close(fds[i]);
                                continue;
                        }
                        /* As systemd: an fd of an open file the store holds already is dropped. */
                        bool held = false;
                        for (size_t s = 0; s < e->n_store && !held; s++)
                                held = same_open_file(e->store[s].fd, fds[i]);
                        if (held) {
                                close(fds[i]);
                                continue;
                        }
                        ck_assert_uint_lt(e->n_store, ELEMENTSOF(e->store));
                        xsprintf(e->store[e->n_store].name, "%s", name);
                        e->store[e->n_store++].fd = fds[i];
                }
        }
        return e->n_store;
}

int env_fdstore_find(const BusEnv *e, const char *name) {
        for (size_t i = 0; i < e->n_store; i++)
                if (streq(e->store[i].name, name))
                        return e->store[i].fd;
        return -1;
}

/* Sends @sig to iovad and reaps it; returns its wait status. */
static int daemon_end(BusEnv *e, int sig) {
        int status;
        pid_t r;

        ck_assert_int_gt(e->daemon_pid, 0);
        ck_assert_int_eq(kill(e->daemon_pid, sig), 0);
        do
                r = waitpid(e->daemon_pid, &status, 0);
        while (r < 0 && errno == EINTR);
        ck_assert_int_eq(r, e->daemon_pid);
        e->daemon_pid = 0;
        return status;
}

void env_daemon_kill(BusEnv *e) {
        (void) daemon_end(e, SIGKILL);
}

void env_bus_kill(BusEnv *e) {
        ck_assert_int_gt(e->bus_pid, 0);
        ck_assert_int_eq(kill(e->bus_pid, SIGKILL), 0);
        (void) wait_child(e->bus_pid);
        e->bus_pid = 0;
}

void env_bus_start(BusEnv *e) {
        ck_assert_int_eq(e->bus_pid, 0);
        start_bus(e);
}

void env_daemon_start(BusEnv *e) {
        char iovad[700], simulate[300], state[700], runtime[700], config[700], profiles[700];
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        pid_t parent = getpid(), pid;
        bool owned = false;
        uint64_t deadline;
        int has, r;

        ck_assert_int_eq(e->daemon_pid, 0);
        if (e->fdstore)
                (void) env_fdstore_collect(e);
        xsprintf(iovad, "%s/daemon/iovad", env_build_root());
        xsprintf(profiles, "%s/daemon/profiles", env_source_root());
        xsprintf(simulate, "--simulate=%s", e->profile);
        xsprintf(state, "--state-dir=%s", e->state_dir);
        xsprintf(runtime, "--runtime-dir=%s", e->runtime_dir);
        xsprintf(config, "--config=%s", e->config);
        xsprintf(e->log, "%s/iovad-%u.log", e->dir, ++e->starts);
        ck_assert_msg(access(iovad, X_OK) == 0, "%s is missing: build first, or set IOVAD_BUILD", iovad);

        /* Watch for the name before starting, so its arrival cannot be missed. */
        bus = env_connect();
        r = sd_bus_match_signal(bus, &slot, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                "NameOwnerChanged", name_owner_changed, &owned);
        ck_assert_int_ge(r, 0);

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd;

                die_with_parent(parent);
                fd = open(e->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
                        _exit(127);
                setenv("IOVAD_PROFILES_DIR", profiles, 1);
                unsetenv("JOURNAL_STREAM");
                unsetenv("NOTIFY_SOCKET");
                /* Before the limit: the stored fds are moved above their targets on the way. */
                if (e->fdstore)
                        pass_stored_fds(e);
                if (e->nofile > 0) {
                        struct rlimit rl = { e->nofile, e->nofile };
                        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                                _exit(126);
                }
                /* Without polkit unless the test brings its stand-in (fake-polkit.c). */
                const char *polkit = e->polkit ? "--log-level=debug" : "--no-polkit";
                if (e->config[0])
                        execl(iovad, iovad, simulate, state, runtime, polkit, config, (char *) NULL);
                else
                        execl(iovad, iovad, simulate, state, runtime, polkit, (char *) NULL);
                _exit(127);
        }
        e->daemon_pid = pid;

        deadline = now_usec() + NAME_TIMEOUT_USEC;
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", NULL, &reply, "s", IOVAD_BUS_NAME);
                ck_assert_int_ge(r, 0);
                ck_assert_int_ge(sd_bus_message_read(reply, "b", &has), 0);
                owned = owned || has;
        }
        while (!owned) {
                int status;

                r = sd_bus_process(bus, NULL);
                ck_assert_int_ge(r, 0);
                if (r > 0)
                        continue;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        _cleanup_(freep) char *tail = log_tail(e->log, 4000);
                        e->daemon_pid = 0;
                        ck_abort_msg("iovad exited (status 0x%x) before owning %s:\n%s", (unsigned) status,
                                     IOVAD_BUS_NAME, tail);
                }
                if (now_usec() > deadline) {
                        _cleanup_(freep) char *tail = log_tail(e->log, 4000);
                        ck_abort_msg("iovad did not own %s within %llu s:\n%s", IOVAD_BUS_NAME,
                                     NAME_TIMEOUT_USEC / 1000000ULL, tail);
                }
                /*
                 * Short slices, to notice an early exit; shorter with the fd
                 * store, whose socket holds few datagrams: iovad waits in
                 * sd_notify() (as it would for systemd) until they are read.
                 */
                if (e->fdstore)
                        (void) env_fdstore_collect(e);
                ck_assert_int_ge(sd_bus_wait(bus, e->fdstore ? 5 * 1000 : 100 * 1000), 0);
        }
}

static void check_log_clean(const char *path) {
        static const char *const reports[] = {
                "AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:",
                "ThreadSanitizer", "MemorySanitizer",
        };
        _cleanup_(freep) char *text = read_text(path);

        for (size_t i = 0; i < ELEMENTSOF(reports); i++)
                ck_assert_msg(!strstr(text, reports[i]), "%s has a sanitizer report (%s):\n%s", path, reports[i],
                              text);
}

void env_daemon_stop(BusEnv *e) {
        int status = daemon_end(e, SIGTERM);

        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                _cleanup_(freep) char *tail = log_tail(e->log, 8000);
                ck_abort_msg("iovad did not exit cleanly on SIGTERM (%s %d):\n%s",
                             WIFEXITED(status) ? "exit status" : "signal",
                             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), tail);
        }
        check_log_clean(e->log);
}

void env_stop(BusEnv *e) {
        char marker[700];
        int status;

        if (e->daemon_pid > 0)
                env_daemon_stop(e);
        if (e->bus_pid > 0) {
                (void) kill(e->bus_pid, SIGTERM);
                (void) waitpid(e->bus_pid, &status, 0);
                e->bus_pid = 0;
        }
        if (e->fdstore) {
                for (size_t i = 0; i < e->n_store; i++)
                        close(e->store[i].fd);
                e->n_store = 0;
                close(e->notify_fd);
                e->fdstore = false;
        }
        xsprintf(marker, "%s/RUNNING", e->dir);
        (void) unlink(marker);
        if (!getenv("IOVAD_TEST_KEEP"))
                rm_rf(e->dir);
}

sd_bus *env_connect(void) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        ck_assert_msg(r >= 0, "cannot connect to %s: %s", getenv("DBUS_SYSTEM_BUS_ADDRESS"), strerror(-r));
        return bus;
}

pid_t spawn_as(uid_t uid, void (*fn)(void *userdata), void *userdata) {
        pid_t parent = getpid(), pid;

        fflush(NULL);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid > 0)
                return pid;
        die_with_parent(parent);
        if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0) {
                fprintf(stderr, "cannot become uid %u: %s\n", (unsigned) uid, strerror(errno));
                _exit(125);
        }
        if (geteuid() != uid || getuid() != uid)
                _exit(125);
        fn(userdata);
        _exit(EXIT_SUCCESS);
}

int wait_child(pid_t pid) {
        int status;
        pid_t r;

        do
                r = waitpid(pid, &status, 0);
        while (r < 0 && errno == EINTR);
        ck_assert_int_eq(r, pid);
        return status;
}

void run_as(uid_t uid, void (*fn)(void *userdata), void *userdata) {
        int status = wait_child(spawn_as(uid, fn, userdata));

        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the client as uid %u failed (status 0x%x)",
                      (unsigned) uid, (unsigned) status);
}

char *env_daemon_death(void) {
        BusEnv *e = current_env;
        char *text = NULL;
        int status;

        if (!e || e->daemon_pid <= 0 || waitpid(e->daemon_pid, &status, WNOHANG) != e->daemon_pid)
                return strdup("");
        e->daemon_pid = 0;
        _cleanup_(freep) char *tail = log_tail(e->log, 6000);
        if (asprintf(&text, "\niovad died (%s %d); its log ends:\n%s",
                     WIFEXITED(status) ? "exit status" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), tail) < 0)
                return strdup("");
        return text;
}

void write_line(int fd, const char *line) {
        size_t n = strlen(line);

        ck_assert_int_eq(write(fd, line, n), (ssize_t) n);
        ck_assert_int_eq(write(fd, "\n", 1), 1);
}

char *read_line(int fd) {
        char buf[512];
        size_t n = 0;

        for (;;) {
                ssize_t k = read(fd, buf + n, 1);
                if (k < 0 && errno == EINTR)
                        continue;
                ck_assert_int_ge(k, 0);
                if (k == 0)
                        return NULL;
                if (buf[n] == '\n')
                        break;
                n++;
                ck_assert_uint_lt(n, sizeof(buf));
        }
        buf[n] = 0;
        return strdup(buf);
}
