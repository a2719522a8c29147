//! Giving the allocator's free pages back to the system: the one call the
//! server makes outside Rust.
//!
//! glibc's `malloc` keeps what the program frees in its arenas (one per
//! thread that allocates, up to eight a core) and returns pages to the
//! system only from the top of an arena. Under churn, a connection's or a
//! room's buffers are freed between live allocations of others, and the
//! pages they held stay resident: the server's resident set creeps up for
//! hours while its heap is flat (see `BENCHMARKS.md`, "Soak").
//! `malloc_trim(0)` walks every arena and gives the whole free pages back
//! (`madvise(MADV_DONTNEED)`), which the server does every
//! `--malloc-trim-every` seconds from a housekeeping task.
//!
//! Elsewhere than glibc (musl, macOS, another global allocator) [`trim`]
//! does nothing.
//!
//! With the `jemalloc` feature, jemalloc is the global allocator of every
//! binary built on this library (the `tickwire` binary, and a game's own
//! server). jemalloc gives its free pages back by itself, after its decay
//! time (10 s), so there is nothing for glibc to trim: the server starts no
//! trimming task and says so at start ([`TRIMS`]). The allocator is set
//! here rather than in each binary so that the feature and the allocator
//! always go together: cargo unifies a library's features across the
//! binaries it builds at once.

use std::time::{Duration, Instant};

/// The global allocator with the `jemalloc` feature (see the module's doc).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Whether `--malloc-trim-every` trims anything: not with the `jemalloc`
/// feature, whose allocator is not glibc's.
pub(crate) const TRIMS: bool = !cfg!(feature = "jemalloc");

/// Gives the free pages of every arena back to the system; returns whether
/// glibc released any. A no-op returning `false` off glibc.
#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "jemalloc")))]
#[allow(unsafe_code)]
pub(crate) fn trim() -> bool {
    // SAFETY: `malloc_trim` takes no pointer and has no precondition; glibc
    // locks each arena while it walks it, so it is safe to call from any
    // thread while others allocate and free (they wait for that arena).
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Gives the free pages of every arena back to the system; returns whether
/// glibc released any. A no-op returning `false` off glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu", not(feature = "jemalloc"))))]
pub(crate) fn trim() -> bool {
    false
}

/// What the allocator holds: the live heap and what it keeps free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Heap {
    /// Bytes the program has allocated and not yet freed, with the
    /// allocator's chunk headers: a leak shows here, and nowhere else as
    /// cleanly (the resident set also moves with what the allocator keeps).
    pub in_use: u64,
    /// Bytes free in the arenas that the allocator keeps for later
    /// allocations; [`trim`] gives the whole pages of them back.
    pub free: u64,
}

/// The allocator's figures: glibc's `mallinfo2` summed over every arena
/// (`uordblks` and `hblkhd`, the chunks in use and the blocks mapped on
/// their own; `fordblks`, the free chunks). It locks each arena in turn
/// while it counts its free chunks: a scrape's work, not a tick's. `None`
/// off glibc and with the `jemalloc` feature.
#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "jemalloc")))]
#[allow(unsafe_code)]
pub(crate) fn heap() -> Option<Heap> {
    // SAFETY: `mallinfo2` (glibc 2.33 and later) takes nothing and returns
    // a struct by value; it locks each arena while it reads it, so any
    // thread may call it while others allocate.
    let info = unsafe { libc::mallinfo2() };
    Some(Heap {
        in_use: (info.uordblks + info.hblkhd) as u64,
        free: info.fordblks as u64,
    })
}

/// The allocator's figures: unknown off glibc and with the `jemalloc`
/// feature.
#[cfg(not(all(target_os = "linux", target_env = "gnu", not(feature = "jemalloc"))))]
pub(crate) fn heap() -> Option<Heap> {
    None
}

/// Trims every `every` until the task is aborted (at shutdown). The trim
/// runs on the blocking pool: it locks each arena in turn, and a worker of
/// the sessions' runtime should not wait for that. Each trim's time is
/// recorded in `tickwire_malloc_trim_seconds`.
pub(crate) async fn trim_every(every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once: nothing to give back at start-up.
    interval.tick().await;
    loop {
        interval.tick().await;
        let trimmed = tokio::task::spawn_blocking(|| {
            let started = Instant::now();
            let released = trim();
            (released, started.elapsed())
        })
        .await;
        if let Ok((released, took)) = trimmed {
            metrics::histogram!(crate::stats::MALLOC_TRIM_SECONDS).record(took.as_secs_f64());
            tracing::trace!(released, ?took, "trimmed the allocator");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trim_after_freeing_does_not_disturb_live_memory() {
        let live: Vec<u64> = (0..1_000).collect();
        let freed: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 * 1024]).collect();
        drop(freed);
        let _ = trim();
        let _ = trim();
        assert_eq!(live.iter().sum::<u64>(), 499_500);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "jemalloc")))]
    #[test]
    #[allow(clippy::expect_used)]
    fn the_heap_in_use_counts_what_is_held_and_not_what_was_freed() {
        // Other tests' threads allocate too: the held block is large enough
        // that their noise cannot hide it, and is looked at twice.
        const HELD: u64 = 64 << 20;
        let before = heap().expect("glibc reports its heap").in_use;
        let held = vec![1u8; HELD as usize];
        let during = heap().expect("glibc reports its heap").in_use;
        assert!(
            during >= before + HELD - (8 << 20),
            "{before} then {during}, holding {HELD}"
        );
        assert_eq!(held.iter().map(|&b| b as u64).sum::<u64>(), HELD);
        drop(held);
        let after = heap().expect("glibc reports its heap").in_use;
        assert!(
            after + HELD - (8 << 20) <= during,
            "{during} then {after}, after freeing {HELD}"
        );
    }
}
