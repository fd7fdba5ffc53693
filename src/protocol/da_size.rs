//! The Fjord data-availability size estimate, and a block's sizes as op-batcher accounts them.
//!
//! From Fjord the L1 fee charges a transaction for `max(100, intercept + coef * flzLen) / 1e6` bytes,
//! where `flzLen` is the FastLZ-compressed length of its EIP-2718 encoding. op-batcher sums these
//! estimates over the blocks it has not yet posted to decide when to throttle the sequencer, and the
//! sequencer's `miner_setMaxDASize` limits compare against the same numbers. FastLZ comes from
//! op-alloy-flz, the crate op-reth and kona use, so the estimate matches theirs exactly.

use alloy_eips::eip2718::Encodable2718;
use op_alloy_consensus::{OpBlock, OpTxEnvelope};

/// op-batcher's per-block overhead estimate for batch metadata, in bytes.
pub const BLOCK_OVERHEAD_BYTES: u64 = 70;
/// RLP list overhead op-batcher adds per transaction to a block's raw size, in bytes.
pub const TX_RLP_OVERHEAD_BYTES: u64 = 2;

/// FastLZ-compressed length of `data`.
pub fn flz_compress_len(data: &[u8]) -> u32 {
    op_alloy_flz::flz_compress_len(data)
}

/// Fjord estimated DA size of one EIP-2718-encoded transaction, in bytes (at least 100).
pub fn tx_estimated_da_size_bytes(raw_tx: &[u8]) -> u64 {
    op_alloy_flz::tx_estimated_size_fjord_bytes(raw_tx)
}

/// A block's size as op-batcher sees it (its `SizedBlock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockSizes {
    /// 70 + sum over non-deposit txs of (encoded length + 2).
    pub raw_bytes: u64,
    /// 70 + sum over non-deposit txs of the Fjord DA estimate.
    pub estimated_da_bytes: u64,
}

/// The sizes of `block`; deposits are skipped because batches do not carry them.
pub fn block_sizes(block: &OpBlock) -> BlockSizes {
    let mut sizes = BlockSizes { raw_bytes: BLOCK_OVERHEAD_BYTES, estimated_da_bytes: BLOCK_OVERHEAD_BYTES };
    let mut buf = Vec::new();
    for tx in block.body.transactions.iter().filter(|tx| !matches!(tx, OpTxEnvelope::Deposit(_))) {
        buf.clear();
        tx.encode_2718(&mut buf);
        sizes.raw_bytes += buf.len() as u64 + TX_RLP_OVERHEAD_BYTES;
        sizes.estimated_da_bytes += tx_estimated_da_size_bytes(&buf);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_has_the_fjord_floor_and_slope() {
        assert_eq!(tx_estimated_da_size_bytes(&[]), 100);
        // Incompressible data: the estimate follows (836_500 * flz - 42_585_600) / 1e6.
        let data: Vec<u8> = (0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let flz = u64::from(flz_compress_len(&data));
        assert_eq!(tx_estimated_da_size_bytes(&data), (836_500 * flz - 42_585_600) / 1_000_000);
    }

    #[test]
    fn block_sizes_skip_deposits() {
        use alloy_consensus::{Block, BlockBody, Signed, TxLegacy};
        use alloy_primitives::{Sealed, Signature, B256};
        let legacy = TxLegacy { input: vec![7u8; 3000].into(), ..Default::default() };
        let tx = OpTxEnvelope::Legacy(Signed::new_unchecked(legacy, Signature::test_signature(), B256::ZERO));
        let deposit = OpTxEnvelope::Deposit(Sealed::new_unchecked(Default::default(), B256::ZERO));
        let raw = tx.encoded_2718();
        let block: OpBlock = Block {
            header: Default::default(),
            body: BlockBody {
                transactions: vec![deposit, tx.clone(), tx],
                ommers: vec![],
                withdrawals: None,
            },
        };
        let sizes = block_sizes(&block);
        assert_eq!(sizes.raw_bytes, 70 + 2 * (raw.len() as u64 + 2));
        assert_eq!(sizes.estimated_da_bytes, 70 + 2 * tx_estimated_da_size_bytes(&raw));
    }
}
