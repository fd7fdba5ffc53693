//! Merkle-Patricia tries for the payload processor.
//!
//! Three pieces, each checked against alloy-trie's `HashBuilder` as an independent oracle:
//! - [`StateTrie`]: the whole state in memory (accounts and storages as sorted leaves). Its roots are
//!   full `HashBuilder` passes over the account leaves, with per-account storage roots cached, and it
//!   answers [`MultiProof`]s. It plays the database the real payload processor reads proofs from.
//! - [`SparseTrie`]: reth's sparse trie. Only the nodes revealed from proofs are known; the rest are
//!   blinded hashes. Updates and removals restructure the revealed part, and the root re-hashes only
//!   the paths that changed. Touching a blinded node is a typed error, never a silently wrong root.
//! - [`SparseStateTrie`]: an account sparse trie plus one storage sparse trie per account, fed with
//!   multiproofs and [`HashedPostState`] updates, yielding the post-block state root.
//!
//! Node encoding, nibbles, the hash builder and proof verification all come from alloy-trie: what is
//! built here is only the structure on top of them.

mod error;
mod post_state;
mod proof;
mod sparse;
mod sparse_state;
mod state;

pub use alloy_trie::{
    nodes::{BranchNode, ExtensionNode, LeafNode, RlpNode, TrieNode},
    Nibbles, TrieAccount, TrieMask, EMPTY_ROOT_HASH, KECCAK_EMPTY,
};
pub use error::{StateTrieError, TrieError};
pub(crate) use post_state::encode_slot;
pub use post_state::{Account, HashedPostState, HashedStorage};
pub(crate) use proof::{key_range, proof_paths};
pub use proof::{prove_leaves, MultiProof, MultiProofTargets, TrieProof};
pub use sparse::{RevealedTrie, SparseNode, SparseTrie, TrieChanges};
pub use sparse_state::{SparseStateTrie, StateTrieChanges};
pub use state::StateTrie;

/// A hash map with a fixed seed, for lookups on hot paths: std's `RandomState` would differ between
/// runs. Iterating one gives an order that must not reach behaviour.
pub(crate) type FixedMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;
/// A hash set with a fixed seed, as [`FixedMap`].
pub(crate) type FixedSet<K> = hashbrown::HashSet<K, foldhash::fast::FixedState>;

/// The path of the child at `nibble` of the node at `path`.
pub(crate) fn child(path: &Nibbles, nibble: u8) -> Nibbles {
    let mut child = *path;
    child.push_unchecked(nibble);
    child
}
