//! The fake L1's chain rules, driven slot by slot without a runtime.
#![cfg(madsim)]

use alloy_eips::{
    eip1559::{calc_next_block_base_fee, BaseFeeParams},
    eip4844::Blob,
    eip7840::BlobParams,
    BlockNumberOrTag,
};
use alloy_primitives::{address, Address, Bytes, B256, U256};
use rollsim::signer::LocalSigner;
use rollsim_sim::{
    l1::{
        chain::{L1Chain, ReorgError},
        traffic::TrafficConfig,
        tx::TxPoolError,
        wallet::{Fees, Wallet},
        L1Config, OrphanPolicy,
    },
    seed,
};

const INBOX: Address = address!("ff00000000000000000000000000000000000901");
const GWEI: u128 = 1_000_000_000;

fn chain(config: L1Config) -> L1Chain {
    L1Chain::new(config, seed::stream(1, "traffic"), seed::stream(1, "randao"))
}

fn quiet() -> L1Config {
    L1Config { traffic: TrafficConfig { enabled: false, ..Default::default() }, ..Default::default() }
}

fn wallet(chain: &mut L1Chain, key: u8) -> Wallet {
    let signer = LocalSigner::new(B256::repeat_byte(key)).unwrap();
    chain.fund(signer.address(), U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18)));
    Wallet { signer, chain_id: chain.config().chain_id }
}

fn fees(max_fee: u128, tip: u128) -> Fees {
    Fees { max_fee_per_gas: max_fee, max_priority_fee_per_gas: tip, max_fee_per_blob_gas: max_fee }
}

fn next_slot(chain: &mut L1Chain) {
    let slot = chain.head().slot + 1;
    chain.produce_block(slot).expect("not stalled");
}

#[test]
fn base_fee_and_blob_fee_follow_alloy_eips_formulas() {
    let mut c = chain(L1Config::default());
    let mut next_blob_fees = Vec::new();
    for _ in 0..600 {
        next_blob_fees.push((c.next_base_fee(), c.next_blob_fee()));
        next_slot(&mut c);
    }
    let blocks = c.canonical();
    let params = BlobParams::prague();
    for (pair, (predicted_base_fee, predicted_blob_fee)) in blocks.windows(2).zip(&next_blob_fees) {
        let (parent, block) = (&pair[0].header, &pair[1]);
        let base_fee = calc_next_block_base_fee(
            parent.gas_used,
            parent.gas_limit,
            parent.base_fee_per_gas.unwrap(),
            BaseFeeParams::ethereum(),
        );
        let excess = params.next_block_excess_blob_gas_osaka(
            parent.excess_blob_gas.unwrap(),
            parent.blob_gas_used.unwrap(),
            parent.base_fee_per_gas.unwrap(),
        );
        assert_eq!(block.header.base_fee_per_gas, Some(base_fee), "block {}", block.number());
        assert_eq!(block.header.excess_blob_gas, Some(excess), "block {}", block.number());
        assert_eq!(block.blob_fee(), params.calc_blob_fee(excess));
        assert_eq!(
            (*predicted_base_fee, *predicted_blob_fee),
            (base_fee, block.blob_fee()),
            "RPC fee answers"
        );
        assert!(block.header.gas_used <= block.header.gas_limit);
        assert!(block.header.blob_gas_used.unwrap() <= params.max_blob_gas_per_block());
    }
    // Background traffic really moves both markets.
    let base_fees: Vec<u64> = blocks.iter().map(|b| b.base_fee()).collect();
    let blob_fees: Vec<u128> = blocks.iter().map(|b| b.blob_fee()).collect();
    assert!(base_fees.iter().max() > base_fees.iter().min(), "base fee never moved");
    assert!(blob_fees.iter().max().unwrap() > &1, "blob fee never left its floor");
    assert!(blocks.iter().any(|b| b.header.blob_gas_used.unwrap() == params.max_blob_gas_per_block()));
}

#[test]
fn replacement_needs_ten_percent_and_blob_replacement_double() {
    let mut c = chain(quiet());
    let alice = wallet(&mut c, 1);
    c.submit_raw(&alice.call(0, INBOX, Bytes::from_static(b"a"), fees(100 * GWEI, GWEI))).unwrap();
    let nine = alice.call(0, INBOX, Bytes::from_static(b"b"), fees(109 * GWEI, 1_090_000_000));
    assert_eq!(c.submit_raw(&nine), Err(TxPoolError::ReplaceUnderpriced));
    let ten = alice.call(0, INBOX, Bytes::from_static(b"c"), fees(110 * GWEI, 1_100_000_000));
    let replacement = c.submit_raw(&ten).unwrap();
    assert_eq!(c.pool().len(), 1);
    next_slot(&mut c);
    assert_eq!(c.receipt(&replacement).unwrap().block_number, 1);

    let bob = wallet(&mut c, 2);
    let blob = |byte, f| bob.blob_tx(0, INBOX, vec![Blob::repeat_byte(byte)], f);
    c.submit_raw(&blob(1, fees(10 * GWEI, GWEI))).unwrap();
    assert_eq!(
        c.submit_raw(&blob(2, fees(19_900_000_000, 1_990_000_000))),
        Err(TxPoolError::ReplaceUnderpriced)
    );
    c.submit_raw(&blob(3, fees(20 * GWEI, 2 * GWEI))).unwrap();
    assert_eq!(c.pool().len(), 1);
}

#[test]
fn a_sender_is_reserved_by_one_subpool_both_ways() {
    let mut c = chain(quiet());
    let alice = wallet(&mut c, 1);
    c.submit_raw(&alice.call(0, INBOX, Bytes::new(), fees(10 * GWEI, GWEI))).unwrap();
    let blob = alice.blob_tx(1, INBOX, vec![Blob::repeat_byte(1)], fees(10 * GWEI, GWEI));
    assert_eq!(c.submit_raw(&blob), Err(TxPoolError::AlreadyReserved));
    // Even replacing the pending non-blob tx with a blob tx is refused.
    let blob = alice.blob_tx(0, INBOX, vec![Blob::repeat_byte(1)], fees(100 * GWEI, 10 * GWEI));
    assert_eq!(c.submit_raw(&blob), Err(TxPoolError::AlreadyReserved));

    let bob = wallet(&mut c, 2);
    c.submit_raw(&bob.blob_tx(0, INBOX, vec![Blob::repeat_byte(2)], fees(10 * GWEI, GWEI))).unwrap();
    let call = bob.call(1, INBOX, Bytes::new(), fees(10 * GWEI, GWEI));
    assert_eq!(c.submit_raw(&call), Err(TxPoolError::AlreadyReserved));

    // Once the block includes them, the reservation is released.
    next_slot(&mut c);
    c.submit_raw(&alice.blob_tx(1, INBOX, vec![Blob::repeat_byte(3)], fees(10 * GWEI, GWEI))).unwrap();
    c.submit_raw(&bob.call(1, INBOX, Bytes::new(), fees(10 * GWEI, GWEI))).unwrap();
}

#[test]
fn nonce_gaps_wait_and_fill_in_order() {
    let mut c = chain(quiet());
    let alice = wallet(&mut c, 1);
    let later = c.submit_raw(&alice.call(1, INBOX, Bytes::new(), fees(10 * GWEI, GWEI))).unwrap();
    assert_eq!(c.nonce(&alice.address(), true), 0, "a gapped tx is not pending");
    next_slot(&mut c);
    assert!(c.receipt(&later).is_none(), "nonce 1 waits for nonce 0");
    assert!(c.pool().contains(&later));
    let first = c.submit_raw(&alice.call(0, INBOX, Bytes::new(), fees(10 * GWEI, GWEI))).unwrap();
    assert_eq!(c.nonce(&alice.address(), true), 2);
    next_slot(&mut c);
    let (r0, r1) = (c.receipt(&first).unwrap(), c.receipt(&later).unwrap());
    assert_eq!((r0.block_number, r1.block_number), (2, 2));
    assert!(r0.transaction_index < r1.transaction_index);
    // Blob transactions may not leave a gap.
    let bob = wallet(&mut c, 2);
    let gapped = bob.blob_tx(1, INBOX, vec![Blob::repeat_byte(1)], fees(10 * GWEI, GWEI));
    assert!(matches!(c.submit_raw(&gapped), Err(TxPoolError::NonceTooHigh { nonce: 1, next: 0 })));
}

#[test]
fn stateless_and_stateful_rejections_name_the_problem() {
    let mut c = chain(quiet());
    let alice = wallet(&mut c, 1);
    c.submit_raw(&alice.call(0, INBOX, Bytes::new(), fees(10 * GWEI, GWEI))).unwrap();
    next_slot(&mut c);
    let low = alice.call(0, INBOX, Bytes::new(), fees(10 * GWEI, GWEI));
    assert!(matches!(c.submit_raw(&low), Err(TxPoolError::NonceTooLow { next: 1, nonce: 0 })));
    let known = alice.call(1, INBOX, Bytes::new(), fees(10 * GWEI, GWEI));
    c.submit_raw(&known).unwrap();
    assert_eq!(c.submit_raw(&known), Err(TxPoolError::AlreadyKnown));

    let poor = Wallet { signer: LocalSigner::new(B256::repeat_byte(9)).unwrap(), chain_id: 900 };
    let e = c.submit_raw(&poor.call(0, INBOX, Bytes::new(), fees(10 * GWEI, GWEI))).unwrap_err();
    assert!(e.to_string().starts_with("insufficient funds for gas * price + value"), "{e}");

    let other_chain = Wallet { chain_id: 1, ..alice.clone() };
    let e = c.submit_raw(&other_chain.call(2, INBOX, Bytes::new(), fees(10 * GWEI, GWEI))).unwrap_err();
    assert!(matches!(e, TxPoolError::InvalidChainId { have: Some(1), want: 900 }));

    let e = c.submit_raw(&alice.call(2, INBOX, Bytes::new(), fees(GWEI, 2 * GWEI))).unwrap_err();
    assert_eq!(e, TxPoolError::TipAboveFeeCap);

    let e = c.submit_raw(&alice.call(2, INBOX, vec![1u8; 140_000].into(), fees(GWEI, GWEI))).unwrap_err();
    assert!(matches!(e, TxPoolError::Oversized { .. }), "{e}");

    assert!(matches!(c.submit_raw(&[0x02, 0xc0, 0x01]), Err(TxPoolError::Decode(_))));
    assert!(matches!(c.submit_raw(&[]), Err(TxPoolError::Decode(_))));

    // A sidecar whose blob does not match its commitment.
    let mut raw = alice.blob_tx(2, INBOX, vec![Blob::repeat_byte(1)], fees(10 * GWEI, GWEI)).to_vec();
    let inside_blob = raw.len() - 1_000; // commitments and proofs take the last ~110 bytes
    raw[inside_blob] ^= 0xff;
    let e = c.submit_raw(&raw).unwrap_err();
    assert!(matches!(e, TxPoolError::InvalidSidecar(_)), "{e}");
}

#[test]
fn intrinsic_gas_and_calldata_floor_are_enforced() {
    use alloy_consensus::{TxEip1559, TxEnvelope};
    let mut c = chain(quiet());
    let alice = wallet(&mut c, 1);
    let data = Bytes::from(vec![7u8; 1000]); // 4000 tokens: intrinsic 37,000, floor 61,000
    let raw = |gas_limit| {
        let tx = TxEip1559 {
            chain_id: 900,
            gas_limit,
            max_fee_per_gas: 10 * GWEI,
            max_priority_fee_per_gas: GWEI,
            to: INBOX.into(),
            input: data.clone(),
            ..Default::default()
        };
        let envelope: TxEnvelope = alice.signer.sign(tx).into();
        rollsim::signer::encode_network(&envelope, None)
    };
    assert_eq!(c.submit_raw(&raw(36_999)), Err(TxPoolError::IntrinsicGas { gas: 36_999, needed: 37_000 }));
    assert_eq!(c.submit_raw(&raw(60_999)), Err(TxPoolError::FloorDataGas { gas: 60_999, needed: 61_000 }));
    let hash = c.submit_raw(&raw(61_000)).unwrap();
    next_slot(&mut c);
    assert_eq!(c.receipt(&hash).unwrap().gas_used, 61_000);
}

/// A chain whose safe head follows the head closely, so reorgs can cross it.
fn reorg_chain(policy: OrphanPolicy) -> L1Chain {
    chain(L1Config {
        orphaned_txs: policy,
        epoch_slots: 4,
        safe_lag_epochs: 1,
        finalized_lag_epochs: 3,
        ..quiet()
    })
}

#[test]
fn reorg_moves_heads_back_and_reincludes_orphans() {
    let mut c = reorg_chain(OrphanPolicy::Reinclude);
    let alice = wallet(&mut c, 1);
    for _ in 0..20 {
        next_slot(&mut c);
    }
    let hash = c.submit_raw(&alice.call(0, INBOX, Bytes::new(), fees(10 * GWEI, GWEI))).unwrap();
    next_slot(&mut c);
    let included = c.receipt(&hash).unwrap().clone();
    for _ in 0..2 {
        next_slot(&mut c);
    }
    let (head, safe) = (c.head().number(), c.safe().number());
    assert_eq!((head, safe), (23, 16));
    let old_blocks: Vec<B256> = c.canonical()[20..].iter().map(|b| b.hash).collect();

    // Depth 8 with a branch of 4: the fork point is below the safe head.
    let report = c.reorg(8, 4).unwrap();
    assert_eq!(report.fork.number, 15);
    assert_eq!(c.head().number(), 19, "the head moved back");
    assert_eq!(c.safe().number(), 15, "a reorg below the safe head moves it to the fork point");
    assert!(c.finalized().number() <= 15);
    assert!(c.receipt(&hash).is_none(), "the orphaned receipt is gone");
    assert_eq!(c.account(&alice.address()).nonce, 0, "state rolled back");
    assert!(c.pool().contains(&hash), "the orphan is back in the pool");
    for old in &old_blocks {
        assert!(c.block_by_hash(old).is_some(), "side blocks are still served by hash");
        assert_ne!(c.block_by_number(c.block_by_hash(old).unwrap().number()).map(|b| b.hash), Some(*old));
    }
    next_slot(&mut c);
    let again = c.receipt(&hash).expect("re-included");
    assert_ne!(again.block_hash, included.block_hash);
    assert_eq!(again.block_number, 20);
    assert_eq!(c.account(&alice.address()).nonce, 1);
}

#[test]
fn reorg_can_drop_orphans_and_never_reverts_finality() {
    let mut c = reorg_chain(OrphanPolicy::Drop);
    let alice = wallet(&mut c, 1);
    for _ in 0..20 {
        next_slot(&mut c);
    }
    let hash = c.submit_raw(&alice.call(0, INBOX, Bytes::new(), fees(10 * GWEI, GWEI))).unwrap();
    next_slot(&mut c);
    let report = c.reorg(1, 1).unwrap();
    assert_eq!(report.orphaned, 1);
    assert_eq!(report.readded, 0);
    assert_eq!(c.head().number(), 21, "same height, other block");
    assert_ne!(c.head().hash, report.old_head.hash);
    assert!(!c.pool().contains(&hash) && c.receipt(&hash).is_none(), "the tx is lost");
    next_slot(&mut c);
    assert!(c.receipt(&hash).is_none());
    assert_eq!(c.nonce(&alice.address(), true), 0, "the sender must resend nonce 0");

    let finalized = c.finalized().number();
    let depth = c.head().number() - finalized + 1;
    assert!(matches!(c.reorg(depth, 1), Err(ReorgError::BelowFinalized { .. })));
    assert_eq!(c.reorg(0, 0), Err(ReorgError::ZeroDepth));
    assert!(c.block_by_tag(BlockNumberOrTag::Finalized).is_some());
}

#[test]
fn blobs_are_served_by_versioned_hash() {
    let mut c = chain(quiet());
    let alice = wallet(&mut c, 1);
    let blobs = [Box::new(Blob::repeat_byte(0xaa)), Box::new(Blob::repeat_byte(0xbb))];
    let unboxed: Vec<Blob> = blobs.iter().map(|b| **b).collect();
    let hashes: Vec<B256> = rollsim::kzg::sidecar(unboxed.clone()).versioned_hashes().collect();
    c.submit_raw(&alice.blob_tx(0, INBOX, unboxed, fees(10 * GWEI, GWEI))).unwrap();
    next_slot(&mut c);
    let block = c.head().hash;
    assert_eq!(c.head().header.blob_gas_used, Some(2 * 131_072));
    let all = c.blobs(&block, &[]).unwrap();
    assert_eq!(all, vec![(hashes[0], blobs[0].clone()), (hashes[1], blobs[1].clone())]);
    assert_eq!(c.blobs(&block, &hashes[1..]).unwrap(), vec![(hashes[1], blobs[1].clone())]);
    assert_eq!(c.blobs(&B256::ZERO, &[]), None);
}
