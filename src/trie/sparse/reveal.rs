//! Revealing proof nodes into a sparse trie.
//!
//! A node is placed only where the trie holds a blinded `Hash` for it (or inline inside a placed
//! parent), and only after checking it hashes to that reference and is well formed below: so a
//! tampered proof is rejected before it changes anything, and every reference a placed node makes is
//! backed by a node in the map. Proofs may be stale (computed before updates the trie has since
//! applied): nodes at paths an update has changed, or that no longer hang from the trie, are skipped.
//! A proof's nodes at revealed paths are skipped unread; a single node revealed at a revealed path
//! that no update touched must be the one there, else [`TrieError::ConflictingReveal`].

use alloy_primitives::{keccak256, Bytes};
use alloy_rlp::{Decodable, Encodable};
use alloy_trie::{
    nodes::{RlpNode, TrieNode},
    Nibbles,
};

use super::{RevealedTrie, SparseNode};
use crate::trie::{child, TrieError};

/// Longest path a node can sit at: a 32-byte key.
const MAX_PATH: usize = 64;

impl RevealedTrie {
    /// Reveals RLP-encoded proof nodes by path (sorted here, so parents come before children). Only
    /// nodes at blinded paths are read: one at a revealed path is the node placed there (checked
    /// against its parent's reference then) or a stale one, and a trie kept across blocks has its
    /// upper levels revealed, which every proof repeats; reth skips them the same way.
    pub fn reveal_proof_nodes<'a>(
        &mut self,
        nodes: impl IntoIterator<Item = (&'a Nibbles, &'a Bytes)>,
    ) -> Result<(), TrieError> {
        let mut nodes: Vec<_> = nodes.into_iter().collect();
        nodes.sort_unstable_by_key(|(path, _)| **path);
        for (path, encoded) in nodes {
            if let Some(SparseNode::Hash(_)) = self.nodes.get(path) {
                let node = TrieNode::decode(&mut &encoded[..])?;
                self.reveal_encoded(*path, node, encoded)?;
            }
        }
        Ok(())
    }

    /// Reveals one decoded node at `path`.
    pub fn reveal_node(&mut self, path: Nibbles, node: TrieNode) -> Result<(), TrieError> {
        let mut encoded = Vec::new();
        node.encode(&mut encoded);
        self.reveal_encoded(path, node, &encoded)
    }

    /// A node placed at a blinded path hashes to the reference its parent holds: the bytes are the
    /// committed node's, so they need no canonical-encoding check of their own (an encoding per
    /// node, for nothing). Inline children, which no hash protects, are checked in `validate`.
    fn reveal_encoded(&mut self, path: Nibbles, node: TrieNode, encoded: &[u8]) -> Result<(), TrieError> {
        match self.nodes.get(&path) {
            // Not hanging from the trie (any more): nothing can reference it.
            None => Ok(()),
            Some(SparseNode::Hash(expected)) => {
                let rlp = RlpNode::from_rlp(encoded);
                // The root is referenced by its hash even when its RLP is shorter than one.
                let hash = if path.is_empty() { Some(keccak256(encoded)) } else { rlp.as_hash() };
                if hash != Some(*expected) {
                    return Err(bad(path, "node does not hash to its reference"));
                }
                validate(&path, &node)?;
                self.place(path, node, rlp);
                Ok(())
            }
            Some(_) => self.check_revealed(path, &node),
        }
    }

    /// A node at an already revealed path must be the one there, unless an update changed it.
    fn check_revealed(&self, path: Nibbles, node: &TrieNode) -> Result<(), TrieError> {
        if self.modified.contains(&path) {
            return Ok(());
        }
        let same = match (self.nodes.get(&path), node) {
            (Some(SparseNode::Empty), TrieNode::EmptyRoot) => true,
            (Some(SparseNode::Leaf { key, .. }), TrieNode::Leaf(leaf)) => {
                *key == leaf.key && self.values.get(&path.join(key)) == Some(&leaf.value)
            }
            (Some(SparseNode::Extension { key, .. }), TrieNode::Extension(ext)) => *key == ext.key,
            (Some(SparseNode::Branch { state_mask, .. }), TrieNode::Branch(branch)) => {
                *state_mask == branch.state_mask
            }
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err(TrieError::ConflictingReveal { path })
        }
    }

    /// Places a validated node at `path` (a blinded or fresh slot), with its children.
    fn place(&mut self, path: Nibbles, node: TrieNode, rlp: RlpNode) {
        match node {
            TrieNode::EmptyRoot => {
                self.nodes.insert(path, SparseNode::Empty);
            }
            TrieNode::Leaf(leaf) => {
                self.values.insert(path.join(&leaf.key), leaf.value);
                self.nodes.insert(path, SparseNode::Leaf { key: leaf.key, hash: Some(rlp) });
            }
            TrieNode::Extension(ext) => {
                self.place_child(path.join(&ext.key), &ext.child);
                self.nodes.insert(path, SparseNode::Extension { key: ext.key, hash: Some(rlp) });
            }
            TrieNode::Branch(branch) => {
                for (nibble, reference) in branch.state_mask.iter().zip(&branch.stack) {
                    self.place_child(child(&path, nibble), reference);
                }
                let (state_mask, children) = (branch.state_mask, Some(branch.stack.into_boxed_slice()));
                self.nodes.insert(path, SparseNode::Branch { state_mask, hash: Some(rlp), children });
            }
        }
    }

    /// A child reference: a hash becomes a blinded node, an inline node is placed at once.
    fn place_child(&mut self, path: Nibbles, child: &RlpNode) {
        if let Some(hash) = child.as_hash() {
            self.nodes.entry(path).or_insert(SparseNode::Hash(hash));
        } else {
            let node = TrieNode::decode(&mut &child[..]).expect("inline children are validated");
            self.place(path, node, child.clone());
        }
    }
}

/// Checks that `node` can sit at `path`: paths within a 32-byte key, branches with two or more
/// children, non-empty extension keys, and the same for inline children, which no hash protects.
fn validate(path: &Nibbles, node: &TrieNode) -> Result<(), TrieError> {
    match node {
        TrieNode::EmptyRoot if path.is_empty() => Ok(()),
        TrieNode::EmptyRoot => Err(bad(*path, "empty node below the root")),
        TrieNode::Leaf(leaf) if path.len() + leaf.key.len() > MAX_PATH => {
            Err(bad(*path, "leaf key too long"))
        }
        TrieNode::Leaf(_) => Ok(()),
        TrieNode::Extension(ext) => {
            if ext.key.is_empty() || path.len() + ext.key.len() >= MAX_PATH {
                return Err(bad(*path, "bad extension key length"));
            }
            validate_child(&path.join(&ext.key), &ext.child)
        }
        TrieNode::Branch(branch) => {
            if path.len() >= MAX_PATH || branch.state_mask.count_bits() < 2 {
                return Err(bad(*path, "branch too deep or with fewer than two children"));
            }
            for (nibble, reference) in branch.state_mask.iter().zip(&branch.stack) {
                validate_child(&child(path, nibble), reference)?;
            }
            Ok(())
        }
    }
}

/// A child reference is a 32-byte hash, or a canonical node shorter than one, embedded.
fn validate_child(path: &Nibbles, child: &RlpNode) -> Result<(), TrieError> {
    if child.is_hash() {
        return match child[0] == alloy_rlp::EMPTY_STRING_CODE + 32 {
            true => Ok(()),
            false => Err(bad(*path, "malformed child hash")),
        };
    }
    let node = TrieNode::decode(&mut &child[..])?;
    if child.len() >= 32 || alloy_rlp::encode(&node) != child[..] {
        return Err(bad(*path, "malformed inline child"));
    }
    validate(path, &node)
}

fn bad(path: Nibbles, reason: &'static str) -> TrieError {
    TrieError::BadProof { path, reason }
}
