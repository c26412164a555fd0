//! The background syncer of a journal writer (see [`Syncer`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::segment::Padding;
use crate::storage::StorageFile;

/// The background syncer: fdatasyncs the active segment every interval, so a power cut
/// loses at most about one interval of frames.
///
/// Every barrier (its own and [`JournalWriter::sync`]) first places the padding NOTE the
/// writer left in the [`Fence`], so the synced bytes end on a page boundary and the next
/// record starts on a fresh page: a page holding synced bytes is never written again
/// (see `segment`). The writer holds the fence lock while it appends, so the padding is
/// never placed while a record is being written, and it takes in (`adopt_padding`) a
/// placed padding before its next record.
pub(super) struct Syncer<F> {
    pub(super) shared: Arc<SyncShared<F>>,
    pub(super) thread: Option<JoinHandle<()>>,
}

pub(super) struct SyncShared<F> {
    pub(super) file: Mutex<Option<F>>,
    /// Lock order: `file` before `fence`; the writer takes `fence` alone while appending.
    pub(super) fence: Mutex<Fence>,
    pub(super) stop: AtomicBool,
    pub(super) wake: Condvar,
}

/// Padding of the watched segment, between the writer and the barriers.
#[derive(Debug, Default)]
pub(super) struct Fence {
    /// What the next barrier places (the writer sets it after each record).
    pub(super) due: Option<Padding>,
    /// What a barrier placed and the writer has not taken in yet.
    pub(super) placed: Option<Padding>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<F: StorageFile> SyncShared<F> {
    /// One barrier on `file` (the watched one, whose lock the caller holds): places the
    /// padding due, then fdatasyncs.
    pub(super) fn barrier(&self, file: &F) -> std::io::Result<()> {
        {
            let mut fence = lock(&self.fence);
            if let Some(pad) = fence.due.take() {
                file.write_bytes(&pad.header.encode(), pad.offset)?;
                fence.placed = Some(pad);
            }
        }
        file.sync_data()
    }
}

impl<F: StorageFile> Syncer<F> {
    pub(super) fn start(interval: Duration) -> Syncer<F> {
        let shared = Arc::new(SyncShared::<F> {
            file: Mutex::new(None),
            fence: Mutex::new(Fence::default()),
            stop: AtomicBool::new(false),
            wake: Condvar::new(),
        });
        let thread = (!interval.is_zero()).then(|| {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("journal-sync".into())
                .spawn(move || {
                    let mut guard = lock(&shared.file);
                    while !shared.stop.load(Ordering::Relaxed) {
                        guard = shared
                            .wake
                            .wait_timeout(guard, interval)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                        if let Some(f) = guard.as_ref() {
                            // An error here resurfaces at seal, which syncs again.
                            let _ = shared.barrier(f);
                        }
                    }
                })
                .expect("spawning the journal sync thread")
        });
        Syncer { shared, thread }
    }

    /// Syncs `file` from now on, placing `due` at the next barrier (a resumed segment
    /// whose records do not end on a page boundary).
    pub(super) fn watch(&self, file: F, due: Option<Padding>) {
        let mut guard = lock(&self.shared.file);
        *lock(&self.shared.fence) = Fence { due, placed: None };
        *guard = Some(file);
    }

    /// Stops syncing the watched file; returns the padding a barrier placed that the
    /// writer has not taken in yet.
    pub(super) fn unwatch(&self) -> Option<Padding> {
        let mut guard = lock(&self.shared.file);
        *guard = None;
        std::mem::take(&mut *lock(&self.shared.fence)).placed
    }

    pub(super) fn sync_now(&self) -> std::io::Result<()> {
        match lock(&self.shared.file).as_ref() {
            Some(f) => self.shared.barrier(f),
            None => Ok(()),
        }
    }

    pub(super) fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
