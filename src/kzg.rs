//! Simulated KZG commitments for EIP-4844 blobs.
//!
//! A real KZG commitment (c-kzg with the trusted setup) costs milliseconds per blob, which would
//! dominate a simulated hour of blob posting. Nothing in the world needs the algebra: the fake L1
//! checks that every versioned hash comes from a commitment bound to its blob, and kona-derive's
//! blob source does not verify KZG at all. So a commitment here is `sha256(blob)` followed by a
//! fixed 16-byte marker (48 bytes, as on Ethereum), the proof is the marker repeated, and the
//! versioned hash is derived exactly as on Ethereum (`0x01 ++ sha256(commitment)[1..]`).
//! Real commitments would be rejected by [`verify`], and these would be rejected by Ethereum.

use alloy_eips::eip4844::{kzg_to_versioned_hash, Blob, BlobTransactionSidecar, Bytes48};
use alloy_primitives::B256;
use sha2::{Digest, Sha256};

/// Tail of every simulated commitment: distinguishes them from real KZG points.
const MARKER: [u8; 16] = *b"rollsim-sim-kzg!";

/// The simulated commitment to `blob`.
pub fn commitment(blob: &Blob) -> Bytes48 {
    let mut out = [0u8; 48];
    out[..32].copy_from_slice(&Sha256::digest(blob.as_slice()));
    out[32..].copy_from_slice(&MARKER);
    Bytes48::from(out)
}

/// The simulated proof for a blob: constant, since there is no opening to prove.
pub fn proof() -> Bytes48 {
    let mut out = [0u8; 48];
    for chunk in out.chunks_mut(MARKER.len()) {
        chunk.copy_from_slice(&MARKER);
    }
    Bytes48::from(out)
}

/// A sidecar for `blobs` with simulated commitments and proofs.
pub fn sidecar(blobs: Vec<Blob>) -> BlobTransactionSidecar {
    let commitments = blobs.iter().map(commitment).collect();
    let proofs = vec![proof(); blobs.len()];
    BlobTransactionSidecar { blobs, commitments, proofs }
}

/// Why a sidecar does not match a blob transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SidecarError {
    /// Blob, commitment, proof and versioned-hash counts differ.
    #[error(
        "sidecar has {blobs} blobs, {commitments} commitments, {proofs} proofs for {hashes} versioned hashes"
    )]
    CountMismatch { blobs: usize, commitments: usize, proofs: usize, hashes: usize },
    /// A commitment does not derive the transaction's versioned hash.
    #[error("blob {index}: versioned hash {expected} does not match commitment (derives {actual})")]
    VersionedHash { index: usize, expected: B256, actual: B256 },
    /// A commitment is not the commitment of its blob.
    #[error("blob {index}: commitment does not commit to the blob")]
    Commitment { index: usize },
}

/// Checks that `sidecar` carries one blob per versioned hash, each committed to as [`commitment`]
/// does, with commitments that derive `versioned_hashes`.
pub fn verify(sidecar: &BlobTransactionSidecar, versioned_hashes: &[B256]) -> Result<(), SidecarError> {
    let counts = [sidecar.blobs.len(), sidecar.commitments.len(), sidecar.proofs.len()];
    if counts.iter().any(|&n| n != versioned_hashes.len()) {
        return Err(SidecarError::CountMismatch {
            blobs: counts[0],
            commitments: counts[1],
            proofs: counts[2],
            hashes: versioned_hashes.len(),
        });
    }
    for (index, ((blob, commitment_), expected)) in
        sidecar.blobs.iter().zip(&sidecar.commitments).zip(versioned_hashes).enumerate()
    {
        let actual = kzg_to_versioned_hash(commitment_.as_slice());
        if actual != *expected {
            return Err(SidecarError::VersionedHash { index, expected: *expected, actual });
        }
        if *commitment_ != commitment(blob) {
            return Err(SidecarError::Commitment { index });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(byte: u8) -> Blob {
        Blob::repeat_byte(byte)
    }

    #[test]
    fn sidecar_verifies_against_its_versioned_hashes() {
        let sidecar = sidecar(vec![blob(1), blob(2)]);
        let hashes = sidecar.versioned_hashes().collect::<Vec<_>>();
        assert_eq!(hashes[0][0], 0x01, "versioned hash version byte");
        assert_eq!(verify(&sidecar, &hashes), Ok(()));
    }

    #[test]
    fn tampered_blob_or_hash_is_rejected() {
        let mut sc = sidecar(vec![blob(1), blob(2)]);
        let hashes = sc.versioned_hashes().collect::<Vec<_>>();
        sc.blobs[1] = blob(3);
        assert_eq!(verify(&sc, &hashes), Err(SidecarError::Commitment { index: 1 }));

        let sc = sidecar(vec![blob(1)]);
        let wrong = [B256::repeat_byte(9)];
        assert!(matches!(verify(&sc, &wrong), Err(SidecarError::VersionedHash { index: 0, .. })));
        assert!(matches!(verify(&sc, &[]), Err(SidecarError::CountMismatch { .. })));
    }
}
