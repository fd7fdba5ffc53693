//! The transaction manager (op-service's `txmgr`): crafts, signs and publishes a transaction,
//! bumps its fees until it is mined, and waits for its confirmations.
//!
//! Differences from upstream, each because the fake L1 makes it moot:
//! - no gas estimation: the caller's gas limit (the EIP-7623 floor for batcher data) is final;
//! - rebroadcast happens on every receipt poll while nothing is mined (upstream: a 12 s ticker,
//!   the same as its receipt poll interval);
//! - one receipt poll covers every published version of the transaction (upstream runs one
//!   goroutine per version).

mod fees;
mod queue;
mod send_state;

pub use fees::{calc_threshold_value, update_fees, GasPriceCaps};
pub use queue::{TxQueue, TxResult};

use super::config::TxMgrConfig;
use crate::cancel::Cancel;
use crate::sync::lock;
use crate::{
    ports::{with_timeout, PortError, TxReceipt, L1},
    signer::{encode_network, LocalSigner},
};
use alloy_consensus::{TxEip1559, TxEip4844, TxEnvelope};
use alloy_eips::{eip4844::Blob, eip7594::BlobTransactionSidecarVariant};
use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use send_state::SendState;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::{interval_at, sleep_until};

/// What the batcher asks to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxCandidate {
    pub tx_data: Bytes,
    /// Non-empty => a blob transaction (its calldata is then ignored by derivation).
    pub blobs: Vec<Blob>,
    pub to: Address,
    pub gas_limit: u64,
}

/// Why a send gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxMgrError {
    #[error("failed to get gas price estimates: {0}")]
    FeeEstimate(PortError),
    #[error("failed to read the nonce: {0}")]
    Nonce(PortError),
    #[error("aborted tx send due to critical error: nonce too low")]
    NonceTooLow,
    #[error("aborted tx send due to critical error: failed to get tx into the mempool")]
    MempoolDeadlineExpired,
    #[error("aborted tx send due to critical error: address already reserved")]
    AlreadyReserved,
    #[error("giving up after {retries} failed publish attempts: {last}")]
    RetriesExhausted { retries: u64, last: PortError },
    #[error("bumped fee over the limit: {0}")]
    FeeLimit(String),
    #[error("context canceled")]
    Cancelled,
}

impl TxMgrError {
    /// The txpool holds a transaction of the other type (blob vs non-blob) from this sender.
    pub fn is_already_reserved(&self) -> bool {
        matches!(self, Self::AlreadyReserved)
    }
}

/// The fees a transaction offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxFees {
    pub tip: u128,
    pub fee_cap: u128,
    /// A blob transaction's.
    pub blob_fee_cap: Option<u128>,
}

/// One fee bump: a published transaction replaced by the same one at higher fees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeBump {
    pub nonce: u64,
    pub old: TxFees,
    pub new: TxFees,
}

/// A signed transaction and the fields needed to replace it.
#[derive(Debug, Clone)]
pub(crate) struct SignedTx {
    pub hash: B256,
    pub raw: Bytes,
    pub nonce: u64,
    pub tip: u128,
    pub fee_cap: u128,
    pub blob_fee_cap: Option<u128>,
    body: TxBody,
}

impl SignedTx {
    fn fees(&self) -> TxFees {
        TxFees { tip: self.tip, fee_cap: self.fee_cap, blob_fee_cap: self.blob_fee_cap }
    }
}

#[derive(Debug, Clone)]
enum TxBody {
    Dynamic(TxEip1559),
    Blob(TxEip4844, Arc<BlobTransactionSidecarVariant>),
}

struct Shared<P> {
    l1: P,
    signer: LocalSigner,
    chain_id: u64,
    config: TxMgrConfig,
    nonce: Mutex<Option<u64>>,
    /// Fee bumps not yet taken by [`TxManager::take_fee_bumps`].
    fee_bumps: Mutex<Vec<FeeBump>>,
}

/// Sends transactions for one key. Clones share the nonce.
pub struct TxManager<P> {
    shared: Arc<Shared<P>>,
}

impl<P> Clone for TxManager<P> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<P: L1> TxManager<P> {
    pub fn new(l1: P, signer: LocalSigner, chain_id: u64, config: TxMgrConfig) -> Self {
        let shared =
            Shared { l1, signer, chain_id, config, nonce: Mutex::new(None), fee_bumps: Mutex::default() };
        Self { shared: Arc::new(shared) }
    }

    /// The fee bumps made since the last call: what an oracle checks against the pool's
    /// replacement rule.
    pub fn take_fee_bumps(&self) -> Vec<FeeBump> {
        std::mem::take(&mut *lock(&self.shared.fee_bumps))
    }

    pub fn from(&self) -> Address {
        self.shared.signer.address()
    }

    pub fn config(&self) -> &TxMgrConfig {
        &self.shared.config
    }

    fn timeout(&self) -> Duration {
        self.shared.config.network_timeout
    }

    /// Forgets the nonce: the next transaction re-reads it from L1 (after any failed send).
    pub fn reset_nonce(&self) {
        *lock(&self.shared.nonce) = None;
    }

    /// The tip, base fee, blob tip and blob base fee to price a transaction at, with the minimum
    /// tip and base fee applied.
    pub async fn suggest_gas_price_caps(&self) -> Result<GasPriceCaps, TxMgrError> {
        let l1 = &self.shared.l1;
        let t = self.timeout();
        let tip = with_timeout(t, "eth_maxPriorityFeePerGas", l1.suggest_tip()).await;
        let head = with_timeout(t, "eth_getBlockByNumber", l1.head_header()).await;
        let blob_base_fee = with_timeout(t, "eth_blobBaseFee", l1.blob_base_fee()).await;
        let (tip, head, blob_base_fee) = (
            tip.map_err(TxMgrError::FeeEstimate)?,
            head.map_err(TxMgrError::FeeEstimate)?,
            blob_base_fee.map_err(TxMgrError::FeeEstimate)?,
        );
        let c = &self.shared.config;
        let tip = tip.max(c.min_tip_wei);
        let base_fee = u128::from(head.base_fee_per_gas).max(c.min_base_fee_wei);
        Ok(GasPriceCaps { tip, base_fee, blob_tip: tip, blob_base_fee, l1_timestamp: head.timestamp })
    }

    /// Whether blob transactions built at L1 time `l1_timestamp` carry cell proofs (EIP-7594):
    /// from the configured cell-proof time on (op-service's `--txmgr.cell-proof-time`).
    pub fn cell_proofs_at(&self, l1_timestamp: u64) -> bool {
        self.shared.config.cell_proof_time.is_some_and(|at| l1_timestamp >= at)
    }

    /// The blob fee cap for a blob base fee: twice it, at least the minimum blob fee.
    pub fn calc_blob_fee_cap(&self, blob_base_fee: u128) -> u128 {
        blob_base_fee.saturating_mul(2).max(self.shared.config.min_blob_fee_wei)
    }

    async fn next_nonce(&self) -> Result<u64, TxMgrError> {
        {
            let mut guard = lock(&self.shared.nonce);
            if let Some(nonce) = *guard {
                *guard = Some(nonce + 1);
                return Ok(nonce);
            }
        }
        let from = self.from();
        let nonce =
            with_timeout(self.timeout(), "eth_getTransactionCount", self.shared.l1.nonce(from, false))
                .await
                .map_err(TxMgrError::Nonce)?;
        let mut guard = lock(&self.shared.nonce);
        // Another send may have read the nonce meanwhile: take the next one after it.
        let nonce = guard.unwrap_or(nonce);
        *guard = Some(nonce + 1);
        Ok(nonce)
    }

    /// Prices, signs and assigns the next nonce (op-service's `prepare` + `craftTx`): when this
    /// returns, the nonce order of queued sends is fixed.
    pub(crate) async fn prepare(&self, candidate: &TxCandidate) -> Result<SignedTx, TxMgrError> {
        let caps = self.suggest_gas_price_caps().await?;
        let nonce = self.next_nonce().await?;
        let c = self.shared.chain_id;
        let fee_cap = fees::calc_gas_fee_cap(caps.base_fee, caps.tip);
        let body = if candidate.blobs.is_empty() {
            TxBody::Dynamic(TxEip1559 {
                chain_id: c,
                nonce,
                gas_limit: candidate.gas_limit,
                max_fee_per_gas: fee_cap,
                max_priority_fee_per_gas: caps.tip,
                to: TxKind::Call(candidate.to),
                value: U256::ZERO,
                access_list: Default::default(),
                input: candidate.tx_data.clone(),
            })
        } else {
            let sidecar =
                crate::kzg::sidecar_variant(candidate.blobs.clone(), self.cell_proofs_at(caps.l1_timestamp));
            TxBody::Blob(
                TxEip4844 {
                    chain_id: c,
                    nonce,
                    gas_limit: candidate.gas_limit,
                    max_fee_per_gas: fees::calc_gas_fee_cap(caps.base_fee, caps.blob_tip),
                    max_priority_fee_per_gas: caps.blob_tip,
                    to: candidate.to,
                    value: U256::ZERO,
                    access_list: Default::default(),
                    blob_versioned_hashes: sidecar.versioned_hashes().collect(),
                    max_fee_per_blob_gas: self.calc_blob_fee_cap(caps.blob_base_fee),
                    input: Bytes::new(),
                },
                Arc::new(sidecar),
            )
        };
        Ok(self.sign(body))
    }

    fn sign(&self, body: TxBody) -> SignedTx {
        let signer = &self.shared.signer;
        match body {
            TxBody::Dynamic(tx) => {
                let (nonce, tip, fee_cap) = (tx.nonce, tx.max_priority_fee_per_gas, tx.max_fee_per_gas);
                let envelope: TxEnvelope = signer.sign(tx.clone()).into();
                SignedTx {
                    hash: *envelope.tx_hash(),
                    raw: encode_network(&envelope, None).into(),
                    nonce,
                    tip,
                    fee_cap,
                    blob_fee_cap: None,
                    body: TxBody::Dynamic(tx),
                }
            }
            TxBody::Blob(tx, sidecar) => {
                let (nonce, tip, fee_cap, blob_fee) =
                    (tx.nonce, tx.max_priority_fee_per_gas, tx.max_fee_per_gas, tx.max_fee_per_blob_gas);
                let signature = signer.sign(tx.clone());
                let envelope: TxEnvelope = signature.into();
                SignedTx {
                    hash: *envelope.tx_hash(),
                    raw: encode_network(&envelope, Some(&sidecar)).into(),
                    nonce,
                    tip,
                    fee_cap,
                    blob_fee_cap: Some(blob_fee),
                    body: TxBody::Blob(tx, sidecar),
                }
            }
        }
    }

    /// A replacement of `tx` with fees that satisfy the pool's replacement rule (10%, blobs
    /// 100%) and today's suggestions, refused above the fee limit multiplier.
    pub(crate) async fn increase_gas_price(&self, tx: &SignedTx) -> Result<SignedTx, TxMgrError> {
        let caps = self.suggest_gas_price_caps().await?;
        let is_blob = tx.blob_fee_cap.is_some();
        let tip = if is_blob { caps.blob_tip } else { caps.tip };
        // Before upstream 7513 a blob transaction was bumped by the 10% of any other.
        #[cfg(feature = "planted-bugs")]
        let is_blob = is_blob && !crate::planted::active("blob-bump-ten-percent");
        let (bumped_tip, bumped_fee) = update_fees(tx.tip, tx.fee_cap, tip, caps.base_fee, is_blob);
        let c = &self.shared.config;
        fees::check_limits(c, tip, caps.base_fee, bumped_tip, bumped_fee).map_err(TxMgrError::FeeLimit)?;
        let body = match &tx.body {
            TxBody::Dynamic(old) => TxBody::Dynamic(TxEip1559 {
                max_priority_fee_per_gas: bumped_tip,
                max_fee_per_gas: bumped_fee,
                ..old.clone()
            }),
            TxBody::Blob(old, sidecar) => {
                let bumped_blob_fee =
                    calc_threshold_value(old.max_fee_per_blob_gas, is_blob).max(caps.blob_base_fee);
                let max_blob_fee = self
                    .calc_blob_fee_cap(caps.blob_base_fee)
                    .saturating_mul(u128::from(c.fee_limit_multiplier));
                if bumped_blob_fee >= c.fee_limit_threshold_wei && bumped_blob_fee > max_blob_fee {
                    return Err(TxMgrError::FeeLimit(format!(
                        "bumped blob fee {bumped_blob_fee} is over {}x multiple of the suggested value",
                        c.fee_limit_multiplier
                    )));
                }
                TxBody::Blob(
                    TxEip4844 {
                        max_priority_fee_per_gas: bumped_tip,
                        max_fee_per_gas: bumped_fee,
                        max_fee_per_blob_gas: bumped_blob_fee,
                        ..old.clone()
                    },
                    sidecar.clone(),
                )
            }
        };
        Ok(self.sign(body))
    }

    /// Sends `candidate` and waits for its confirmations (op-service's `Send`).
    pub async fn send(&self, candidate: &TxCandidate, cancel: &Cancel) -> Result<TxReceipt, TxMgrError> {
        let result = match self.prepare(candidate).await {
            Ok(tx) => self.send_tx(tx, cancel).await,
            Err(error) => Err(error),
        };
        if result.is_err() {
            self.reset_nonce();
        }
        result
    }

    /// Publishes `tx`, bumping fees every resubmission timeout, until it has its confirmations,
    /// a critical error, or `cancel`.
    pub(crate) async fn send_tx(&self, mut tx: SignedTx, cancel: &Cancel) -> Result<TxReceipt, TxMgrError> {
        let c = self.shared.config;
        let now = crate::batcher::now();
        let mut state = SendState::new(c.safe_abort_nonce_too_low_count, now, c.not_in_mempool_timeout);
        let mut retry_count = 0;
        let mut published: Vec<B256> = Vec::new();
        let mut bump_ticker = interval_at(now + c.resubmission_timeout, c.resubmission_timeout);
        let mut receipt_ticker = interval_at(now + c.receipt_query_interval, c.receipt_query_interval);
        loop {
            let mut retry_at = None;
            if !state.is_waiting_for_confirmation() {
                let (next, outcome) = self.publish_tx(tx, &mut state).await;
                tx = next;
                match outcome {
                    Publish::Published => {
                        retry_count = 0;
                        if !published.contains(&tx.hash) {
                            tracing::info!(
                                target: "rollsim::batcher::txmgr", hash = %tx.hash, nonce = tx.nonce,
                                blob = tx.blob_fee_cap.is_some(), "tx published"
                            );
                            published.push(tx.hash);
                        }
                    }
                    Publish::Retry(error) => {
                        if retry_count >= c.max_retries {
                            return Err(TxMgrError::RetriesExhausted { retries: retry_count, last: error });
                        }
                        retry_count += 1;
                        retry_at =
                            Some(crate::batcher::now() + c.retry_interval.max(Duration::from_millis(1)));
                    }
                    Publish::NotSent => {}
                }
            }
            if let Some(error) = state.critical_error(crate::batcher::now()) {
                return Err(error);
            }
            if cancel.is_cancelled() {
                return Err(TxMgrError::Cancelled);
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(TxMgrError::Cancelled),
                _ = sleep_until(retry_at.unwrap_or(now)), if retry_at.is_some() => {}
                _ = bump_ticker.tick() => state.bump_fees = true,
                _ = receipt_ticker.tick() => {
                    for &hash in &published {
                        if let Some(receipt) = self.query_receipt(hash, &mut state).await {
                            tracing::info!(
                                target: "rollsim::batcher::txmgr", %hash, nonce = tx.nonce,
                                block = receipt.block_number, bumps = state.bump_count, "tx confirmed"
                            );
                            return Ok(receipt);
                        }
                    }
                }
            }
        }
    }

    async fn publish_tx(&self, mut tx: SignedTx, state: &mut SendState) -> (SignedTx, Publish) {
        loop {
            if state.bump_fees {
                match self.increase_gas_price(&tx).await {
                    Err(error) => {
                        tracing::warn!(target: "rollsim::batcher::txmgr", hash = %tx.hash, %error, "unable to bump fees, republishing");
                    }
                    Ok(_) if state.is_waiting_for_confirmation() => return (tx, Publish::NotSent),
                    Ok(bumped) => {
                        state.bump_count += 1;
                        state.bump_fees = false;
                        let bump = FeeBump { nonce: bumped.nonce, old: tx.fees(), new: bumped.fees() };
                        lock(&self.shared.fee_bumps).push(bump);
                        tracing::info!(
                            target: "rollsim::batcher::txmgr", old = %tx.hash, new = %bumped.hash,
                            nonce = bumped.nonce, tip = bumped.tip, fee_cap = bumped.fee_cap,
                            blob_fee_cap = ?bumped.blob_fee_cap, "tx fees bumped"
                        );
                        tx = bumped;
                    }
                }
            }
            let result = with_timeout(
                self.timeout(),
                "eth_sendRawTransaction",
                self.shared.l1.send_raw_transaction(tx.raw.clone()),
            )
            .await;
            state.process_send_error(result.as_ref().err(), crate::batcher::now());
            let Err(error) = result else {
                return (tx, Publish::Published);
            };
            if state.successful_publish_count > 0
                && (error.message_contains(send_state::NONCE_TOO_LOW)
                    || error.message_contains(send_state::ALREADY_KNOWN))
            {
                return (tx, Publish::Published);
            }
            tracing::info!(target: "rollsim::batcher::txmgr", hash = %tx.hash, nonce = tx.nonce, %error, "tx publish failed");
            if error.message_contains(send_state::ALREADY_KNOWN) {
                return (tx, Publish::Published);
            }
            if error.message_contains(send_state::UNDERPRICED) && !state.bump_fees {
                state.bump_fees = true;
                continue;
            }
            if error.message_contains(send_state::NONCE_TOO_HIGH) {
                return (tx, Publish::Retry(error));
            }
            return (tx, Publish::NotSent);
        }
    }

    /// The receipt once `hash` has its confirmations; `None` before.
    async fn query_receipt(&self, hash: B256, state: &mut SendState) -> Option<TxReceipt> {
        let l1 = &self.shared.l1;
        let receipt = match with_timeout(self.timeout(), "eth_getTransactionReceipt", l1.receipt(hash)).await
        {
            Ok(Some(receipt)) => receipt,
            Ok(None) => {
                state.tx_not_mined(hash);
                return None;
            }
            Err(_) => return None,
        };
        state.tx_mined(hash);
        let tip = with_timeout(self.timeout(), "eth_getBlockByNumber", l1.head_header()).await.ok()?;
        let depth = self.shared.config.num_confirmations;
        #[cfg(feature = "planted-bugs")]
        let depth = if crate::planted::active("confirm-at-inclusion") { 1 } else { depth };
        (receipt.block_number + depth <= tip.number + 1).then_some(receipt)
    }
}

enum Publish {
    Published,
    /// Not sent; retry after the retry interval, counting towards max retries.
    Retry(PortError),
    /// Not sent; try again on the next wake-up.
    NotSent,
}
