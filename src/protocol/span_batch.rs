//! Span batches (type 1): a run of consecutive L2 blocks in one batch.
//!
//! `prefix = rel_timestamp uvarint ++ l1_origin_num uvarint (of the last block) ++ parent_check (first
//! 20 bytes of the first block's parent hash) ++ l1_origin_check (first 20 bytes of the last block's
//! origin hash)`; `payload = block_count uvarint ++ origin_bits ++ block_tx_counts uvarints ++ txs`.
//! Timestamps are implied by the block time and origins by the origin bits (bit i set: block i
//! starts a new epoch), which is what makes span batches smaller than singular ones.

use super::{
    batch::SingularBatch,
    span_txs::{read_bits, read_uvarint, take, write_bits, write_uvarint, SpanTxs},
};
use alloy_primitives::Bytes;
use thiserror::Error;

/// Upper bound on blocks, and on transactions in total, in one span batch.
pub const MAX_SPAN_BATCH_ELEMENT_COUNT: u64 = 10_000_000;

/// Why a span batch cannot be built or decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpanBatchError {
    #[error("span batch truncated in {0}")]
    Truncated(&'static str),
    #[error("bad uvarint in {0}")]
    BadUvarint(&'static str),
    #[error("bit list {0} has bits beyond its length")]
    BitlistTooLong(&'static str),
    #[error("span batch has no blocks")]
    Empty,
    #[error("more than {MAX_SPAN_BATCH_ELEMENT_COUNT} blocks or transactions")]
    TooManyElements,
    #[error("transaction type {0:#04x} cannot be in a span batch")]
    UnsupportedTxType(u8),
    #[error("transaction does not decode")]
    UndecodableTx,
    #[error("malformed transaction data")]
    BadTxData,
    #[error("protected transaction has chain id {got}, expected {expected}")]
    WrongChainId { expected: u64, got: u64 },
    #[error("origin bits imply an L1 origin below zero")]
    OriginUnderflow,
    #[error("block timestamp {timestamp} before genesis {genesis}")]
    BeforeGenesis { timestamp: u64, genesis: u64 },
    #[error("blocks are not in timestamp order")]
    Unordered,
}

/// The span batch prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpanBatchPrefix {
    pub rel_timestamp: u64,
    pub l1_origin_num: u64,
    pub parent_check: [u8; 20],
    pub l1_origin_check: [u8; 20],
}

/// A span batch as encoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawSpanBatch {
    pub prefix: SpanBatchPrefix,
    pub origin_bits: Vec<bool>,
    pub block_tx_counts: Vec<u64>,
    pub txs: SpanTxs,
}

/// One block of a decoded span batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanBatchElement {
    pub epoch_num: u64,
    pub timestamp: u64,
    pub transactions: Vec<Bytes>,
}

impl RawSpanBatch {
    /// Number of blocks.
    pub fn block_count(&self) -> usize {
        self.block_tx_counts.len()
    }

    /// Appends `prefix ++ payload` (no batch type byte).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let p = &self.prefix;
        write_uvarint(p.rel_timestamp, out);
        write_uvarint(p.l1_origin_num, out);
        out.extend_from_slice(&p.parent_check);
        out.extend_from_slice(&p.l1_origin_check);
        write_uvarint(self.block_tx_counts.len() as u64, out);
        write_bits(&self.origin_bits, out);
        for &count in &self.block_tx_counts {
            write_uvarint(count, out);
        }
        self.txs.encode(out);
    }

    /// Decodes `prefix ++ payload`; bytes after the payload are ignored, as the derivation does.
    pub fn decode(mut r: &[u8]) -> Result<Self, SpanBatchError> {
        let r = &mut r;
        let rel_timestamp = read_uvarint(r, "rel_timestamp")?;
        let l1_origin_num = read_uvarint(r, "l1_origin_num")?;
        let mut prefix = SpanBatchPrefix { rel_timestamp, l1_origin_num, ..Default::default() };
        prefix.parent_check.copy_from_slice(take(r, 20, "parent_check")?);
        prefix.l1_origin_check.copy_from_slice(take(r, 20, "l1_origin_check")?);
        let block_count = read_uvarint(r, "block_count")?;
        if block_count == 0 {
            return Err(SpanBatchError::Empty);
        }
        if block_count > MAX_SPAN_BATCH_ELEMENT_COUNT {
            return Err(SpanBatchError::TooManyElements);
        }
        let origin_bits = read_bits(r, block_count as usize, "origin_bits")?;
        let mut block_tx_counts = Vec::new();
        let mut total = 0u64;
        for _ in 0..block_count {
            let count = read_uvarint(r, "block_tx_counts")?;
            total = total.saturating_add(count);
            if total > MAX_SPAN_BATCH_ELEMENT_COUNT {
                return Err(SpanBatchError::TooManyElements);
            }
            block_tx_counts.push(count);
        }
        let txs = SpanTxs::decode(r, total as usize)?;
        Ok(Self { prefix, origin_bits, block_tx_counts, txs })
    }

    /// The blocks, given the chain's block time, genesis timestamp and chain id.
    pub fn derive(
        &self,
        block_time: u64,
        genesis_timestamp: u64,
        chain_id: u64,
    ) -> Result<Vec<SpanBatchElement>, SpanBatchError> {
        let mut txs = self.txs.full_txs(chain_id)?.into_iter();
        let mut epochs = vec![0u64; self.block_count()];
        let mut epoch = self.prefix.l1_origin_num;
        for i in (0..self.block_count()).rev() {
            epochs[i] = epoch;
            let new_epoch = self.origin_bits.get(i).ok_or(SpanBatchError::Truncated("origin_bits"))?;
            if i > 0 && *new_epoch {
                epoch = epoch.checked_sub(1).ok_or(SpanBatchError::OriginUnderflow)?;
            }
        }
        let start = genesis_timestamp.saturating_add(self.prefix.rel_timestamp);
        Ok(self
            .block_tx_counts
            .iter()
            .zip(epochs)
            .enumerate()
            .map(|(i, (&count, epoch_num))| SpanBatchElement {
                epoch_num,
                timestamp: start.saturating_add(block_time.saturating_mul(i as u64)),
                transactions: txs.by_ref().take(count as usize).collect(),
            })
            .collect())
    }
}

/// Accumulates singular batches into a span batch, as op-node's `SpanBatch.AppendSingularBatch`.
#[derive(Debug, Clone)]
pub struct SpanBatchBuilder {
    genesis_timestamp: u64,
    chain_id: u64,
    raw: RawSpanBatch,
    last: Option<(u64, u64)>,
}

impl SpanBatchBuilder {
    pub fn new(genesis_timestamp: u64, chain_id: u64) -> Self {
        Self { genesis_timestamp, chain_id, raw: RawSpanBatch::default(), last: None }
    }

    /// Blocks added so far.
    pub fn block_count(&self) -> usize {
        self.raw.block_count()
    }

    /// The batch as built so far.
    pub fn raw(&self) -> &RawSpanBatch {
        &self.raw
    }

    /// Adds a block; `seq_num` 0 marks the first block of an epoch. Unchanged on error.
    pub fn append(&mut self, batch: &SingularBatch, seq_num: u64) -> Result<(), SpanBatchError> {
        let new_epoch = match self.last {
            None => seq_num == 0,
            Some((_, ts)) if ts > batch.timestamp => return Err(SpanBatchError::Unordered),
            Some((epoch, _)) => epoch < batch.epoch_num,
        };
        let rel_timestamp =
            batch.timestamp.checked_sub(self.genesis_timestamp).ok_or(SpanBatchError::BeforeGenesis {
                timestamp: batch.timestamp,
                genesis: self.genesis_timestamp,
            })?;
        let mark = self.raw.txs.mark();
        for tx in &batch.transactions {
            if let Err(e) = self.raw.txs.add_tx(tx, self.chain_id) {
                self.raw.txs.truncate(mark);
                return Err(e);
            }
        }
        if self.last.is_none() {
            self.raw.prefix.rel_timestamp = rel_timestamp;
            self.raw.prefix.parent_check.copy_from_slice(&batch.parent_hash[..20]);
        }
        self.raw.prefix.l1_origin_num = batch.epoch_num;
        self.raw.prefix.l1_origin_check.copy_from_slice(&batch.epoch_hash[..20]);
        self.raw.origin_bits.push(new_epoch);
        self.raw.block_tx_counts.push(batch.transactions.len() as u64);
        self.last = Some((batch.epoch_num, batch.timestamp));
        Ok(())
    }
}
