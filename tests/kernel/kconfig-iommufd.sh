#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# kconfig-iommufd.sh — print the kernel configuration fragment that
# build-kernel.sh merges into `make tinyconfig` for the iommufd guest
# (x86_64 q35, VT-d with interrupt remapping, edu devices on vfio-pci, the
# host's root over 9p). Everything is built in: the kernel has no modules,
# and guest-init finds nothing to load.
#
# build-kernel.sh checks that every line below holds in the final
# configuration (a dependency that Kconfig drops fails the build) and keys
# its cache on this output.
cat <<'FRAGMENT'
# No modules: guest-init loads none.
# CONFIG_MODULES is not set
CONFIG_64BIT=y
CONFIG_PRINTK=y
CONFIG_EARLY_PRINTK=y
CONFIG_BUG=y
# Boot: PVH entry (QEMU boots the ELF vmlinux), initramfs, serial console,
# ACPI for the DMAR table and poweroff.
CONFIG_HYPERVISOR_GUEST=y
CONFIG_PARAVIRT=y
CONFIG_PVH=y
CONFIG_ACPI=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_RD_GZIP=y
CONFIG_BINFMT_ELF=y
CONFIG_BINFMT_SCRIPT=y
CONFIG_TTY=y
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_HIGH_RES_TIMERS=y
# What glibc, dbus-daemon, sd-bus, iovad, setpriv and QEMU use.
CONFIG_MULTIUSER=y
CONFIG_FUTEX=y
CONFIG_EPOLL=y
CONFIG_SIGNALFD=y
CONFIG_TIMERFD=y
CONFIG_EVENTFD=y
CONFIG_SHMEM=y
CONFIG_AIO=y
CONFIG_ADVISE_SYSCALLS=y
CONFIG_MEMBARRIER=y
CONFIG_RSEQ=y
CONFIG_POSIX_TIMERS=y
CONFIG_FILE_LOCKING=y
CONFIG_FHANDLE=y
CONFIG_INOTIFY_USER=y
CONFIG_PROC_FS=y
CONFIG_PROC_SYSCTL=y
CONFIG_SYSFS=y
CONFIG_TMPFS=y
CONFIG_MEMFD_CREATE=y
CONFIG_DEVTMPFS=y
CONFIG_OVERLAY_FS=y
CONFIG_UNIX98_PTYS=y
CONFIG_NET=y
CONFIG_UNIX=y
# The host's root and the build directory over 9p on virtio-pci.
CONFIG_PCI=y
CONFIG_PCI_MSI=y
CONFIG_VIRTIO_MENU=y
CONFIG_VIRTIO_PCI=y
CONFIG_NET_9P=y
CONFIG_NET_9P_VIRTIO=y
CONFIG_9P_FS=y
# VT-d with interrupt remapping (q35's intel-iommu,intremap=on).
CONFIG_X86_X2APIC=y
CONFIG_IOMMU_SUPPORT=y
CONFIG_INTEL_IOMMU=y
CONFIG_IRQ_REMAP=y
# VFIO: the type1 container (/dev/vfio/vfio, the real vfio_iommu_type1)
# and the device cdevs (/dev/vfio/devices/vfioN) on iommufd (/dev/iommu),
# both in one kernel. IOMMUFD_VFIO_CONTAINER would replace the type1
# container by iommufd's emulation of it (the two are exclusive), and the
# type1-versus-iommufd comparison would compare iommufd with itself.
CONFIG_IOMMUFD=y
CONFIG_VFIO=y
CONFIG_VFIO_GROUP=y
CONFIG_VFIO_CONTAINER=y
CONFIG_VFIO_IOMMU_TYPE1=y
CONFIG_VFIO_DEVICE_CDEV=y
CONFIG_VFIO_PCI=y
FRAGMENT
