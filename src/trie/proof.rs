//! Multiproofs: the trie nodes along a set of target paths, plus what a removal needs.
//!
//! A removal that leaves a branch with one child collapses that branch into its surviving child, so
//! the sparse trie must know that child (leaf, extension or branch) even though no target leads to it.
//! reth retains the one surviving sibling of branches it knows will lose children
//! (`ProofRetainer::with_added_removed_keys`). We prove before the update is known, so we retain
//! what any removal of target keys could need: for every branch on a target's path of which all but
//! at most one child hold nothing but target keys, the nodes of all its children. Other branches
//! keep two or more children whatever targets are removed; inserts need no siblings (the sparse
//! trie keeps nodes by absolute path). The nodes come from alloy-trie's `HashBuilder` with a
//! `ProofRetainer` whose targets are the keys plus the 16 children of each such branch.

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::RangeInclusive,
};

use alloy_primitives::{Bytes, B256, U256};
use alloy_trie::{nodes::RlpNode, proof::ProofRetainer, HashBuilder, Nibbles};

use super::child;

/// Proof targets: hashed address to the hashed slots wanted in its storage trie.
pub type MultiProofTargets = BTreeMap<B256, BTreeSet<B256>>;

/// Nodes of one trie (a storage trie, or any trie of 32-byte keys) along its target keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrieProof {
    /// The root the nodes hang from.
    pub root: B256,
    /// RLP-encoded nodes by path.
    pub subtree: BTreeMap<Nibbles, Bytes>,
}

/// Account-trie nodes along the target accounts and storage-trie nodes along their target slots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiProof {
    /// The state root the account nodes hang from.
    pub root: B256,
    /// RLP-encoded account-trie nodes by path.
    pub account_subtree: BTreeMap<Nibbles, Bytes>,
    /// Storage proofs of every target account (present even when its slot set is empty).
    pub storages: BTreeMap<B256, TrieProof>,
}

impl MultiProof {
    /// The proof of one account in the form `alloy_trie::proof::verify_proof` takes.
    pub fn account_proof(&self, hashed_address: B256) -> Vec<Bytes> {
        path_proof(&self.account_subtree, hashed_address)
    }

    /// The proof of one storage slot in the form `verify_proof` takes, if the account was a target.
    pub fn storage_proof(&self, hashed_address: B256, hashed_slot: B256) -> Option<Vec<Bytes>> {
        self.storages.get(&hashed_address).map(|s| s.proof(hashed_slot))
    }
}

impl TrieProof {
    /// The proof of one key in the form `alloy_trie::proof::verify_proof` takes.
    pub fn proof(&self, key: B256) -> Vec<Bytes> {
        path_proof(&self.subtree, key)
    }
}

/// The nodes on `key`'s path from the root, skipping those embedded in their parent (which
/// `verify_proof` decodes in place).
fn path_proof(subtree: &BTreeMap<Nibbles, Bytes>, key: B256) -> Vec<Bytes> {
    let key = Nibbles::unpack(key);
    (0..=key.len())
        .filter_map(|len| subtree.get_key_value(&key.slice(..len)))
        .filter(|(path, node)| path.is_empty() || RlpNode::from_rlp(node).is_hash())
        .map(|(_, node)| node.clone())
        .collect()
}

/// The proof of `targets` in the trie of `leaves` (values as the trie stores them), with all children
/// of the branches on the target paths: for tries outside a [`StateTrie`](super::StateTrie).
pub fn prove_leaves(leaves: &BTreeMap<B256, Vec<u8>>, targets: &BTreeSet<B256>) -> TrieProof {
    let (root, subtree) = prove(leaves, |_, value, buf| buf.extend_from_slice(value), targets);
    TrieProof { root, subtree }
}

/// Root and proof nodes of the trie over `leaves` (sorted by key) for `targets`, including all
/// children of the branches on target paths that removals of targets could collapse (module doc).
pub(crate) fn prove<'a, V>(
    leaves: &BTreeMap<B256, V>,
    encode: impl FnMut(&B256, &V, &mut Vec<u8>),
    targets: impl IntoIterator<Item = &'a B256>,
) -> (B256, BTreeMap<Nibbles, Bytes>) {
    let targets: BTreeSet<B256> = targets.into_iter().copied().collect();
    let (mut retained, keys) = proof_paths(leaves, &targets);
    retained.extend(keys.into_iter().map(|(key, _)| key));
    let mut hb = HashBuilder::default().with_proof_retainer(ProofRetainer::new(retained));
    let root = build(&mut hb, leaves, encode);
    let nodes = hb.take_proof_nodes().into_nodes_sorted().into_iter().collect();
    (root, nodes)
}

/// The paths a proof of `targets` keeps nodes along: the children of every branch on a target's
/// path that removing targets could leave with one child, and each target's key with the depth of
/// its deepest branch (where it parts from its nearest sorted neighbour). Shared by the hash
/// builder's proofs here and the payload processor's stored-node proofs, so both carry the same
/// nodes.
pub(crate) fn proof_paths<V>(
    leaves: &BTreeMap<B256, V>,
    targets: &BTreeSet<B256>,
) -> (Vec<Nibbles>, Vec<(Nibbles, usize)>) {
    let mut children = Vec::new();
    let mut keys = Vec::with_capacity(targets.len());
    let mut decided = BTreeSet::new();
    for target in targets {
        let key = Nibbles::unpack(target);
        let before = leaves.range(..*target).next_back().map(|(k, _)| *k);
        let after = leaves.range(*target..).find(|(k, _)| *k != target).map(|(k, _)| *k);
        let deepest = [before, after]
            .into_iter()
            .flatten()
            .map(|other| key.common_prefix_length(&Nibbles::unpack(other)))
            .max()
            .unwrap_or(0);
        for depth in 0..=deepest.min(key.len() - 1) {
            let branch = key.slice(..depth);
            if decided.insert(branch) && collapsible(leaves, targets, &branch) {
                children.extend((0..16).map(|nibble| child(&branch, nibble)));
            }
        }
        keys.push((key, deepest));
    }
    (children, keys)
}

/// Whether a branch at `branch` can be left with one child by removing target keys: it has two or
/// more children, all but at most one holding only target keys. Walks the branch's keys in order,
/// skipping the rest of a child at its first non-target key (one search per such child) and
/// stopping at the second: on the upper levels of a large trie that is almost always the second
/// child looked at (this check is most of a proof job's time otherwise).
fn collapsible<V>(leaves: &BTreeMap<B256, V>, targets: &BTreeSet<B256>, branch: &Nibbles) -> bool {
    let depth = branch.len();
    let branch_keys = key_range(branch);
    let branch_end = *branch_keys.end();
    let key_of = |(key, _): (&B256, &V)| *key;
    let mut keys = leaves.range(branch_keys).map(key_of).peekable();
    let (mut children, mut kept) = (0, 0);
    while let Some(&first) = keys.peek() {
        let child_end = *key_range(&child(branch, Nibbles::unpack(first).get_unchecked(depth))).end();
        children += 1;
        let mut only_targets = true;
        while let Some(key) = keys.next_if(|key| *key <= child_end) {
            if !targets.contains(&key) {
                only_targets = false;
                break;
            }
        }
        if only_targets {
            // The walk is at the next child's first key, if any.
            continue;
        }
        kept += 1;
        if kept == 2 {
            return false;
        }
        if child_end == branch_end {
            break;
        }
        let next = B256::from(U256::from_be_bytes(child_end.0) + U256::from(1));
        keys = leaves.range(next..=branch_end).map(key_of).peekable();
    }
    children >= 2
}

/// The 32-byte keys starting with `prefix`.
pub(crate) fn key_range(prefix: &Nibbles) -> RangeInclusive<B256> {
    let mut low = B256::ZERO;
    // The nibbles after the prefix (and an odd prefix's last half byte) are zero.
    prefix.pack_to(low.as_mut_slice());
    let rest = if prefix.len() < 64 { U256::MAX >> (4 * prefix.len()) } else { U256::ZERO };
    low..=B256::from(U256::from_be_bytes(low.0) | rest)
}

/// Feeds `leaves` (sorted by key) into `hb` and returns the root.
pub(crate) fn build<V, K>(
    hb: &mut HashBuilder<K>,
    leaves: &BTreeMap<B256, V>,
    mut encode: impl FnMut(&B256, &V, &mut Vec<u8>),
) -> B256
where
    K: AsRef<alloy_trie::proof::AddedRemovedKeys>,
{
    let mut buf = Vec::new();
    for (key, value) in leaves {
        buf.clear();
        encode(key, value, &mut buf);
        hb.add_leaf(Nibbles::unpack(key), &buf);
    }
    hb.root()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Child by child, each with a search of its own: the definition `collapsible` walks faster.
    fn collapsible_by_children(
        leaves: &BTreeMap<B256, ()>,
        targets: &BTreeSet<B256>,
        branch: &Nibbles,
    ) -> bool {
        let with_keys: Vec<bool> = (0..16)
            .filter_map(|nibble| {
                let keys: Vec<_> = leaves.range(key_range(&child(branch, nibble))).map(|(k, _)| *k).collect();
                (!keys.is_empty()).then(|| keys.iter().all(|k| targets.contains(k)))
            })
            .collect();
        with_keys.len() >= 2 && with_keys.iter().filter(|only_targets| !**only_targets).count() <= 1
    }

    proptest! {
        /// Keys drawn from few distinct nibbles (so branches share prefixes and hold few children),
        /// targets a random subset: the walk agrees with the child-by-child definition at every
        /// branch on every key's path.
        #[test]
        fn collapsible_matches_the_definition(
            raw in proptest::collection::vec((any::<[u8; 3]>(), any::<bool>()), 1..40),
        ) {
            let key = |bytes: [u8; 3]| {
                let mut key = B256::ZERO;
                key[0] = bytes[0] & 0x33;
                key[1] = bytes[1] & 0x31;
                key[2] = bytes[2];
                key
            };
            let leaves: BTreeMap<B256, ()> = raw.iter().map(|(bytes, _)| (key(*bytes), ())).collect();
            let targets: BTreeSet<B256> =
                raw.iter().filter(|(_, target)| *target).map(|(bytes, _)| key(*bytes)).collect();
            for leaf in leaves.keys() {
                for depth in 0..6 {
                    let branch = Nibbles::unpack(leaf).slice(..depth);
                    prop_assert_eq!(
                        collapsible(&leaves, &targets, &branch),
                        collapsible_by_children(&leaves, &targets, &branch),
                        "branch {:?}", branch
                    );
                }
            }
        }

        /// The range's ends are the prefix padded with zero and with 0xf nibbles: the smallest and
        /// largest keys under it.
        #[test]
        fn key_range_spans_the_keys_under_the_prefix(key in any::<[u8; 32]>(), len in 0usize..=64) {
            let prefix = Nibbles::unpack(key).slice(..len);
            let pad = |fill| {
                let mut padded = prefix;
                while padded.len() < 64 {
                    padded.push(fill);
                }
                B256::from_slice(&padded.pack())
            };
            let range = key_range(&prefix);
            prop_assert_eq!((*range.start(), *range.end()), (pad(0), pad(0xf)));
            prop_assert!(range.contains(&B256::from(key)));
        }
    }
}
