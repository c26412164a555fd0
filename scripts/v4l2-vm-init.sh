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
nightcap devices >/tmp/devices 2>&1
sed 's/^/  /' /tmp/devices
# vivid registers a media device: nightcap reads its graph (MEDIA_IOC_G_TOPOLOGY) and
# finds the capture node in it by device number, with no sensor to set up.
check devices_media_graph_read "$(grep -q 'media graph /dev/media[0-9]* ([0-9]* entit[a-z]*): this node is "vivid-000-vid-cap", with no camera sensor upstream' /tmp/devices; echo $?)"

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

# The scenarios below stream YUYV at 320x180 and 10 frames/s: small frames, so the
# emulated CPU keeps up and every frame the driver delivers reaches the journal.
small() { nightcap capture --source v4l2:/dev/video0 --pixel-format YUYV --size 320x180 \
	-d 0 -e 100 --segment-size 8M --reserve 0 "$@"; }
# The restarts a capture's JSON summary reports.
restarts() { sed -n 's/.*"restarts": *\([0-9]*\).*/\1/p' "$1"; }

echo "vm: scenario=timestamps"
# vivid stamps a buffer at the start of its exposure or at the end of the frame
# (timestamp_source 1 or 0) and says which in the buffer flags. nightcap must turn both
# into the same exposure start: in each run, UTC start - driver stamp is constant, and
# it is one exposure more with end-of-frame stamps than with start-of-exposure ones. The
# driver's sequence numbers and stamps are carried unchanged: sequence numbers rise,
# consecutive stamps differ by the period times the sequence step within half a period
# (vivid's kernel thread runs late under emulation on a busy host: 33 ms late on a
# 100 ms period was seen, the next frame as much early), and over the run they add up to
# the period times the sequence span within a quarter period.
steady=0
for src in 0 1; do
	v4l2-ctl -d /dev/video0 -c timestamp_source=$src
	rm -rf /j/t
	small -q --frames 8 --journal /j/t >/tmp/out 2>&1 || { sed 's/^/  /' /tmp/out; steady=1; }
	nightcap info --frames --json /j/t |
		sed -n 's/.*"time_utc_ns":\([0-9]*\),"exposure_us":\([0-9]*\),.*"driver_seq":\([0-9]*\),"driver_ts_ns":\([0-9]*\).*/\1 \2 \3 \4/p' >/tmp/frames
	n=0 d0= prev_seq= prev_ts= period_us=0 first_seq= first_ts=
	while read -r t exp seq ts; do
		n=$((n + 1)) period_us=$exp
		[ -n "$first_seq" ] || { first_seq=$seq first_ts=$ts; }
		d=$((t - ts))
		[ -n "$d0" ] || d0=$d
		off=$((d - d0))
		[ ${off#-} -le 2000000 ] || { echo "  frame $seq: start - stamp moved by $off ns"; steady=1; }
		if [ -n "$prev_seq" ]; then
			step=$((ts - prev_ts - (seq - prev_seq) * exp * 1000))
			[ "$seq" -gt "$prev_seq" ] && [ ${step#-} -le $((exp * 500)) ] ||
				{ echo "  frame $seq after $prev_seq: stamps $((ts - prev_ts)) ns apart"; steady=1; }
		fi
		prev_seq=$seq prev_ts=$ts
	done </tmp/frames
	if [ -n "$first_seq" ] && [ "$prev_seq" != "$first_seq" ]; then
		drift=$((prev_ts - first_ts - (prev_seq - first_seq) * period_us * 1000))
		[ ${drift#-} -le $((period_us * 250)) ] ||
			{ echo "  frames $first_seq..$prev_seq: stamps drift $drift ns from the period"; steady=1; }
	fi
	eval "d_$src=\${d0:-0} n_$src=$n exp_$src=$period_us"
done
v4l2-ctl -d /dev/video0 -c timestamp_source=0
shift_ns=$((d_1 - d_0))
echo "vm: timestamps_frames=$n_0,$n_1 exposure_us=$exp_0 eof_vs_soe_shift_ns=$shift_ns"
check timestamps_all_frames "$([ "$n_0" = 8 ] && [ "$n_1" = 8 ] && echo 0 || echo 1)"
check timestamps_sequence_and_stamps_carried "$steady"
check timestamps_eof_is_one_exposure_after_soe "$(e=$((shift_ns - exp_0 * 1000)); [ "$exp_0" -gt 0 ] && [ ${e#-} -le 2000000 ] && echo 0 || echo 1)"
rm -rf /j/t

echo "vm: scenario=gain"
# vivid's gain is automatic by default; --gain turns that off and sets it, and the gain
# read back is the one recorded with each frame.
small --frames 3 --gain 7 --journal /j/g >/tmp/out 2>&1
code=$?
dev_gain=$(v4l2-ctl -d /dev/video0 -C gain 2>/dev/null | sed -n 's/^gain: *//p')
auto=$(v4l2-ctl -d /dev/video0 -C gain_automatic 2>/dev/null | sed -n 's/^gain_automatic: *//p')
recorded=$(nightcap info --frames --json /j/g | sed -n 's/.*"gain":\([0-9.]*\),.*/\1/p' | sort -u | tr '\n' ' ')
echo "vm: gain_exit=$code device_gain=$dev_gain gain_automatic=$auto recorded_gain=$recorded"
[ $code = 0 ] || sed 's/^/  /' /tmp/out
check gain_set_and_read_back "$([ "$dev_gain" = 7 ] && [ "$auto" = 0 ] && echo 0 || echo 1)"
check gain_recorded_per_frame "$([ "$recorded" = "7.0 " ] && echo 0 || echo 1)"
v4l2-ctl -d /dev/video0 -c gain_automatic=1
rm -rf /j/g

echo "vm: scenario=watchdog"
# The camera stops delivering (vivid drops every buffer) for about 8 s: the watchdog
# restarts the stream each time no frame came within 2.4 s, each restart is a GAP and
# a warning line, and capture carries on when frames come again.
small --frames 40 --json --journal /j/w >/tmp/sum 2>/tmp/out &
pid=$!
sleep 3
v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=100
sleep 8
v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=0
wait $pid
code=$?
n=$(restarts /tmp/sum)
frames=$(figure /j/w frames)
gaps=$(nightcap info /j/w 2>/dev/null | grep -c 'restarted the stream\|closed the camera')
logged=$(grep -c 'warning: camera: .*restart' /tmp/out)
echo "vm: watchdog_exit=$code watchdog_restarts=${n:-0} watchdog_gaps=$gaps watchdog_log_lines=$logged watchdog_frames=${frames:-0}"
sed 's/^/  /' /tmp/out
nightcap info /j/w 2>&1 | grep -A6 '^gaps' | sed 's/^/  /'
check watchdog_restarted "$([ $code = 0 ] && [ "${n:-0}" -ge 2 ] && echo 0 || echo 1)"
check watchdog_each_restart_a_gap_and_a_line "$([ "$gaps" = "${n:-x}" ] && [ "$logged" = "${n:-x}" ] && echo 0 || echo 1)"
check watchdog_capture_resumed "$([ "${frames:-0}" = 40 ] && echo 0 || echo 1)"
check watchdog_verifies "$(nightcap verify /j/w >/dev/null 2>&1; echo $?)"
rm -rf /j/w

echo "vm: scenario=stream-errors"
# The queue fails (vb2_queue_error: every dequeue then fails with EIO), and the restart
# that follows meets a failing STREAMON: two restarts, then frames again.
small --frames 40 --json --journal /j/e >/tmp/sum 2>/tmp/out &
pid=$!
sleep 3
v4l2-ctl -d /dev/video0 -c inject_vidioc_streamon_error=1 -c inject_fatal_streaming_error=1
wait $pid
code=$?
n=$(restarts /tmp/sum)
frames=$(figure /j/e frames)
echo "vm: stream_errors_exit=$code stream_errors_restarts=${n:-0} stream_errors_frames=${frames:-0}"
sed 's/^/  /' /tmp/out
check stream_errors_restarted "$([ $code = 0 ] && [ "${n:-0}" = 2 ] && echo 0 || echo 1)"
check stream_errors_capture_resumed "$([ "${frames:-0}" = 40 ] && echo 0 || echo 1)"
check stream_errors_verifies "$(nightcap verify /j/e >/dev/null 2>&1; echo $?)"
rm -rf /j/e

echo "vm: scenario=disconnect"
# vivid's "disconnect" acts as an unplugged USB camera: every call fails with ENODEV
# until all handles are closed, then the device is back. --camera-lost wait (the
# default) reopens it and carries on; --camera-lost stop seals and exits 1.
small --frames 40 --json --journal /j/u >/tmp/sum 2>/tmp/out &
pid=$!
sleep 3
v4l2-ctl -d /dev/video0 -c disconnect=1
wait $pid
code=$?
frames=$(figure /j/u frames)
gone=$(nightcap info /j/u 2>/dev/null | grep -c 'camera gone\|camera disappeared\|is gone')
echo "vm: disconnect_wait_exit=$code disconnect_wait_frames=${frames:-0} disconnect_gaps=$gone"
sed 's/^/  /' /tmp/out
nightcap info /j/u 2>&1 | grep -A4 '^gaps' | sed 's/^/  /'
check disconnect_wait_resumed "$([ $code = 0 ] && [ "${frames:-0}" = 40 ] && echo 0 || echo 1)"
check disconnect_wait_gap "$([ "$gone" -ge 1 ] && echo 0 || echo 1)"
check disconnect_wait_verifies "$(nightcap verify /j/u >/dev/null 2>&1; echo $?)"
rm -rf /j/u
small --frames 1000 --camera-lost stop --journal /j/s >/tmp/out 2>&1 &
pid=$!
sleep 3
v4l2-ctl -d /dev/video0 -c disconnect=1
wait $pid
code=$?
frames=$(figure /j/s frames)
echo "vm: disconnect_stop_exit=$code disconnect_stop_frames=${frames:-0}"
sed 's/^/  /' /tmp/out
check disconnect_stop_exit_1 "$([ $code = 1 ] && echo 0 || echo 1)"
check disconnect_stop_says_why "$(grep -q 'is gone.*every frame before is sealed' /tmp/out; echo $?)"
check disconnect_stop_frames_kept "$([ "${frames:-0}" -gt 0 ] && echo 0 || echo 1)"
check disconnect_stop_all_sealed "$(ls /j/s/*.active >/dev/null 2>&1 && echo 1 || echo 0)"
check disconnect_stop_verifies "$(nightcap verify /j/s >/dev/null 2>&1; echo $?)"
rm -rf /j/s

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
# The signal wakes the wait for a frame: that is no camera fault to log or record.
check sigterm_no_false_camera_fault "$(grep -q 'warning: camera:' /tmp/out || nightcap info /j/c | grep -q 'camera timed out'; [ $? = 0 ] && echo 1 || echo 0)"
nightcap capture --source v4l2:/dev/video0 --frames 2 -d 0 -e 100 \
	--journal /j/d --segment-size 8M --reserve 0 >/tmp/out 2>&1
check device_released_after_sigterm "$?"
rm -rf /j/c /j/d

if [ $fail = 0 ]; then echo "vm: result=pass"; else echo "vm: result=FAIL"; fi
poweroff -f
