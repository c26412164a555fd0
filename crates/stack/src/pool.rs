//! The stacker's buffer pools, scoped to a call: the per-worker decode buffers
//! ([`Pooled`]) and the spare sample buffers of finished reductions ([`recycle`]) are
//! reused from one window of a night to the next, and freed when the outermost product
//! call returns.
//!
//! Every public entry point that decodes or reduces frames opens a scope (`PoolScope`); buffers
//! are kept only while one is open, and the last to close frees them. A program that
//! embeds the stacker therefore never holds tens of MB of buffers between calls, and has
//! nothing to release. Reuse matters within a night: a fresh 12 MP buffer per frame is
//! page-faulted in and zeroed by the kernel every time (about a tenth of a window's CPU,
//! measured).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use nightcap_frame::pixels::Image16;
use nightcap_journal::codec::Decoder;

/// Open scopes (calls in progress, over all threads).
static SCOPES: AtomicUsize = AtomicUsize::new(0);

/// A product call in progress: buffers are kept for reuse while any is open (see the
/// module docs).
#[must_use = "buffers are kept only while the scope is held"]
pub(crate) struct PoolScope(());

impl PoolScope {
    /// Opens a scope (nested scopes are counted).
    pub(crate) fn enter() -> PoolScope {
        SCOPES.fetch_add(1, Ordering::SeqCst);
        PoolScope(())
    }
}

impl Drop for PoolScope {
    fn drop(&mut self) {
        if SCOPES.fetch_sub(1, Ordering::SeqCst) == 1 {
            release_buffers();
        }
    }
}

/// Bytes of buffers the stacker keeps for reuse right now: 0 whenever no product call
/// is in progress (decode buffers counted by their capacity).
pub fn held_bytes() -> usize {
    let decode: usize = POOL.lock().map_or(0, |p| {
        p.iter()
            .map(|b| b.scratch.capacity() + b.bytes.capacity() + 2 * b.img.data.capacity())
            .sum()
    });
    let spare: usize = SPARE
        .lock()
        .map_or(0, |s| s.iter().map(|v| 2 * v.capacity()).sum());
    decode + spare
}

/// Whether a scope is open (buffers given back outside one are simply dropped).
fn in_scope() -> bool {
    SCOPES.load(Ordering::SeqCst) > 0
}

/// Per-worker buffers of [`crate::night::JournalFrames`]: reused for every frame, so decoding does not
/// allocate (and page-fault in) a fresh frame each time.
pub struct Buffers {
    pub(crate) dec: Decoder,
    pub(crate) scratch: Vec<u8>,
    pub(crate) bytes: Vec<u8>,
    pub(crate) img: Image16,
}

impl Buffers {
    /// Fresh buffers (they grow to the first frame decoded into them).
    pub fn new() -> Buffers {
        Buffers {
            dec: Decoder::new(),
            scratch: Vec::new(),
            bytes: Vec::new(),
            img: Image16::zeroed(0, 0, 1, nightcap_frame::Cfa::None, 8),
        }
    }
}

impl Default for Buffers {
    fn default() -> Buffers {
        Buffers::new()
    }
}

/// Buffers kept between reductions (windows), so that each window's workers reuse the
/// previous one's instead of allocating and page-faulting in tens of MB per frame.
static POOL: Mutex<Vec<Buffers>> = Mutex::new(Vec::new());

/// [`Buffers`] taken from the pool and given back to it when dropped; the pool keeps at
/// most one set per worker thread.
pub struct Pooled(Option<Buffers>);

impl Pooled {
    /// Buffers from the pool, or fresh ones.
    pub fn take() -> Pooled {
        let reused = POOL.lock().ok().and_then(|mut p| p.pop());
        Pooled(Some(reused.unwrap_or_default()))
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let (Some(b), true, Ok(mut pool)) = (self.0.take(), in_scope(), POOL.lock()) {
            if pool.len() < rayon::current_num_threads() {
                pool.push(b);
            }
        }
    }
}

impl std::ops::Deref for Pooled {
    type Target = Buffers;
    fn deref(&self) -> &Buffers {
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only in drop"))
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Buffers {
        self.0
            .as_mut()
            .unwrap_or_else(|| unreachable!("taken only in drop"))
    }
}

/// Frees every buffer kept for the next window (decoder buffers, spare accumulator
/// planes and stack images): at the end of the outermost [`PoolScope`], and for a
/// stacker that will be idle for a while, such as `--follow` between windows.
pub(crate) fn release_buffers() {
    if let Ok(mut pool) = POOL.lock() {
        pool.clear();
    }
    if let Ok(mut spare) = SPARE.lock() {
        *spare = Vec::new();
    }
}

impl Buffers {
    /// The last frame decoded by [`crate::night::JournalFrames::decode_into`].
    pub fn image(&self) -> &Image16 {
        &self.img
    }

    /// The same image, to calibrate in place.
    pub fn image_mut(&mut self) -> &mut Image16 {
        &mut self.img
    }
}
/// Sample buffers of finished reductions, kept for the next ones: a night is reduced
/// window after window, and the max planes and the stack image of each are tens of MB
/// that the kernel would otherwise page-fault in and zero again every window (about a
/// tenth of a window's CPU, measured). Bounded by [`SPARE_BYTES`]; [`recycle`] gives an
/// image's buffer back once it is written.
pub(crate) static SPARE: Mutex<Vec<Vec<u16>>> = Mutex::new(Vec::new());

/// At most this many bytes of spare buffers are kept: the max planes of one 12 MP
/// accumulator and two written stacks.
pub(crate) const SPARE_BYTES: usize = 96 << 20;

/// A spare buffer with room for `len` samples (empty, or of length `len` zeroed when
/// `zeroed`), or a new one.
pub(crate) fn spare(len: usize, zeroed: bool) -> Vec<u16> {
    let found = SPARE.lock().ok().and_then(|mut spare| {
        // The smallest that fits, so that band planes do not take a whole image's buffer.
        let best = (0..spare.len())
            .filter(|&i| spare[i].capacity() >= len && spare[i].capacity() <= 2 * len + 4096)
            .min_by_key(|&i| spare[i].capacity())?;
        Some(spare.swap_remove(best))
    });
    let mut v = found.unwrap_or_else(|| Vec::with_capacity(len));
    v.clear();
    if zeroed {
        v.resize(len, 0);
    }
    v
}

/// Keeps `v` for a later [`spare`] if the pool has room.
pub(crate) fn give_back(v: Vec<u16>) {
    if v.capacity() == 0 || !in_scope() {
        return;
    }
    if let Ok(mut spare) = SPARE.lock() {
        let held: usize = spare.iter().map(|b| b.capacity() * 2).sum();
        if held + v.capacity() * 2 <= SPARE_BYTES {
            spare.push(v);
        }
    }
}

/// Hands the buffer of a stack image that is no longer needed (written) to the next
/// reduction.
pub fn recycle(img: Image16) {
    give_back(img.data);
}
