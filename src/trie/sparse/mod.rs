//! reth's sparse trie: a Merkle-Patricia trie of which only the parts revealed from proofs are known.
//!
//! Nodes are kept flat, by absolute path, so a restructuring (split, collapse, merge) never moves the
//! subtrees below it: a child keeps its path whatever happens to its ancestors. Unrevealed subtrees
//! are `Hash` nodes; any operation that needs to look inside one fails with
//! [`TrieError::BlindedNode`] and leaves the trie unchanged. Each node caches its `RlpNode`; the set
//! of leaf paths changed since the last root (the prefix set) tells which caches are stale, so a root
//! after `k` changes re-hashes only the `k` paths to the root.
//!
//! Simplified from reth: no branch-node masks, [`TrieChanges`] in place of `TrieUpdates` (nodes by
//! path, for the node's store of the state), and a single serial trie instead of the parallel one
//! split into subtries.

mod reveal;
mod update;

use std::collections::BTreeSet;

use alloy_primitives::{keccak256, B256};
use alloy_trie::{
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode},
    Nibbles, TrieMask, EMPTY_ROOT_HASH,
};

use super::{child, FixedMap, FixedSet, TrieError};

/// A node of the sparse trie. Leaf and extension keys are the nibbles below the node's own path;
/// `hash` caches the node's `RlpNode` (valid unless the prefix set holds a key under the node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SparseNode {
    /// The empty trie (only ever at the root).
    Empty,
    /// A blinded subtree: known by hash only.
    Hash(B256),
    /// A leaf; its value is in the trie's value map under the full path.
    Leaf {
        /// Remaining key.
        key: Nibbles,
        /// Cached `RlpNode`.
        hash: Option<RlpNode>,
    },
    /// An extension to the node at `path ++ key`.
    Extension {
        /// Shared key.
        key: Nibbles,
        /// Cached `RlpNode`.
        hash: Option<RlpNode>,
    },
    /// A branch with children at `path ++ [nibble]` for each set bit.
    Branch {
        /// Which children exist.
        state_mask: TrieMask,
        /// Cached `RlpNode`.
        hash: Option<RlpNode>,
        /// The children's `RlpNode`s in nibble order, as of the branch's last hash or its reveal
        /// (valid with the same rule as `hash`: a child with no changed key under it still has
        /// them). Re-hashing the branch reads an unchanged child's reference here instead of
        /// looking the child up: in a trie kept across blocks, each lookup is a cache miss.
        children: Option<Box<[RlpNode]>>,
    },
}

impl SparseNode {
    fn leaf(key: Nibbles) -> Self {
        Self::Leaf { key, hash: None }
    }

    fn extension(key: Nibbles) -> Self {
        Self::Extension { key, hash: None }
    }

    fn branch(state_mask: TrieMask) -> Self {
        Self::Branch { state_mask, hash: None, children: None }
    }
}

/// A sparse trie: blind (nothing known) or revealed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SparseTrie {
    /// Nothing is known; every operation fails with [`TrieError::Blind`].
    #[default]
    Blind,
    /// The root and possibly more is known.
    Revealed(Box<RevealedTrie>),
}

impl SparseTrie {
    /// A revealed empty trie.
    pub fn revealed_empty() -> Self {
        Self::Revealed(Box::default())
    }

    /// A wiped trie: empty, and proofs of what it held before are stale rather than conflicting.
    pub fn wiped() -> Self {
        let mut trie = RevealedTrie::default();
        trie.wipe();
        Self::Revealed(Box::new(trie))
    }

    /// Reveals the root hash of a blind trie; a revealed trie is returned as is.
    pub fn reveal_root(&mut self, root: B256) -> &mut RevealedTrie {
        if let Self::Blind = self {
            *self = Self::Revealed(Box::new(RevealedTrie::from_root(root)));
        }
        match self {
            Self::Revealed(trie) => trie,
            Self::Blind => unreachable!("revealed above"),
        }
    }

    /// Whether nothing is known.
    pub fn is_blind(&self) -> bool {
        matches!(self, Self::Blind)
    }

    /// The revealed trie, if any.
    pub fn as_revealed(&self) -> Option<&RevealedTrie> {
        match self {
            Self::Revealed(trie) => Some(trie),
            Self::Blind => None,
        }
    }

    /// The revealed trie, or [`TrieError::Blind`].
    pub fn revealed_mut(&mut self) -> Result<&mut RevealedTrie, TrieError> {
        match self {
            Self::Revealed(trie) => Ok(trie),
            Self::Blind => Err(TrieError::Blind),
        }
    }

    /// Inserts or updates a leaf.
    pub fn update_leaf(&mut self, full_path: Nibbles, value: Vec<u8>) -> Result<(), TrieError> {
        self.revealed_mut()?.update_leaf(full_path, value)
    }

    /// Removes a leaf (a no-op if it is provably absent).
    pub fn remove_leaf(&mut self, full_path: &Nibbles) -> Result<(), TrieError> {
        self.revealed_mut()?.remove_leaf(full_path)
    }

    /// The root hash.
    pub fn root(&mut self) -> Result<B256, TrieError> {
        Ok(self.revealed_mut()?.root())
    }
}

/// The revealed part of a sparse trie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealedTrie {
    /// Every known node by absolute path; the root is at the empty path. Hash maps: nodes and values
    /// are looked up by path at every step of every update and hash.
    nodes: FixedMap<Nibbles, SparseNode>,
    /// Leaf values (RLP as stored in the trie) by full path.
    values: FixedMap<Nibbles, Vec<u8>>,
    /// Full paths of leaves changed since the last root: their ancestors' caches are stale.
    prefix_set: BTreeSet<Nibbles>,
    /// Paths whose node an update created or changed: a later proof of them is stale, not a conflict.
    modified: FixedSet<Nibbles>,
    /// Paths whose node an update removed (a node may have been put there again since).
    removed: FixedSet<Nibbles>,
    /// Nodes a root re-hashed (an update created or changed them) since the changes were last
    /// taken, with the RLP encoding hashed: what a store of the trie's nodes writes.
    rehashed: FixedMap<Nibbles, Vec<u8>>,
    /// Reused RLP buffer.
    rlp_buf: Vec<u8>,
}

impl Default for RevealedTrie {
    fn default() -> Self {
        Self::from_root(EMPTY_ROOT_HASH)
    }
}

impl RevealedTrie {
    /// A trie whose root is known by hash only (empty if it is the empty root).
    pub fn from_root(root: B256) -> Self {
        let node = if root == EMPTY_ROOT_HASH { SparseNode::Empty } else { SparseNode::Hash(root) };
        let mut nodes = FixedMap::default();
        nodes.insert(Nibbles::new(), node);
        Self {
            nodes,
            values: FixedMap::default(),
            prefix_set: BTreeSet::new(),
            modified: FixedSet::default(),
            removed: FixedSet::default(),
            rehashed: FixedMap::default(),
            rlp_buf: Vec::new(),
        }
    }

    /// The node at `path`, if known.
    pub fn node(&self, path: &Nibbles) -> Option<&SparseNode> {
        self.nodes.get(path)
    }

    /// How many nodes are known (blinded ones included).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The value of the revealed leaf at `full_path`.
    pub fn get_leaf_value(&self, full_path: &Nibbles) -> Option<&Vec<u8>> {
        self.values.get(full_path)
    }

    /// The root, and what changed since the changes were last taken: the paths whose node went, and
    /// every node an update created or changed with its RLP encoding (as a `HashBuilder`'s proof
    /// retainer stores it). What a database keeping the trie's nodes by path writes after a block
    /// (reth's `TrieUpdates`): a block costs its own changes, however much of the trie stays
    /// revealed. Starts the next block afresh: proofs of paths changed before it are not stale.
    ///
    /// # Errors
    /// [`TrieError::Unhashed`] when a node an update changed still hangs from the trie but the root
    /// did not re-hash it: the root is stale, and a store taking these changes would go wrong.
    pub fn take_changes(&mut self) -> Result<TrieChanges, TrieError> {
        let root = self.root();
        // A node re-hashed, then removed by a later update, is gone.
        let live = |path: &Nibbles| {
            matches!(
                self.nodes.get(path),
                Some(SparseNode::Leaf { .. } | SparseNode::Extension { .. } | SparseNode::Branch { .. })
            )
        };
        if let Some(path) = self.modified.iter().find(|path| live(path) && !self.rehashed.contains_key(*path))
        {
            return Err(TrieError::Unhashed { path: *path });
        }
        let removed: Vec<Nibbles> = self.removed.drain().collect();
        // Drained, not taken: the map keeps its capacity for the next block instead of growing anew.
        let updated = self.rehashed.drain().filter(|(path, _)| live(path)).collect();
        self.modified.clear();
        Ok(TrieChanges { root, removed, updated })
    }

    /// Forgets everything: the trie becomes the revealed empty trie (a wiped storage).
    pub fn wipe(&mut self) {
        *self = Self::default();
        self.modified.insert(Nibbles::new());
    }

    /// The root hash: re-hashes the nodes on changed paths, reuses every other cached `RlpNode`.
    pub fn root(&mut self) -> B256 {
        let changed: Vec<Nibbles> = std::mem::take(&mut self.prefix_set).into_iter().collect();
        let root = self.rlp_node(Nibbles::new(), &changed);
        // The root is hashed even when its RLP is shorter than a hash.
        root.as_hash().unwrap_or_else(|| keccak256(&root))
    }

    /// The `RlpNode` of the node at `path`, computing and caching it where stale; `changed` are the
    /// sorted changed leaf paths under `path`.
    fn rlp_node(&mut self, path: Nibbles, changed: &[Nibbles]) -> RlpNode {
        debug_assert!(changed.iter().all(|key| key.starts_with(&path)), "changed keys under path");
        let node = self.nodes.get_mut(&path).expect("a child's parent references it");
        let cached = match node {
            SparseNode::Empty => return RlpNode::from_rlp(&[alloy_rlp::EMPTY_STRING_CODE]),
            SparseNode::Hash(hash) => return RlpNode::word_rlp(hash),
            SparseNode::Leaf { hash, .. }
            | SparseNode::Extension { hash, .. }
            | SparseNode::Branch { hash, .. } => hash,
        };
        if let Some(cached) = cached.as_ref().filter(|_| changed.is_empty()) {
            return cached.clone();
        }
        let (rlp, children) = match node {
            SparseNode::Leaf { key, .. } => {
                let key = *key;
                let value = self.values.get(&path.join(&key)).expect("every leaf has a value");
                self.rlp_buf.clear();
                (LeafNodeRef::new(&key, value).rlp(&mut self.rlp_buf), None)
            }
            SparseNode::Extension { key, .. } => {
                let key = *key;
                let child_path = path.join(&key);
                let child = self.rlp_node(child_path, under(changed, &child_path));
                self.rlp_buf.clear();
                (ExtensionNodeRef::new(&key, &child).rlp(&mut self.rlp_buf), None)
            }
            SparseNode::Branch { state_mask, children, .. } => {
                let state_mask = *state_mask;
                let mut stack =
                    children.take().map_or_else(|| Vec::with_capacity(state_mask.len()), Vec::from);
                let known = stack.len() == state_mask.len();
                stack.resize(state_mask.len(), RlpNode::default());
                for (index, nibble) in state_mask.iter().enumerate() {
                    let child_path = child(&path, nibble);
                    let keys = under(changed, &child_path);
                    if !known || !keys.is_empty() {
                        stack[index] = self.rlp_node(child_path, keys);
                    }
                }
                self.rlp_buf.clear();
                (
                    BranchNodeRef::new(&stack, state_mask).rlp(&mut self.rlp_buf),
                    Some(stack.into_boxed_slice()),
                )
            }
            SparseNode::Empty | SparseNode::Hash(_) => unreachable!("returned above"),
        };
        match self.nodes.get_mut(&path) {
            Some(SparseNode::Leaf { hash, .. } | SparseNode::Extension { hash, .. }) => {
                *hash = Some(rlp.clone())
            }
            Some(SparseNode::Branch { hash, children: cached, .. }) => {
                *hash = Some(rlp.clone());
                *cached = children;
            }
            _ => unreachable!("the node was hashed above"),
        }
        self.rehashed.insert(path, self.rlp_buf.clone());
        rlp
    }
}

/// A trie's changes since they were last taken: [`RevealedTrie::take_changes`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrieChanges {
    /// The root hash after the changes.
    pub root: B256,
    /// Paths whose node was removed (a node may have been put there again since: it is in
    /// `updated`, so removals go first).
    pub removed: Vec<Nibbles>,
    /// Nodes created or changed, RLP-encoded, by path.
    pub updated: Vec<(Nibbles, Vec<u8>)>,
}

/// The keys of sorted `keys` that start with `prefix` (a contiguous run).
fn under<'a>(keys: &'a [Nibbles], prefix: &Nibbles) -> &'a [Nibbles] {
    let start = keys.partition_point(|key| key < prefix);
    let len = keys[start..].partition_point(|key| key.starts_with(prefix));
    &keys[start..start + len]
}
