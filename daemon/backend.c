/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "backend.h"

void backend_info_done(BackendInfo *i) {
        if (!i)
                return;
        range_list_clear(&i->usable);
        *i = (BackendInfo) {};
}

Backend *backend_free(Backend *b) {
        if (!b)
                return NULL;
        /* The ops' free releases the backend's own state and @b itself. */
        b->ops->free(b);
        return NULL;
}
