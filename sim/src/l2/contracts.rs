//! The workload's contracts (`sim/contracts/*.sol`, compiled by `sim/contracts/build.sh` into the
//! committed `out/*.hex`): two ERC-20 tokens, a constant-product pool over them, a storage-heavy
//! contract (which also reverts and runs out of gas on request) and a factory whose children live
//! for one transaction. Genesis places their runtime code and writes their storage directly, as a
//! genesis allocation does: token balances and pool allowances of the first
//! [`TOKEN_HOLDERS_MAX`] senders, the pool's reserves.

use alloy_primitives::{address, keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::{sol, SolCall};
use rollsim::{
    execution::L2State,
    trie::{Account, HashedPostState, HashedStorage},
};

sol! {
    function transfer(address to, uint256 value) external returns (bool);
    function swap(bool zeroForOne, uint256 amountIn, uint256 minAmountOut) external returns (uint256 amountOut);
    function write(uint256 key, uint256 n) external;
    function clear(uint256 key, uint256 n) external;
    function fail() external;
    function burn() external;
    function createAndDestroy(bytes32 salt) external payable;
}

pub const TOKEN0: Address = address!("c0de000000000000000000000000000000000001");
pub const TOKEN1: Address = address!("c0de000000000000000000000000000000000002");
pub const POOL: Address = address!("c0de000000000000000000000000000000000003");
pub const STORE: Address = address!("c0de000000000000000000000000000000000004");
pub const FACTORY: Address = address!("c0de000000000000000000000000000000000005");

/// Senders that hold tokens (and allow the pool) at genesis at most; later ones' token calls
/// revert, as an empty wallet's would.
pub const TOKEN_HOLDERS_MAX: usize = 10_000;
/// Each holder's balance of each token.
pub const HOLDER_BALANCE: u128 = 1_000_000_000_000_000_000_000_000;
/// The pool's reserve of each token at genesis.
pub const POOL_RESERVE: u128 = 1_000_000_000_000_000_000_000_000_000_000;

fn code(hex: &str) -> Bytes {
    alloy_primitives::hex::decode(hex.trim()).expect("the committed bytecode is hex").into()
}

/// The slot of `key` in a Solidity `mapping` at slot `slot`: keccak256(key ++ slot).
pub fn mapping_slot(key: B256, slot: U256) -> U256 {
    U256::from_be_bytes(keccak256([key.0, slot.to_be_bytes::<32>()].concat()).0)
}

/// Adds the contracts to `state`, with `holders`' token balances and pool allowances.
pub fn deploy(state: &mut L2State, holders: &[Address]) {
    let holders = &holders[..holders.len().min(TOKEN_HOLDERS_MAX)];
    let mut update = HashedPostState::default();
    let mut place = |address: Address, runtime: &str, slots: Vec<(U256, U256)>| {
        let runtime = code(runtime);
        let account = Account { nonce: 1, balance: U256::ZERO, code_hash: keccak256(&runtime) };
        update.accounts.insert(keccak256(address), Some(account));
        let slots =
            slots.into_iter().map(|(slot, value)| (keccak256(slot.to_be_bytes::<32>()), value)).collect();
        update.storages.insert(keccak256(address), HashedStorage { wiped: false, slots });
        runtime
    };
    let token_slots = || {
        let mut slots = Vec::with_capacity(2 * holders.len() + 2);
        for holder in holders {
            let key = holder.into_word();
            slots.push((mapping_slot(key, U256::ZERO), U256::from(HOLDER_BALANCE)));
            // allowance[holder][POOL]: the inner mapping's slot is keyed by the holder.
            let inner = mapping_slot(key, U256::from(1));
            slots.push((mapping_slot(POOL.into_word(), inner), U256::MAX));
        }
        slots.push((mapping_slot(POOL.into_word(), U256::ZERO), U256::from(POOL_RESERVE)));
        let supply = U256::from(HOLDER_BALANCE) * U256::from(holders.len()) + U256::from(POOL_RESERVE);
        slots.push((U256::from(2), supply));
        slots
    };
    let token = include_str!("../../contracts/out/Token.hex");
    let pool_slots = vec![
        (U256::ZERO, TOKEN0.into_word().into()),
        (U256::from(1), TOKEN1.into_word().into()),
        (U256::from(2), U256::from(POOL_RESERVE)),
        (U256::from(3), U256::from(POOL_RESERVE)),
    ];
    let codes = [
        place(TOKEN0, token, token_slots()),
        place(TOKEN1, token, token_slots()),
        place(POOL, include_str!("../../contracts/out/Pool.hex"), pool_slots),
        place(STORE, include_str!("../../contracts/out/Store.hex"), Vec::new()),
        place(FACTORY, include_str!("../../contracts/out/Factory.hex"), Vec::new()),
    ];
    state.apply(&update);
    for code in codes {
        state.insert_code(code);
    }
}

/// ERC-20 `transfer(to, value)`.
pub fn token_transfer(to: Address, value: U256) -> Bytes {
    transferCall { to, value }.abi_encode().into()
}

/// The pool's `swap`.
pub fn pool_swap(zero_for_one: bool, amount_in: U256, min_amount_out: U256) -> Bytes {
    swapCall { zeroForOne: zero_for_one, amountIn: amount_in, minAmountOut: min_amount_out }
        .abi_encode()
        .into()
}

/// `Store.write(key, n)`: `n` slots written.
pub fn store_write(key: U256, n: U256) -> Bytes {
    writeCall { key, n }.abi_encode().into()
}

/// `Store.clear(key, n)`: the slots of `write(key, n)` deleted.
pub fn store_clear(key: U256, n: U256) -> Bytes {
    clearCall { key, n }.abi_encode().into()
}

/// `Store.fail()`: reverts with a reason.
pub fn store_fail() -> Bytes {
    failCall {}.abi_encode().into()
}

/// `Store.burn()`: loops until the gas runs out.
pub fn store_burn() -> Bytes {
    burnCall {}.abi_encode().into()
}

/// `Factory.createAndDestroy(salt)`: a child created and self-destructed in one transaction.
pub fn factory_create_and_destroy(salt: B256) -> Bytes {
    createAndDestroyCall { salt }.abi_encode().into()
}

/// The address of the child `createAndDestroy(salt)` creates (CREATE2 of the child's init code).
#[cfg(test)]
pub fn factory_child(salt: B256) -> Address {
    FACTORY.create2(salt, keccak256(code(include_str!("../../contracts/out/Child.init.hex"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l2::genesis::{genesis_state, SENDER_BALANCE_WEI};
    use alloy_consensus::{transaction::Recovered, TxEip1559};
    use alloy_primitives::TxKind;
    use op_alloy_consensus::OpTxEnvelope;
    use rollsim::{
        evm::{BlockContext, EvmBlock, EvmOutput, EvmTx, OpEvmExecutor},
        execution::StateView,
    };

    const CHAIN_ID: u64 = 901;
    const BASE_FEE: u64 = 1_000;
    const ALICE: Address = address!("a200000000000000000000000000000000000001");
    const BOB: Address = address!("a200000000000000000000000000000000000002");

    fn call(from: Address, nonce: u64, to: Address, input: Bytes, gas_limit: u64) -> Recovered<OpTxEnvelope> {
        let tx = TxEip1559 {
            chain_id: CHAIN_ID,
            nonce,
            gas_limit,
            max_fee_per_gas: BASE_FEE.into(),
            to: TxKind::Call(to),
            input,
            ..Default::default()
        };
        Recovered::new_unchecked(OpTxEnvelope::Eip1559(crate::l2::simsig::sign(tx, from)), from)
    }

    /// Executes `txs` as one block on the genesis state; returns the output and the state after.
    fn run(txs: Vec<Recovered<OpTxEnvelope>>) -> (L2State, L2State, EvmOutput) {
        let pre = genesis_state(CHAIN_ID, [ALICE, BOB]).unwrap();
        let context = BlockContext {
            number: 1,
            timestamp: 2,
            gas_limit: 30_000_000,
            base_fee: BASE_FEE,
            parent_beacon_block_root: Some(B256::ZERO),
            ..Default::default()
        };
        let (output, merged) = OpEvmExecutor::new(CHAIN_ID)
            .execute_sequential(&pre, &EvmBlock { context, txs: txs.into_iter().map(EvmTx::from).collect() })
            .unwrap();
        assert!(output.rejected.is_empty(), "{:?}", output.rejected);
        let mut post = pre.clone();
        post.apply(&merged);
        (pre, post, output)
    }

    fn balance(state: &L2State, token: Address, holder: Address) -> U256 {
        state.storage(&token, &mapping_slot(holder.into_word(), U256::ZERO))
    }

    #[test]
    fn calldata_is_abi_encoded() {
        assert_eq!(token_transfer(BOB, U256::from(5))[..4], [0xa9, 0x05, 0x9c, 0xbb]);
        assert_eq!(token_transfer(BOB, U256::from(5)).len(), 4 + 64);
        assert_eq!(store_fail()[..], [0xa9, 0xcc, 0x47, 0x18]);
    }

    #[test]
    fn a_token_transfer_moves_the_amount_and_logs_it() {
        let (pre, post, output) =
            run(vec![call(ALICE, 0, TOKEN0, token_transfer(BOB, U256::from(123)), 100_000)]);
        assert!(output.receipts[0].status());
        assert_eq!(balance(&post, TOKEN0, ALICE), balance(&pre, TOKEN0, ALICE) - U256::from(123));
        assert_eq!(balance(&post, TOKEN0, BOB), balance(&pre, TOKEN0, BOB) + U256::from(123));
        let log = &output.receipts[0].logs()[0];
        assert_eq!(log.address, TOKEN0);
        assert_eq!(log.topics()[0], keccak256("Transfer(address,address,uint256)"));
    }

    /// Swaps follow x * y = k with the 0.3% fee, each seeing the reserves the one before left.
    #[test]
    fn swaps_follow_the_constant_product_one_after_another() {
        let amount = U256::from(10u128.pow(24));
        let txs = vec![
            call(ALICE, 0, POOL, pool_swap(true, amount, U256::ZERO), 200_000),
            call(BOB, 0, POOL, pool_swap(true, amount, U256::ZERO), 200_000),
        ];
        let (pre, post, output) = run(txs);
        assert!(output.receipts.iter().all(|r| r.status()));
        let (mut r0, mut r1) = (U256::from(POOL_RESERVE), U256::from(POOL_RESERVE));
        for who in [ALICE, BOB] {
            let with_fee = amount * U256::from(997);
            let out = with_fee * r1 / (r0 * U256::from(1000) + with_fee);
            assert_eq!(balance(&post, TOKEN1, who), balance(&pre, TOKEN1, who) + out, "{who}");
            assert_eq!(balance(&post, TOKEN0, who), balance(&pre, TOKEN0, who) - amount);
            (r0, r1) = (r0 + amount, r1 - out);
        }
        assert_eq!(post.storage(&POOL, &U256::from(2)), r0);
        assert_eq!(post.storage(&POOL, &U256::from(3)), r1);
        assert!(r0 * r1 >= U256::from(POOL_RESERVE) * U256::from(POOL_RESERVE), "k never decreases");
    }

    #[test]
    fn the_store_writes_slots_and_clears_them() {
        let key = U256::from(77);
        let slot = |i: u64| {
            mapping_slot(
                B256::from(U256::from_be_bytes(
                    keccak256([key.to_be_bytes::<32>(), U256::from(i).to_be_bytes::<32>()].concat()).0,
                )),
                U256::ZERO,
            )
        };
        let (_, written, _) = run(vec![call(ALICE, 0, STORE, store_write(key, U256::from(5)), 500_000)]);
        for i in 0..5 {
            assert_eq!(written.storage(&STORE, &slot(i)), key + U256::from(i + 1));
        }
        let txs = vec![
            call(ALICE, 0, STORE, store_write(key, U256::from(5)), 500_000),
            call(ALICE, 1, STORE, store_clear(key, U256::from(5)), 500_000),
        ];
        let (_, cleared, _) = run(txs);
        assert!((0..5).all(|i| cleared.storage(&STORE, &slot(i)).is_zero()));
        assert!(cleared.trie().storage(&keccak256(STORE)).is_none_or(|slots| slots.is_empty()));
    }

    #[test]
    fn a_child_created_and_destroyed_in_one_transaction_is_gone() {
        let salt = B256::repeat_byte(9);
        let (_, post, output) = run(vec![call(ALICE, 0, FACTORY, factory_create_and_destroy(salt), 300_000)]);
        assert!(output.receipts[0].status());
        let ephemeral = &output.receipts[0].logs()[0];
        assert_eq!(Address::from_word(ephemeral.data.data[..32].try_into().unwrap()), factory_child(salt));
        assert_eq!(post.account(&factory_child(salt)), None, "EIP-6780: deleted");
    }

    /// A revert and an out-of-gas loop change nothing but the sender's nonce and balance (the fee).
    #[test]
    fn failing_calls_leave_only_fee_and_nonce() {
        for (input, gas_limit) in [(store_fail(), 100_000), (store_burn(), 200_000)] {
            let (pre, post, output) = run(vec![call(ALICE, 0, STORE, input, gas_limit)]);
            assert!(!output.receipts[0].status());
            let alice = post.account(&ALICE).unwrap();
            assert_eq!(alice.nonce, 1);
            let fee = U256::from(output.gas_used) * U256::from(BASE_FEE);
            assert_eq!(alice.balance, U256::from(SENDER_BALANCE_WEI) - fee);
            assert_eq!(post.account(&STORE), pre.account(&STORE));
            assert!(post.trie().storage(&keccak256(STORE)).is_none_or(|slots| slots.is_empty()));
        }
    }
}
