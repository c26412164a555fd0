#!/usr/bin/env bash
# Runs nightcap against a real kernel V4L2 driver: boots a small Linux VM (qemu, TCG, no
# KVM needed) whose kernel has `vivid`, the kernel's virtual camera, and runs nightcap's
# commands on /dev/video0 inside it. Prints one `vm: KEY=VALUE` line per figure and the
# commands' output; exits 0 when every scenario ran and passed its checks.
#
# Usage: scripts/v4l2-vm.sh [NIGHTCAP_BINARY]   (default target/release/nightcap)
#
# Needs qemu-system-x86_64, a static busybox, and a Debian linux-image-*-amd64 package,
# unpacked here, not installed: $NIGHTCAP_VM_KERNEL_DEB, else the newest .deb in
# target/vm/, else one fetched there with `apt-get download linux-image-amd64`'s
# dependency (the -cloud kernels lack vivid). Nothing else is downloaded.
set -euo pipefail
usage="Usage: scripts/v4l2-vm.sh [NIGHTCAP_BINARY]"
[[ ${1:-} == -h || ${1:-} == --help ]] && { echo "$usage"; exit 0; }
[[ $# -le 1 ]] || { echo "$usage" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$root/target/release/nightcap}")
[[ -x $bin ]] || { echo "v4l2-vm: no nightcap binary at $bin (cargo build --release)" >&2; exit 2; }
for tool in qemu-system-x86_64 busybox dpkg-deb; do
	command -v "$tool" >/dev/null || {
		echo "v4l2-vm: $tool is missing (apt-get install qemu-system-x86 busybox-static)" >&2
		exit 2
	}
done
busybox_bin=$(command -v busybox)
file -L "$busybox_bin" 2>/dev/null | grep -q 'statically linked' || [[ ! -x /bin/busybox ]] || busybox_bin=/bin/busybox

# The kernel package: given, cached, or fetched once into target/vm/.
cache="$root/target/vm"
mkdir -p "$cache"
deb=${NIGHTCAP_VM_KERNEL_DEB:-}
if [[ -z $deb ]]; then
	deb=$(ls -t "$cache"/linux-image-*-amd64_*.deb 2>/dev/null | grep -v -e cloud -e rt-amd64 | head -1 || true)
fi
if [[ -z $deb ]]; then
	pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[[ -n $pkg ]] || { echo "v4l2-vm: cannot find the linux-image-*-amd64 package (apt-get update?)" >&2; exit 2; }
	(cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1) ||
		{ echo "v4l2-vm: apt-get download $pkg failed" >&2; exit 2; }
	deb=$(ls -t "$cache"/"$pkg"_*.deb | head -1)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/kernel"
kver=$(ls "$work/kernel/lib/modules" | head -1)
vmlinuz="$work/kernel/boot/vmlinuz-$kver"
mods="$work/kernel/lib/modules/$kver/kernel/drivers/media"

# The initramfs: busybox, the media modules in load order, nightcap and its libraries.
init="$work/initramfs"
mkdir -p "$init"/{bin,dev,proc,sys,tmp,lib/modules,j}
cp "$busybox_bin" "$init/bin/busybox"
order="mc/mc rc/rc-core cec/core/cec v4l2-core/videodev v4l2-core/v4l2-dv-timings common/v4l2-tpg/v4l2-tpg
	common/videobuf2/videobuf2-common common/videobuf2/videobuf2-memops common/videobuf2/videobuf2-v4l2
	common/videobuf2/videobuf2-vmalloc common/videobuf2/videobuf2-dma-contig test-drivers/vivid/vivid"
for m in $order; do
	src=$(ls "$mods/$m".ko* | head -1)
	case $src in
	*.xz) xz -dc "$src" >"$init/lib/modules/$(basename "$m").ko" ;;
	*.zst) zstd -qdc "$src" >"$init/lib/modules/$(basename "$m").ko" ;;
	*) cp "$src" "$init/lib/modules/$(basename "$m").ko" ;;
	esac
done
cp "$bin" "$init/bin/nightcap"
programs=("$bin")
# v4l2-ctl sets vivid's error-injection controls (dropped buffers) when the host has it.
if command -v v4l2-ctl >/dev/null; then
	cp "$(command -v v4l2-ctl)" "$init/bin/v4l2-ctl"
	programs+=("$(command -v v4l2-ctl)")
fi
for program in "${programs[@]}"; do ldd "$program"; done | awk '/=>/ {print $3} $1 ~ /^\// {print $1}' | while read -r lib; do
	[[ -f $lib ]] || continue
	mkdir -p "$init$(dirname "$lib")"
	cp -L "$lib" "$init$lib"
done
cp "$root/scripts/v4l2-vm-init.sh" "$init/init"
chmod +x "$init/init"
(cd "$init" && find . | "$busybox_bin" cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initramfs.gz")

# Boot. TCG: the machines this runs on may have no (or a hanging) KVM.
start=$SECONDS
timeout 600 qemu-system-x86_64 -accel tcg -cpu max -m 768 -smp 1 -nographic -no-reboot \
	-kernel "$vmlinuz" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 quiet panic=-1 loglevel=3" >"$work/console.txt" 2>&1 || true
tr -d '\r' <"$work/console.txt" | sed -n '/^vm: /,$p' | grep -v '^\s*$' || true
echo "vm: wall_s=$((SECONDS - start))"
grep -q '^vm: result=pass' <(tr -d '\r' <"$work/console.txt") || {
	echo "v4l2-vm: the VM run did not pass; its console follows" >&2
	tail -40 "$work/console.txt" >&2
	exit 1
}
