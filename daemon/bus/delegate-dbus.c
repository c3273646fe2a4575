/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Delegation of a device's cdev to a VMM's uid (model/delegate.h), on org.iovad1.Device. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iovad-bus.h"
#include "util/log.h"
#include "model/delegate.h"
#include "bus/delegate-dbus.h"
#include "bus/server.h"

int device_method_delegate(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        const SysfsDevice *d = userdata;
        char address[sizeof(d->address)], uid_text[16];
        IovadError e = {};
        uint32_t uid;
        int r;

        /* The platform is re-read under the object: keep the address. */
        snprintf(address, sizeof(address), "%s", d->address);
        r = sd_bus_message_read(msg, "u", &uid);
        if (r < 0)
                return r;
        if (uid == (uint32_t) -1)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "uid %u is not a user", uid);
        snprintf(uid_text, sizeof(uid_text), "%u", uid);
        r = server_authorize(s, msg, IOVAD_ACTION_DELEGATE_DEVICE,
                             (const char *const[]) { "device", address, "uid", uid_text, NULL }, error);
        if (r <= 0)
                return r == 0 ? 1 : r;
        r = manager_delegate_device(s->manager, address, (uid_t) uid, &e);
        if (r < 0)
                return bus_reply_error(error, &e, r);
        return sd_bus_reply_method_return(msg, NULL);
}

int device_method_open_delegated(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        const SysfsDevice *d = userdata;
        _cleanup_close_ int iommufd = -1, device = -1;
        char address[sizeof(d->address)];
        const SysfsGroup *g;
        IovadError e = {};
        uid_t uid;
        int r;

        snprintf(address, sizeof(address), "%s", d->address);
        r = server_caller_uid(s, msg, &uid);
        if (r < 0)
                return r;
        r = manager_open_delegated(s->manager, address, uid, &iommufd, &device, &e);
        if (r == -EPERM && e.code == IOVAD_E_NONE)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Device %s is not delegated to uid %u", address, (unsigned) uid);
        if (r < 0)
                return bus_reply_error(error, &e, r);

        /* What the holder must keep its own mappings out of: the group's reserved regions. */
        const Delegation *dl = manager_find_delegation(s->manager, address);
        g = dl ? sysfs_find_group(s->manager->platform, dl->group) : NULL;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "hh", iommufd, device);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(tts)");
        for (size_t i = 0; r >= 0 && g && i < g->regions.n; i++)
                r = sd_bus_message_append(reply, "(tts)", g->regions.items[i].start, g->regions.items[i].end,
                                          region_type_to_string(g->regions.items[i].type));
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        log_info("Handed /dev/iommu and the cdev of %s to %s (uid %u)", address,
                 server_caller_name(msg), (unsigned) uid);
        return sd_bus_send(NULL, reply, NULL);
}

int device_method_undelegate(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Server *s = server_of_bus(sd_bus_message_get_bus(msg));
        const SysfsDevice *d = userdata;
        char address[sizeof(d->address)];
        IovadError e = {};
        int r;

        snprintf(address, sizeof(address), "%s", d->address);
        r = server_authorize(s, msg, IOVAD_ACTION_DELEGATE_DEVICE, (const char *const[]) { "device", address, NULL },
                             error);
        if (r <= 0)
                return r == 0 ? 1 : r;
        r = manager_undelegate_device(s->manager, address, &e);
        if (r < 0)
                return bus_reply_error(error, &e, r);
        return sd_bus_reply_method_return(msg, NULL);
}
