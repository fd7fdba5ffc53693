//! The L1 chain: blocks, account state, receipts, heads and reorgs.
//!
//! Simplifications, each because nothing in the world reads the real thing:
//! - No EVM: every target is an account without code, so a transaction's gas is its intrinsic gas
//!   with the EIP-7623 floor, and state is nonces and balances. Contract creation is refused.
//! - `state_root` is zero; `transactions_root` and `receipts_root` are keccak256 commitments over
//!   the transaction hashes and receipt outcomes, not tries. Block hashes are real (keccak256 of the
//!   RLP header), so every content change still changes the hash and every descendant's.
//! - Fees are burned and tips are not credited to a miner.
//!
//! Blocks below the finalized head can be pruned ([`L1Chain::prune_below`]): no reorg reaches
//! them, and the world prunes only those no reader asks for any more.

use super::{
    forks::L1Fork,
    pool::{Added, BlockLimits, Mempool},
    traffic::{Prices, Traffic},
    tx::{decode_raw, PoolTx, TxPoolError, TxRules},
    L1Config, OrphanPolicy,
};
use alloy_consensus::{Header, EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH};
use alloy_eips::{eip4844::Blob, eip7685::EMPTY_REQUESTS_HASH, BlockNumberOrTag, NumHash};
use alloy_primitives::{Address, Bloom, Bytes, B256, B64, U256};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

/// An account of the fake L1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Account {
    pub nonce: u64,
    pub balance: U256,
}

/// A receipt, with the fields op-batcher's tx manager reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L1Receipt {
    pub tx_hash: B256,
    pub block_hash: B256,
    pub block_number: u64,
    pub transaction_index: u64,
    pub from: Address,
    pub to: Address,
    /// Always true: calls to accounts without code cannot revert.
    pub status: bool,
    pub gas_used: u64,
    pub cumulative_gas_used: u64,
    pub effective_gas_price: u128,
    pub blob_gas_used: u64,
    pub blob_gas_price: u128,
}

/// A block with its transactions and receipts.
#[derive(Debug)]
pub struct L1Block {
    pub header: Header,
    pub hash: B256,
    /// Beacon slot the block was proposed in.
    pub slot: u64,
    /// The fork whose rules the block follows (that of its timestamp).
    pub fork: L1Fork,
    pub txs: Vec<Arc<PoolTx>>,
    pub receipts: Vec<L1Receipt>,
}

impl L1Block {
    pub fn number(&self) -> u64 {
        self.header.number
    }

    pub fn num_hash(&self) -> NumHash {
        NumHash::new(self.header.number, self.hash)
    }

    pub fn base_fee(&self) -> u64 {
        self.header.base_fee_per_gas.unwrap_or_default()
    }

    /// The blob base fee this block's blob transactions paid, by its fork's update fraction.
    pub fn blob_fee(&self) -> u128 {
        self.fork.blob_params().calc_blob_fee(self.header.excess_blob_gas.unwrap_or_default())
    }

    /// Blobs carried by this block's transactions, with their versioned hashes, in block order.
    pub fn blobs(&self) -> impl Iterator<Item = (B256, &Blob)> {
        self.txs.iter().filter_map(|tx| tx.signed.as_ref()).flat_map(|signed| {
            let hashes =
                alloy_consensus::Transaction::blob_versioned_hashes(&signed.envelope).unwrap_or_default();
            let blobs = signed.sidecar.as_ref().map(|s| s.blobs()).unwrap_or_default();
            hashes.iter().copied().zip(blobs)
        })
    }
}

/// Counters of the chain's life.
#[derive(Debug, Clone, Default)]
pub struct L1Stats {
    pub blocks: u64,
    pub txs: u64,
    pub signed_txs: u64,
    pub blob_txs: u64,
    /// Blob transactions included with EIP-7594 cell-proof sidecars.
    pub cell_proof_blob_txs: u64,
    pub blobs: u64,
    pub accepted_txs: u64,
    pub rejected_txs: u64,
    pub expired_txs: u64,
    pub reorgs: u64,
    pub reorged_blocks: u64,
    pub orphaned_txs: u64,
    pub orphans_readded: u64,
    pub orphans_dropped: u64,
    /// Version-0 blob transactions evicted by an Osaka block.
    pub legacy_blob_txs_evicted: u64,
    pub base_fee_min: u64,
    pub base_fee_max: u64,
    pub blob_fee_min: u128,
    pub blob_fee_max: u128,
}

impl L1Stats {
    /// Counts a new block of `txs` at these fees.
    fn count_block(&mut self, txs: &[Arc<PoolTx>], base_fee: u64, blob_fee: u128) {
        self.blocks += 1;
        self.txs += txs.len() as u64;
        self.signed_txs += txs.iter().filter(|tx| tx.signed.is_some()).count() as u64;
        self.blob_txs += txs.iter().filter(|tx| tx.is_blob()).count() as u64;
        self.cell_proof_blob_txs += txs.iter().filter(|tx| tx.has_cell_proofs()).count() as u64;
        self.blobs += txs.iter().map(|tx| tx.blob_count).sum::<u64>();
        self.base_fee_min = self.base_fee_min.min(base_fee);
        self.base_fee_max = self.base_fee_max.max(base_fee);
        self.blob_fee_min = self.blob_fee_min.min(blob_fee);
        self.blob_fee_max = self.blob_fee_max.max(blob_fee);
    }
}

/// What a block included: its transactions and receipts, the accounts it touched (with their state
/// before, for the undo log), and the gas it used.
#[derive(Default)]
struct Included {
    txs: Vec<Arc<PoolTx>>,
    receipts: Vec<L1Receipt>,
    touched: BTreeMap<Address, Option<Account>>,
    gas_used: u64,
    blob_gas_used: u64,
}

/// Why a reorg could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReorgError {
    #[error("reorg depth {depth} reaches the finalized block {finalized} (head {head})")]
    BelowFinalized { depth: u64, head: u64, finalized: u64 },
    #[error("replacement branch of {branch_len} blocks is longer than the depth {depth}")]
    BranchTooLong { depth: u64, branch_len: u64 },
    #[error("reorg depth must be at least 1")]
    ZeroDepth,
}

/// What a reorg did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReorgReport {
    pub fork: NumHash,
    pub old_head: NumHash,
    pub new_head: NumHash,
    pub orphaned: u64,
    pub readded: u64,
}

pub struct L1Chain {
    config: L1Config,
    rules: TxRules,
    /// Canonical blocks `first..=head`.
    blocks: Vec<Arc<L1Block>>,
    /// The oldest block kept: genesis until blocks are pruned.
    first: u64,
    /// Per block kept, the state of each account it touched before the block: undone by reorgs.
    undo: Vec<Vec<(Address, Option<Account>)>>,
    accounts: BTreeMap<Address, Account>,
    pool: Mempool,
    /// Canonical blocks by hash.
    by_hash: BTreeMap<B256, u64>,
    /// Blocks reorged out, still served by hash as a node keeps side chains.
    side_blocks: BTreeMap<B256, Arc<L1Block>>,
    /// Canonical signed transactions: (block number, index).
    tx_index: BTreeMap<B256, (u64, usize)>,
    safe: u64,
    finalized: u64,
    traffic: Traffic,
    randao: ChaCha8Rng,
    stats: L1Stats,
    /// Blocks are not produced while stalled (fault).
    pub stalled: bool,
    /// Senders whose pooled transactions vanish before each block (tx-drop fault).
    pub dropped_senders: BTreeSet<Address>,
    /// Per sender, the head slot when its transactions started being rejected as "nonce too
    /// high" (a nonce gap); cleared by its next accepted transaction.
    gapped_since_slot: BTreeMap<Address, u64>,
    /// Pooled blob transactions with version-0 sidecars, evicted when an Osaka block is built.
    legacy_blob_txs: BTreeSet<B256>,
}

/// The transactions and receipts roots of a block (commitments, not tries: see [`commitment`]).
fn roots(txs: &[Arc<PoolTx>], receipts: &[L1Receipt]) -> (B256, B256) {
    let transactions_root =
        if txs.is_empty() { EMPTY_ROOT_HASH } else { commitment(txs.iter().map(|tx| tx.hash.as_slice())) };
    let receipt_bytes: Vec<[u8; 16]> = receipts
        .iter()
        .map(|r| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&r.cumulative_gas_used.to_be_bytes());
            b[8] = u8::from(r.status);
            b
        })
        .collect();
    let receipts_root = if receipts.is_empty() {
        EMPTY_ROOT_HASH
    } else {
        commitment(receipt_bytes.iter().map(|b| b.as_slice()))
    };
    (transactions_root, receipts_root)
}

/// keccak256 over the items in order: the fake L1's stand-in for a trie root (nothing in the
/// world proves an L1 transaction or receipt against its block).
fn commitment<'a>(items: impl Iterator<Item = &'a [u8]>) -> B256 {
    let mut hasher = alloy_primitives::Keccak256::new();
    for item in items {
        hasher.update(item);
    }
    hasher.finalize()
}

impl L1Chain {
    pub fn new(config: L1Config, traffic_rng: ChaCha8Rng, randao: ChaCha8Rng) -> Self {
        let rules = TxRules {
            chain_id: config.chain_id,
            block_gas_limit: config.gas_limit,
            max_tx_size_bytes: config.txpool.max_tx_size_bytes,
            min_tip_wei: config.txpool.min_tip_wei,
        };
        let genesis = Header {
            number: 0,
            gas_limit: config.gas_limit,
            timestamp: config.genesis_timestamp,
            base_fee_per_gas: Some(config.initial_base_fee_wei),
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            withdrawals_root: Some(EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(config.genesis_excess_blob_gas),
            parent_beacon_block_root: Some(B256::ZERO),
            requests_hash: Some(EMPTY_REQUESTS_HASH),
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            ..Header::default()
        };
        let genesis = Arc::new(L1Block {
            hash: genesis.hash_slow(),
            fork: config.fork_at(genesis.timestamp),
            header: genesis,
            slot: 0,
            txs: Vec::new(),
            receipts: Vec::new(),
        });
        let stats = L1Stats {
            base_fee_min: config.initial_base_fee_wei,
            base_fee_max: config.initial_base_fee_wei,
            blob_fee_min: genesis.blob_fee(),
            blob_fee_max: genesis.blob_fee(),
            ..L1Stats::default()
        };
        Self {
            pool: Mempool::new(config.txpool.clone()),
            traffic: Traffic::new(config.traffic.clone(), traffic_rng),
            config,
            rules,
            by_hash: BTreeMap::from([(genesis.hash, 0)]),
            blocks: vec![genesis],
            first: 0,
            undo: vec![Vec::new()],
            accounts: BTreeMap::new(),
            side_blocks: BTreeMap::new(),
            tx_index: BTreeMap::new(),
            safe: 0,
            finalized: 0,
            randao,
            stats,
            stalled: false,
            dropped_senders: BTreeSet::new(),
            gapped_since_slot: BTreeMap::new(),
            legacy_blob_txs: BTreeSet::new(),
        }
    }

    pub fn config(&self) -> &L1Config {
        &self.config
    }

    pub fn stats(&self) -> &L1Stats {
        &self.stats
    }

    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    pub fn traffic_mut(&mut self) -> &mut Traffic {
        &mut self.traffic
    }

    /// Credits `amount` to `address` (genesis allocations and faucets).
    pub fn fund(&mut self, address: Address, amount: U256) {
        self.accounts.entry(address).or_default().balance += amount;
    }

    pub fn head(&self) -> &Arc<L1Block> {
        self.blocks.last().expect("the chain always holds genesis")
    }

    pub fn safe(&self) -> &Arc<L1Block> {
        self.block_by_number(self.safe).expect("pruning keeps the safe head")
    }

    pub fn finalized(&self) -> &Arc<L1Block> {
        self.block_by_number(self.finalized).expect("pruning keeps the finalized head")
    }

    /// The canonical chain kept: from genesis until blocks are pruned.
    pub fn canonical(&self) -> &[Arc<L1Block>] {
        &self.blocks
    }

    /// Canonical block `number`, unless it is above the head or was pruned.
    pub fn block_by_number(&self, number: u64) -> Option<&Arc<L1Block>> {
        self.blocks.get(usize::try_from(number.checked_sub(self.first)?).ok()?)
    }

    /// A block by tag; `Pending` answers the head, as the fake L1 has no pending block, and
    /// `Earliest` the oldest block kept, as a node with pruned history does.
    pub fn block_by_tag(&self, tag: BlockNumberOrTag) -> Option<&Arc<L1Block>> {
        match tag {
            BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => Some(self.head()),
            BlockNumberOrTag::Safe => Some(self.safe()),
            BlockNumberOrTag::Finalized => Some(self.finalized()),
            BlockNumberOrTag::Earliest => self.blocks.first(),
            BlockNumberOrTag::Number(n) => self.block_by_number(n),
        }
    }

    /// A canonical block, or one reorged out, by hash.
    pub fn block_by_hash(&self, hash: &B256) -> Option<&Arc<L1Block>> {
        match self.by_hash.get(hash) {
            Some(&n) => self.block_by_number(n),
            None => self.side_blocks.get(hash),
        }
    }

    pub fn account(&self, address: &Address) -> Account {
        self.accounts.get(address).copied().unwrap_or_default()
    }

    /// `eth_getTransactionCount`: latest is the head state; pending adds the sender's run of
    /// consecutive pooled transactions.
    pub fn nonce(&self, address: &Address, pending: bool) -> u64 {
        let nonce = self.account(address).nonce;
        if pending {
            self.pool.pending_nonce(address, nonce)
        } else {
            nonce
        }
    }

    pub fn pool(&self) -> &Mempool {
        &self.pool
    }

    pub fn receipt(&self, hash: &B256) -> Option<&L1Receipt> {
        let &(number, index) = self.tx_index.get(hash)?;
        self.block_by_number(number)?.receipts.get(index)
    }

    /// Base fee of the next block (EIP-1559, alloy-eips' formula).
    pub fn next_base_fee(&self) -> u64 {
        let head = &self.head().header;
        alloy_eips::eip1559::calc_next_block_base_fee(
            head.gas_used,
            head.gas_limit,
            head.base_fee_per_gas.unwrap_or_default(),
            alloy_eips::eip1559::BaseFeeParams::ethereum(),
        )
    }

    /// The fork the pool admits transactions under: the head's, as a pool's fork tracker
    /// follows the head.
    pub fn head_fork(&self) -> L1Fork {
        self.head().fork
    }

    /// Chain time of the next slot: where a transaction sent now is meant to land.
    fn next_slot_timestamp(&self) -> u64 {
        self.slot_timestamp(self.head().slot + 1)
    }

    /// Excess blob gas of a child of the head at `timestamp`: the rules of the child's fork
    /// (EIP-4844, with EIP-7918's reserve price from Osaka) applied to the head's values.
    fn excess_blob_gas_at(&self, timestamp: u64) -> u64 {
        let head = &self.head().header;
        self.config.fork_at(timestamp).blob_params().next_block_excess_blob_gas_osaka(
            head.excess_blob_gas.unwrap_or_default(),
            head.blob_gas_used.unwrap_or_default(),
            head.base_fee_per_gas.unwrap_or_default(),
        )
    }

    /// `eth_blobBaseFee`: the blob base fee of the next slot's block, by its fork's parameters.
    pub fn next_blob_fee(&self) -> u128 {
        let timestamp = self.next_slot_timestamp();
        self.config.fork_at(timestamp).blob_params().calc_blob_fee(self.excess_blob_gas_at(timestamp))
    }

    /// `eth_maxPriorityFeePerGas` as geth's oracle computes it: the 60th percentile of the three
    /// lowest effective tips of each of the last 20 blocks; 1 gwei when there are none.
    pub fn suggest_tip(&self) -> u128 {
        let mut samples = Vec::new();
        for block in self.blocks.iter().rev().take(20) {
            let base_fee = block.base_fee();
            let mut tips: Vec<u128> = block.txs.iter().filter_map(|tx| tx.effective_tip(base_fee)).collect();
            tips.sort_unstable();
            samples.extend(tips.into_iter().filter(|&tip| tip >= 2).take(3));
        }
        if samples.is_empty() {
            return 1_000_000_000;
        }
        samples.sort_unstable();
        samples[(samples.len() - 1) * 60 / 100]
    }

    /// The head slot since which `sender`'s transactions are rejected for a nonce gap, if they are.
    pub fn gapped_since_slot(&self, sender: &Address) -> Option<u64> {
        self.gapped_since_slot.get(sender).copied()
    }

    /// `eth_sendRawTransaction`.
    pub fn submit_raw(&mut self, raw: &[u8]) -> Result<B256, TxPoolError> {
        let result = decode_raw(raw, &self.rules, self.head_fork()).and_then(|tx| {
            let account = self.account(&tx.sender);
            let (hash, sender, nonce) = (tx.hash, tx.sender, tx.nonce);
            let legacy = tx.has_legacy_sidecar();
            let added = self.pool.add(tx, account.nonce, Some(account.balance), None);
            match &added {
                Err(TxPoolError::NonceTooHigh { .. }) => {
                    let slot = self.head().slot;
                    self.gapped_since_slot.entry(sender).or_insert(slot);
                }
                Ok(_) => {
                    self.gapped_since_slot.remove(&sender);
                }
                Err(_) => {}
            }
            let added = added?;
            if legacy {
                self.legacy_blob_txs.insert(hash);
            }
            tracing::info!(
                target: "rollsim_sim::l1", %hash, %sender, nonce, replaced = matches!(added, Added::Replaced(_)),
                "l1 tx accepted"
            );
            Ok(hash)
        });
        match &result {
            Ok(_) => self.stats.accepted_txs += 1,
            Err(error) => {
                self.stats.rejected_txs += 1;
                tracing::info!(target: "rollsim_sim::l1", %error, "l1 tx rejected");
            }
        }
        result
    }

    /// The blobs of a block, optionally only those with the given versioned hashes (beacon API
    /// `GET /eth/v1/beacon/blobs/{block_id}?versioned_hashes=`).
    pub fn blobs(&self, block: &B256, versioned_hashes: &[B256]) -> Option<Vec<(B256, Box<Blob>)>> {
        let block = self.block_by_hash(block)?;
        Some(
            block
                .blobs()
                .filter(|(hash, _)| versioned_hashes.is_empty() || versioned_hashes.contains(hash))
                .map(|(hash, blob)| (hash, Box::new(*blob)))
                .collect(),
        )
    }

    /// Chain time of a slot's start.
    pub fn slot_timestamp(&self, slot: u64) -> u64 {
        self.config.genesis_timestamp + slot * self.config.slot_s
    }

    /// Proposes the block of `slot`: background traffic arrives, the best transactions are
    /// included. Returns `None` when the chain is stalled.
    pub fn produce_block(&mut self, slot: u64) -> Option<Arc<L1Block>> {
        if self.stalled {
            tracing::info!(target: "rollsim_sim::l1", slot, "l1 slot missed (stalled)");
            return None;
        }
        assert!(slot > self.head().slot, "slot {slot} is not after the head's slot {}", self.head().slot);
        let timestamp = self.slot_timestamp(slot);
        let fork = self.config.fork_at(timestamp);
        let params = fork.blob_params();
        let prices = Prices {
            base_fee: self.next_base_fee(),
            blob_fee: params.calc_blob_fee(self.excess_blob_gas_at(timestamp)),
            gas_target: self.config.gas_limit / 2,
            blob_target: params.target_blob_count,
            max_tx_gas: fork.max_tx_gas().unwrap_or(self.config.gas_limit),
            max_blobs_per_tx: params.max_blobs_per_tx,
        };
        for sender in &self.dropped_senders {
            let dropped = self.pool.remove_sender(sender);
            if dropped > 0 {
                tracing::info!(target: "rollsim_sim::l1", %sender, dropped, "l1 txs dropped from the pool (fault)");
            }
        }
        let accounts = &self.accounts;
        self.traffic.generate(slot, prices, &mut self.pool, |a| accounts.get(a).map_or(0, |acc| acc.nonce));
        let block = self.build_block(slot, Bytes::new());
        self.stats.expired_txs += self.pool.expire(slot) as u64;
        Some(block)
    }

    fn build_block(&mut self, slot: u64, extra_data: Bytes) -> Arc<L1Block> {
        let parent = self.head().clone();
        let number = parent.number() + 1;
        let timestamp = self.slot_timestamp(slot);
        let fork = self.config.fork_at(timestamp);
        let params = fork.blob_params();
        if fork.is_osaka() {
            self.evict_legacy_blob_txs();
        } else {
            let pool = &self.pool;
            self.legacy_blob_txs.retain(|hash| pool.contains(hash));
        }
        let base_fee = self.next_base_fee();
        let excess_blob_gas = self.excess_blob_gas_at(timestamp);
        let blob_fee = params.calc_blob_fee(excess_blob_gas);
        let limits = BlockLimits {
            gas_limit: self.config.gas_limit,
            max_blobs: params.max_blob_count,
            max_tx_gas: fork.max_tx_gas().unwrap_or(self.config.gas_limit),
            max_blobs_per_tx: params.max_blobs_per_tx,
            cell_proofs: fork.is_osaka(),
        };
        let candidates = self.pool.select(base_fee, blob_fee, &limits);
        let Included { txs, mut receipts, touched, gas_used, blob_gas_used } =
            self.include(candidates, number, base_fee, blob_fee);
        assert!(gas_used <= self.config.gas_limit, "block {number} uses {gas_used} gas over the limit");
        assert!(
            blob_gas_used <= params.max_blob_gas_per_block(),
            "block {number} uses {blob_gas_used} blob gas over the {fork} limit"
        );

        let (transactions_root, receipts_root) = roots(&txs, &receipts);
        let header = Header {
            parent_hash: parent.hash,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: Address::ZERO,
            state_root: B256::ZERO,
            transactions_root,
            receipts_root,
            logs_bloom: Bloom::ZERO,
            difficulty: U256::ZERO,
            number,
            gas_limit: self.config.gas_limit,
            gas_used,
            timestamp,
            extra_data,
            mix_hash: B256::from(self.randao.gen::<[u8; 32]>()),
            nonce: B64::ZERO,
            base_fee_per_gas: Some(base_fee),
            withdrawals_root: Some(EMPTY_ROOT_HASH),
            blob_gas_used: Some(blob_gas_used),
            excess_blob_gas: Some(excess_blob_gas),
            parent_beacon_block_root: Some(B256::from(self.randao.gen::<[u8; 32]>())),
            requests_hash: Some(EMPTY_REQUESTS_HASH),
        };
        let hash = header.hash_slow();
        for receipt in &mut receipts {
            receipt.block_hash = hash;
        }
        self.index_signed(number, &txs);
        for sender in touched.keys() {
            let nonce = self.accounts[sender].nonce;
            self.pool.set_state_nonce(sender, nonce);
        }
        self.stats.count_block(&txs, base_fee, blob_fee);

        let block = Arc::new(L1Block { header, hash, slot, fork, txs, receipts });
        self.by_hash.insert(hash, number);
        self.blocks.push(block.clone());
        self.undo.push(touched.into_iter().collect());
        self.update_checkpoints();
        tracing::info!(
            target: "rollsim_sim::l1",
            number, %hash, slot, %fork, txs = block.txs.len(), gas_used, base_fee, blob_gas_used, blob_fee = blob_fee as u64,
            safe = self.safe, finalized = self.finalized,
            "l1 block"
        );
        block
    }

    /// Indexes the world's own transactions of block `number` for their receipts.
    fn index_signed(&mut self, number: u64, txs: &[Arc<PoolTx>]) {
        for (index, tx) in txs.iter().enumerate() {
            if tx.signed.is_some() {
                self.tx_index.insert(tx.hash, (number, index));
                tracing::info!(
                    target: "rollsim_sim::l1", hash = %tx.hash, sender = %tx.sender, nonce = tx.nonce, block = number,
                    "l1 tx included"
                );
            }
        }
    }

    /// Includes `candidates` in order into block `number`, as geth's miner does: each pays the base
    /// fee and blob fee and moves its value; a sender whose balance an earlier transaction of the
    /// block spent is skipped from then on. Receipts carry no block hash yet.
    fn include(
        &mut self,
        candidates: Vec<Arc<PoolTx>>,
        number: u64,
        base_fee: u64,
        blob_fee: u128,
    ) -> Included {
        let mut done = Included::default();
        let mut skipped_senders = Vec::new();
        for tx in candidates {
            if skipped_senders.contains(&tx.sender) {
                continue;
            }
            let effective_gas_price =
                u128::from(base_fee) + tx.effective_tip(base_fee).expect("selected txs pay the base fee");
            let cost = U256::from(tx.gas_used) * U256::from(effective_gas_price)
                + U256::from(tx.blob_gas()) * U256::from(blob_fee)
                + tx.value;
            let sender = self.accounts.get(&tx.sender).copied().unwrap_or_default();
            debug_assert_eq!(sender.nonce, tx.nonce, "selection follows nonce order");
            if tx.signed.is_some() && sender.balance < cost {
                skipped_senders.push(tx.sender);
                continue;
            }
            let before = self.accounts.get(&tx.sender).copied();
            done.touched.entry(tx.sender).or_insert(before);
            let account = self.accounts.entry(tx.sender).or_default();
            account.nonce += 1;
            if tx.signed.is_some() {
                account.balance -= cost;
                done.touched.entry(tx.to).or_insert_with(|| self.accounts.get(&tx.to).copied());
                self.accounts.entry(tx.to).or_default().balance += tx.value;
            }
            done.gas_used += tx.gas_used;
            done.blob_gas_used += tx.blob_gas();
            done.receipts.push(L1Receipt {
                tx_hash: tx.hash,
                block_hash: B256::ZERO,
                block_number: number,
                transaction_index: done.txs.len() as u64,
                from: tx.sender,
                to: tx.to,
                status: true,
                gas_used: tx.gas_used,
                cumulative_gas_used: done.gas_used,
                effective_gas_price,
                blob_gas_used: tx.blob_gas(),
                blob_gas_price: if tx.is_blob() { blob_fee } else { 0 },
            });
            done.txs.push(tx);
        }
        done
    }

    /// From Osaka on, version-0 blob transactions can never be included (geth's blob pool since
    /// go-ethereum#33352 neither converts nor includes them): they leave the pool, and with them
    /// their sender's later nonces, which a blob pool does not keep behind a gap.
    fn evict_legacy_blob_txs(&mut self) {
        for hash in std::mem::take(&mut self.legacy_blob_txs) {
            for tx in self.pool.remove_from(&hash) {
                self.stats.legacy_blob_txs_evicted += 1;
                tracing::info!(
                    target: "rollsim_sim::l1", hash = %tx.hash, sender = %tx.sender, nonce = tx.nonce,
                    "l1 tx evicted: version-0 blob sidecar after osaka"
                );
            }
        }
    }

    /// Safe and finalized follow Casper FFG checkpoints: the first block of the epoch
    /// `safe_lag_epochs` (justified) and `finalized_lag_epochs` (finalized) before the head's.
    /// They never move back, except the safe head when a reorg removes it.
    fn update_checkpoints(&mut self) {
        let epoch = self.head().slot / self.config.epoch_slots;
        let checkpoint = |lag: u64| -> u64 {
            let Some(slot) = epoch.checked_sub(lag).map(|e| e * self.config.epoch_slots) else { return 0 };
            // The checkpoint block is the last block at or before the epoch's first slot.
            // Below the blocks kept the checkpoint is older than the finalized head: moot.
            let index = self.blocks.partition_point(|b| b.slot <= slot);
            self.blocks[index.saturating_sub(1)].number()
        };
        let head = self.head().number();
        self.safe = self.safe.max(checkpoint(self.config.safe_lag_epochs)).min(head);
        self.finalized = self.finalized.max(checkpoint(self.config.finalized_lag_epochs)).min(self.safe);
    }

    /// Drops the canonical blocks below `number` (at most the finalized head: no reorg reaches
    /// them), with their undo entries and their transactions' receipt index, and the reorged-out
    /// blocks below it; returns how many canonical blocks went.
    pub fn prune_below(&mut self, number: u64) -> u64 {
        let number = number.min(self.finalized);
        let Some(count) = number.checked_sub(self.first).filter(|&count| count > 0) else { return 0 };
        self.first = number;
        self.undo.drain(..count as usize);
        for block in self.blocks.drain(..count as usize) {
            self.by_hash.remove(&block.hash);
            for tx in &block.txs {
                self.tx_index.remove(&tx.hash);
            }
        }
        self.side_blocks.retain(|_, block| block.number() >= number);
        count
    }

    /// Replaces the last `depth` blocks with a branch of `branch_len` blocks built from the pool at
    /// the same slots, without the orphaned transactions (another builder's view). Orphaned
    /// transactions then return to the pool or are lost, as `orphaned_txs` says.
    pub fn reorg(&mut self, depth: u64, branch_len: u64) -> Result<ReorgReport, ReorgError> {
        let head = self.head().number();
        if depth == 0 {
            return Err(ReorgError::ZeroDepth);
        }
        if branch_len > depth {
            return Err(ReorgError::BranchTooLong { depth, branch_len });
        }
        if head < depth || head - depth < self.finalized {
            return Err(ReorgError::BelowFinalized { depth, head, finalized: self.finalized });
        }
        let old_head = self.head().num_hash();
        let mut removed = Vec::new();
        for _ in 0..depth {
            let block = self.blocks.pop().expect("depth checked against the head");
            for (address, before) in self.undo.pop().expect("one undo entry per block").into_iter().rev() {
                match before {
                    Some(account) => self.accounts.insert(address, account),
                    None => self.accounts.remove(&address),
                };
                let nonce = self.account(&address).nonce;
                self.pool.set_state_nonce(&address, nonce);
            }
            self.by_hash.remove(&block.hash);
            for tx in &block.txs {
                self.tx_index.remove(&tx.hash);
            }
            self.side_blocks.insert(block.hash, block.clone());
            removed.push(block);
        }
        removed.reverse();
        let fork = self.head().num_hash();
        self.safe = self.safe.min(fork.number);
        self.stats.reorgs += 1;
        self.stats.reorged_blocks += depth;

        let branch_tag = Bytes::from(format!("rollsim reorg {}", self.stats.reorgs).into_bytes());
        for block in removed.iter().take(branch_len as usize) {
            self.build_block(block.slot, branch_tag.clone());
        }

        let orphans: Vec<&Arc<PoolTx>> = removed.iter().flat_map(|b| &b.txs).collect();
        let mut readded = 0;
        if self.config.orphaned_txs == OrphanPolicy::Reinclude {
            let slot = self.head().slot;
            for tx in &orphans {
                let nonce = self.account(&tx.sender).nonce;
                let expiry = tx.signed.is_none().then_some(slot + self.config.traffic.max_wait_slots);
                if self.pool.add(PoolTx::clone(tx), nonce, None, expiry).is_ok() {
                    readded += 1;
                    if tx.has_legacy_sidecar() {
                        // Evicted again by the next Osaka block.
                        self.legacy_blob_txs.insert(tx.hash);
                    }
                }
            }
        }
        self.stats.orphaned_txs += orphans.len() as u64;
        self.stats.orphans_readded += readded;
        self.stats.orphans_dropped += orphans.len() as u64 - readded;
        let report = ReorgReport {
            fork,
            old_head,
            new_head: self.head().num_hash(),
            orphaned: orphans.len() as u64,
            readded,
        };
        tracing::info!(
            target: "rollsim_sim::l1",
            depth, branch_len, fork = report.fork.number, old_head = %report.old_head.hash,
            new_head = %report.new_head.hash, new_number = report.new_head.number,
            orphaned = report.orphaned, readded,
            "l1 reorg"
        );
        Ok(report)
    }
}
