//! Signs L1 transactions for the world's own actors (rogue submitters, tests) in network form.

use alloy_consensus::{TxEip1559, TxEip4844, TxEip4844Variant, TxEnvelope};
use alloy_eips::{eip4844::Blob, eip7594::BlobTransactionSidecarVariant};
use alloy_primitives::{keccak256, Address, Bytes, TxKind, U256};
use rollsim::signer::{encode_network, LocalSigner};

/// Fees of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    /// Used by blob transactions only.
    pub max_fee_per_blob_gas: u128,
}

/// A key on a chain.
#[derive(Debug, Clone)]
pub struct Wallet {
    pub signer: LocalSigner,
    pub chain_id: u64,
}

impl Wallet {
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// A signed EIP-1559 call carrying `input`, with the smallest gas limit the fake L1 accepts.
    pub fn call(&self, nonce: u64, to: Address, input: Bytes, fees: Fees) -> Bytes {
        let (intrinsic, floor) = super::tx::intrinsic_gas(&input, 0, 0);
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit: intrinsic.max(floor),
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            to: TxKind::Call(to),
            value: U256::ZERO,
            access_list: Default::default(),
            input,
        };
        let envelope: TxEnvelope = self.signer.sign(tx).into();
        encode_network(&envelope, None).into()
    }

    /// A signed EIP-4844 transaction carrying `blobs` with a simulated-KZG sidecar: cell proofs
    /// (EIP-7594, for Osaka) or one proof per blob (before).
    pub fn blob_tx(&self, nonce: u64, to: Address, blobs: Vec<Blob>, fees: Fees, cell_proofs: bool) -> Bytes {
        let sidecar = rollsim::kzg::sidecar_variant(blobs, cell_proofs);
        let tx = TxEip4844 {
            chain_id: self.chain_id,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            to,
            value: U256::ZERO,
            access_list: Default::default(),
            blob_versioned_hashes: sidecar.versioned_hashes().collect(),
            max_fee_per_blob_gas: fees.max_fee_per_blob_gas,
            input: Bytes::new(),
        };
        let signed = self.signer.sign(TxEip4844Variant::<BlobTransactionSidecarVariant>::TxEip4844(tx));
        let envelope: TxEnvelope = signed.into();
        encode_network(&envelope, Some(&sidecar)).into()
    }
}

/// The batcher's L1 key. Fixed, so the system config's batcher address is the same in every run.
pub fn batcher_signer() -> LocalSigner {
    LocalSigner::new(keccak256("rollsim/batcher")).expect("a keccak digest is a valid secp256k1 key")
}

/// A key with no role in the rollup: the stranger who posts to the batch inbox.
pub fn stranger_signer() -> LocalSigner {
    LocalSigner::new(keccak256("rollsim/stranger")).expect("a keccak digest is a valid secp256k1 key")
}
