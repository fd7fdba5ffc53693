//! L2 blocks and the functions that build them from payload attributes.
//!
//! The sequencer builds from its own choices and the rollup node builds from derived attributes,
//! both through [`validate`] then [`assemble`]: equal inputs and equal execution give equal blocks,
//! byte for byte, hash for hash.
//!
//! The state root is the real root of the executed state (`engine.rs`: the caller executes the block
//! between the two steps). The other execution fields are stand-ins, each a pure function of the
//! block's contents:
//! - `transactions_root` and `receipts_root` = keccak256 commitments over transaction hashes and
//!   cumulative gas, not tries;
//! - gas used = intrinsic gas of each transaction (21,000 + 4 per zero byte + 16 per other byte),
//!   as if every call were a plain transfer (the executor charges no gas).

use alloy_consensus::{Block, BlockBody, Header, EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH};
use alloy_eips::{
    eip1559::{calc_next_block_base_fee, BaseFeeParams},
    eip2718::Decodable2718,
};
use alloy_primitives::{Address, Bloom, Bytes, Keccak256, B256, B64, U256};
use kona_genesis::ChainGenesis;
use kona_protocol::{L1BlockInfoTx, L2BlockInfo};
use op_alloy_consensus::{OpBlock, OpTxEnvelope};

/// A block of the L2 chain with what the world needs at hand.
#[derive(Debug, Clone)]
pub struct L2Block {
    pub block: OpBlock,
    pub hash: B256,
    /// Number, hash, parent, timestamp, L1 origin and sequence number (from the L1-info deposit).
    pub info: L2BlockInfo,
    /// The EIP-2718 encoding of each transaction, in block order: what batches carry.
    pub raw_txs: Vec<Bytes>,
    /// The sender of each transaction (the `from` of deposits).
    pub senders: Vec<Address>,
}

impl L2Block {
    pub fn number(&self) -> u64 {
        self.block.header.number
    }

    pub fn timestamp(&self) -> u64 {
        self.block.header.timestamp
    }

    pub fn header(&self) -> &Header {
        &self.block.header
    }

    pub fn txs(&self) -> &[OpTxEnvelope] {
        &self.block.body.transactions
    }

    /// User (non-deposit) transactions with their senders.
    pub fn user_txs(&self) -> impl Iterator<Item = (&OpTxEnvelope, Address)> {
        self.txs().iter().zip(self.senders.iter().copied()).filter(|(tx, _)| !tx.is_deposit())
    }
}

/// Everything a block is built from: the fields of `OpPayloadAttributes` that shape a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInputs {
    pub timestamp: u64,
    pub prev_randao: B256,
    pub fee_recipient: Address,
    pub parent_beacon_block_root: Option<B256>,
    pub gas_limit: u64,
    /// Holocene's `eip1559Params` (denominator ++ elasticity), written into `extra_data`.
    pub eip1559_params: Option<B64>,
    /// Raw transactions; the first is the L1-info deposit.
    pub txs: Vec<Bytes>,
}

/// Why inputs do not make a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("transaction {index} does not decode: {reason}")]
    Decode { index: usize, reason: String },
    #[error("transaction {index} has no valid sender: {reason}")]
    Sender { index: usize, reason: String },
    #[error("first transaction is not a valid L1-info deposit: {0}")]
    L1Info(String),
    #[error("block uses {gas_used} gas over its limit {gas_limit}")]
    GasLimit { gas_used: u64, gas_limit: u64 },
    #[error("timestamp {timestamp} is not after the parent's {parent}")]
    Timestamp { timestamp: u64, parent: u64 },
}

/// Intrinsic gas of a transaction's input (no EIP-7623 floor on L2 before Isthmus).
pub fn intrinsic_gas(input: &[u8]) -> u64 {
    let zeros = input.iter().filter(|&&b| b == 0).count() as u64;
    21_000 + 4 * zeros + 16 * (input.len() as u64 - zeros)
}

/// EIP-1559 parameters a Holocene header carries in `extra_data` (version 0), or Canyon's.
fn base_fee_params(parent: &Header) -> BaseFeeParams {
    match parent.extra_data.as_ref() {
        [0, params @ ..] if params.len() == 8 => {
            let denominator = u32::from_be_bytes(params[..4].try_into().expect("4 bytes"));
            let elasticity = u32::from_be_bytes(params[4..].try_into().expect("4 bytes"));
            if denominator != 0 && elasticity != 0 {
                return BaseFeeParams::new(u128::from(denominator), u128::from(elasticity));
            }
            BaseFeeParams::optimism_canyon()
        }
        _ => BaseFeeParams::optimism_canyon(),
    }
}

/// The genesis block of the L2 chain, over the genesis state with root `state_root`.
pub fn genesis(timestamp: u64, gas_limit: u64, base_fee: u64, state_root: B256) -> Header {
    Header {
        number: 0,
        state_root,
        timestamp,
        gas_limit,
        base_fee_per_gas: Some(base_fee),
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        ..Header::default()
    }
}

/// Decodes each raw transaction of a payload and recovers its sender.
pub fn decode(raw_txs: &[Bytes]) -> Result<Vec<(OpTxEnvelope, Address)>, BuildError> {
    raw_txs
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            let tx = OpTxEnvelope::decode_2718_exact(raw)
                .map_err(|e| BuildError::Decode { index, reason: e.to_string() })?;
            let sender = rollsim::simsig::recover_signer(&tx)
                .map_err(|e| BuildError::Sender { index, reason: e.to_string() })?;
            Ok((tx, sender))
        })
        .collect()
}

/// Checks that `decoded` (`inputs.txs` decoded) make a block on `parent`: a later timestamp, an
/// L1-info deposit first, gas within the limit. What passes executes and assembles.
pub fn validate(
    parent: &Header,
    inputs: &BlockInputs,
    decoded: &[(OpTxEnvelope, Address)],
) -> Result<(), BuildError> {
    assert_eq!(decoded.len(), inputs.txs.len(), "one decoded transaction per raw one");
    if inputs.timestamp <= parent.timestamp {
        return Err(BuildError::Timestamp { timestamp: inputs.timestamp, parent: parent.timestamp });
    }
    match decoded.first() {
        Some((tx @ OpTxEnvelope::Deposit(_), _)) => {
            L1BlockInfoTx::decode_calldata(alloy_consensus::Transaction::input(tx))
                .map_err(|e| BuildError::L1Info(e.to_string()))?;
        }
        _ => return Err(BuildError::L1Info("no deposit first".to_owned())),
    }
    let gas_used = gas_used(decoded.iter().map(|(tx, _)| tx)).last().unwrap_or_default();
    if gas_used > inputs.gas_limit {
        return Err(BuildError::GasLimit { gas_used, gas_limit: inputs.gas_limit });
    }
    Ok(())
}

/// Cumulative intrinsic gas after each transaction.
fn gas_used<'a, I>(txs: I) -> impl Iterator<Item = u64> + 'a
where
    I: Iterator<Item = &'a OpTxEnvelope> + 'a,
{
    txs.scan(0u64, |total, tx| {
        *total += intrinsic_gas(alloy_consensus::Transaction::input(tx));
        Some(*total)
    })
}

/// Assembles the block on `parent` from [`validate`]d inputs and the state root of their execution.
pub fn assemble(
    parent: &Header,
    parent_hash: B256,
    inputs: BlockInputs,
    decoded: Vec<(OpTxEnvelope, Address)>,
    genesis: &ChainGenesis,
    state_root: B256,
) -> Result<L2Block, BuildError> {
    let (txs, senders): (Vec<_>, Vec<_>) = decoded.into_iter().unzip();
    let mut gas = 0u64;
    let mut receipt_bytes = Vec::with_capacity(txs.len() * 8);
    for cumulative in gas_used(txs.iter()) {
        gas = cumulative;
        receipt_bytes.extend_from_slice(&cumulative.to_be_bytes());
    }
    let transactions_root = if txs.is_empty() {
        EMPTY_ROOT_HASH
    } else {
        let mut hasher = Keccak256::new();
        for tx in &txs {
            hasher.update(tx.tx_hash());
        }
        hasher.finalize()
    };
    let extra_data = match inputs.eip1559_params {
        Some(params) => Bytes::from([&[0u8][..], params.as_slice()].concat()),
        None => Bytes::new(),
    };
    let base_fee = calc_next_block_base_fee(
        parent.gas_used,
        parent.gas_limit,
        parent.base_fee_per_gas.unwrap_or_default(),
        base_fee_params(parent),
    );
    let header = Header {
        parent_hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: inputs.fee_recipient,
        state_root,
        transactions_root,
        receipts_root: if txs.is_empty() {
            EMPTY_ROOT_HASH
        } else {
            alloy_primitives::keccak256(&receipt_bytes)
        },
        logs_bloom: Bloom::ZERO,
        difficulty: U256::ZERO,
        number: parent.number + 1,
        gas_limit: inputs.gas_limit,
        gas_used: gas,
        timestamp: inputs.timestamp,
        extra_data,
        mix_hash: inputs.prev_randao,
        nonce: B64::ZERO,
        base_fee_per_gas: Some(base_fee),
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: inputs.parent_beacon_block_root,
        requests_hash: None,
    };
    let hash = header.hash_slow();
    let block = Block {
        header,
        body: BlockBody { transactions: txs, ommers: Vec::new(), withdrawals: Some(Default::default()) },
    };
    let info = L2BlockInfo::from_block_and_genesis(&block, genesis)
        .map_err(|e| BuildError::L1Info(e.to_string()))?;
    Ok(L2Block { block, hash, info, raw_txs: inputs.txs, senders })
}
