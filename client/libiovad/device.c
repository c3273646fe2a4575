/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Devices: Open, Bind, Unbind, and the container a device's group is in. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "libiovad-internal.h"

_public_ int iovad_device_open(iovad *h, const char *address, int *ret_fd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *path = NULL;
        int r, fd;

        return_einval_if(!h || !ret_fd);
        error_clear(h);
        r = device_lookup(h, address, &path, NULL);
        if (r < 0)
                return r;
        r = call_method(h, path, IOVAD_DEVICE_IFACE, "Open", &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return error_reply(h, r);
        /* The message owns the fd it carried; the caller gets its own, above stdio. */
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return error_local(h, -errno, "Failed to duplicate the device fd: %m");
        *ret_fd = fd;
        return 0;
}

static int device_call(iovad *h, const char *address, const char *member) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = device_lookup(h, address, &path, NULL);
        if (r < 0)
                return r;
        return call_method(h, path, IOVAD_DEVICE_IFACE, member, NULL, NULL);
}

_public_ int iovad_device_bind(iovad *h, const char *address) {
        return_einval_if(!h);
        error_clear(h);
        return device_call(h, address, "Bind");
}

_public_ int iovad_device_unbind(iovad *h, const char *address) {
        return_einval_if(!h);
        error_clear(h);
        return device_call(h, address, "Unbind");
}

static int get_property(iovad *h, const char *path, const char *iface, const char *property, char type,
                        char **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *v;
        char sig[2] = { type, 0 };
        char *s;
        int r;

        r = call_method(h, path, "org.freedesktop.DBus.Properties", "Get", &reply, "ss", iface, property);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'v', sig);
        if (r >= 0)
                r = sd_bus_message_read_basic(reply, type, &v);
        if (r < 0)
                return error_reply(h, r);
        s = strdup(v);
        if (!s)
                return error_local(h, -ENOMEM, "Out of memory");
        *ret = s;
        return 0;
}

_public_ int iovad_device_container(iovad *h, const char *address, char **ret_name) {
        _cleanup_free_ char *path = NULL, *container = NULL;
        int r;

        return_einval_if(!h);
        error_clear(h);
        r = device_lookup(h, address, &path, NULL);
        if (r < 0)
                return r;
        r = get_property(h, path, IOVAD_DEVICE_IFACE, "Container", 'o', &container);
        if (r < 0)
                return r;
        if (strcmp(container, "/") == 0) {
                if (ret_name)
                        *ret_name = NULL;
                return 0;
        }
        /* The container's own name, not a decoding of its path. */
        if (ret_name) {
                r = get_property(h, container, IOVAD_CONTAINER_IFACE, "Name", 's', ret_name);
                if (r < 0)
                        return r;
        }
        return 1;
}
