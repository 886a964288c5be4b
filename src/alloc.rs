//! The process allocator: the system's, except that every block is wiped when freed.
//!
//! A token passes through buffers we do not own: std's formatting, serde_json's
//! scratch space, the HTTP client's and rustls's read and write buffers, D-Bus
//! message buffers. Wrapping each of them is not possible, so the allocator
//! overwrites every block with zeros before handing it back, and `realloc`
//! never leaves the old copy behind. What our own types hold is still wiped on
//! drop ([`zeroize`]); this catches the copies we cannot see.
//!
//! Cost: one pass of word-sized volatile stores over each freed block. A `get`
//! frees well under a megabyte, which takes microseconds.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

pub struct WipingAllocator;

// SAFETY: every call is forwarded to `System` with the caller's layout; the
// only additions are writes inside a block the caller is giving up, made
// before the block is released, and a copy of at most the smaller size.
unsafe impl GlobalAlloc for WipingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` is a live block of `layout.size()` bytes that the caller
        // no longer uses; it is wiped, then freed exactly once.
        unsafe {
            wipe(ptr, layout.size());
            System.dealloc(ptr, layout);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Never `System.realloc`: it may move the block and free the old one unwiped.
        // SAFETY: the caller guarantees `new_size` is valid for `layout.align()`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a fresh block; on success the old one is copied, wiped and freed.
        unsafe {
            let new = System.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

/// Overwrites `len` bytes at `ptr` with zeros in a way the compiler cannot drop
/// as a dead store before `free`.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes.
unsafe fn wipe(ptr: *mut u8, len: usize) {
    const WORD: usize = std::mem::size_of::<usize>();
    let mut at = 0;
    // SAFETY: every write below stays within `ptr..ptr + len`, and word writes
    // are made only at word-aligned addresses.
    unsafe {
        let head = ptr.align_offset(WORD).min(len);
        while at < head {
            ptr.add(at).write_volatile(0);
            at += 1;
        }
        while at + WORD <= len {
            ptr.add(at).cast::<usize>().write_volatile(0);
            at += WORD;
        }
        while at < len {
            ptr.add(at).write_volatile(0);
            at += 1;
        }
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_clears_every_byte_at_any_alignment_and_length() {
        for offset in 0..9 {
            for len in 0..40 {
                let mut buffer = vec![0xa5u8; 64];
                // SAFETY: offset + len <= 64.
                unsafe { wipe(buffer.as_mut_ptr().add(offset), len) };
                for (i, &b) in buffer.iter().enumerate() {
                    let inside = (offset..offset + len).contains(&i);
                    assert_eq!(
                        b,
                        if inside { 0 } else { 0xa5 },
                        "offset {offset} len {len} at {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn growing_and_shrinking_keep_the_contents() {
        let mut v: Vec<u8> = (0..=255).collect();
        v.reserve(10_000);
        assert_eq!(v[..256], (0..=255).collect::<Vec<u8>>()[..]);
        v.truncate(3);
        v.shrink_to_fit();
        assert_eq!(v, [0, 1, 2]);
    }
}
