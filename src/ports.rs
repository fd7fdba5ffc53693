//! The traits the systems under test talk through.
//!
//! Each port is the slice of a real API a system uses (Ethereum JSON-RPC, op-node's
//! `optimism_syncStatus`, op-geth's `miner_setMaxDASize`, the AltDA server), with what crosses it
//! exactly what the real API carries: raw signed transactions, blocks, receipts. The world binds
//! them to its simulated nodes; a real-node adapter would bind them to JSON-RPC clients.
//!
//! Ports are generic parameters, not trait objects: futures stay `Send` and calls monomorphise.

use alloy_primitives::{Address, Bytes, B256};
use op_alloy_consensus::OpBlock;
use std::{future::Future, sync::Arc, time::Duration};

pub use kona_protocol::{BlockInfo, L2BlockInfo, SyncStatus};

/// JSON-RPC's "method not found" code: the endpoint does not serve the method at all.
pub const METHOD_NOT_FOUND: i64 = -32601;

/// Why a port call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The server answered with an error object.
    #[error("{method}: server error {code}: {message}")]
    Server { method: &'static str, code: i64, message: String },
    /// No answer in time.
    #[error("{method}: timed out")]
    Timeout { method: &'static str },
    /// The request did not reach the server or the answer did not come back.
    #[error("{method}: transport error: {reason}")]
    Transport { method: &'static str, reason: String },
    /// The answer arrived but makes no sense (e.g. a block that does not decode).
    #[error("{method}: bad answer: {reason}")]
    BadAnswer { method: &'static str, reason: String },
}

impl PortError {
    /// Whether the server's message contains `needle`: geth's errors are matched by text, as
    /// op-service's txmgr does (`errStringMatch`).
    pub fn message_contains(&self, needle: &str) -> bool {
        matches!(self, Self::Server { message, .. } if message.contains(needle))
    }

    pub fn is_method_not_found(&self) -> bool {
        matches!(self, Self::Server { code: METHOD_NOT_FOUND, .. })
    }
}

pub type PortResult<T> = Result<T, PortError>;

/// A port call bounded by `timeout` (Go's `context.WithTimeout` around an RPC): past it, the call
/// is dropped and reported as a timeout of `method`.
pub async fn with_timeout<T>(
    timeout: Duration,
    method: &'static str,
    call: impl Future<Output = PortResult<T>>,
) -> PortResult<T> {
    tokio::time::timeout(timeout, call).await.unwrap_or(Err(PortError::Timeout { method }))
}

/// An L1 header as the batcher reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L1Header {
    pub number: u64,
    pub hash: B256,
    pub timestamp: u64,
    pub base_fee_per_gas: u64,
}

/// A transaction receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxReceipt {
    pub tx_hash: B256,
    pub block_hash: B256,
    pub block_number: u64,
    pub status: bool,
    pub gas_used: u64,
    pub effective_gas_price: u128,
    pub blob_gas_used: u64,
}

/// An L1 execution node.
pub trait L1: Clone + Send + Sync + 'static {
    /// The head's header (`eth_getBlockByNumber("latest")`).
    fn head_header(&self) -> impl Future<Output = PortResult<L1Header>> + Send;
    /// `eth_getTransactionCount(address, pending ? "pending" : "latest")`.
    fn nonce(&self, address: Address, pending: bool) -> impl Future<Output = PortResult<u64>> + Send;
    /// `eth_maxPriorityFeePerGas`.
    fn suggest_tip(&self) -> impl Future<Output = PortResult<u128>> + Send;
    /// `eth_blobBaseFee`.
    fn blob_base_fee(&self) -> impl Future<Output = PortResult<u128>> + Send;
    /// `eth_sendRawTransaction` (network encoding: blob transactions carry their sidecar).
    fn send_raw_transaction(&self, raw: Bytes) -> impl Future<Output = PortResult<B256>> + Send;
    /// `eth_getTransactionReceipt`: `None` while the transaction is not in a canonical block.
    fn receipt(&self, hash: B256) -> impl Future<Output = PortResult<Option<TxReceipt>>> + Send;
}

/// An L2 execution node (the sequencer's op-geth).
pub trait L2: Clone + Send + Sync + 'static {
    /// `eth_getBlockByNumber(number, true)`: `None` when no such block exists.
    fn block_by_number(&self, number: u64) -> impl Future<Output = PortResult<Option<Arc<OpBlock>>>> + Send;
    /// `miner_setMaxDASize(max_tx_size, max_block_size)`: 0 means no limit. `false` means refused.
    fn set_max_da_size(
        &self,
        max_tx_bytes: u64,
        max_block_bytes: u64,
    ) -> impl Future<Output = PortResult<bool>> + Send;
}

/// A rollup node (op-node).
pub trait RollupNode: Clone + Send + Sync + 'static {
    /// `optimism_syncStatus`.
    fn sync_status(&self) -> impl Future<Output = PortResult<SyncStatus>> + Send;
}

/// An AltDA server.
pub trait AltDa: Clone + Send + Sync + 'static {
    /// `PUT /put`: stores `data`, answers its commitment (the bytes after the 0x01 version byte
    /// of the batcher transaction: commitment type ++ commitment).
    fn put(&self, data: Bytes) -> impl Future<Output = PortResult<Bytes>> + Send;
}
