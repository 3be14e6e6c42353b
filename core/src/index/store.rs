//! Append-only per-slot storage whose memory never moves.
//!
//! Slots live in buckets of doubling size (bucket `b` holds `base << b` slots), each allocated once
//! and never reallocated, so a reference handed to a reader stays valid while the writer appends.
//! A fixed array of 32 buckets covers every `u32` slot.
//!
//! - [`Chunked`] holds values that are themselves synchronised (atomics, locks, `OnceLock`s).
//! - [`AtomicTable`] holds fixed-width records of `AtomicU32` (zero-initialised).
//! - [`RowStore`] holds fixed-width rows of `f32`. Invariant: a row is written exactly once, by the
//!   single appender, *before* the published length covers it (release store); readers only
//!   ever see rows below the published length (acquire load), which are never written again.

use std::alloc::{Layout, alloc_zeroed, handle_alloc_error};
use std::cell::UnsafeCell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

const BUCKETS: usize = 32;

/// Bucket and offset of slot `i` when bucket `b` holds `1 << (shift + b)` slots.
#[inline]
fn locate(i: u32, shift: u32) -> (usize, usize) {
    let j = u64::from(i) + (1u64 << shift);
    let bucket = 63 - j.leading_zeros() - shift;
    let offset = j - (1u64 << (bucket + shift));
    (bucket as usize, offset as usize)
}

#[inline]
fn bucket_slots(bucket: usize, shift: u32) -> usize {
    1usize << (bucket as u32 + shift)
}

/// Synchronised per-slot values, default-initialised bucket by bucket.
pub(crate) struct Chunked<T> {
    buckets: [OnceLock<Box<[T]>>; BUCKETS],
}

const CHUNKED_SHIFT: u32 = 10;

impl<T: Default> Chunked<T> {
    pub(crate) fn new() -> Self {
        Self { buckets: std::array::from_fn(|_| OnceLock::new()) }
    }

    /// Makes slot `i` addressable, allocating its bucket on first use.
    pub(crate) fn reserve(&self, i: u32) {
        let (bucket, _) = locate(i, CHUNKED_SHIFT);
        self.buckets[bucket].get_or_init(|| (0..bucket_slots(bucket, CHUNKED_SHIFT)).map(|_| T::default()).collect());
    }

    /// The value of slot `i`, or `None` if [`Chunked::reserve`] never covered it.
    #[inline]
    pub(crate) fn get(&self, i: u32) -> Option<&T> {
        let (bucket, offset) = locate(i, CHUNKED_SHIFT);
        self.buckets[bucket].get().map(|b| &b[offset])
    }
}

/// Slots per first bucket so that it holds about 64 KiB of `stride`-wide 4-byte records (at least
/// 16 slots): small collections stay small, huge records do not reserve gigabytes up front.
fn shift_for(stride: usize) -> u32 {
    let slots = (16 * 1024 / stride.max(1)).max(16);
    (usize::BITS - 1 - slots.leading_zeros()).min(16)
}

/// Fixed-width records of `AtomicU32`, all zero until written; records never move.
pub(crate) struct AtomicTable {
    stride: usize,
    shift: u32,
    buckets: [OnceLock<Box<[AtomicU32]>>; BUCKETS],
}

impl AtomicTable {
    pub(crate) fn new(stride: usize) -> Self {
        let stride = stride.max(1);
        Self { stride, shift: shift_for(stride), buckets: std::array::from_fn(|_| OnceLock::new()) }
    }

    /// Makes record `i` addressable, allocating its bucket on first use.
    pub(crate) fn reserve(&self, i: u32) {
        let (bucket, _) = locate(i, self.shift);
        self.buckets[bucket].get_or_init(|| zeroed_atomics(bucket_slots(bucket, self.shift) * self.stride));
    }

    /// Record `i`, or `None` if [`AtomicTable::reserve`] never covered it.
    #[inline]
    pub(crate) fn record(&self, i: u32) -> Option<&[AtomicU32]> {
        let (bucket, offset) = locate(i, self.shift);
        let cells = self.buckets[bucket].get()?;
        cells.get(offset * self.stride..(offset + 1) * self.stride)
    }

    /// Asks the CPU to start loading record `i` into cache (a hint only).
    #[inline]
    pub(crate) fn prefetch(&self, i: u32) {
        if let Some(record) = self.record(i) {
            prefetch_bytes(record.as_ptr().cast(), record.len() * 4);
        }
    }
}

/// `len` zeroed atomics from the zeroing allocator (committed lazily by the OS).
fn zeroed_atomics(len: usize) -> Box<[AtomicU32]> {
    if len == 0 {
        return Box::new([]);
    }
    let layout = Layout::array::<AtomicU32>(len).expect("bucket size fits in memory");
    // SAFETY: the layout has a non-zero size. All-zero bytes are a valid `AtomicU32` (value 0),
    // and the allocation has exactly the layout of `[AtomicU32; len]`, as `Box` requires.
    let atomics = unsafe {
        let ptr = alloc_zeroed(layout).cast::<AtomicU32>();
        if ptr.is_null() {
            handle_alloc_error(layout);
        }
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len))
    };
    advise_huge_pages(atomics.as_ptr().cast(), len * 4);
    atomics
}

/// Asks Linux to back a large allocation with transparent huge pages: graph walks touch rows
/// at random, and with 4 KiB pages nearly every row costs a TLB miss once the index outgrows the
/// TLB reach (a few MiB). A hint only; errors and other systems are ignored.
fn advise_huge_pages(start: *const u8, bytes: usize) {
    const HUGE: usize = 2 << 20;
    if bytes < 2 * HUGE {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let page = 4096;
        let aligned = (start as usize).next_multiple_of(page);
        let end = (start as usize + bytes) / page * page;
        if end > aligned {
            // SAFETY: the range lies inside one live allocation owned by the caller; MADV_HUGEPAGE
            // changes only how the kernel backs it, never its contents or validity.
            unsafe {
                libc::madvise(aligned as *mut libc::c_void, end - aligned, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = start;
}

/// Prefetch hint for `bytes` bytes starting at `base` (never faults; no-op off x86_64).
#[inline]
fn prefetch_bytes(base: *const i8, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let mut offset = 0;
        while offset < bytes {
            // SAFETY: prefetching is a pure hint that never faults; callers pass addresses inside
            // one of their live allocations anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(offset)) };
            offset += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (base, bytes);
}

/// Append-only rows of `stride` floats; see the module invariant.
pub(crate) struct RowStore {
    stride: usize,
    shift: u32,
    len: AtomicU32,
    append: Mutex<()>,
    buckets: [OnceLock<Box<[UnsafeCell<f32>]>>; BUCKETS],
}

// SAFETY: the cells are only written by `push`, under the `append` mutex, for the one row at index
// `len` that no reader can reach yet (`row` refuses indices >= len, and `len` is published with
// release ordering after the write). Published rows are immutable, so shared `&[f32]` views of them
// never alias a write. Buckets are never freed or moved before the store is dropped.
unsafe impl Sync for RowStore {}

impl RowStore {
    /// An empty store of rows of `stride` floats (`stride >= 1`).
    pub(crate) fn new(stride: usize) -> Self {
        let stride = stride.max(1);
        Self {
            stride,
            shift: shift_for(stride),
            len: AtomicU32::new(0),
            append: Mutex::new(()),
            buckets: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Number of published rows.
    #[inline]
    pub(crate) fn len(&self) -> u32 {
        self.len.load(Ordering::Acquire)
    }

    /// Appends a row (exactly `stride` floats) and returns its index. `before_publish(index)` runs
    /// after the row is written and before readers can see it.
    ///
    /// Panics if `row.len() != stride` or if all `u32` indices are used (programming errors).
    pub(crate) fn push(&self, row: &[f32], before_publish: impl FnOnce(u32)) -> u32 {
        assert_eq!(row.len(), self.stride, "row width");
        let _guard = self.append.lock();
        let index = self.len.load(Ordering::Relaxed);
        assert!(index < u32::MAX, "slot space exhausted");
        let (bucket, offset) = locate(index, self.shift);
        let cells = self.buckets[bucket].get_or_init(|| zeroed_cells(bucket_slots(bucket, self.shift) * self.stride));
        let start = offset * self.stride;
        let target = &cells[start..start + self.stride];
        // SAFETY: row `index` is not published yet, so no reader holds a reference into these cells,
        // and we are the only writer (append mutex). `UnsafeCell<f32>` has the layout of `f32`.
        unsafe {
            std::ptr::copy_nonoverlapping(row.as_ptr(), UnsafeCell::raw_get(target.as_ptr()), self.stride);
        }
        before_publish(index);
        self.len.store(index + 1, Ordering::Release);
        index
    }

    /// Row `i`, or `None` if it is not published.
    #[inline]
    pub(crate) fn row(&self, i: u32) -> Option<&[f32]> {
        if i >= self.len() {
            return None;
        }
        let (bucket, offset) = locate(i, self.shift);
        let cells = self.buckets[bucket].get()?;
        let start = offset * self.stride;
        let cells = &cells[start..start + self.stride];
        // SAFETY: the row is published, hence fully written and never written again (module
        // invariant); `UnsafeCell<f32>` is `repr(transparent)` over `f32`.
        Some(unsafe { std::slice::from_raw_parts(UnsafeCell::raw_get(cells.as_ptr()).cast_const(), self.stride) })
    }
}

impl RowStore {
    /// Asks the CPU to start loading the first `words` words of row `i` into cache (a hint; no
    /// effect if `i` is unpublished).
    #[inline]
    pub(crate) fn prefetch(&self, i: u32, words: usize) {
        if let Some(row) = self.row(i) {
            prefetch_bytes(row.as_ptr().cast(), words.min(row.len()) * 4);
        }
    }
}

/// `len` zeroed cells. Uses the zeroing allocator so large buckets are committed lazily by the OS.
fn zeroed_cells(len: usize) -> Box<[UnsafeCell<f32>]> {
    let zeros: Box<[f32]> = vec![0.0f32; len].into_boxed_slice();
    advise_huge_pages(zeros.as_ptr().cast(), len * 4);
    // SAFETY: `UnsafeCell<f32>` is `repr(transparent)` over `f32`: same size, alignment and layout,
    // so the allocation can be reinterpreted as a slice of cells of the same length.
    unsafe { Box::from_raw(Box::into_raw(zeros) as *mut [UnsafeCell<f32>]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_u32_without_gaps() {
        for shift in [4, 10, 16] {
            let mut expected = (0usize, 0usize);
            for i in 0..5000u32 {
                assert_eq!(locate(i, shift), expected, "i={i} shift={shift}");
                expected.1 += 1;
                if expected.1 == bucket_slots(expected.0, shift) {
                    expected = (expected.0 + 1, 0);
                }
            }
            let (bucket, offset) = locate(u32::MAX, shift);
            assert!(bucket < BUCKETS && offset < bucket_slots(bucket, shift));
        }
    }

    #[test]
    fn rows_are_stable_while_appending() {
        let store = RowStore::new(3);
        let first = store.push(&[1.0, 2.0, 3.0], |_| {});
        let r0 = store.row(first).expect("published");
        for i in 1..10_000u32 {
            let v = i as f32;
            assert_eq!(store.push(&[v, v + 1.0, v + 2.0], |_| {}), i);
        }
        assert_eq!(r0, &[1.0, 2.0, 3.0]);
        assert_eq!(store.row(9_999), Some(&[9_999.0, 10_000.0, 10_001.0][..]));
        assert_eq!(store.row(10_000), None);
    }
}
