//! Simulated KZG commitments for EIP-4844 blobs.
//!
//! A real KZG commitment (c-kzg with the trusted setup) costs milliseconds per blob, which would
//! dominate a simulated hour of blob posting. Nothing in the world needs the algebra: the fake L1
//! checks that every versioned hash comes from a commitment bound to its blob, and kona-derive's
//! blob source does not verify KZG at all. So a commitment here is `sha256(blob)` followed by a
//! fixed 16-byte marker (48 bytes, as on Ethereum), the proof is the marker repeated, and the
//! versioned hash is derived exactly as on Ethereum (`0x01 ++ sha256(commitment)[1..]`).
//! Real commitments would be rejected by [`verify`], and these would be rejected by Ethereum.
//!
//! Osaka's EIP-7594 sidecars (wrapper version 1) carry 128 cell proofs per blob instead of one
//! blob proof. A simulated cell proof is `sha256(commitment ++ cell index)` followed by the
//! marker: the bytes and sizes are real (48 bytes each, 6 KiB per blob), and a proof bound to
//! another blob or cell is refused, but no cell is opened: computing a blob's real cell proofs
//! (extending it and opening 128 cells) costs far more than a blob proof, and nothing in the
//! world samples cells.

use alloy_eips::{
    eip4844::{kzg_to_versioned_hash, Blob, BlobTransactionSidecar, Bytes48},
    eip7594::{BlobTransactionSidecarEip7594, BlobTransactionSidecarVariant, CELLS_PER_EXT_BLOB},
};
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

/// The simulated cell proofs of a blob with `commitment`: one per cell of the extended blob.
pub fn cell_proofs(commitment: &Bytes48) -> impl Iterator<Item = Bytes48> + '_ {
    (0..CELLS_PER_EXT_BLOB as u16).map(move |cell| {
        let mut hasher = Sha256::new();
        hasher.update(commitment.as_slice());
        hasher.update(cell.to_be_bytes());
        let mut out = [0u8; 48];
        out[..32].copy_from_slice(&hasher.finalize());
        out[32..].copy_from_slice(&MARKER);
        Bytes48::from(out)
    })
}

/// An EIP-7594 sidecar (wrapper version 1) for `blobs`: simulated commitments and, blob by blob,
/// their [`cell_proofs`].
pub fn cell_sidecar(blobs: Vec<Blob>) -> BlobTransactionSidecarEip7594 {
    let commitments: Vec<Bytes48> = blobs.iter().map(commitment).collect();
    let cell_proofs = commitments.iter().flat_map(cell_proofs).collect();
    BlobTransactionSidecarEip7594 { blobs, commitments, cell_proofs }
}

/// A sidecar of the version asked for: cell proofs (Osaka) or one proof per blob (before).
pub fn sidecar_variant(blobs: Vec<Blob>, cell_proofs: bool) -> BlobTransactionSidecarVariant {
    if cell_proofs {
        BlobTransactionSidecarVariant::Eip7594(cell_sidecar(blobs))
    } else {
        BlobTransactionSidecarVariant::Eip4844(sidecar(blobs))
    }
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
    /// A cell-proof sidecar has other than 128 proofs per blob.
    #[error("sidecar has {proofs} cell proofs for {blobs} blobs, want {CELLS_PER_EXT_BLOB} per blob")]
    CellProofCount { blobs: usize, proofs: usize },
    /// A cell proof is not the proof of its blob's cell.
    #[error("blob {index}: cell proof {cell} does not open the blob's cell")]
    CellProof { index: usize, cell: usize },
}

/// Checks that `sidecar` carries one blob per versioned hash, each committed to as [`commitment`]
/// does, with commitments that derive `versioned_hashes`.
pub fn verify(sidecar: &BlobTransactionSidecar, versioned_hashes: &[B256]) -> Result<(), SidecarError> {
    verify_commitments(&sidecar.blobs, &sidecar.commitments, sidecar.proofs.len(), versioned_hashes)
}

/// One blob per versioned hash, and one commitment and `proofs` proofs (or proof sets) per blob,
/// each commitment bound to its blob and deriving its versioned hash.
fn verify_commitments(
    blobs: &[Blob],
    commitments: &[Bytes48],
    proofs: usize,
    versioned_hashes: &[B256],
) -> Result<(), SidecarError> {
    let counts = [blobs.len(), commitments.len(), proofs];
    if counts.iter().any(|&n| n != versioned_hashes.len()) {
        return Err(SidecarError::CountMismatch {
            blobs: counts[0],
            commitments: counts[1],
            proofs: counts[2],
            hashes: versioned_hashes.len(),
        });
    }
    for (index, ((blob, commitment_), expected)) in
        blobs.iter().zip(commitments).zip(versioned_hashes).enumerate()
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

/// Checks a sidecar of either version against the transaction's versioned hashes.
pub fn verify_variant(
    sidecar: &BlobTransactionSidecarVariant,
    versioned_hashes: &[B256],
) -> Result<(), SidecarError> {
    match sidecar {
        BlobTransactionSidecarVariant::Eip4844(sidecar) => verify(sidecar, versioned_hashes),
        BlobTransactionSidecarVariant::Eip7594(sidecar) => verify_cells(sidecar, versioned_hashes),
    }
}

/// Checks an EIP-7594 sidecar: as [`verify`], with 128 cell proofs per blob bound to its cells.
fn verify_cells(
    sidecar: &BlobTransactionSidecarEip7594,
    versioned_hashes: &[B256],
) -> Result<(), SidecarError> {
    let blobs = sidecar.blobs.len();
    if sidecar.cell_proofs.len() != blobs * CELLS_PER_EXT_BLOB {
        return Err(SidecarError::CellProofCount { blobs, proofs: sidecar.cell_proofs.len() });
    }
    verify_commitments(&sidecar.blobs, &sidecar.commitments, blobs, versioned_hashes)?;
    for (index, (commitment, proofs)) in
        sidecar.commitments.iter().zip(sidecar.cell_proofs.chunks(CELLS_PER_EXT_BLOB)).enumerate()
    {
        if let Some(cell) = cell_proofs(commitment).zip(proofs).position(|(want, have)| want != *have) {
            return Err(SidecarError::CellProof { index, cell });
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

    #[test]
    fn cell_sidecar_carries_128_proofs_per_blob_bound_to_their_cells() {
        let sc = cell_sidecar(vec![blob(1), blob(2)]);
        assert_eq!(sc.cell_proofs.len(), 256);
        let hashes = sc.versioned_hashes().collect::<Vec<_>>();
        let variant = BlobTransactionSidecarVariant::Eip7594(sc.clone());
        assert_eq!(verify_variant(&variant, &hashes), Ok(()));
        // Same versioned hashes as the version-0 sidecar of the same blobs.
        assert_eq!(sidecar(vec![blob(1), blob(2)]).versioned_hashes().collect::<Vec<_>>(), hashes);

        let mut swapped = sc.clone();
        swapped.cell_proofs.swap(128 + 3, 128 + 4);
        let swapped = BlobTransactionSidecarVariant::Eip7594(swapped);
        assert_eq!(verify_variant(&swapped, &hashes), Err(SidecarError::CellProof { index: 1, cell: 3 }));
        let mut short = sc;
        short.cell_proofs.pop();
        let short = BlobTransactionSidecarVariant::Eip7594(short);
        assert_eq!(
            verify_variant(&short, &hashes),
            Err(SidecarError::CellProofCount { blobs: 2, proofs: 255 })
        );
    }
}
