/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The names of stored fds, as the service manager passes them back
 * (LISTEN_FDNAMES): the input is one name, parsed by fd_store_name_parse().
 * A name it accepts must be exactly what fd_store_name() writes for what it
 * parsed (one spelling per fd); one it refuses leaves the outputs alone.
 */

#include <errno.h>

#include "fuzz.h"
#include "persist/fd-store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *name = fuzz_text(data, size), buf[FD_STORE_NAME_MAX];
        const char *container = NULL;
        FdStoreKind kind = FD_STORE_LEASE;
        uint64_t id = 12345;
        int r;

        r = fd_store_name_parse(name, &kind, &id, &container);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL, "parse: %d", r);
                FUZZ_CHECK(kind == FD_STORE_LEASE && id == 12345 && !container, "outputs changed on error");
        } else {
                FUZZ_CHECK(fd_store_name(kind, id, container, buf) == 0, "'%s' parsed, but cannot be written", name);
                FUZZ_CHECK(strcmp(buf, name) == 0, "'%s' parsed, written back as '%s'", name, buf);
        }
        free(name);
        return 0;
}
