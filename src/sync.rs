//! One way to take a lock, for the systems and the world alike.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex` whatever a panicking holder left behind. A panic is itself the failure (the
/// world reports it as `no_panic`, a test fails on it): poisoning adds nothing, and a second panic
/// on the poisoned lock would only bury the first.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
