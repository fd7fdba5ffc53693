//! The state of one send across its fee bumps (op-service's `SendState`): decides when to give up.

use super::TxMgrError;
use crate::ports::PortError;
use alloy_primitives::B256;
use std::time::Duration;
use tokio::time::Instant;

/// geth's txpool error texts, matched as substrings as op-service does.
pub const NONCE_TOO_LOW: &str = "nonce too low";
pub const NONCE_TOO_HIGH: &str = "nonce too high";
pub const ALREADY_KNOWN: &str = "already known";
pub const ALREADY_RESERVED: &str = "already reserved";
/// Matches both "transaction underpriced" and "replacement transaction underpriced".
pub const UNDERPRICED: &str = "transaction underpriced";
/// The pool's refusal of a version-0 blob sidecar once Osaka is active.
pub const LEGACY_SIDECAR: &str = "eip-4844 sidecar after osaka";

#[derive(Debug)]
pub struct SendState {
    /// Published versions seen in a block (and not since reorged out). Few: a Vec.
    mined: Vec<B256>,
    safe_abort_nonce_too_low_count: u64,
    in_mempool_deadline: Instant,
    not_in_mempool_timeout: Duration,
    /// The pool refused this send's sidecar version for good (see `process_send_error`).
    sidecar_outdated: bool,
    pub successful_publish_count: u64,
    nonce_too_low_count: u64,
    already_reserved: bool,
    pub bump_fees: bool,
    pub bump_count: u64,
}

impl SendState {
    pub fn new(safe_abort_nonce_too_low_count: u64, now: Instant, not_in_mempool_timeout: Duration) -> Self {
        assert!(safe_abort_nonce_too_low_count > 0, "validated by BatcherConfig::validate");
        Self {
            mined: Vec::new(),
            safe_abort_nonce_too_low_count,
            in_mempool_deadline: now + not_in_mempool_timeout,
            not_in_mempool_timeout,
            sidecar_outdated: false,
            successful_publish_count: 0,
            nonce_too_low_count: 0,
            already_reserved: false,
            bump_fees: false,
            bump_count: 0,
        }
    }

    /// Records a publish attempt's outcome at `now`.
    ///
    /// A version-0 blob transaction still being resubmitted when Osaka activates is never
    /// converted (op-service's txmgr): the pool refuses it from then on, so its earlier publishes
    /// stop counting and the send times out as one never published does, after
    /// `not_in_mempool_timeout`. The caller then sends the frames again in a new transaction.
    pub fn process_send_error(&mut self, error: Option<&PortError>, now: Instant) {
        match error {
            None => self.successful_publish_count += 1,
            Some(e) if e.message_contains(LEGACY_SIDECAR) => {
                if !self.sidecar_outdated {
                    self.sidecar_outdated = true;
                    self.successful_publish_count = 0;
                    self.in_mempool_deadline = now + self.not_in_mempool_timeout;
                }
            }
            Some(e) if e.message_contains(ALREADY_KNOWN) => self.successful_publish_count += 1,
            Some(e) if e.message_contains(NONCE_TOO_LOW) => self.nonce_too_low_count += 1,
            Some(e) if e.message_contains(ALREADY_RESERVED) => self.already_reserved = true,
            Some(_) => {}
        }
    }

    pub fn tx_mined(&mut self, hash: B256) {
        if !self.mined.contains(&hash) {
            self.mined.push(hash);
        }
    }

    /// A version that was mined is not any more (reorged out): nonce-too-low errors seen while
    /// it was mined were caused by it, so they stop counting.
    pub fn tx_not_mined(&mut self, hash: B256) {
        let was_mined = self.mined.contains(&hash);
        self.mined.retain(|h| *h != hash);
        if was_mined && self.mined.is_empty() {
            self.nonce_too_low_count = 0;
        }
    }

    pub fn is_waiting_for_confirmation(&self) -> bool {
        !self.mined.is_empty()
    }

    pub fn critical_error(&self, now: Instant) -> Option<TxMgrError> {
        if !self.mined.is_empty() {
            return None;
        }
        if self.nonce_too_low_count >= self.safe_abort_nonce_too_low_count
            || (self.successful_publish_count == 0 && self.nonce_too_low_count > 0)
        {
            return Some(TxMgrError::NonceTooLow);
        }
        if self.successful_publish_count == 0 && now > self.in_mempool_deadline {
            return Some(TxMgrError::MempoolDeadlineExpired);
        }
        self.already_reserved.then_some(TxMgrError::AlreadyReserved)
    }
}
