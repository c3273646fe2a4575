/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Small helpers shared by every module: scope-bound cleanup, ownership
 * transfer and a few arithmetic helpers that must never overflow.
 */

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _sentinel_ __attribute__((sentinel))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* Take the value out of a variable and leave its "empty" value behind. */
#define TAKE_GENERIC(var, type, nullvalue)                       \
        ({                                                       \
                type *_pvar_ = &(var);                           \
                type _var_ = *_pvar_;                            \
                type _nullvalue_ = nullvalue;                    \
                *_pvar_ = _nullvalue_;                           \
                _var_;                                           \
        })
#define TAKE_PTR(p) TAKE_GENERIC(p, __typeof__(p), NULL)
#define TAKE_FD(fd) TAKE_GENERIC(fd, int, -1)

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Declares a cleanup function "namep" that calls "func" on a non-NULL pointer. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                  \
        static inline void func##p(type *p) {                    \
                if (*p)                                          \
                        *p = func(*p);                           \
        }

static inline bool is_pow2_u64(uint64_t x) {
        return x != 0 && (x & (x - 1)) == 0;
}

/* Round up to a power-of-two alignment; false if the result would overflow. */
static inline bool align_up_u64(uint64_t x, uint64_t align, uint64_t *ret) {
        uint64_t r = (x + (align - 1)) & ~(align - 1);
        if (r < x)
                return false;
        *ret = r;
        return true;
}

static inline uint64_t align_down_u64(uint64_t x, uint64_t align) {
        return x & ~(align - 1);
}

/* Last byte of [start, start + size); false if size is 0 or it wraps. */
static inline bool range_last(uint64_t start, uint64_t size, uint64_t *ret) {
        if (size == 0 || start + (size - 1) < start)
                return false;
        *ret = start + (size - 1);
        return true;
}

static inline void safe_close(int fd) {
        if (fd >= 0)
                (void) close(fd);
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return __builtin_strcmp(a, b) == 0;
}

static inline bool isempty(const char *s) {
        return !s || !*s;
}
