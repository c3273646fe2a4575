/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the library's files share; nothing here is exported (libiovad.sym). */

#include <stdarg.h>

#include "iovad.h"
#include "iovad-bus.h"
#include "util/macro.h"

#define _public_ __attribute__((visibility("default")))

/* Refuse a NULL handle or argument: there is nowhere to put an error message. */
#define return_einval_if(cond) \
        do {                   \
                if (cond)      \
                        return -EINVAL; \
        } while (0)

struct iovad {
        sd_bus *bus;
        bool own_bus;     /* opened by iovad_open(): flushed and closed by iovad_free() */
        bool interactive; /* IOVAD_OPEN_INTERACTIVE */
        bool attached;    /* by iovad_attach_event(), or to the caller's loop (iovad_open_bus() direct) */
        bool direct;      /* a direct connection (IOVAD_OPEN_DIRECT, iovad_open_fd()) */

        int error;        /* the last call's negative errno, or 0 */
        char *error_name;
        char *error_message;

        iovad_call *calls; /* asynchronous calls in flight */

        unsigned processing; /* iovad_process() frames on the stack */
        bool free_pending;   /* iovad_free() from a callback inside iovad_process(): done as it returns */
};

/* Reset the last error, at the start of every public call. */
void error_clear(iovad *h);
/* A failure before anything was sent: no error name. Returns @r (negative). */
int error_local(iovad *h, int r, const char *fmt, ...) _printf_(3, 4);
/* A failed call: @e's name and message, mapped to an errno by iovad's list. Returns it (negative). */
int error_bus(iovad *h, const sd_bus_error *e, int r);

/* A method call of org.iovad1 with the handle's flags. */
int call_new(iovad *h, const char *path, const char *iface, const char *member, sd_bus_message **ret);
/* Sends @m and waits; failures are recorded. */
int call_send(iovad *h, sd_bus_message *m, sd_bus_message **ret_reply);
/* call_new() + append @types + call_send(). */
int call_methodv(iovad *h, const char *path, const char *iface, const char *member, sd_bus_message **ret_reply,
                 const char *types, va_list ap);
int call_method(iovad *h, const char *path, const char *iface, const char *member, sd_bus_message **ret_reply,
                const char *types, ...);
/* A parse failure of iovad's reply, recorded. */
int error_reply(iovad *h, int r);

/* Manager.GetContainer. */
int container_lookup(iovad *h, const char *name, char **ret_path);
/* "01:00.0" or "0000:01:00.0" -> the device's object path and the full address; errors recorded. */
int device_lookup(iovad *h, const char *address, char **ret_path, char **ret_address);
/* An id or lease path -> the lease's object path; errors recorded. */
int lease_lookup(iovad *h, const char *lease, char **ret_path);

/* The a{sv} of Lease, MapMemory and AllocateMapped. */
int append_lease_options(sd_bus_message *m, const iovad_lease_options *o);
/* Fills a lease's record from its path and what the call asked for. */
void lease_info_fill(iovad_lease_info *info, const char *path, uint64_t iova, uint64_t size, bool mapped,
                     bool writable);
/* Options known to this library; else -EINVAL, recorded. */
int lease_options_check(iovad *h, const iovad_lease_options *o);

/* Cancels every call in flight (iovad_free()). */
void calls_cancel_all(iovad *h);

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}
