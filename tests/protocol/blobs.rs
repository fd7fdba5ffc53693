//! Blob encoding round trips and its rejections.

use alloy_eips::eip4844::Blob;
use proptest::prelude::*;
use rollsim::protocol::blob::{decode_blob, encode_blob, BlobError, MAX_BLOB_DATA_SIZE};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any data up to the maximum survives encode then decode, and every field element stays
    /// below 2^254 (top two bits clear).
    #[test]
    fn blob_round_trip(len in prop_oneof![0usize..300, 0usize..=MAX_BLOB_DATA_SIZE, Just(MAX_BLOB_DATA_SIZE)], seed: u8) {
        let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8).collect();
        let blob = encode_blob(&data).expect("fits");
        prop_assert!(blob.chunks(32).all(|fe| fe[0] & 0xC0 == 0));
        prop_assert_eq!(decode_blob(&blob).expect("decodes"), data);
    }
}

#[test]
fn blob_rejections() {
    assert_eq!(
        encode_blob(&vec![1; MAX_BLOB_DATA_SIZE + 1]),
        Err(BlobError::TooLarge(MAX_BLOB_DATA_SIZE + 1))
    );
    assert_eq!(MAX_BLOB_DATA_SIZE, 130_044);
    let blob = encode_blob(b"hello").unwrap();
    // The first field element holds the version byte right after its 6-bit piece.
    let mut bad = blob;
    bad[1] = 1;
    assert_eq!(decode_blob(&bad), Err(BlobError::BadVersion(1)));
    let mut high = blob;
    high[32 * 7] = 0x40;
    assert_eq!(decode_blob(&high), Err(BlobError::HighBitsSet(7)));
    let mut trailing = blob;
    trailing[4000] = 1;
    assert_eq!(decode_blob(&trailing), Err(BlobError::TrailingNonZero));
    let mut long = blob;
    long[2..5].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
    assert_eq!(decode_blob(&long), Err(BlobError::BadLength(0xFF_FFFF)));
    assert_eq!(decode_blob(&Blob::ZERO), Ok(vec![]));
}
