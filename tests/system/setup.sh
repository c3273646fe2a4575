#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# setup.sh — the host packages of the system tier: the kernel tier's
# (QEMU, busybox-static, kmod, ...) plus what its guest, which boots the
# host's root with systemd, runs (udev, dbus, polkitd, passwd, meson,
# ninja-build); tests/kernel/setup.sh has the list and installs what is
# missing with apt-get.
exec bash "$(dirname "$(realpath "$0")")/../kernel/setup.sh" system
