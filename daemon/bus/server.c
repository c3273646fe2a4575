/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iovad-bus.h"
#include "util/log.h"
#include "bus/server.h"

/*
 * The bus glue's tracking of one Client's connection. Departures come
 * from one match for every unique name the bus drops (server_new()), not
 * from an sd_bus_track per client: each of those is a match rule of its
 * own, which dbus-daemon limits to 512 a connection on the system bus
 * (past that the bus refuses the AddMatch and sd-bus drops the
 * connection), and a synchronous GetNameOwner round trip per new client.
 */
typedef struct ClientTrack {
        Server *server;
        Client *client;
        sd_event_source *gone;   /* deferred release once the peer left */
        bool listed;             /* release_departed_clients(): the bus still has it */
} ClientTrack;

/* Every unique name the bus drops: arg0 the name, arg2 (the new owner) empty. */
#define MATCH_NAME_GONE                                                                                     \
        "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"                          \
        "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg2=''"

/*
 * One direct connection: iovad's end of the socketpair, served as a
 * peer-to-peer sd-bus server, and the Client its leases belong to, named
 * "direct-PID.N" (never a bus name, so that a restarted iovad, which
 * finds no such name on the bus, releases its journaled leases as those
 * of a client that left while it was away).
 */
#define DIRECT_CLIENT_PREFIX "direct-"

struct DirectConn {
        Server *server;
        sd_bus *bus;
        uid_t uid;               /* who opened it: the authority for every call on it */
        Client *client;
        ClientTrack *track;      /* the client's userdata */
        sd_event_source *gone;   /* deferred close once the peer hung up */
        DirectConn *prev, *next;
};

static void track_free(ClientTrack *t) {
        if (!t)
                return;
        t->client->userdata = NULL;
        sd_event_source_disable_unref(t->gone);
        free(t);
}

static int on_client_gone_deferred(sd_event_source *source, void *userdata) {
        ClientTrack *t = userdata;
        Server *s = t->server;
        Client *c = t->client;
        Container *changed[64];
        size_t n;

        track_free(t);
        n = manager_client_gone(s->manager, c, changed, ELEMENTSOF(changed));
        /* Their mappings gave DMA entries back. */
        for (size_t i = 0; i < n; i++)
                bus_emit_container_changed(s, changed[i], "DmaMappingsAvailable", NULL);
        return 0;
}

static int client_left(ClientTrack *t) {
        /*
         * Releasing leases unmaps DMA and emits signals; do it from a defer
         * source rather than inside sd-bus's tracking callback.
         */
        if (t->gone)
                return 0;
        return sd_event_add_defer(t->server->event, &t->gone, on_client_gone_deferred, t);
}

static int on_name_gone(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Server *s = userdata;
        const char *name, *old_owner, *new_owner;
        Client *c;
        int r;

        r = sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner);
        if (r < 0 || name[0] != ':' || new_owner[0] != 0)
                return 0;
        c = manager_find_client(s->manager, name);
        if (!c || !c->userdata)
                return 0;
        r = client_left(c->userdata);
        if (r < 0)
                log_error_f(LOG_FIELDS(.error = r), "Cannot release the leases of %s, which left the bus: %s", name,
                            strerror(-r));
        return 0;
}

static int track_client(Server *s, Client *c) {
        ClientTrack *t;

        if (c->userdata)
                return 0;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->server = s;
        t->client = c;
        c->userdata = t;
        return 0;
}

static DirectConn *direct_of_bus(Server *s, sd_bus *bus) {
        /* Few of them (DIRECT_MAX): a walk costs less than the call's parsing. */
        for (DirectConn *d = s->direct; d; d = d->next)
                if (d->bus == bus)
                        return d;
        return NULL;
}

bool server_is_direct(Server *s, sd_bus_message *m) {
        return sd_bus_message_get_bus(m) != s->bus;
}

const char *server_caller_name(sd_bus_message *m) {
        /* A direct connection is peer-to-peer: its messages carry no sender. */
        return sd_bus_message_get_sender(m) ?: "a direct connection";
}

int server_get_client(Server *s, sd_bus_message *m, uid_t uid, Client **ret) {
        const char *sender = sd_bus_message_get_sender(m);
        Client *c;
        int r;

        if (server_is_direct(s, m)) {
                DirectConn *d = direct_of_bus(s, sd_bus_message_get_bus(m));
                if (!d)
                        return -EBADMSG;
                if (d->gone)
                        return -ENOTCONN;
                *ret = d->client;
                return 0;
        }

        /* A peer-to-peer connection has no unique name to tie leases to. */
        if (!sender)
                return -EBADMSG;
        r = manager_get_client(s->manager, sender, uid, &c);
        if (r < 0)
                return r;
        r = track_client(s, c);
        if (r < 0)
                return r;
        /* A client that left is only released from the defer source: until then it is not ours to use. */
        if (((ClientTrack *) c->userdata)->gone)
                return -ENOTCONN;
        *ret = c;
        return 0;
}

Server *server_of_bus(sd_bus *bus) {
        /*
         * Object handlers get the object as userdata; the slot of the
         * vtable they belong to carries the Server it was registered with.
         */
        return sd_bus_slot_get_userdata(sd_bus_get_current_slot(bus));
}

int server_caller_uid(Server *s, sd_bus_message *m, uid_t *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *sender = sd_bus_message_get_sender(m);
        Client *c;
        int r;

        if (server_is_direct(s, m)) {
                DirectConn *d = direct_of_bus(s, sd_bus_message_get_bus(m));
                /* The uid recorded when it was opened, whatever the socket's peer credentials say. */
                if (!d)
                        return -EPERM;
                *ret = d->uid;
                return 0;
        }
        c = sender ? manager_find_client(s->manager, sender) : NULL;

        /*
         * dbus-daemon attaches no credentials to messages, so asking is a
         * synchronous GetConnectionCredentials round trip through the bus,
         * which would double every call's cost. A unique name is never
         * reused and its connection's uid never changes, so a client we
         * track (one that holds leases) is asked once.
         */
        if (c) {
                *ret = c->uid;
                return 0;
        }
        /* What the bus says of the connection, never augmented from /proc (racy, so no basis for authorization). */
        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        if (sd_bus_creds_get_augmented_mask(creds) & SD_BUS_CREDS_EUID)
                return -EPERM;
        return sd_bus_creds_get_euid(creds, ret);
}

int bus_reply_error(sd_bus_error *error, const IovadError *e, int r) {
        const char *name = e ? iovad_error_name(e->code) : NULL;

        if (name)
                return sd_bus_error_set(error, name, e->message);
        /* Nothing named it: still a documented error, with the errno's text. */
        if (r == -ENOMEM)
                return sd_bus_error_set(error, SD_BUS_ERROR_NO_MEMORY, "Out of memory");
        return sd_bus_error_setf(error, IOVAD_ERROR_KERNEL, "%s", strerror(r < 0 ? -r : EIO));
}

int server_authorize(Server *s, sd_bus_message *m, const char *action, const char *const *details,
                     sd_bus_error *error) {
        uid_t uid;
        int r;

        r = server_caller_uid(s, m, &uid);
        if (r < 0)
                return r;
        /*
         * polkit judges a subject, here the caller's bus name; a direct
         * connection has none, and whoever holds its fd acts as its uid,
         * so polkit's answer for the process that opened it would be
         * handed to whoever holds the fd now. Privileged calls go over
         * the bus; root needs no polkit either way.
         */
        if (uid != 0 && server_is_direct(s, m))
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "uid %u may not do this on a direct connection: privileged calls, "
                                         "which polkit authorizes, go over the bus",
                                         (unsigned) uid);
        return auth_check(s->auth, m, uid, action, details, error);
}

int server_authorize_container_use(Server *s, Container *c, sd_bus_message *m, uid_t *ret_uid,
                                   sd_bus_error *error) {
        uid_t uid;
        int r;

        r = server_caller_uid(s, m, &uid);
        if (r < 0)
                return r;
        if (uid != 0 && !container_has_user(c, uid))
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "uid %u is not a user of container '%s'",
                                         (unsigned) uid, c->name);
        if (ret_uid)
                *ret_uid = uid;
        return 1;
}

/*
 * After every event: once sd-bus has no reply left in its write queue, all
 * of them are in the bus socket and reach their clients even if iovad dies
 * now, so the leases made so far count as answered.
 */
/* At most this many messages a turn of the event loop, so that timers and signals still get theirs. */
#define PROCESS_BATCH 64

static int on_post(sd_event_source *source, void *userdata) {
        Server *s = userdata;
        uint64_t queued = 0;

        /*
         * sd-bus's event source handles one message per turn of the event
         * loop, and each turn costs an epoll_wait() and the loop's own
         * bookkeeping, about as much as the call itself: with many calls in
         * flight, handle what has already arrived here.
         */
        for (unsigned i = 0; i < PROCESS_BATCH && sd_bus_is_open(s->bus); i++)
                if (sd_bus_process(s->bus, NULL) <= 0)
                        break;
        /* The same for every direct connection; they are freed only from defer sources, never in here. */
        for (DirectConn *d = s->direct, *next; d; d = next) {
                next = d->next;
                for (unsigned i = 0; i < PROCESS_BATCH && !d->gone && sd_bus_is_open(d->bus); i++)
                        if (sd_bus_process(d->bus, NULL) <= 0)
                                break;
        }

        if (s->manager->journaled == 0)
                return 0;
        if (sd_bus_get_n_queued_write(s->bus, &queued) < 0 || queued > 0)
                return 0;
        for (DirectConn *d = s->direct; d; d = d->next)
                if (!d->gone && (sd_bus_get_n_queued_write(d->bus, &queued) < 0 || queued > 0))
                        return 0;
        manager_leases_answered(s->manager);
        return 0;
}

/*
 * Lease and Release are most of iovad's calls, and sd-bus finds their
 * fallback vtables only after four hash lookups of the path and its
 * prefixes (about 2,800 instructions a call). This filter runs before
 * that lookup and hands these two calls, when they have the vtable's
 * signature and name an object of ours, to the same object lookup and
 * method handler the vtable has; sd-bus treats what a filter returns as it
 * treats what a method handler returns (an error set or a negative errno
 * becomes the error reply). Anything else (another call, a wrong
 * signature, an object that is not there) goes on to sd-bus's own
 * dispatch, which answers it as before.
 */
static int on_message(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Server *s = userdata;
        const char *member;

        if (!sd_bus_message_is_method_call(m, NULL, NULL))
                return 0;
        member = sd_bus_message_get_member(m);
        if (streq_ptr(member, "Lease"))
                return container_dispatch_lease(s, m, error);
        if (streq_ptr(member, "Release"))
                return lease_dispatch_release(s, m, error);
        return 0;
}

static int register_objects(Server *s, sd_bus *bus) {
        int r;

        r = sd_bus_add_filter(bus, NULL, on_message, s);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, IOVAD_MANAGER_PATH, IOVAD_MANAGER_IFACE, manager_vtable, s);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(bus, NULL, IOVAD_CONTAINER_PREFIX, IOVAD_CONTAINER_IFACE,
                                               container_vtable, container_object_find, s);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(bus, NULL, IOVAD_CONTAINER_PREFIX, container_node_enumerator, s);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(bus, NULL, IOVAD_LEASE_PREFIX, IOVAD_LEASE_IFACE, lease_vtable,
                                               lease_object_find, s);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(bus, NULL, IOVAD_LEASE_PREFIX, lease_node_enumerator, s);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(bus, NULL, IOVAD_DEVICE_PREFIX, IOVAD_DEVICE_IFACE, device_vtable,
                                               device_object_find, s);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(bus, NULL, IOVAD_DEVICE_PREFIX, device_node_enumerator, s);
        if (r >= 0)
                r = sd_bus_add_object_manager(bus, NULL, IOVAD_MANAGER_PATH);
        return r;
}

/*
 * After a restore: every client the journal named is tracked first, then
 * the bus is asked once which names exist, so that a client cannot slip
 * away unnoticed in between. Those gone lose their leases now.
 */
static void release_departed_clients(Server *s) {
        char **names = NULL;
        int r;

        for (Client *c = s->manager->clients, *next; c; c = next) {
                next = c->next;
                /* A direct connection ends with the iovad that served it. */
                if (strncmp(c->name, DIRECT_CLIENT_PREFIX, strlen(DIRECT_CLIENT_PREFIX)) == 0) {
                        log_info("Direct connection %s closed with the previous iovad: its %zu lease%s are released",
                                 c->name, c->n_leases, c->n_leases == 1 ? "" : "s");
                        (void) manager_client_gone(s->manager, c, NULL, 0);
                        continue;
                }
                r = track_client(s, c);
                if (r < 0)
                        log_error_f(LOG_FIELDS(.error = r), "Cannot track %s: %s", c->name, strerror(-r));
        }
        if (!s->manager->clients)
                return;
        r = sd_bus_list_names(s->bus, &names, NULL);
        if (r < 0) {
                log_error_f(LOG_FIELDS(.error = r), "Cannot list the bus's names, keeping every restored lease: %s", strerror(-r));
                return;
        }
        for (char **p = names; p && *p; p++) {
                Client *c = manager_find_client(s->manager, *p);
                if (c && c->userdata)
                        ((ClientTrack *) c->userdata)->listed = true;
        }
        for (Client *c = s->manager->clients, *next; c; c = next) {
                next = c->next;
                if (c->userdata && ((ClientTrack *) c->userdata)->listed)
                        continue;
                log_info("%s left the bus while iovad was away: its %zu lease%s are released", c->name, c->n_leases,
                         c->n_leases == 1 ? "" : "s");
                track_free(c->userdata);
                (void) manager_client_gone(s->manager, c, NULL, 0);
        }
        for (char **p = names; p && *p; p++)
                free(*p);
        free(names);
}


/* ---- direct connections ---- */

static DirectConn *direct_free(DirectConn *d) {
        Server *s;

        if (!d)
                return NULL;
        s = d->server;
        if (d->prev)
                d->prev->next = d->next;
        else if (s->direct == d)
                s->direct = d->next;
        if (d->next)
                d->next->prev = d->prev;
        s->n_direct--;
        sd_event_source_disable_unref(d->gone);
        if (d->track) {
                if (d->track->client)
                        d->track->client->userdata = NULL;
                free(d->track);
        }
        sd_bus_flush_close_unref(d->bus);
        free(d);
        return NULL;
}

static int on_direct_gone_deferred(sd_event_source *source, void *userdata) {
        DirectConn *d = userdata;
        Server *s = d->server;
        Client *c = d->client;
        Container *changed[64];
        size_t n;

        log_debug("Direct connection %s of uid %u closed", c->name, (unsigned) d->uid);
        direct_free(d);
        /* Its leases go as a bus client's do when it leaves the bus. */
        n = manager_client_gone(s->manager, c, changed, ELEMENTSOF(changed));
        for (size_t i = 0; i < n; i++)
                bus_emit_container_changed(s, changed[i], "DmaMappingsAvailable", NULL);
        return 0;
}

static int on_direct_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        DirectConn *d = userdata;

        /* Not inside sd-bus's dispatch of this very connection: from a defer source. */
        if (d->gone)
                return 0;
        return sd_event_add_defer(d->server->event, &d->gone, on_direct_gone_deferred, d);
}

int server_open_direct(Server *s, sd_bus_message *m, int *ret_fd, sd_bus_error *error) {
        _cleanup_close_ int theirs = -1;
        IovadError e = {};
        DirectConn *d = NULL;
        sd_id128_t id;
        size_t n_uid = 0;
        int pair[2], r;
        char name[64];
        uid_t uid;
        Client *c;

        r = server_caller_uid(s, m, &uid);
        if (r < 0)
                return r;
        for (DirectConn *x = s->direct; x; x = x->next)
                n_uid += x->uid == uid && !x->gone;
        if (n_uid >= DIRECT_MAX_PER_UID)
                return bus_reply_error(error, &e,
                                       iovad_error(&e, IOVAD_E_QUOTA_EXCEEDED,
                                                   "uid %u has %zu direct connections open, the most allowed",
                                                   (unsigned) uid, n_uid));
        if (s->n_direct >= DIRECT_MAX)
                return bus_reply_error(error, &e,
                                       iovad_error(&e, IOVAD_E_TOO_MANY_FILES,
                                                   "iovad has %zu direct connections open, the most it serves",
                                                   s->n_direct));
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return bus_reply_error(error, &e,
                                       iovad_error(&e, errno == EMFILE || errno == ENFILE ? IOVAD_E_TOO_MANY_FILES
                                                                                           : IOVAD_E_KERNEL,
                                                   "Cannot make a socketpair: %m"));
        theirs = pair[1];

        d = calloc(1, sizeof(*d));
        if (!d) {
                safe_close(pair[0]);
                return -ENOMEM;
        }
        d->server = s;
        d->uid = uid;
        d->next = s->direct;
        if (s->direct)
                s->direct->prev = d;
        s->direct = d;
        s->n_direct++;

        r = sd_bus_new(&d->bus);
        if (r < 0) {
                safe_close(pair[0]);
                goto fail;
        }
        r = sd_bus_set_fd(d->bus, pair[0], pair[0]);
        if (r < 0) {
                safe_close(pair[0]);
                goto fail;
        }
        r = sd_id128_randomize(&id);
        if (r >= 0)
                r = sd_bus_set_server(d->bus, true, id);
        /*
         * The socketpair's peer credentials are iovad's own: the uid that
         * counts is the one recorded above, so the client's SASL EXTERNAL
         * claim is not held against them.
         */
        if (r >= 0)
                r = sd_bus_set_anonymous(d->bus, true);
        if (r >= 0)
                r = sd_bus_negotiate_fds(d->bus, true);
        if (r >= 0)
                r = sd_bus_start(d->bus);
        if (r >= 0)
                r = sd_bus_attach_event(d->bus, s->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = register_objects(s, d->bus);
        if (r >= 0)
                r = sd_bus_match_signal(d->bus, NULL, NULL, "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                                        "Disconnected", on_direct_disconnected, d);
        if (r < 0)
                goto fail;

        snprintf(name, sizeof(name), DIRECT_CLIENT_PREFIX "%d.%" PRIu64, (int) getpid(), ++s->direct_seq);
        d->track = calloc(1, sizeof(ClientTrack));
        if (!d->track) {
                r = -ENOMEM;
                goto fail;
        }
        r = manager_get_client(s->manager, name, uid, &c);
        if (r < 0)
                goto fail;
        d->client = c;
        d->track->server = s;
        d->track->client = c;
        c->userdata = d->track;
        log_info("Direct connection %s opened for uid %u (%s)", name, (unsigned) uid,
                 server_caller_name(m));
        *ret_fd = TAKE_FD(theirs);
        return 0;

fail:
        direct_free(d);
        return r;
}

int server_new_on_bus(sd_event *event, sd_bus *bus, Manager *manager, const ServerOptions *o, Server **ret) {
        Server *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->bus = sd_bus_ref(bus);
        s->manager = manager;
        s->polkit = o->polkit;

        if (!sd_bus_get_event(bus)) {
                r = sd_bus_attach_event(s->bus, event, SD_EVENT_PRIORITY_NORMAL);
                if (r < 0)
                        goto fail;
        }
        r = sd_bus_error_add_map(iovad_bus_errors);
        if (r < 0) {
                log_error_errno(r, "Cannot register the error map");
                goto fail;
        }
        r = auth_new(s->bus, o->polkit, NULL, &s->auth);
        if (r < 0)
                goto fail;
        r = register_objects(s, s->bus);
        if (r < 0) {
                log_error_errno(r, "Cannot register the objects");
                goto fail;
        }
        r = sd_event_add_post(event, &s->answered, on_post, s);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;

fail:
        server_free(s);
        return r;
}

int server_new(sd_event *event, Manager *manager, const ServerOptions *o, FdStore *fds, Server **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        sd_id128_t bus_id;
        Server *s;
        char id[33];
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Cannot connect to the system bus");
        /* Losing the bus ends the event loop (with EXIT_FAILURE), and so the daemon. */
        r = sd_bus_set_exit_on_disconnect(bus, true);
        if (r < 0)
                return r;
        r = server_new_on_bus(event, bus, manager, o, &s);
        if (r < 0)
                return r;

        /* Before any client is known, so that none can leave unnoticed. */
        r = sd_bus_add_match(s->bus, &s->name_gone, MATCH_NAME_GONE, on_name_gone, s);
        if (r < 0) {
                log_error_errno(r, "Cannot watch for clients leaving the bus");
                server_free(s);
                return r;
        }
        r = sd_bus_get_bus_id(s->bus, &bus_id);
        if (r < 0)
                log_error_errno(r, "Cannot learn the bus's id: leases of connections will not survive a restart");
        manager_restore(manager, r >= 0 ? sd_id128_to_string(bus_id, id) : NULL, fds);
        release_departed_clients(s);
        manager_restore_done(manager);

        /* Objects first, name last: a caller that sees the name finds everything in place. */
        r = sd_bus_request_name(s->bus, IOVAD_BUS_NAME, 0);
        if (r < 0) {
                log_error_errno(r, "Cannot own %s (is another iovad running, or does the bus policy forbid it?)",
                                IOVAD_BUS_NAME);
                server_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

Server *server_free(Server *s) {
        if (!s)
                return NULL;
        /* Our own connection closing is not the clients leaving: their leases stay for the next start. */
        while (s->direct)
                direct_free(s->direct);
        for (Client *c = s->manager->clients; c; c = c->next)
                track_free(c->userdata);
        sd_bus_slot_unref(s->name_gone);
        sd_event_source_disable_unref(s->answered);
        auth_free(s->auth);
        sd_bus_flush_close_unref(s->bus);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}
