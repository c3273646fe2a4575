/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/json-util.h"
#include "util/macro.h"
#include "platform/sysfs.h"
#include "persist/state.h"
#include "util/parse-error.h"


void state_done(State *s) {
        for (size_t i = 0; i < s->n_containers; i++) {
                free(s->containers[i].name);
                free(s->containers[i].users);
                free(s->containers[i].groups);
        }
        free(s->containers);
        free(s->leases);
        free(s->rebinds);
        *s = (State) {};
}

char *state_format(const State *s) {
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        json_object *cs = json_object_new_array(), *ls = json_object_new_array(), *rs = json_object_new_array();

        json_object_object_add(root, "version", json_object_new_int(STATE_VERSION));
        json_object_object_add(root, "next_lease_id", json_object_new_uint64(s->next_lease_id));
        json_object_object_add(root, "containers", cs);
        json_object_object_add(root, "leases", ls);
        json_object_object_add(root, "rebinds", rs);
        for (size_t i = 0; i < s->n_containers; i++) {
                const StateContainer *c = &s->containers[i];
                json_object *o = json_object_new_object(), *u = json_object_new_array(), *g = json_object_new_array();
                json_object_object_add(o, "name", json_object_new_string(c->name));
                for (size_t k = 0; k < c->n_users; k++)
                        json_object_array_add(u, json_object_new_uint64(c->users[k]));
                for (size_t k = 0; k < c->n_groups; k++)
                        json_object_array_add(g, json_object_new_uint64(c->groups[k]));
                json_object_object_add(o, "users", u);
                json_object_object_add(o, "groups", g);
                if (c->reserve_peer_windows)
                        json_object_object_add(o, "reserve_peer_windows", json_object_new_boolean(true));
                json_object_array_add(cs, o);
        }
        for (size_t i = 0; i < s->n_leases; i++) {
                const LeaseRecord *l = &s->leases[i];
                json_object *o = json_object_new_object();
                json_object_object_add(o, "id", json_object_new_uint64(l->id));
                json_object_object_add(o, "container", json_object_new_string(l->container));
                json_object_object_add(o, "iova", json_object_new_uint64(l->iova));
                json_object_object_add(o, "size", json_object_new_uint64(l->size));
                json_object_object_add(o, "owner", json_object_new_uint64(l->owner));
                json_object_object_add(o, "mapped", json_object_new_boolean(l->mapped));
                json_object_object_add(o, "writable", json_object_new_boolean(l->writable));
                json_object_object_add(o, "offset", json_object_new_uint64(l->offset));
                json_object_array_add(ls, o);
        }
        for (size_t i = 0; i < s->n_rebinds; i++) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "address", json_object_new_string(s->rebinds[i].address));
                json_object_object_add(o, "driver", json_object_new_string(s->rebinds[i].driver));
                json_object_array_add(rs, o);
        }
        const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
        return text ? strdup(text) : NULL;
}

static bool get_u64(json_object *o, const char *key, uint64_t max, uint64_t *ret) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return false;
        errno = 0;
        uint64_t x = json_object_get_uint64(v);
        if (errno != 0 || json_object_get_int64(v) < 0 || x > max)
                return false;
        *ret = x;
        return true;
}

static bool get_bool(json_object *o, const char *key, bool *ret) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
                return false;
        *ret = json_object_get_boolean(v);
        return true;
}

static const char *get_str(json_object *o, const char *key) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static int get_u32_array(json_object *o, const char *key, size_t *ret_n, void *ret_items, size_t elem) {
        json_object *a;
        if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
                return -EINVAL;
        size_t n = json_object_array_length(a);
        uint32_t *items = calloc(n ? n : 1, sizeof(uint32_t));
        if (!items)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(a, i);
                if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
                    json_object_get_int64(v) > UINT32_MAX) {
                        free(items);
                        return -EINVAL;
                }
                items[i] = (uint32_t) json_object_get_int64(v);
        }
        *ret_n = n;
        *(uint32_t **) ret_items = items;
        return 0;
}

int state_parse(const char *json, State *ret, char **ret_error) {
        _cleanup_(json_object_putp) json_object *root = json_tokener_parse(json);
        json_object *cs, *ls, *rs;
        State s = {};
        uint64_t version;

        if (!root || !json_object_is_type(root, json_type_object))
                return parse_error(ret_error, -EINVAL, "not a JSON object");
        if (!get_u64(root, "version", UINT32_MAX, &version))
                return parse_error(ret_error, -EINVAL, "version: missing");
        if (version != STATE_VERSION)
                return parse_error(ret_error, -EINVAL, "version %" PRIu64 " is not understood (this iovad writes %d)", version,
                           STATE_VERSION);
        if (!get_u64(root, "next_lease_id", UINT64_MAX, &s.next_lease_id) ||
            !json_object_object_get_ex(root, "containers", &cs) || !json_object_is_type(cs, json_type_array) ||
            !json_object_object_get_ex(root, "leases", &ls) || !json_object_is_type(ls, json_type_array))
                return parse_error(ret_error, -EINVAL, "next_lease_id, containers or leases missing or of the wrong type");

        size_t nc = json_object_array_length(cs), nl = json_object_array_length(ls);
        s.containers = calloc(nc ? nc : 1, sizeof(StateContainer));
        s.leases = calloc(nl ? nl : 1, sizeof(LeaseRecord));
        if (!s.containers || !s.leases) {
                state_done(&s);
                return -ENOMEM;
        }
        for (size_t i = 0; i < nc; i++) {
                json_object *o = json_object_array_get_idx(cs, i);
                StateContainer *c = &s.containers[s.n_containers];
                const char *name = json_object_is_type(o, json_type_object) ? get_str(o, "name") : NULL;
                if (!name || get_u32_array(o, "users", &c->n_users, &c->users, sizeof(uid_t)) < 0 ||
                    get_u32_array(o, "groups", &c->n_groups, &c->groups, sizeof(unsigned)) < 0) {
                        /* Not counted in n_containers yet, so state_done() would not free them. */
                        free(c->users);
                        free(c->groups);
                        state_done(&s);
                        return parse_error(ret_error, -EINVAL, "containers[%zu]: name, users or groups missing or malformed", i);
                }
                {
                        json_object *b;

                        if (json_object_object_get_ex(o, "reserve_peer_windows", &b) &&
                            !get_bool(o, "reserve_peer_windows", &c->reserve_peer_windows)) {
                                free(c->users);
                                free(c->groups);
                                state_done(&s);
                                return parse_error(ret_error, -EINVAL, "containers[%zu]: reserve_peer_windows is not a boolean", i);
                        }
                }
                c->name = strdup(name);
                s.n_containers++;
                if (!c->name) {
                        state_done(&s);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < nl; i++) {
                json_object *o = json_object_array_get_idx(ls, i);
                LeaseRecord *l = &s.leases[s.n_leases];
                uint64_t owner;
                const char *container = json_object_is_type(o, json_type_object) ? get_str(o, "container") : NULL;
                if (!container || strlen(container) >= sizeof(l->container) || !get_u64(o, "id", UINT64_MAX, &l->id) || !get_u64(o, "iova", UINT64_MAX, &l->iova) ||
                    !get_u64(o, "size", UINT64_MAX, &l->size) || !get_u64(o, "owner", UINT32_MAX, &owner) ||
                    !get_bool(o, "mapped", &l->mapped) || !get_bool(o, "writable", &l->writable) ||
                    !get_u64(o, "offset", UINT64_MAX, &l->offset) || l->id == 0 || l->size == 0) {
                        state_done(&s);
                        return parse_error(ret_error, -EINVAL, "leases[%zu]: a field is missing or malformed", i);
                }
                l->owner = (uid_t) owner;
                snprintf(l->container, sizeof(l->container), "%s", container);
                s.n_leases++;
        }
        /* Optional: files written before Bind was remembered have none. */
        if (json_object_object_get_ex(root, "rebinds", &rs)) {
                if (!json_object_is_type(rs, json_type_array)) {
                        state_done(&s);
                        return parse_error(ret_error, -EINVAL, "rebinds: not an array");
                }
                size_t nr = json_object_array_length(rs);
                s.rebinds = calloc(nr ? nr : 1, sizeof(Rebind));
                if (!s.rebinds) {
                        state_done(&s);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < nr; i++) {
                        json_object *o = json_object_array_get_idx(rs, i);
                        Rebind *b = &s.rebinds[s.n_rebinds];
                        const char *address = json_object_is_type(o, json_type_object) ? get_str(o, "address") : NULL;
                        const char *driver = address ? get_str(o, "driver") : NULL;
                        if (!pci_address_valid(address) || !driver ||
                            (driver[0] && !driver_name_valid(driver, sizeof(b->driver)))) {
                                state_done(&s);
                                return parse_error(ret_error, -EINVAL, "rebinds[%zu]: address or driver missing or malformed", i);
                        }
                        snprintf(b->address, sizeof(b->address), "%s", address);
                        snprintf(b->driver, sizeof(b->driver), "%s", driver);
                        s.n_rebinds++;
                }
        }
        *ret = s;
        return 0;
}

int state_load(const char *dir, State *ret, char **ret_error) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;

        if (asprintf(&path, "%s/state.json", dir) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (getdelim(&text, &size, '\0', f) < 0 && !feof(f))
                return -errno;
        if (!text)
                return parse_error(ret_error, -EINVAL, "%s is empty", path);
        return state_parse(text, ret, ret_error);
}

int state_save(const char *dir, const State *s) {
        _cleanup_free_ char *text = NULL, *path = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -1;
        size_t len;
        int r;

        text = state_format(s);
        if (!text)
                return -ENOMEM;
        if (asprintf(&path, "%s/state.json", dir) < 0 || asprintf(&tmp, "%s/.state.json.XXXXXX", dir) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        len = strlen(text);
        if (write(fd, text, len) != (ssize_t) len || write(fd, "\n", 1) != 1 || fsync(fd) < 0 ||
            fchmod(fd, 0600) < 0) {
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
