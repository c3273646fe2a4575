/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* json-c with scope-bound cleanup, shared by the modules that read JSON. */

#include <json-c/json.h>

static inline void json_object_putp(json_object **o) {
        if (*o)
                (void) json_object_put(*o);
}
