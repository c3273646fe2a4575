/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <string.h>

#include "iovad-errors.h"

static const struct {
        const char *name;
        int errnum;
} table[_IOVAD_E_MAX] = {
#define IOVAD_ERROR_ENTRY_(code, n, e) [IOVAD_E_##code] = { n, e },
        IOVAD_ERROR_LIST(IOVAD_ERROR_ENTRY_)
#undef IOVAD_ERROR_ENTRY_
};

const char *iovad_error_name(IovadErrorCode code) {
        if (code <= IOVAD_E_NONE || code >= _IOVAD_E_MAX)
                return NULL;
        return table[code].name;
}

int iovad_error_errno(IovadErrorCode code) {
        if (code <= IOVAD_E_NONE || code >= _IOVAD_E_MAX)
                return EIO;
        return table[code].errnum;
}

IovadErrorCode iovad_error_from_name(const char *name) {
        if (!name)
                return IOVAD_E_NONE;
        for (int i = IOVAD_E_NONE + 1; i < _IOVAD_E_MAX; i++)
                if (strcmp(table[i].name, name) == 0)
                        return (IovadErrorCode) i;
        return IOVAD_E_NONE;
}
