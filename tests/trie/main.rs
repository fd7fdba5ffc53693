//! The tries against alloy-trie's HashBuilder and the Ethereum trie test vectors: roots, proofs, the
//! sparse trie and the sparse state trie (docs/trie.md).

mod common;
mod proofs;
mod roots;
mod sparse;
mod sparse_state;
mod vectors;
