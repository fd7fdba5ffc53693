//! A cancellation token with children: Go's `context.WithCancel` as the batcher uses it
//! (shutdown and kill contexts, errgroup contexts that a parent cancels too), and as the payload
//! processor uses it (a block's tasks end with the block).

use crate::sync::lock;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::watch;

/// Cancelling a token cancels every child made from it; a child's cancellation leaves its
/// parent alone.
#[derive(Clone, Debug)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cancelled: watch::Sender<bool>,
    children: Mutex<Vec<Weak<Inner>>>,
}

impl Inner {
    fn cancel(&self) {
        if self.cancelled.send_replace(true) {
            return;
        }
        let children = std::mem::take(&mut *lock(&self.children));
        for child in children.iter().filter_map(Weak::upgrade) {
            child.cancel();
        }
    }
}

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancel {
    pub fn new() -> Self {
        Self { inner: Arc::new(Inner { cancelled: watch::Sender::new(false), children: Mutex::default() }) }
    }

    /// A token cancelled with this one (or on its own).
    pub fn child(&self) -> Self {
        let child = Self::new();
        let mut children = lock(&self.inner.children);
        if self.is_cancelled() {
            child.cancel();
        } else {
            children.retain(|c| c.strong_count() > 0);
            children.push(Arc::downgrade(&child.inner));
        }
        child
    }

    pub fn cancel(&self) {
        self.inner.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        *self.inner.cancelled.borrow()
    }

    /// Resolves once cancelled.
    pub async fn cancelled(&self) {
        let mut rx = self.inner.cancelled.subscribe();
        // The sender lives in `self`, so the wait ends only by cancellation.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }
}
