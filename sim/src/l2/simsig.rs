//! Simulated signatures for L2 user transactions.
//!
//! An hour of a busy L2 carries tens of thousands of user transactions; signing and recovering each
//! with secp256k1 (33 us + 48 us here) would cost seconds of every simulated hour. Nothing in
//! derivation checks L2 signatures, and execution only needs the sender, so the world signs L2
//! user transactions with this scheme: `r` is a 12-byte marker followed by the sender's address,
//! `s` is keccak256(signature hash ++ sender) shifted into the low half of the curve order (so it
//! binds the transaction's contents), `y_parity` is false. The encoding is an ordinary signature,
//! so transactions, batches and blocks carry exactly the bytes a real one would. Anyone who knows
//! the scheme could forge it; no actor in the world does. [`recover_signer`] falls back to
//! secp256k1 recovery, so really signed transactions work everywhere too.

use alloy_consensus::{SignableTransaction, Signed};
use alloy_primitives::{keccak256, Address, Signature, B256, U256};
use op_alloy_consensus::OpTxEnvelope;

const MARKER: [u8; 12] = *b"rollsim-sig\0";

fn binding(digest: B256, sender: Address) -> U256 {
    let mut input = [0u8; 52];
    input[..32].copy_from_slice(digest.as_slice());
    input[32..].copy_from_slice(sender.as_slice());
    U256::from_be_bytes(keccak256(input).0) >> 2
}

/// Signs `tx` as `sender` with the simulated scheme.
pub fn sign<T: SignableTransaction<Signature>>(tx: T, sender: Address) -> Signed<T> {
    let digest = tx.signature_hash();
    let mut r = [0u8; 32];
    r[..12].copy_from_slice(&MARKER);
    r[12..].copy_from_slice(sender.as_slice());
    let signature = Signature::new(U256::from_be_bytes(r), binding(digest, sender), false);
    tx.into_signed(signature)
}

/// Whether `signature` is a simulated one: `None` if it is not, else whether it verifies over
/// `digest` and for whom.
pub fn recover(signature: &Signature, digest: B256) -> Option<Result<Address, ()>> {
    let r = signature.r().to_be_bytes::<32>();
    if r[..12] != MARKER {
        return None;
    }
    let sender = Address::from_slice(&r[12..]);
    Some(if signature.s() == binding(digest, sender) && !signature.v() { Ok(sender) } else { Err(()) })
}

/// Why a transaction has no sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    #[error("invalid signature on transaction {0}")]
    InvalidSignature(B256),
}

/// The sender of an L2 transaction: the `from` of a deposit, the simulated signer, or the
/// secp256k1 signer.
pub fn recover_signer(tx: &OpTxEnvelope) -> Result<Address, RecoverError> {
    let invalid = || RecoverError::InvalidSignature(tx.tx_hash());
    let (signature, digest) = match tx {
        OpTxEnvelope::Deposit(deposit) => return Ok(deposit.from),
        OpTxEnvelope::Legacy(s) => (s.signature(), s.signature_hash()),
        OpTxEnvelope::Eip2930(s) => (s.signature(), s.signature_hash()),
        OpTxEnvelope::Eip1559(s) => (s.signature(), s.signature_hash()),
        OpTxEnvelope::Eip7702(s) => (s.signature(), s.signature_hash()),
    };
    match recover(signature, digest) {
        Some(result) => result.map_err(|()| invalid()),
        None => alloy_consensus::crypto::secp256k1::recover_signer(signature, digest).map_err(|_| invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::TxEip1559;
    use rollsim::signer::LocalSigner;

    fn tx(nonce: u64) -> TxEip1559 {
        TxEip1559 { chain_id: 901, nonce, gas_limit: 21_000, ..Default::default() }
    }

    #[test]
    fn simulated_signature_names_its_sender_and_binds_the_contents() {
        let alice = Address::repeat_byte(0xa1);
        let signed = sign(tx(7), alice);
        let envelope = OpTxEnvelope::Eip1559(signed.clone());
        assert_eq!(recover_signer(&envelope), Ok(alice));
        // The same signature on other contents does not verify.
        let moved = OpTxEnvelope::Eip1559(Signed::new_unchecked(tx(8), *signed.signature(), B256::ZERO));
        assert!(recover_signer(&moved).is_err());
    }

    #[test]
    fn real_signatures_still_recover() {
        let signer = LocalSigner::new(B256::repeat_byte(3)).unwrap();
        let envelope = OpTxEnvelope::Eip1559(signer.sign(tx(1)));
        assert_eq!(recover_signer(&envelope), Ok(signer.address()));
    }
}
