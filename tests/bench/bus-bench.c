/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-bench: what a call to iovad costs over D-Bus, side by side with the
 * floor the bus itself sets.
 *
 * One run starts a private system-like dbus-daemon, the real iovad on the
 * simulated x86-vtd platform, and a bare sd-bus "ping" service (a child
 * process that owns org.iovad1.BenchPing and answers Ping() with nothing,
 * from a plain vtable and a plain sd_bus_process()/sd_bus_wait() loop).
 * Then, as root, it creates a container, attaches group 5 and measures:
 *
 *  - synchronous calls, one at a time: Lease(4096, {}) followed by
 *    Release(), against Ping(), in alternating blocks so that drift in the
 *    machine's load hits both alike; p50/p99 latency and calls/s;
 *  - 64 calls in flight (sd_bus_call_async() with a window of 64,
 *    driven by sd_bus_process()/sd_bus_wait()): Lease calls/s, then
 *    Release calls/s of the leases just made, against Ping calls/s;
 *  - the same two over a direct connection (Manager.OpenDirectConnection:
 *    iovad serving peer-to-peer on a socketpair) against a bare
 *    peer-to-peer sd-bus ping server (a child process serving Ping() on
 *    one end of a socketpair in sd-bus server mode), side by side with
 *    the bus's figures of the same run;
 *  - iovad's memory per live lease: its smaps_rollup before and after
 *    100,000 leases made on one connection that stays open (leases die
 *    with their client), and VmHWM;
 *  - a restore at scale: 1,000 connected clients with 100 leases each,
 *    iovad SIGKILLed and started again; the time from its start to
 *    READY=1 (its notify socket is the benchmark's), to every lease
 *    listed, and its memory per restored lease against a fresh iovad's.
 *
 * Beside each figure it prints the CPU time the client, dbus-daemon and
 * the server spent per call (/proc/PID/schedstat), and how busy the rest
 * of the machine was meanwhile: figures taken while other processes ran
 * are not comparable.
 *
 * Figures are printed beside their targets. The exit status is 0 whether
 * or not a target is met, 1 when a call fails or a process dies, 2 for a
 * bad command line. The bus, the daemon and the ping service are stopped
 * and the temporary directory is removed on every exit.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "iovad-bus.h"

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define PING_NAME "org.iovad1.BenchPing"
#define PING_PATH "/org/iovad1/BenchPing"
#define PING_IFACE "org.iovad1.BenchPing"

#define LEASE_SIZE UINT64_C(4096)
#define GROUP 5
#define WINDOW 64
#define NSEC_PER_SEC UINT64_C(1000000000)
#define STARTUP_TIMEOUT_NS (60 * NSEC_PER_SEC)   /* generous: the daemon may run under valgrind */
#define STALL_TIMEOUT_NS (60 * NSEC_PER_SEC)     /* no reply at all for this long: a failure */

/* Targets, and the bus floor measured on this machine class with dbus-daemon. */
#define TARGET_LEASE_P50_RATIO 1.2
#define TARGET_ASYNC_RATIO 0.8
#define TARGET_DIRECT_P50_RATIO 1.5    /* direct Lease p50 against the peer-to-peer ping */
#define TARGET_DIRECT_ASYNC_RATIO 0.8
#define TARGET_BYTES_PER_LEASE 256.0
#define TARGET_RESTORE_READY_MS 1000.0
#define REF_SYNC_PING "~10,800/s, p50 90 µs"
#define REF_ASYNC_PING "~88,000/s"

typedef struct Params {
        const char *name;
        size_t calls;        /* per measurement, sync and async */
        size_t blocks;       /* sync: alternating ping / lease blocks */
        size_t warmup;
        unsigned async_runs; /* the async figures are the median over these */
        size_t live;         /* leases for the memory figure */
        size_t restore_clients, restore_per_client;
} Params;

static const Params params_full = { "full", 20000, 10, 1000, 3, 100000, 1000, 100 };
static const Params params_quick = { "quick", 2000, 4, 200, 1, 10000, 100, 100 };

typedef struct Bench {
        const Params *p;
        char build[PATH_MAX];
        char iovad[PATH_MAX];
        char profiles[PATH_MAX];
        char dir[PATH_MAX];       /* "" until made */
        char address[PATH_MAX + 32];
        char iovad_log[PATH_MAX + 32];
        char notify[PATH_MAX + 32];   /* the notify socket a restarted iovad reports to; "" for none */
        pid_t bus_pid, ping_pid, daemon_pid;
        pid_t p2p_pid;            /* the peer-to-peer ping server */
        int p2p_fd;               /* this end of its socketpair, until a connection takes it */
        sd_bus *bus;              /* the benchmark's main connection */
        sd_bus *p2p;              /* to the peer-to-peer ping server */
        sd_bus *direct;           /* the direct connection to iovad */
        char *container;          /* the container's object path */
} Bench;

/*
 * The only globals: what to stop and remove when the program ends, through
 * exit() from anywhere (atexit), and the flag a signal sets, which the
 * loops check so that cleanup runs on the main path, not in the handler.
 */
static Bench *cleanup_bench;
static volatile sig_atomic_t interrupted;

static void freep(void *p) {
        free(*(void **) p);
}

static void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

static uint64_t now_ns(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}

/* A functional failure: say what and exit 1 (130 when interrupted); atexit runs cleanup(). */
_printf_(1, 2) static _Noreturn void fail(const char *fmt, ...) {
        int saved = errno;
        va_list ap;

        fflush(stdout);
        fprintf(stderr, "bus-bench: ");
        errno = saved; /* for %m */
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(interrupted ? 130 : EXIT_FAILURE);
}

static void check_interrupted(void) {
        if (interrupted)
                fail("interrupted");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

/* The last @max bytes of a file, or "". */
static char *file_tail(const char *path, size_t max) {
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        char *text = NULL;
        size_t size = 0, n;

        if (!f || getdelim(&text, &size, '\0', f) < 0) {
                free(text);
                return strdup("");
        }
        n = strlen(text);
        if (n > max)
                memmove(text, text + n - max, max + 1);
        return text;
}

/*
 * SIGTERM, then SIGKILL after @timeout_ns; returns the wait status, or -1.
 * @group: signal the process group @pid leads, for a daemon under a wrapper
 * (strace, perf) that would otherwise leave it behind.
 */
static int stop_process(pid_t *pid, bool group, uint64_t timeout_ns) {
        uint64_t deadline = now_ns() + timeout_ns;
        pid_t target = group ? -*pid : *pid;
        int status;

        if (*pid <= 0)
                return -1;
        (void) kill(target, SIGTERM);
        for (;;) {
                pid_t r = waitpid(*pid, &status, WNOHANG);
                if (r == *pid || (r < 0 && errno != EINTR))
                        break;
                if (now_ns() > deadline) {
                        (void) kill(target, SIGKILL);
                        (void) waitpid(*pid, &status, 0);
                        break;
                }
                (void) usleep(10 * 1000);
        }
        *pid = 0;
        return status;
}

static void cleanup(void) {
        Bench *b = cleanup_bench;
        int status;

        if (!b)
                return;
        cleanup_bench = NULL;
        b->bus = sd_bus_flush_close_unref(b->bus);
        b->p2p = sd_bus_flush_close_unref(b->p2p);
        b->direct = sd_bus_flush_close_unref(b->direct);
        if (b->p2p_fd >= 0)
                (void) close(b->p2p_fd);
        b->p2p_fd = -1;
        free(b->container);
        b->container = NULL;
        if (b->daemon_pid > 0) {
                /* 100,000 leases take a moment to free; valgrind takes longer. */
                status = stop_process(&b->daemon_pid, true, 30 * NSEC_PER_SEC);
                if (status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                        _cleanup_(freep) char *tail = file_tail(b->iovad_log, 4000);
                        fprintf(stderr, "bus-bench: iovad did not exit cleanly on SIGTERM (status 0x%x); its log ends:\n%s",
                                (unsigned) status, tail);
                }
        }
        (void) stop_process(&b->ping_pid, false, 5 * NSEC_PER_SEC);
        (void) stop_process(&b->p2p_pid, false, 5 * NSEC_PER_SEC);
        (void) stop_process(&b->bus_pid, false, 5 * NSEC_PER_SEC);
        if (b->dir[0]) {
                if (getenv("BUS_BENCH_KEEP"))
                        fprintf(stderr, "bus-bench: files kept in %s\n", b->dir);
                else
                        (void) nftw(b->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
}

static void on_signal(int sig) {
        interrupted = 1;
}

/* When a call fails: did iovad die? */
static void check_daemon_alive(Bench *b) {
        int status;

        if (b->daemon_pid > 0 && waitpid(b->daemon_pid, &status, WNOHANG) == b->daemon_pid) {
                _cleanup_(freep) char *tail = file_tail(b->iovad_log, 4000);
                b->daemon_pid = 0;
                fail("iovad died (status 0x%x); its log ends:\n%s", (unsigned) status, tail);
        }
}

/* The parent may be gone by the time PR_SET_PDEATHSIG is set: then go at once. */
static void die_with_parent(pid_t parent) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(126);
}

/* A child must not run the parent's atexit cleanup, nor keep its signal handlers. */
static void child_setup(pid_t parent) {
        (void) signal(SIGINT, SIG_DFL);
        (void) signal(SIGTERM, SIG_DFL);
        die_with_parent(parent);
}

static void redirect_output(const char *log) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                _exit(127);
}

static void write_file(const char *path, const char *text) {
        _cleanup_(fclosep) FILE *f = fopen(path, "we");

        if (!f || fputs(text, f) < 0 || fflush(f) != 0)
                fail("cannot write %s: %m", path);
}

/* Paths: argv, then $IOVAD_BUILD, then the build directory this program sits in (tests/bench/). */
static void find_paths(Bench *b, const char *arg) {
        const char *build = arg ?: getenv("IOVAD_BUILD"), *profiles = getenv("IOVAD_PROFILES_DIR");
        char exe[PATH_MAX], *slash;
        ssize_t n;

        if (build && *build)
                snprintf(b->build, sizeof(b->build), "%s", build);
        else {
                n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
                if (n < 0)
                        fail("cannot find this program's path: %m");
                exe[n] = 0;
                for (int up = 0; up < 3; up++) {
                        slash = strrchr(exe, '/');
                        if (!slash)
                                fail("cannot find the build directory from %s: pass it, or set IOVAD_BUILD", exe);
                        *slash = 0;
                }
                snprintf(b->build, sizeof(b->build), "%s", exe);
        }
        if ((size_t) snprintf(b->iovad, sizeof(b->iovad), "%s/daemon/iovad", b->build) >= sizeof(b->iovad))
                fail("path too long: %s", b->build);
        if (access(b->iovad, X_OK) < 0)
                fail("%s: %m (build the project first, or pass the build directory)", b->iovad);

        /* A build directory inside the source tree, as `meson setup build-…` makes. */
        if (profiles && *profiles)
                snprintf(b->profiles, sizeof(b->profiles), "%s", profiles);
        else if ((size_t) snprintf(b->profiles, sizeof(b->profiles), "%s/../daemon/profiles", b->build) >=
                 sizeof(b->profiles))
                fail("path too long: %s", b->build);
        if (access(b->profiles, R_OK) < 0)
                fail("%s: %m (set IOVAD_PROFILES_DIR to <source>/daemon/profiles)", b->profiles);
}

static void make_dir(Bench *b) {
        snprintf(b->dir, sizeof(b->dir), "/tmp/bus-bench.XXXXXX");
        if (!mkdtemp(b->dir)) {
                b->dir[0] = 0;
                fail("cannot make a temporary directory: %m");
        }
}

/* A system-like bus (type system, EXTERNAL auth) whose policy lets everyone own and call anything. */
static void start_bus(Bench *b) {
        char conf[PATH_MAX + 32], log[PATH_MAX + 32], fdarg[32], text[2 * PATH_MAX];
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(freep) char *line = NULL;
        pid_t parent = getpid();
        size_t n = 0;
        int p[2];

        snprintf(conf, sizeof(conf), "%s/bus.conf", b->dir);
        snprintf(log, sizeof(log), "%s/bus.log", b->dir);
        snprintf(text, sizeof(text),
                 "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                 " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                 "<busconfig>\n"
                 "  <type>system</type>\n"
                 "  <listen>unix:path=%s/bus.sock</listen>\n"
                 "  <auth>EXTERNAL</auth>\n"
                 "  <limit name=\"max_completed_connections\">16384</limit>\n"
                 "  <limit name=\"max_connections_per_user\">16384</limit>\n"
                 "  <policy context=\"default\">\n"
                 "    <allow user=\"*\"/>\n"
                 "    <allow own=\"*\"/>\n"
                 "    <allow send_destination=\"*\"/>\n"
                 "    <allow receive_sender=\"*\"/>\n"
                 "  </policy>\n"
                 "</busconfig>\n",
                 b->dir);
        write_file(conf, text);

        if (pipe2(p, O_CLOEXEC) < 0)
                fail("pipe: %m");
        fflush(NULL);
        b->bus_pid = fork();
        if (b->bus_pid < 0)
                fail("fork: %m");
        if (b->bus_pid == 0) {
                child_setup(parent);
                redirect_output(log);
                /* Only the write end crosses exec. */
                if (fcntl(p[1], F_SETFD, 0) < 0)
                        _exit(127);
                snprintf(fdarg, sizeof(fdarg), "--print-address=%d", p[1]);
                execlp("dbus-daemon", "dbus-daemon", "--nofork", "--nopidfile", "--nosyslog", fdarg,
                       "--config-file", conf, (char *) NULL);
                _exit(127);
        }
        close(p[1]);
        /* The address is printed once the socket listens: that is the readiness signal. */
        f = fdopen(p[0], "r");
        if (!f)
                fail("fdopen: %m");
        if (getline(&line, &n, f) <= 0) {
                _cleanup_(freep) char *tail = file_tail(log, 2000);
                fail("dbus-daemon did not start (is it installed?):\n%s", tail);
        }
        line[strcspn(line, "\n")] = 0;
        snprintf(b->address, sizeof(b->address), "%s", line);
        /* The daemon, the ping service and our connections all find the bus this way. */
        if (setenv("DBUS_SYSTEM_BUS_ADDRESS", b->address, 1) < 0)
                fail("setenv: %m");
}

static int method_ping(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, NULL);
}

/*
 * SD_BUS_VTABLE_UNPRIVILEGED, as on every iovad method: without it sd-bus
 * checks each caller for CAP_SYS_ADMIN, which on dbus-daemon means asking
 * the bus for the caller's credentials, a synchronous round trip per call,
 * and the floor would no longer be the bus's.
 */
static const sd_bus_vtable ping_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Ping", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_ping, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* A ping server's loop: answers until its connection goes, then exits. */
static _Noreturn void serve_forever(sd_bus *bus) {
        int r;

        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        _exit(r == -ECONNRESET || r == -ENOTCONN ? EXIT_SUCCESS : EXIT_FAILURE);
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        _exit(EXIT_FAILURE);
        }
}

/* The bus's floor: a service that does nothing but answer, in a process of its own like iovad. */
static _Noreturn void ping_service(void) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, PING_PATH, PING_IFACE, ping_vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, PING_NAME, 0);
        if (r < 0) {
                fprintf(stderr, "ping service: %s\n", strerror(-r));
                _exit(EXIT_FAILURE);
        }
        serve_forever(bus);
}

static void start_ping(Bench *b) {
        char log[PATH_MAX + 32];
        pid_t parent = getpid();

        snprintf(log, sizeof(log), "%s/ping.log", b->dir);
        fflush(NULL);
        b->ping_pid = fork();
        if (b->ping_pid < 0)
                fail("fork: %m");
        if (b->ping_pid == 0) {
                child_setup(parent);
                redirect_output(log);
                ping_service();
        }
}

/*
 * The peer-to-peer floor: the same vtable served in sd-bus server mode on
 * one end of a socketpair (no dbus-daemon, no Hello, anonymous
 * authentication), as iovad serves a direct connection.
 */
static _Noreturn void p2p_ping_service(int fd) {
        sd_bus *bus = NULL;
        sd_id128_t id;
        int r;

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_fd(bus, fd, fd);
        if (r >= 0)
                r = sd_id128_randomize(&id);
        if (r >= 0)
                r = sd_bus_set_server(bus, true, id);
        if (r >= 0)
                r = sd_bus_set_anonymous(bus, true);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, PING_PATH, PING_IFACE, ping_vtable, NULL);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                fprintf(stderr, "peer-to-peer ping service: %s\n", strerror(-r));
                _exit(EXIT_FAILURE);
        }
        serve_forever(bus);
}

static void start_p2p_ping(Bench *b) {
        char log[PATH_MAX + 32];
        pid_t parent = getpid();
        int pair[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                fail("socketpair: %m");
        snprintf(log, sizeof(log), "%s/p2p-ping.log", b->dir);
        fflush(NULL);
        b->p2p_pid = fork();
        if (b->p2p_pid < 0)
                fail("fork: %m");
        if (b->p2p_pid == 0) {
                child_setup(parent);
                redirect_output(log);
                (void) close(pair[0]);
                p2p_ping_service(pair[1]);
        }
        (void) close(pair[1]);
        b->p2p_fd = pair[0];
}

/* An sd-bus client on a peer-to-peer socket (@fd taken over). */
static sd_bus *connect_p2p(int fd) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_fd(bus, fd, fd);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                fail("cannot start a peer-to-peer connection: %s", strerror(-r));
        return bus;
}

static void start_daemon(Bench *b) {
        char simulate[] = "--simulate=x86-vtd", state[PATH_MAX + 32], runtime[PATH_MAX + 32];
        const char *wrapper = getenv("BUS_BENCH_DAEMON_WRAPPER");
        _cleanup_(freep) char *wrapper_copy = NULL;
        char *argv[64];
        size_t argc = 0;
        pid_t parent = getpid();

        snprintf(state, sizeof(state), "--state-dir=%s/state", b->dir);
        snprintf(runtime, sizeof(runtime), "--runtime-dir=%s/run", b->dir);
        snprintf(b->iovad_log, sizeof(b->iovad_log), "%s/iovad.log", b->dir);

        /* For profiling: e.g. BUS_BENCH_DAEMON_WRAPPER="valgrind --tool=callgrind". */
        if (wrapper && *wrapper) {
                wrapper_copy = strdup(wrapper);
                if (!wrapper_copy)
                        fail("out of memory");
                for (char *save = NULL, *w = strtok_r(wrapper_copy, " ", &save); w && argc < ELEMENTSOF(argv) - 8;
                     w = strtok_r(NULL, " ", &save))
                        argv[argc++] = w;
        }
        argv[argc++] = b->iovad;
        argv[argc++] = simulate;
        argv[argc++] = state;
        argv[argc++] = runtime;
        argv[argc++] = (char *) "--no-polkit";
        argv[argc++] = (char *) "--log-level=warning";
        argv[argc] = NULL;

        fflush(NULL);
        b->daemon_pid = fork();
        if (b->daemon_pid < 0)
                fail("fork: %m");
        if (b->daemon_pid == 0) {
                child_setup(parent);
                redirect_output(b->iovad_log);
                (void) setpgid(0, 0);
                if (setenv("IOVAD_PROFILES_DIR", b->profiles, 1) < 0)
                        _exit(127);
                if (b->notify[0] ? setenv("NOTIFY_SOCKET", b->notify, 1) < 0 : unsetenv("NOTIFY_SOCKET") < 0)
                        _exit(127);
                unsetenv("JOURNAL_STREAM");
                unsetenv("WATCHDOG_USEC");
                execvp(argv[0], argv);
                _exit(127);
        }
}

static bool name_has_owner(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int has = 0, r;

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", &error, &reply, "s", name);
        if (r < 0)
                fail("NameHasOwner: %s", error.message ?: strerror(-r));
        if (sd_bus_message_read(reply, "b", &has) < 0)
                fail("NameHasOwner: bad reply");
        return has;
}

/* Waits (bounded) until iovad and the ping service own their names, watching both processes. */
static void wait_for_names(Bench *b) {
        uint64_t deadline = now_ns() + STARTUP_TIMEOUT_NS;
        int status;

        for (;;) {
                check_interrupted();
                check_daemon_alive(b);
                if (b->ping_pid > 0 && waitpid(b->ping_pid, &status, WNOHANG) == b->ping_pid) {
                        b->ping_pid = 0;
                        fail("the ping service exited (status 0x%x)", (unsigned) status);
                }
                if (name_has_owner(b->bus, IOVAD_BUS_NAME) && name_has_owner(b->bus, PING_NAME))
                        return;
                if (now_ns() > deadline) {
                        _cleanup_(freep) char *tail = file_tail(b->iovad_log, 4000);
                        fail("iovad or the ping service did not own its name within %" PRIu64 " s; iovad's log:\n%s",
                             STARTUP_TIMEOUT_NS / NSEC_PER_SEC, tail);
                }
                (void) usleep(10 * 1000);
        }
}

static sd_bus *connect_bus(void) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                fail("cannot connect to %s: %s", getenv("DBUS_SYSTEM_BUS_ADDRESS"), strerror(-r));
        return bus;
}

/* A call that must succeed; the reply if @ret is not NULL. */
static void call_or_fail(Bench *b, sd_bus *bus, const char *dest, const char *path, const char *iface,
                         const char *member, sd_bus_message **ret, const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        va_list ap;
        int r;

        va_start(ap, types);
        r = sd_bus_call_methodv(bus, dest, path, iface, member, &error, ret, types, ap);
        va_end(ap);
        if (r < 0) {
                check_daemon_alive(b);
                fail("%s.%s on %s failed: %s: %s", iface, member, path, error.name ?: strerror(-r),
                     error.message ?: "");
        }
}

static void setup_container(Bench *b) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;

        call_or_fail(b, b->bus, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "CreateContainer", &reply,
                     "sa{sv}", "bench", 0);
        if (sd_bus_message_read(reply, "o", &path) < 0)
                fail("CreateContainer: bad reply");
        b->container = strdup(path);
        if (!b->container)
                fail("out of memory");
        call_or_fail(b, b->bus, IOVAD_BUS_NAME, b->container, IOVAD_CONTAINER_IFACE, "AttachGroup", NULL, "u",
                     (uint32_t) GROUP);
}

/* ---- CPU time: where a call's time goes, and whether anything else ran ---- */

typedef struct CpuClock {
        uint64_t wall;                      /* CLOCK_MONOTONIC */
        uint64_t busy;                      /* all CPUs, not idle (/proc/stat, tick resolution) */
        uint64_t self, bus, daemon, ping;   /* on CPU (/proc/PID/schedstat, ns) */
} CpuClock;

/* Sums of CpuClock differences over one measurement's stretches, and how many calls they cover. */
typedef struct CpuUse {
        CpuClock sum;
        size_t calls;
        bool daemon_serves;                 /* the server is iovad, else the ping service */
} CpuUse;

static uint64_t schedstat_ns(pid_t pid) {
        _cleanup_(fclosep) FILE *f = NULL;
        unsigned long long ns = 0;
        char path[64];

        if (pid <= 0)
                return 0;
        snprintf(path, sizeof(path), "/proc/%d/schedstat", (int) pid);
        f = fopen(path, "re");
        if (!f || fscanf(f, "%llu", &ns) != 1)
                return 0;
        return ns;
}

static uint64_t busy_ns(void) {
        _cleanup_(fclosep) FILE *f = fopen("/proc/stat", "re");
        unsigned long long v[8] = {};

        if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                         &v[6], &v[7]) != 8)
                return 0;
        /* user nice system [idle iowait] irq softirq steal */
        return (uint64_t) (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * (NSEC_PER_SEC / (uint64_t) sysconf(_SC_CLK_TCK));
}

static CpuClock cpu_now(const Bench *b) {
        return (CpuClock) {
                .wall = now_ns(),
                .busy = busy_ns(),
                .self = schedstat_ns(getpid()),
                .bus = schedstat_ns(b->bus_pid),
                .daemon = schedstat_ns(b->daemon_pid),
                .ping = schedstat_ns(b->ping_pid),
        };
}

static void cpu_add(CpuUse *u, const CpuClock *t0, const CpuClock *t1, size_t calls) {
        u->sum.wall += t1->wall - t0->wall;
        u->sum.busy += t1->busy - t0->busy;
        u->sum.self += t1->self - t0->self;
        u->sum.bus += t1->bus - t0->bus;
        u->sum.daemon += t1->daemon - t0->daemon;
        u->sum.ping += t1->ping - t0->ping;
        u->calls += calls;
}

/* Other processes' load, in CPUs: busy time that none of ours accounts for. */
static double cpu_others(const CpuUse *u) {
        double ours = (double) (u->sum.self + u->sum.bus + u->sum.daemon + u->sum.ping);
        double others = (double) u->sum.busy - ours;

        return others > 0 && u->sum.wall > 0 ? others / (double) u->sum.wall : 0;
}

/* ---- synchronous calls ---- */

static void sync_ping(Bench *b, sd_bus *bus) {
        call_or_fail(b, bus, PING_NAME, PING_PATH, PING_IFACE, "Ping", NULL, NULL);
}

static char *sync_lease(Bench *b, sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        uint64_t iova;
        char *copy;

        call_or_fail(b, bus, IOVAD_BUS_NAME, b->container, IOVAD_CONTAINER_IFACE, "Lease", &reply, "ta{sv}",
                     LEASE_SIZE, 0);
        if (sd_bus_message_read(reply, "ot", &path, &iova) < 0)
                fail("Lease: bad reply");
        copy = strdup(path);
        if (!copy)
                fail("out of memory");
        return copy;
}

static void sync_release(Bench *b, sd_bus *bus, const char *lease) {
        call_or_fail(b, bus, IOVAD_BUS_NAME, lease, IOVAD_LEASE_IFACE, "Release", NULL, NULL);
}

typedef struct Latencies {
        uint64_t *ns;
        size_t n;
} Latencies;

typedef struct Summary {
        double p50_us, p99_us, per_sec;
} Summary;

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* Nearest-rank percentiles, and calls/s as calls over the time spent in them. */
static Summary summarize(Latencies *l) {
        uint64_t total = 0;

        qsort(l->ns, l->n, sizeof(uint64_t), cmp_u64);
        for (size_t i = 0; i < l->n; i++)
                total += l->ns[i];
        return (Summary) {
                .p50_us = (double) l->ns[(l->n * 50 + 99) / 100 - 1] / 1e3,
                .p99_us = (double) l->ns[(l->n * 99 + 99) / 100 - 1] / 1e3,
                .per_sec = (double) l->n * 1e9 / (double) total,
        };
}

static void latencies_init(Latencies *l, size_t n) {
        l->ns = calloc(n, sizeof(uint64_t));
        l->n = 0;
        if (!l->ns)
                fail("out of memory");
}

typedef struct SyncResult {
        Summary ping, lease, release;
        CpuUse ping_cpu, lease_cpu; /* lease_cpu: Lease and Release calls together */
} SyncResult;

/* Ping() on @ping_bus against Lease() and Release() on @lease_bus. */
static SyncResult measure_sync(Bench *b, sd_bus *ping_bus, sd_bus *lease_bus) {
        const Params *p = b->p;
        Latencies ping, lease, release;
        size_t block = p->calls / p->blocks;
        SyncResult res = { .lease_cpu.daemon_serves = true };
        CpuClock t0, t1;

        for (size_t i = 0; i < p->warmup; i++) {
                _cleanup_(freep) char *l = sync_lease(b, lease_bus);
                sync_release(b, lease_bus, l);
                sync_ping(b, ping_bus);
        }
        latencies_init(&ping, p->calls);
        latencies_init(&lease, p->calls);
        latencies_init(&release, p->calls);
        for (size_t k = 0; k < p->blocks; k++) {
                size_t n = k + 1 < p->blocks ? block : p->calls - k * block;

                check_interrupted();
                t0 = cpu_now(b);
                for (size_t i = 0; i < n; i++) {
                        uint64_t a = now_ns();
                        sync_ping(b, ping_bus);
                        ping.ns[ping.n++] = now_ns() - a;
                }
                t1 = cpu_now(b);
                cpu_add(&res.ping_cpu, &t0, &t1, n);
                for (size_t i = 0; i < n; i++) {
                        uint64_t a = now_ns(), z, c;
                        _cleanup_(freep) char *l = sync_lease(b, lease_bus);
                        z = now_ns();
                        sync_release(b, lease_bus, l);
                        c = now_ns();
                        lease.ns[lease.n++] = z - a;
                        release.ns[release.n++] = c - z;
                }
                t0 = cpu_now(b);
                cpu_add(&res.lease_cpu, &t1, &t0, 2 * n);
        }
        res.ping = summarize(&ping);
        res.lease = summarize(&lease);
        res.release = summarize(&release);
        free(ping.ns);
        free(lease.ns);
        free(release.ns);
        return res;
}

/* ---- calls in flight ---- */

typedef enum CallKind {
        CALL_PING,
        CALL_LEASE,
        CALL_RELEASE,
} CallKind;

typedef struct Pipeline {
        Bench *bench;
        sd_bus *bus;
        CallKind kind;
        size_t total, issued, done;
        char **leases;       /* CALL_LEASE: filled (may be NULL: not kept); CALL_RELEASE: read */
        size_t n_leases;
        char *error;         /* the first failure */
} Pipeline;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Pipeline *p = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *path;
        uint64_t iova;

        p->done++;
        if (e) {
                if (!p->error && asprintf(&p->error, "%s: %s", e->name, e->message ?: "") < 0)
                        p->error = NULL;
                return 0;
        }
        if (p->kind == CALL_LEASE) {
                if (sd_bus_message_read(m, "ot", &path, &iova) < 0) {
                        if (!p->error)
                                p->error = strdup("Lease: bad reply");
                        return 0;
                }
                if (p->leases) {
                        p->leases[p->n_leases] = strdup(path);
                        if (!p->leases[p->n_leases])
                                fail("out of memory");
                        p->n_leases++;
                }
        }
        return 0;
}

static void pipeline_issue(Pipeline *p) {
        Bench *b = p->bench;
        int r = -EINVAL;

        switch (p->kind) {
        case CALL_PING:
                r = sd_bus_call_method_async(p->bus, NULL, PING_NAME, PING_PATH, PING_IFACE, "Ping", on_reply, p, NULL);
                break;
        case CALL_LEASE:
                r = sd_bus_call_method_async(p->bus, NULL, IOVAD_BUS_NAME, b->container, IOVAD_CONTAINER_IFACE,
                                             "Lease", on_reply, p, "ta{sv}", LEASE_SIZE, 0);
                break;
        case CALL_RELEASE:
                r = sd_bus_call_method_async(p->bus, NULL, IOVAD_BUS_NAME, p->leases[p->issued], IOVAD_LEASE_IFACE,
                                             "Release", on_reply, p, NULL);
                break;
        }
        if (r < 0)
                fail("cannot send a call: %s", strerror(-r));
        p->issued++;
}

/* Keeps @window calls outstanding until @total have been answered; returns the wall time in ns. */
static uint64_t pipeline_run(Pipeline *p, size_t window) {
        uint64_t t0 = now_ns(), progress = t0;
        int r;

        while (p->done < p->total) {
                while (p->issued < p->total && p->issued - p->done < window)
                        pipeline_issue(p);
                r = sd_bus_process(p->bus, NULL);
                if (r < 0) {
                        check_daemon_alive(p->bench);
                        fail("sd_bus_process: %s", strerror(-r));
                }
                if (p->error) {
                        check_daemon_alive(p->bench);
                        fail("a call failed: %s", p->error);
                }
                if (r > 0) {
                        progress = now_ns();
                        continue;
                }
                check_interrupted();
                if (now_ns() - progress > STALL_TIMEOUT_NS) {
                        check_daemon_alive(p->bench);
                        fail("no reply for %" PRIu64 " s (%zu of %zu answered)", STALL_TIMEOUT_NS / NSEC_PER_SEC,
                             p->done, p->total);
                }
                r = sd_bus_wait(p->bus, 1000 * 1000);
                if (r < 0 && r != -EINTR)
                        fail("sd_bus_wait: %s", strerror(-r));
        }
        return now_ns() - t0;
}

/* Returns calls/s; adds the CPU time to @cpu if not NULL. */
static double run_async(Bench *b, sd_bus *bus, CallKind kind, size_t n, char **leases, CpuUse *cpu) {
        Pipeline p = { .bench = b, .bus = bus, .kind = kind, .total = n, .leases = leases };
        CpuClock t0 = cpu_now(b), t1;
        uint64_t ns = pipeline_run(&p, WINDOW);

        t1 = cpu_now(b);
        if (cpu)
                cpu_add(cpu, &t0, &t1, n);
        if (kind == CALL_LEASE && leases && p.n_leases != n)
                fail("%zu leases made, %zu expected", p.n_leases, n);
        return (double) n * 1e9 / (double) ns;
}

typedef struct AsyncResult {
        double ping, lease, release; /* calls/s, the median over the runs */
        CpuUse ping_cpu, lease_cpu, release_cpu;
} AsyncResult;

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
        qsort(v, n, sizeof(double), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static AsyncResult measure_async(Bench *b, sd_bus *ping_bus, sd_bus *lease_bus) {
        const Params *p = b->p;
        double ping[8], lease[8], release[8];
        char **leases = calloc(p->calls, sizeof(char *));
        AsyncResult res = { .lease_cpu.daemon_serves = true, .release_cpu.daemon_serves = true };

        if (!leases)
                fail("out of memory");
        /* Warm up both paths, so the first run does not pay for growing queues. */
        (void) run_async(b, ping_bus, CALL_PING, p->warmup, NULL, NULL);
        (void) run_async(b, lease_bus, CALL_LEASE, p->warmup, leases, NULL);
        (void) run_async(b, lease_bus, CALL_RELEASE, p->warmup, leases, NULL);
        for (size_t i = 0; i < p->warmup; i++)
                free(leases[i]);

        for (unsigned k = 0; k < p->async_runs; k++) {
                ping[k] = run_async(b, ping_bus, CALL_PING, p->calls, NULL, &res.ping_cpu);
                lease[k] = run_async(b, lease_bus, CALL_LEASE, p->calls, leases, &res.lease_cpu);
                release[k] = run_async(b, lease_bus, CALL_RELEASE, p->calls, leases, &res.release_cpu);
                for (size_t i = 0; i < p->calls; i++) {
                        free(leases[i]);
                        leases[i] = NULL;
                }
        }
        free(leases);
        res.ping = median(ping, p->async_runs);
        res.lease = median(lease, p->async_runs);
        res.release = median(release, p->async_runs);
        return res;
}

/* ---- memory ---- */

typedef struct MemInfo {
        uint64_t rss_kb, private_dirty_kb, anonymous_kb; /* smaps_rollup */
        uint64_t vm_rss_kb, vm_hwm_kb;                   /* status */
} MemInfo;

/* Adds the "Key:  N kB" fields of @path that @keys names into @values. */
static void read_kb_fields(const char *path, const char *const *keys, uint64_t *const *values, size_t n) {
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        char line[256];

        if (!f)
                fail("cannot read %s: %m", path);
        while (fgets(line, sizeof(line), f))
                for (size_t i = 0; i < n; i++) {
                        size_t k = strlen(keys[i]);
                        if (strncmp(line, keys[i], k) == 0 && line[k] == ':')
                                *values[i] = strtoull(line + k + 1, NULL, 10);
                }
}

static MemInfo read_mem(pid_t pid) {
        static const char *const rollup_keys[] = { "Rss", "Private_Dirty", "Anonymous" };
        static const char *const status_keys[] = { "VmRSS", "VmHWM" };
        char path[64];
        MemInfo mi = {};

        snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int) pid);
        read_kb_fields(path, rollup_keys, (uint64_t *const[]) { &mi.rss_kb, &mi.private_dirty_kb, &mi.anonymous_kb },
                       3);
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        read_kb_fields(path, status_keys, (uint64_t *const[]) { &mi.vm_rss_kb, &mi.vm_hwm_kb }, 2);
        return mi;
}

static size_t count_leases(Bench *b) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        size_t n = 0;
        int r;

        call_or_fail(b, b->bus, IOVAD_BUS_NAME, b->container, IOVAD_CONTAINER_IFACE, "ListLeases", &reply, NULL);
        if (sd_bus_message_enter_container(reply, 'a', "(ottb)") < 0)
                fail("ListLeases: bad reply");
        while ((r = sd_bus_message_skip(reply, "(ottb)")) > 0)
                n++;
        if (r < 0)
                fail("ListLeases: bad reply");
        return n;
}

typedef struct MemResult {
        MemInfo before, after;
        size_t live;
        double lease_per_sec;  /* making the live leases, 64 in flight */
        double free_ms;        /* from disconnect until iovad has freed them all */
        CpuUse cpu;            /* making them */
        double bytes_per_lease;
} MemResult;

static MemResult measure_memory(Bench *b) {
        const Params *p = b->p;
        sd_bus *bus = connect_bus();
        size_t counted, warm = 256;
        char **leases = calloc(warm, sizeof(char *));
        uint64_t t0, deadline;
        MemResult res = { .live = p->live, .cpu.daemon_serves = true };

        if (!leases)
                fail("out of memory");
        /*
         * Warm up on the same connection, so its client record and the bus
         * queues exist before the first reading; release again, so only a
         * few freed leases are there for the measured ones to reuse.
         */
        (void) run_async(b, bus, CALL_LEASE, warm, leases, NULL);
        (void) run_async(b, bus, CALL_RELEASE, warm, leases, NULL);
        for (size_t i = 0; i < warm; i++)
                free(leases[i]);
        free(leases);

        res.before = read_mem(b->daemon_pid);
        res.lease_per_sec = run_async(b, bus, CALL_LEASE, p->live, NULL, &res.cpu);
        res.after = read_mem(b->daemon_pid);
        counted = count_leases(b);
        if (counted != p->live)
                fail("iovad lists %zu leases, %zu expected", counted, p->live);
        res.bytes_per_lease = ((double) res.after.anonymous_kb - (double) res.before.anonymous_kb) * 1024.0 /
                              (double) p->live;

        /* Leases die with their client. */
        t0 = now_ns();
        bus = sd_bus_flush_close_unref(bus);
        deadline = t0 + STALL_TIMEOUT_NS;
        while ((counted = count_leases(b)) != 0) {
                check_interrupted();
                if (now_ns() > deadline)
                        fail("iovad still has %zu leases %" PRIu64 " s after their client left", counted,
                             STALL_TIMEOUT_NS / NSEC_PER_SEC);
                (void) usleep(5 * 1000);
        }
        res.free_ms = (double) (now_ns() - t0) / 1e6;
        return res;
}

/* ---- restore at scale ---- */

typedef struct RestoreResult {
        size_t clients, leases;
        double make_per_sec;   /* making them, 64 in flight on each connection in turn */
        double ready_ms;       /* from the restarted iovad's fork to its READY=1 */
        double listed_ms;      /* ... to ListLeases answering with every lease */
        MemInfo fresh, live, restored;
        double live_bytes, restored_bytes;  /* Anonymous per lease, over the fresh iovad's */
} RestoreResult;

static int notify_socket(Bench *b) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        snprintf(b->notify, sizeof(b->notify), "%s/notify.sock", b->dir);
        if (strlen(b->notify) >= sizeof(sa.sun_path))
                fail("%s: path too long for a socket", b->notify);
        memcpy(sa.sun_path, b->notify, strlen(b->notify) + 1);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                fail("notify socket %s: %m", b->notify);
        return fd;
}

/* Reads the notify socket until READY=1; the time it came, in ns. */
static uint64_t wait_ready(Bench *b, int fd) {
        uint64_t deadline = now_ns() + STARTUP_TIMEOUT_NS;

        for (;;) {
                char buf[4096];
                struct timeval tv = { .tv_usec = 100 * 1000 };
                ssize_t n;

                check_interrupted();
                check_daemon_alive(b);
                if (now_ns() > deadline) {
                        _cleanup_(freep) char *tail = file_tail(b->iovad_log, 4000);
                        fail("no READY=1 from iovad within %" PRIu64 " s; its log ends:\n%s",
                             STARTUP_TIMEOUT_NS / NSEC_PER_SEC, tail);
                }
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                n = recv(fd, buf, sizeof(buf) - 1, 0);
                if (n < 0)
                        continue;
                buf[n] = 0;
                for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                        if (strcmp(l, "READY=1") == 0)
                                return now_ns();
        }
}

static void kill_daemon(Bench *b) {
        int status;

        (void) kill(b->daemon_pid, SIGKILL);
        (void) waitpid(b->daemon_pid, &status, 0);
        b->daemon_pid = 0;
}

static RestoreResult measure_restore(Bench *b) {
        const Params *p = b->p;
        RestoreResult res = { .clients = p->restore_clients, .leases = p->restore_clients * p->restore_per_client };
        sd_bus **clients = calloc(res.clients, sizeof(sd_bus *));
        char run[PATH_MAX + 32], cmd[2 * PATH_MAX];
        struct rlimit rl;
        uint64_t t0, t1;
        size_t counted;
        int fd;

        if (!clients)
                fail("out of memory");
        /* One fd per client connection. */
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                fail("getrlimit: %m");
        if (rl.rlim_cur < res.clients + 256) {
                rl.rlim_cur = rl.rlim_max = res.clients + 1024;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        fail("cannot raise RLIMIT_NOFILE to %zu for %zu clients: %m", res.clients + 1024,
                             res.clients);
        }

        /* A fresh iovad: the container from the state file, no leases (the runtime directory goes). */
        fd = notify_socket(b);
        kill_daemon(b);
        snprintf(run, sizeof(run), "%s/run", b->dir);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", run);
        if (system(cmd) != 0)
                fail("cannot remove %s", run);
        start_daemon(b);
        (void) wait_ready(b, fd);
        if (count_leases(b) != 0)
                fail("a fresh iovad lists leases");
        res.fresh = read_mem(b->daemon_pid);

        t0 = now_ns();
        for (size_t i = 0; i < res.clients; i++) {
                clients[i] = connect_bus();
                (void) run_async(b, clients[i], CALL_LEASE, p->restore_per_client, NULL, NULL);
        }
        t1 = now_ns();
        res.make_per_sec = (double) res.leases * 1e9 / (double) (t1 - t0);
        res.live = read_mem(b->daemon_pid);
        counted = count_leases(b);
        if (counted != res.leases)
                fail("iovad lists %zu leases, %zu expected", counted, res.leases);

        /* The crash: every client stays connected. */
        kill_daemon(b);
        t0 = now_ns();
        start_daemon(b);
        res.ready_ms = (double) (wait_ready(b, fd) - t0) / 1e6;
        for (;;) {
                counted = count_leases(b);
                if (counted == res.leases)
                        break;
                if (counted > res.leases || now_ns() - t0 > STALL_TIMEOUT_NS)
                        fail("the restarted iovad lists %zu leases, %zu expected", counted, res.leases);
                (void) usleep(1000);
        }
        res.listed_ms = (double) (now_ns() - t0) / 1e6;
        res.restored = read_mem(b->daemon_pid);
        res.live_bytes = ((double) res.live.anonymous_kb - (double) res.fresh.anonymous_kb) * 1024.0 /
                         (double) res.leases;
        res.restored_bytes = ((double) res.restored.anonymous_kb - (double) res.fresh.anonymous_kb) * 1024.0 /
                             (double) res.leases;

        for (size_t i = 0; i < res.clients; i++)
                clients[i] = sd_bus_flush_close_unref(clients[i]);
        free(clients);
        close(fd);
        b->notify[0] = 0;
        return res;
}

/* ---- report ---- */

/* 12345.6 -> "12,346" */
static const char *group(char buf[static 32], double v) {
        char digits[32];
        size_t n, k = 0;

        snprintf(digits, sizeof(digits), "%.0f", v);
        n = strlen(digits);
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && (n - i) % 3 == 0 && digits[i - 1] != '-')
                        buf[k++] = ',';
                buf[k++] = digits[i];
        }
        buf[k] = 0;
        return buf;
}

static void print_machine(void) {
        _cleanup_(fclosep) FILE *f = fopen("/proc/cpuinfo", "re");
        _cleanup_(freep) char *line = NULL;
        char model[256] = "unknown", dbus_version[128] = "unknown";
        struct utsname u;
        size_t n = 0;
        FILE *v;

        while (f && getline(&line, &n, f) > 0)
                if (strncmp(line, "model name", 10) == 0) {
                        const char *colon = strchr(line, ':');
                        if (colon) {
                                snprintf(model, sizeof(model), "%s", colon + 2);
                                model[strcspn(model, "\n")] = 0;
                        }
                        break;
                }
        v = popen("dbus-daemon --version 2>/dev/null", "re");
        if (v) {
                if (fgets(dbus_version, sizeof(dbus_version), v))
                        dbus_version[strcspn(dbus_version, "\n")] = 0;
                (void) pclose(v);
        }
        (void) uname(&u);
        printf("machine: %s, %ld CPUs online, Linux %s\n", model, sysconf(_SC_NPROCESSORS_ONLN), u.release);
        printf("bus:     %s (private, type system)\n", dbus_version);
}

static void print_load(const char *when) {
        double l[3];

        if (getloadavg(l, 3) == 3)
                printf("load average %s: %.2f %.2f %.2f\n", when, l[0], l[1], l[2]);
}

static const char *verdict(bool met) {
        return met ? "met" : "**NOT met**";
}

static void print_cpu_row(const char *what, const CpuUse *u, double *max_others) {
        double n = (double) u->calls * 1e3; /* ns -> µs per call */
        uint64_t server = u->daemon_serves ? u->sum.daemon : u->sum.ping;

        printf("| %s | %.1f | %.1f | %.1f | %.2f |\n", what, (double) u->sum.self / n, (double) u->sum.bus / n,
               (double) server / n, cpu_others(u));
        if (cpu_others(u) > *max_others)
                *max_others = cpu_others(u);
}

static void print_cpu(const SyncResult *s, const AsyncResult *a, const MemResult *m) {
        double others = 0;
        char what[128];

        printf("\nCPU time per call (µs), by process, and the load of everything else on the machine meanwhile:\n\n");
        printf("| calls | client | dbus-daemon | server (iovad or ping) | other processes (CPUs) |\n");
        printf("|---|---:|---:|---:|---:|\n");
        print_cpu_row("sync Ping", &s->ping_cpu, &others);
        print_cpu_row("sync Lease and Release", &s->lease_cpu, &others);
        snprintf(what, sizeof(what), "%d in flight: Ping", WINDOW);
        print_cpu_row(what, &a->ping_cpu, &others);
        snprintf(what, sizeof(what), "%d in flight: Lease", WINDOW);
        print_cpu_row(what, &a->lease_cpu, &others);
        snprintf(what, sizeof(what), "%d in flight: Release", WINDOW);
        print_cpu_row(what, &a->release_cpu, &others);
        snprintf(what, sizeof(what), "%d in flight: Lease, to %zu live", WINDOW, m->live);
        print_cpu_row(what, &m->cpu, &others);
        /* Two CPUs hold the client, the bus and the server already: a third of one more shows. */
        if (others > 0.25)
                printf("\nOther processes kept up to %.2f CPUs busy during a measurement: these figures are not clean.\n",
                       others);
}

static void print_restore(const RestoreResult *r) {
        char x[32], y[32], z[32];

        printf("\nRestore at scale: %s connection leases of %s connected clients (made at %s leases/s), iovad\n"
               "SIGKILLed and started again, every client still connected.\n\n",
               group(x, (double) r->leases), group(y, (double) r->clients), group(z, r->make_per_sec));
        printf("| measurement | figure | target | verdict |\n");
        printf("|---|---:|---|---|\n");
        printf("| start to READY=1 | %.0f ms | ≤ %.0f ms | %s |\n", r->ready_ms, TARGET_RESTORE_READY_MS,
               verdict(r->ready_ms <= TARGET_RESTORE_READY_MS));
        printf("| start to ListLeases listing all | %.0f ms | | |\n", r->listed_ms);
        printf("| memory per restored lease (Anonymous) | %.0f B | ≤ %.0f B | %s |\n", r->restored_bytes,
               TARGET_BYTES_PER_LEASE, verdict(r->restored_bytes <= TARGET_BYTES_PER_LEASE));
        printf("| memory per lease before the kill (Anonymous) | %.0f B | | |\n", r->live_bytes);
        printf("iovad Anonymous: fresh %s kB, with the leases %s kB, restored %s kB.\n",
               group(x, (double) r->fresh.anonymous_kb), group(y, (double) r->live.anonymous_kb),
               group(z, (double) r->restored.anonymous_kb));
}

static void print_report(const Bench *b, const SyncResult *s, const AsyncResult *a, const MemResult *m) {
        char x[32], y[32], r0[32], r1[32], a0[32], a1[32], hwm[32];
        double p50_ratio = s->lease.p50_us / s->ping.p50_us;
        double async_ratio = a->lease / a->ping;
        double mem_pd = ((double) m->after.private_dirty_kb - (double) m->before.private_dirty_kb) * 1024.0 /
                        (double) m->live;

        printf("\n%zu synchronous calls of each (Lease(4096, {}) then Release(), in %zu blocks alternating with Ping());\n"
               "%zu calls of each with %d in flight (median of %u runs); %zu live leases for memory.\n\n",
               b->p->calls, b->p->blocks, b->p->calls, WINDOW, b->p->async_runs, m->live);

        printf("| measurement | iovad | ping (bare sd-bus) | iovad / ping | target | verdict |\n");
        printf("|---|---:|---:|---:|---|---|\n");
        printf("| sync Lease p50 / p99 | %.0f / %.0f µs | %.0f / %.0f µs | %.2f× | p50 ≤ %.1f× ping | %s |\n",
               s->lease.p50_us, s->lease.p99_us, s->ping.p50_us, s->ping.p99_us, p50_ratio, TARGET_LEASE_P50_RATIO,
               verdict(p50_ratio <= TARGET_LEASE_P50_RATIO));
        printf("| sync Lease calls/s | %s | %s | %.2f | | |\n", group(x, s->lease.per_sec), group(y, s->ping.per_sec),
               s->lease.per_sec / s->ping.per_sec);
        printf("| sync Release p50 / p99 | %.0f / %.0f µs | %.0f / %.0f µs | %.2f× | | |\n", s->release.p50_us,
               s->release.p99_us, s->ping.p50_us, s->ping.p99_us, s->release.p50_us / s->ping.p50_us);
        printf("| sync Release calls/s | %s | %s | %.2f | | |\n", group(x, s->release.per_sec),
               group(y, s->ping.per_sec), s->release.per_sec / s->ping.per_sec);
        printf("| %d in flight: Lease calls/s | %s | %s | %.2f | ≥ %.1f× ping | %s |\n", WINDOW, group(x, a->lease),
               group(y, a->ping), async_ratio, TARGET_ASYNC_RATIO, verdict(async_ratio >= TARGET_ASYNC_RATIO));
        printf("| %d in flight: Release calls/s | %s | %s | %.2f | | |\n", WINDOW, group(x, a->release),
               group(y, a->ping), a->release / a->ping);
        printf("| memory per live lease (Anonymous) | %.0f B | | | ≤ %.0f B | %s |\n", m->bytes_per_lease,
               TARGET_BYTES_PER_LEASE, verdict(m->bytes_per_lease <= TARGET_BYTES_PER_LEASE));
        printf("| memory per live lease (Private_Dirty) | %.0f B | | | | |\n", mem_pd);
        printf("\nReference (bare ping on this machine class with dbus-daemon): sync %s; %d in flight %s.\n",
               REF_SYNC_PING, WINDOW, REF_ASYNC_PING);
        printf("iovad with %zu live leases: Rss %s → %s kB, Anonymous %s → %s kB, VmHWM %s kB.\n", m->live,
               group(r0, (double) m->before.rss_kb), group(r1, (double) m->after.rss_kb),
               group(a0, (double) m->before.anonymous_kb), group(a1, (double) m->after.anonymous_kb),
               group(hwm, (double) m->after.vm_hwm_kb));
        printf("Making them (%d in flight): %s leases/s; iovad freed them all %.0f ms after their client left.\n",
               WINDOW, group(x, m->lease_per_sec), m->free_ms);
        print_cpu(s, a, m);
}

/* Opens iovad's direct connection over the bus. */
static sd_bus *open_direct(Bench *b) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int fd, copy;

        call_or_fail(b, b->bus, IOVAD_BUS_NAME, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, "OpenDirectConnection", &reply,
                     "a{sv}", 0);
        if (sd_bus_message_read(reply, "h", &fd) < 0)
                fail("OpenDirectConnection: bad reply");
        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                fail("dup: %m");
        return connect_p2p(copy);
}

static void print_direct(const SyncResult *bs, const AsyncResult *ba, const SyncResult *s, const AsyncResult *a) {
        char x[32], y[32], z[32];
        double p50_ratio = s->lease.p50_us / s->ping.p50_us;
        double async_ratio = a->lease / a->ping;

        printf("\nDirect connection (OpenDirectConnection: iovad peer-to-peer on a socketpair) against a bare\n"
               "peer-to-peer sd-bus ping server, with the bus's figures of this run beside them:\n\n");
        printf("| measurement | iovad direct | p2p ping | direct / p2p ping | target | verdict | iovad over the bus |\n");
        printf("|---|---:|---:|---:|---|---|---:|\n");
        printf("| sync Lease p50 / p99 | %.1f / %.1f µs | %.1f / %.1f µs | %.2f× | p50 ≤ %.1f× p2p ping | %s | %.0f / %.0f µs |\n",
               s->lease.p50_us, s->lease.p99_us, s->ping.p50_us, s->ping.p99_us, p50_ratio, TARGET_DIRECT_P50_RATIO,
               verdict(p50_ratio <= TARGET_DIRECT_P50_RATIO), bs->lease.p50_us, bs->lease.p99_us);
        printf("| sync Release p50 / p99 | %.1f / %.1f µs | %.1f / %.1f µs | %.2f× | | | %.0f / %.0f µs |\n",
               s->release.p50_us, s->release.p99_us, s->ping.p50_us, s->ping.p99_us, s->release.p50_us / s->ping.p50_us,
               bs->release.p50_us, bs->release.p99_us);
        printf("| %d in flight: Lease calls/s | %s | %s | %.2f | ≥ %.1f× p2p ping | %s | %s |\n", WINDOW,
               group(x, a->lease), group(y, a->ping), async_ratio, TARGET_DIRECT_ASYNC_RATIO,
               verdict(async_ratio >= TARGET_DIRECT_ASYNC_RATIO), group(z, ba->lease));
        printf("| %d in flight: Release calls/s | %s | %s | %.2f | | | %s |\n", WINDOW, group(x, a->release),
               group(y, a->ping), a->release / a->ping, group(z, ba->release));
        printf("| bus ping (for scale) | | | | | | sync p50 %.0f µs, %s/s in flight |\n", bs->ping.p50_us,
               group(x, ba->ping));
        printf("Direct Lease p50 is %.1f× below the bus's; 64 in flight %.1f× above.\n",
               bs->lease.p50_us / s->lease.p50_us, a->lease / ba->lease);
        printf("\nCPU time per call (µs) on the direct connection:\n\n");
        printf("| calls | client | server (iovad or p2p ping) | other processes (CPUs) |\n");
        printf("|---|---:|---:|---:|\n");
        const struct { const char *what; const CpuUse *u; } rows[] = {
                { "sync p2p Ping", &s->ping_cpu },
                { "sync direct Lease and Release", &s->lease_cpu },
                { "64 in flight: p2p Ping", &a->ping_cpu },
                { "64 in flight: direct Lease", &a->lease_cpu },
                { "64 in flight: direct Release", &a->release_cpu },
        };
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                const CpuUse *u = rows[i].u;
                double n = (double) u->calls * 1e3;
                uint64_t server = u->daemon_serves ? u->sum.daemon : u->sum.ping;
                printf("| %s | %.1f | %.1f | %.2f |\n", rows[i].what, (double) u->sum.self / n, (double) server / n,
                       cpu_others(u));
        }
}

static void help(void) {
        printf("Usage: bus-bench [--quick] [--restore-only|--no-restore] [BUILD_DIR]\n"
               "Times iovad's Lease and Release over a private dbus-daemon against a bare sd-bus ping\n"
               "service, and over a direct connection against a bare peer-to-peer ping, measures iovad's memory per live lease and a restore of many clients' leases\n"
               "after a crash. Runs as root.\n\n"
               "  --quick     %zu calls instead of %zu, %zu live leases instead of %zu, one async run\n"
               "  --restore-only  only the restore at scale; --no-restore: all but it (so that a\n"
               "              profiling wrapper sees iovad exit on SIGTERM, not SIGKILL)\n"
               "  BUILD_DIR   where daemon/iovad is (default $IOVAD_BUILD, else the build directory\n"
               "              this program is in); profiles from $IOVAD_PROFILES_DIR, else\n"
               "              BUILD_DIR/../daemon/profiles\n\n"
               "BUS_BENCH_DAEMON_WRAPPER runs iovad under a command (e.g. \"valgrind --tool=callgrind\");\n"
               "BUS_BENCH_KEEP keeps the temporary directory (logs). Exit status: 0 whether or not the\n"
               "targets are met, 1 when a call fails, 2 for a bad command line.\n",
               params_quick.calls, params_full.calls, params_quick.live, params_full.live);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "quick", no_argument, NULL, 'q' },
                { "restore-only", no_argument, NULL, 'R' },
                { "no-restore", no_argument, NULL, 'N' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        struct sigaction sa = { .sa_handler = on_signal };
        Bench b = { .p = &params_full, .p2p_fd = -1 };
        SyncResult s;
        AsyncResult a, da;
        SyncResult ds;
        pid_t bus_ping;
        MemResult m;
        RestoreResult rr;
        bool calls = true, restore = true;
        int c;

        while ((c = getopt_long(argc, argv, "qh", options, NULL)) >= 0)
                switch (c) {
                case 'q':
                        b.p = &params_quick;
                        break;
                case 'R':
                        calls = false;
                        break;
                case 'N':
                        restore = false;
                        break;
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                default:
                        return 2;
                }
        if (argc - optind > 1) {
                fprintf(stderr, "bus-bench: too many arguments\n");
                return 2;
        }
        if (geteuid() != 0) {
                /* iovad's per-uid quotas (and the container's users) would make this a different benchmark. */
                fprintf(stderr, "bus-bench: run as root (root is exempt from iovad's lease quota)\n");
                return EXIT_FAILURE;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        find_paths(&b, optind < argc ? argv[optind] : NULL);

        cleanup_bench = &b;
        if (atexit(cleanup) != 0)
                fail("atexit failed");
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);

        printf("bus-bench (%s): iovad %s vs a bare sd-bus ping service\n", b.p->name, b.iovad);
        print_machine();
        print_load("at start");

        make_dir(&b);
        start_bus(&b);
        /* Fork the ping service before this process opens any connection. */
        start_ping(&b);
        start_p2p_ping(&b);
        start_daemon(&b);
        b.bus = connect_bus();
        wait_for_names(&b);
        setup_container(&b);

        if (calls) {
                /* Memory first, on a fresh daemon, so no freed leases are there to be reused. */
                m = measure_memory(&b);
                s = measure_sync(&b, b.bus, b.bus);
                a = measure_async(&b, b.bus, b.bus);

                /* The direct connection against the peer-to-peer ping, whose server takes the bus ping's place in the CPU figures. */
                b.p2p = connect_p2p(b.p2p_fd);
                b.p2p_fd = -1;
                b.direct = open_direct(&b);
                bus_ping = b.ping_pid;
                b.ping_pid = b.p2p_pid;
                ds = measure_sync(&b, b.p2p, b.direct);
                da = measure_async(&b, b.p2p, b.direct);
                b.ping_pid = bus_ping;
                b.direct = sd_bus_flush_close_unref(b.direct);

                /* Printed before the restore, whose thousand clients may fail on a bus with tighter limits. */
                print_report(&b, &s, &a, &m);
                print_direct(&s, &a, &ds, &da);
        }
        if (restore) {
                rr = measure_restore(&b);
                print_restore(&rr);
        }
        print_load("at end");

        cleanup();
        return EXIT_SUCCESS;
}
