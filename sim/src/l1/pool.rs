//! The L1 mempool: per-sender nonce queues with geth's admission rules.
//!
//! - Replacement: a transaction with the nonce of a pooled one replaces it only if its fee cap and
//!   tip are both at least `price_bump_percent` higher (10%); blob transactions need
//!   `blob_price_bump_percent` (100%) on fee cap, tip and blob fee cap (geth's blob pool rule).
//! - Reservation: an address is held by one subpool at a time. While a sender has any blob
//!   transaction pooled, a non-blob one is refused with "address already reserved", and the reverse.
//!   This is the state op-batcher's txpool-blocked machinery exists for.
//! - Nonce gaps: non-blob transactions may wait with a gap (geth's queued set); the blob pool refuses
//!   gaps ("nonce too high").

use super::tx::{PoolTx, TxPoolError};
use alloy_primitives::{Address, B256, U256};
use serde::Deserialize;
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, VecDeque},
    sync::Arc,
};

/// Admission rules of the pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TxPoolConfig {
    pub price_bump_percent: u64,
    pub blob_price_bump_percent: u64,
    /// Largest non-blob transaction accepted (geth: 128 KiB).
    pub max_tx_size_bytes: usize,
    /// Smallest tip accepted (geth's `--txpool.pricelimit`).
    pub min_tip_wei: u128,
}

impl Default for TxPoolConfig {
    fn default() -> Self {
        Self {
            price_bump_percent: 10,
            blob_price_bump_percent: 100,
            max_tx_size_bytes: 131_072,
            min_tip_wei: 1,
        }
    }
}

/// A transaction's fees, as the replacement rule compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub fee_cap: u128,
    pub tip: u128,
    /// Blob transactions only.
    pub blob_fee_cap: Option<u128>,
}

impl TxPoolConfig {
    /// geth's replacement rule: `new` replaces `old` when its fee cap and tip are each at least
    /// the price bump above `old`'s; a blob transaction needs the blob price bump, on its blob fee
    /// cap too.
    pub fn replaces(&self, old: &Fees, new: &Fees) -> bool {
        let blob = old.blob_fee_cap.is_some();
        let bump = u128::from(if blob { self.blob_price_bump_percent } else { self.price_bump_percent });
        let bumped = |old: u128, new: u128| new * 100 >= old * (100 + bump);
        bumped(old.fee_cap, new.fee_cap)
            && bumped(old.tip, new.tip)
            && old.blob_fee_cap.is_none_or(|old_blob| bumped(old_blob, new.blob_fee_cap.unwrap_or(0)))
    }
}

/// One sender's pooled transactions.
#[derive(Debug)]
struct SenderQueue {
    /// The sender's nonce in the head state, cached so block building needs no state lookup.
    state_nonce: u64,
    /// Whether the sender's transactions are blob transactions (the subpool holding the address).
    blob: bool,
    txs: BTreeMap<u64, Arc<PoolTx>>,
}

impl SenderQueue {
    /// The nonce after the run of consecutive transactions starting at the state nonce.
    fn pending_nonce(&self) -> u64 {
        let mut next = self.state_nonce;
        while self.txs.contains_key(&next) {
            next += 1;
        }
        next
    }
}

/// What one block may hold: its gas and blob space, and its fork's per-transaction rules.
#[derive(Debug, Clone, Copy)]
pub struct BlockLimits {
    pub gas_limit: u64,
    pub max_blobs: u64,
    /// EIP-7825's cap from Osaka; the block's gas limit before.
    pub max_tx_gas: u64,
    pub max_blobs_per_tx: u64,
    /// Osaka's sidecars: cell proofs (version 1) only; before, version 0 only.
    pub cell_proofs: bool,
}

impl BlockLimits {
    /// Whether `tx` may be in a block under these rules at all, wherever it would go. A pool
    /// holds transactions admitted under the head's fork; at a fork boundary (or after a reorg
    /// back across one) some of them are not valid in the block being built, and the builder
    /// skips them, as reth's does.
    fn admits(&self, tx: &PoolTx) -> bool {
        let sidecar_ok = !tx.is_blob() || tx.signed.is_none() || tx.has_cell_proofs() == self.cell_proofs;
        tx.gas_limit <= self.max_tx_gas && tx.blob_count <= self.max_blobs_per_tx && sidecar_ok
    }
}

/// The pool.
#[derive(Debug, Default)]
pub struct Mempool {
    config: TxPoolConfig,
    senders: BTreeMap<Address, SenderQueue>,
    hashes: BTreeMap<B256, (Address, u64)>,
    /// Synthetic transactions in arrival order with the slot after which they are abandoned.
    expiry: VecDeque<(u64, B256)>,
    /// Arrival counter: the deterministic tie-break between equal tips.
    arrivals: BTreeMap<B256, u64>,
    next_arrival: u64,
}

/// What `add` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    New,
    Replaced(B256),
}

impl Mempool {
    pub fn new(config: TxPoolConfig) -> Self {
        Self { config, ..Self::default() }
    }

    pub fn config(&self) -> &TxPoolConfig {
        &self.config
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn contains(&self, hash: &B256) -> bool {
        self.hashes.contains_key(hash)
    }

    pub fn has_sender(&self, sender: &Address) -> bool {
        self.senders.contains_key(sender)
    }

    /// The next nonce a sender can use: the state nonce plus the run of pooled transactions.
    pub fn pending_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        self.senders.get(sender).map_or(state_nonce, SenderQueue::pending_nonce)
    }

    /// Admits `tx` from a sender whose head state is (`state_nonce`, `balance`).
    /// `expires_after_slot` abandons synthetic traffic that waits too long.
    pub fn add(
        &mut self,
        tx: PoolTx,
        state_nonce: u64,
        balance: Option<U256>,
        expires_after_slot: Option<u64>,
    ) -> Result<Added, TxPoolError> {
        if self.hashes.contains_key(&tx.hash) {
            return Err(TxPoolError::AlreadyKnown);
        }
        if tx.nonce < state_nonce {
            return Err(TxPoolError::NonceTooLow { next: state_nonce, nonce: tx.nonce });
        }
        if let Some(balance) = balance {
            let cost = tx.max_cost();
            if balance < cost {
                return Err(TxPoolError::InsufficientFunds { balance, cost });
            }
        }
        let blob = tx.is_blob();
        let replaced = match self.senders.get(&tx.sender) {
            Some(queue) if !queue.txs.is_empty() => {
                if queue.blob != blob {
                    return Err(TxPoolError::AlreadyReserved);
                }
                if let Some(old) = queue.txs.get(&tx.nonce) {
                    self.check_replacement(old, &tx)?;
                    Some(old.hash)
                } else {
                    if blob && tx.nonce > queue.pending_nonce() {
                        return Err(TxPoolError::NonceTooHigh {
                            nonce: tx.nonce,
                            next: queue.pending_nonce(),
                        });
                    }
                    None
                }
            }
            _ => {
                if blob && tx.nonce > state_nonce {
                    return Err(TxPoolError::NonceTooHigh { nonce: tx.nonce, next: state_nonce });
                }
                None
            }
        };
        if let Some(old) = replaced {
            self.hashes.remove(&old);
            self.arrivals.remove(&old);
        }
        let queue = self.senders.entry(tx.sender).or_insert_with(|| SenderQueue {
            state_nonce,
            blob,
            txs: BTreeMap::new(),
        });
        queue.blob = blob;
        queue.state_nonce = state_nonce;
        self.hashes.insert(tx.hash, (tx.sender, tx.nonce));
        self.arrivals.insert(tx.hash, self.next_arrival);
        self.next_arrival += 1;
        if let Some(slot) = expires_after_slot {
            self.expiry.push_back((slot, tx.hash));
        }
        queue.txs.insert(tx.nonce, Arc::new(tx));
        Ok(replaced.map_or(Added::New, Added::Replaced))
    }

    fn check_replacement(&self, old: &PoolTx, new: &PoolTx) -> Result<(), TxPoolError> {
        if self.config.replaces(&old.fees(), &new.fees()) {
            Ok(())
        } else {
            Err(TxPoolError::ReplaceUnderpriced)
        }
    }

    /// Records that `sender`'s head-state nonce is now `nonce`: drops transactions below it.
    pub fn set_state_nonce(&mut self, sender: &Address, nonce: u64) {
        let Some(queue) = self.senders.get_mut(sender) else { return };
        queue.state_nonce = nonce;
        let stale = queue.txs.split_off(&nonce);
        let stale = std::mem::replace(&mut queue.txs, stale);
        for tx in stale.values() {
            self.hashes.remove(&tx.hash);
            self.arrivals.remove(&tx.hash);
        }
        if queue.txs.is_empty() {
            self.senders.remove(sender);
        }
    }

    /// Removes one transaction (and, so no gap is left behind, every later one of its sender).
    pub fn remove_from(&mut self, hash: &B256) -> Vec<Arc<PoolTx>> {
        let Some(&(sender, nonce)) = self.hashes.get(hash) else { return Vec::new() };
        let Some(queue) = self.senders.get_mut(&sender) else { return Vec::new() };
        let removed = queue.txs.split_off(&nonce);
        if queue.txs.is_empty() {
            self.senders.remove(&sender);
        }
        for tx in removed.values() {
            self.hashes.remove(&tx.hash);
            self.arrivals.remove(&tx.hash);
        }
        removed.into_values().collect()
    }

    /// Removes every pooled transaction of `sender`. Returns how many.
    pub fn remove_sender(&mut self, sender: &Address) -> usize {
        let Some(queue) = self.senders.remove(sender) else { return 0 };
        for tx in queue.txs.values() {
            self.hashes.remove(&tx.hash);
            self.arrivals.remove(&tx.hash);
        }
        queue.txs.len()
    }

    /// Abandons synthetic transactions whose wait ended before `slot`. Returns how many.
    pub fn expire(&mut self, slot: u64) -> usize {
        let mut expired = 0;
        while let Some(&(last_slot, hash)) = self.expiry.front() {
            if last_slot >= slot {
                break;
            }
            self.expiry.pop_front();
            expired += self.remove_from(&hash).len();
        }
        expired
    }

    /// Picks transactions for a block as geth's miner does: the best executable head by effective
    /// tip (ties by arrival), one sender's nonces in order; a sender whose head does not fit,
    /// breaks the block's fork rules ([`BlockLimits`]), or does not pay the base fee or blob base
    /// fee, is skipped for the rest of the block.
    pub fn select(&self, base_fee: u64, blob_fee: u128, limits: &BlockLimits) -> Vec<Arc<PoolTx>> {
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<_>, tx: &Arc<PoolTx>| {
            if tx.is_blob() && tx.max_fee_per_blob_gas < blob_fee {
                return;
            }
            if let Some(tip) = tx.effective_tip(base_fee) {
                heap.push((tip, Reverse(self.arrivals[&tx.hash]), tx.sender, tx.nonce));
            }
        };
        for queue in self.senders.values() {
            if let Some(head) = queue.txs.get(&queue.state_nonce) {
                push(&mut heap, head);
            }
        }
        let (mut gas_left, mut blobs_left) = (limits.gas_limit, limits.max_blobs);
        let mut picked = Vec::new();
        while let Some((_, _, sender, nonce)) = heap.pop() {
            let queue = &self.senders[&sender];
            let tx = &queue.txs[&nonce];
            if tx.gas_limit > gas_left || tx.blob_count > blobs_left || !limits.admits(tx) {
                continue;
            }
            gas_left -= tx.gas_used;
            blobs_left -= tx.blob_count;
            picked.push(tx.clone());
            if let Some(next) = queue.txs.get(&(nonce + 1)) {
                push(&mut heap, next);
            }
        }
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(sender: u8, nonce: u64, max_fee: u128, tip: u128, blobs: u64) -> PoolTx {
        PoolTx {
            hash: alloy_primitives::keccak256(format!("{sender}/{nonce}/{max_fee}/{tip}/{blobs}")),
            sender: Address::with_last_byte(sender),
            nonce,
            to: Address::ZERO,
            value: U256::ZERO,
            gas_limit: 21_000,
            gas_used: 21_000,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            max_fee_per_blob_gas: if blobs > 0 { max_fee } else { 0 },
            blob_count: blobs,
            signed: None,
        }
    }

    fn limits(gas_limit: u64) -> BlockLimits {
        BlockLimits {
            gas_limit,
            max_blobs: 9,
            max_tx_gas: gas_limit,
            max_blobs_per_tx: 9,
            cell_proofs: false,
        }
    }

    #[test]
    fn replacement_needs_ten_percent_and_blobs_double() {
        let mut pool = Mempool::new(TxPoolConfig::default());
        pool.add(tx(1, 0, 100, 100, 0), 0, None, None).unwrap();
        assert_eq!(pool.add(tx(1, 0, 109, 109, 0), 0, None, None), Err(TxPoolError::ReplaceUnderpriced));
        assert!(matches!(pool.add(tx(1, 0, 110, 110, 0), 0, None, None), Ok(Added::Replaced(_))));
        assert_eq!(pool.len(), 1);

        pool.add(tx(2, 0, 100, 100, 1), 0, None, None).unwrap();
        assert_eq!(pool.add(tx(2, 0, 199, 199, 1), 0, None, None), Err(TxPoolError::ReplaceUnderpriced));
        assert!(matches!(pool.add(tx(2, 0, 200, 200, 1), 0, None, None), Ok(Added::Replaced(_))));
    }

    #[test]
    fn selection_orders_by_tip_and_respects_nonces() {
        let mut pool = Mempool::new(TxPoolConfig::default());
        pool.add(tx(1, 0, 100, 1, 0), 0, None, None).unwrap();
        pool.add(tx(1, 1, 100, 50, 0), 0, None, None).unwrap();
        pool.add(tx(2, 0, 100, 10, 0), 0, None, None).unwrap();
        let picked = pool.select(0, 0, &limits(30_000_000));
        let order: Vec<_> = picked.iter().map(|t| (t.sender.0[19], t.nonce)).collect();
        assert_eq!(order, vec![(2, 0), (1, 0), (1, 1)]);
        // A base fee above a sender's fee cap leaves it out, and its later nonces with it.
        assert_eq!(pool.select(101, 0, &limits(30_000_000)).len(), 0);
    }

    #[test]
    fn selection_skips_what_the_blocks_fork_forbids() {
        let mut pool = Mempool::new(TxPoolConfig::default());
        pool.add(tx(1, 0, 100, 10, 7), 0, None, None).unwrap(); // seven blobs, from before Osaka
        pool.add(
            PoolTx { gas_limit: 20_000_000, gas_used: 20_000_000, ..tx(2, 0, 100, 9, 0) },
            0,
            None,
            None,
        )
        .unwrap();
        pool.add(tx(3, 0, 100, 8, 0), 0, None, None).unwrap();
        let prague = limits(36_000_000);
        assert_eq!(pool.select(0, 0, &prague).len(), 3);
        let osaka = BlockLimits { max_tx_gas: 1 << 24, max_blobs_per_tx: 6, cell_proofs: true, ..prague };
        let picked: Vec<_> = pool.select(0, 0, &osaka).iter().map(|t| t.sender.0[19]).collect();
        assert_eq!(picked, vec![3], "7 blobs and 20M gas are not valid in an Osaka block");
    }
}
