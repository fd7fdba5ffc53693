//! L2 blocks and the functions that build them from payload attributes.
//!
//! The sequencer builds from its own choices and the rollup node builds from derived attributes,
//! both through [`validate`], then execution in op-revm (the caller's, over its state, in the
//! block's [`context`]), then [`assemble`]: equal inputs and equal execution give equal blocks,
//! byte for byte, hash for hash. Every header field is the real one of an Isthmus block: gas used
//! as executed, the EIP-1559 base fee with Holocene's parameters, transactions and receipts roots
//! and the logs bloom over the real transactions and receipts, the withdrawals root as the
//! L2ToL1MessagePasser's storage root, the empty requests hash.

use alloy_consensus::{
    proofs::{calculate_receipt_root, calculate_transaction_root},
    Block, BlockBody, Header, EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH,
};
use alloy_eips::{
    eip1559::{calc_next_block_base_fee, BaseFeeParams},
    eip2718::Decodable2718,
    eip7685::EMPTY_REQUESTS_HASH,
    BlockNumHash,
};
use alloy_primitives::{Address, Bloom, Bytes, B256, B64, U256};
use kona_genesis::ChainGenesis;
use kona_protocol::{BlockInfo, L1BlockInfoTx, L2BlockInfo};
use op_alloy_consensus::{OpBlock, OpTxEnvelope, TxDeposit};
use rollsim::evm::{AncestorHashes, BlockContext, EvmBlock, EvmOutput, EvmTx};

use super::L2Config;
use crate::l1::L1Config;

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
    /// The genesis block of `header` (hash `hash`), its L1 origin `l1_origin`: no transactions.
    pub fn genesis(header: Header, hash: B256, l1_origin: BlockNumHash) -> Self {
        L2Block {
            info: L2BlockInfo::new(
                BlockInfo::new(hash, 0, header.parent_hash, header.timestamp),
                l1_origin,
                0,
            ),
            block: OpBlock {
                header,
                body: BlockBody {
                    transactions: Vec::new(),
                    ommers: Vec::new(),
                    withdrawals: Some(Default::default()),
                },
            },
            hash,
            raw_txs: Vec::new(),
            senders: Vec::new(),
        }
    }

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

impl BlockInputs {
    /// The inputs `block` was built from, as its header and body carry them.
    pub fn of(block: &L2Block) -> Self {
        let header = block.header();
        let eip1559_params = match header.extra_data.as_ref() {
            [0, params @ ..] if params.len() == 8 => Some(B64::from_slice(params)),
            _ => None,
        };
        Self {
            timestamp: header.timestamp,
            prev_randao: header.mix_hash,
            fee_recipient: header.beneficiary,
            parent_beacon_block_root: header.parent_beacon_block_root,
            gas_limit: header.gas_limit,
            eip1559_params,
            txs: block.raw_txs.clone(),
        }
    }
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
    #[error("block does not execute: {0}")]
    Execution(String),
    #[error("timestamp {timestamp} is not after the parent's {parent}")]
    Timestamp { timestamp: u64, parent: u64 },
}

/// The gas limit a call with `input` needs when it runs no code: intrinsic gas (with an access
/// list of `access_list_accounts` addresses and no slots, and `authorizations` EIP-7702
/// authorizations), or the EIP-7623 calldata floor (Isthmus executes Prague's rules) when higher.
pub fn call_gas(input: &[u8], access_list_accounts: u64, authorizations: u64) -> u64 {
    let gas = revm::interpreter::gas::calculate_initial_tx_gas(
        revm::primitives::hardfork::SpecId::PRAGUE,
        input,
        false,
        access_list_accounts,
        0,
        authorizations,
    );
    gas.initial_gas.max(gas.floor_gas)
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

/// The genesis block of the L2 chain, over the genesis state with root `state_root`. Holocene is
/// active from genesis, so its `extraData` carries the chain's EIP-1559 parameters, which the
/// first block's base fee uses.
pub fn genesis(config: &L2Config, timestamp: u64, state_root: B256) -> Header {
    let mut params = [0u8; 8];
    params[..4].copy_from_slice(&config.eip1559_denominator.to_be_bytes());
    params[4..].copy_from_slice(&config.eip1559_elasticity.to_be_bytes());
    Header {
        number: 0,
        state_root,
        timestamp,
        gas_limit: config.gas_limit,
        base_fee_per_gas: Some(config.initial_base_fee_wei),
        extra_data: Bytes::from([&[0u8][..], &params].concat()),
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
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
            let sender = crate::l2::simsig::recover_signer(&tx)
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
    Ok(())
}

/// The L1-info deposit `deposit` with the blob base fee of its L1 block's own fork.
///
/// kona-protocol 0.4 prices every L1 block's blobs with Prague's update fraction, the bug op-node
/// fixed for the BPO forks (optimism#17568). The sequencer and derivation both pass kona's
/// deposit through here, so the L2 sees the blob fee the L1 charged.
pub fn with_fork_blob_fee(
    mut deposit: TxDeposit,
    l1_header: &Header,
    l1: &L1Config,
) -> Result<TxDeposit, kona_protocol::DecodeError> {
    let blob_base_fee = l1
        .fork_at(l1_header.timestamp)
        .blob_params()
        .calc_blob_fee(l1_header.excess_blob_gas.unwrap_or_default());
    let mut info = L1BlockInfoTx::decode_calldata(&deposit.input)?;
    match &mut info {
        L1BlockInfoTx::Bedrock(_) => return Ok(deposit),
        L1BlockInfoTx::Ecotone(info) => info.blob_base_fee = blob_base_fee,
        L1BlockInfoTx::Isthmus(info) => info.blob_base_fee = blob_base_fee,
    }
    deposit.input = info.encode_calldata();
    Ok(deposit)
}

/// The next block's base fee: EIP-1559 with the parameters the parent's header carries.
pub fn next_base_fee(parent: &Header) -> u64 {
    calc_next_block_base_fee(
        parent.gas_used,
        parent.gas_limit,
        parent.base_fee_per_gas.unwrap_or_default(),
        base_fee_params(parent),
    )
}

/// Holocene's `extra_data`: version 0, then the EIP-1559 parameters.
fn extra_data(inputs: &BlockInputs) -> Bytes {
    match inputs.eip1559_params {
        Some(params) => Bytes::from([&[0u8][..], params.as_slice()].concat()),
        None => Bytes::new(),
    }
}

/// What the block built on `parent` from `inputs` executes in; `ancestor_hashes` are the hashes
/// of up to 256 blocks below it, by number.
pub fn context(
    parent: &Header,
    parent_hash: B256,
    inputs: &BlockInputs,
    ancestor_hashes: AncestorHashes,
) -> BlockContext {
    BlockContext {
        number: parent.number + 1,
        timestamp: inputs.timestamp,
        beneficiary: inputs.fee_recipient,
        gas_limit: inputs.gas_limit,
        base_fee: next_base_fee(parent),
        prev_randao: inputs.prev_randao,
        parent_hash,
        parent_beacon_block_root: inputs.parent_beacon_block_root,
        extra_data: extra_data(inputs),
        ancestor_hashes,
    }
}

/// The block built on `parent` from `inputs`, whose transactions decoded to `txs` (with their
/// senders), as the EVM executes it: its [`context`] and its recovered transactions.
pub fn evm_block<'a>(
    parent: &Header,
    parent_hash: B256,
    inputs: &BlockInputs,
    txs: impl IntoIterator<Item = (&'a OpTxEnvelope, Address)>,
    ancestor_hashes: AncestorHashes,
) -> EvmBlock {
    EvmBlock {
        context: context(parent, parent_hash, inputs, ancestor_hashes),
        txs: txs
            .into_iter()
            .zip(&inputs.txs)
            .map(|((tx, sender), encoded)| EvmTx::with_encoded(tx.clone(), sender, encoded.clone()))
            .collect(),
    }
}

/// Assembles the block on `parent` from [`validate`]d inputs, every one of which executed
/// (`output`), the post-state root and the L2ToL1MessagePasser's storage root.
#[allow(clippy::too_many_arguments)]
pub fn assemble(
    parent: &Header,
    parent_hash: B256,
    inputs: BlockInputs,
    decoded: Vec<(OpTxEnvelope, Address)>,
    genesis: &ChainGenesis,
    output: &EvmOutput,
    state_root: B256,
    withdrawals_root: B256,
) -> Result<L2Block, BuildError> {
    assert_eq!(output.receipts.len(), decoded.len(), "one receipt per transaction: every one executed");
    let (txs, senders): (Vec<_>, Vec<_>) = decoded.into_iter().unzip();
    let logs_bloom = output.receipts.iter().fold(Bloom::ZERO, |bloom, receipt| bloom | receipt.logs_bloom());
    let header = Header {
        parent_hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: inputs.fee_recipient,
        state_root,
        transactions_root: calculate_transaction_root(&txs),
        receipts_root: calculate_receipt_root(&output.receipts),
        logs_bloom,
        difficulty: U256::ZERO,
        number: parent.number + 1,
        gas_limit: inputs.gas_limit,
        gas_used: output.gas_used,
        timestamp: inputs.timestamp,
        extra_data: extra_data(&inputs),
        mix_hash: inputs.prev_randao,
        nonce: B64::ZERO,
        base_fee_per_gas: Some(next_base_fee(parent)),
        withdrawals_root: Some(withdrawals_root),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: inputs.parent_beacon_block_root,
        requests_hash: Some(EMPTY_REQUESTS_HASH),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l1::forks::L1Forks;
    use alloy_eips::{eip7840::BlobParams, BlockNumHash};

    fn blob_fee_of(deposit: &TxDeposit) -> u128 {
        match L1BlockInfoTx::decode_calldata(&deposit.input).expect("L1-info calldata") {
            L1BlockInfoTx::Isthmus(info) => info.blob_base_fee,
            other => panic!("an Isthmus L1-info deposit, got {other:?}"),
        }
    }

    #[test]
    fn l1_info_takes_the_blob_fee_of_the_l1_blocks_own_fork() {
        let config = L2Config::default();
        let batcher = Address::with_last_byte(0xba);
        let rollup = super::super::rollup_config(
            &config,
            900,
            BlockNumHash::default(),
            BlockNumHash::default(),
            0,
            batcher,
        );
        let system_config = super::super::system_config(&config, batcher);
        let l1 = L1Config::default();
        let excess = 200_000_000;
        let l1_header = Header {
            number: 10,
            timestamp: l1.genesis_timestamp + 120,
            base_fee_per_gas: Some(1_000_000_000),
            excess_blob_gas: Some(excess),
            blob_gas_used: Some(0),
            parent_beacon_block_root: Some(B256::ZERO),
            requests_hash: Some(EMPTY_REQUESTS_HASH),
            ..Default::default()
        };
        let (_, kona) =
            L1BlockInfoTx::try_new_with_deposit_tx(&rollup, &system_config, 0, &l1_header, 2).unwrap();
        let kona = kona.into_inner();
        assert_eq!(
            blob_fee_of(&kona),
            BlobParams::prague().calc_blob_fee(excess),
            "kona 0.4 prices by Prague"
        );

        let fixed = with_fork_blob_fee(kona.clone(), &l1_header, &l1).unwrap();
        assert_eq!(blob_fee_of(&fixed), BlobParams::bpo2().calc_blob_fee(excess));
        assert_ne!(blob_fee_of(&fixed), blob_fee_of(&kona));
        let unchanged = |d: &TxDeposit| {
            let mut d = d.clone();
            d.input = Bytes::new();
            d
        };
        assert_eq!(unchanged(&fixed), unchanged(&kona), "only the calldata changes");

        let prague = L1Config { forks: L1Forks::PRAGUE, ..L1Config::default() };
        assert_eq!(with_fork_blob_fee(kona.clone(), &l1_header, &prague).unwrap(), kona);
    }
}
