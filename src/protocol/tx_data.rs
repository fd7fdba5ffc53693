//! Batcher transaction data: what goes into the calldata (or one blob) of a transaction to the
//! batch inbox.
//!
//! Version 0x00 is followed by one or more frames, with no bytes left over (the rollup node drops the
//! whole transaction otherwise). AltDA version 0x01 carries only a commitment; the AltDA server holds
//! the version-0 data it commits to.

use super::frame::{parse_frames, Frame, FrameError};
use alloy_primitives::{keccak256, B256};
use thiserror::Error;

/// Version byte of frame-carrying batcher data.
pub const DERIVATION_VERSION_0: u8 = 0x00;
/// Version byte of AltDA commitment data.
pub const ALT_DA_VERSION: u8 = 0x01;
/// Commitment type: keccak256 of the input (32 bytes).
pub const COMMITMENT_TYPE_KECCAK: u8 = 0x00;
/// Commitment type: opaque, DA-layer specific bytes.
pub const COMMITMENT_TYPE_GENERIC: u8 = 0x01;

/// Why bytes are not version-0 batcher data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TxDataError {
    #[error("empty batcher data")]
    Empty,
    #[error("version byte {0:#04x} is not {DERIVATION_VERSION_0:#04x}")]
    WrongVersion(u8),
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// `0x00 ++ frames`: calldata of a calldata batcher tx, or the data of one blob (one frame).
pub fn calldata_from_frames(frames: &[Frame]) -> Vec<u8> {
    let len = 1 + frames.iter().map(Frame::encoded_len).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.push(DERIVATION_VERSION_0);
    for frame in frames {
        frame.encode_into(&mut out);
    }
    out
}

/// Parses version-0 batcher data into its frames.
pub fn parse_tx_data(data: &[u8]) -> Result<Vec<Frame>, TxDataError> {
    let (&version, frames) = data.split_first().ok_or(TxDataError::Empty)?;
    if version != DERIVATION_VERSION_0 {
        return Err(TxDataError::WrongVersion(version));
    }
    Ok(parse_frames(frames)?)
}

/// An AltDA commitment as carried on L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltDaCommitment {
    /// keccak256 of the version-0 data held by the DA server.
    Keccak(B256),
    /// DA-layer specific commitment bytes.
    Generic(Vec<u8>),
}

/// Why bytes are not AltDA batcher data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AltDaError {
    #[error("empty AltDA data")]
    Empty,
    #[error("version byte {0:#04x} is not {ALT_DA_VERSION:#04x}")]
    WrongVersion(u8),
    #[error("missing commitment type")]
    MissingType,
    #[error("unknown commitment type {0:#04x}")]
    UnknownType(u8),
    #[error("keccak commitment is {0} bytes, not 32")]
    BadKeccakLength(usize),
    #[error("empty generic commitment")]
    EmptyGeneric,
}

/// The keccak commitment to AltDA input (itself `0x00 ++ frame`).
pub fn keccak_commitment(data: &[u8]) -> B256 {
    keccak256(data)
}

/// `0x01 ++ commitment type ++ commitment`: calldata of an AltDA batcher tx.
pub fn alt_da_tx_data(commitment: &AltDaCommitment) -> Vec<u8> {
    let (kind, bytes) = match commitment {
        AltDaCommitment::Keccak(hash) => (COMMITMENT_TYPE_KECCAK, hash.as_slice()),
        AltDaCommitment::Generic(bytes) => (COMMITMENT_TYPE_GENERIC, bytes.as_slice()),
    };
    let mut out = Vec::with_capacity(2 + bytes.len());
    out.extend_from_slice(&[ALT_DA_VERSION, kind]);
    out.extend_from_slice(bytes);
    out
}

/// Parses AltDA batcher data into its commitment.
pub fn parse_alt_da(data: &[u8]) -> Result<AltDaCommitment, AltDaError> {
    let (&version, rest) = data.split_first().ok_or(AltDaError::Empty)?;
    if version != ALT_DA_VERSION {
        return Err(AltDaError::WrongVersion(version));
    }
    let (&kind, commitment) = rest.split_first().ok_or(AltDaError::MissingType)?;
    match kind {
        COMMITMENT_TYPE_KECCAK => B256::try_from(commitment)
            .map(AltDaCommitment::Keccak)
            .map_err(|_| AltDaError::BadKeccakLength(commitment.len())),
        COMMITMENT_TYPE_GENERIC if commitment.is_empty() => Err(AltDaError::EmptyGeneric),
        COMMITMENT_TYPE_GENERIC => Ok(AltDaCommitment::Generic(commitment.to_vec())),
        other => Err(AltDaError::UnknownType(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_0_and_alt_da_round_trip_and_reject() {
        let frames = vec![
            Frame { id: [1; 16], number: 0, data: vec![9; 10], is_last: false },
            Frame { id: [1; 16], number: 1, data: vec![], is_last: true },
        ];
        let data = calldata_from_frames(&frames);
        assert_eq!(parse_tx_data(&data), Ok(frames));
        assert_eq!(parse_tx_data(&[]), Err(TxDataError::Empty));
        assert_eq!(parse_tx_data(&[1]), Err(TxDataError::WrongVersion(1)));
        assert_eq!(parse_tx_data(&[0]), Err(TxDataError::Frame(FrameError::NoFrames)));

        let keccak = AltDaCommitment::Keccak(keccak_commitment(&data));
        assert_eq!(parse_alt_da(&alt_da_tx_data(&keccak)), Ok(keccak));
        let generic = AltDaCommitment::Generic(vec![0xda, 1, 2]);
        assert_eq!(parse_alt_da(&alt_da_tx_data(&generic)), Ok(generic));
        assert_eq!(parse_alt_da(&[1, 0, 5]), Err(AltDaError::BadKeccakLength(1)));
        assert_eq!(parse_alt_da(&[1, 1]), Err(AltDaError::EmptyGeneric));
        assert_eq!(parse_alt_da(&[1, 7]), Err(AltDaError::UnknownType(7)));
        assert_eq!(parse_alt_da(&[1]), Err(AltDaError::MissingType));
        assert_eq!(parse_alt_da(&[0]), Err(AltDaError::WrongVersion(0)));
    }
}
