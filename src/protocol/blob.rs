//! Blob encoding, version 0: how batcher data fills an EIP-4844 blob.
//!
//! A blob is 4096 field elements of 32 bytes, and each element must stay below the BLS modulus, so
//! its top two bits are unusable. The encoding packs rounds of 127 bytes into 4 elements: each
//! element carries 31 bytes in bytes 1..32 and 6 bits in byte 0, and the four 6-bit pieces
//! reassemble 3 more bytes. Round 0 starts with the version byte and a 3-byte big-endian length.

use alloy_eips::eip4844::{Blob, BYTES_PER_BLOB};
use thiserror::Error;

/// The only blob encoding version.
pub const BLOB_ENCODING_VERSION: u8 = 0;
/// Field elements per blob.
pub const FIELD_ELEMENTS_PER_BLOB: usize = 4096;
const ROUNDS: usize = FIELD_ELEMENTS_PER_BLOB / 4;
/// Payload bytes per round of 4 field elements.
const ROUND_BYTES: usize = 4 * 31 + 3;
/// The largest payload a blob carries: 1024 rounds of 127 bytes minus the 4-byte header.
pub const MAX_BLOB_DATA_SIZE: usize = ROUND_BYTES * ROUNDS - 4;

/// Why data cannot be encoded into, or decoded from, a blob.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlobError {
    #[error("data of {0} bytes exceeds the blob maximum {MAX_BLOB_DATA_SIZE}")]
    TooLarge(usize),
    #[error("blob encoding version {0} is not 0")]
    BadVersion(u8),
    #[error("declared length {0} exceeds the blob maximum {MAX_BLOB_DATA_SIZE}")]
    BadLength(usize),
    #[error("field element {0} has its top two bits set")]
    HighBitsSet(usize),
    #[error("non-zero bytes after the declared length")]
    TrailingNonZero,
}

/// Encodes up to [`MAX_BLOB_DATA_SIZE`] bytes into a version-0 blob.
pub fn encode_blob(data: &[u8]) -> Result<Blob, BlobError> {
    if data.len() > MAX_BLOB_DATA_SIZE {
        return Err(BlobError::TooLarge(data.len()));
    }
    // The stream a round consumes: header ++ data, zero padded. Round r takes bytes r*127..r*127+127.
    let mut input = vec![0u8; ROUND_BYTES * ROUNDS];
    input[0] = BLOB_ENCODING_VERSION;
    input[1..4].copy_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    input[4..4 + data.len()].copy_from_slice(data);
    let mut blob = Blob::ZERO;
    let used_rounds = (4 + data.len()).div_ceil(ROUND_BYTES);
    for round in 0..used_rounds {
        let src = &input[round * ROUND_BYTES..(round + 1) * ROUND_BYTES];
        let dst = &mut blob[round * 128..(round + 1) * 128];
        // Layout of the 127 bytes: 31 (fe0) x 31 (fe1) y 31 (fe2) z 31 (fe3).
        let (x, y, z) = (src[31], src[63], src[95]);
        let tops =
            [x & 0x3F, (y & 0x0F) | ((x & 0xC0) >> 2), z & 0x3F, ((z & 0xC0) >> 2) | ((y & 0xF0) >> 4)];
        let bodies = [&src[0..31], &src[32..63], &src[64..95], &src[96..127]];
        for fe in 0..4 {
            dst[fe * 32] = tops[fe];
            dst[fe * 32 + 1..fe * 32 + 32].copy_from_slice(bodies[fe]);
        }
    }
    Ok(blob)
}

/// Decodes a version-0 blob back into its data.
pub fn decode_blob(blob: &Blob) -> Result<Vec<u8>, BlobError> {
    let mut stream = vec![0u8; ROUND_BYTES * ROUNDS];
    for round in 0..ROUNDS {
        let src = &blob[round * 128..(round + 1) * 128];
        let mut tops = [0u8; 4];
        for (fe, top) in tops.iter_mut().enumerate() {
            *top = src[fe * 32];
            if *top & 0xC0 != 0 {
                return Err(BlobError::HighBitsSet(round * 4 + fe));
            }
        }
        let dst = &mut stream[round * ROUND_BYTES..(round + 1) * ROUND_BYTES];
        for fe in 0..4 {
            dst[fe * 32..fe * 32 + 31].copy_from_slice(&src[fe * 32 + 1..fe * 32 + 32]);
        }
        dst[31] = (tops[0] & 0x3F) | ((tops[1] & 0x30) << 2);
        dst[63] = (tops[1] & 0x0F) | ((tops[3] & 0x0F) << 4);
        dst[95] = (tops[2] & 0x3F) | ((tops[3] & 0x30) << 2);
    }
    if stream[0] != BLOB_ENCODING_VERSION {
        return Err(BlobError::BadVersion(stream[0]));
    }
    let len = u32::from_be_bytes([0, stream[1], stream[2], stream[3]]) as usize;
    if len > MAX_BLOB_DATA_SIZE {
        return Err(BlobError::BadLength(len));
    }
    if stream[4 + len..].iter().any(|&b| b != 0) {
        return Err(BlobError::TrailingNonZero);
    }
    debug_assert_eq!(blob.len(), BYTES_PER_BLOB);
    Ok(stream[4..4 + len].to_vec())
}
