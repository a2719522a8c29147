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
}
