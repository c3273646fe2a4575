/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persist/conf.h"
#include "util/json-util.h"
#include "util/macro.h"
#include "util/parse-error.h"
#include "platform/sysfs.h"


void config_init(Config *c) {
        *c = (Config) {
                .max_leases = CONFIG_DEFAULT_MAX_LEASES,
                .max_mapped_bytes = CONFIG_DEFAULT_MAX_MAPPED_BYTES,
                .max_dma_entries = CONFIG_DEFAULT_MAX_DMA_ENTRIES,
                .max_memfds = CONFIG_DEFAULT_MAX_MEMFDS,
        };
}

void config_done(Config *c) {
        region_list_clear(&c->reserved);
        free(c->cdi_spec_dir);
        c->cdi_spec_dir = NULL;
        for (size_t i = 0; i < c->n_cdi_bind_devices; i++)
                free(c->cdi_bind_devices[i]);
        free(c->cdi_bind_devices);
        c->cdi_bind_devices = NULL;
        c->n_cdi_bind_devices = 0;
}

/* "cdi": where the Container Device Interface spec goes, and the devices its hook may bind. */
static int parse_cdi(Config *n, json_object *val, char **ret_error) {
        if (!json_object_is_type(val, json_type_object))
                return parse_error(ret_error, -EINVAL, "cdi: expected an object");
        json_object_object_foreach(val, k, v) {
                if (strcmp(k, "spec_dir") == 0) {
                        const char *d = json_object_get_string(v);
                        if (!json_object_is_type(v, json_type_string) || (d[0] != 0 && d[0] != '/'))
                                return parse_error(ret_error, -EINVAL,
                                                   "cdi.spec_dir: expected an absolute path, or \"\" for no spec");
                        free(n->cdi_spec_dir);
                        n->cdi_spec_dir = strdup(d);
                        if (!n->cdi_spec_dir)
                                return -ENOMEM;
                } else if (strcmp(k, "bind_devices") == 0) {
                        size_t len;

                        if (!json_object_is_type(v, json_type_array))
                                return parse_error(ret_error, -EINVAL, "cdi.bind_devices: expected an array of PCI addresses");
                        len = json_object_array_length(v);
                        for (size_t i = 0; i < n->n_cdi_bind_devices; i++)
                                free(n->cdi_bind_devices[i]);
                        free(n->cdi_bind_devices);
                        n->n_cdi_bind_devices = 0;
                        n->cdi_bind_devices = calloc(len + 1, sizeof(char *));
                        if (!n->cdi_bind_devices)
                                return -ENOMEM;
                        for (size_t i = 0; i < len; i++) {
                                json_object *e = json_object_array_get_idx(v, i);

                                if (!json_object_is_type(e, json_type_string) ||
                                    !pci_address_valid(json_object_get_string(e)))
                                        return parse_error(ret_error, -EINVAL,
                                                           "cdi.bind_devices[%zu]: expected a PCI address such as \"0000:01:00.0\"", i);
                                n->cdi_bind_devices[i] = strdup(json_object_get_string(e));
                                if (!n->cdi_bind_devices[i])
                                        return -ENOMEM;
                                n->n_cdi_bind_devices = i + 1;
                        }
                } else
                        return parse_error(ret_error, -EINVAL, "cdi.%s: unknown key", k);
        }
        return 0;
}

static int get_u64(json_object *v, const char *path, uint64_t max, uint64_t *ret, char **ret_error) {
        if (!json_object_is_type(v, json_type_int))
                return parse_error(ret_error, -EINVAL, "%s: expected a whole number", path);
        errno = 0;
        uint64_t x = json_object_get_uint64(v);
        if (errno != 0 || json_object_get_int64(v) < 0 || x > max)
                return parse_error(ret_error, -EINVAL, "%s: out of range (0..%llu)", path, (unsigned long long) max);
        *ret = x;
        return 0;
}

int config_parse(Config *c, const char *json, char **ret_error) {
        _cleanup_(json_object_putp) json_object *root = NULL;
        Config n;
        int r;

        config_init(&n);
        root = json_tokener_parse(json);
        if (!root || !json_object_is_type(root, json_type_object))
                return parse_error(ret_error, -EINVAL, "$: not a JSON object");

        json_object_object_foreach(root, key, val) {
                if (strcmp(key, "quota") == 0) {
                        if (!json_object_is_type(val, json_type_object)) {
                                r = parse_error(ret_error, -EINVAL, "quota: expected an object");
                                goto error;
                        }
                        json_object_object_foreach(val, qk, qv) {
                                char path[64];
                                uint64_t x;

                                snprintf(path, sizeof(path), "quota.%s", qk);
                                if (strcmp(qk, "leases") == 0 || strcmp(qk, "dma_entries") == 0 ||
                                    strcmp(qk, "memfds") == 0) {
                                        r = get_u64(qv, path, UINT32_MAX, &x, ret_error);
                                        if (r < 0)
                                                goto error;
                                        if (qk[0] == 'l')
                                                n.max_leases = (uint32_t) x;
                                        else if (qk[0] == 'd')
                                                n.max_dma_entries = (uint32_t) x;
                                        else
                                                n.max_memfds = (uint32_t) x;
                                } else if (strcmp(qk, "mapped_bytes") == 0) {
                                        r = get_u64(qv, path, UINT64_MAX, &n.max_mapped_bytes, ret_error);
                                        if (r < 0)
                                                goto error;
                                } else {
                                        r = parse_error(ret_error, -EINVAL, "%s: unknown key", path);
                                        goto error;
                                }
                        }
                } else if (strcmp(key, "interrupts") == 0) {
                        if (!json_object_is_type(val, json_type_object)) {
                                r = parse_error(ret_error, -EINVAL, "interrupts: expected an object");
                                goto error;
                        }
                        json_object_object_foreach(val, ik, iv) {
                                if (strcmp(ik, "refuse_unsafe") != 0) {
                                        r = parse_error(ret_error, -EINVAL, "interrupts.%s: unknown key", ik);
                                        goto error;
                                }
                                if (!json_object_is_type(iv, json_type_boolean)) {
                                        r = parse_error(ret_error, -EINVAL, "interrupts.refuse_unsafe: expected true or false");
                                        goto error;
                                }
                                n.refuse_unsafe_interrupts = json_object_get_boolean(iv);
                        }
                } else if (strcmp(key, "cdi") == 0) {
                        r = parse_cdi(&n, val, ret_error);
                        if (r < 0)
                                goto error;
                } else if (strcmp(key, "reserved_regions") == 0) {
                        if (!json_object_is_type(val, json_type_array)) {
                                r = parse_error(ret_error, -EINVAL, "reserved_regions: expected an array of strings");
                                goto error;
                        }
                        for (size_t i = 0; i < json_object_array_length(val); i++) {
                                json_object *e = json_object_array_get_idx(val, i);
                                Region reg;

                                if (!json_object_is_type(e, json_type_string) ||
                                    region_parse_line(json_object_get_string(e), &reg) < 0) {
                                        r = parse_error(ret_error, -EINVAL,
                                                 "reserved_regions[%zu]: expected \"0xSTART 0xEND TYPE\" with an "
                                                 "inclusive end",
                                                 i);
                                        goto error;
                                }
                                r = region_list_add(&n.reserved, reg.start, reg.end, reg.type, "policy");
                                if (r < 0)
                                        goto error;
                        }
                } else {
                        r = parse_error(ret_error, -EINVAL, "%s: unknown key", key);
                        goto error;
                }
        }
        region_list_normalize(&n.reserved);
        config_done(c);
        *c = n;
        return 0;
error:
        config_done(&n);
        return r;
}

int config_load(Config *c, const char *path, char **ret_error) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        _cleanup_free_ char *text = NULL;
        size_t size = 0;

        if (!f) {
                if (errno == ENOENT)
                        return 0;
                return -errno;
        }
        if (getdelim(&text, &size, '\0', f) < 0 && !feof(f))
                return -errno;
        if (!text)
                return parse_error(ret_error, -EINVAL, "%s: empty file", path);
        return config_parse(c, text, ret_error);
}
