/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pci/header.h>

#include "util/macro.h"
#include "platform/p2p.h"

/* The kernel's REQ_ACS_FLAGS (drivers/iommu/iommu.c). */
#define REQ_ACS (PCI_ACS_CTRL_VALID | PCI_ACS_CTRL_REQ_RED | PCI_ACS_CTRL_CMPLT_RED | PCI_ACS_CTRL_FORWARD)

/* Bounds a sysfs tree cannot exceed in practice; a deeper chain is a broken tree. */
#define HOPS_MAX 32

const char *p2p_verdict_to_string(P2pVerdict v) {
        switch (v) {
        case P2P_ISOLATED:
                return "isolated";
        case P2P_UNKNOWN:
                return "unknown";
        case P2P_PEERS:
                return "peers";
        case _P2P_VERDICT_MAX:
                break;
        }
        return NULL;
}

void p2p_report_done(P2pReport *r) {
        free(r->hops);
        free(r->windows);
        *r = (P2pReport) {};
}

static const char *role_of(const PciConfig *c) {
        if (!c->readable)
                return "unreadable";
        if (!c->pcie)
                return c->bridge ? "PCI bridge" : "conventional PCI device";
        switch (c->pcie_type) {
        case PCI_EXP_TYPE_ENDPOINT:
                return "endpoint";
        case PCI_EXP_TYPE_LEG_END:
                return "legacy endpoint";
        case PCI_EXP_TYPE_ROOT_PORT:
                return "root port";
        case PCI_EXP_TYPE_UPSTREAM:
                return "switch upstream port";
        case PCI_EXP_TYPE_DOWNSTREAM:
                return "switch downstream port";
        case PCI_EXP_TYPE_PCI_BRIDGE:
                return "PCIe-to-PCI bridge";
        case PCI_EXP_TYPE_PCIE_BRIDGE:
                return "PCI-to-PCIe bridge";
        case PCI_EXP_TYPE_ROOT_INT_EP:
                return "root complex endpoint";
        case PCI_EXP_TYPE_ROOT_EC:
                return "root complex event collector";
        default:
                return "PCIe function";
        }
}

/* pci_acs_flags_enabled(): capabilities a function lacks count as hard-wired on. */
static void acs_flags_missing(const PciConfig *c, char *buf, size_t size) {
        static const struct { uint16_t bit; const char *name; } flags[] = {
                { PCI_ACS_CTRL_VALID, "SV" },
                { PCI_ACS_CTRL_REQ_RED, "RR" },
                { PCI_ACS_CTRL_CMPLT_RED, "CR" },
                { PCI_ACS_CTRL_FORWARD, "UF" },
        };
        uint16_t want = REQ_ACS & c->acs_cap, missing = want & ~c->acs_ctrl;
        size_t off = 0;

        buf[0] = '\0';
        if (!c->has_acs) {
                snprintf(buf, size, "no ACS capability");
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(flags); i++)
                if (missing & flags[i].bit)
                        off += (size_t) snprintf(buf + off, size - off, "%s%s", off ? " " : "", flags[i].name);
}

/*
 * pci_acs_enabled() without pci_dev_specific_acs_enabled(): whether @c
 * keeps DMA that enters it from reaching peers. *@buf says what is
 * missing ("" when nothing is).
 */
static void acs_missing(const PciConfig *c, char *buf, size_t size) {
        buf[0] = '\0';
        if (!c->readable) {
                snprintf(buf, size, "config space unreadable");
                return;
        }
        /* A shared bus: any device on it can receive or snoop DMA. */
        if (!c->pcie) {
                snprintf(buf, size, "conventional PCI");
                return;
        }
        switch (c->pcie_type) {
        case PCI_EXP_TYPE_PCIE_BRIDGE:
        case PCI_EXP_TYPE_PCI_BRIDGE:
        case PCI_EXP_TYPE_ROOT_EC:
                /* ACS is never applicable to these (PCIe 3.0, 6.12.1). */
                snprintf(buf, size, "no ACS for its type");
                return;
        case PCI_EXP_TYPE_DOWNSTREAM:
        case PCI_EXP_TYPE_ROOT_PORT:
                acs_flags_missing(c, buf, size);
                return;
        case PCI_EXP_TYPE_ENDPOINT:
        case PCI_EXP_TYPE_UPSTREAM:
        case PCI_EXP_TYPE_LEG_END:
        case PCI_EXP_TYPE_ROOT_INT_EP:
                /* Only a multifunction device's functions need ACS among themselves. */
                if (c->multifunction)
                        acs_flags_missing(c, buf, size);
                return;
        default:
                return;
        }
}

typedef struct Builder {
        P2pReport r;
        size_t hops_allocated, windows_allocated;
} Builder;

static int add_hop(Builder *b, const char *address, const char *role, const char *missing) {
        for (size_t i = 0; i < b->r.n_hops; i++)
                if (strcmp(b->r.hops[i].address, address) == 0)
                        return 0;
        if (b->r.n_hops == b->hops_allocated) {
                size_t n = b->hops_allocated ? b->hops_allocated * 2 : 8;
                P2pHop *a = reallocarray(b->r.hops, n, sizeof(P2pHop));

                if (!a)
                        return -ENOMEM;
                b->r.hops = a;
                b->hops_allocated = n;
        }
        P2pHop *h = &b->r.hops[b->r.n_hops++];
        *h = (P2pHop) {};
        snprintf(h->address, sizeof(h->address), "%s", address);
        snprintf(h->role, sizeof(h->role), "%s", role);
        snprintf(h->missing, sizeof(h->missing), "%s", missing);
        return 0;
}

static int add_window(Builder *b, uint64_t start, uint64_t end, const char *address, const char *what) {
        for (size_t i = 0; i < b->r.n_windows; i++)
                if (b->r.windows[i].start == start && b->r.windows[i].end == end)
                        return 0;
        if (b->r.n_windows == b->windows_allocated) {
                size_t n = b->windows_allocated ? b->windows_allocated * 2 : 8;
                P2pWindow *a = reallocarray(b->r.windows, n, sizeof(P2pWindow));

                if (!a)
                        return -ENOMEM;
                b->r.windows = a;
                b->windows_allocated = n;
        }
        P2pWindow *w = &b->r.windows[b->r.n_windows++];
        *w = (P2pWindow) { .start = start, .end = end };
        snprintf(w->what, sizeof(w->what), "%s %s", address, what);
        return 0;
}

/* Every window of @d: its BARs and, for a bridge, what it forwards below. */
static int add_windows_of(Builder *b, const SysfsDevice *d) {
        for (size_t i = 0; i < d->config.n_windows; i++) {
                int r = add_window(b, d->config.windows[i].start, d->config.windows[i].end, d->address,
                                   d->config.windows[i].what);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool same_slot(const char *a, const char *b) {
        /* "dddd:bb:dd.f": all but the function. */
        return strncmp(a, b, 10) == 0;
}

/* Devices on the same bus as @d (same upstream bridge, or the same root bus), @d excepted. */
static int add_peers_of(Builder *b, const SysfsPlatform *p, const SysfsDevice *d, bool slot_only) {
        for (size_t i = 0; i < p->n_devices; i++) {
                const SysfsDevice *x = &p->devices[i];
                int r;

                if (x == d || strcmp(x->parent, d->parent) != 0 || strcmp(x->root_bus, d->root_bus) != 0)
                        continue;
                if (slot_only && !same_slot(x->address, d->address))
                        continue;
                r = add_windows_of(b, x);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void worsen(P2pReport *r, P2pVerdict v) {
        if (v > r->verdict)
                r->verdict = v;
}

static int analyze(Builder *b, const SysfsPlatform *p, const SysfsDevice *d) {
        char missing[48];
        const SysfsDevice *x = d;
        int r;

        /* The device itself: a conventional one shares its bus with its
         * siblings; a multifunction one without ACS lets its functions
         * reach each other. */
        acs_missing(&d->config, missing, sizeof(missing));
        r = add_hop(b, d->address, role_of(&d->config), missing);
        if (r < 0)
                return r;
        if (!d->config.readable)
                worsen(&b->r, P2P_UNKNOWN);
        else if (missing[0]) {
                worsen(&b->r, P2P_PEERS);
                r = add_peers_of(b, p, d, d->config.pcie);
                if (r < 0)
                        return r;
        }

        /* Each bridge up to the root port: one that does not redirect
         * lets the request reach every window on its primary bus (its
         * sibling ports, and on the root bus the other root ports and
         * the root complex's own devices: the host bridge's windows). */
        for (unsigned depth = 0; x->parent[0]; depth++) {
                const SysfsDevice *up = sysfs_find_device(p, x->parent);

                if (!up || depth == HOPS_MAX) {
                        worsen(&b->r, P2P_UNKNOWN);
                        return add_hop(b, x->parent, "unreadable", "not in sysfs");
                }
                acs_missing(&up->config, missing, sizeof(missing));
                r = add_hop(b, up->address, role_of(&up->config), missing);
                if (r < 0)
                        return r;
                if (!up->config.readable)
                        worsen(&b->r, P2P_UNKNOWN);
                else if (missing[0]) {
                        worsen(&b->r, P2P_PEERS);
                        r = add_peers_of(b, p, up, false);
                        if (r < 0)
                                return r;
                }
                x = up;
        }
        return 0;
}

static int cmp_window(const void *a, const void *b) {
        const P2pWindow *x = a, *y = b;

        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        return x->end < y->end ? -1 : x->end > y->end;
}

static int finish(Builder *b, int r, P2pReport *ret) {
        if (r < 0) {
                p2p_report_done(&b->r);
                return r;
        }
        if (b->r.n_windows > 1)
                qsort(b->r.windows, b->r.n_windows, sizeof(P2pWindow), cmp_window);
        *ret = b->r;
        return 0;
}

int p2p_device(const SysfsPlatform *p, const char *address, P2pReport *ret) {
        const SysfsDevice *d = sysfs_find_device(p, address);
        Builder b = {};

        if (!d)
                return -ENODEV;
        return finish(&b, analyze(&b, p, d), ret);
}

int p2p_group(const SysfsPlatform *p, const SysfsGroup *g, P2pReport *ret) {
        Builder b = {};
        int r = 0;

        for (char **a = g->devices; r >= 0 && a && *a; a++) {
                const SysfsDevice *d = sysfs_find_device(p, *a);

                if (d)
                        r = analyze(&b, p, d);
        }
        return finish(&b, r, ret);
}
