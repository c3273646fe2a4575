#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes the generated part of the seed corpora (files named gen-*):

  region/     each group's reserved_regions lines of every shipped profile
  profile/    the shipped profiles themselves
  vfio-caps/  VFIO_IOMMU_GET_INFO replies laid out as the type1 driver lays
              them out (packed, as before Linux 6.6, and padded to 8 bytes)
  sysfs/      sysfs trees of the shipped profiles' groups, in fuzz-sysfs.c's format

The hand-written seeds (every other file) are kept as they are. Run from
anywhere: python3 tests/fuzz/make-corpus.py
"""

import glob
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "gen-" + name), "wb") as f:
        f.write(data)


def clean(target):
    for p in glob.glob(os.path.join(CORPUS, target, "gen-*")):
        os.remove(p)


def profiles():
    for path in sorted(glob.glob(os.path.join(SRC, "daemon", "profiles", "*.json"))):
        with open(path) as f:
            text = f.read()
        yield os.path.basename(path)[:-5], text, json.loads(text)


# --- VFIO_IOMMU_GET_INFO replies -------------------------------------------------

FIXED = 24  # sizeof(struct vfio_iommu_type1_info): argsz flags pgsizes cap_offset pad
INFO_PGSIZES, INFO_CAPS = 1, 2
CAP_IOVA_RANGE, CAP_MIGRATION, CAP_DMA_AVAIL = 1, 2, 3
MSI_START, MSI_END = 0xFEE00000, 0xFEEFFFFF


class Reply:
    def __init__(self, pgsizes=0x40201000, pad=True):
        self.buf = bytearray(struct.pack("<IIQII", 0, INFO_PGSIZES, pgsizes, 0, 0))
        self.last = 0
        self.pad = pad

    def cap(self, cid, body, version=1):
        off = len(self.buf)
        c = bytearray(struct.pack("<HHI", cid, version, 0) + body)
        if self.pad:
            c += b"\0" * (-len(c) % 8)
        self.buf += c
        if self.last == 0:
            flags = struct.unpack_from("<I", self.buf, 4)[0]
            struct.pack_into("<I", self.buf, 4, flags | INFO_CAPS)
            struct.pack_into("<I", self.buf, 16, off)
        else:
            struct.pack_into("<I", self.buf, self.last + 4, off)
        self.last = off
        return self

    def ranges(self, pairs, nr=None):
        body = struct.pack("<II", len(pairs) if nr is None else nr, 0)
        for s, e in pairs:
            body += struct.pack("<QQ", s, e)
        return self.cap(CAP_IOVA_RANGE, body)

    def dma_avail(self, n):
        return self.cap(CAP_DMA_AVAIL, struct.pack("<I", n))

    def migration(self):
        return self.cap(CAP_MIGRATION, struct.pack("<IIQQ", 0, 0, 0x1000, 256 << 20))

    def done(self, argsz=None):
        struct.pack_into("<I", self.buf, 0, len(self.buf) if argsz is None else argsz)
        return bytes(self.buf)


def vfio_caps():
    clean("vfio-caps")
    top39 = (1 << 39) - 1
    intel = [(0, MSI_START - 1), (MSI_END + 1, top39)]
    amd = [(0, MSI_START - 1), (MSI_END + 1, 0xFCFFFFFFFF), (0x10000000000, (1 << 48) - 1)]
    arm = [(0, 0x7FFFFFF), (0x8100000, (1 << 48) - 1)]
    virtio = [(0, MSI_START - 1), (MSI_END + 1, (1 << 64) - 1)]
    for pad in (True, False):
        tag = "padded" if pad else "packed"
        write("vfio-caps", f"intel-{tag}", Reply(pad=pad).migration().dma_avail(65535).ranges(intel).done())
        write("vfio-caps", f"amd-{tag}", Reply(pad=pad).migration().dma_avail(65535).ranges(amd).done())
    write("vfio-caps", "arm", Reply(pgsizes=0x20010000 | 0x1000).dma_avail(65535).ranges(arm).done())
    write("vfio-caps", "virtio-64bit", Reply().dma_avail(1000).ranges(virtio).done())
    write("vfio-caps", "fixed-only", Reply().done())
    # What a kernel answers to the first, fixed-size query: argsz says how much it needs.
    full = Reply().migration().dma_avail(65535).ranges(intel).done()
    write("vfio-caps", "requery", full[:FIXED])
    write("vfio-caps", "unknown-cap", Reply().cap(99, b"\1\2\3\4\5\6\7\x08").dma_avail(7).done())
    write("vfio-caps", "no-pgsizes", Reply(pgsizes=0).dma_avail(1).done())
    write("vfio-caps", "lying-nr-iovas", Reply().ranges(intel, nr=3).done())
    write("vfio-caps", "version2", Reply().cap(CAP_DMA_AVAIL, struct.pack("<II", 5, 0), version=2).done())


# --- reserved_regions, profiles, sysfs trees --------------------------------------

def region_and_profile():
    clean("region")
    clean("profile")
    for name, text, p in profiles():
        write("profile", name + ".json", text)
        seen = set()
        for g in p["groups"]:
            lines = "".join(l + "\n" for l in g.get("reserved_regions", []))
            if lines and lines not in seen:
                seen.add(lines)
                write("region", f"{name}-group{g['id']}", lines)


def config_bytes(lines):
    """A device's config file from a profile's lspci -xxx lines."""
    b = bytearray(256)
    for l in lines:
        off, data = l.split(":", 1)
        data = bytes(int(x, 16) for x in data.split())
        end = int(off, 16) + len(data)
        if end > len(b):
            b.extend(bytearray(4096 - len(b)))
        b[int(off, 16):end] = data
    return bytes(b)


def sysfs_tree(p):
    entries = []
    devices = {d["address"]: d for g in p["groups"] for d in g["devices"]}

    def add(path, content=""):
        if isinstance(content, str):
            content = content.encode()
        entries.append(path.encode() + b"\n" + content)

    for g in p["groups"]:
        gid = g["id"]
        add(f"kernel/iommu_groups/{gid}/reserved_regions",
            "".join(l + "\n" for l in g.get("reserved_regions", [])))
        for d in g["devices"]:
            a = d["address"]
            dev = f"bus/pci/devices/{a}"
            if "parent" in d:
                # Below its bridges, as sysfs nests devices; the fuzz
                # format allows no ".." in a link, so the tree hangs below
                # bus/pci/devices/tree.
                chain, x = [a], d
                while "parent" in x:
                    chain.insert(0, x["parent"])
                    x = devices.get(x["parent"], {})
                dev = "bus/pci/devices/tree/" + "/".join(chain)
                add(f"bus/pci/devices/{a}@", "tree/" + "/".join(chain))
            if "config" in d:
                add(f"{dev}/config", config_bytes(d["config"]))
            if "resources" in d:
                add(f"{dev}/resource", "".join(l + "\n" for l in d["resources"]))
            add(f"{dev}/vendor", d["vendor"] + "\n")
            add(f"{dev}/device", d["device"] + "\n")
            add(f"{dev}/class", d["class"] + "\n")
            add(f"{dev}/driver_override", "(null)\n")
            add(f"{dev}/iommu_group@", f"iommu_groups/{gid}")
            if d.get("driver"):
                add(f"{dev}/driver@", f"drivers/{d['driver']}")
            add(f"kernel/iommu_groups/{gid}/devices/{a}/")
    x86 = any(l.split()[2] == "msi" and int(l.split()[0], 16) <= MSI_START and int(l.split()[1], 16) >= MSI_END
              for g in p["groups"] for l in g.get("reserved_regions", []))
    remap = p.get("interrupt_remapping", False)
    if x86:
        add("kernel/irq/9/chip_name", ("IR-IO-APIC" if remap else "IO-APIC") + "\n")
    else:
        add("kernel/irq/11/chip_name", "GICv3\n")
        if remap:
            add("kernel/irq/12/chip_name", "ITS-pMSI\n")
    add("module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
        ("Y" if p.get("allow_unsafe_interrupts") else "N") + "\n")
    if not x86:
        # The ITS (or GICv2m frame) in the device tree, with its registers.
        its = remap
        base = 0x8080000 if its else 0x8020000
        node = f"firmware/devicetree/base/intc@8000000/{'its' if its else 'v2m'}@{base:x}"
        add("firmware/devicetree/base/intc@8000000/#address-cells", b"\0\0\0\x02")
        add(f"{node}/compatible", "arm,gic-v3-its" if its else "arm,gic-v2m-frame")
        add(f"{node}/reg", base.to_bytes(8, "big") + (0x20000 if its else 0x1000).to_bytes(8, "big"))
    return b"\n%%\n".join(entries)


def sysfs():
    clean("sysfs")
    # One small tree per group (each file costs the target a few system
    # calls), and one whole machine for the sorting of devices and groups.
    for name, _, p in profiles():
        seen = set()
        for g in p["groups"]:
            key = (tuple(g.get("reserved_regions", [])), tuple(sorted(d.get("driver", "") for d in g["devices"])))
            if key not in seen:
                seen.add(key)
                write("sysfs", f"{name}-group{g['id']}", sysfs_tree(dict(p, groups=[g])))
        if name == "virtio-iommu":
            write("sysfs", name, sysfs_tree(p))
    # An ACPI machine's MADT: a GICC, an ITS and a GIC MSI frame.
    madt = bytearray(44)
    madt[0:4] = b"APIC"
    madt += bytes([11, 80]) + bytes(78)
    madt += bytes([15, 20, 0, 0, 0, 0, 0, 0]) + (0x8080000).to_bytes(8, "little") + bytes(4)
    madt += bytes([13, 24, 0, 0, 0, 0, 0, 0]) + (0x8020000).to_bytes(8, "little") + bytes(8)
    madt[4:8] = len(madt).to_bytes(4, "little")
    write("sysfs", "acpi-madt", b"firmware/acpi/tables/APIC\n" + bytes(madt))
    # Devices reached through symlinks, as on a real system.
    write("sysfs", "linked-device", "\n%%\n".join([
        "bus/pci/devices/real/0000:00:04.0/vendor\n0x1b36\n",
        "bus/pci/devices/real/0000:00:04.0/device\n0x0005\n",
        "bus/pci/devices/real/0000:00:04.0/class\n0x00ff00\n",
        "bus/pci/devices/real/0000:00:04.0/iommu_group@\ngroups/3",
        "bus/pci/devices/0000:00:04.0@\nreal/0000:00:04.0",
        "kernel/iommu_groups/3/reserved_regions\n0x00000000fee00000 0x00000000feefffff msi\n",
        "kernel/iommu_groups/3/devices/0000:00:04.0@\nx",
        "kernel/irq/24/chip_name\nIR-PCI-MSIX-0000:00:04.0\n",
    ]))


def main():
    vfio_caps()
    region_and_profile()
    sysfs()


if __name__ == "__main__":
    main()
