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

/// kona-derive's blob source, reading a signed blob transaction with 16 blobs to the batch inbox, decodes our
/// blobs to the data we encoded (kona's blob decoder is only reachable this way).
#[madsim::test]
async fn kona_blob_source_decodes_our_blobs() {
    use alloy_consensus::{TxEip4844, TxEip4844Variant, TxEnvelope};
    use alloy_primitives::{Address, B256};
    use kona_derive::{
        test_utils::{TestBlobProvider, TestChainProvider},
        BlobSource, DataAvailabilityProvider,
    };
    use kona_protocol::BlockInfo;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rollsim::signer::LocalSigner;

    let signer = LocalSigner::new(B256::with_last_byte(7)).unwrap();
    let inbox = Address::with_last_byte(0xff);
    // Not empty data: its blob is all zeros, which kona's blob source treats as missing.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut lens = vec![1usize, 27, 28, 127, 128, 5_000, MAX_BLOB_DATA_SIZE];
    lens.extend((0..9).map(|_| rng.gen_range(1..=MAX_BLOB_DATA_SIZE)));
    let payloads: Vec<Vec<u8>> =
        lens.iter().map(|&len| (0..len).map(|_| rng.gen::<u8>()).collect()).collect();
    let mut blobs = TestBlobProvider::default();
    let mut hashes = Vec::new();
    for (i, data) in payloads.iter().enumerate() {
        let hash = B256::with_last_byte(i as u8 + 1);
        blobs.insert_blob(hash, encode_blob(data).unwrap());
        hashes.push(hash);
    }
    let tx = TxEip4844 { chain_id: 1, to: inbox, blob_versioned_hashes: hashes, ..Default::default() };
    let tx = TxEnvelope::Eip4844(signer.sign(TxEip4844Variant::TxEip4844(tx)));
    let block = BlockInfo { hash: B256::with_last_byte(0xb1), number: 1, ..Default::default() };
    let mut chain = TestChainProvider::default();
    chain.insert_block_with_transactions(1, block, vec![tx]);
    let mut source = BlobSource::new(chain, blobs, inbox);
    for data in payloads {
        let got = source.next(&block, signer.address()).await.expect("kona decodes the blob");
        assert_eq!(got.as_ref(), data.as_slice());
    }
}
