#!/bin/busybox sh
# The init of the VM that scripts/v4l2-vm.sh boots: loads vivid, runs nightcap against
# /dev/video0, prints `vm: KEY=VALUE` figures on the console, powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs -o size=400m tmp /j
echo "vm: kernel=$(uname -r)"
for m in mc rc-core cec videodev v4l2-dv-timings v4l2-tpg videobuf2-common videobuf2-memops \
	videobuf2-v4l2 videobuf2-vmalloc videobuf2-dma-contig; do
	insmod /lib/modules/$m.ko || echo "vm: insmod_failed=$m"
done
# One device, a video capture node only, error injection controls available.
insmod /lib/modules/vivid.ko n_devs=1 node_types=0x1 no_error_inj=0 ||
	echo "vm: insmod_failed=vivid"
sleep 1
ls /dev/video* >/dev/null 2>&1 && echo "vm: video_nodes=$(ls /dev/video* | tr '\n' ' ')"

fail=0
check() { # check NAME CONDITION-RESULT
	if [ "$2" = 0 ]; then echo "vm: check $1=pass"; else echo "vm: check $1=FAIL"; fail=1; fi
}

echo "vm: scenario=devices"
nightcap devices 2>&1 | sed 's/^/  /'

# A figure from `nightcap info`: frames, or missed (frames the GAP records count).
figure() { # figure JOURNAL frames|missed
	case $2 in
	frames) nightcap info "$1" 2>/dev/null | sed -n 's/^frames *\([0-9]*\).*/\1/p' ;;
	missed) nightcap info "$1" 2>/dev/null | sed -n 's/^gaps .*(\([0-9]*\) frames* missed).*/\1/p' ;;
	esac
}

echo "vm: scenario=formats"
# Every format vivid offers that nightcap can store, at 320x180 (chosen with
# --pixel-format and --size): the frames nightcap stores must be the bytes the driver
# delivers. vivid's colour bars without the OSD text are the same in every frame, so a
# frame read with v4l2-ctl is the reference.
if command -v v4l2-ctl >/dev/null; then
	v4l2-ctl -d /dev/video0 -c osd_text_mode=2 >/dev/null 2>&1
	supported=$(nightcap devices 2>/dev/null | grep '^ *format ' | grep -v 'not supported' |
		sed -n 's/^ *format \(....\) .*/\1/p' | tr -d ' ' | tr '\n' ' ')
	echo "vm: formats_supported=$supported"
	streamed=""
	for f in $supported; do
		rm -rf /j/f /tmp/exp /tmp/ref.raw
		nightcap -q capture --source v4l2:/dev/video0 --pixel-format "$f" --size 320x180 \
			--frames 3 -d 0 -e 100 --journal /j/f --segment-size 8M --reserve 0 >/tmp/out 2>&1
		code=$?
		frames=$(figure /j/f frames)
		# The reference: a frame read by v4l2-ctl in the format nightcap left set (the
		# first frames after a format change can still carry the previous format's
		# levels, so the third is taken, and compared with nightcap's last).
		v4l2-ctl -d /dev/video0 --stream-mmap --stream-skip=2 --stream-count=1 \
			--stream-to=/tmp/ref.raw >/dev/null 2>&1
		nightcap -q export /j/f /tmp/exp --format raw >/dev/null 2>&1
		first=$(ls /tmp/exp/* 2>/dev/null | tail -1)
		same=1
		[ -n "$first" ] && cmp -s "$first" /tmp/ref.raw && same=0
		echo "vm: format=$f exit=$code frames=${frames:-0} bytes=$(wc -c <"${first:-/dev/null}") same_as_driver=$([ $same = 0 ] && echo yes || echo no)"
		[ $code = 0 ] || sed 's/^/  /' /tmp/out
		[ $same = 0 ] || cmp -l "$first" /tmp/ref.raw 2>/dev/null | head -4 | sed 's/^/  differs: /'
		check "format_${f}_streams" "$([ $code = 0 ] && [ "${frames:-0}" = 3 ] && echo 0 || echo 1)"
		check "format_${f}_bytes_as_delivered" "$same"
		streamed="$streamed $f"
	done
	echo "vm: formats_streamed=$streamed"
	rm -rf /j/f /tmp/exp /tmp/ref.raw
	v4l2-ctl -d /dev/video0 -c osd_text_mode=0 >/dev/null 2>&1
else
	echo "vm: skipped formats: no v4l2-ctl on the host (apt-get install v4l-utils)"
	fail=1
fi

echo "vm: scenario=capture"
nightcap capture --source v4l2:/dev/video0 --frames 20 -d 0 -e 200 \
	--journal /j/a --segment-size 8M --reserve 0 >/tmp/out 2>&1
echo "vm: capture_exit=$?"
sed 's/^/  /' /tmp/out
nightcap info /j/a 2>&1 | sed 's/^/  /'
frames=$(figure /j/a frames)
missed=$(figure /j/a missed)
# A live camera is never kept waiting: frames the pipeline could not take (a slow
# machine: this VM emulates its CPU) are GAP records, so frames + missed = captured.
echo "vm: capture_frames=${frames:-0} capture_missed_in_gaps=${missed:-0}"
check capture_every_frame_accounted "$([ $((${frames:-0} + ${missed:-0})) = 20 ] && [ "${frames:-0}" -gt 0 ] && echo 0 || echo 1)"
check capture_verifies "$(nightcap verify /j/a >/dev/null 2>&1; echo $?)"
check capture_told_no_exposure_control "$(grep -q 'no exposure control' /tmp/out; echo $?)"
rm -rf /j/a

echo "vm: scenario=dropped-buffers"
if command -v v4l2-ctl >/dev/null; then
	v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=30 2>&1 | sed 's/^/  /'
	nightcap capture --source v4l2:/dev/video0 --frames 30 -d 0 -e 100 \
		--journal /j/b --segment-size 8M --reserve 0 >/tmp/out 2>&1
	echo "vm: dropped_capture_exit=$?"
	sed 's/^/  /' /tmp/out
	frames=$(figure /j/b frames)
	missed=$(figure /j/b missed)
	echo "vm: dropped_frames_in_journal=${frames:-0} dropped_missed_in_gaps=${missed:-0}"
	nightcap info /j/b 2>&1 | grep -A3 '^gaps' | sed 's/^/  /'
	# 30 frames delivered; the driver's drops (and any the pipeline could not take) are
	# GAPs: at least 30 accounted for, some of them as driver skips.
	check dropped_every_frame_accounted "$([ $((${frames:-0} + ${missed:-0})) -ge 30 ] && [ "${frames:-0}" -gt 0 ] && echo 0 || echo 1)"
	check dropped_buffers_become_gaps "$(nightcap info /j/b 2>/dev/null | grep -q 'driver skipped'; echo $?)"
	check dropped_verifies "$(nightcap verify /j/b >/dev/null 2>&1; echo $?)"
	v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=0
	rm -rf /j/b
else
	echo "vm: skipped dropped-buffers: no v4l2-ctl on the host (apt-get install v4l-utils)"
	fail=1
fi

echo "vm: scenario=sigterm"
nightcap capture --source v4l2:/dev/video0 --frames 100000 -d 0 -e 100 \
	--journal /j/c --segment-size 8M --reserve 0 >/tmp/out 2>&1 &
pid=$!
sleep 6
kill -TERM $pid
wait $pid
code=$?
echo "vm: sigterm_exit=$code"
sed 's/^/  /' /tmp/out
frames=$(figure /j/c frames)
echo "vm: sigterm_frames=${frames:-0}"
check sigterm_exit_0 "$code"
check sigterm_frames_kept "$([ "${frames:-0}" -gt 0 ] && echo 0 || echo 1)"
check sigterm_all_sealed "$(ls /j/c/*.active >/dev/null 2>&1 && echo 1 || echo 0)"
check sigterm_verifies "$(nightcap verify /j/c >/dev/null 2>&1; echo $?)"
nightcap capture --source v4l2:/dev/video0 --frames 2 -d 0 -e 100 \
	--journal /j/d --segment-size 8M --reserve 0 >/tmp/out 2>&1
check device_released_after_sigterm "$?"
rm -rf /j/c /j/d

if [ $fail = 0 ]; then echo "vm: result=pass"; else echo "vm: result=FAIL"; fi
poweroff -f
