//! The rollup node's execution check: every block that becomes safe is executed again, on the node's
//! own state, through its own payload processor, and the root compared with the block header's.
//!
//! The engine (the sequencer, or the rollup node's engine for derived blocks) computed the header's
//! root from its own execution; this is the independent re-execution a verifier node does. A header
//! root that differs from the re-executed state's is a violation of `l2_state_root`, naming the
//! block and both roots. The payload task is given the header's root as the expected one: when it
//! disagrees or fails it falls back to the sequential root, as reth does; a fallback with no fault
//! injected violates `payload_no_spurious_fallback`.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use alloy_consensus::Header;
use alloy_primitives::B256;
use kona_genesis::RollupConfig;
use rollsim::{
    cancel::Cancel,
    evm::OpEvmExecutor,
    evm::{EvmBlock, EvmOutput},
    payload::{ExecutedBlock, PayloadError, PayloadProcessor, RootOutcome},
};

use super::oracle::{self, ParentState};
use crate::{
    l2::{
        block::{evm_block, BlockInputs, L2Block},
        chain::{lock, SharedL2},
        engine::{BlockFaults, ExecutedState, PayloadFaultSource},
    },
    profile::{self, Bucket},
    verdict::{Invariant, Monitor},
};

/// Counters of the re-execution, shared with the world.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifierStats {
    /// The newest re-executed block.
    pub head: u64,
    /// Blocks re-executed whose root matched.
    pub verified: u64,
    /// Blocks whose header root differed from the re-executed one.
    pub mismatches: u64,
    /// Blocks whose payload task fell back to the sequential root.
    pub fallbacks: u64,
    /// Blocks un-executed because the safe chain rewound below them.
    pub rewound: u64,
    /// Executions cancelled (and retried).
    pub cancelled: u64,
    /// Blocks re-built by the block oracle (kona-executor), every one's header compared.
    pub oracle_checked: u64,
}

/// The block oracle's setting: which blocks kona-executor re-builds.
#[derive(Debug, Clone)]
struct Oracle {
    rollup: Arc<RollupConfig>,
    /// Every block whose number is a multiple of this.
    every: u64,
}

/// The re-executing side of the rollup node: its own state at the newest verified safe block.
pub struct Verifier {
    state: ExecutedState,
    /// Hash of each verified block the state can still rewind to, by number from `first`.
    hashes: VecDeque<B256>,
    /// The number of `hashes[0]`: genesis, until finality lets older hashes go.
    first: u64,
    processor: PayloadProcessor<OpEvmExecutor>,
    faults: Arc<PayloadFaultSource>,
    monitor: Arc<Monitor>,
    stats: Arc<Mutex<VerifierStats>>,
    oracle: Option<Oracle>,
}

impl Verifier {
    /// A verifier at genesis (`state`, block `genesis_hash`).
    pub fn new(
        state: ExecutedState,
        genesis_hash: B256,
        processor: PayloadProcessor<OpEvmExecutor>,
        faults: Arc<PayloadFaultSource>,
        monitor: Arc<Monitor>,
        stats: Arc<Mutex<VerifierStats>>,
    ) -> Self {
        let hashes = VecDeque::from([genesis_hash]);
        Self { state, hashes, first: 0, processor, faults, monitor, stats, oracle: None }
    }

    /// Also re-builds every `every`th block with kona-executor (`oracle.rs`), which must give the
    /// same header: invariant `l2_block_oracle`.
    pub fn with_oracle(self, rollup: Arc<RollupConfig>, every: u64) -> Self {
        assert!(every > 0, "an oracle checks every Nth block, N >= 1");
        Self { oracle: Some(Oracle { rollup, every }), ..self }
    }

    fn count(&self, update: impl FnOnce(&mut VerifierStats)) {
        let mut stats = rollsim::sync::lock(&self.stats);
        update(&mut stats);
        stats.head = self.state.number();
    }

    /// The newest verified block.
    pub fn head(&self) -> u64 {
        self.state.number()
    }

    /// Re-executes every safe block above the verified head, first rewinding past verified blocks
    /// that are no longer the chain's (the safe head rewound on an L1 reorg).
    pub async fn catch_up(&mut self, chain: &SharedL2) {
        while let Some((block, txs, ancestors)) = self.next_block(chain) {
            self.check_with_oracle(&block, &ancestors);
            let expected = block.header().state_root;
            let Some((outcome, root, injected)) = self.execute(&block, txs, expected).await else { return };
            if let Some((index, reason)) = outcome.output.rejected.first() {
                let detail = format!(
                    "block {} ({}): transaction {index} is invalid: {reason}",
                    block.number(),
                    block.hash
                );
                self.monitor.violate(Invariant::L2StateRoot, detail);
                return;
            }
            let state_root = self.state.advance(&outcome.state, &outcome.output.codes, outcome.trie);
            self.hashes.push_back(block.hash);
            if root.state_root != state_root {
                // The payload task's root is not the root of the state it handed over: a payload
                // processor bug, whatever the header says.
                let detail = format!(
                    "block {} ({}): the payload task's root {} is not its own state's root {state_root}",
                    block.number(),
                    block.hash,
                    root.state_root
                );
                self.monitor.violate(Invariant::L2StateRoot, detail);
            }
            if let Some(fallback) = &root.fallback {
                self.count(|stats| stats.fallbacks += 1);
                if !injected && state_root == expected {
                    let detail =
                        format!("rollup node block {}: {fallback:?} with no fault injected", block.number());
                    self.monitor.violate(Invariant::PayloadNoSpuriousFallback, detail);
                }
            }
            if state_root == expected {
                self.count(|stats| stats.verified += 1);
                continue;
            }
            self.count(|stats| stats.mismatches += 1);
            tracing::warn!(
                target: "rollsim_sim::rollup_node", number = block.number(), header = %expected, executed = %state_root,
                "state root mismatch"
            );
            let detail = format!(
                "block {} ({}): header state root {expected}, re-executed state root {state_root}",
                block.number(),
                block.hash
            );
            self.monitor.violate(Invariant::L2StateRoot, detail);
        }
    }

    /// Rewinds below what the safe chain no longer holds, forgets undo below finalized, and
    /// prepares the next safe block to re-execute: the block, its EVM input, and (when the oracle
    /// checks it) its ancestors' headers, parent first. `None` once at the safe head.
    fn next_block(&mut self, chain: &SharedL2) -> Option<(Arc<L2Block>, Arc<EvmBlock>, Vec<Header>)> {
        let chain = lock(chain);
        let safe = chain.safe().number();
        while self.head() > safe
            || chain.block(self.head()).map(|b| b.hash)
                != Some(self.hashes[(self.head() - self.first) as usize])
        {
            let number = self.head() - 1;
            self.state.rewind(number);
            self.hashes.truncate((number - self.first) as usize + 1);
            self.count(|stats| stats.rewound += 1);
        }
        let finalized = chain.finalized().number();
        self.state.forget_below(finalized);
        // The state no longer rewinds below there: neither do the hashes.
        while self.first < finalized.min(self.head()) {
            self.hashes.pop_front();
            self.first += 1;
        }
        if self.head() == safe {
            return None;
        }
        let block = chain.block(self.head() + 1).expect("at or below the safe head").clone();
        let parent = chain.block(self.head()).expect("below the safe head");
        let checked = self.oracle.as_ref().is_some_and(|oracle| block.number().is_multiple_of(oracle.every));
        let ancestor_hashes = chain.ancestor_hashes(parent.number());
        // The parent first: kona-executor walks BLOCKHASH down from it.
        let ancestors: Vec<_> = if checked {
            ancestor_hashes
                .numbers()
                .rev()
                .map(|n| chain.block(n).expect("an ancestor").header().clone())
                .collect()
        } else {
            Vec::new()
        };
        let inputs = BlockInputs::of(&block);
        let txs = block.txs().iter().zip(block.senders.iter().copied());
        let evm = evm_block(parent.header(), parent.hash, &inputs, txs, ancestor_hashes);
        Some((block, Arc::new(evm), ancestors))
    }

    /// kona-executor re-builds `block` statelessly when the oracle checks it (`ancestors` given).
    fn check_with_oracle(&mut self, block: &L2Block, ancestors: &[Header]) {
        if let (Some(oracle), Some(parent)) = (&self.oracle, ancestors.first()) {
            let pre_state = self.state.head();
            let parent_state = ParentState::new(&pre_state, ancestors.iter().cloned());
            let checked = {
                let _profile = profile::scope(Bucket::State);
                oracle::check(&oracle.rollup, parent_state, parent, block)
            };
            self.count(|stats| stats.oracle_checked += 1);
            if let Err(error) = checked {
                let detail = format!("block {} ({}): {error}", block.number(), block.hash);
                self.monitor.violate(Invariant::L2BlockOracle, detail);
            }
        }
    }

    /// Executes `block` through the payload processor with the faults its window draws; a
    /// cancelled execution runs again without them. `None` when the block does not execute
    /// (reported). Also says whether faults were injected into the execution that counted.
    async fn execute(
        &mut self,
        block: &L2Block,
        txs: Arc<EvmBlock>,
        expected: B256,
    ) -> Option<(ExecutedBlock<EvmOutput>, RootOutcome, bool)> {
        let mut faults = self.faults.draw("rollup", txs.txs.len());
        loop {
            let injected = faults != BlockFaults::default();
            let pre_state = self.state.head();
            let cancel = Cancel::new();
            let executed = self.processor.execute_block(
                pre_state,
                txs.clone(),
                Arc::new(faults.clone()),
                Some(expected),
                &cancel,
            );
            match profile::scoped(Bucket::Payload, executed).await {
                Ok((outcome, root)) => return Some((outcome, root, injected)),
                // Executed again, without faults: a cancellation is not a verdict.
                Err(PayloadError::Cancelled) => {
                    self.count(|stats| stats.cancelled += 1);
                    faults = BlockFaults::default();
                }
                Err(error) => {
                    let detail =
                        format!("block {} ({}) does not execute: {error}", block.number(), block.hash);
                    self.monitor.violate(Invariant::L2StateRoot, detail);
                    return None;
                }
            }
        }
    }
}
