/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdstore-supervisor --socket PATH --pid-file PATH -- COMMAND [ARG...]
 *
 * A service manager of one service, for the kernel tier: the parts of
 * systemd's protocol iovad relies on across a crash, and nothing more.
 * COMMAND runs with NOTIFY_SOCKET=PATH; what it sends there with FDSTORE=1
 * and FDNAME=NAME is kept (an fd store), FDSTOREREMOVE=1 with FDNAME=NAME
 * drops every fd of that name. When COMMAND dies of a signal or exits
 * non-zero, it is started again (Restart=on-failure) with the kept fds as
 * fds 3... and LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID, as systemd passes
 * its fd store; notifications sent before the death are read first. When
 * it exits 0 the supervisor flushes the store and exits 0, as systemd does
 * on a stop. Each start writes the pid to the pid file and a line to
 * stderr naming the fds it passes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "../same-open-file.h"
#include <unistd.h>

#define STORE_MAX 1024
#define NAME_MAX_LEN 255 /* systemd's limit for FDNAME= */
#define RESTARTS_MAX 5

typedef struct Stored {
        char name[NAME_MAX_LEN + 1];
        int fd;
} Stored;

static Stored store[STORE_MAX];
static size_t n_store;

static void drop(const char *name) {
        for (size_t i = 0; i < n_store;)
                if (strcmp(store[i].name, name) == 0) {
                        close(store[i].fd);
                        store[i] = store[--n_store];
                } else
                        i++;
}

/* Reads every notification waiting on @sock. */
static void drain(int sock) {
        for (;;) {
                char text[4096], control[CMSG_SPACE(sizeof(int) * 253)];
                struct iovec iov = { .iov_base = text, .iov_len = sizeof(text) - 1 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                                     .msg_controllen = sizeof(control) };
                int fds[253];
                size_t n_fds = 0;
                ssize_t k = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

                if (k < 0)
                        return;
                text[k] = '\0';
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                                size_t m = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                                if (n_fds + m > sizeof(fds) / sizeof(fds[0]))
                                        m = sizeof(fds) / sizeof(fds[0]) - n_fds;
                                memcpy(fds + n_fds, CMSG_DATA(c), m * sizeof(int));
                                n_fds += m;
                        }

                bool keep = false, remove = false;
                char name[NAME_MAX_LEN + 1] = "stored";
                for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                        if (strcmp(line, "FDSTORE=1") == 0)
                                keep = true;
                        else if (strcmp(line, "FDSTOREREMOVE=1") == 0)
                                remove = true;
                        else if (strncmp(line, "FDNAME=", 7) == 0)
                                snprintf(name, sizeof(name), "%s", line + 7);
                if (remove)
                        drop(name);
                for (size_t i = 0; i < n_fds; i++) {
                        if (!keep || n_store == STORE_MAX) {
                                if (keep)
                                        fprintf(stderr, "fdstore-supervisor: store full, %s not kept\n", name);
                                close(fds[i]);
                                continue;
                        }
                        /* As systemd: an fd of an open file the store holds already is dropped. */
                        bool held = false;
                        for (size_t s = 0; s < n_store && !held; s++)
                                held = same_open_file(store[s].fd, fds[i]);
                        if (held) {
                                close(fds[i]);
                                continue;
                        }
                        snprintf(store[n_store].name, sizeof(store[n_store].name), "%s", name);
                        store[n_store++].fd = fds[i];
                }
        }
}

static pid_t start(char **argv, const char *socket_path, const char *pid_file) {
        pid_t pid;

        fprintf(stderr, "fdstore-supervisor: starting %s with %zu stored fd%s:", argv[0], n_store,
                n_store == 1 ? "" : "s");
        for (size_t i = 0; i < n_store; i++)
                fprintf(stderr, " %s", store[i].name);
        fputc('\n', stderr);

        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                char n[16], p[16];
                static char names[STORE_MAX * (NAME_MAX_LEN + 1)];
                int high[STORE_MAX];

                /* Out of the way first, then into place at 3...: dup2() clears close-on-exec. */
                for (size_t i = 0; i < n_store; i++) {
                        high[i] = fcntl(store[i].fd, F_DUPFD_CLOEXEC, (int) (3 + n_store));
                        if (high[i] < 0)
                                _exit(127);
                }
                names[0] = '\0';
                for (size_t i = 0; i < n_store; i++) {
                        if (dup2(high[i], (int) (3 + i)) < 0)
                                _exit(127);
                        if (i > 0)
                                strcat(names, ":");
                        strcat(names, store[i].name);
                }
                snprintf(n, sizeof(n), "%zu", n_store);
                snprintf(p, sizeof(p), "%d", (int) getpid());
                if (n_store > 0) {
                        setenv("LISTEN_FDS", n, 1);
                        setenv("LISTEN_FDNAMES", names, 1);
                        setenv("LISTEN_PID", p, 1);
                } else {
                        unsetenv("LISTEN_FDS");
                        unsetenv("LISTEN_FDNAMES");
                        unsetenv("LISTEN_PID");
                }
                setenv("NOTIFY_SOCKET", socket_path, 1);
                execvp(argv[0], argv);
                _exit(127);
        }
        FILE *f = fopen(pid_file, "we");
        if (f) {
                fprintf(f, "%d\n", (int) pid);
                fclose(f);
        }
        return pid;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "pid-file", required_argument, NULL, 'p' },
                {}
        };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *socket_path = NULL, *pid_file = NULL;
        unsigned restarts = 0;
        int c, sock, status;
        pid_t pid;

        while ((c = getopt_long(argc, argv, "+s:p:", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'p':
                        pid_file = optarg;
                        break;
                default:
                        return 2;
                }
        if (!socket_path || !pid_file || optind >= argc || strlen(socket_path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: fdstore-supervisor --socket PATH --pid-file PATH -- COMMAND [ARG...]\n");
                return 2;
        }
        strcpy(sa.sun_path, socket_path);
        (void) unlink(socket_path);
        sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (sock < 0 || bind(sock, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("fdstore-supervisor: notify socket");
                return 1;
        }
        /* The fds iovad sends must be receivable: systemd's socket has SO_PASSCRED, fds need nothing more. */
        signal(SIGTERM, SIG_IGN); /* a stop is for the service; the supervisor follows its exit */

        pid = start(argv + optind, socket_path, pid_file);
        if (pid < 0)
                return 1;
        for (;;) {
                struct pollfd pfd = { .fd = sock, .events = POLLIN };
                pid_t r;

                (void) poll(&pfd, 1, 50);
                drain(sock);
                r = waitpid(pid, &status, WNOHANG);
                if (r == 0)
                        continue;
                if (r < 0)
                        return 1;
                /* What it said before it went comes first, as systemd orders it. */
                drain(sock);
                if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                        fprintf(stderr, "fdstore-supervisor: %d exited 0: flushing %zu stored fd%s\n", (int) pid,
                                n_store, n_store == 1 ? "" : "s");
                        while (n_store > 0)
                                close(store[--n_store].fd);
                        return 0;
                }
                fprintf(stderr, "fdstore-supervisor: %d %s %d: restarting it\n", (int) pid,
                        WIFSIGNALED(status) ? "died of signal" : "exited", WIFSIGNALED(status) ? WTERMSIG(status)
                                                                                                : WEXITSTATUS(status));
                if (++restarts > RESTARTS_MAX) {
                        fprintf(stderr, "fdstore-supervisor: restarted %u times, giving up\n", RESTARTS_MAX);
                        return 1;
                }
                pid = start(argv + optind, socket_path, pid_file);
                if (pid < 0)
                        return 1;
        }
}
