//! The L2 chain (the engine's database): canonical unsafe blocks, the safe and finalized heads,
//! sender nonces at the head, and the sequencer's transaction pool.
//!
//! Blocks far enough below the finalized head are pruned ([`L2Chain::prune_below`]): no reorg or
//! safe-head rewind reaches them, so a long run keeps the unfinalized chain and a window below it,
//! not every block it built.

use super::{block::L2Block, engine::ExecutedState};
use alloy_eips::BlockNumHash;
use alloy_primitives::{Address, Bytes, B256};
use op_alloy_consensus::OpTxEnvelope;
use rollsim::evm::AncestorHashes;
use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

/// A user transaction waiting in the sequencer's pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTx {
    pub hash: B256,
    pub raw: Bytes,
    pub envelope: OpTxEnvelope,
    pub sender: Address,
    pub nonce: u64,
    pub gas: u64,
    /// Estimated DA bytes (Fjord FastLZ estimate): what `miner_setMaxDASize` limits.
    pub da_bytes: u64,
}

/// Counters of the chain's life.
#[derive(Debug, Clone, Default)]
pub struct L2Stats {
    pub blocks_built: u64,
    pub user_txs_included: u64,
    pub blocks_consolidated: u64,
    pub blocks_derived_ahead: u64,
    pub unsafe_reorgs: u64,
    pub unsafe_blocks_replaced: u64,
    pub safe_rewinds: u64,
    /// Blocks whose payload task fell back to the sequential root at the sequencer.
    pub sequencer_payload_fallbacks: u64,
    /// Block buildings cancelled mid-execution at the sequencer (built again).
    pub sequencer_blocks_cancelled: u64,
    /// Transactions the sequencer left out of a block because they did not execute (dropped).
    pub sequencer_txs_rejected: u64,
}

/// A block the chain no longer keeps, with the hashes the sequencer produced at its height: what
/// the end-of-run invariants still judge it by.
#[derive(Debug, Clone)]
pub struct PrunedBlock {
    pub block: Arc<L2Block>,
    pub produced: Vec<B256>,
}

/// The chain. Block 0 is genesis.
#[derive(Debug)]
pub struct L2Chain {
    /// Blocks `first..=head`.
    blocks: Vec<Arc<L2Block>>,
    /// Their hashes, in a row of their own: a block's `BLOCKHASH` window copies 256 of them
    /// without reading 256 blocks.
    hashes: Vec<B256>,
    /// The oldest block kept: 0 until blocks are pruned.
    first: u64,
    safe: u64,
    finalized: u64,
    /// For each safe block from `first`, the L1 block its batch was read from (genesis: L1
    /// genesis).
    derived_from: Vec<BlockNumHash>,
    /// Changes of the safe head: (simulated time, new safe block number), since pruning last
    /// dropped the older ones.
    safe_history: Vec<(Duration, u64)>,
    nonces: BTreeMap<Address, u64>,
    pool: VecDeque<PendingTx>,
    /// Transactions taken from the pool for the block being built: they go back to the pool if it
    /// is not appended (its parent was replaced, or the sequencer went down while executing it).
    building: Vec<PendingTx>,
    /// Every block the sequencer produced, by height (replaced ones too): the safety oracle's
    /// record of what derivation must reproduce.
    produced: BTreeMap<u64, Vec<B256>>,
    /// The executed state at the head (the engine's state database).
    state: ExecutedState,
    pub stats: L2Stats,
}

/// The chain as shared by the sequencer, the rollup node and the world.
pub type SharedL2 = Arc<Mutex<L2Chain>>;

/// Locks the chain (a panic while holding it aborts the simulation, so poisoning is moot).
pub fn lock(chain: &SharedL2) -> MutexGuard<'_, L2Chain> {
    rollsim::sync::lock(chain)
}

impl L2Chain {
    pub fn new(genesis: L2Block, l1_genesis: BlockNumHash, state: ExecutedState) -> Self {
        assert_eq!(
            genesis.header().state_root,
            state.root(),
            "the genesis header commits to the genesis state"
        );
        Self {
            hashes: vec![genesis.hash],
            blocks: vec![Arc::new(genesis)],
            first: 0,
            safe: 0,
            safe_history: Vec::new(),
            finalized: 0,
            derived_from: vec![l1_genesis],
            nonces: BTreeMap::new(),
            pool: VecDeque::new(),
            building: Vec::new(),
            produced: BTreeMap::new(),
            state,
            stats: L2Stats::default(),
        }
    }

    pub fn head(&self) -> &Arc<L2Block> {
        self.blocks.last().expect("the chain always holds genesis")
    }

    pub fn safe(&self) -> &Arc<L2Block> {
        self.block(self.safe).expect("pruning keeps the safe head")
    }

    pub fn finalized(&self) -> &Arc<L2Block> {
        self.block(self.finalized).expect("pruning keeps the finalized head")
    }

    /// Block `number`, unless it is above the head or was pruned.
    pub fn block(&self, number: u64) -> Option<&Arc<L2Block>> {
        self.blocks.get(usize::try_from(number.checked_sub(self.first)?).ok()?)
    }

    /// Hashes of `number` and up to 255 blocks below it, by number: what `BLOCKHASH` reads in the
    /// block above `number`.
    pub fn ancestor_hashes(&self, number: u64) -> AncestorHashes {
        let first = number.saturating_sub(255).max(self.first);
        let end = ((number + 1).saturating_sub(self.first) as usize).min(self.hashes.len());
        let start = ((first - self.first) as usize).min(end);
        let hashes = &self.hashes[start..end];
        debug_assert!(
            self.hashes.len() == self.blocks.len()
                && hashes.iter().zip(&self.blocks[start..end]).all(|(hash, block)| *hash == block.hash),
            "the hashes follow the blocks kept"
        );
        AncestorHashes::new(first, hashes.to_vec())
    }

    /// The canonical blocks kept: from genesis until blocks are pruned.
    pub fn retained(&self) -> &[Arc<L2Block>] {
        &self.blocks
    }

    /// The L1 block the safe block `number` was derived from (unless it was pruned).
    pub fn derived_from(&self, number: u64) -> Option<BlockNumHash> {
        self.derived_from.get(usize::try_from(number.checked_sub(self.first)?).ok()?).copied()
    }

    /// Appends a block the sequencer produced.
    pub fn append_produced(&mut self, block: L2Block) {
        self.building.clear();
        self.produced.entry(block.number()).or_default().push(block.hash);
        self.stats.blocks_built += 1;
        self.append(block);
    }

    /// The hashes the sequencer produced at `number`.
    pub fn produced(&self, number: u64) -> &[B256] {
        self.produced.get(&number).map_or(&[], Vec::as_slice)
    }

    /// The executed state at the head.
    pub fn state(&self) -> &ExecutedState {
        &self.state
    }

    /// The executed state, to advance it to a block about to be appended.
    pub fn state_mut(&mut self) -> &mut ExecutedState {
        &mut self.state
    }

    /// Appends `block` on the head; the state must have been advanced to it.
    pub fn append(&mut self, block: L2Block) {
        assert_eq!(self.state.number(), block.number(), "the state is advanced to the block appended");
        assert_eq!(
            block.block.header.parent_hash,
            self.head().hash,
            "block {} does not build on the head",
            block.number()
        );
        for (tx, sender) in block.user_txs() {
            let nonce = alloy_consensus::Transaction::nonce(tx);
            self.nonces.insert(sender, nonce + 1);
        }
        self.stats.user_txs_included += block.user_txs().count() as u64;
        self.hashes.push(block.hash);
        self.blocks.push(Arc::new(block));
    }

    /// Drops every block above `number` (never safe ones) and returns their user transactions to
    /// the front of the pool, in order, as op-geth re-injects reorged transactions.
    pub fn truncate(&mut self, number: u64) -> usize {
        assert!(number >= self.safe, "truncating to {number} below the safe head {}", self.safe);
        let dropped = self.blocks.split_off((number - self.first) as usize + 1);
        self.hashes.truncate(self.blocks.len());
        self.state.rewind(number);
        let mut returned = Vec::new();
        for block in dropped.iter().rev() {
            let user_txs = block
                .txs()
                .iter()
                .zip(&block.raw_txs)
                .zip(&block.senders)
                .filter(|((tx, _), _)| !tx.is_deposit());
            for ((tx, raw), &sender) in user_txs.collect::<Vec<_>>().into_iter().rev() {
                let nonce = alloy_consensus::Transaction::nonce(tx);
                self.nonces.insert(sender, nonce);
                returned.push(PendingTx {
                    envelope: tx.clone(),
                    hash: tx.tx_hash(),
                    gas: alloy_consensus::Transaction::gas_limit(tx),
                    da_bytes: rollsim::protocol::da_size::tx_estimated_da_size_bytes(raw),
                    raw: raw.clone(),
                    sender,
                    nonce,
                });
            }
        }
        for tx in returned {
            self.pool.push_front(tx);
        }
        dropped.len()
    }

    /// Marks block `number` safe, derived from L1 block `from`.
    pub fn set_safe(&mut self, number: u64, from: BlockNumHash) {
        assert!(number <= self.head().number(), "safe head {number} above the chain");
        assert!(number >= self.first, "safe head {number} below the oldest block kept {}", self.first);
        let index = (number - self.first) as usize;
        self.derived_from.truncate(index);
        while self.derived_from.len() < index {
            let last = *self.derived_from.last().expect("genesis entry");
            self.derived_from.push(last);
        }
        self.derived_from.push(from);
        if number < self.safe {
            self.stats.safe_rewinds += 1;
        }
        if number != self.safe {
            self.safe_history.push((crate::clock::sim_now(), number));
        }
        self.safe = number;
        self.finalized = self.finalized.min(number);
    }

    /// Whether block `number` was the safe head at some moment in `from..=to` (simulated time);
    /// `from` no earlier than the history pruning keeps.
    pub fn was_safe_head(&self, number: u64, from: Duration, to: Duration) -> bool {
        // The safe head at `from` is the last change before it (genesis before any).
        let first = self.safe_history.partition_point(|(at, _)| *at <= from);
        let at_from = first.checked_sub(1).map_or(0, |i| self.safe_history[i].1);
        at_from == number
            || self.safe_history[first..].iter().take_while(|(at, _)| *at <= to).any(|(_, n)| *n == number)
    }

    /// Finalizes the newest safe block derived from L1 at or below `l1_finalized`.
    pub fn finalize(&mut self, l1_finalized: u64) {
        let newest = (self.finalized..=self.safe)
            .rev()
            .find(|&n| self.derived_from[(n - self.first) as usize].number <= l1_finalized)
            .unwrap_or(self.finalized);
        if newest != self.finalized {
            tracing::info!(target: "rollsim_sim::l2", number = newest, "l2 finalized head");
        }
        self.finalized = newest;
        self.state.forget_below(newest);
    }

    /// Drops the blocks below `number` (at most the finalized head: nothing rewinds past it) and
    /// the safe-head changes before `history_since` but the last one, which says where the safe
    /// head was then; returns the dropped blocks, oldest first, for the invariants to judge.
    pub fn prune_below(&mut self, number: u64, history_since: Duration) -> Vec<PrunedBlock> {
        let number = number.min(self.finalized);
        let Some(count) = number.checked_sub(self.first).filter(|&count| count > 0) else {
            return Vec::new();
        };
        self.first = number;
        self.derived_from.drain(..count as usize);
        self.hashes.drain(..count as usize);
        let mut produced = self.produced.split_off(&number);
        std::mem::swap(&mut produced, &mut self.produced);
        let pruned = self.blocks.drain(..count as usize).map(|block| {
            let produced = produced.remove(&block.number()).unwrap_or_default();
            PrunedBlock { block, produced }
        });
        let pruned = pruned.collect();
        let before = self.safe_history.partition_point(|(at, _)| *at < history_since);
        self.safe_history.drain(..before.saturating_sub(1));
        pruned
    }

    pub fn pool(&self) -> &VecDeque<PendingTx> {
        &self.pool
    }

    pub fn pool_push(&mut self, tx: PendingTx) {
        self.pool.push_back(tx);
    }

    /// Remembers the transactions of the block being built.
    pub fn set_building(&mut self, txs: Vec<PendingTx>) {
        self.building = txs;
    }

    /// Returns the transactions of a block that was not appended to the front of the pool, in order.
    pub fn requeue_building(&mut self) {
        for tx in std::mem::take(&mut self.building).into_iter().rev() {
            self.pool.push_front(tx);
        }
    }

    /// Takes transactions for a block, in pool order, as op-geth's miner with DA limits would:
    /// a transaction over `max_tx_da` is skipped (with its sender's later ones), the block stops at
    /// `max_block_da` or the gas limit; 0 means no limit. Stale transactions are discarded.
    pub fn take_txs(&mut self, gas_limit: u64, max_tx_da: u64, max_block_da: u64) -> Vec<PendingTx> {
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.pool.len());
        let mut next_nonce: BTreeMap<Address, u64> = BTreeMap::new();
        let mut blocked: Vec<Address> = Vec::new();
        let (mut gas, mut da) = (0u64, 0u64);
        let mut full = false;
        while let Some(tx) = self.pool.pop_front() {
            let expected = *next_nonce
                .entry(tx.sender)
                .or_insert_with(|| self.nonces.get(&tx.sender).copied().unwrap_or(0));
            if tx.nonce < expected {
                continue; // already included: stale
            }
            let over_tx_limit = max_tx_da != 0 && tx.da_bytes > max_tx_da;
            if full || tx.nonce > expected || blocked.contains(&tx.sender) || over_tx_limit {
                if over_tx_limit {
                    blocked.push(tx.sender);
                }
                kept.push_back(tx);
                continue;
            }
            if gas + tx.gas > gas_limit || (max_block_da != 0 && da + tx.da_bytes > max_block_da) {
                full = true;
                kept.push_back(tx);
                continue;
            }
            gas += tx.gas;
            da += tx.da_bytes;
            next_nonce.insert(tx.sender, tx.nonce + 1);
            taken.push(tx);
        }
        self.pool = kept;
        taken
    }
}
