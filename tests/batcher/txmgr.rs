//! The transaction manager against a scripted L1: fee bumps after the resubmission timeout,
//! immediate bumps on "replacement transaction underpriced", nonce reset after a failed send,
//! "already reserved" as a critical error, and blob sidecars across the Osaka fork.
#![cfg(madsim)]

use alloy_consensus::{transaction::PooledTransaction, Transaction};
use alloy_eips::{eip2718::Decodable2718, eip4844::Blob, eip7594::BlobTransactionSidecarVariant};
use alloy_primitives::{address, Address, Bytes, B256};
use rollsim::{
    batcher::{
        txmgr::{calc_threshold_value, TxCandidate, TxManager, TxMgrError},
        TxMgrConfig,
    },
    cancel::Cancel,
    ports::{L1Header, PortError, PortResult, TxReceipt, L1},
    signer::LocalSigner,
};
use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

const GWEI: u128 = 1_000_000_000;

#[derive(Debug, Clone)]
struct Sent {
    hash: B256,
    nonce: u64,
    tip: u128,
    fee_cap: u128,
    at_s: u64,
    /// Cell proofs per blob of a blob transaction's sidecar (1 for version 0), 0 without blobs.
    proofs_per_blob: usize,
}

#[derive(Default)]
struct State {
    head: u64,
    latest_nonce: u64,
    nonce_reads: u64,
    /// Answers to the next sends, in order; `None` = accept.
    send_script: VecDeque<Option<String>>,
    sent: Vec<Sent>,
    /// Only transactions with at least this tip are mined.
    min_tip_to_mine: u128,
    mined: BTreeMap<B256, u64>,
    /// From this head on, version-0 blob sidecars are refused as Osaka's pool refuses them.
    osaka_head: Option<u64>,
}

/// An L1 whose head advances every 12 s and that mines accepted transactions paying enough tip
/// in the next block.
#[derive(Clone, Default)]
struct ScriptedL1(Arc<Mutex<State>>);

impl ScriptedL1 {
    fn start(min_tip_to_mine: u128) -> Self {
        let l1 = Self::default();
        l1.0.lock().unwrap().min_tip_to_mine = min_tip_to_mine;
        let state = l1.0.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(12)).await;
                let mut s = state.lock().unwrap();
                s.head += 1;
                let head = s.head;
                let min_tip = s.min_tip_to_mine;
                let mined: Vec<_> = s.sent.iter().filter(|t| t.tip >= min_tip).map(|t| t.hash).collect();
                for hash in mined {
                    s.mined.entry(hash).or_insert(head);
                }
            }
        });
        l1
    }
}

fn now_s() -> u64 {
    madsim::time::TimeHandle::current().elapsed().as_secs()
}

impl L1 for ScriptedL1 {
    async fn head_header(&self) -> PortResult<L1Header> {
        let s = self.0.lock().unwrap();
        Ok(L1Header {
            number: s.head,
            hash: B256::with_last_byte(s.head as u8),
            timestamp: s.head * 12,
            base_fee_per_gas: 10 * GWEI as u64,
        })
    }
    async fn nonce(&self, _: Address, _: bool) -> PortResult<u64> {
        let mut s = self.0.lock().unwrap();
        s.nonce_reads += 1;
        Ok(s.latest_nonce)
    }
    async fn suggest_tip(&self) -> PortResult<u128> {
        Ok(2 * GWEI)
    }
    async fn blob_base_fee(&self) -> PortResult<u128> {
        Ok(1)
    }
    async fn send_raw_transaction(&self, raw: Bytes) -> PortResult<B256> {
        let tx =
            PooledTransaction::decode_2718(&mut raw.as_ref()).expect("the txmgr sends valid transactions");
        let mut s = self.0.lock().unwrap();
        if let Some(Some(message)) = s.send_script.pop_front() {
            return Err(PortError::Server { method: "eth_sendRawTransaction", code: -32000, message });
        }
        let proofs_per_blob = match &tx {
            PooledTransaction::Eip4844(signed) => {
                let sidecar = &signed.tx().sidecar;
                match sidecar {
                    BlobTransactionSidecarVariant::Eip4844(s) => s.proofs.len() / s.blobs.len(),
                    BlobTransactionSidecarVariant::Eip7594(s) => s.cell_proofs.len() / s.blobs.len(),
                }
            }
            _ => 0,
        };
        if proofs_per_blob == 1 && s.osaka_head.is_some_and(|at| s.head >= at) {
            let message = "unexpected eip-4844 sidecar after osaka".to_owned();
            return Err(PortError::Server { method: "eth_sendRawTransaction", code: -32000, message });
        }
        let sent = Sent {
            hash: *tx.hash(),
            nonce: tx.nonce(),
            tip: tx.max_priority_fee_per_gas().unwrap_or_default(),
            fee_cap: tx.max_fee_per_gas(),
            at_s: now_s(),
            proofs_per_blob,
        };
        // From Osaka the pool holds no version-0 transaction any more (evicted at the fork).
        let osaka = s.osaka_head.is_some_and(|at| s.head >= at);
        if s.sent.iter().any(|t| t.hash == sent.hash && !(osaka && t.proofs_per_blob == 1)) {
            return Err(PortError::Server {
                method: "eth_sendRawTransaction",
                code: -32000,
                message: "already known".into(),
            });
        }
        s.sent.push(sent.clone());
        Ok(sent.hash)
    }
    async fn receipt(&self, hash: B256) -> PortResult<Option<TxReceipt>> {
        let s = self.0.lock().unwrap();
        Ok(s.mined.get(&hash).map(|&block_number| TxReceipt {
            tx_hash: hash,
            block_hash: B256::with_last_byte(block_number as u8),
            block_number,
            status: true,
            gas_used: 21_000,
            effective_gas_price: 0,
            blob_gas_used: 0,
        }))
    }
}

const INBOX: Address = address!("ff00000000000000000000000000000000000901");

fn txmgr(l1: &ScriptedL1) -> TxManager<ScriptedL1> {
    let config = TxMgrConfig { num_confirmations: 3, ..Default::default() };
    TxManager::new(l1.clone(), LocalSigner::new(B256::repeat_byte(7)).unwrap(), 1, config)
}

fn candidate() -> TxCandidate {
    TxCandidate {
        tx_data: Bytes::from_static(&[0, 1, 2]),
        blobs: Vec::new(),
        to: INBOX,
        gas_limit: 21_000 + 3 * 40,
    }
}

#[madsim::test]
async fn fees_are_bumped_after_the_resubmission_timeout_until_mined() {
    // Suggested: tip 2 gwei, fee cap 2 + 2 * 10 = 22 gwei. Only a tip of 2.42 gwei (two bumps) mines.
    let l1 = ScriptedL1::start(calc_threshold_value(calc_threshold_value(2 * GWEI, false), false));
    let receipt = txmgr(&l1).send(&candidate(), &Cancel::new()).await.expect("mined after two bumps");
    let s = l1.0.lock().unwrap();
    let versions: Vec<_> = s.sent.iter().collect();
    assert_eq!(versions.len(), 3, "the original and two replacements: {versions:?}");
    assert!(versions.iter().all(|t| t.nonce == 0), "replacements keep the nonce");
    for pair in versions.windows(2) {
        assert_eq!(pair[1].tip, calc_threshold_value(pair[0].tip, false), "tip bumped by 10%");
        assert_eq!(pair[1].fee_cap, calc_threshold_value(pair[0].fee_cap, false), "fee cap bumped by 10%");
        assert_eq!(pair[1].at_s - pair[0].at_s, 48, "one bump per resubmission timeout");
    }
    assert_eq!(versions[0].tip, 2 * GWEI);
    assert_eq!(versions[0].fee_cap, 22 * GWEI);
    assert_eq!(receipt.tx_hash, versions[2].hash);
    assert!(s.head + 1 >= receipt.block_number + 3, "returned after 3 confirmations");
}

#[madsim::test]
async fn replacement_underpriced_bumps_at_once() {
    let l1 = ScriptedL1::start(0);
    l1.0.lock().unwrap().send_script.push_back(Some("replacement transaction underpriced".into()));
    txmgr(&l1).send(&candidate(), &Cancel::new()).await.expect("mined");
    let s = l1.0.lock().unwrap();
    assert_eq!(s.sent.len(), 1, "the refused version never entered the pool");
    assert_eq!(s.sent[0].tip, calc_threshold_value(2 * GWEI, false), "published bumped");
    assert_eq!(s.sent[0].at_s, 0, "without waiting for the resubmission timeout");
}

#[madsim::test]
async fn a_failed_send_resets_the_nonce() {
    let l1 = ScriptedL1::start(0);
    let mgr = txmgr(&l1);
    l1.0.lock().unwrap().send_script.push_back(Some("nonce too low: next nonce 5, tx nonce 0".into()));
    let error = mgr.send(&candidate(), &Cancel::new()).await.unwrap_err();
    assert_eq!(error, TxMgrError::NonceTooLow, "never published + nonce too low is critical");
    l1.0.lock().unwrap().latest_nonce = 5;
    mgr.send(&candidate(), &Cancel::new()).await.expect("mined");
    let s = l1.0.lock().unwrap();
    assert_eq!(s.nonce_reads, 2, "the nonce was read again after the failure");
    assert_eq!(s.sent.last().unwrap().nonce, 5);
}

#[madsim::test]
async fn already_reserved_is_critical() {
    let l1 = ScriptedL1::start(0);
    l1.0.lock().unwrap().send_script.push_back(Some("address already reserved".into()));
    let error = txmgr(&l1).send(&candidate(), &Cancel::new()).await.unwrap_err();
    assert!(error.is_already_reserved(), "{error}");
}

#[madsim::test]
async fn cancel_stops_a_send() {
    let l1 = ScriptedL1::start(u128::MAX);
    let cancel = Cancel::new();
    let child = cancel.child();
    let mgr = txmgr(&l1);
    let send = tokio::spawn(async move { mgr.send(&candidate(), &child).await });
    tokio::time::sleep(Duration::from_secs(100)).await;
    cancel.cancel();
    assert_eq!(
        send.await.unwrap().unwrap_err(),
        TxMgrError::Cancelled,
        "a parent's cancel reaches the child"
    );
}

#[madsim::test]
async fn a_version_0_blob_tx_at_osaka_times_out_unconverted_and_the_next_has_cell_proofs() {
    // Never mined; Osaka (and the cell-proof time) at head 10, t = 120 s.
    let l1 = ScriptedL1::start(u128::MAX);
    l1.0.lock().unwrap().osaka_head = Some(10);
    let config = TxMgrConfig { cell_proof_time: Some(120), ..Default::default() };
    let mgr = TxManager::new(l1.clone(), LocalSigner::new(B256::repeat_byte(7)).unwrap(), 1, config);
    let blobs = TxCandidate { blobs: vec![Blob::repeat_byte(1); 2], ..candidate() };

    let error = mgr.send(&blobs, &Cancel::new()).await.unwrap_err();
    assert_eq!(error, TxMgrError::MempoolDeadlineExpired);
    let refused_from_s = 120;
    let timed_out_s = now_s();
    // Refused at the first republish (one 12 s receipt poll) after the fork; aborted at the first
    // wake-up (another poll) past one not-in-mempool timeout (120 s) from then.
    assert!(
        (refused_from_s + 120..=refused_from_s + 12 + 120 + 12).contains(&timed_out_s),
        "timed out at {timed_out_s} s"
    );
    {
        let s = l1.0.lock().unwrap();
        assert!(s.sent.len() >= 3, "published, then bumped before the fork: {:?}", s.sent);
        assert!(s.sent.iter().all(|t| t.proofs_per_blob == 1 && t.at_s < refused_from_s), "never converted");
    }

    // Never mined either: only the sidecar it is published with matters.
    let next = tokio::time::timeout(Duration::from_secs(60), mgr.send(&blobs, &Cancel::new())).await;
    assert!(next.is_err(), "still pending after 60 s");
    let s = l1.0.lock().unwrap();
    let after: Vec<_> = s.sent.iter().filter(|t| t.at_s >= timed_out_s).collect();
    assert!(!after.is_empty() && after.iter().all(|t| t.proofs_per_blob == 128), "cell proofs: {after:?}");
    assert_eq!(after[0].nonce, 0, "the same nonce, read again");
}
