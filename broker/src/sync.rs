//! Locks a panic does not poison for everyone.
//!
//! A panic while a request holds a partition's (or a group's) lock must cost that request,
//! not every later produce, fetch, retention pass and the shutdown flush: a poisoned lock is
//! taken as it stands, and the poisoning is logged once per take.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

fn poisoned<G>(e: std::sync::PoisonError<G>) -> G {
    tracing::error!("a lock was held by a request that panicked; serving on with its state");
    e.into_inner()
}

pub trait LockExt<T> {
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> LockExt<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(poisoned)
    }
}

pub trait RwLockExt<T> {
    fn read_locked(&self) -> RwLockReadGuard<'_, T>;
    fn write_locked(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T> RwLockExt<T> for RwLock<T> {
    fn read_locked(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(poisoned)
    }

    fn write_locked(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(poisoned)
    }
}
