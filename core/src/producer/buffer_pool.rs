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
//!
//! Full-size (`batch.size`) buffers are reused, as in Java's pool: a completed batch's buffer
//! goes to a free list (still counted as used) and the next full-size batch takes it. A new
//! buffer of that size is fresh memory for the allocator to map and the kernel to zero,
//! which was a tenth of the producer's CPU with many partitions. Memory on the free list is
//! given up whenever a take would otherwise fail, so it never stands in a send's way.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{KafkaError, Result};

pub struct BufferPool {
    limit: usize,
    /// Bytes taken, free-list buffers included.
    used: AtomicUsize,
    /// The size of a reusable buffer (`batch.size`).
    poolable: usize,
    free: Mutex<Vec<Vec<u8>>>,
    /// At most this many free buffers (half of `buffer.memory`).
    max_free: usize,
    freed: Notify,
    /// Sends waiting for room: while there are any, every batch counts as ready (Java's
    /// "exhausted"), since only completing batches frees memory.
    waiters: AtomicUsize,
}

impl BufferPool {
    pub fn new(limit: usize, poolable: usize) -> BufferPool {
        BufferPool {
            limit,
            used: AtomicUsize::new(0),
            poolable,
            free: Mutex::new(Vec::new()),
            max_free: (limit / 2).checked_div(poolable).unwrap_or(0),
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

    /// Takes `n` bytes if they are free now, giving up free-list buffers for them if need be.
    pub fn try_take(&self, n: usize) -> bool {
        loop {
            if self.take_now(n) {
                return true;
            }
            let Some(buffer) = self.free.lock().unwrap().pop() else {
                return false;
            };
            drop(buffer);
            self.used.fetch_sub(self.poolable, Ordering::AcqRel);
        }
    }

    /// A compare-and-swap, not an add undone when over the limit: a transient overshoot would
    /// refuse a concurrent taker with nothing to wake it.
    fn take_now(&self, n: usize) -> bool {
        if n == 0 {
            return true;
        }
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + n <= self.limit).then_some(used + n)
            })
            .is_ok()
    }

    /// The size of a reusable buffer.
    pub fn poolable(&self) -> usize {
        self.poolable
    }

    /// A free full-size buffer, if there is one. Its bytes are counted already: the caller
    /// takes them over (and releases them as its own when done).
    pub fn reuse(&self) -> Option<Vec<u8>> {
        self.free.lock().unwrap().pop()
    }

    /// Takes back a buffer no longer used: kept (and counted) if it is full-size, the free list
    /// has room, the pool has the bytes and no send is waiting for them; freed otherwise.
    pub fn recycle(&self, buffer: Vec<u8>) {
        if buffer.capacity() != self.poolable || self.exhausted() {
            return;
        }
        let mut free = self.free.lock().unwrap();
        if free.len() < self.max_free && self.take_now(self.poolable) {
            free.push(buffer);
        }
    }

    /// `buffer` as shared bytes that come back to this pool when the last reference drops
    /// (after the batch is acknowledged and its request written).
    pub fn share(self: &Arc<Self>, buffer: Vec<u8>) -> Bytes {
        Bytes::from_owner(Recycled {
            buffer,
            pool: self.clone(),
        })
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

/// A batch's bytes on their way back to the pool.
struct Recycled {
    buffer: Vec<u8>,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        self.pool.recycle(std::mem::take(&mut self.buffer));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn full_pool_blocks_until_freed_or_max_block() {
        let pool = std::sync::Arc::new(BufferPool::new(100, 10));
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

    #[test]
    fn full_size_buffers_are_reused_and_stay_counted() {
        let pool = Arc::new(BufferPool::new(100, 20));
        assert!(pool.try_take(20));
        let buffer: Vec<u8> = Vec::with_capacity(20);
        let address = buffer.as_ptr();
        pool.release(20); // the batch completed...
        let bytes = pool.share(buffer); // ...while its request still held the bytes
        assert_eq!(pool.used(), 0);
        drop(bytes);
        assert_eq!(pool.used(), 20, "a free buffer is counted");
        let reused = pool.reuse().expect("a free buffer");
        assert_eq!(reused.as_ptr(), address, "the same allocation");
        assert_eq!(pool.used(), 20, "the taker holds what the free list held");

        // Buffers of another size are freed, not kept.
        pool.release(20);
        pool.recycle(Vec::with_capacity(7));
        assert_eq!(pool.used(), 0);
        assert!(pool.reuse().is_none());
    }

    #[test]
    fn free_buffers_give_way_to_a_take() {
        let pool = BufferPool::new(100, 20);
        pool.recycle(Vec::with_capacity(20));
        pool.recycle(Vec::with_capacity(20));
        pool.recycle(Vec::with_capacity(20));
        assert_eq!(pool.used(), 40, "at most half of the limit is kept free");
        assert!(pool.try_take(75), "a free buffer is given up for a take");
        assert_eq!(pool.used(), 95, "the other is kept");
        assert!(pool.try_take(10), "and given up for the next");
        assert_eq!(pool.used(), 85);
        assert!(pool.reuse().is_none());
        assert!(!pool.try_take(20), "nothing left to give up");
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_kept_free_while_a_send_waits() {
        let pool = Arc::new(BufferPool::new(100, 20));
        assert!(pool.try_take(100));
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(10);
                pool.take(30, deadline, || {}).await
            }
        });
        tokio::task::yield_now().await;
        pool.release(40);
        pool.recycle(Vec::with_capacity(20));
        waiting.await.unwrap().unwrap();
        assert_eq!(pool.used(), 90);
    }
}
