//! Handing what a step of a large run freed back to the system.
//!
//! glibc's allocator keeps freed memory in its arenas: what the graph builder and the fusion
//! free (lists, join sets, proposals, on every core's arena) and the texts a cold run embedded
//! stayed part of the process while the writing step, which allocates in small pieces on other
//! threads, reused little of it (at a million notes, the builder's peak was still held while
//! the notes were written). `malloc_trim` returns the free pages of every arena.

/// Returns the allocator's free pages to the system (glibc; elsewhere nothing to do).
pub(crate) fn give_back_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases pages no live allocation uses; it takes the arenas'
    // locks like any allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
