//! The state of one send across its fee bumps (op-service's `SendState`): decides when to give up.

use super::TxMgrError;
use crate::ports::PortError;
use alloy_primitives::B256;
use tokio::time::Instant;

/// geth's txpool error texts, matched as substrings as op-service does.
pub const NONCE_TOO_LOW: &str = "nonce too low";
pub const NONCE_TOO_HIGH: &str = "nonce too high";
pub const ALREADY_KNOWN: &str = "already known";
pub const ALREADY_RESERVED: &str = "already reserved";
/// Matches both "transaction underpriced" and "replacement transaction underpriced".
pub const UNDERPRICED: &str = "transaction underpriced";

#[derive(Debug)]
pub struct SendState {
    /// Published versions seen in a block (and not since reorged out). Few: a Vec.
    mined: Vec<B256>,
    safe_abort_nonce_too_low_count: u64,
    in_mempool_deadline: Instant,
    pub successful_publish_count: u64,
    nonce_too_low_count: u64,
    already_reserved: bool,
    pub bump_fees: bool,
    pub bump_count: u64,
}

impl SendState {
    pub fn new(safe_abort_nonce_too_low_count: u64, in_mempool_deadline: Instant) -> Self {
        assert!(safe_abort_nonce_too_low_count > 0, "validated by BatcherConfig::validate");
        Self {
            mined: Vec::new(),
            safe_abort_nonce_too_low_count,
            in_mempool_deadline,
            successful_publish_count: 0,
            nonce_too_low_count: 0,
            already_reserved: false,
            bump_fees: false,
            bump_count: 0,
        }
    }

    pub fn process_send_error(&mut self, error: Option<&PortError>) {
        match error {
            None => self.successful_publish_count += 1,
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
