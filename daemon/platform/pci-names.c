/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

#include <pci/pci.h>

#include "util/macro.h"
#include "platform/pci-names.h"

/* libpci's handlers: it calls error() only when out of memory and expects
 * it not to return; warnings (an unreadable pci.ids) only mean "no name". */
_printf_(1, 2) __attribute__((noreturn))
static void pci_error(char *msg, ...) {
        abort();
}

_printf_(1, 2)
static void pci_quiet(char *msg, ...) {
}

/*
 * The name database, loaded on first use and kept for the life of the
 * process: a static because libpci keeps its cache in the pci_access and
 * reloading pci.ids per call would cost milliseconds each. Not thread-safe,
 * like the rest of iovad.
 */
static struct pci_access *pci_names(void) {
        static struct pci_access *pacc = NULL;

        if (!pacc) {
                pacc = pci_alloc();
                if (!pacc)
                        return NULL;
                pacc->error = pci_error;
                pacc->warning = pci_quiet;
                pacc->debug = pci_quiet;
        }
        return pacc;
}

char *pci_describe(uint16_t vendor, uint16_t device) {
        struct pci_access *pacc = pci_names();
        char buf[512];
        const char *name = NULL;
        char *s;

        /* pci.ids only: no DNS lookups from a system daemon, and not the
         * udev hwdb (built from the same list), since libpci creates a new
         * udev context on every lookup while hwdb.bin is missing and never
         * frees those. */
        if (pacc) {
                name = pci_lookup_name(pacc, buf, sizeof(buf),
                                       PCI_LOOKUP_VENDOR | PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS | PCI_LOOKUP_NO_HWDB,
                                       (int) vendor, (int) device);
                if (!name)
                        name = pci_lookup_name(pacc, buf, sizeof(buf),
                                               PCI_LOOKUP_VENDOR | PCI_LOOKUP_NO_NUMBERS | PCI_LOOKUP_NO_HWDB,
                                               (int) vendor);
        }

        if (name && name[0]) {
                if (asprintf(&s, "%04x:%04x %s", vendor, device, name) < 0)
                        return NULL;
        } else if (asprintf(&s, "%04x:%04x", vendor, device) < 0)
                return NULL;
        return s;
}
