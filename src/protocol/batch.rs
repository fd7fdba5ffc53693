//! Batches: the L2 blocks a channel carries, minus their deposits.
//!
//! A channel's decompressed stream is a sequence of RLP byte strings, each `batch_type ++ payload`.
//! A singular batch (type 0) is one block: `RLP([parent_hash, epoch_number, epoch_hash, timestamp,
//! [tx, ...]])`. Span batches (type 1) live in [`super::span_batch`]. A block's epoch (its L1 origin)
//! is read from the L1-info deposit that must be its first transaction.

use super::span_batch::{RawSpanBatch, SpanBatchError};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Bytes, B256};
use alloy_rlp::{Decodable, Encodable, Header};
use op_alloy_consensus::{OpBlock, OpTxEnvelope};
use thiserror::Error;

/// The batch type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum BatchType {
    #[default]
    Singular = 0,
    Span = 1,
}

/// One L2 block as a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SingularBatch {
    pub parent_hash: B256,
    pub epoch_num: u64,
    pub epoch_hash: B256,
    pub timestamp: u64,
    /// EIP-2718 encodings of the block's non-deposit transactions.
    pub transactions: Vec<Bytes>,
}

/// What the L1-info deposit says about a block's L1 origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct L1Info {
    pub number: u64,
    pub hash: B256,
    pub time: u64,
    /// Position of the L2 block within its epoch (0 = first block of the epoch).
    pub sequence_number: u64,
}

/// Why a block or bytes are not a batch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    #[error("block has no transactions")]
    NoTransactions,
    #[error("first transaction is not a deposit")]
    FirstTxNotDeposit,
    #[error("L1-info deposit calldata: {0}")]
    L1Info(&'static str),
    #[error("empty batch data")]
    Empty,
    #[error("unknown batch type {0}")]
    UnknownType(u8),
    #[error("batch RLP: {0}")]
    Rlp(alloy_rlp::Error),
    #[error("bytes left after the batch")]
    TrailingBytes,
    #[error(transparent)]
    Span(#[from] SpanBatchError),
}

impl From<alloy_rlp::Error> for BatchError {
    fn from(e: alloy_rlp::Error) -> Self {
        Self::Rlp(e)
    }
}

/// Reads the L1 origin from L1-info deposit calldata (Bedrock, Ecotone, Isthmus or Jovian layout).
///
/// All layouts put the L1 block number at bytes 28..36 and its hash at 100..132; they differ in
/// where the time and sequence number sit.
pub fn l1_info_from_calldata(data: &[u8]) -> Result<L1Info, BatchError> {
    const BEDROCK: ([u8; 4], usize) = ([0x01, 0x5d, 0x8e, 0xb9], 4 + 32 * 8);
    const ECOTONE: ([u8; 4], usize) = ([0x44, 0x0a, 0x5e, 0x20], 4 + 32 * 5);
    const ISTHMUS: ([u8; 4], usize) = ([0x09, 0x89, 0x99, 0xbe], 4 + 32 * 5 + 4 + 8);
    const JOVIAN: ([u8; 4], usize) = ([0x3d, 0xb6, 0xbe, 0x2b], 4 + 32 * 5 + 4 + 8 + 2);
    let selector = data.get(..4).ok_or(BatchError::L1Info("shorter than a selector"))?;
    let u64_at = |at: usize| u64::from_be_bytes(data[at..at + 8].try_into().unwrap_or_default());
    let packed = [ECOTONE, ISTHMUS, JOVIAN].iter().find(|(sel, _)| sel == selector);
    let (len, time_at, seq_at) = match packed {
        Some(&(_, len)) => (len, 20, 12),
        None if selector == BEDROCK.0 => (BEDROCK.1, 4 + 32 + 24, 4 + 32 * 4 + 24),
        None => return Err(BatchError::L1Info("unknown selector")),
    };
    if data.len() != len {
        return Err(BatchError::L1Info("wrong length for its selector"));
    }
    Ok(L1Info {
        number: u64_at(28),
        hash: B256::from_slice(&data[100..132]),
        time: u64_at(time_at),
        sequence_number: u64_at(seq_at),
    })
}

impl SingularBatch {
    /// The batch for `block` and its L1 origin, as op-node's `BlockToSingularBatch`.
    pub fn from_block(block: &OpBlock) -> Result<(SingularBatch, L1Info), BatchError> {
        let txs = &block.body.transactions;
        let first = txs.first().ok_or(BatchError::NoTransactions)?;
        let OpTxEnvelope::Deposit(deposit) = first else {
            return Err(BatchError::FirstTxNotDeposit);
        };
        let l1 = l1_info_from_calldata(&deposit.input)?;
        let transactions = txs
            .iter()
            .filter(|tx| !matches!(tx, OpTxEnvelope::Deposit(_)))
            .map(|tx| Bytes::from(tx.encoded_2718()))
            .collect();
        let batch = SingularBatch {
            parent_hash: block.header.parent_hash,
            epoch_num: l1.number,
            epoch_hash: l1.hash,
            timestamp: block.header.timestamp,
            transactions,
        };
        Ok((batch, l1))
    }

    fn payload_len(&self) -> usize {
        self.parent_hash.length()
            + self.epoch_num.length()
            + self.epoch_hash.length()
            + self.timestamp.length()
            + self.transactions.length()
    }

    /// The RLP list (without the type byte).
    pub fn encode_rlp(&self, out: &mut Vec<u8>) {
        Header { list: true, payload_length: self.payload_len() }.encode(out);
        self.parent_hash.encode(out);
        self.epoch_num.encode(out);
        self.epoch_hash.encode(out);
        self.timestamp.encode(out);
        self.transactions.encode(out);
    }

    /// Decodes the RLP list (without the type byte); the list must span `data` exactly.
    pub fn decode_rlp(mut data: &[u8]) -> Result<Self, BatchError> {
        let header = Header::decode(&mut data)?;
        if !header.list {
            return Err(BatchError::Rlp(alloy_rlp::Error::UnexpectedString));
        }
        if header.payload_length != data.len() {
            return Err(if header.payload_length < data.len() {
                BatchError::TrailingBytes
            } else {
                BatchError::Rlp(alloy_rlp::Error::InputTooShort)
            });
        }
        let batch = SingularBatch {
            parent_hash: B256::decode(&mut data)?,
            epoch_num: u64::decode(&mut data)?,
            epoch_hash: B256::decode(&mut data)?,
            timestamp: u64::decode(&mut data)?,
            transactions: Vec::<Bytes>::decode(&mut data)?,
        };
        if !data.is_empty() {
            return Err(BatchError::Rlp(alloy_rlp::Error::ListLengthMismatch {
                expected: 0,
                got: data.len(),
            }));
        }
        Ok(batch)
    }
}

/// Appends `typed` (`batch_type ++ payload`) as the RLP byte string a channel carries.
pub fn encode_channel_entry(typed: &[u8], out: &mut Vec<u8>) {
    typed.encode(out);
}

/// `0x00 ++ RLP(batch)` wrapped as a channel entry.
pub fn singular_channel_entry(batch: &SingularBatch) -> Vec<u8> {
    let mut typed = Vec::with_capacity(1 + batch.payload_len() + 9);
    typed.push(BatchType::Singular as u8);
    batch.encode_rlp(&mut typed);
    let mut out = Vec::with_capacity(typed.len() + 9);
    encode_channel_entry(&typed, &mut out);
    out
}

/// A decoded batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    Singular(SingularBatch),
    Span(RawSpanBatch),
}

impl Batch {
    /// Decodes `batch_type ++ payload`.
    pub fn decode(data: &[u8]) -> Result<Self, BatchError> {
        let (&kind, payload) = data.split_first().ok_or(BatchError::Empty)?;
        match kind {
            0 => Ok(Self::Singular(SingularBatch::decode_rlp(payload)?)),
            1 => Ok(Self::Span(RawSpanBatch::decode(payload)?)),
            other => Err(BatchError::UnknownType(other)),
        }
    }

    /// Reads every channel entry of a decompressed channel.
    pub fn decode_channel(mut data: &[u8]) -> Result<Vec<Self>, BatchError> {
        let mut batches = Vec::new();
        while !data.is_empty() {
            let entry = Header::decode_bytes(&mut data, false)?;
            batches.push(Self::decode(entry)?);
        }
        Ok(batches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;

    #[test]
    fn l1_info_selectors_are_the_function_signatures() {
        let sigs = [
            ("setL1BlockValues(uint64,uint64,uint256,bytes32,uint64,bytes32,uint256,uint256)", 260),
            ("setL1BlockValuesEcotone()", 164),
            ("setL1BlockValuesIsthmus()", 176),
            ("setL1BlockValuesJovian()", 178),
        ];
        for (sig, len) in sigs {
            let mut data = vec![0u8; len];
            data[..4].copy_from_slice(&keccak256(sig)[..4]);
            data[28..36].copy_from_slice(&7u64.to_be_bytes());
            assert_eq!(l1_info_from_calldata(&data).map(|i| i.number), Ok(7), "{sig}");
            assert!(l1_info_from_calldata(&data[..len - 1]).is_err());
        }
    }
}
