//! The caching global allocator [`Pool`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// log₂ of the smallest block the pool keeps (64 KiB).
const MIN_SHIFT: u32 = 16;
/// Size classes per power of two.
const STEPS_SHIFT: u32 = 2;
/// Blocks up to 2⁴⁸ bytes are kept; larger ones go to the system.
const MAX_SHIFT: u32 = 48;
/// Number of size classes.
const CLASSES: usize = ((MAX_SHIFT - MIN_SHIFT) as usize) << STEPS_SHIFT;
/// Alignment of every block the pool allocates (a cache line; requests asking for more go to
/// the system).
const ALIGN: usize = 64;

/// The free blocks of one size class: an intrusive list (each free block holds the address of
/// the next in its first bytes) behind a spin lock held for a few instructions.
struct Class {
    lock: AtomicBool,
    head: UnsafeCell<*mut u8>,
}

// SAFETY: `head` is only read or written while `lock` is held (see `Class::with`).
unsafe impl Sync for Class {}

impl Class {
    const fn new() -> Class {
        Class {
            lock: AtomicBool::new(false),
            head: UnsafeCell::new(ptr::null_mut()),
        }
    }

    /// Run `f` on the list head with the lock held.
    fn with<R>(&self, f: impl FnOnce(&mut *mut u8) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the lock gives exclusive access to `head`.
        let r = f(unsafe { &mut *self.head.get() });
        self.lock.store(false, Ordering::Release);
        r
    }
}

/// A buffer pool at the allocator: large blocks freed by one explanation are kept for the next.
///
/// An explanation allocates the same large buffers on every call (activations, the rules'
/// temporaries, the relevance of each layer) and frees them when it returns. glibc serves
/// blocks above its `mmap` threshold (128 KiB to 32 MiB, adapting) with fresh `mmap`s and
/// gives them back with `munmap`, and trims the top of its heap when it is free, so the next
/// call pays a page fault and the kernel's zeroing for every 4 KiB page it touches again.
/// Measured on the shipped gender model at batch 8 from Python, that was a quarter of the
/// call (18.1 against 13.6 ms in a Rust process whose allocator state happened to differ).
///
/// A `Pool` is a [`GlobalAlloc`] over the system allocator that keeps freed blocks of 64 KiB
/// and more, up to a bound on the bytes it holds, in size classes (four per power of two, so
/// a block serves any request within 19% below its size), and hands them out again. Smaller
/// blocks go straight to the system allocator. The pool never holds more than its limit; a
/// block that would exceed it goes back to the system. [`Pool::release`] returns everything
/// it holds.
///
/// The `lrp` command line, the Python module and the benches install it as their global
/// allocator. A program that uses `lrp` as a library chooses for itself:
///
/// ```
/// #[global_allocator]
/// static ALLOC: lrp::memory::Pool = lrp::memory::Pool::new(lrp::memory::Pool::DEFAULT_LIMIT);
///
/// fn main() {
///     let v = vec![0f32; 1 << 20]; // 4 MiB: from the system the first time
///     drop(v); // kept by the pool
///     assert!(ALLOC.cached_bytes() >= 4 << 20);
///     let w = vec![1f32; 1 << 20]; // the same block again, without page faults
///     assert_eq!(w[5], 1.0);
/// }
/// ```
pub struct Pool {
    limit: AtomicUsize,
    cached: AtomicUsize,
    classes: [Class; CLASSES],
}

/// The size class of a request: its index and the block size that serves it, or `None` when
/// the pool does not keep such blocks.
fn class_of(layout: Layout) -> Option<(usize, usize)> {
    let size = layout.size();
    if size < 1 << MIN_SHIFT || layout.align() > ALIGN {
        return None;
    }
    let octave = usize::BITS - 1 - size.leading_zeros();
    let step = 1usize << (octave - STEPS_SHIFT);
    let block = size.checked_add(step - 1)? & !(step - 1);
    // Rounding up may reach the next power of two: index it from the block's own octave.
    let octave = usize::BITS - 1 - block.leading_zeros();
    if octave >= MAX_SHIFT {
        return None;
    }
    let sub = (block >> (octave - STEPS_SHIFT)) & ((1 << STEPS_SHIFT) - 1);
    let index = (((octave - MIN_SHIFT) as usize) << STEPS_SHIFT) + sub;
    Some((index, block))
}

impl Pool {
    /// The default bound on the bytes the pool holds: 1 GiB.
    pub const DEFAULT_LIMIT: usize = 1 << 30;

    /// A pool that holds at most `limit` bytes of free blocks (0: keeps nothing, a plain
    /// pass-through to the system allocator).
    pub const fn new(limit: usize) -> Pool {
        Pool {
            limit: AtomicUsize::new(limit),
            cached: AtomicUsize::new(0),
            classes: [const { Class::new() }; CLASSES],
        }
    }

    /// Bytes of free blocks the pool holds now.
    pub fn cached_bytes(&self) -> usize {
        self.cached.load(Ordering::Relaxed)
    }

    /// The bound on the bytes the pool holds.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Change the bound; blocks held beyond a lowered bound are returned to the system.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
        if self.cached_bytes() > limit {
            self.release();
        }
    }

    /// The environment variable that sets the bound of a program's pool
    /// ([`Pool::limit_from_env`]): a size as `--max-memory` takes it (`512M`, `2G`; `0`, `off`
    /// or `none` keep nothing).
    pub const ENV: &'static str = "LRP_POOL";

    /// Set the bound from the environment variable [`Pool::ENV`], if it is set; a value that
    /// is not a size is an error naming the variable (and the bound stays as it was).
    ///
    /// ```
    /// let pool = lrp::memory::Pool::new(1 << 20);
    /// // Unset: the bound stays.
    /// pool.limit_from_env().unwrap();
    /// assert_eq!(pool.limit(), 1 << 20);
    /// ```
    pub fn limit_from_env(&self) -> crate::error::Result<()> {
        let Some(value) = std::env::var_os(Self::ENV) else {
            return Ok(());
        };
        let text = value.to_string_lossy();
        let limit = super::parse_size(&text)
            .map_err(|e| crate::error::Error::Invalid(format!("{}: {e}", Self::ENV)))?
            .unwrap_or(0);
        self.set_limit(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(())
    }

    /// Return every block the pool holds to the system allocator.
    pub fn release(&self) {
        for (index, class) in self.classes.iter().enumerate() {
            let block = block_size(index);
            let mut list = class.with(|head| std::mem::replace(head, ptr::null_mut()));
            while !list.is_null() {
                // SAFETY: every listed block is one of ours, of this class's size, with the
                // next block's address in its first bytes (see `dealloc`).
                unsafe {
                    let next = ptr::read(list.cast::<*mut u8>());
                    self.cached.fetch_sub(block, Ordering::Relaxed);
                    System.dealloc(list, Layout::from_size_align_unchecked(block, ALIGN));
                    list = next;
                }
            }
        }
    }

    /// A free block of class `index`, if the pool holds one.
    fn take(&self, index: usize, block: usize) -> *mut u8 {
        let p = self.classes[index].with(|head| {
            let p = *head;
            if !p.is_null() {
                // SAFETY: a listed block holds the next block's address in its first bytes.
                *head = unsafe { ptr::read(p.cast::<*mut u8>()) };
            }
            p
        });
        if !p.is_null() {
            self.cached.fetch_sub(block, Ordering::Relaxed);
        }
        p
    }
}

/// The block size of class `index` (the inverse of [`class_of`]).
fn block_size(index: usize) -> usize {
    let octave = MIN_SHIFT as usize + (index >> STEPS_SHIFT);
    let sub = index & ((1 << STEPS_SHIFT) - 1);
    (1usize << octave) + (sub << (octave - STEPS_SHIFT as usize))
}

// SAFETY: blocks of a class all have the class's size and alignment `ALIGN`, are allocated and
// freed through `System` with exactly that layout, and a block is in at most one place at a
// time (handed out, or in its class's list). Requests the pool does not keep go to `System`
// with their own layout.
unsafe impl GlobalAlloc for Pool {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class_of(layout) {
            None => System.alloc(layout),
            Some((index, block)) => {
                let p = self.take(index, block);
                if p.is_null() {
                    System.alloc(Layout::from_size_align_unchecked(block, ALIGN))
                } else {
                    p
                }
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match class_of(layout) {
            None => System.alloc_zeroed(layout),
            Some((index, block)) => {
                let p = self.take(index, block);
                if p.is_null() {
                    // Fresh pages from the system are zero already.
                    System.alloc_zeroed(Layout::from_size_align_unchecked(block, ALIGN))
                } else {
                    ptr::write_bytes(p, 0, layout.size());
                    p
                }
            }
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        match class_of(layout) {
            None => System.dealloc(p, layout),
            Some((index, block)) => {
                let held = self.cached.fetch_add(block, Ordering::Relaxed);
                if held + block > self.limit.load(Ordering::Relaxed) {
                    self.cached.fetch_sub(block, Ordering::Relaxed);
                    System.dealloc(p, Layout::from_size_align_unchecked(block, ALIGN));
                } else {
                    self.classes[index].with(|head| {
                        ptr::write(p.cast::<*mut u8>(), *head);
                        *head = p;
                    });
                }
            }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (class_of(layout), class_of(new_layout)) {
            (None, None) => System.realloc(p, layout, new_size),
            (Some((a, _)), Some((b, _))) if a == b => p,
            _ => {
                let q = self.alloc(new_layout);
                if !q.is_null() {
                    ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                    self.dealloc(p, layout);
                }
                q
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn classes_cover_requests_and_invert() {
        assert_eq!(class_of(layout(1000)), None);
        assert_eq!(class_of(layout(65536)), Some((0, 65536)));
        assert_eq!(class_of(layout(65537)), Some((1, 81920)));
        assert_eq!(class_of(layout(131072)), Some((4, 131072)));
        // 114689 rounds up to the next power of two, the first class of its octave.
        assert_eq!(class_of(layout(114689)), Some((4, 131072)));
        assert_eq!(
            class_of(Layout::from_size_align(1 << 20, 4096).unwrap()),
            None
        );
        for size in (1usize << 16..1 << 24).step_by(4093) {
            let (index, block) = class_of(layout(size)).unwrap();
            assert!(
                block >= size && (block - size) * 5 < block,
                "{size} → {block}"
            );
            assert_eq!(block_size(index), block);
        }
        assert_eq!(class_of(layout(1 << 50)), None);
    }

    #[test]
    fn freed_blocks_are_reused_and_zeroed_on_request() {
        let pool = Pool::new(1 << 24);
        unsafe {
            let l = layout(300_000);
            let p = pool.alloc(l);
            ptr::write_bytes(p, 7, l.size());
            pool.dealloc(p, l);
            assert_eq!(pool.cached_bytes(), 327_680);
            // A request of the same class gets the same block back.
            let q = pool.alloc_zeroed(layout(310_000));
            assert_eq!(q, p);
            assert_eq!(pool.cached_bytes(), 0);
            let s = std::slice::from_raw_parts(q, 310_000);
            assert!(s.iter().all(|&b| b == 0));
            pool.dealloc(q, layout(310_000));
            pool.release();
            assert_eq!(pool.cached_bytes(), 0);
        }
    }

    #[test]
    fn the_limit_bounds_what_is_held() {
        let pool = Pool::new(200_000);
        unsafe {
            let l = layout(100_000); // block of 114688 bytes
            let a = pool.alloc(l);
            let b = pool.alloc(l);
            pool.dealloc(a, l);
            pool.dealloc(b, l); // would exceed the limit: back to the system
            assert_eq!(pool.cached_bytes(), 114_688);
            pool.set_limit(0);
            assert_eq!(pool.cached_bytes(), 0);
        }
    }

    #[test]
    fn realloc_keeps_contents_across_classes() {
        let pool = Pool::new(1 << 24);
        unsafe {
            let p = pool.alloc(layout(1000));
            for i in 0..1000 {
                *p.add(i) = i as u8;
            }
            let q = pool.realloc(p, layout(1000), 70_000);
            let r = pool.realloc(q, layout(70_000), 75_000); // same class: same block
            assert_eq!(q, r);
            let s = pool.realloc(r, layout(75_000), 500_000);
            for i in 0..1000 {
                assert_eq!(*s.add(i), i as u8);
            }
            let t = pool.realloc(s, layout(500_000), 10);
            assert_eq!(
                std::slice::from_raw_parts(t, 10),
                &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
            );
            pool.dealloc(t, layout(10));
        }
    }

    #[test]
    fn threads_share_the_pool() {
        let pool = Pool::new(1 << 26);
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let pool = &pool;
                s.spawn(move || unsafe {
                    for i in 0..200 {
                        let l = layout(65_536 + 4096 * (i % 16));
                        let p = pool.alloc(l);
                        ptr::write_bytes(p, t, l.size());
                        assert!(std::slice::from_raw_parts(p, l.size())
                            .iter()
                            .all(|&b| b == t));
                        pool.dealloc(p, l);
                    }
                });
            }
        });
        assert!(pool.cached_bytes() <= 1 << 26);
    }
}
