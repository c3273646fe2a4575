/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Shared by the libFuzzer targets. A target feeds the input to one parser
 * and then checks what the parser's header promises (results sorted,
 * round trips equal, nothing changed on error). A broken promise aborts,
 * which libFuzzer reports as a crash like any sanitizer finding.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                          \
        do {                                                                           \
                if (!(cond)) {                                                         \
                        fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
                        fprintf(stderr, __VA_ARGS__);                                  \
                        fputc('\n', stderr);                                           \
                        abort();                                                       \
                }                                                                      \
        } while (0)

/* The input as a C string (text parsers take one); a NUL in it ends the text. */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (!s)
                abort();
        if (size > 0)
                memcpy(s, data, size);
        s[size] = '\0';
        return s;
}

/*
 * A private scratch directory for targets whose parser reads files,
 * made on first use and removed at exit: below $TMPDIR, else /dev/shm
 * (tmpfs keeps the file traffic off the disk), else /tmp.
 */
const char *fuzz_scratch_dir(void);

/* Writes @size bytes to @path (created or truncated); aborts on failure. */
void fuzz_write_file(const char *path, const void *data, size_t size);
