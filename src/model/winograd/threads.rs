//! How the transforms and products split over tract's threads: [`par_channels`] hands out
//! ranges of channels, tile rows or planes, and [`Shared`] lets the input transform's
//! threads write their own parts of one packed V.

use tract_onnx::prelude::tract_linalg;
use tract_onnx::tract_hir::internal::*;

/// The packed V, shared by the threads of `par_channels`, each of which fills its own tile
/// rows: a pointer and a length, handed out as short-lived disjoint parts.
#[derive(Clone, Copy)]
pub(super) struct Shared {
    ptr: *mut f32,
    len: usize,
}
// SAFETY: the pointer is only dereferenced through `part`, whose callers on different threads
// ask for disjoint ranges (their own tile rows), and `par_channels` returns only when every
// thread is done, so the buffer outlives every use.
unsafe impl Send for Shared {}
// SAFETY: as for Send: threads write disjoint ranges only, and nothing reads meanwhile.
unsafe impl Sync for Shared {}

impl Shared {
    pub(super) fn new(v: &mut [f32]) -> Shared {
        Shared { ptr: v.as_mut_ptr(), len: v.len() }
    }

    /// The floats `at..at + n`, to write. A caller holds one part at a time, and callers on
    /// different threads ask for disjoint ranges.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    pub(super) fn part(&self, at: usize, n: usize) -> &mut [f32] {
        assert!(at + n <= self.len, "Winograd V: {at}+{n} past {}", self.len);
        // SAFETY: in bounds (asserted) of a live buffer (see Send); no other reference to these
        // floats exists meanwhile: the thread's previous part is gone, other threads write
        // other tile rows' elements, and the buffer's owner waits in `par_channels`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at), n) }
    }
}

/// Runs `f(first, count)` over `n` channels, split over tract's threads where it has them.
pub(super) fn par_channels(
    n: usize,
    work: usize,
    f: impl Fn(usize, usize) -> TractResult<()> + Sync + Send,
) -> TractResult<()> {
    let mut ids = vec![(); n];
    tract_linalg::multithread::par_chunks_mut(&mut ids, 1, work, |first, chunk| f(first, chunk.len()))
}
