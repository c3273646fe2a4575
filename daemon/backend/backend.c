/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "util/macro.h"
#include "util/parse-error.h"

void backend_info_done(BackendInfo *i) {
        if (!i)
                return;
        range_list_clear(&i->usable);
        region_list_clear(&i->kernel_holes);
        *i = (BackendInfo) {};
}

int backend_kernel_holes(const char *release, const RangeList *usable, uint64_t page, RegionList *holes) {
        unsigned major, minor;

        if (!release || sscanf(release, "%u.%u", &major, &minor) != 2)
                return 0;
        if (usable->n == 0 || usable->items[usable->n - 1].end != UINT64_MAX || page == 0)
                return 0;
        if (major > 6 || (major == 6 && minor >= 18))
                return 0;
        return region_list_add(holes, UINT64_MAX - (page - 1), UINT64_MAX, REGION_RESERVED,
                               "kernel: type1 < 6.18 top page");
}

int backend_adopt_dma(BackendContainer *c, const BackendOps *ops, uint64_t iova, uint64_t size, void *vaddr,
                      bool writable, BackendAdoption *ret) {
        uint64_t bytes = 0, unmapped = 0;
        int r;

        r = ops->invalidate_vaddr(c, iova, size, &bytes);
        if (r >= 0 && bytes == 0) {
                /* Nothing there: the mapping went before its record did. */
                r = ops->map_dma(c, iova, size, vaddr, writable);
                if (r < 0)
                        return r;
                *ret = BACKEND_MAPPED_AGAIN;
                return 0;
        }
        if (r < 0 && r != -EINVAL)
                return r;
        /*
         * -EINVAL: a mapping crosses an edge, or one here has no address
         * already (an iovad died between these two steps). The kernel
         * takes the new address only for one mapping of exactly this
         * range: that is the check.
         */
        r = ops->update_vaddr(c, iova, size, vaddr);
        if (r >= 0) {
                *ret = BACKEND_ADOPTED;
                return 0;
        }
        /* Something else is mapped here: away with it (refused when it reaches past the range), and map anew. */
        r = ops->unmap_dma(c, iova, size, &unmapped);
        if (r < 0)
                return r;
        r = ops->map_dma(c, iova, size, vaddr, writable);
        if (r < 0)
                return r;
        *ret = BACKEND_REPLACED;
        return 0;
}

Backend *backend_free(Backend *b) {
        if (!b)
                return NULL;
        /* The ops' free releases the backend's own state and @b itself. */
        b->ops->free(b);
        return NULL;
}

/* 1 with the iommufd backend in *@ret when @kind asks for it (or "auto" finds it usable), 0 for type1. */
static int backend_open_iommufd(const char *kind, const char *sysfs_root, Backend **ret, char **ret_error) {
        _cleanup_free_ char *why = NULL;
        int r;

        if (kind && strcmp(kind, "vfio-type1") == 0)
                return 0;
        if (!kind || strcmp(kind, "auto") == 0) {
                r = backend_iommufd_usable(sysfs_root ?: "/sys", &why);
                if (r < 0)
                        return parse_error(ret_error, r, "Cannot look for iommufd: %s", strerror(-r));
                if (r == 0)
                        return 0;
        }
        r = backend_iommufd_new(sysfs_root, ret);
        if (r == -ENOENT)
                return parse_error(ret_error, r,
                                   "This machine has no iommufd (/dev/iommu is missing): a kernel with "
                                   "CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV is needed, or --backend=vfio-type1");
        if (r < 0)
                return parse_error(ret_error, r, "Cannot use iommufd on this machine: %s", strerror(-r));
        return 1;
}

int backend_open(const char *simulate, const char *kind, const char *profiles_dir, const char *runtime_dir,
                 const char *sysfs_root, Backend **ret, char **ret_error) {
        int r;

        if (simulate) {
                _cleanup_free_ char *msg = NULL;
                Profile *p = NULL;

                r = profile_load(simulate, profiles_dir, &p, &msg);
                if (r == -ENOENT)
                        return parse_error(ret_error, r, "No profile '%s' (neither a file nor a profile shipped in %s)",
                                           simulate, profiles_dir);
                if (r < 0)
                        return parse_error(ret_error, r, "Profile '%s' is invalid: %s", simulate,
                                           msg ? msg : strerror(-r));
                r = backend_sim_new(p, runtime_dir, ret);
                if (r < 0) {
                        profile_free(p);
                        return parse_error(ret_error, r, "Cannot set up the simulated platform in %s: %s", runtime_dir,
                                           strerror(-r));
                }
                return 0;
        }
        if (kind && strcmp(kind, "auto") != 0 && strcmp(kind, "vfio-type1") != 0 && strcmp(kind, "iommufd") != 0)
                return parse_error(ret_error, -EINVAL, "Unknown backend '%s' (auto, vfio-type1 or iommufd)", kind);
        r = backend_open_iommufd(kind, sysfs_root, ret, ret_error);
        if (r != 0)
                return r < 0 ? r : 0;
        if (access("/dev/vfio/vfio", F_OK) < 0)
                return parse_error(ret_error, -ENOENT,
                                   "This machine has no VFIO (/dev/vfio/vfio is missing): load the vfio-pci module, or "
                                   "run iovad --simulate=PROFILE to use a simulated platform (shipped: x86-vtd, "
                                   "x86-amdvi, arm-smmuv3, virtio-iommu)");
        r = backend_vfio_new(sysfs_root, ret);
        if (r < 0)
                return parse_error(ret_error, r, "Cannot use VFIO type1 on this machine: %s", strerror(-r));
        return 0;
}
