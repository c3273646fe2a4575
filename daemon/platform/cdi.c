/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/cdi.h"
#include "util/fs-util.h"
#include "util/json-util.h"
#include "util/macro.h"

bool cdi_device_listed(const SysfsDevice *d, const CdiOptions *o) {
        if (d->iommu_group < 0)
                return false;
        if (sysfs_driver_is_vfio(d->driver))
                return true;
        for (size_t i = 0; i < o->n_bind_devices; i++)
                if (strcmp(o->bind_devices[i], d->address) == 0)
                        return true;
        return false;
}

/*
 * Adds @v (taken over, NULL when its allocation failed) to @obj: json-c's
 * adders leave a value they could not add with the caller, so it goes here.
 */
static int add(json_object *obj, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(obj, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int push(json_object *array, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_array_add(array, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* "KEYVALUE" as one string: an environment entry. */
static int push_env(json_object *array, const char *key, const char *value) {
        _cleanup_free_ char *s = NULL;

        if (asprintf(&s, "%s%s", key, value) < 0)
                return -ENOMEM;
        return push(array, json_object_new_string(s));
}

static json_object *hook_new(const CdiOptions *o, const char *name, const char *verb, const char *address) {
        _cleanup_(json_object_putp) json_object *h = json_object_new_object();
        json_object *args, *env;
        int r;

        if (!h || add(h, "hookName", json_object_new_string(name)) < 0 ||
            add(h, "path", json_object_new_string(o->hook)) < 0)
                return NULL;
        args = json_object_new_array();
        if (add(h, "args", args) < 0)
                return NULL;
        env = json_object_new_array();
        if (add(h, "env", env) < 0)
                return NULL;
        /* argv[0], as runtimes pass args verbatim to execve(). */
        r = push(args, json_object_new_string("iovad-cdi-hook"));
        if (r >= 0)
                r = push(args, json_object_new_string(verb));
        if (r >= 0)
                r = push(args, json_object_new_string(address));
        /* Hooks run with exactly this environment: the bus iovad is on. */
        if (r >= 0)
                r = push_env(env, "DBUS_SYSTEM_BUS_ADDRESS=unix:path=", o->bus_socket);
        if (r < 0)
                return NULL;
        return TAKE_PTR(h);
}

static json_object *device_new(const CdiOptions *o, const char *address) {
        _cleanup_(json_object_putp) json_object *dev = json_object_new_object();
        json_object *edits, *env, *hooks;
        int r;

        if (!dev || add(dev, "name", json_object_new_string(address)) < 0)
                return NULL;
        edits = json_object_new_object();
        if (add(dev, "containerEdits", edits) < 0)
                return NULL;
        env = json_object_new_array();
        if (add(edits, "env", env) < 0)
                return NULL;
        r = push_env(env, "IOVAD_DEVICE=", address);
        if (r >= 0)
                r = push_env(env, "IOVAD_CONTAINER=device:", address);
        if (r < 0)
                return NULL;
        hooks = json_object_new_array();
        if (add(edits, "hooks", hooks) < 0)
                return NULL;
        if (push(hooks, hook_new(o, "createRuntime", "create", address)) < 0 ||
            push(hooks, hook_new(o, "poststop", "release", address)) < 0)
                return NULL;
        return TAKE_PTR(dev);
}

/* What every device of the spec needs: the system bus, at its usual place in the container. */
static int common_edits(json_object *spec, const CdiOptions *o) {
        json_object *edits = json_object_new_object(), *env, *mounts, *m, *opts;
        int r;

        /* The spec's own edits apply once to a container, whatever number of its devices it asks for. */
        r = add(spec, "containerEdits", edits);
        if (r < 0)
                return r;
        env = json_object_new_array();
        r = add(edits, "env", env);
        if (r >= 0)
                r = push(env, json_object_new_string("DBUS_SYSTEM_BUS_ADDRESS=unix:path=" CDI_CONTAINER_BUS_SOCKET));
        if (r < 0)
                return r;
        mounts = json_object_new_array();
        r = add(edits, "mounts", mounts);
        if (r < 0)
                return r;
        m = json_object_new_object();
        r = push(mounts, m);
        if (r >= 0)
                r = add(m, "hostPath", json_object_new_string(o->bus_socket));
        if (r >= 0)
                r = add(m, "containerPath", json_object_new_string(CDI_CONTAINER_BUS_SOCKET));
        if (r < 0)
                return r;
        opts = json_object_new_array();
        r = add(m, "options", opts);
        if (r >= 0)
                r = push(opts, json_object_new_string("bind"));
        if (r >= 0)
                r = push(opts, json_object_new_string("nosuid"));
        if (r >= 0)
                r = push(opts, json_object_new_string("nodev"));
        if (r >= 0)
                r = push(opts, json_object_new_string("noexec"));
        return r;
}

int cdi_spec_build(const SysfsPlatform *p, const CdiOptions *o, char **ret_json) {
        _cleanup_(json_object_putp) json_object *spec = NULL;
        json_object *devices;
        const char *text;
        char *s;
        int r;

        if (!o->hook || o->hook[0] != '/' || !o->bus_socket || o->bus_socket[0] != '/')
                return -EINVAL;
        spec = json_object_new_object();
        if (!spec)
                return -ENOMEM;
        r = add(spec, "cdiVersion", json_object_new_string(CDI_VERSION));
        if (r >= 0)
                r = add(spec, "kind", json_object_new_string(CDI_KIND));
        if (r < 0)
                return r;
        devices = json_object_new_array();
        r = add(spec, "devices", devices);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->n_devices; i++) {
                if (!cdi_device_listed(&p->devices[i], o))
                        continue;
                r = push(devices, device_new(o, p->devices[i].address));
                if (r < 0)
                        return r;
        }
        r = common_edits(spec, o);
        if (r < 0)
                return r;
        text = json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text || asprintf(&s, "%s\n", text) < 0)
                return -ENOMEM;
        *ret_json = s;
        return 0;
}

int cdi_spec_write(const char *dir, const char *json) {
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -1;
        size_t len = strlen(json);
        int r;

        r = mkdir_p(dir, 0755);
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/" CDI_SPEC_FILE, dir) < 0 || asprintf(&tmp, "%s/." CDI_SPEC_FILE ".XXXXXX", dir) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* Runtimes read it as whatever user they run as. */
        errno = 0;
        if (write(fd, json, len) != (ssize_t) len || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
                r = errno ? -errno : -EIO;
                (void) unlink(tmp);
                return r;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}
