//! Leaf updates and removals: the restructurings of a Merkle-Patricia trie.
//!
//! Inserting splits a leaf or an extension where the new key parts from it; removing drops the leaf,
//! collapses its parent branch into the surviving child when one child is left, and merges the result
//! into an extension above it. Every check (blinded nodes on the way, a blinded surviving sibling,
//! malformed structure) happens before the first mutation, so an error leaves the trie as it was.

use alloy_trie::{Nibbles, TrieMask};

use super::{RevealedTrie, SparseNode};
use crate::trie::{child, TrieError};

impl RevealedTrie {
    /// Inserts or updates the leaf at `full_path` (a 64-nibble key in a state trie) with `value`
    /// (its RLP as the trie stores it). Setting a leaf to the value it holds changes no node: no
    /// path is re-hashed for it, nothing written (a fifth of a busy block's updates: accounts a
    /// transaction touched without changing them, such as a zero-value call's recipient).
    pub fn update_leaf(&mut self, full_path: Nibbles, value: Vec<u8>) -> Result<(), TrieError> {
        if self.values.get(&full_path) == Some(&value) {
            return Ok(());
        }
        let mut path = Nibbles::new();
        loop {
            let rest = full_path.slice(path.len()..);
            match self.nodes.get(&path) {
                None => return Err(malformed(path)),
                Some(SparseNode::Hash(hash)) => {
                    return Err(TrieError::BlindedNode { path, hash: *hash });
                }
                Some(SparseNode::Empty) => {
                    self.set(path, SparseNode::leaf(rest));
                    break;
                }
                Some(SparseNode::Leaf { key, .. }) if *key == rest => {
                    self.modified.insert(path);
                    break;
                }
                Some(SparseNode::Leaf { key, .. }) => {
                    let key = *key;
                    let common = key.common_prefix_length(&rest);
                    if common == key.len() || common == rest.len() {
                        return Err(TrieError::KeyPrefix { path: path.join(&rest.slice(..common)) });
                    }
                    // The old leaf moves one level below a new branch; its value keeps its full path.
                    let branch = self.split(path, &key, common, &rest);
                    self.set(
                        child(&branch, key.get_unchecked(common)),
                        SparseNode::leaf(key.slice(common + 1..)),
                    );
                    break;
                }
                Some(SparseNode::Extension { key, .. }) if rest.starts_with(key) => {
                    path = path.join(key);
                }
                Some(SparseNode::Extension { key, .. }) => {
                    let key = *key;
                    let common = key.common_prefix_length(&rest);
                    if common == rest.len() {
                        return Err(TrieError::KeyPrefix { path: full_path });
                    }
                    // The extension's remainder (if any) leads from the new branch to the old child,
                    // which stays at its absolute path.
                    let branch = self.split(path, &key, common, &rest);
                    if common + 1 < key.len() {
                        let remainder = SparseNode::extension(key.slice(common + 1..));
                        self.set(child(&branch, key.get_unchecked(common)), remainder);
                    }
                    break;
                }
                Some(SparseNode::Branch { state_mask, .. }) => {
                    let Some(nibble) = rest.first() else {
                        return Err(TrieError::KeyPrefix { path });
                    };
                    let next = child(&path, nibble);
                    if !state_mask.is_bit_set(nibble) {
                        let mut state_mask = *state_mask;
                        state_mask.set_bit(nibble);
                        self.set(path, SparseNode::branch(state_mask));
                        self.set(next, SparseNode::leaf(rest.slice(1..)));
                        break;
                    }
                    path = next;
                }
            }
        }
        self.values.insert(full_path, value);
        self.prefix_set.insert(full_path);
        Ok(())
    }

    /// Replaces the leaf or extension with key `key` at `path`, which `rest` leaves after `common`
    /// nibbles, by an extension of the common part (if any) to a branch holding a new leaf for `rest`;
    /// returns the branch's path. The caller puts the old node's remainder under the branch.
    fn split(&mut self, path: Nibbles, key: &Nibbles, common: usize, rest: &Nibbles) -> Nibbles {
        debug_assert!(common < key.len() && common < rest.len(), "split inside both keys");
        let branch = path.join(&key.slice(..common));
        if common > 0 {
            self.set(path, SparseNode::extension(key.slice(..common)));
        }
        let (old, new) = (key.get_unchecked(common), rest.get_unchecked(common));
        let mut state_mask = TrieMask::default();
        state_mask.set_bit(old);
        state_mask.set_bit(new);
        self.set(branch, SparseNode::branch(state_mask));
        self.set(child(&branch, new), SparseNode::leaf(rest.slice(common + 1..)));
        branch
    }

    /// Removes the leaf at `full_path`. Absent keys are a no-op if the trie proves them absent, and a
    /// [`TrieError::BlindedNode`] if the way to them is blinded. A branch left with one child collapses
    /// into it, which needs that child revealed: else [`TrieError::BlindedSibling`].
    pub fn remove_leaf(&mut self, full_path: &Nibbles) -> Result<(), TrieError> {
        let stack = self.walk(full_path)?;
        if !self.values.contains_key(full_path) {
            return Ok(());
        }
        let (leaf, ancestors) = stack.split_last().expect("a walk visits the root");
        let replacement = match ancestors.last() {
            None => vec![(*leaf, Some(SparseNode::Empty))],
            Some(parent) => self.collapse(parent, leaf, ancestors)?,
        };
        for (path, node) in replacement {
            match node {
                Some(node) => self.set(path, node),
                None => {
                    self.nodes.remove(&path);
                    self.removed.insert(path);
                }
            }
        }
        if !ancestors.is_empty() {
            self.nodes.remove(leaf);
            self.removed.insert(*leaf);
        }
        self.values.remove(full_path);
        #[cfg(feature = "planted-bugs")]
        if crate::planted::active("sparse-removal-keeps-hashes") {
            return Ok(());
        }
        self.prefix_set.insert(*full_path);
        Ok(())
    }

    /// The node changes (path, new node or `None` to remove) once the child at `removed` is gone from
    /// the branch at `parent`.
    fn collapse(
        &self,
        parent: &Nibbles,
        removed: &Nibbles,
        ancestors: &[Nibbles],
    ) -> Result<Vec<(Nibbles, Option<SparseNode>)>, TrieError> {
        let Some(SparseNode::Branch { state_mask, .. }) = self.nodes.get(parent) else {
            return Err(malformed(*parent));
        };
        let mut state_mask = *state_mask;
        state_mask.unset_bit(removed.last().expect("below a branch"));
        if state_mask.count_bits() >= 2 {
            return Ok(vec![(*parent, Some(SparseNode::branch(state_mask)))]);
        }
        if state_mask.is_empty() {
            return Err(malformed(*parent));
        }
        let nibble = state_mask.first_set_bit_index().expect("one child left");
        let sibling = child(parent, nibble);
        let prefix = Nibbles::from_nibbles_unchecked([nibble]);
        let mut changes = Vec::with_capacity(3);
        // The branch becomes its only child, one nibble longer.
        let merged = match self.nodes.get(&sibling) {
            Some(SparseNode::Hash(hash)) => {
                return Err(TrieError::BlindedSibling { path: sibling, hash: *hash });
            }
            Some(SparseNode::Leaf { key, .. }) => {
                changes.push((sibling, None));
                SparseNode::leaf(prefix.join(key))
            }
            Some(SparseNode::Extension { key, .. }) => {
                changes.push((sibling, None));
                SparseNode::extension(prefix.join(key))
            }
            Some(SparseNode::Branch { .. }) => SparseNode::extension(prefix),
            Some(SparseNode::Empty) | None => return Err(malformed(sibling)),
        };
        // An extension right above absorbs it.
        let grandparent = ancestors.len().checked_sub(2).map(|i| ancestors[i]);
        if let Some(grandparent) = grandparent {
            if let Some(SparseNode::Extension { key: above, .. }) = self.nodes.get(&grandparent) {
                let merged = match merged {
                    SparseNode::Leaf { key, .. } => SparseNode::leaf(above.join(&key)),
                    SparseNode::Extension { key, .. } => SparseNode::extension(above.join(&key)),
                    _ => unreachable!("a collapsed branch is a leaf or an extension"),
                };
                changes.push((*parent, None));
                changes.push((grandparent, Some(merged)));
                return Ok(changes);
            }
        }
        changes.push((*parent, Some(merged)));
        Ok(changes)
    }

    /// The value of the leaf at `full_path`: `Some` if revealed, `None` if the trie proves it absent,
    /// [`TrieError::BlindedNode`] if a blinded node is in the way.
    pub fn find_leaf(&self, full_path: &Nibbles) -> Result<Option<&Vec<u8>>, TrieError> {
        match self.values.get(full_path) {
            Some(value) => Ok(Some(value)),
            None => self.walk(full_path).map(|_| None),
        }
    }

    /// The paths from the root along `full_path` to its leaf, or to where the trie proves it
    /// absent; [`TrieError::BlindedNode`] if a blinded node is in the way.
    fn walk(&self, full_path: &Nibbles) -> Result<Vec<Nibbles>, TrieError> {
        let mut stack = Vec::new();
        let mut path = Nibbles::new();
        loop {
            stack.push(path);
            let rest = full_path.slice(path.len()..);
            match self.nodes.get(&path) {
                None => return Err(malformed(path)),
                Some(SparseNode::Hash(hash)) => {
                    return Err(TrieError::BlindedNode { path, hash: *hash });
                }
                Some(SparseNode::Empty | SparseNode::Leaf { .. }) => return Ok(stack),
                Some(SparseNode::Extension { key, .. }) if rest.starts_with(key) => {
                    path = path.join(key);
                }
                Some(SparseNode::Extension { .. }) => return Ok(stack),
                Some(SparseNode::Branch { state_mask, .. }) => match rest.first() {
                    Some(nibble) if state_mask.is_bit_set(nibble) => path = child(&path, nibble),
                    _ => return Ok(stack),
                },
            }
        }
    }

    /// Puts a new or changed node (uncached) at `path` and remembers that an update made it.
    fn set(&mut self, path: Nibbles, node: SparseNode) {
        self.nodes.insert(path, node);
        self.modified.insert(path);
    }
}

fn malformed(path: Nibbles) -> TrieError {
    TrieError::BadProof { path, reason: "malformed trie structure" }
}
