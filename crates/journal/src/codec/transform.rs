//! The reversible pre-transforms (`formats/codecs.md`): byte shuffles and planes, 8-bit
//! deltas, and the sample predictors (`Left16`, `Up3`) with their SIMD restores.

use super::*;

/// Applies transform `t` (not `None`) to `raw`, writing the transformed stream to `out`.
pub(super) fn forward(
    t: Transform,
    format: &PixelFormat,
    raw: &[u8],
    out: &mut Vec<u8>,
    rows: &mut RowRing,
) -> Result<(), CodecError> {
    let len = transformed_len(t, format, raw.len())?;
    // Every byte is overwritten below: only growth needs zero-filling.
    out.resize(len, 0);
    match t {
        Transform::None => out.copy_from_slice(raw),
        Transform::Shuffle16 => shuffle16(raw, out),
        Transform::Delta8 => delta8_forward(raw, out, delta8_distance(format).unwrap_or(1)),
        Transform::Left16 | Transform::Up3 => {
            let layout = Layout::of(format, raw.len()).ok_or(CodecError::Corrupt {
                reason: "frame layout changed while encoding",
            })?;
            samples_forward(Predictor::of(t), &layout, raw, out, rows);
        }
    }
    Ok(())
}

/// Inverts transform `t` (not `None`): `stream` (checked to have the transformed length of
/// `raw_len`) becomes the `raw_len` original bytes in `out`.
pub(super) fn inverse(
    t: Transform,
    format: &PixelFormat,
    stream: &[u8],
    raw_len: usize,
    out: &mut Vec<u8>,
    rows: &mut RowRing,
) -> Result<(), CodecError> {
    // Every byte is overwritten below: only growth needs zero-filling.
    out.resize(raw_len, 0);
    match t {
        Transform::None => out.copy_from_slice(stream),
        Transform::Shuffle16 => unshuffle16(stream, out),
        Transform::Delta8 => delta8_inverse(stream, out, delta8_distance(format).unwrap_or(1)),
        Transform::Left16 | Transform::Up3 => {
            let layout = Layout::of(format, raw_len).ok_or(CodecError::Corrupt {
                reason: "frame layout does not fit the transform",
            })?;
            samples_inverse(Predictor::of(t), &layout, stream, out, rows);
        }
    }
    Ok(())
}

/// Splits 16-bit words into a plane of low bytes and a plane of high bytes; an odd final
/// byte goes last. `out.len() == raw.len()`.
pub(super) fn shuffle16(raw: &[u8], out: &mut [u8]) {
    let n = raw.len() / 2;
    let (lo, rest) = out.split_at_mut(n);
    let (hi, tail) = rest.split_at_mut(n);
    split_planes(raw, lo, hi);
    tail.copy_from_slice(&raw[2 * n..]);
}

pub(super) fn unshuffle16(stream: &[u8], out: &mut [u8]) {
    let n = stream.len() / 2;
    let (lo, rest) = stream.split_at(n);
    let (hi, tail) = rest.split_at(n);
    join_planes(lo, hi, &mut out[..2 * n]);
    out[2 * n..].copy_from_slice(tail);
}

pub(super) fn split_planes(words: &[u8], lo: &mut [u8], hi: &mut [u8]) {
    // SWAR on 8-byte blocks: baseline x86-64 (SSE2) has no byte shuffle, and the compiler
    // leaves the plain byte loop scalar there; this runs at several GB/s on any CPU.
    let (words8, words_tail) = words.as_chunks::<8>();
    let (lo4, lo_tail) = lo.as_chunks_mut::<4>();
    let (hi4, hi_tail) = hi.as_chunks_mut::<4>();
    for ((w, l), h) in words8.iter().zip(lo4.iter_mut()).zip(hi4.iter_mut()) {
        let v = u64::from_le_bytes(*w);
        *l = gather_even_bytes(v).to_le_bytes();
        *h = gather_even_bytes(v >> 8).to_le_bytes();
    }
    for ((w, l), h) in words_tail.chunks_exact(2).zip(lo_tail).zip(hi_tail) {
        *l = w[0];
        *h = w[1];
    }
}

/// Bytes 0, 2, 4, 6 of `v`, packed into a `u32` (little-endian order kept).
#[inline(always)]
pub(super) fn gather_even_bytes(v: u64) -> u32 {
    let v = v & 0x00ff_00ff_00ff_00ff;
    let v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
    (v | (v >> 16)) as u32
}

/// Spreads the 4 bytes of `v` to bytes 0, 2, 4, 6 of a `u64`.
#[inline(always)]
pub(super) fn spread_even_bytes(v: u32) -> u64 {
    let v = u64::from(v);
    let v = (v | (v << 16)) & 0x0000_ffff_0000_ffff;
    (v | (v << 8)) & 0x00ff_00ff_00ff_00ff
}

pub(super) fn join_planes(lo: &[u8], hi: &[u8], words: &mut [u8]) {
    let (words8, words_tail) = words.as_chunks_mut::<8>();
    let (lo4, lo_tail) = lo.as_chunks::<4>();
    let (hi4, hi_tail) = hi.as_chunks::<4>();
    for ((w, l), h) in words8.iter_mut().zip(lo4).zip(hi4) {
        let v = spread_even_bytes(u32::from_le_bytes(*l))
            | (spread_even_bytes(u32::from_le_bytes(*h)) << 8);
        *w = v.to_le_bytes();
    }
    for ((w, &l), &h) in words_tail.chunks_exact_mut(2).zip(lo_tail).zip(hi_tail) {
        w[0] = l;
        w[1] = h;
    }
}

/// `out[i] = raw[i] - raw[i - d]` (mod 256); the first `d` bytes are copied.
pub(super) fn delta8_forward(raw: &[u8], out: &mut [u8], d: usize) {
    let d = d.min(raw.len());
    out[..d].copy_from_slice(&raw[..d]);
    for ((o, &x), &left) in out[d..].iter_mut().zip(&raw[d..]).zip(raw) {
        *o = x.wrapping_sub(left);
    }
}

pub(super) fn delta8_inverse(stream: &[u8], out: &mut [u8], d: usize) {
    match d {
        1 => running_sum::<1>(stream, out),
        2 => running_sum::<2>(stream, out),
        3 => running_sum::<3>(stream, out),
        _ => running_sum::<4>(stream, out),
    }
}

/// `out[i] = stream[i] + out[i - D]` (mod 256), with the `D` running sums in registers.
pub(super) fn running_sum<const D: usize>(stream: &[u8], out: &mut [u8]) {
    let mut run = [0u8; D];
    let (blocks, tail) = stream.as_chunks::<D>();
    let (out_blocks, out_tail) = out.as_chunks_mut::<D>();
    for (s, o) in blocks.iter().zip(out_blocks) {
        for k in 0..D {
            run[k] = run[k].wrapping_add(s[k]);
        }
        *o = run;
    }
    for ((o, &s), r) in out_tail.iter_mut().zip(tail).zip(run) {
        *o = r.wrapping_add(s);
    }
}

/// Zigzag mapping of a wrapped 16-bit residual: 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
#[inline(always)]
pub(super) fn zigzag(r: u16) -> u16 {
    (r << 1) ^ ((r as i16) >> 15) as u16
}

#[inline(always)]
pub(super) fn unzigzag(z: u16) -> u16 {
    (z >> 1) ^ 0u16.wrapping_sub(z & 1)
}

/// The predictor of a sample transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Predictor {
    /// The same-colour left neighbour.
    Left,
    /// `(u[x-d] + 2 u[x] + u[x+d] + 2) >> 2` on the same-colour line above.
    Up3,
}

impl Predictor {
    pub(super) fn of(t: Transform) -> Predictor {
        match t {
            Transform::Up3 => Predictor::Up3,
            _ => Predictor::Left,
        }
    }
}

/// The last `dist + 1` lines of samples, reused between frames.
#[derive(Debug, Default)]
pub(super) struct RowRing {
    pub(super) buf: Vec<u16>,
}

impl RowRing {
    /// Room for `count` lines of `samples` samples each.
    pub(super) fn prepare(&mut self, count: usize, samples: usize) {
        self.buf.clear();
        self.buf.resize(count * samples, 0);
    }

    /// Line `y`'s slot (mutable) and line `y - dist`'s slot, if `y >= dist`.
    pub(super) fn cur_up(
        &mut self,
        y: usize,
        dist: usize,
        samples: usize,
    ) -> (&mut [u16], Option<&[u16]>) {
        let slots = dist + 1;
        let cur = y % slots;
        let (cur_slot, up_slot) = if y >= dist {
            (cur, Some((y - dist) % slots))
        } else {
            (cur, None)
        };
        let lines = &mut self.buf[..slots * samples];
        match up_slot {
            None => (&mut lines[cur_slot * samples..][..samples], None),
            Some(up) => {
                // Two distinct slots of one buffer: split so both can be borrowed.
                let (a, b) = lines.split_at_mut(cur_slot.max(up) * samples);
                let (low, high) = (
                    &mut a[cur_slot.min(up) * samples..][..samples],
                    &mut b[..samples],
                );
                if cur_slot < up {
                    (low, Some(&*high))
                } else {
                    (high, Some(&*low))
                }
            }
        }
    }
}

/// Unpacks the sample part of one line into `samples` (whole CSI-2 groups, so every bit
/// of the line's pixel bytes is kept), with [`nightcap_frame::pixels`]' unpacking.
pub(super) fn unpack_groups(packing: Packing, line: &[u8], samples: &mut [u16]) {
    match packing {
        Packing::Csi2P10 => unpack_csi2_10(line, samples),
        Packing::Csi2P12 => unpack_csi2_12(line, samples),
        _ => {
            for (s, b) in samples.iter_mut().zip(line.chunks_exact(2)) {
                *s = u16::from_le_bytes([b[0], b[1]]);
            }
        }
    }
}

/// Inverse of [`unpack_groups`]. Samples above the packing's bit depth cannot occur in a
/// valid stream; their excess bits are dropped.
pub(super) fn pack_groups(packing: Packing, samples: &[u16], line: &mut [u8]) {
    match packing {
        Packing::Csi2P10 => pack_csi2_10(samples, line),
        Packing::Csi2P12 => pack_csi2_12(samples, line),
        _ => {
            for (b, s) in line.chunks_exact_mut(2).zip(samples) {
                b.copy_from_slice(&s.to_le_bytes());
            }
        }
    }
}

pub(super) fn samples_forward(
    p: Predictor,
    l: &Layout,
    raw: &[u8],
    out: &mut [u8],
    rows: &mut RowRing,
) {
    let n = l.sample_count();
    let (lo_plane, rest) = out.split_at_mut(n);
    let (hi_plane, pad_plane) = rest.split_at_mut(n);
    rows.prepare(l.dist + 1, l.samples);
    let planes = lo_plane
        .chunks_exact_mut(l.samples)
        .zip(hi_plane.chunks_exact_mut(l.samples));
    for (y, (line, (lo, hi))) in raw.chunks_exact(l.stride).zip(planes).enumerate() {
        line_residuals(p, l, y, line, rows, lo, hi);
        if l.pad() > 0 {
            pad_plane[y * l.pad()..][..l.pad()].copy_from_slice(&line[l.line_bytes..]);
        }
    }
}

/// The low and high residual bytes of line `y` (`line`: its `stride` bytes) under
/// predictor `p`; `rows` holds the lines above and takes this one.
pub(super) fn line_residuals(
    p: Predictor,
    l: &Layout,
    y: usize,
    line: &[u8],
    rows: &mut RowRing,
    lo: &mut [u8],
    hi: &mut [u8],
) {
    let (cur, up) = rows.cur_up(y, l.dist, l.samples);
    unpack_groups(l.packing, &line[..l.line_bytes], cur);
    match (p, up) {
        (Predictor::Up3, Some(up)) if l.narrow() => up3_residuals::<true>(l.dist, cur, up, lo, hi),
        (Predictor::Up3, Some(up)) => up3_residuals::<false>(l.dist, cur, up, lo, hi),
        _ => left_residuals(l.dist, cur, up, lo, hi),
    }
}

/// Restores line `y`'s samples from its residuals (the inverse of [`line_residuals`]),
/// in `rows`, where the next lines find it; returns them.
pub(super) fn line_restore<'r>(
    p: Predictor,
    l: &Layout,
    y: usize,
    lo: &[u8],
    hi: &[u8],
    rows: &'r mut RowRing,
) -> &'r [u16] {
    let (cur, up) = rows.cur_up(y, l.dist, l.samples);
    match (p, up) {
        (Predictor::Up3, Some(up)) if l.narrow() => up3_restore_narrow(l.dist, lo, hi, up, cur),
        (Predictor::Up3, Some(up)) => up3_restore_wide(l.dist, lo, hi, up, cur),
        _ => left_restore(l.dist, lo, hi, up, cur),
    }
    cur
}

/// [`up3_restore`] of samples of at most 12 bits, compiled also for AVX2 and chosen at run
/// time: the restore is the codec's own share of decoding (zstd is the rest), and AVX2's
/// 16 lanes take about 30 % off it, about 4 % off a frame's decode (measured on a 12 MP
/// night; reading a night on a desktop is where it counts).
#[multiversion::multiversion(targets("x86_64+avx2"))]
pub(super) fn up3_restore_narrow(d: usize, lo: &[u8], hi: &[u8], up: &[u16], cur: &mut [u16]) {
    up3_restore::<true>(d, lo, hi, up, cur)
}

/// [`up3_restore`] of samples of up to 16 bits, as [`up3_restore_narrow`].
#[multiversion::multiversion(targets("x86_64+avx2"))]
pub(super) fn up3_restore_wide(d: usize, lo: &[u8], hi: &[u8], up: &[u16], cur: &mut [u16]) {
    up3_restore::<false>(d, lo, hi, up, cur)
}

pub(super) fn samples_inverse(
    p: Predictor,
    l: &Layout,
    stream: &[u8],
    out: &mut [u8],
    rows: &mut RowRing,
) {
    let n = l.sample_count();
    let (lo_plane, rest) = stream.split_at(n);
    let (hi_plane, pad_plane) = rest.split_at(n);
    rows.prepare(l.dist + 1, l.samples);
    let planes = lo_plane
        .chunks_exact(l.samples)
        .zip(hi_plane.chunks_exact(l.samples));
    for (y, (line, (lo, hi))) in out.chunks_exact_mut(l.stride).zip(planes).enumerate() {
        let cur = line_restore(p, l, y, lo, hi, rows);
        pack_groups(l.packing, cur, &mut line[..l.line_bytes]);
        if l.pad() > 0 {
            line[l.line_bytes..].copy_from_slice(&pad_plane[y * l.pad()..][..l.pad()]);
        }
    }
}

/// The [`Predictor::Up3`] prediction from the same-colour line above: the [1 2 1]/4
/// weighted mean of `a = up[x - d]`, `b = up[x]`, `c = up[x + d]`, rounded half up.
/// `NARROW`: samples have at most 12 bits (CSI-2), so the sum fits `u16` and a vector holds
/// twice as many lanes; it wraps only for a corrupt stored stream, whose output is garbage
/// anyway.
#[inline(always)]
pub(super) fn smooth<const NARROW: bool>(a: u16, b: u16, c: u16) -> u16 {
    if NARROW {
        a.wrapping_add(b << 1).wrapping_add(c).wrapping_add(2) >> 2
    } else {
        ((u32::from(a) + 2 * u32::from(b) + u32::from(c) + 2) >> 2) as u16
    }
}

/// [`Predictor::Up3`] residuals of a line that has a line `d` above; where `x - d` or
/// `x + d` is outside the line the prediction is `up[x]`.
pub(super) fn up3_residuals<const NARROW: bool>(
    d: usize,
    cur: &[u16],
    up: &[u16],
    lo: &mut [u8],
    hi: &mut [u8],
) {
    let n = cur.len();
    let edge = if n > 2 * d { d } else { n };
    let edges = (0..edge).chain(n.max(edge + d) - d..n);
    for x in edges {
        put(cur[x].wrapping_sub(up[x]), &mut lo[x], &mut hi[x]);
    }
    if edge == n {
        return;
    }
    let (a, b, c) = (&up[..n - 2 * d], &up[d..n - d], &up[2 * d..]);
    let mid = cur[d..n - d].iter().zip(a).zip(b).zip(c);
    for (((((&x, &a), &b), &c), l), h) in mid.zip(&mut lo[d..n - d]).zip(&mut hi[d..n - d]) {
        put(x.wrapping_sub(smooth::<NARROW>(a, b, c)), l, h);
    }
}

/// Inverse of [`up3_residuals`]: no dependency along the line, so it vectorises.
#[inline(always)]
pub(super) fn up3_restore<const NARROW: bool>(
    d: usize,
    lo: &[u8],
    hi: &[u8],
    up: &[u16],
    cur: &mut [u16],
) {
    let n = cur.len();
    let edge = if n > 2 * d { d } else { n };
    let edges = (0..edge).chain(n.max(edge + d) - d..n);
    for x in edges {
        cur[x] = residual(lo[x], hi[x]).wrapping_add(up[x]);
    }
    if edge == n {
        return;
    }
    let (a, b, c) = (&up[..n - 2 * d], &up[d..n - d], &up[2 * d..]);
    let mid = cur[d..n - d].iter_mut().zip(a).zip(b).zip(c);
    for (((((x, &a), &b), &c), &l), &h) in mid.zip(&lo[d..n - d]).zip(&hi[d..n - d]) {
        *x = residual(l, h).wrapping_add(smooth::<NARROW>(a, b, c));
    }
}

#[inline(always)]
pub(super) fn put(residual: u16, lo: &mut u8, hi: &mut u8) {
    let z = zigzag(residual);
    *lo = z as u8;
    *hi = (z >> 8) as u8;
}

#[inline(always)]
pub(super) fn residual(lo: u8, hi: u8) -> u16 {
    unzigzag(u16::from_le_bytes([lo, hi]))
}

/// [`Predictor::Left`] residuals of one line, and of the first lines of every predictor:
/// `cur[x - d]`; for the first `d` samples `up[x]`, or 0 on the first `d` lines.
pub(super) fn left_residuals(
    d: usize,
    cur: &[u16],
    up: Option<&[u16]>,
    lo: &mut [u8],
    hi: &mut [u8],
) {
    let d = d.min(cur.len());
    for x in 0..d {
        put(
            cur[x].wrapping_sub(up.map_or(0, |u| u[x])),
            &mut lo[x],
            &mut hi[x],
        );
    }
    let (lo, hi) = (&mut lo[d..], &mut hi[d..]);
    let (right, left) = (&cur[d..], &cur[..cur.len() - d]);
    for (((&x, &a), l), h) in right.iter().zip(left).zip(lo).zip(hi) {
        put(x.wrapping_sub(a), l, h);
    }
}

/// Inverse of [`left_residuals`].
pub(super) fn left_restore(d: usize, lo: &[u8], hi: &[u8], up: Option<&[u16]>, cur: &mut [u16]) {
    let d = d.min(cur.len());
    for x in 0..d {
        cur[x] = residual(lo[x], hi[x]).wrapping_add(up.map_or(0, |u| u[x]));
    }
    if d == 2 {
        prefix_sum::<2>(lo, hi, cur);
    } else if d == 1 {
        prefix_sum::<1>(lo, hi, cur);
    }
}

/// The serial part of left decoding, `cur[x] = residual[x] + cur[x - D]` for `x >= D`
/// (`cur[..D]` already done), with the `D` running sums kept in registers.
pub(super) fn prefix_sum<const D: usize>(lo: &[u8], hi: &[u8], cur: &mut [u16]) {
    let n = cur.len();
    if n <= D {
        return;
    }
    let mut run = [0u16; D];
    run.copy_from_slice(&cur[..D]);
    let (lo, hi) = (&lo[D..n], &hi[D..n]);
    let body = &mut cur[D..];
    let whole = body.len() / D * D;
    for (i, c) in body[..whole].chunks_exact_mut(D).enumerate() {
        for k in 0..D {
            run[k] = residual(lo[i * D + k], hi[i * D + k]).wrapping_add(run[k]);
            c[k] = run[k];
        }
    }
    for x in whole..body.len() {
        body[x] = residual(lo[x], hi[x]).wrapping_add(run[x - whole]);
    }
}
