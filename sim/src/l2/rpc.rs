//! The L2 nodes' RPC methods: the sequencer's (op-geth's) and the rollup node's (op-node's), shared
//! by the servers and their clients (the batcher, the submitter).

use super::block::L2Block;
use crate::rpc_method;
use alloy_eips::BlockNumberOrTag;
use alloy_primitives::B256;
use kona_protocol::SyncStatus;
use std::sync::Arc;

rpc_method!(
    /// An L2 block by number or tag (latest = unsafe head), with its transactions.
    L2BlockByNumber, "eth_getBlockByNumber", BlockNumberOrTag => Option<Arc<L2Block>>
);
rpc_method!(L2BlockByHash, "eth_getBlockByHash", B256 => Option<Arc<L2Block>>);
rpc_method!(
    /// `(max_tx_size, max_block_size)` in estimated DA bytes; 0 means no limit.
    SetMaxDASize, "miner_setMaxDASize", (u64, u64) => bool
);

rpc_method!(
    /// The rollup node's heads.
    SyncStatusMethod, "optimism_syncStatus", () => SyncStatus);
