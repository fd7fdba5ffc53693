//! op-service's `txmgr.Queue`: sends in nonce order with at most `max_pending` in flight, in
//! errgroups where one failed send cancels the others of its group.
//!
//! The errgroup semantics matter for ordering: once a transaction fails, every later one of its
//! group would land with a nonce gap or out of order, so they are cancelled and their frames
//! rewound; the next send starts a new group after the old one has wound down.

use super::{TxCandidate, TxManager, TxMgrError};
use crate::sync::lock;
use crate::{
    cancel::Cancel,
    ports::{TxReceipt, L1},
};
use std::sync::{Arc, Mutex};
use tokio::{
    sync::{mpsc, Semaphore},
    task::JoinHandle,
};

/// The outcome of one queued send, tagged with the caller's id.
#[derive(Debug, Clone)]
pub struct TxResult<Id> {
    pub id: Id,
    pub result: Result<TxReceipt, TxMgrError>,
}

struct Group {
    cancel: Cancel,
    permits: Option<Arc<Semaphore>>,
    tasks: Vec<JoinHandle<()>>,
}

pub struct TxQueue<P> {
    txmgr: TxManager<P>,
    kill: Cancel,
    max_pending: usize,
    group: Mutex<Option<Group>>,
}

impl<P: L1> TxQueue<P> {
    /// `max_pending` 0 = unbounded; every send stops when `kill` is cancelled.
    pub fn new(txmgr: TxManager<P>, kill: Cancel, max_pending: usize) -> Self {
        Self { txmgr, kill, max_pending, group: Mutex::new(None) }
    }

    /// The current group, or a new one once the current group has failed and wound down.
    async fn group(&self) -> (Cancel, Option<Arc<Semaphore>>) {
        loop {
            let stale = {
                let mut guard = lock(&self.group);
                match guard.as_mut() {
                    Some(group) if !group.cancel.is_cancelled() => {
                        group.tasks.retain(|t| !t.is_finished());
                        return (group.cancel.clone(), group.permits.clone());
                    }
                    Some(_) => guard.take().map(|g| g.tasks),
                    None => None,
                }
            };
            if let Some(tasks) = stale {
                for task in tasks {
                    let _ = task.await;
                }
            }
            let mut guard = lock(&self.group);
            if guard.is_none() {
                let permits = (self.max_pending > 0).then(|| Arc::new(Semaphore::new(self.max_pending)));
                *guard = Some(Group { cancel: self.kill.child(), permits, tasks: Vec::new() });
            }
        }
    }

    /// Queues `candidate`: waits for a free slot, fixes its nonce, then sends in the background;
    /// the outcome goes to `results`.
    pub async fn send<Id: Send + 'static>(
        &self,
        id: Id,
        candidate: TxCandidate,
        results: mpsc::Sender<TxResult<Id>>,
    ) {
        let (cancel, permits) = self.group().await;
        let permit = match permits {
            Some(permits) => Some(permits.acquire_owned().await.expect("the semaphore is never closed")),
            None => None,
        };
        let prepared = self.txmgr.prepare(&candidate).await;
        let txmgr = self.txmgr.clone();
        let group_cancel = cancel.clone();
        let task = tokio::spawn(async move {
            let result = match prepared {
                Ok(tx) => txmgr.send_tx(tx, &group_cancel).await,
                Err(error) => Err(error),
            };
            if result.is_err() {
                txmgr.reset_nonce();
                group_cancel.cancel();
            }
            // The receiver is gone only when the batcher is shutting down.
            let _ = results.send(TxResult { id, result }).await;
            drop(permit);
        });
        if let Some(group) = lock(&self.group).as_mut() {
            group.tasks.push(task);
        }
    }

    /// Waits for every send in flight.
    pub async fn wait(&self) {
        let tasks = lock(&self.group).as_mut().map(|g| std::mem::take(&mut g.tasks));
        for task in tasks.into_iter().flatten() {
            let _ = task.await;
        }
    }
}
