//! The deterministic executor and the state hook's view of a block.

use crate::common::{address, random_block, random_state, rng, Shape};
use alloy_primitives::{keccak256, Address, B256, U256};
use rollsim::{
    execution::{execute_block, L2State, SimpleExecutor, StateView, Tx, TxExecutor, TxState},
    trie::{Account, HashedPostState, HashedStorage, StateTrie, KECCAK_EMPTY},
};

/// An account with its storage as (slot, value) pairs.
type Genesis<'a> = (Address, Account, &'a [(u64, u64)]);

fn state(accounts: &[Genesis<'_>]) -> L2State {
    let mut update = HashedPostState::default();
    for (address, account, slots) in accounts {
        update.accounts.insert(keccak256(address), Some(*account));
        let slots = slots
            .iter()
            .map(|(s, v)| (keccak256(U256::from(*s).to_be_bytes::<32>()), U256::from(*v)))
            .collect();
        update.storages.insert(keccak256(address), HashedStorage { wiped: false, slots });
    }
    let mut trie = StateTrie::new();
    trie.apply(&update);
    L2State::new(trie)
}

fn eoa(balance: u64) -> Account {
    Account { nonce: 0, balance: U256::from(balance), code_hash: KECCAK_EMPTY }
}

fn contract() -> Account {
    Account { nonce: 1, balance: U256::from(7), code_hash: B256::with_last_byte(1) }
}

#[test]
fn appends_depend_on_earlier_transactions() {
    let (alice, c) = (address(0), address(1));
    let pre = state(&[(alice, eoa(10), &[]), (c, contract(), &[(0, 2), (1, 1), (2, 2)])]);
    let append = Tx::Append { from: alice, contract: c };
    let mut written = Vec::new();
    execute_block(&SimpleExecutor, &pre, &[append.clone(), append.clone()], |changes| {
        written.push(changes.accounts[&c].storage.clone());
    });
    let slot = |n: u64| (U256::from(n), U256::from(n));
    assert_eq!(written[0], [(U256::ZERO, U256::from(3)), slot(3)].into());
    assert_eq!(written[1], [(U256::ZERO, U256::from(4)), slot(4)].into(), "the second sees the first");
    // On the pre-state (as prewarm runs it) the second append would write slot 3 again.
    let (alone, _) = SimpleExecutor.transact(&pre, &append);
    assert_eq!(alone.accounts[&c].storage, written[0]);
}

#[test]
fn destruction_wipes_storage_and_pays_the_beneficiary() {
    let (alice, c, bob) = (address(0), address(1), address(2));
    let pre = state(&[(alice, eoa(10), &[]), (c, contract(), &[(5, 5)])]);
    let (changes, ok) =
        SimpleExecutor.transact(&pre, &Tx::Destroy { from: alice, contract: c, beneficiary: bob });
    assert!(ok);
    assert!(changes.accounts[&c].destroyed);
    assert_eq!(changes.accounts[&bob].info.balance, U256::from(7));
    let hashed = changes.to_hashed();
    assert_eq!(hashed.accounts[&keccak256(c)], None);
    assert_eq!(hashed.storages[&keccak256(c)], HashedStorage { wiped: true, slots: Default::default() });
    let mut post = pre.clone();
    post.apply(&hashed);
    assert_eq!(post.account(&c), None);
    assert_eq!(post.storage(&c, &U256::from(5)), U256::ZERO);
}

#[test]
fn empty_touched_accounts_are_removed_and_failures_bump_the_nonce() {
    let (alice, ghost) = (address(0), address(9));
    let pre = state(&[(alice, eoa(10), &[])]);
    let (changes, ok) =
        SimpleExecutor.transact(&pre, &Tx::Transfer { from: alice, to: ghost, value: U256::ZERO });
    assert!(ok);
    assert!(changes.accounts[&ghost].destroyed, "EIP-161: a touched empty account does not exist");
    let (changes, ok) =
        SimpleExecutor.transact(&pre, &Tx::Transfer { from: alice, to: ghost, value: U256::from(11) });
    assert!(!ok);
    assert_eq!(changes.accounts[&alice].info, Account { nonce: 1, ..eoa(10) });
    assert!(changes.accounts.get(&ghost).is_none_or(|a| a.destroyed));
}

#[test]
fn the_merged_block_state_is_the_transactions_in_order() {
    for seed in 0..32 {
        let pre = random_state(&mut rng(seed, "state"), Shape::SMALL);
        let txs = random_block(&mut rng(seed, "block"), Shape::SMALL);
        let mut stepwise = pre.clone();
        let mut hooked: Vec<TxState> = Vec::new();
        let outcome = execute_block(&SimpleExecutor, &pre, &txs, |changes| {
            stepwise.apply(&changes.to_hashed());
            hooked.push(changes.clone());
        });
        assert_eq!(hooked.len(), txs.len());
        let mut merged = pre.clone();
        merged.apply(&outcome.state);
        assert_eq!(merged.root(), stepwise.root(), "seed {seed}");
        assert!(outcome.success.iter().any(|ok| !ok) && outcome.success.iter().any(|ok| *ok), "seed {seed}");
    }
}
