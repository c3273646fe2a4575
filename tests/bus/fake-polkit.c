/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A stand-in for polkitd on the bus tier's private bus: owns
 * org.freedesktop.PolicyKit1 and answers CheckAuthorization by the
 * caller's uid, as the bus reports it for the subject's bus name.
 *
 *   fake-polkit LOG [allow=UID]... [hang=UID]...
 *
 * allow: authorized; hang: never answered (a stuck polkit); anyone else:
 * not authorized. Every question is appended to LOG as one line:
 *   uid=1000 action=org.iovad1.manage-containers flags=0 details=container=c1,
 * and "ready" is written once the name is owned.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#define MAX_RULES 16

static unsigned allow[MAX_RULES], hang[MAX_RULES];
static size_t n_allow, n_hang;
static FILE *log_file;
static sd_bus_message *held[256];
static size_t n_held;

static int in(const unsigned *l, size_t n, unsigned uid) {
        for (size_t i = 0; i < n; i++)
                if (l[i] == uid)
                        return 1;
        return 0;
}

static int method_check(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        __attribute__((cleanup(sd_bus_creds_unrefp))) sd_bus_creds *creds = NULL;
        const char *kind, *key, *name = NULL, *action, *k, *v, *cancel;
        char details[512] = "";
        uint32_t flags;
        uid_t uid;
        int r;

        r = sd_bus_message_enter_container(m, 'r', "sa{sv}");
        if (r >= 0)
                r = sd_bus_message_read(m, "s", &kind);
        if (r >= 0)
                r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = sd_bus_message_read(m, "s", &key);
                if (r >= 0 && strcmp(key, "name") == 0)
                        r = sd_bus_message_read(m, "v", "s", &name);
                else if (r >= 0)
                        r = sd_bus_message_skip(m, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r >= 0)
                r = sd_bus_message_read(m, "s", &action);
        if (r >= 0)
                r = sd_bus_message_enter_container(m, 'a', "{ss}");
        while (r >= 0 && (r = sd_bus_message_read(m, "{ss}", &k, &v)) > 0) {
                size_t len = strlen(details);
                snprintf(details + len, sizeof(details) - len, "%s=%s,", k, v);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r >= 0)
                r = sd_bus_message_read(m, "us", &flags, &cancel);
        if (r < 0)
                return r;
        if (strcmp(kind, "system-bus-name") != 0 || !name)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "subject kind %s is not handled", kind);
        r = sd_bus_get_name_creds(sd_bus_message_get_bus(m), name, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        fprintf(log_file, "uid=%u action=%s flags=%u details=%s\n", (unsigned) uid, action, flags, details);
        fflush(log_file);
        if (in(hang, n_hang, uid)) {
                if (n_held < sizeof(held) / sizeof(held[0]))
                        held[n_held++] = sd_bus_message_ref(m);
                return 1;
        }
        return sd_bus_reply_method_return(m, "(bba{ss})", in(allow, n_allow, uid), 0, 0);
}

static const sd_bus_vtable authority_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("CheckAuthorization", "(sa{sv})sa{ss}us", "(bba{ss})", method_check, 0),
        SD_BUS_VTABLE_END,
};

int main(int argc, char **argv) {
        sd_bus *bus = NULL;
        int r;

        if (argc < 2) {
                fprintf(stderr, "usage: fake-polkit LOG [allow=UID]... [hang=UID]...\n");
                return 2;
        }
        log_file = fopen(argv[1], "ae");
        if (!log_file)
                return 1;
        for (int i = 2; i < argc; i++) {
                unsigned uid;
                if (sscanf(argv[i], "allow=%u", &uid) == 1 && n_allow < MAX_RULES)
                        allow[n_allow++] = uid;
                else if (sscanf(argv[i], "hang=%u", &uid) == 1 && n_hang < MAX_RULES)
                        hang[n_hang++] = uid;
                else {
                        fprintf(stderr, "fake-polkit: bad rule '%s'\n", argv[i]);
                        return 2;
                }
        }
        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/PolicyKit1/Authority",
                                             "org.freedesktop.PolicyKit1.Authority", authority_vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, "org.freedesktop.PolicyKit1", 0);
        if (r < 0) {
                fprintf(stderr, "fake-polkit: %s\n", strerror(-r));
                return 1;
        }
        fprintf(log_file, "ready\n");
        fflush(log_file);
        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return 1;
                if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
                        return 1;
        }
}
