//! Typed trie errors: a bad proof or a touch of a blinded node must surface as an error the caller
//! can act on (fetch more proofs, fall back to a full recompute), never as a panic or a wrong root.

use alloy_primitives::B256;
use alloy_trie::Nibbles;

/// An error of one (sparse) trie.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrieError {
    /// The trie is blind: nothing has been revealed, not even its root.
    #[error("trie is blind")]
    Blind,
    /// The operation needs a node that is only known by its hash.
    #[error("blinded node at {path:?} (hash {hash})")]
    BlindedNode {
        /// Path of the blinded node.
        path: Nibbles,
        /// Its hash.
        hash: B256,
    },
    /// A removal left a branch with one child, known only by its hash: the branch collapses into that
    /// child, so it must be revealed. Unlike [`Self::BlindedNode`] (a proof that should have been
    /// asked for), no proof of the removed key carries it: reth fetches it from the database.
    #[error("blinded sibling at {path:?} (hash {hash}) of a removed key")]
    BlindedSibling {
        /// Path of the blinded sibling.
        path: Nibbles,
        /// Its hash.
        hash: B256,
    },
    /// A proof revealed a node different from the (untouched) node already revealed at that path.
    #[error("conflicting reveal at {path:?}")]
    ConflictingReveal {
        /// Path of the conflicting node.
        path: Nibbles,
    },
    /// A node an update changed was not re-hashed by the root: the root is stale (a bug in the
    /// trie's bookkeeping of changed paths, such as reth#17331).
    #[error("node changed at {path:?} was not re-hashed: stale root")]
    Unhashed {
        /// Path of the changed node.
        path: Nibbles,
    },
    /// A proof node does not hash to the reference its parent holds, or is malformed for its place.
    #[error("bad proof node at {path:?}: {reason}")]
    BadProof {
        /// Path of the offending node.
        path: Nibbles,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key is a strict prefix of another key: fixed-length-key tries cannot hold both.
    #[error("key prefix conflict at {path:?}")]
    KeyPrefix {
        /// Path where one key ended inside the other.
        path: Nibbles,
    },
    /// A proof node is not valid RLP.
    #[error("bad RLP in proof node: {0}")]
    Rlp(#[from] alloy_rlp::Error),
}

/// An error of the sparse state trie: a [`TrieError`] in the account trie (`account` is `None`) or
/// in the storage trie of `account`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} trie: {error}", account.map_or("account".to_string(), |a| format!("storage {a}")))]
pub struct StateTrieError {
    /// The hashed address whose storage trie failed, or `None` for the account trie.
    pub account: Option<B256>,
    /// The underlying error.
    pub error: TrieError,
}

impl StateTrieError {
    pub(crate) fn account_trie(error: TrieError) -> Self {
        Self { account: None, error }
    }

    pub(crate) fn storage(account: B256, error: TrieError) -> Self {
        Self { account: Some(account), error }
    }
}
