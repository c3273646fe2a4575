#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-vm.sh -k KDIR -i INITRD -H SHARE -c SCRIPT [-m IOMMU] [-R] [-d DTSI] [-t SECS] [-l LOG] [-e ARGS] [-T FILE] [-N]
#
# Boots a throw-away guest under QEMU with TCG (never KVM), one vCPU, a
# virtual IOMMU, two QEMU edu devices at fixed slots (00:04.0 and 00:05.0,
# each in its own IOMMU group) and a virtio-rng device at 00:06.0 (driven by
# virtio-pci in the guest). SHARE is shared read-write at its own path;
# guest-init runs SCRIPT as root.
#
#   -k KDIR    kernel directory printed by fetch-kernel.sh
#   -i INITRD  initramfs made by mkinitramfs.sh
#   -H SHARE   host directory shared read-write (e.g. the build directory)
#   -c SCRIPT  script to run in the guest (a path the guest can see)
#   -m IOMMU   the machine and its IOMMU:
#              intel   x86_64 q35 + intel-iommu,intremap=on (VT-d; default),
#                      and a PCIe switch behind a root port at 00:08.0:
#                      a two-function e1000e below one downstream port,
#                      an e1000e below the other (peer-to-peer checks)
#              amd     x86_64 q35 + amd-iommu,intremap=on (AMD-Vi)
#              virtio  x86_64 q35 + virtio-iommu-pci (no interrupt
#                      remapping), and an e1000e at 00:07.0
#              smmuv3  arm64 virt, GICv3 with ITS, iommu=smmuv3, and an
#                      e1000e at 00:07.0
#              arm64-virtio  arm64 virt, GICv3 with ITS, virtio-iommu-pci
#                      (at 00:03.0), and an e1000e at 00:07.0
#   -R         the host's / is the guest's root (read-only 9p; x86 only);
#              without it the guest runs from its initramfs
#   -d DTSI    arm64: merge DTSI into the device tree QEMU generates for
#              the machine (dtc), e.g. per-device IOVA holes
#   -t SECS    wall-clock limit for QEMU (default 300)
#   -l LOG     serial console log (default: vm.log)
#   -e ARGS    extra kernel command line
#   -T FILE    amd: log every DMA translation of QEMU's AMD-Vi model to FILE
#              ("amdvi_translation_result devid: BB:DD.F gpa IOVA hpa ADDR",
#              hpa 0x0 when the IOMMU blocked it). QEMU's VT-d model reports
#              blocked translations on the console by itself.
#   -N         intel, amd: an e1000e at 00:07.0 too (virtio and arm64
#              always have one)
#
# IOVAD_VM_MEMORY sets the guest's RAM (default 1G; map-bench.sh asks for more).
# The console goes to stdout and LOG. Exit status: the script's, 124 when
# the time limit hit, 125 when the guest printed no result.
set -uo pipefail
kdir='' initrd='' share='' script='' iommu=intel tmo=300 log=vm.log extra='' trace='' hostroot='' dtsi='' nic=''
while getopts k:i:H:c:m:Rd:t:l:e:T:N o; do
	case $o in
	k) kdir=$OPTARG ;; i) initrd=$OPTARG ;; H) share=$(realpath "$OPTARG") ;;
	c) script=$OPTARG ;; m) iommu=$OPTARG ;; R) hostroot=1 ;; d) dtsi=$OPTARG ;;
	t) tmo=$OPTARG ;; l) log=$OPTARG ;; e) extra=$OPTARG ;; T) trace=$OPTARG ;;
	N) nic=1 ;;
	*) exit 2 ;;
	esac
done
if [ -z "$kdir" ] || [ -z "$initrd" ] || [ -z "$share" ] || [ -z "$script" ]; then
	sed -n '4,37s/^# \{0,1\}//p' "$0" >&2
	exit 2
fi

common=(-accel tcg -m "${IOVAD_VM_MEMORY:-1G}" -smp 1 -nodefaults -display none -serial stdio -no-reboot)
kargs="panic=-1 quiet iovad.script=$script iovad.share=$share"
case $iommu in
intel | amd | virtio)
	qemu=(qemu-system-x86_64 -machine q35 -cpu max "${common[@]}")
	kargs="console=ttyS0 $kargs" ;;
smmuv3 | arm64-virtio)
	# pauth-impdef: the architected pointer authentication algorithm
	# costs TCG a third of its speed.
	qemu=(qemu-system-aarch64 -machine virt,gic-version=3,its=on
	      -cpu max,pauth-impdef=on "${common[@]}")
	kargs="console=ttyAMA0 $kargs" ;;
*)	echo "run-vm: unknown IOMMU '$iommu' (intel, amd, virtio, smmuv3 or arm64-virtio)" >&2; exit 2 ;;
esac
arm=
[ "${qemu[0]}" = qemu-system-aarch64 ] && arm=1
case $iommu in
intel)	# Interrupt remapping needs the split irqchip on KVM; TCG's
	# irqchip is QEMU's own either way, so the setting is the same for both.
	qemu[2]+=,kernel-irqchip=split
	qemu+=(-device intel-iommu,intremap=on)
	kargs="$kargs intel_iommu=on" ;;
amd)	qemu+=(-device amd-iommu,intremap=on)
	[ -z "$trace" ] || qemu+=(-trace amdvi_translation_result -D "$trace") ;;
virtio)	# Without interrupt remapping, VFIO attaches only with
	# allow_unsafe_interrupts.
	qemu+=(-device virtio-iommu-pci,addr=3)
	kargs="$kargs vfio_iommu_type1.allow_unsafe_interrupts=1" ;;
smmuv3)	qemu[2]+=,iommu=smmuv3 ;;
arm64-virtio)
	# QEMU reserves the ITS doorbell in the device's probe answer.
	qemu+=(-device virtio-iommu-pci,addr=3) ;;
esac
[ -z "$hostroot" ] || [ -z "$arm" ] || { echo "run-vm: -R is for x86 guests" >&2; exit 2; }
[ -z "$dtsi" ] || [ -n "$arm" ] || { echo "run-vm: -d is for arm64 guests" >&2; exit 2; }

# Two edu devices can do DMA through the IOMMU; a virtio-rng device, which
# the guest's virtio-pci drives, is the one the test moves to vfio-pci and
# back. Fixed slots keep the addresses the same for every IOMMU. The e1000e
# has no network behind it: only its PCI function matters.
qemu+=(-device edu,addr=4 -device edu,addr=5 -device virtio-rng-pci,addr=6)
case $iommu in
virtio | smmuv3 | arm64-virtio) nic=1 ;;
intel)	# A real topology for the peer-to-peer report: QEMU's generic root
	# port, a TI XIO3130 switch (upstream and two downstream ports), a
	# multifunction e1000e (whose functions have no ACS) below the first
	# port and a single-function one below the second. No driver in the
	# guest takes them: only their configuration spaces matter.
	qemu+=(-device pcie-root-port,id=p2p_rp,bus=pcie.0,addr=8,chassis=1
	       -device x3130-upstream,id=p2p_up,bus=p2p_rp
	       -device xio3130-downstream,id=p2p_ds1,bus=p2p_up,addr=0,chassis=2
	       -device xio3130-downstream,id=p2p_ds2,bus=p2p_up,addr=1,chassis=3
	       -device e1000e,bus=p2p_ds1,addr=0.0,multifunction=on
	       -device e1000e,bus=p2p_ds1,addr=0.1
	       -device e1000e,bus=p2p_ds2,addr=0.0) ;;
esac
[ -z "$nic" ] || qemu+=(-device e1000e,addr=7)
if [ -n "$hostroot" ]; then
	qemu+=(-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap)
	kargs="$kargs iovad.hostroot=1"
fi
if [ -n "$arm" ]; then
	# On virtio-mmio, outside the IOMMU's PCI bus: no IOMMU group of its own.
	qemu+=(-fsdev "local,id=share,path=$share,security_model=none,multidevs=remap"
	       -device virtio-9p-device,fsdev=share,mount_tag=share)
else
	qemu+=(-virtfs "local,path=$share,mount_tag=share,security_model=none,multidevs=remap")
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "$dtsi" ]; then
	# The device tree QEMU makes for this very machine, plus DTSI.
	"${qemu[@]}" -machine dumpdtb="$tmp/virt.dtb" > "$tmp/dumpdtb.log" 2>&1 ||
		{ cat "$tmp/dumpdtb.log" >&2; echo "run-vm: dumpdtb failed" >&2; exit 2; }
	{ dtc -q -I dtb -O dts "$tmp/virt.dtb"; cat "$dtsi"; } > "$tmp/virt.dts"
	dtc -q -I dts -O dtb -o "$tmp/guest.dtb" "$tmp/virt.dts" ||
		{ echo "run-vm: dtc could not merge $dtsi" >&2; exit 2; }
	qemu+=(-dtb "$tmp/guest.dtb")
fi

# x86: the ELF image boots through QEMU's PVH entry point, skipping the
# firmware and the in-guest decompression.
kernel=$kdir/vmlinuz
[ -e "$kdir/vmlinux" ] && kernel=$kdir/vmlinux
qemu+=(-kernel "$kernel" -initrd "$initrd" -append "$kargs${extra:+ $extra}")

echo "run-vm: timeout -k 5 $tmo ${qemu[*]}" >&2
start=$(date +%s%N)
timeout -k 5 "$tmo" "${qemu[@]}" < /dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$log"
qrc=${PIPESTATUS[0]}
ms=$((($(date +%s%N) - start) / 1000000))
# A kernel message can share the marker's line on the console.
rc=$(sed -n 's/.*IOVAD-GUEST-RESULT: rc=\([0-9]*\).*/\1/p' "$log" | tail -1)
echo "run-vm: $iommu: ${ms} ms, qemu exit $qrc, guest result ${rc:-none}" >&2
case $qrc in
124 | 137) exit 124 ;;
esac
exit "${rc:-125}"
