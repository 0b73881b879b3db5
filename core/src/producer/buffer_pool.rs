//! `buffer.memory`: the bytes the producer may hold for records not yet acknowledged.
//!
//! What is counted is what is allocated: each batch's buffer at its capacity (not the bytes
//! written into it), the compressed copy once a batch is built, and a fixed bookkeeping cost
//! per record (its completion handle). A batch takes memory when it opens or grows and gives
//! it all back when it completes, so the bound holds for full-size buffers of lingering
//! batches and for batches in flight alike (as the Java client's BufferPool, which hands out
//! whole `batch.size` buffers).
//!
//! Taking never waits under the accumulator's lock: `try_take` either succeeds at once or
//! the caller leaves the lock, waits in `take` for room, and tries again with that credit.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{KafkaError, Result};

pub struct BufferPool {
    limit: usize,
    used: AtomicUsize,
    freed: Notify,
    /// Sends waiting for room: while there are any, every batch counts as ready (Java's
    /// "exhausted"), since only completing batches frees memory.
    waiters: AtomicUsize,
}

impl BufferPool {
    pub fn new(limit: usize) -> BufferPool {
        BufferPool {
            limit,
            used: AtomicUsize::new(0),
            freed: Notify::new(),
            waiters: AtomicUsize::new(0),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    pub fn available(&self) -> usize {
        self.limit.saturating_sub(self.used())
    }

    /// Takes `n` bytes if they are free now. A compare-and-swap, not an add undone when over
    /// the limit: a transient overshoot would refuse a concurrent taker with nothing to wake it.
    pub fn try_take(&self, n: usize) -> bool {
        if n == 0 {
            return true;
        }
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + n <= self.limit).then_some(used + n)
            })
            .is_ok()
    }

    /// Takes `n` bytes, waiting until `deadline` (the end of the send's `max.block.ms`) for
    /// completing batches to free them. `wake_sender` is called while waiting so lingering
    /// batches go out.
    pub async fn take(&self, n: usize, deadline: Instant, wake_sender: impl Fn()) -> Result<()> {
        if self.try_take(n) {
            return Ok(());
        }
        self.waiters.fetch_add(1, Ordering::AcqRel);
        let result = async {
            loop {
                let freed = self.freed.notified();
                if self.try_take(n) {
                    return Ok(());
                }
                wake_sender();
                if tokio::time::timeout_at(deadline, freed).await.is_err() && !self.try_take(n) {
                    return Err(KafkaError::Timeout(format!(
                        "failed to allocate {n} bytes within max.block.ms: buffer.memory ({} bytes) is full",
                        self.limit
                    )));
                }
            }
        }
        .await;
        self.waiters.fetch_sub(1, Ordering::AcqRel);
        result
    }

    pub fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.used.fetch_sub(n, Ordering::AcqRel);
        if self.waiters.load(Ordering::Acquire) > 0 {
            self.freed.notify_waiters();
        }
    }

    /// Whether a send is waiting for memory.
    pub fn exhausted(&self) -> bool {
        self.waiters.load(Ordering::Acquire) > 0
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn full_pool_blocks_until_freed_or_max_block() {
        let pool = std::sync::Arc::new(BufferPool::new(100));
        assert!(pool.try_take(80));
        assert!(!pool.try_take(30), "80 + 30 is over 100");
        assert_eq!(pool.used(), 80, "a refused take leaves nothing behind");
        let deadline = Instant::now() + Duration::from_millis(100);
        let err = pool.take(30, deadline, || {}).await.unwrap_err();
        assert!(err.to_string().contains("buffer.memory"), "{err}");
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(10);
                pool.take(30, deadline, || {}).await
            }
        });
        tokio::task::yield_now().await;
        assert!(pool.exhausted());
        pool.release(80);
        waiting.await.unwrap().unwrap();
        assert_eq!(pool.used(), 30);
        assert!(!pool.exhausted());
    }
}
