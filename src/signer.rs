//! A local secp256k1 signer for L1 transactions.
//!
//! L1 batcher transactions are really signed: derivation recovers their sender and compares it with
//! the system config's batcher address. Signing uses libsecp256k1 (via alloy-consensus's backend),
//! about 4x faster than the pure-Rust k256 here. Nonces follow RFC 6979, so signatures are
//! deterministic.

use alloy_consensus::{
    crypto::secp256k1::sign_message, transaction::PooledTransaction, SignableTransaction, Signed,
    TxEip4844WithSidecar, TxEnvelope,
};
use alloy_eips::{
    eip2718::Encodable2718,
    eip7594::BlobTransactionSidecarVariant,
    eip7702::{Authorization, SignedAuthorization},
};
use alloy_primitives::{keccak256, Address, Signature, B256};
use secp256k1::{PublicKey, SecretKey, SECP256K1};

/// A key and its address.
#[derive(Clone)]
pub struct LocalSigner {
    secret: B256,
    address: Address,
}

/// Why a key cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid secp256k1 secret key: {0}")]
pub struct InvalidKey(String);

impl LocalSigner {
    pub fn new(secret: B256) -> Result<Self, InvalidKey> {
        let key = SecretKey::from_slice(secret.as_slice()).map_err(|e| InvalidKey(e.to_string()))?;
        let public = PublicKey::from_secret_key(SECP256K1, &key).serialize_uncompressed();
        let address = Address::from_slice(&keccak256(&public[1..])[12..]);
        Ok(Self { secret, address })
    }

    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs `tx`'s signature hash.
    pub fn sign<T: SignableTransaction<Signature>>(&self, tx: T) -> Signed<T> {
        let signature = sign_message(self.secret, tx.signature_hash())
            .expect("a key that constructed a LocalSigner signs any 32-byte digest");
        tx.into_signed(signature)
    }

    /// Signs an EIP-7702 authorization: this key's account delegates to `authorization.address`.
    pub fn sign_authorization(&self, authorization: Authorization) -> SignedAuthorization {
        let signature = sign_message(self.secret, authorization.signature_hash())
            .expect("a key that constructed a LocalSigner signs any 32-byte digest");
        authorization.into_signed(signature)
    }
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSigner").field("address", &self.address).finish_non_exhaustive()
    }
}

/// The network encoding of a signed transaction: what `eth_sendRawTransaction` takes. A blob
/// transaction travels with its sidecar; the sidecar is not part of its hash.
pub fn encode_network(envelope: &TxEnvelope, sidecar: Option<&BlobTransactionSidecarVariant>) -> Vec<u8> {
    match (envelope, sidecar) {
        (TxEnvelope::Eip4844(signed), Some(sidecar)) => {
            let with_sidecar =
                TxEip4844WithSidecar::from_tx_and_sidecar(signed.tx().tx().clone(), sidecar.clone());
            let pooled: PooledTransaction =
                Signed::new_unchecked(with_sidecar, *signed.signature(), *signed.hash()).into();
            pooled.encoded_2718()
        }
        _ => envelope.encoded_2718(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::TxEip1559;

    #[test]
    fn signature_recovers_to_the_signer() {
        let signer = LocalSigner::new(B256::repeat_byte(0x11)).unwrap();
        let signed =
            signer.sign(TxEip1559 { chain_id: 1, nonce: 3, gas_limit: 21_000, ..Default::default() });
        assert_eq!(signed.recover_signer().unwrap(), signer.address());
        assert!(LocalSigner::new(B256::ZERO).is_err(), "zero is not a valid secret key");
    }

    #[test]
    fn authorization_recovers_to_the_authority() {
        let signer = LocalSigner::new(B256::repeat_byte(0x22)).unwrap();
        let authorization = Authorization {
            chain_id: alloy_primitives::U256::from(901),
            address: Address::repeat_byte(5),
            nonce: 0,
        };
        let signed = signer.sign_authorization(authorization);
        assert_eq!(signed.recover_authority().unwrap(), signer.address());
    }
}
