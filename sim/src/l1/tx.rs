//! Transactions as the fake L1 sees them, and the stateless checks a node runs on a raw transaction.

use super::forks::L1Fork;
use alloy_consensus::{
    transaction::{PooledTransaction, SignerRecoverable},
    Signed, Transaction, TxEip4844Variant, TxEnvelope,
};
use alloy_eips::{
    eip2718::Decodable2718, eip4844::DATA_GAS_PER_BLOB, eip7594::BlobTransactionSidecarVariant,
};
use alloy_primitives::{Address, B256, U256};
use std::sync::Arc;

/// A transaction in the pool or in a block.
///
/// Background traffic is *synthetic*: it has a sender, nonce, gas and fees but no signed bytes.
/// It exists to fill blocks and move fees, and nothing in the world ever reads its contents; signing
/// and recovering ~200k transactions per simulated day would cost tens of seconds. Transactions
/// that arrive over RPC are real signed transactions, decoded and sender-recovered.
#[derive(Debug, Clone)]
pub struct PoolTx {
    pub hash: B256,
    pub sender: Address,
    pub nonce: u64,
    pub to: Address,
    pub value: U256,
    pub gas_limit: u64,
    /// Gas the block charges: intrinsic gas with the EIP-7623 floor. The fake L1 runs no code.
    pub gas_used: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    /// Zero for non-blob transactions.
    pub max_fee_per_blob_gas: u128,
    pub blob_count: u64,
    /// The signed transaction (canonical form, without sidecar); `None` for synthetic traffic.
    pub signed: Option<Arc<SignedTx>>,
}

/// The signed parts of a transaction that arrived over RPC.
#[derive(Debug)]
pub struct SignedTx {
    pub envelope: TxEnvelope,
    /// Version 0 (one proof per blob) before Osaka, version 1 (cell proofs) from it.
    pub sidecar: Option<BlobTransactionSidecarVariant>,
    /// Size of the network encoding (with sidecar), as the pool's size limit sees it.
    pub encoded_len: usize,
}

impl PoolTx {
    pub fn is_blob(&self) -> bool {
        self.blob_count > 0
    }

    /// The fees the pool's replacement rule compares.
    pub fn fees(&self) -> super::pool::Fees {
        super::pool::Fees {
            fee_cap: self.max_fee_per_gas,
            tip: self.max_priority_fee_per_gas,
            blob_fee_cap: self.is_blob().then_some(self.max_fee_per_blob_gas),
        }
    }

    pub fn blob_gas(&self) -> u64 {
        self.blob_count * DATA_GAS_PER_BLOB
    }

    /// The miner's tip per gas at `base_fee`, or `None` if the fee cap does not cover it.
    pub fn effective_tip(&self, base_fee: u64) -> Option<u128> {
        let base_fee = u128::from(base_fee);
        (self.max_fee_per_gas >= base_fee)
            .then(|| self.max_priority_fee_per_gas.min(self.max_fee_per_gas - base_fee))
    }

    /// The most the sender can be charged: what the balance must cover at admission.
    pub fn max_cost(&self) -> U256 {
        U256::from(self.gas_limit) * U256::from(self.max_fee_per_gas)
            + self.value
            + U256::from(self.blob_gas()) * U256::from(self.max_fee_per_blob_gas)
    }

    /// A blob transaction whose sidecar is version 0: never included from Osaka on.
    pub fn has_legacy_sidecar(&self) -> bool {
        self.signed
            .as_ref()
            .and_then(|s| s.sidecar.as_ref())
            .is_some_and(BlobTransactionSidecarVariant::is_eip4844)
    }

    /// A blob transaction whose sidecar carries EIP-7594 cell proofs: never included before Osaka.
    pub fn has_cell_proofs(&self) -> bool {
        self.signed
            .as_ref()
            .and_then(|s| s.sidecar.as_ref())
            .is_some_and(BlobTransactionSidecarVariant::is_eip7594)
    }

    /// Versioned hashes of the blobs (empty for non-blob and synthetic transactions).
    pub fn blob_versioned_hashes(&self) -> &[B256] {
        self.signed.as_ref().and_then(|s| s.envelope.blob_versioned_hashes()).unwrap_or_default()
    }
}

/// Why the pool refused a transaction. The messages are geth's, because clients (op-batcher's
/// tx manager among them) match on them; the sidecar-version messages are reth's (geth converts
/// a version-0 sidecar at its RPC instead of refusing it, which no batcher can rely on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxPoolError {
    #[error("rlp: {0}")]
    Decode(String),
    #[error("transaction type not supported")]
    TxTypeNotSupported,
    #[error("invalid chain id: have {have:?}, want {want}")]
    InvalidChainId { have: Option<u64>, want: u64 },
    #[error("oversized data: transaction size {size}, limit {limit}")]
    Oversized { size: usize, limit: usize },
    #[error("exceeds block gas limit")]
    GasLimit,
    #[error("transaction gas limit too high (cap: {cap}, tx: {gas})")]
    GasLimitTooHigh { cap: u64, gas: u64 },
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    #[error("invalid sender")]
    InvalidSender,
    #[error("contract creation is not supported by the fake L1")]
    ContractCreation,
    #[error("intrinsic gas too low: gas {gas}, minimum needed {needed}")]
    IntrinsicGas { gas: u64, needed: u64 },
    #[error("insufficient gas for floor data gas cost: gas {gas}, minimum needed {needed}")]
    FloorDataGas { gas: u64, needed: u64 },
    #[error("transaction underpriced: tip needed {needed}, tip permitted {tip}")]
    Underpriced { needed: u128, tip: u128 },
    #[error("blobless blob transaction")]
    BloblessBlobTx,
    #[error("too many blobs in transaction: have {have}, permitted {permitted}")]
    TooManyBlobs { have: u64, permitted: u64 },
    #[error("invalid blob sidecar: {0}")]
    InvalidSidecar(String),
    #[error("unexpected eip-4844 sidecar after osaka")]
    LegacySidecarAfterOsaka,
    #[error("unexpected eip-7594 sidecar before osaka")]
    CellSidecarBeforeOsaka,
    #[error("nonce too low: next nonce {next}, tx nonce {nonce}")]
    NonceTooLow { next: u64, nonce: u64 },
    #[error("nonce too high: tx nonce {nonce}, gapped nonce {next}")]
    NonceTooHigh { nonce: u64, next: u64 },
    #[error("already known")]
    AlreadyKnown,
    #[error("address already reserved")]
    AlreadyReserved,
    #[error("replacement transaction underpriced")]
    ReplaceUnderpriced,
    #[error("insufficient funds for gas * price + value: balance {balance}, tx cost {cost}")]
    InsufficientFunds { balance: U256, cost: U256 },
}

/// Chain rules the stateless checks need.
#[derive(Debug, Clone, Copy)]
pub struct TxRules {
    pub chain_id: u64,
    pub block_gas_limit: u64,
    pub max_tx_size_bytes: usize,
    pub min_tip_wei: u128,
}

/// Intrinsic gas and the EIP-7623 calldata floor of a call to an account without code.
pub fn intrinsic_gas(input: &[u8], access_list_addresses: u64, access_list_keys: u64) -> (u64, u64) {
    let zeros = input.iter().filter(|&&b| b == 0).count() as u64;
    let tokens = zeros + 4 * (input.len() as u64 - zeros);
    let intrinsic = 21_000 + 4 * tokens + 2_400 * access_list_addresses + 1_900 * access_list_keys;
    let floor = 21_000 + 10 * tokens;
    (intrinsic, floor)
}

/// Decodes a raw transaction in its network form (blob transactions carry their sidecar) and
/// runs every check that needs no chain state, under the rules of `fork` (the head's, as a
/// pool's fork tracker follows the head).
pub fn decode_raw(raw: &[u8], rules: &TxRules, fork: L1Fork) -> Result<PoolTx, TxPoolError> {
    let pooled = PooledTransaction::decode_2718_exact(raw).map_err(|e| TxPoolError::Decode(e.to_string()))?;
    if matches!(pooled, PooledTransaction::Eip7702(_)) {
        return Err(TxPoolError::TxTypeNotSupported);
    }
    let encoded_len = raw.len();
    let chain_id = pooled.chain_id();
    if chain_id.is_some_and(|id| id != rules.chain_id) || (chain_id.is_none() && !pooled.is_legacy()) {
        return Err(TxPoolError::InvalidChainId { have: chain_id, want: rules.chain_id });
    }
    if !pooled.is_eip4844() && encoded_len > rules.max_tx_size_bytes {
        return Err(TxPoolError::Oversized { size: encoded_len, limit: rules.max_tx_size_bytes });
    }
    if pooled.gas_limit() > rules.block_gas_limit {
        return Err(TxPoolError::GasLimit);
    }
    if let Some(cap) = fork.max_tx_gas().filter(|&cap| pooled.gas_limit() > cap) {
        return Err(TxPoolError::GasLimitTooHigh { cap, gas: pooled.gas_limit() });
    }
    let max_fee = pooled.max_fee_per_gas();
    let tip = pooled.max_priority_fee_per_gas().unwrap_or(max_fee);
    if tip > max_fee {
        return Err(TxPoolError::TipAboveFeeCap);
    }
    let sender = pooled.recover_signer().map_err(|_| TxPoolError::InvalidSender)?;
    let Some(to) = pooled.to() else { return Err(TxPoolError::ContractCreation) };
    let (addresses, keys) = pooled.access_list().map_or((0, 0), |list| {
        (list.len() as u64, list.iter().map(|item| item.storage_keys.len() as u64).sum())
    });
    let (intrinsic, floor) = intrinsic_gas(pooled.input(), addresses, keys);
    if pooled.gas_limit() < intrinsic {
        return Err(TxPoolError::IntrinsicGas { gas: pooled.gas_limit(), needed: intrinsic });
    }
    if pooled.gas_limit() < floor {
        return Err(TxPoolError::FloorDataGas { gas: pooled.gas_limit(), needed: floor });
    }
    if tip < rules.min_tip_wei {
        return Err(TxPoolError::Underpriced { needed: rules.min_tip_wei, tip });
    }
    let hash = *pooled.hash();
    let (blob_count, max_fee_per_blob_gas) = match &pooled {
        PooledTransaction::Eip4844(_) => {
            let hashes = pooled.blob_versioned_hashes().unwrap_or_default();
            let count = hashes.len() as u64;
            if count == 0 {
                return Err(TxPoolError::BloblessBlobTx);
            }
            let permitted = fork.blob_params().max_blobs_per_tx;
            if count > permitted {
                return Err(TxPoolError::TooManyBlobs { have: count, permitted });
            }
            (count, pooled.max_fee_per_blob_gas().unwrap_or_default())
        }
        _ => (0, 0),
    };
    let value = pooled.value();
    let gas_limit = pooled.gas_limit();
    let (envelope, sidecar) = split_sidecar(pooled);
    if let Some(sidecar) = &sidecar {
        match (fork.is_osaka(), sidecar.is_eip7594()) {
            (true, false) => return Err(TxPoolError::LegacySidecarAfterOsaka),
            (false, true) => return Err(TxPoolError::CellSidecarBeforeOsaka),
            _ => {}
        }
        let hashes = envelope.blob_versioned_hashes().unwrap_or_default();
        rollsim::kzg::verify_variant(sidecar, hashes)
            .map_err(|e| TxPoolError::InvalidSidecar(e.to_string()))?;
    }
    Ok(PoolTx {
        hash,
        sender,
        nonce: envelope.nonce(),
        to,
        value,
        gas_limit,
        gas_used: intrinsic.max(floor),
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
        max_fee_per_blob_gas,
        blob_count,
        signed: Some(Arc::new(SignedTx { envelope, sidecar, encoded_len })),
    })
}

/// The canonical (in-block) envelope and the sidecar of a network-form transaction.
fn split_sidecar(pooled: PooledTransaction) -> (TxEnvelope, Option<BlobTransactionSidecarVariant>) {
    match pooled {
        PooledTransaction::Eip4844(signed) => {
            let (tx, signature, hash) = signed.into_parts();
            let envelope: TxEnvelope = Signed::new_unchecked(
                TxEip4844Variant::<BlobTransactionSidecarVariant>::TxEip4844(tx.tx),
                signature,
                hash,
            )
            .into();
            (envelope, Some(tx.sidecar))
        }
        other => (other.into_envelope(), None),
    }
}
