//! revm's `Database` over a [`StateView`].

use alloy_primitives::{Address, B256, U256};
use revm::{
    bytecode::Bytecode,
    database_interface::{DBErrorMarker, Database},
    state::AccountInfo,
};

use super::AncestorHashes;
use crate::execution::StateView;

/// A state read that cannot be answered: the state is inconsistent, not the block invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateDbError {
    /// An account's code hash names code the state does not hold.
    #[error("no code with hash {0}")]
    MissingCode(B256),
    /// `BLOCKHASH` of a block the context does not carry (within the last 256).
    #[error("no hash for ancestor block {0}")]
    MissingBlockHash(u64),
}

impl DBErrorMarker for StateDbError {}

/// The pre-block state as revm reads it: accounts, slots and code from `view`, ancestors' hashes
/// from the block's context.
pub struct StateDb<'a> {
    view: &'a dyn StateView,
    ancestor_hashes: &'a AncestorHashes,
}

impl<'a> StateDb<'a> {
    /// Reads `view`; `BLOCKHASH` answers from `ancestor_hashes`.
    pub fn new(view: &'a dyn StateView, ancestor_hashes: &'a AncestorHashes) -> Self {
        Self { view, ancestor_hashes }
    }
}

impl std::fmt::Debug for StateDb<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDb")
            .field("ancestor_hashes", &self.ancestor_hashes.numbers())
            .finish_non_exhaustive()
    }
}

impl Database for StateDb<'_> {
    type Error = StateDbError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, StateDbError> {
        // Code is loaded when an execution needs it (revm asks `code_by_hash`): most accounts a
        // block touches only pay or are paid.
        Ok(self.view.account(&address).map(|account| AccountInfo {
            balance: account.balance,
            nonce: account.nonce,
            code_hash: account.code_hash,
            code: None,
        }))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, StateDbError> {
        self.view.code(&code_hash).ok_or(StateDbError::MissingCode(code_hash))
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, StateDbError> {
        Ok(self.view.storage(&address, &index))
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, StateDbError> {
        self.ancestor_hashes.get(number).ok_or(StateDbError::MissingBlockHash(number))
    }
}
