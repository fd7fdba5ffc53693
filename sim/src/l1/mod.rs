//! The fake L1: an Ethereum execution + beacon node, realistic where a batcher meets problems.
//!
//! 12 s slots; a fork schedule (Prague, Osaka, BPO1, BPO2; [`forks`]); a mempool with geth's
//! nonce, replacement and reservation rules ([`pool`]); blocks filled by fee priority up to the
//! gas limit and the fork's blob maximum; EIP-1559 and EIP-4844/7918 fee markets by alloy-eips'
//! formulas; background traffic that moves fees ([`traffic`]); receipts; safe and finalized heads
//! from epoch checkpoints; blobs served by versioned hash; reorgs ([`chain`]).
//!
//! The chain is produced by a world task (the validators), while node `l1` serves RPC over it (the
//! execution client the batcher talks to): killing `l1` takes the endpoint down while L1 goes on.

pub mod chain;
pub mod forks;
pub mod pool;
pub mod traffic;
pub mod tx;
pub mod wallet;

use crate::{
    clock::sim_now,
    net::{RpcClient, RpcError, RpcServer, ServerError},
    rpc_method,
};
use alloy_eips::{eip4844::Blob, BlockNumberOrTag};
use alloy_primitives::{Address, Bytes, B256, U256};
use chain::{L1Block, L1Chain, L1Receipt};
use serde::Deserialize;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

/// What happens to the transactions of blocks a reorg removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanPolicy {
    /// They return to the mempool and are included again later (what Ethereum nodes do).
    Reinclude,
    /// They are lost: the sender must notice and resend.
    Drop,
}

/// The `[l1]` table of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct L1Config {
    pub chain_id: u64,
    /// Chain time of genesis (slot 0), which is simulated time zero.
    pub genesis_timestamp: u64,
    pub slot_s: u64,
    pub gas_limit: u64,
    pub initial_base_fee_wei: u64,
    /// Genesis excess blob gas: where the blob base fee starts (0 = 1 wei; 100,000,000 = about
    /// 0.5 gwei).
    pub genesis_excess_blob_gas: u64,
    pub epoch_slots: u64,
    /// The safe head is the justified checkpoint: the first block of the epoch this many epochs
    /// before the head's.
    pub safe_lag_epochs: u64,
    /// Likewise for the finalized head.
    pub finalized_lag_epochs: u64,
    pub orphaned_txs: OrphanPolicy,
    pub forks: forks::L1Forks,
    pub txpool: pool::TxPoolConfig,
    pub traffic: traffic::TrafficConfig,
}

impl Default for L1Config {
    fn default() -> Self {
        Self {
            chain_id: 900,
            genesis_timestamp: 1_700_000_000,
            slot_s: 12,
            gas_limit: 36_000_000,
            initial_base_fee_wei: 1_000_000_000,
            genesis_excess_blob_gas: 0,
            epoch_slots: 32,
            safe_lag_epochs: 1,
            finalized_lag_epochs: 2,
            orphaned_txs: OrphanPolicy::Reinclude,
            forks: forks::L1Forks::default(),
            txpool: pool::TxPoolConfig::default(),
            traffic: traffic::TrafficConfig::default(),
        }
    }
}

impl L1Config {
    /// Checks ranges; an error names the field (relative to `[l1]`) and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |field: &str, reason: String| Err((field.to_owned(), reason));
        if !(1..=60).contains(&self.slot_s) {
            return err("slot_s", format!("must be in 1..=60, got {}", self.slot_s));
        }
        if !(1_000_000..=1_000_000_000).contains(&self.gas_limit) {
            return err("gas_limit", format!("must be in 1000000..=1000000000, got {}", self.gas_limit));
        }
        if !(1..=1_000_000_000_000_000).contains(&self.initial_base_fee_wei) {
            return err(
                "initial_base_fee_wei",
                format!("must be in 1..=1e18, got {}", self.initial_base_fee_wei),
            );
        }
        if !(1..=1024).contains(&self.epoch_slots) {
            return err("epoch_slots", format!("must be in 1..=1024, got {}", self.epoch_slots));
        }
        if self.finalized_lag_epochs < self.safe_lag_epochs || self.finalized_lag_epochs > 64 {
            return err(
                "finalized_lag_epochs",
                format!(
                    "must be at least safe_lag_epochs ({}) and at most 64, got {}",
                    self.safe_lag_epochs, self.finalized_lag_epochs
                ),
            );
        }
        if self.txpool.price_bump_percent == 0 || self.txpool.blob_price_bump_percent == 0 {
            return err("txpool", "price bumps must be at least 1 percent".to_owned());
        }
        self.forks.validate().map_err(|(field, reason)| (format!("forks.{field}"), reason))?;
        self.traffic.validate().map_err(|(field, reason)| (format!("traffic.{field}"), reason))
    }

    /// The fork whose rules a block with `timestamp` follows.
    pub fn fork_at(&self, timestamp: u64) -> forks::L1Fork {
        self.forks.fork_at(Duration::from_secs(timestamp.saturating_sub(self.genesis_timestamp)))
    }

    /// The chain timestamp at which `fork` activates; `None` if it never does.
    pub fn activation_timestamp(&self, fork: forks::L1Fork) -> Option<u64> {
        self.forks.activation(fork).map(|at| self.genesis_timestamp + at.as_secs())
    }
}

/// The chain as shared by the producing task, the RPC node and the world.
pub type SharedChain = Arc<Mutex<L1Chain>>;

/// Locks the chain. A panic while holding it aborts the whole simulation, so poisoning is moot.
pub fn lock(chain: &SharedChain) -> MutexGuard<'_, L1Chain> {
    rollsim::sync::lock(chain)
}

rpc_method!(ChainId, "eth_chainId", () => u64);
rpc_method!(BlockNumber, "eth_blockNumber", () => u64);
rpc_method!(
    /// Blocks travel whole (header, transactions, receipts) behind an `Arc`: one method serves both
    /// header-only and full-transaction reads.
    GetBlockByNumber, "eth_getBlockByNumber", BlockNumberOrTag => Option<Arc<L1Block>>
);
rpc_method!(GetBlockByHash, "eth_getBlockByHash", B256 => Option<Arc<L1Block>>);
rpc_method!(GetTransactionReceipt, "eth_getTransactionReceipt", B256 => Option<L1Receipt>);
rpc_method!(GetTransactionCount, "eth_getTransactionCount", (Address, BlockNumberOrTag) => u64);
rpc_method!(GetBalance, "eth_getBalance", Address => U256);
rpc_method!(MaxPriorityFeePerGas, "eth_maxPriorityFeePerGas", () => u128);
rpc_method!(BlobBaseFee, "eth_blobBaseFee", () => u128);
rpc_method!(SendRawTransaction, "eth_sendRawTransaction", Bytes => B256);
rpc_method!(
    /// Beacon API `GET /eth/v1/beacon/blobs/{block_root}?versioned_hashes=...`: all of the block's
    /// blobs when the list is empty.
    GetBlobs, "beacon_getBlobs", (B256, Vec<B256>) => Vec<(B256, Box<Blob>)>
);

/// The RPC methods node `l1` serves.
pub fn rpc_server(chain: SharedChain) -> RpcServer {
    let mut server = RpcServer::new();
    macro_rules! serve {
        ($method:ty, |$chain:ident, $params:pat_param| $body:expr) => {{
            let shared = chain.clone();
            server.register::<$method>(move |$params| {
                #[allow(unused_mut)]
                let mut $chain = lock(&shared);
                $body
            });
        }};
    }
    serve!(ChainId, |c, ()| Ok(c.config().chain_id));
    serve!(BlockNumber, |c, ()| Ok(c.head().number()));
    serve!(GetBlockByNumber, |c, tag| Ok(c.block_by_tag(tag).cloned()));
    serve!(GetBlockByHash, |c, hash| Ok(c.block_by_hash(&hash).cloned()));
    serve!(GetTransactionReceipt, |c, hash| Ok(c.receipt(&hash).cloned()));
    serve!(GetTransactionCount, |c, (address, tag)| match tag {
        BlockNumberOrTag::Latest => Ok(c.nonce(&address, false)),
        BlockNumberOrTag::Pending => Ok(c.nonce(&address, true)),
        other => Err(ServerError::new(format!("historical state is not available for block {other}"))),
    });
    serve!(GetBalance, |c, address| Ok(c.account(&address).balance));
    serve!(MaxPriorityFeePerGas, |c, ()| Ok(c.suggest_tip()));
    serve!(BlobBaseFee, |c, ()| Ok(c.next_blob_fee()));
    serve!(SendRawTransaction, |c, raw| c.submit_raw(&raw).map_err(ServerError::new));
    serve!(GetBlobs, |c, (block, hashes)| c
        .blobs(&block, &hashes)
        .ok_or_else(|| ServerError { code: 404, message: format!("block {block} not found") }));
    server
}

/// Produces a block at the start of every slot after the head's, forever. Runs as a world task.
pub async fn produce_blocks(chain: SharedChain) {
    let (slot_s, mut slot) = {
        let c = lock(&chain);
        (c.config().slot_s, c.head().slot + 1)
    };
    loop {
        let at = Duration::from_secs(slot * slot_s);
        tokio::time::sleep(at.saturating_sub(sim_now())).await;
        lock(&chain).produce_block(slot);
        slot += 1;
    }
}

/// Typed client for node `l1`.
#[derive(Clone, Debug)]
pub struct L1Client {
    rpc: RpcClient,
}

impl L1Client {
    pub fn new(rpc: RpcClient) -> Self {
        Self { rpc }
    }

    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        self.rpc.call::<ChainId>(()).await
    }

    pub async fn block_number(&self) -> Result<u64, RpcError> {
        self.rpc.call::<BlockNumber>(()).await
    }

    pub async fn block_by_number(&self, tag: BlockNumberOrTag) -> Result<Option<Arc<L1Block>>, RpcError> {
        self.rpc.call::<GetBlockByNumber>(tag).await
    }

    pub async fn block_by_hash(&self, hash: B256) -> Result<Option<Arc<L1Block>>, RpcError> {
        self.rpc.call::<GetBlockByHash>(hash).await
    }

    pub async fn receipt(&self, hash: B256) -> Result<Option<L1Receipt>, RpcError> {
        self.rpc.call::<GetTransactionReceipt>(hash).await
    }

    pub async fn nonce(&self, address: Address, tag: BlockNumberOrTag) -> Result<u64, RpcError> {
        self.rpc.call::<GetTransactionCount>((address, tag)).await
    }

    pub async fn balance(&self, address: Address) -> Result<U256, RpcError> {
        self.rpc.call::<GetBalance>(address).await
    }

    pub async fn max_priority_fee(&self) -> Result<u128, RpcError> {
        self.rpc.call::<MaxPriorityFeePerGas>(()).await
    }

    pub async fn blob_base_fee(&self) -> Result<u128, RpcError> {
        self.rpc.call::<BlobBaseFee>(()).await
    }

    pub async fn send_raw_transaction(&self, raw: Bytes) -> Result<B256, RpcError> {
        self.rpc.call::<SendRawTransaction>(raw).await
    }

    pub async fn blobs(&self, block: B256, hashes: Vec<B256>) -> Result<Vec<(B256, Box<Blob>)>, RpcError> {
        self.rpc.call::<GetBlobs>((block, hashes)).await
    }
}

/// Serves node `l1`'s RPC at `addr` (the node's init task).
pub async fn serve(chain: SharedChain, addr: SocketAddr) {
    if let Err(error) = rpc_server(chain).serve(addr).await {
        tracing::error!(target: "rollsim_sim::l1", %error, "l1 rpc server stopped");
    }
}

#[cfg(test)]
mod tests;
