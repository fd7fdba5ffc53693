//! The pre-block state as the proof workers see it: every trie node stored by path.
//!
//! reth's proof workers read trie nodes from the database, so a proof costs a few lookups per
//! target, not a pass over the state. `StateTrie::multiproof` is a full `HashBuilder` pass (fine
//! for a reference, hopeless per chunk of 10 targets over 1M accounts), so this keeps the whole
//! pre-block trie's nodes in fixed-seed hash maps, built once per state by one `HashBuilder` pass
//! that retains every node, and answers the same proofs `StateTrie::multiproof` would, node for
//! node (`tests/payload/pre_state.rs` checks it). It is also the state prewarm and execution read.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, PoisonError},
};

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_trie::{proof::ProofRetainer, HashBuilder, Nibbles};
use revm::bytecode::Bytecode;

use crate::{
    execution::{L2State, StateView},
    sync::lock,
    trie::{
        encode_slot, key_range, proof_paths, Account, FixedMap, FixedSet, HashedPostState, HashedStorage,
        MultiProof, MultiProofTargets, SparseStateTrie, StateTrieChanges, StateTrieError, TrieChanges,
        TrieError, TrieProof, EMPTY_ROOT_HASH,
    },
};

/// How many blinded nodes one application may fetch before giving up: each fetch reveals a node for
/// good, so an update needs at most about one per removal; a loop means a bug.
const MAX_NODE_FETCHES: usize = 4_096;

type NodeMap = FixedMap<Nibbles, Bytes>;

/// One trie's root and all its nodes by path (its leaves stay in the state's sorted maps).
#[derive(Debug, Default, Clone)]
struct StoredTrie {
    root: B256,
    nodes: NodeMap,
}

/// The pre-block state, read by execution and proved by the proof workers.
#[derive(Debug)]
pub struct PreState {
    state: L2State,
    accounts: StoredTrie,
    /// Storage tries of the accounts that have storage.
    storages: BTreeMap<B256, StoredTrie>,
    /// The storage trie of every other account.
    empty_storage: StoredTrie,
    /// The sparse trie the last block's root was computed on, kept for the next block, and the
    /// root it was computed for: reused only by a block whose parent root that is. Behind a lock
    /// because the block's pipeline takes it from a shared state; absent while a pipeline has it,
    /// or after one failed.
    preserved: Mutex<Option<(B256, PreservedSparseTrie)>>,
}

/// A sparse trie kept from block to block (reth's `PreservedSparseTrie`): its upper levels and the
/// paths blocks touched stay revealed, so a block reveals and hashes only what is new to it.
#[derive(Debug, Clone, Default)]
pub struct PreservedSparseTrie {
    /// The trie.
    pub trie: SparseStateTrie,
    /// Keys (accounts, and slots by account) revealed in it: what blocks changed. Their proofs
    /// are not requested again ([`FetchedTargets`](super::multiproof::FetchedTargets)).
    pub revealed: Arc<KeySet>,
}

/// Hashed keys, accounts and slots by account, looked up once per proof target of every
/// transaction: hash sets (a sorted map of the thousands of accounts a run touches costs a dozen
/// 32-byte comparisons, each a cache miss, per lookup). Nothing iterates them in an order that
/// matters: they only answer whether a key is in.
#[derive(Debug, Clone, Default)]
pub struct KeySet(FixedMap<B256, FixedSet<B256>>);

impl KeySet {
    /// Drops from `targets` the slots in this set, and the accounts left with nothing else (an
    /// account target without slots is dropped when the account is in).
    pub fn drop_known(&self, targets: &mut MultiProofTargets) {
        targets.retain(|address, slots| match self.0.get(address) {
            Some(known) => {
                slots.retain(|slot| !known.contains(slot));
                !slots.is_empty()
            }
            None => true,
        });
    }

    /// Whether the account is in (with or without slots).
    pub fn contains_account(&self, address: &B256) -> bool {
        self.0.contains_key(address)
    }

    /// Adds every key of `targets`.
    pub fn extend(&mut self, targets: &MultiProofTargets) {
        for (address, slots) in targets {
            self.0.entry(*address).or_default().extend(slots);
        }
    }
}

/// Another state of its own: the preserved trie is copied with it.
impl Clone for PreState {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            accounts: self.accounts.clone(),
            storages: self.storages.clone(),
            empty_storage: self.empty_storage.clone(),
            preserved: Mutex::new(lock(&self.preserved).clone()),
        }
    }
}

impl PreState {
    /// Stores every node of `state`'s tries: one `HashBuilder` pass per trie.
    pub fn new(mut state: L2State) -> Self {
        let trie = state.trie_mut();
        let addresses: Vec<B256> = trie.accounts().keys().copied().collect();
        let storage_roots: BTreeMap<B256, B256> =
            addresses.iter().map(|address| (*address, trie.storage_root(*address))).collect();
        let trie = state.trie();
        let accounts = store(trie.accounts(), |address, account, buf| {
            let root = storage_roots[address];
            alloy_rlp::Encodable::encode(&account.into_trie_account(root), buf);
        });
        let storages = addresses
            .iter()
            .filter_map(|address| Some((*address, trie.storage(address)?)))
            .map(|(address, slots)| {
                let stored = store(slots, slot_leaf);
                debug_assert_eq!(stored.root, storage_roots[&address]);
                (address, stored)
            })
            .collect();
        let empty_storage = store(&BTreeMap::<B256, U256>::new(), |_, _, _| {});
        Self { state, accounts, storages, empty_storage, preserved: Mutex::new(None) }
    }

    /// The pre-block state root.
    pub fn root(&self) -> B256 {
        self.accounts.root
    }

    /// The state.
    pub fn state(&self) -> &L2State {
        &self.state
    }

    /// Adds contract code (outside the trie: nothing to prove).
    pub fn insert_code(&mut self, code: Bytes) {
        self.state.insert_code(code);
    }

    /// Gives the state back.
    pub fn into_state(self) -> L2State {
        self.state
    }

    /// The multiproof of `targets`: the nodes `StateTrie::multiproof` returns for them.
    pub fn multiproof(&self, targets: &MultiProofTargets) -> MultiProof {
        let trie = self.state.trie();
        let account_subtree = prove(&self.accounts.nodes, trie.accounts(), targets.keys());
        let no_slots = BTreeMap::new();
        let storages = targets
            .iter()
            .map(|(address, slots)| {
                let stored = self.storage_trie(address);
                let leaves = trie.storage(address).unwrap_or(&no_slots);
                (*address, TrieProof { root: stored.root, subtree: prove(&stored.nodes, leaves, slots) })
            })
            .collect();
        MultiProof { root: self.accounts.root, account_subtree, storages }
    }

    /// The nodes from the root down to the node at `path` (and on, along one key under it) in the
    /// account trie (`account` is `None`) or in `account`'s storage trie: what `StateTrie::node_proof`
    /// returns, for a blinded node a removal needs.
    pub fn node_proof(&self, account: Option<B256>, path: &Nibbles) -> TrieProof {
        let trie = self.state.trie();
        let no_slots = BTreeMap::new();
        let (stored, key) = match account {
            None => (&self.accounts, trie.accounts().range(key_range(path)).next().map(|(k, _)| *k)),
            Some(address) => (
                self.storage_trie(&address),
                trie.storage(&address).and_then(|s| s.range(key_range(path)).next().map(|(k, _)| *k)),
            ),
        };
        let subtree = match account {
            None => prove(&stored.nodes, trie.accounts(), key.iter()),
            Some(address) => prove(&stored.nodes, trie.storage(&address).unwrap_or(&no_slots), key.iter()),
        };
        TrieProof { root: stored.root, subtree }
    }

    /// Applies `update` to `trie` (revealed with proofs of the update's keys), fetching from this
    /// state each blinded sibling a removal meets (no proof of the removed key carries it; it is
    /// untouched, so its pre-block proof is current) and retrying; `apply` is idempotent. Returns the
    /// fetch count. Any other blinded node is a proof that was never asked for: an error.
    pub fn apply_fetching(
        &self,
        trie: &mut SparseStateTrie,
        update: &HashedPostState,
    ) -> Result<u64, StateTrieError> {
        let mut fetches = 0;
        loop {
            match trie.apply(update) {
                Ok(()) => return Ok(fetches),
                Err(StateTrieError { account, error: TrieError::BlindedSibling { path, .. } })
                    if (fetches as usize) < MAX_NODE_FETCHES =>
                {
                    trie.reveal_nodes(account, &self.node_proof(account, &path))?;
                    fetches += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// What undoes `update`: the pre-update value of everything it changes. Applying
    /// `advance(update)` then `advance(undo)` gives this state back, nodes and all (a chain rewinds
    /// its head state this way on a reorg).
    pub fn undo(&self, update: &HashedPostState) -> HashedPostState {
        let trie = self.state.trie();
        let mut undo = HashedPostState::default();
        let addresses: BTreeSet<&B256> = update.accounts.keys().chain(update.storages.keys()).collect();
        for address in addresses {
            let pre = trie.account(address).copied();
            undo.accounts.insert(*address, pre);
            let pre_slots = trie.storage(address);
            let storage = update.storages.get(address);
            let whole = pre.is_none()
                || update.accounts.get(address).is_some_and(Option::is_none)
                || storage.is_some_and(|storage| storage.wiped);
            if whole {
                // The whole pre-update storage comes back.
                let slots = pre_slots.cloned().unwrap_or_default();
                undo.storages.insert(*address, HashedStorage { wiped: true, slots });
            } else if let Some(storage) = storage {
                let slots = storage
                    .slots
                    .keys()
                    .map(|slot| (*slot, pre_slots.and_then(|s| s.get(slot)).copied().unwrap_or_default()))
                    .collect();
                undo.storages.insert(*address, HashedStorage { wiped: false, slots });
            }
        }
        undo
    }

    /// A sparse trie for the next block: the preserved one when it is anchored at this state's root
    /// (otherwise it is dropped), else a blind one anchored at the root, so a block without a single
    /// proof still has a root (reth#14449). The block gives it back through [`Self::advance_with`].
    pub fn take_trie(&self) -> PreservedSparseTrie {
        let root = self.root();
        match lock(&self.preserved).take() {
            Some((anchor, preserved)) if anchor == root => preserved,
            _ => {
                let mut trie = SparseStateTrie::new();
                let anchor = MultiProof { root, ..Default::default() };
                trie.reveal_multiproof(&anchor).expect("a root alone reveals into a blind trie");
                PreservedSparseTrie { trie, revealed: Arc::default() }
            }
        }
    }

    /// Applies `update` and brings the stored nodes up to date without a pass over the whole state:
    /// the update's keys are proved from the stored nodes and revealed into the preserved sparse
    /// trie (only the nodes it does not hold yet are read), the update is applied, and the nodes it
    /// changed replace the stored ones (reth writes a block's `TrieUpdates` the same way). Returns
    /// the new state root. An error means the stored nodes and the state disagree: a bug.
    pub fn advance(&mut self, update: &HashedPostState) -> Result<B256, StateTrieError> {
        let mut preserved = self.take_trie();
        preserved.trie.reveal_multiproof(&self.multiproof(&update.targets()))?;
        self.apply_fetching(&mut preserved.trie, update)?;
        self.advance_with(preserved, update)
    }

    /// [`Self::advance`] on a trie that already holds `update` applied to this state: the payload
    /// task's, whose root the node computed (or checked) for the block. The block's trie is computed
    /// once per node; the trie is kept for the next block.
    pub fn advance_with(
        &mut self,
        mut preserved: PreservedSparseTrie,
        update: &HashedPostState,
    ) -> Result<B256, StateTrieError> {
        let StateTrieChanges { accounts, mut storages } = preserved.trie.take_changes()?;
        let root = accounts.root;
        self.state.apply(update);
        self.accounts.update(accounts);
        let state = self.state.trie();
        let targets = update.targets();
        for address in targets.keys() {
            let Some(slots) = state.storage(address).filter(|slots| !slots.is_empty()) else {
                self.storages.remove(address);
                continue;
            };
            let replaced = update.accounts.get(address).is_some_and(Option::is_none)
                || update.storages.get(address).is_some_and(|storage| storage.wiped);
            match storages.remove(address) {
                // A wiped storage trie starts afresh: none of its old nodes survive.
                _ if replaced => {
                    self.storages.insert(*address, store(slots, slot_leaf));
                }
                Some(changes) => self.storages.entry(*address).or_default().update(changes),
                // Only the account changed.
                None => {}
            }
        }
        // The block's keys are revealed now. Deleted ones are forgotten (a later block proves them
        // again): the set stays within the live state, however much a long run creates and deletes.
        let revealed = &mut Arc::make_mut(&mut preserved.revealed).0;
        for (address, slots) in targets {
            if state.account(&address).is_none() {
                revealed.remove(&address);
                continue;
            }
            let live = |slot: &B256| state.storage(&address).is_some_and(|live| live.contains_key(slot));
            let known = revealed.entry(address).or_default();
            if update.storages.get(&address).is_some_and(|storage| storage.wiped) {
                known.retain(live);
            }
            for slot in slots {
                match live(&slot) {
                    true => known.insert(slot),
                    false => known.remove(&slot),
                };
            }
        }
        *self.preserved.get_mut().unwrap_or_else(PoisonError::into_inner) = Some((root, preserved));
        Ok(root)
    }

    /// Every node of the state's tries, account trie and storage tries, RLP-encoded: what a
    /// stateless executor is served by hash.
    pub fn trie_nodes(&self) -> impl Iterator<Item = &Bytes> {
        let storages = self.storages.values().flat_map(|trie| trie.nodes.values());
        self.accounts.nodes.values().chain(storages)
    }

    /// The storage root of the account at hashed `address` (the empty root when it has none).
    pub fn storage_root(&self, address: &B256) -> B256 {
        self.storage_trie(address).root
    }

    fn storage_trie(&self, address: &B256) -> &StoredTrie {
        self.storages.get(address).unwrap_or(&self.empty_storage)
    }

    /// The post-block root computed sequentially: the pre-state with `block` applied, recomputed in
    /// full. The reference the pipeline must agree with, and its fallback.
    pub fn sequential_root(&self, block: &HashedPostState) -> B256 {
        let mut state = self.state.clone();
        state.apply(block);
        state.root()
    }
}

impl StateView for PreState {
    fn account(&self, address: &Address) -> Option<Account> {
        self.state.account(address)
    }

    fn storage(&self, address: &Address, slot: &U256) -> U256 {
        self.state.storage(address, slot)
    }

    fn code(&self, code_hash: &B256) -> Option<Bytecode> {
        self.state.code(code_hash)
    }
}

impl StoredTrie {
    /// Brings the nodes up to date with a sparse trie's changes: removed paths go, every node
    /// created or changed is written; the rest of the trie was not touched.
    fn update(&mut self, changes: TrieChanges) {
        self.root = changes.root;
        if self.root == EMPTY_ROOT_HASH {
            self.nodes.clear();
            return;
        }
        for path in &changes.removed {
            self.nodes.remove(path);
        }
        self.nodes.extend(changes.updated.into_iter().map(|(path, encoded)| (path, Bytes::from(encoded))));
    }
}

/// A storage leaf's value, for [`store`].
fn slot_leaf(_: &B256, value: &U256, buf: &mut Vec<u8>) {
    buf.extend_from_slice(&encode_slot(*value));
}

/// Root and all nodes of the trie over `leaves`.
fn store<V>(leaves: &BTreeMap<B256, V>, mut encode: impl FnMut(&B256, &V, &mut Vec<u8>)) -> StoredTrie {
    let retainer = ProofRetainer::new(leaves.keys().map(|k| Nibbles::unpack(k)).collect());
    let mut hb = HashBuilder::default().with_proof_retainer(retainer);
    let mut buf = Vec::new();
    for (key, value) in leaves {
        buf.clear();
        encode(key, value, &mut buf);
        hb.add_leaf(Nibbles::unpack(key), &buf);
    }
    let root = hb.root();
    let nodes = hb.take_proof_nodes().into_inner().into_iter().collect();
    StoredTrie { root, nodes }
}

/// The proof nodes of `targets` in the trie of `leaves`: the nodes on each target's path, plus the
/// children of every branch on it that removing targets could leave with one child (all but at
/// most one of its children hold only target keys): the rule of `src/trie/proof.rs`.
fn prove<'a, V>(
    nodes: &NodeMap,
    leaves: &BTreeMap<B256, V>,
    targets: impl IntoIterator<Item = &'a B256>,
) -> BTreeMap<Nibbles, Bytes> {
    let targets: BTreeSet<B256> = targets.into_iter().copied().collect();
    let (mut retained, keys) = proof_paths(leaves, &targets);
    // No node lies below a target's leaf, which sits just under its deepest branch.
    retained.extend(keys.into_iter().map(|(key, deepest)| key.slice(..(deepest + 1).min(key.len()))));
    // The root is part of every proof, even one without targets.
    retained.push(Nibbles::new());
    select(nodes, retained)
}

/// The stored nodes at every prefix of every path in `paths`: what a `ProofRetainer` with those
/// targets keeps.
fn select(nodes: &NodeMap, paths: impl IntoIterator<Item = Nibbles>) -> BTreeMap<Nibbles, Bytes> {
    let mut selected = BTreeMap::new();
    for path in paths {
        for len in (0..=path.len()).rev() {
            let prefix = path.slice(..len);
            if selected.contains_key(&prefix) {
                // Its ancestors were selected with it.
                break;
            }
            if let Some(node) = nodes.get(&prefix) {
                selected.insert(prefix, node.clone());
            }
        }
    }
    selected
}
