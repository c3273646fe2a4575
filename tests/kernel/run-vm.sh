#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-vm.sh -k KDIR -i INITRD -H SHARE -c SCRIPT [-m IOMMU] [-t SECS] [-l LOG] [-e ARGS] [-T FILE]
#
# Boots a throw-away x86_64 guest under QEMU with TCG (never KVM): q35, one
# vCPU, a virtual IOMMU with interrupt remapping, two QEMU edu devices at
# fixed slots (00:04.0 and 00:05.0, each in its own IOMMU group) and a
# virtio-rng device at 00:06.0 (driven by virtio-pci in the guest). The host's
# / is the guest's root (read-only 9p) and SHARE is shared read-write at its
# own path; guest-init runs SCRIPT there as root.
#
#   -k KDIR    kernel directory printed by fetch-kernel.sh
#   -i INITRD  initramfs made by mkinitramfs.sh
#   -H SHARE   host directory shared read-write (e.g. the build directory)
#   -c SCRIPT  script to run in the guest (a path the guest can see)
#   -m IOMMU   intel (default: intel-iommu, VT-d) or amd (amd-iommu, AMD-Vi)
#   -t SECS    wall-clock limit for QEMU (default 300)
#   -l LOG     serial console log (default: vm.log)
#   -e ARGS    extra kernel command line
#   -T FILE    amd: log every DMA translation of QEMU's AMD-Vi model to FILE
#              ("amdvi_translation_result devid: BB:DD.F gpa IOVA hpa ADDR",
#              hpa 0x0 when the IOMMU blocked it). QEMU's VT-d model reports
#              blocked translations on the console by itself.
#
# The console goes to stdout and LOG. Exit status: the script's, 124 when
# the time limit hit, 125 when the guest printed no result.
set -uo pipefail
kdir='' initrd='' share='' script='' iommu=intel tmo=300 log=vm.log extra='' trace=''
while getopts k:i:H:c:m:t:l:e:T: o; do
	case $o in
	k) kdir=$OPTARG ;; i) initrd=$OPTARG ;; H) share=$(realpath "$OPTARG") ;;
	c) script=$OPTARG ;; m) iommu=$OPTARG ;; t) tmo=$OPTARG ;;
	l) log=$OPTARG ;; e) extra=$OPTARG ;; T) trace=$OPTARG ;;
	*) exit 2 ;;
	esac
done
if [ -z "$kdir" ] || [ -z "$initrd" ] || [ -z "$share" ] || [ -z "$script" ]; then
	sed -n '4,24s/^# \{0,1\}//p' "$0" >&2
	exit 2
fi

qemu=(qemu-system-x86_64 -machine q35 -accel tcg -cpu max -m 1G -smp 1
      -nodefaults -display none -serial stdio -no-reboot)
kargs="console=ttyS0 panic=-1 quiet iovad.script=$script iovad.share=$share"
case $iommu in
intel) qemu+=(-device intel-iommu,intremap=on)
       kargs="$kargs intel_iommu=on" ;;
amd)   qemu+=(-device amd-iommu,intremap=on)
       [ -z "$trace" ] || qemu+=(-trace amdvi_translation_result -D "$trace") ;;
*)     echo "run-vm: unknown IOMMU '$iommu' (intel or amd)" >&2; exit 2 ;;
esac

# Two edu devices can do DMA through the IOMMU; a virtio-rng device, which
# the guest's virtio-pci drives, is the one the test moves to vfio-pci and
# back. Fixed slots keep the addresses the same for both IOMMUs.
qemu+=(-device edu,addr=4 -device edu,addr=5 -device virtio-rng-pci,addr=6)
qemu+=(-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
       -virtfs "local,path=$share,mount_tag=share,security_model=none,multidevs=remap")

# The ELF image boots through QEMU's PVH entry point, skipping the firmware
# and the in-guest decompression.
kernel=$kdir/vmlinuz
[ -e "$kdir/vmlinux" ] && kernel=$kdir/vmlinux
qemu+=(-kernel "$kernel" -initrd "$initrd" -append "$kargs${extra:+ $extra}")

echo "run-vm: timeout -k 5 $tmo ${qemu[*]}" >&2
start=$(date +%s%N)
timeout -k 5 "$tmo" "${qemu[@]}" < /dev/null 2>&1 | tr -d '\r' | tee "$log"
qrc=${PIPESTATUS[0]}
ms=$((($(date +%s%N) - start) / 1000000))
# A kernel message can share the marker's line on the console.
rc=$(sed -n 's/.*IOVAD-GUEST-RESULT: rc=\([0-9]*\).*/\1/p' "$log" | tail -1)
echo "run-vm: $iommu: ${ms} ms, qemu exit $qrc, guest result ${rc:-none}" >&2
case $qrc in
124 | 137) exit 124 ;;
esac
exit "${rc:-125}"
