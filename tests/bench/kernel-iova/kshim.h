/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Just enough of the kernel's headers for drivers/iommu/iova.c and
 * lib/rbtree.c to build in user space, single-threaded, as they run on
 * one CPU of a kernel:
 *
 *  - spinlocks are the uncontended fast path of a real lock (one atomic
 *    exchange to take, one release store to drop); interrupts are not
 *    disabled, there are none to disable;
 *  - kmem caches are malloc() and free() of the cache's object size;
 *  - one possible CPU: per-CPU data is a single instance;
 *  - CPU hotplug callbacks are never called, delayed work never runs
 *    (so the rcache depot is never trimmed: nothing in the benchmark
 *    waits the 100 ms the kernel's trimming work waits for).
 *
 * kernel-iova.sh generates the <linux/...> headers iova.c and rbtree.c
 * include but the extracted source does not provide, each a one-line
 * #include of this file.
 */

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef uint64_t dma_addr_t;
typedef uint64_t phys_addr_t;
typedef unsigned int gfp_t;
typedef unsigned int slab_flags_t;

#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)

#define __always_inline inline __attribute__((always_inline))
#define __percpu
#define __init
#define __exit
#define __must_check
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define IS_REACHABLE(option) 1
#define IS_ENABLED(option) 1

#define READ_ONCE(x) (*(const volatile __typeof__(x) *) &(x))
#define WRITE_ONCE(x, v) do { *(volatile __typeof__(x) *) &(x) = (v); } while (0)
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define RCU_INIT_POINTER(p, v) WRITE_ONCE(p, v)
#define rcu_dereference_raw(p) READ_ONCE(p)

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))
#define typeof(x) __typeof__(x)
#define swap(a, b) do { __typeof__(a) tmp_ = (a); (a) = (b); (b) = tmp_; } while (0)
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#define ALIGN(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x)) (a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x)) (a) - 1))

#define kshim_die(what) (fprintf(stderr, "kernel-iova: %s at %s:%d\n", what, __FILE__, __LINE__), abort())
#define BUG_ON(c) do { if (unlikely(c)) kshim_die("BUG_ON(" #c ")"); } while (0)
#define WARN_ON(c) ({ bool w_ = !!(c); if (unlikely(w_)) fprintf(stderr, "kernel-iova: WARN_ON(%s) at %s:%d\n", #c, __FILE__, __LINE__); w_; })
#define pr_err(...) fprintf(stderr, __VA_ARGS__)
#define ERR_PTR(e) ((void *) (long) (e))
#define ENOTSUPP 524
#undef static_assert
#define static_assert(expr, ...) _Static_assert(expr, #expr)

#define EXPORT_SYMBOL(s)
#define EXPORT_SYMBOL_GPL(s)
#define MODULE_LICENSE(s)
#define MODULE_AUTHOR(s)
#define MODULE_DESCRIPTION(s)

/* Bit operations. */
static inline unsigned long __ffs(unsigned long w) { return (unsigned long) __builtin_ctzl(w); }
static inline int fls_long(unsigned long w) { return w ? (int) (sizeof(w) * 8) - __builtin_clzl(w) : 0; }
static inline bool is_power_of_2(unsigned long n) { return n != 0 && (n & (n - 1)) == 0; }
static inline unsigned long roundup_pow_of_two(unsigned long n) { return 1UL << fls_long(n - 1); }
static inline int order_base_2(unsigned long n) { return n > 1 ? fls_long(n - 1) : 0; }

/* Locks: the uncontended fast path of a real one. */
typedef struct { int v; } spinlock_t;
struct mutex { int v; };
#define DEFINE_MUTEX(name) struct mutex name = { 0 }
static inline void kshim_lock(int *v) { while (__atomic_exchange_n(v, 1, __ATOMIC_ACQUIRE)) ; }
static inline void kshim_unlock(int *v) { __atomic_store_n(v, 0, __ATOMIC_RELEASE); }
#define spin_lock_init(l) ((l)->v = 0)
#define spin_lock(l) kshim_lock(&(l)->v)
#define spin_unlock(l) kshim_unlock(&(l)->v)
#define spin_lock_irqsave(l, flags) do { (flags) = 0; kshim_lock(&(l)->v); } while (0)
#define spin_unlock_irqrestore(l, flags) do { (void) (flags); kshim_unlock(&(l)->v); } while (0)
#define assert_spin_locked(l) BUG_ON(!(l)->v)
#define mutex_lock(m) kshim_lock(&(m)->v)
#define mutex_unlock(m) kshim_unlock(&(m)->v)

/* Memory. */
#define GFP_KERNEL 0u
#define GFP_ATOMIC 1u
#define __GFP_NOWARN 2u
#define SLAB_HWCACHE_ALIGN 1u
struct kmem_cache { size_t size; };
static inline struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align, slab_flags_t f,
                                                   void (*ctor)(void *)) {
        struct kmem_cache *c = malloc(sizeof(*c));
        (void) name, (void) align, (void) f, (void) ctor;
        if (c)
                c->size = size;
        return c;
}
static inline void kmem_cache_destroy(struct kmem_cache *c) { free(c); }
static inline void *kmem_cache_alloc(struct kmem_cache *c, gfp_t f) { (void) f; return malloc(c->size); }
static inline void *kmem_cache_zalloc(struct kmem_cache *c, gfp_t f) { (void) f; return calloc(1, c->size); }
static inline void kmem_cache_free(struct kmem_cache *c, void *p) { (void) c; free(p); }
static inline void *kcalloc(size_t n, size_t size, gfp_t f) { (void) f; return calloc(n, size); }
static inline void kfree(const void *p) { free((void *) p); }
static inline void kmemleak_transient_leak(const void *p) { (void) p; }
static inline int cache_line_size(void) { return 64; }

/* One CPU. */
#define for_each_possible_cpu(cpu) for ((cpu) = 0; (cpu) < 1; (cpu)++)
#define for_each_online_cpu(cpu) for_each_possible_cpu(cpu)
static inline unsigned int num_online_cpus(void) { return 1; }
static inline void *__alloc_percpu(size_t size, size_t align) { (void) align; return calloc(1, size); }
static inline void free_percpu(void *p) { free(p); }
#define per_cpu_ptr(ptr, cpu) ((void) (cpu), (ptr))
#define raw_cpu_ptr(ptr) (ptr)

/* CPU hotplug: registered, never called. */
struct hlist_node { struct hlist_node *next, **pprev; };
#define hlist_entry_safe(ptr, type, member) ((ptr) ? container_of(ptr, type, member) : NULL)
enum { CPUHP_IOMMU_IOVA_DEAD = 1 };
static inline int cpuhp_setup_state_multi(int state, const char *name, int (*startup)(unsigned int, struct hlist_node *),
                                          int (*teardown)(unsigned int, struct hlist_node *)) {
        (void) state, (void) name, (void) startup, (void) teardown;
        return 0;
}
static inline void cpuhp_remove_multi_state(int state) { (void) state; }
static inline int cpuhp_state_add_instance_nocalls(int state, struct hlist_node *n) { (void) state, (void) n; return 0; }
static inline int cpuhp_state_remove_instance_nocalls(int state, struct hlist_node *n) { (void) state, (void) n; return 0; }

/* Delayed work: scheduled, never run. */
struct work_struct { int pending; };
struct delayed_work { struct work_struct work; };
#define INIT_DELAYED_WORK(w, fn) ((void) (fn), (w)->work.pending = 0)
static inline unsigned long msecs_to_jiffies(unsigned int ms) { return ms; }
static inline bool schedule_delayed_work(struct delayed_work *w, unsigned long delay) {
        (void) delay;
        w->work.pending = 1;
        return true;
}
static inline bool cancel_delayed_work_sync(struct delayed_work *w) {
        bool was = w->work.pending;
        w->work.pending = 0;
        return was;
}
