//! The fake L1's chain rules, driven slot by slot without a runtime.
use crate::{
    invariants,
    l1::{
        chain::{L1Chain, ReorgError},
        forks::{L1Fork, L1Forks},
        traffic::TrafficConfig,
        tx::TxPoolError,
        wallet::{Fees, Wallet},
        L1Config, OrphanPolicy,
    },
    seed,
};
use alloy_eips::{
    eip1559::{calc_next_block_base_fee, BaseFeeParams},
    eip4844::Blob,
    eip7840::BlobParams,
    BlockNumberOrTag,
};
use alloy_primitives::{address, Address, Bytes, B256, U256};
use rollsim::signer::LocalSigner;
use std::time::Duration;

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

/// Prague until 30 min, Osaka until 60, BPO1 until 90, then BPO2.
fn across_forks() -> L1Config {
    let min = |m: u64| Some(Duration::from_secs(m * 60));
    L1Config { forks: L1Forks { osaka: min(30), bpo1: min(60), bpo2: min(90) }, ..L1Config::default() }
}

/// alloy-eips' parameters for a block at `timestamp` under [`across_forks`], by the clock alone.
fn params_at(config: &L1Config, timestamp: u64) -> BlobParams {
    match (timestamp - config.genesis_timestamp) / 60 {
        0..30 => BlobParams::prague(),
        30..60 => BlobParams::osaka(),
        60..90 => BlobParams::bpo1(),
        _ => BlobParams::bpo2(),
    }
}

#[test]
fn base_fee_and_blob_fee_follow_alloy_eips_formulas_across_forks() {
    let config = across_forks();
    let mut c = chain(config.clone());
    let mut next_blob_fees = Vec::new();
    for _ in 0..600 {
        next_blob_fees.push((c.next_base_fee(), c.next_blob_fee()));
        next_slot(&mut c);
    }
    let blocks = c.canonical();
    for (pair, (predicted_base_fee, predicted_blob_fee)) in blocks.windows(2).zip(&next_blob_fees) {
        let (parent, block) = (&pair[0].header, &pair[1]);
        let params = params_at(&config, block.header.timestamp);
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
            "RPC fee answers (block {})",
            block.number()
        );
        assert!(block.header.gas_used <= block.header.gas_limit);
        assert!(block.header.blob_gas_used.unwrap() <= params.max_blob_gas_per_block());
    }
    // Background traffic really moves both markets, and fills each fork's larger blob space.
    let base_fees: Vec<u64> = blocks.iter().map(|b| b.base_fee()).collect();
    let blob_fees: Vec<u128> = blocks.iter().map(|b| b.blob_fee()).collect();
    assert!(base_fees.iter().max() > base_fees.iter().min(), "base fee never moved");
    assert!(blob_fees.iter().max().unwrap() > &1, "blob fee never left its floor");
    for fork in [L1Fork::Prague, L1Fork::Bpo1, L1Fork::Bpo2] {
        let full = fork.blob_params().max_blob_gas_per_block();
        assert!(
            blocks.iter().any(|b| b.fork == fork && b.header.blob_gas_used == Some(full)),
            "no full {fork} block"
        );
    }
}

#[test]
fn each_boundary_block_takes_its_own_forks_parameters() {
    let config =
        L1Config { traffic: TrafficConfig { blob_demand: 6.0, ..Default::default() }, ..across_forks() };
    let mut c = chain(config.clone());
    for _ in 0..600 {
        next_slot(&mut c);
    }
    let blocks = c.canonical();
    // 12 s slots: the first block of each fork is slot 150, 300, 450 (30, 60, 90 minutes).
    for (slot, before, after) in [
        (150, L1Fork::Prague, L1Fork::Osaka),
        (300, L1Fork::Osaka, L1Fork::Bpo1),
        (450, L1Fork::Bpo1, L1Fork::Bpo2),
    ] {
        let (parent, block) = (&blocks[slot - 1], &blocks[slot]);
        assert_eq!((parent.fork, block.fork), (before, after), "slot {slot}");
        assert_eq!(block.header.timestamp - config.genesis_timestamp, slot as u64 * 12);
        // The boundary block applies its own fork's rules to its parent's values.
        let p = &parent.header;
        let (excess, used, base_fee) =
            (p.excess_blob_gas.unwrap(), p.blob_gas_used.unwrap(), p.base_fee_per_gas.unwrap());
        let own = params_at(&config, block.header.timestamp);
        let expected = own.next_block_excess_blob_gas_osaka(excess, used, base_fee);
        assert_eq!(block.header.excess_blob_gas, Some(expected), "slot {slot}");
        assert_eq!(block.blob_fee(), own.calc_blob_fee(expected), "slot {slot}");
        // A BPO's new fraction prices the same excess differently: the boundary is visible.
        if after != L1Fork::Osaka {
            let old = params_at(&config, p.timestamp);
            assert_ne!(
                old.calc_blob_fee(expected),
                block.blob_fee(),
                "slot {slot}: the fork changed nothing"
            );
        }
    }
    // Osaka keeps Prague's counts; its change is EIP-7918's reserve price, which binds in some
    // Osaka block (there Prague's formula would have let the excess fall further).
    let reserve_bound = blocks[150..300].iter().zip(&blocks[149..299]).any(|(block, parent)| {
        let p = &parent.header;
        let prague = BlobParams::prague().next_block_excess_blob_gas_osaka(
            p.excess_blob_gas.unwrap(),
            p.blob_gas_used.unwrap(),
            p.base_fee_per_gas.unwrap(),
        );
        block.header.excess_blob_gas.unwrap() > prague
    });
    assert!(reserve_bound, "the reserve price never bound in Osaka");
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
    let blob = |byte, f| bob.blob_tx(0, INBOX, vec![Blob::repeat_byte(byte)], f, true);
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
    let blob = alice.blob_tx(1, INBOX, vec![Blob::repeat_byte(1)], fees(10 * GWEI, GWEI), true);
    assert_eq!(c.submit_raw(&blob), Err(TxPoolError::AlreadyReserved));
    // Even replacing the pending non-blob tx with a blob tx is refused.
    let blob = alice.blob_tx(0, INBOX, vec![Blob::repeat_byte(1)], fees(100 * GWEI, 10 * GWEI), true);
    assert_eq!(c.submit_raw(&blob), Err(TxPoolError::AlreadyReserved));

    let bob = wallet(&mut c, 2);
    c.submit_raw(&bob.blob_tx(0, INBOX, vec![Blob::repeat_byte(2)], fees(10 * GWEI, GWEI), true)).unwrap();
    let call = bob.call(1, INBOX, Bytes::new(), fees(10 * GWEI, GWEI));
    assert_eq!(c.submit_raw(&call), Err(TxPoolError::AlreadyReserved));

    // Once the block includes them, the reservation is released.
    next_slot(&mut c);
    c.submit_raw(&alice.blob_tx(1, INBOX, vec![Blob::repeat_byte(3)], fees(10 * GWEI, GWEI), true)).unwrap();
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
    let gapped = bob.blob_tx(1, INBOX, vec![Blob::repeat_byte(1)], fees(10 * GWEI, GWEI), true);
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
    let mut raw = alice.blob_tx(2, INBOX, vec![Blob::repeat_byte(1)], fees(10 * GWEI, GWEI), true).to_vec();
    let inside_blob = raw.len() - 7_000; // the commitment and 128 cell proofs take the last ~6.2 KB
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
    c.submit_raw(&alice.blob_tx(0, INBOX, unboxed, fees(10 * GWEI, GWEI), true)).unwrap();
    next_slot(&mut c);
    let block = c.head().hash;
    assert_eq!(c.head().header.blob_gas_used, Some(2 * 131_072));
    let all = c.blobs(&block, &[]).unwrap();
    assert_eq!(all, vec![(hashes[0], blobs[0].clone()), (hashes[1], blobs[1].clone())]);
    assert_eq!(c.blobs(&block, &hashes[1..]).unwrap(), vec![(hashes[1], blobs[1].clone())]);
    assert_eq!(c.blobs(&B256::ZERO, &[]), None);
}

/// A chain on Prague for its first 10 slots, then Osaka (BPO1 and BPO2 never).
fn osaka_at_slot_10() -> L1Config {
    let forks = L1Forks { osaka: Some(Duration::from_secs(120)), ..L1Forks::PRAGUE };
    L1Config { forks, ..quiet() }
}

#[test]
fn osaka_refuses_version_0_sidecars_seven_blobs_and_gas_over_the_cap() {
    use alloy_consensus::{TxEip1559, TxEnvelope};
    let mut c = chain(osaka_at_slot_10());
    let alice = wallet(&mut c, 1);
    let blobs = |n| vec![Blob::repeat_byte(7); n];
    let big_gas = |nonce, gas_limit| {
        let tx = TxEip1559 {
            chain_id: 900,
            nonce,
            gas_limit,
            max_fee_per_gas: 10 * GWEI,
            max_priority_fee_per_gas: GWEI,
            to: INBOX.into(),
            ..Default::default()
        };
        let envelope: TxEnvelope = alice.signer.sign(tx).into();
        Bytes::from(rollsim::signer::encode_network(&envelope, None))
    };

    // Prague: cell proofs refused, up to 9 blobs and any gas up to the block's limit accepted.
    let e = c.submit_raw(&alice.blob_tx(0, INBOX, blobs(1), fees(10 * GWEI, GWEI), true)).unwrap_err();
    assert_eq!(e.to_string(), "unexpected eip-7594 sidecar before osaka");
    c.submit_raw(&alice.blob_tx(0, INBOX, blobs(7), fees(10 * GWEI, GWEI), false)).unwrap();
    next_slot(&mut c);
    let bob = wallet(&mut c, 2);
    let gas = c.submit_raw(&big_gas(1, 20_000_000));
    assert!(gas.is_ok(), "{gas:?}");
    for _ in 0..9 {
        next_slot(&mut c);
    }
    assert_eq!(c.head().fork, L1Fork::Osaka, "slot 10 is Osaka's first");

    // Osaka: version-0 refused with reth's text, 7 blobs refused, gas over 2^24 refused.
    let e = c.submit_raw(&bob.blob_tx(0, INBOX, blobs(1), fees(10 * GWEI, GWEI), false)).unwrap_err();
    assert_eq!(e, TxPoolError::LegacySidecarAfterOsaka);
    assert_eq!(e.to_string(), "unexpected eip-4844 sidecar after osaka");
    let e = c.submit_raw(&bob.blob_tx(0, INBOX, blobs(7), fees(10 * GWEI, GWEI), true)).unwrap_err();
    assert_eq!(e, TxPoolError::TooManyBlobs { have: 7, permitted: 6 });
    let e = c.submit_raw(&big_gas(2, 16_777_217)).unwrap_err();
    assert_eq!(e, TxPoolError::GasLimitTooHigh { cap: 16_777_216, gas: 16_777_217 });
    assert_eq!(e.to_string(), "transaction gas limit too high (cap: 16777216, tx: 16777217)");
    let hash = c.submit_raw(&bob.blob_tx(0, INBOX, blobs(6), fees(10 * GWEI, GWEI), true)).unwrap();
    next_slot(&mut c);
    assert_eq!(c.receipt(&hash).map(|r| r.blob_gas_used), Some(6 * 131_072), "a cell-proof tx is included");
}

#[test]
fn version_0_blob_transactions_pending_at_osaka_are_evicted_never_included() {
    let mut c = chain(osaka_at_slot_10());
    let alice = wallet(&mut c, 1);
    for _ in 0..8 {
        next_slot(&mut c);
    }
    // Priced under the blob base fee: it waits in the pool until the fork.
    let stuck = Fees { max_fee_per_gas: 10 * GWEI, max_priority_fee_per_gas: GWEI, max_fee_per_blob_gas: 0 };
    let pending = c.submit_raw(&alice.blob_tx(0, INBOX, vec![Blob::repeat_byte(1)], stuck, false)).unwrap();
    let next = c.submit_raw(&alice.blob_tx(1, INBOX, vec![Blob::repeat_byte(2)], stuck, false)).unwrap();
    next_slot(&mut c); // slot 9, Prague: the blob fee is not paid, both stay pending.
    assert!(c.pool().contains(&pending) && c.pool().contains(&next));
    next_slot(&mut c); // slot 10, Osaka's first block
    assert!(!c.pool().contains(&pending) && !c.pool().contains(&next), "evicted with the later nonce");
    assert_eq!(c.stats().legacy_blob_txs_evicted, 2);
    assert!(c.receipt(&pending).is_none());
    assert_eq!(c.nonce(&alice.address(), true), 0, "the sender must send nonce 0 again, with cell proofs");
    let again =
        c.submit_raw(&alice.blob_tx(0, INBOX, vec![Blob::repeat_byte(1)], fees(10 * GWEI, GWEI), true));
    assert!(again.is_ok(), "{again:?}");
}

/// `batcher_confirmation_depth` holds for a confirmation taken with the head `num_confirmations - 1`
/// blocks past inclusion, fails one block earlier, and leaves a confirmation inside a fault window
/// unjudged.
#[test]
fn confirmation_depth_is_judged_against_the_canonical_head_at_the_time() {
    let mut c = chain(quiet());
    for _ in 0..20 {
        next_slot(&mut c);
    }
    let timestamps: Vec<u64> = c.canonical().iter().map(|b| b.header.timestamp).collect();
    let at_block = |n: usize| timestamps[n];
    // Included in block 8, confirmed when block 10 was the head: 3 confirmations.
    let confirmed = [(at_block(10), 8)];
    assert!(invariants::check_confirmation_depth(&timestamps, &confirmed, 3, &[]).ok);
    let early = invariants::check_confirmation_depth(&timestamps, &confirmed, 4, &[]);
    assert!(!early.ok);
    assert!(
        early.detail.contains("L1 block 8") && early.detail.contains("head was block 10"),
        "{}",
        early.detail
    );
    let during_fault = at_block(9)..at_block(11);
    assert!(
        invariants::check_confirmation_depth(&timestamps, &confirmed, 4, std::slice::from_ref(&during_fault))
            .ok
    );
}

/// Pruned below the finalized head, with each pruned block judged as it leaves, a chain gets the
/// verdicts (and the block timestamps) of the same chain kept whole; it no longer serves what it
/// pruned, and still reorgs above the finalized head.
#[test]
fn a_pruned_chain_is_judged_as_the_whole_chain() {
    let (mut whole, mut pruned) = (chain(across_forks()), chain(across_forks()));
    let mut judge = invariants::L1Judge::default();
    let alice = wallet(&mut whole, 1);
    wallet(&mut pruned, 1);
    for slot in 0..400u64 {
        if slot % 10 == 0 {
            let tx = alice.call(slot / 10, INBOX, Bytes::from_static(b"data"), fees(100 * GWEI, GWEI));
            whole.submit_raw(&tx).unwrap();
            pruned.submit_raw(&tx).unwrap();
        }
        next_slot(&mut whole);
        next_slot(&mut pruned);
        if slot % 50 == 49 {
            let below = pruned.finalized().number();
            let first = pruned.canonical()[0].number();
            for block in &pruned.canonical()[..(below - first) as usize] {
                judge.judge(&pruned, block);
            }
            pruned.prune_below(below);
        }
    }
    assert!(pruned.canonical()[0].number() > 100, "blocks were pruned");
    assert!(
        pruned.block_by_number(1).is_none() && pruned.block_by_hash(&whole.canonical()[1].hash).is_none()
    );
    assert_eq!(pruned.reorg(3, 3).unwrap(), whole.reorg(3, 3).unwrap());
    let (verdicts, timestamps) = judge.verdicts(&pruned);
    assert_eq!((verdicts.clone(), timestamps), invariants::L1Judge::default().verdicts(&whole));
    assert!(verdicts.iter().all(|v| v.ok), "{verdicts:?}");
}
