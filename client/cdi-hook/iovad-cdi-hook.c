/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iovad-cdi-hook create|release PCI-ADDRESS
 *
 * The OCI hook of iovad's CDI spec (docs/runtimes.md): the container
 * runtime runs "create" as a createRuntime hook and "release" as a
 * poststop hook, each with the container's OCI state on stdin. It runs as
 * the runtime's user (root for a rootful runtime) and talks to iovad on
 * the system bus.
 *
 * create: the iovad container oci-<first 12 characters of the OCI id> is
 * made for the container's uid (process.user.uid of the bundle's
 * config.json, mapped through linux.uidMappings to the host's uid), or
 * reused when an earlier device of the same OCI container made it; the
 * device is bound to vfio-pci if it is not (iovad's Device.Bind) and its
 * IOMMU group attached to that container. A device already in another
 * iovad container is refused. On failure what this run did is undone and
 * the exit status is 1, with the reason on stderr (the runtime shows it).
 *
 * release: undoes exactly what create recorded for this OCI container
 * (detach the groups it attached, give back the devices it bound, destroy
 * the iovad container it made, and with it every lease); the first device's
 * run does it all, since the container has stopped. Idempotent: with
 * nothing recorded it does nothing.
 *
 * Records: one JSON file per OCI container in /run/iovad-cdi (outside
 * iovad's runtime directory, which goes when iovad stops), written before
 * each step takes effect, under a lock, so that a release after a crashed
 * or failed create still finds what to undo.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <json-c/json.h>

#define BUS_NAME "org.iovad1"
#define MANAGER_PATH "/org/iovad1"
#define MANAGER_IFACE "org.iovad1.Manager"
#define CONTAINER_IFACE "org.iovad1.Container"
#define DEVICE_IFACE "org.iovad1.Device"
#define DEVICE_PREFIX "/org/iovad1/device"
#define CONTAINER_PREFIX "/org/iovad1/container"

#define RECORD_DIR "/run/iovad-cdi"
#define RECORD_VERSION 1
#define INPUT_MAX (4u << 20)
#define MAX_DEVICES 64

#define _cleanup_(f) __attribute__((cleanup(f)))

static void freep(void *p) {
        free(*(void **) p);
}
static void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}
static void json_putp(json_object **o) {
        if (*o)
                (void) json_object_put(*o);
}

static const char *verb = "?", *address = "?";

static int __attribute__((format(printf, 2, 3))) fail(int r, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "iovad-cdi-hook %s %s: ", verb, address);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return r < 0 ? r : -EINVAL;
}

static const char *bus_error(const sd_bus_error *e, int r) {
        static char buf[1024];

        if (sd_bus_error_is_set(e))
                snprintf(buf, sizeof(buf), "%s (%s)", e->message ? e->message : "", e->name);
        else
                snprintf(buf, sizeof(buf), "%s", strerror(-r));
        return buf;
}

/* ---- input ---------------------------------------------------------------- */

static int read_fd(int fd, char **ret) {
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0, size = 0;

        for (;;) {
                if (n + 4096 + 1 > size) {
                        char *b;
                        if (size >= INPUT_MAX)
                                return -EFBIG;
                        size = size ? size * 2 : 16384;
                        b = realloc(buf, size);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                ssize_t k = read(fd, buf + n, size - n - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        if (!buf)
                buf = strdup("");
        if (!buf)
                return -ENOMEM;
        buf[n] = 0;
        *ret = buf;
        buf = NULL;
        return 0;
}

static json_object *parse_json(const char *text) {
        json_object *o = json_tokener_parse(text);

        if (o && !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static const char *get_string(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* A JSON whole number in [0, max]. */
static int get_uint(json_object *o, const char *key, uint64_t max, uint64_t *ret) {
        json_object *v;
        int64_t x;

        if (!json_object_object_get_ex(o, key, &v))
                return -ENOENT;
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        errno = 0;
        x = json_object_get_int64(v);
        if (errno != 0 || x < 0 || (uint64_t) x > max)
                return -ERANGE;
        *ret = (uint64_t) x;
        return 0;
}

static bool pci_address_valid(const char *s) {
        static const char pattern[] = "xxxx:xx:xx.x";

        if (strlen(s) != sizeof(pattern) - 1)
                return false;
        for (size_t i = 0; pattern[i]; i++)
                if (pattern[i] == 'x' ? !strchr("0123456789abcdef", s[i]) || !s[i] : s[i] != pattern[i])
                        return false;
        return true;
}

/* An OCI id as a file name and the start of an iovad container name. */
static bool oci_id_valid(const char *s) {
        size_t n = strlen(s);

        if (n < 1 || n > 128 || s[0] == '.')
                return false;
        for (; *s; s++)
                if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') || ('0' <= *s && *s <= '9') || *s == '-' ||
                      *s == '_' || *s == '.'))
                        return false;
        return true;
}

typedef struct OciState {
        char id[129];
        char bundle[PATH_MAX];
} OciState;

static int read_state(OciState *ret) {
        _cleanup_(freep) char *text = NULL;
        _cleanup_(json_putp) json_object *o = NULL;
        const char *id, *bundle;
        int r;

        r = read_fd(STDIN_FILENO, &text);
        if (r < 0)
                return fail(r, "cannot read the OCI state on stdin: %s", strerror(-r));
        o = parse_json(text);
        if (!o)
                return fail(-EINVAL, "stdin is not an OCI state (a JSON object)");
        id = get_string(o, "id");
        bundle = get_string(o, "bundle");
        if (!id || !oci_id_valid(id))
                return fail(-EINVAL, "the OCI state has no usable \"id\" (1 to 128 of A-Z a-z 0-9 _ . -): %s",
                            id ? id : "none");
        if (!bundle || bundle[0] != '/' || strlen(bundle) >= sizeof(ret->bundle))
                return fail(-EINVAL, "the OCI state has no absolute \"bundle\" path");
        snprintf(ret->id, sizeof(ret->id), "%s", id);
        snprintf(ret->bundle, sizeof(ret->bundle), "%s", bundle);
        return 0;
}

/*
 * The host uid the container's process runs as: process.user.uid of the
 * bundle's config.json (written by the runtime's caller, not by anything in
 * the container), through linux.uidMappings when the container has a user
 * namespace.
 */
static int host_uid(const char *bundle, uid_t *ret) {
        _cleanup_(freep) char *path = NULL, *text = NULL;
        _cleanup_(json_putp) json_object *o = NULL;
        _cleanup_(closep) int fd = -1;
        json_object *process, *user, *linux_, *maps;
        uint64_t uid;
        int r;

        if (asprintf(&path, "%s/config.json", bundle) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return fail(-errno, "cannot open %s: %s", path, strerror(errno));
        r = read_fd(fd, &text);
        if (r < 0)
                return fail(r, "cannot read %s: %s", path, strerror(-r));
        o = parse_json(text);
        if (!o)
                return fail(-EINVAL, "%s is not a JSON object", path);
        if (!json_object_object_get_ex(o, "process", &process) || !json_object_object_get_ex(process, "user", &user) ||
            get_uint(user, "uid", UINT32_MAX - 1, &uid) < 0)
                return fail(-EINVAL, "%s has no process.user.uid", path);
        if (!json_object_object_get_ex(o, "linux", &linux_) || !json_object_object_get_ex(linux_, "uidMappings", &maps) ||
            json_object_array_length(maps) == 0) {
                *ret = (uid_t) uid;
                return 0;
        }
        if (!json_object_is_type(maps, json_type_array))
                return fail(-EINVAL, "%s: linux.uidMappings is not an array", path);
        for (size_t i = 0; i < json_object_array_length(maps); i++) {
                json_object *m = json_object_array_get_idx(maps, i);
                uint64_t cid, hid, size;

                if (!json_object_is_type(m, json_type_object) || get_uint(m, "containerID", UINT32_MAX, &cid) < 0 ||
                    get_uint(m, "hostID", UINT32_MAX, &hid) < 0 || get_uint(m, "size", UINT32_MAX, &size) < 0)
                        return fail(-EINVAL, "%s: linux.uidMappings[%zu] is not {containerID, hostID, size}", path, i);
                if (uid >= cid && uid - cid < size) {
                        if (hid + (uid - cid) >= UINT32_MAX)
                                return fail(-ERANGE, "%s: uid %" PRIu64 " maps past the host's uids", path, uid);
                        *ret = (uid_t) (hid + (uid - cid));
                        return 0;
                }
        }
        return fail(-EINVAL, "%s: uid %" PRIu64 " of the container is in none of its linux.uidMappings", path, uid);
}

/* ---- the record ----------------------------------------------------------- */

typedef struct RecordDevice {
        char address[16];
        uint32_t group;
        bool attached; /* the hook attached the group */
        bool bound;    /* the hook bound the device to vfio-pci */
} RecordDevice;

typedef struct Record {
        char container[80];
        uint32_t uid;
        bool created; /* the hook made the iovad container */
        RecordDevice devices[MAX_DEVICES];
        size_t n_devices;
} Record;

static char *record_path(const char *id) {
        char *p;
        return asprintf(&p, RECORD_DIR "/%s.json", id) < 0 ? NULL : p;
}

/* 0 and an empty record when there is none. */
static int record_load(const char *id, Record *ret) {
        _cleanup_(freep) char *path = record_path(id), *text = NULL;
        _cleanup_(json_putp) json_object *o = NULL;
        _cleanup_(closep) int fd = -1;
        json_object *devs, *v;
        const char *name;
        uint64_t x;
        int r;

        *ret = (Record) {};
        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT ? 0 : fail(-errno, "cannot open %s: %s", path, strerror(errno));
        r = read_fd(fd, &text);
        if (r < 0)
                return fail(r, "cannot read %s: %s", path, strerror(-r));
        o = parse_json(text);
        name = o ? get_string(o, "container") : NULL;
        if (!o || get_uint(o, "version", UINT32_MAX, &x) < 0 || x != RECORD_VERSION || !name ||
            strlen(name) >= sizeof(ret->container) || get_uint(o, "uid", UINT32_MAX, &x) < 0 ||
            !json_object_object_get_ex(o, "created", &v) || !json_object_is_type(v, json_type_boolean) ||
            !json_object_object_get_ex(o, "devices", &devs) || !json_object_is_type(devs, json_type_array) ||
            json_object_array_length(devs) > MAX_DEVICES)
                return fail(-EINVAL, "%s is not a record of version %d", path, RECORD_VERSION);
        snprintf(ret->container, sizeof(ret->container), "%s", name);
        ret->uid = (uint32_t) x;
        ret->created = json_object_get_boolean(v);
        for (size_t i = 0; i < json_object_array_length(devs); i++) {
                json_object *d = json_object_array_get_idx(devs, i), *a, *b;
                RecordDevice *rd = &ret->devices[i];
                const char *addr = json_object_is_type(d, json_type_object) ? get_string(d, "address") : NULL;

                if (!addr || !pci_address_valid(addr) || get_uint(d, "group", UINT32_MAX, &x) < 0 ||
                    !json_object_object_get_ex(d, "attached", &a) || !json_object_object_get_ex(d, "bound", &b))
                        return fail(-EINVAL, "%s: devices[%zu] is not {address, group, attached, bound}", path, i);
                snprintf(rd->address, sizeof(rd->address), "%s", addr);
                rd->group = (uint32_t) x;
                rd->attached = json_object_get_boolean(a);
                rd->bound = json_object_get_boolean(b);
                ret->n_devices++;
        }
        return 1;
}

/* The record as it is now (temporary file, fsync, rename); none left when it has nothing to undo. */
static int record_save(const char *id, const Record *rec) {
        _cleanup_(freep) char *path = record_path(id), *tmp = NULL;
        _cleanup_(json_putp) json_object *o = json_object_new_object();
        _cleanup_(closep) int fd = -1;
        json_object *devs = json_object_new_array();
        const char *text;
        size_t len;

        if (!path || !o || !devs) {
                json_object_put(devs);
                return -ENOMEM;
        }
        if (!rec->created && rec->n_devices == 0) {
                json_object_put(devs);
                if (unlink(path) < 0 && errno != ENOENT)
                        return fail(-errno, "cannot remove %s: %s", path, strerror(errno));
                return 0;
        }
        json_object_object_add(o, "version", json_object_new_int(RECORD_VERSION));
        json_object_object_add(o, "container", json_object_new_string(rec->container));
        json_object_object_add(o, "uid", json_object_new_int64(rec->uid));
        json_object_object_add(o, "created", json_object_new_boolean(rec->created));
        json_object_object_add(o, "devices", devs);
        for (size_t i = 0; i < rec->n_devices; i++) {
                json_object *d = json_object_new_object();
                if (!d)
                        return -ENOMEM;
                json_object_array_add(devs, d);
                json_object_object_add(d, "address", json_object_new_string(rec->devices[i].address));
                json_object_object_add(d, "group", json_object_new_int64(rec->devices[i].group));
                json_object_object_add(d, "attached", json_object_new_boolean(rec->devices[i].attached));
                json_object_object_add(d, "bound", json_object_new_boolean(rec->devices[i].bound));
        }
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (!text || asprintf(&tmp, RECORD_DIR "/.%s.XXXXXX", id) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return fail(-errno, "cannot write in " RECORD_DIR ": %s", strerror(errno));
        len = strlen(text);
        errno = 0;
        if (write(fd, text, len) != (ssize_t) len || fsync(fd) < 0 || rename(tmp, path) < 0) {
                int r = errno ? -errno : -EIO;
                (void) unlink(tmp);
                return fail(r, "cannot write %s: %s", path, strerror(-r));
        }
        return 0;
}

static RecordDevice *record_find(Record *rec, const char *addr) {
        for (size_t i = 0; i < rec->n_devices; i++)
                if (strcmp(rec->devices[i].address, addr) == 0)
                        return &rec->devices[i];
        return NULL;
}

static void record_remove(Record *rec, RecordDevice *d) {
        size_t i = (size_t) (d - rec->devices);
        memmove(d, d + 1, (rec->n_devices - i - 1) * sizeof(*d));
        rec->n_devices--;
}

/* Serialises every hook of the host: records and the iovad calls that go with them. */
static int lock_records(void) {
        int fd;

        if (mkdir(RECORD_DIR, 0700) < 0 && errno != EEXIST)
                return fail(-errno, "cannot create " RECORD_DIR ": %s", strerror(errno));
        fd = open(RECORD_DIR "/.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return fail(-errno, "cannot open " RECORD_DIR "/.lock: %s", strerror(errno));
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR) {
                        int r = -errno;
                        close(fd);
                        return fail(r, "cannot lock " RECORD_DIR "/.lock: %s", strerror(-r));
                }
        return fd;
}

/* ---- iovad ---------------------------------------------------------------- */

static bool driver_is_vfio(const char *d) {
        size_t n = strlen(d);
        return (n >= 8 && (strcmp(d + n - 8, "vfio-pci") == 0 || strcmp(d + n - 8, "vfio_pci") == 0));
}

static int get_string_property(sd_bus *bus, const char *path, const char *iface, const char *name, char **ret,
                               sd_bus_error *error) {
        return sd_bus_get_property_string(bus, BUS_NAME, path, iface, name, error, ret);
}

typedef struct DeviceInfo {
        char *path;
        char *driver;
        char *container; /* object path, "/" when none */
        uint32_t group;
} DeviceInfo;

static void device_info_done(DeviceInfo *d) {
        free(d->path);
        free(d->driver);
        free(d->container);
}

static int device_info(sd_bus *bus, const char *addr, DeviceInfo *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(device_info_done) DeviceInfo d = {};
        int r;

        r = sd_bus_path_encode(DEVICE_PREFIX, addr, &d.path);
        if (r < 0)
                return r;
        r = get_string_property(bus, d.path, DEVICE_IFACE, "Driver", &d.driver, &error);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, BUS_NAME, d.path, DEVICE_IFACE, "IommuGroup", &error, 'u', &d.group);
        if (r >= 0) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                const char *p;

                r = sd_bus_get_property(bus, BUS_NAME, d.path, DEVICE_IFACE, "Container", &error, &reply, "o");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "o", &p);
                if (r >= 0 && !(d.container = strdup(p)))
                        r = -ENOMEM;
        }
        if (r < 0)
                return fail(r, "iovad cannot tell about device %s: %s", addr, bus_error(&error, r));
        *ret = d;
        d = (DeviceInfo) {};
        return 0;
}

static int container_call(sd_bus *bus, const char *name, const char *method, const char *types, uint32_t group,
                          sd_bus_error *error) {
        _cleanup_(freep) char *path = NULL;
        int r;

        r = sd_bus_path_encode(CONTAINER_PREFIX, name, &path);
        if (r < 0)
                return r;
        if (types)
                return sd_bus_call_method(bus, BUS_NAME, path, CONTAINER_IFACE, method, error, NULL, types, group);
        return sd_bus_call_method(bus, BUS_NAME, path, CONTAINER_IFACE, method, error, NULL, NULL);
}

static int device_call(sd_bus *bus, const char *addr, const char *method, sd_bus_error *error) {
        _cleanup_(freep) char *path = NULL;
        int r;

        r = sd_bus_path_encode(DEVICE_PREFIX, addr, &path);
        if (r < 0)
                return r;
        return sd_bus_call_method(bus, BUS_NAME, path, DEVICE_IFACE, method, error, NULL, NULL);
}

/* The errors that mean "already undone": the object or the state is gone. */
static bool gone(const sd_bus_error *e) {
        return sd_bus_error_has_names(e, "org.iovad1.Error.NoSuchContainer", "org.iovad1.Error.NotAttached",
                                      "org.iovad1.Error.NoSuchGroup", "org.iovad1.Error.NoSuchDevice");
}

/* Undoes one device's part: detach its group if the hook attached it, give it back if the hook bound it. */
static int undo_device(sd_bus *bus, const Record *rec, RecordDevice *d) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (d->attached) {
                r = container_call(bus, rec->container, "DetachGroup", "u", d->group, &error);
                if (r < 0 && !gone(&error))
                        return fail(r, "detaching group %u from iovad container '%s' failed: %s", d->group,
                                    rec->container, bus_error(&error, r));
                sd_bus_error_free(&error);
                d->attached = false;
        }
        if (d->bound) {
                r = device_call(bus, d->address, "Unbind", &error);
                if (r < 0 && !gone(&error))
                        return fail(r, "giving %s back to its driver failed: %s", d->address, bus_error(&error, r));
                d->bound = false;
        }
        return 0;
}

static int destroy_container(sd_bus *bus, Record *rec) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (!rec->created)
                return 0;
        r = container_call(bus, rec->container, "Destroy", NULL, 0, &error);
        if (r < 0 && !gone(&error))
                return fail(r, "destroying iovad container '%s' failed: %s", rec->container, bus_error(&error, r));
        rec->created = false;
        return 0;
}

static int open_bus(sd_bus **ret) {
        int r = sd_bus_open_system(ret);
        if (r < 0)
                return fail(r, "cannot connect to the system bus (%s): %s",
                            getenv("DBUS_SYSTEM_BUS_ADDRESS") ?: "its default address", strerror(-r));
        return 0;
}

/* ---- the verbs ------------------------------------------------------------ */

static int create(const OciState *st) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(device_info_done) DeviceInfo dev = {};
        _cleanup_(freep) char *cpath = NULL;
        _cleanup_(closep) int lock = -1;
        Record rec;
        RecordDevice *d;
        uid_t uid = 0;
        bool fresh;
        int r;

        r = host_uid(st->bundle, &uid);
        if (r < 0)
                return r;
        lock = lock_records();
        if (lock < 0)
                return lock;
        r = record_load(st->id, &rec);
        if (r < 0)
                return r;
        fresh = r == 0;
        if (record_find(&rec, address))
                return 0; /* done already, by an earlier run for this container */
        if (!fresh && rec.uid != uid)
                return fail(-EPERM, "iovad container '%s' is for uid %u, the container now runs as uid %u",
                            rec.container, rec.uid, (unsigned) uid);
        if (fresh) {
                snprintf(rec.container, sizeof(rec.container), "oci-%.12s", st->id);
                rec.uid = uid;
        }
        if (rec.n_devices >= MAX_DEVICES)
                return fail(-E2BIG, "more than %d iovad devices in one container", MAX_DEVICES);

        r = open_bus(&bus);
        if (r < 0)
                return r;
        r = device_info(bus, address, &dev);
        if (r < 0)
                return r;
        r = sd_bus_path_encode(CONTAINER_PREFIX, rec.container, &cpath);
        if (r < 0)
                return r;
        if (strcmp(dev.container, "/") != 0 && strcmp(dev.container, cpath) != 0) {
                _cleanup_(freep) char *owner = NULL;
                (void) get_string_property(bus, dev.container, CONTAINER_IFACE, "Name", &owner, NULL);
                return fail(-EBUSY, "device %s is in use: its IOMMU group %u is attached to iovad container '%s'",
                            address, dev.group, owner ? owner : dev.container);
        }

        if (!rec.created && rec.n_devices == 0) {
                r = sd_bus_call_method(bus, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "CreateContainer", &error, NULL,
                                       "sa{sv}", rec.container, 1, "users", "au", 1, (uint32_t) uid);
                if (r < 0)
                        return fail(r, "creating iovad container '%s' for uid %u failed: %s", rec.container,
                                    (unsigned) uid, bus_error(&error, r));
                rec.created = true;
        }
        d = &rec.devices[rec.n_devices++];
        *d = (RecordDevice) { .group = dev.group };
        snprintf(d->address, sizeof(d->address), "%s", address);
        r = record_save(st->id, &rec);
        if (r < 0)
                goto undo;

        if (!driver_is_vfio(dev.driver)) {
                /* Recorded first: a release after a crash here gives it back. */
                d->bound = true;
                r = record_save(st->id, &rec);
                if (r < 0)
                        goto undo;
                r = device_call(bus, address, "Bind", &error);
                if (r < 0) {
                        d->bound = false;
                        fail(r, "binding %s (on %s) to vfio-pci failed: %s", address,
                             *dev.driver ? dev.driver : "no driver", bus_error(&error, r));
                        goto undo;
                }
        }
        if (strcmp(dev.container, cpath) != 0) {
                d->attached = true;
                r = record_save(st->id, &rec);
                if (r < 0)
                        goto undo;
                sd_bus_error_free(&error);
                r = container_call(bus, rec.container, "AttachGroup", "u", dev.group, &error);
                if (r < 0) {
                        d->attached = false;
                        fail(r, "attaching group %u of %s to iovad container '%s' failed: %s", dev.group, address,
                             rec.container, bus_error(&error, r));
                        goto undo;
                }
        }
        r = record_save(st->id, &rec);
        if (r < 0)
                goto undo;
        return 0;

undo:
        /* What this run did, and only that; the failure was reported. */
        if (rec.n_devices == 1 && rec.created && destroy_container(bus, &rec) >= 0)
                d->attached = false;
        if (undo_device(bus, &rec, d) >= 0)
                record_remove(&rec, d);
        (void) record_save(st->id, &rec);
        return r < 0 ? r : -EIO;
}

/*
 * Poststop: the container has stopped, so everything the hook did for it
 * goes, whichever of its devices this run is for: groups detached, devices
 * given back, the iovad container destroyed (devices of one group come and
 * go together). The other devices' runs then find nothing to do.
 */
static int release(const OciState *st) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(closep) int lock = -1;
        Record rec;
        int r;

        lock = lock_records();
        if (lock < 0)
                return lock;
        r = record_load(st->id, &rec);
        if (r <= 0)
                return r; /* nothing recorded: nothing to release */
        r = open_bus(&bus);
        if (r < 0)
                return r;
        /*
         * Every group detached before any device goes back to its driver:
         * by destroying the container the hook made (which ends its leases
         * too; iovad refuses to detach a container's last group under
         * leases), else one by one.
         */
        if (rec.created) {
                r = destroy_container(bus, &rec);
                if (r < 0)
                        goto finish;
                for (size_t i = 0; i < rec.n_devices; i++)
                        rec.devices[i].attached = false;
        }
        while (rec.n_devices > 0) {
                r = undo_device(bus, &rec, &rec.devices[0]);
                if (r < 0)
                        goto finish;
                record_remove(&rec, &rec.devices[0]);
        }
        r = 0;
finish:
        /* What is left stays recorded for the next run. */
        return record_save(st->id, &rec) < 0 && r >= 0 ? -EIO : r;
}

int main(int argc, char **argv) {
        OciState st;
        int r;

        if (argc != 3 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "release") != 0)) {
                fprintf(stderr, "Usage: iovad-cdi-hook create|release PCI-ADDRESS  (the OCI state on stdin)\n"
                                "The OCI hook of iovad's CDI spec: a createRuntime hook (create) and a poststop\n"
                                "hook (release) that set up and release a device for a container.\n");
                return 2;
        }
        verb = argv[1];
        address = argv[2];
        if (!pci_address_valid(address)) {
                fail(-EINVAL, "not a PCI address such as 0000:01:00.0");
                return 2;
        }
        r = read_state(&st);
        if (r >= 0)
                r = strcmp(verb, "create") == 0 ? create(&st) : release(&st);
        return r < 0 ? 1 : 0;
}
