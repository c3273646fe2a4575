/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * PCI peer-to-peer risk: whether DMA from a device can reach other
 * devices without passing the IOMMU, and which of their MMIO windows such
 * DMA would alias. A request goes up the PCI hierarchy to the root
 * complex and the IOMMU only where every bridge on the way redirects
 * peer-to-peer requests upstream: ACS Source Validation, Request
 * Redirect, Completion Redirect and Upstream Forwarding (the kernel's
 * REQ_ACS_FLAGS) on each downstream and root port, ACS on a
 * multifunction device's functions, and no conventional PCI on the way.
 * The rule is the kernel's pci_acs_enabled() without its device quirks,
 * on the configuration spaces pci-config.h read. Pure: no files.
 */

#include <stdbool.h>
#include <stddef.h>

#include "platform/sysfs.h"

typedef enum P2pVerdict {
        P2P_ISOLATED,  /* every hop redirects: DMA reaches only the IOMMU */
        P2P_UNKNOWN,   /* a configuration space on the path could not be read */
        P2P_PEERS,     /* some hop lets DMA reach peers directly */
        _P2P_VERDICT_MAX,
} P2pVerdict;

/* One function on the path: the device itself, then each bridge up to the root port. */
typedef struct P2pHop {
        char address[16];
        char role[32];      /* "endpoint", "root port", "switch downstream port", ... */
        char missing[48];   /* "" when it isolates; "RR CR", "no ACS capability", "conventional PCI" */
} P2pHop;

/* A window that DMA from the device would reach instead of memory. */
typedef struct P2pWindow {
        uint64_t start, end; /* bus addresses, inclusive */
        char what[48];       /* "0000:02:00.0 BAR 0", "0000:01:02.0 memory window" */
} P2pWindow;

typedef struct P2pReport {
        P2pVerdict verdict;
        P2pHop *hops;
        size_t n_hops;
        P2pWindow *windows;  /* sorted by start, no duplicates */
        size_t n_windows;
} P2pReport;

/* "isolated", "unknown", "peers"; NULL for anything else. */
const char *p2p_verdict_to_string(P2pVerdict v);

/**
 * p2p_device() - the report for device @address of @p.
 * -ENODEV when @p has no such device; -ENOMEM.
 */
int p2p_device(const SysfsPlatform *p, const char *address, P2pReport *ret);

/**
 * p2p_group() - the union over the PCI members of group @g: the worst
 * verdict, every member's hops (each function once) and windows.
 */
int p2p_group(const SysfsPlatform *p, const SysfsGroup *g, P2pReport *ret);

void p2p_report_done(P2pReport *r);
