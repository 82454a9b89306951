//! Whether a process's consumer loop is running, for its readiness: set while the loop's
//! future is being polled, cleared when it returns, fails or is dropped.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared flag of one consumer loop.
#[derive(Debug, Clone, Default)]
pub struct ConsumerRunning(Arc<AtomicBool>);

impl ConsumerRunning {
    /// Whether the loop runs now.
    pub fn is_running(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Runs `work` with the flag set.
    pub async fn during<T>(&self, work: impl Future<Output = T>) -> T {
        let _set = Set::new(self.0.clone());
        work.await
    }
}

/// Sets the flag while it lives.
struct Set(Arc<AtomicBool>);

impl Set {
    fn new(flag: Arc<AtomicBool>) -> Self {
        flag.store(true, Ordering::Release);
        Self(flag)
    }
}

impl Drop for Set {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
