//! The L2 genesis state: the predeploys execution needs, with their real bytecode, the workload's
//! funded senders, and any number of dormant funded accounts (`[l2] genesis_accounts`) that make
//! the state as large as a scaling measurement needs.
//!
//! kona-hardforks ships the network-upgrade transactions of Ecotone, Fjord and Isthmus: deposits
//! that deploy the L1Block, GasPriceOracle and OperatorFeeVault implementations and the EIP-4788
//! and EIP-2935 system contracts, point the predeploys' proxies at the new implementations
//! (`upgradeTo`), and switch the GasPriceOracle's modes on. Genesis executes them in the EVM, in
//! order, with one difference: a real chain has a proxy at each predeploy address, whose bytecode
//! no crate ships, so an `upgradeTo` here places the implementation's code at the predeploy
//! address itself. The L1-info deposit then runs against the real L1Block, and op-revm charges the
//! L1 data fee from what it wrote. L2ToL1MessagePasser has no shipped bytecode either: it is an
//! account without code (nonce 1, as every predeploy), so no withdrawal can be made and the
//! Isthmus withdrawals root, its storage root, stays the empty root (kona-executor reads that
//! account to compute it).

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Mutex,
};

use alloy_consensus::transaction::Recovered;
use alloy_primitives::{keccak256, Address, Sealable, TxKind, U256};
use kona_hardforks::{Ecotone, Fjord, Isthmus};
use kona_protocol::Predeploys;
use op_alloy_consensus::{OpTxEnvelope, TxDeposit};
use rollsim::{
    evm::{BlockContext, EvmBlock, OpEvmExecutor},
    execution::{L2State, StateView},
    sync::lock,
    trie::{Account, HashedPostState, KECCAK_EMPTY},
};

use super::{engine::ExecutedState, workload::Signatures, L2Config};

/// Balance of each funded workload sender at genesis: enough for every transaction of any run.
pub const SENDER_BALANCE_WEI: u128 = 1_000_000_000_000_000_000_000_000;

/// Senders funded at genesis at most: beyond that, senders start empty and their transactions are
/// refused (as unfunded accounts' would be), which keeps genesis cheap for huge sender populations.
pub const FUNDED_SENDERS_MAX: u64 = 100_000;

/// Balance of each dormant account: funded, never a sender or a recipient.
pub const DORMANT_BALANCE_WEI: u128 = 1_000_000_000_000_000_000;

/// `upgradeTo(address)`: the proxy upgrade the network-upgrade deposits call.
const UPGRADE_TO_SELECTOR: [u8; 4] = [0x36, 0x59, 0xcf, 0xe6];

/// Why the genesis state could not be built: the shipped upgrade transactions did not execute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("upgrade deposit {index} failed: {reason}")]
    Deposit { index: usize, reason: String },
    #[error("upgrade deposit {index} points {proxy} at {implementation}, which has no code")]
    NoImplementation { index: usize, proxy: Address, implementation: Address },
}

/// Whether geneses built from now on are kept for the next world ([`keep_built_geneses`]).
static KEEP: AtomicBool = AtomicBool::new(false);
/// The geneses this process keeps.
static KEPT: Mutex<Kept> = Mutex::new(Vec::new());
/// A fuzz campaign's cases draw between two geneses: simulated or real signatures.
const KEPT_MAX: usize = 2;

/// Geneses kept, the newest last.
type Kept = Vec<(GenesisKey, ExecutedState)>;

/// Everything a genesis is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GenesisKey {
    chain_id: u64,
    /// Where the senders are (their addresses follow the signature scheme).
    signatures: Signatures,
    funded_senders: u64,
    dormant: u64,
}

/// Keeps the geneses built from now on in this process, for the next world with the same one: for
/// commands that build many worlds. A campaign's cases share a genesis or two, and building one
/// executes the upgrade deposits and hashes every trie: the same 60 fuzz cases on 2 jobs took
/// 53.3-54.0 s building each genesis, 52.2-52.3 s keeping them. A one-world command does not keep
/// them: the copy of a large state would only cost memory.
pub fn keep_built_geneses() {
    KEEP.store(true, Ordering::Relaxed);
}

/// The executed genesis state of `config`'s chain: built, or a copy of a kept one once
/// [`keep_built_geneses`] was asked for.
pub fn executed(config: &L2Config) -> ExecutedState {
    if KEEP.load(Ordering::Relaxed) {
        executed_keeping(config, &KEPT)
    } else {
        build(config, &key(config))
    }
}

/// A copy of the genesis `kept` holds for `config` (a state of its own, as `ExecutedState`'s
/// `Clone` makes), else one built and kept.
fn executed_keeping(config: &L2Config, kept: &Mutex<Kept>) -> ExecutedState {
    let key = key(config);
    if let Some((_, state)) = lock(kept).iter().find(|(kept, _)| *kept == key) {
        return state.clone();
    }
    let state = build(config, &key);
    let mut kept = lock(kept);
    if !kept.iter().any(|(kept, _)| *kept == key) {
        if kept.len() == KEPT_MAX {
            kept.remove(0);
        }
        kept.push((key, state.clone()));
    }
    state
}

fn key(config: &L2Config) -> GenesisKey {
    GenesisKey {
        chain_id: config.chain_id,
        signatures: config.workload.signatures,
        funded_senders: config.workload.funded_senders(),
        dormant: config.dormant_accounts(),
    }
}

fn build(config: &L2Config, key: &GenesisKey) -> ExecutedState {
    let senders = (0..key.funded_senders).map(|index| config.workload.sender_address(index));
    let state = genesis_state_with_dormant(key.chain_id, senders, key.dormant)
        .expect("the shipped network-upgrade deposits execute");
    ExecutedState::genesis(state)
}

/// The genesis state of chain `chain_id`: the predeploys, the workload's contracts, then the first
/// `min(senders, FUNDED_SENDERS_MAX)` senders funded (and holding tokens, `contracts.rs`).
#[cfg(test)]
pub fn genesis_state(
    chain_id: u64,
    senders: impl IntoIterator<Item = Address>,
) -> Result<L2State, GenesisError> {
    genesis_state_with_dormant(chain_id, senders, 0)
}

/// [`genesis_state`] with `dormant` more funded accounts at [`dormant_address`]`(0..dormant)`.
/// Every account goes into the state in one update, its keys sorted once: the state's map then
/// takes them in order, which keeps a genesis of a million accounts within a second or so.
pub fn genesis_state_with_dormant(
    chain_id: u64,
    senders: impl IntoIterator<Item = Address>,
    dormant: u64,
) -> Result<L2State, GenesisError> {
    let mut state = predeploys(chain_id)?;
    let message_passer = Account { nonce: 1, balance: U256::ZERO, code_hash: KECCAK_EMPTY };
    let funded = Account { nonce: 0, balance: U256::from(SENDER_BALANCE_WEI), code_hash: KECCAK_EMPTY };
    let asleep = Account { nonce: 0, balance: U256::from(DORMANT_BALANCE_WEI), code_hash: KECCAK_EMPTY };
    let senders: Vec<Address> = senders.into_iter().take(FUNDED_SENDERS_MAX as usize).collect();
    let mut accounts = Vec::with_capacity(senders.len() + dormant as usize + 1);
    accounts.push((keccak256(Predeploys::L2_TO_L1_MESSAGE_PASSER), Some(message_passer)));
    accounts.extend(senders.iter().map(|sender| (keccak256(sender), Some(funded))));
    accounts.extend((0..dormant).map(|index| (keccak256(dormant_address(index)), Some(asleep))));
    accounts.sort_unstable_by_key(|(hashed, _)| *hashed);
    // From sorted input a `BTreeMap` is built in one pass.
    let update = HashedPostState { accounts: accounts.into_iter().collect(), ..Default::default() };
    state.apply(&update);
    super::contracts::deploy(&mut state, &senders);
    Ok(state)
}

/// The address of dormant account `index`: the low 20 bytes of keccak256 of a label and the index,
/// away from the workload's senders and every contract.
pub fn dormant_address(index: u64) -> Address {
    Address::from_word(keccak256([&b"rollsim-l2-dormant-"[..], &index.to_be_bytes()].concat()))
}

/// The state after every Ecotone, Fjord and Isthmus upgrade deposit, proxies collapsed.
fn predeploys(chain_id: u64) -> Result<L2State, GenesisError> {
    let executor = OpEvmExecutor::new(chain_id);
    let mut state = L2State::default();
    let deposits = Ecotone::deposits().chain(Fjord::deposits()).chain(Isthmus::deposits());
    for (index, deposit) in deposits.enumerate() {
        match (deposit.to, deposit.input.strip_prefix(&UPGRADE_TO_SELECTOR)) {
            (TxKind::Call(proxy), Some(word)) if word.len() == 32 => {
                let implementation = Address::from_word(word.try_into().expect("32 bytes"));
                let account =
                    state.account(&implementation).filter(|account| account.code_hash != KECCAK_EMPTY);
                let account =
                    account.ok_or(GenesisError::NoImplementation { index, proxy, implementation })?;
                let mut update = HashedPostState::default();
                let at_proxy = Account { nonce: 1, balance: U256::ZERO, code_hash: account.code_hash };
                update.accounts.insert(keccak256(proxy), Some(at_proxy));
                state.apply(&update);
            }
            _ => execute(&executor, &mut state, index, deposit)?,
        }
    }
    Ok(state)
}

/// Executes one deposit on `state`, as a block of its own.
fn execute(
    executor: &OpEvmExecutor,
    state: &mut L2State,
    index: usize,
    deposit: TxDeposit,
) -> Result<(), GenesisError> {
    let failed = |reason: String| GenesisError::Deposit { index, reason };
    let from = deposit.from;
    let block = EvmBlock {
        context: BlockContext {
            gas_limit: 30_000_000,
            parent_beacon_block_root: Some(Default::default()),
            ..Default::default()
        },
        txs: vec![Recovered::new_unchecked(OpTxEnvelope::Deposit(deposit.seal_slow()), from).into()],
    };
    let (output, merged) = executor.execute_sequential(&*state, &block).map_err(|e| failed(e.to_string()))?;
    if let Some((_, reason)) = output.rejected.first() {
        return Err(failed(reason.clone()));
    }
    if !output.receipts.iter().all(|receipt| receipt.status()) {
        return Err(failed("reverted".to_owned()));
    }
    state.apply(&merged);
    for code in output.codes.into_values() {
        state.insert_code(code);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{Header, TxEip1559};
    use alloy_eips::{eip2718::Encodable2718, BlockNumHash};
    use alloy_primitives::{address, Bytes, B256};
    use kona_protocol::L1BlockInfoTx;

    const SENDER: Address = address!("a200000000000000000000000000000000000001");

    #[test]
    fn a_kept_genesis_is_handed_out_as_a_state_of_its_own() {
        let kept = Mutex::new(Kept::new());
        let config = L2Config::default();
        let mut first = executed_keeping(&config, &kept);
        let genesis_root = first.root();
        assert_eq!(lock(&kept).len(), 1, "kept once built");
        let sender = config.workload.sender_address(0);
        let spent = Account { nonce: 1, balance: U256::from(1), code_hash: KECCAK_EMPTY };
        let post =
            HashedPostState { accounts: [(keccak256(sender), Some(spent))].into(), ..Default::default() };
        assert_ne!(first.advance(&post, &Default::default(), None), genesis_root, "the world's block");
        let second = executed_keeping(&config, &kept);
        assert_eq!(lock(&kept).len(), 1, "a copy of the kept one, not another");
        assert_eq!(second.root(), genesis_root, "a world's blocks never reach the kept genesis");
        assert_eq!(second.head().account(&sender).map(|a| a.nonce), Some(0));
    }

    #[test]
    fn geneses_are_kept_by_what_they_are_built_from_two_at_most() {
        let kept = Mutex::new(Kept::new());
        // Geneses with 1, 2 and 3 dormant accounts.
        let config = |dormant: u64| {
            let config = L2Config::default();
            L2Config { genesis_accounts: Some(config.workload.funded_senders() + dormant), ..config }
        };
        let roots: Vec<B256> =
            [1, 2, 3].map(|dormant| executed_keeping(&config(dormant), &kept).root()).into();
        assert_ne!(roots[0], roots[1]);
        let dormant: Vec<u64> = lock(&kept).iter().map(|(key, _)| key.dormant).collect();
        assert_eq!(dormant, [2, 3], "the oldest goes");
        assert_eq!(executed_keeping(&config(2), &kept).root(), roots[1]);
        assert_eq!(lock(&kept).len(), 2);
    }

    #[test]
    fn genesis_holds_the_predeploys_code_and_funds_the_senders() {
        let state = genesis_state(901, [SENDER]).expect("the shipped upgrades execute");
        assert_eq!(state.account(&SENDER).unwrap().balance, U256::from(SENDER_BALANCE_WEI));
        for predeploy in [
            Predeploys::L1_BLOCK_INFO,
            Predeploys::GAS_PRICE_ORACLE,
            Predeploys::OPERATOR_FEE_VAULT,
            Ecotone::EIP4788_FROM.create(0),
            Isthmus::EIP2935_FROM.create(0),
        ] {
            let account = state.account(&predeploy).unwrap_or_else(|| panic!("{predeploy} exists"));
            assert!(
                state.code(&account.code_hash).is_some_and(|code| !code.is_empty()),
                "{predeploy} has code"
            );
        }
        let l1_block = state.account(&Predeploys::L1_BLOCK_INFO).unwrap();
        let isthmus_l1_block = state.account(&Isthmus::NEW_L1_BLOCK).unwrap();
        assert_eq!(l1_block.code_hash, isthmus_l1_block.code_hash, "the newest L1Block");
        assert_eq!(
            keccak256(state.code(&l1_block.code_hash).unwrap().original_bytes()),
            Isthmus::L1_BLOCK_DEPLOYER_CODE_HASH
        );
    }

    /// Dormant accounts make the state as large as asked: exactly the senders and the dormant
    /// accounts hold a balance, and the sorted bulk update gives the root one-at-a-time inserts do.
    #[test]
    fn dormant_accounts_are_funded_beside_the_senders() {
        let senders: Vec<Address> =
            (1..=50u64).map(|i| Address::left_padding_from(&i.to_be_bytes())).collect();
        let mut state = genesis_state_with_dormant(901, senders.iter().copied(), 950).expect("genesis");
        let funded = state.trie().accounts().values().filter(|account| !account.balance.is_zero()).count();
        assert_eq!(funded, 1_000);
        let dormant = state.account(&dormant_address(949)).expect("the last dormant account exists");
        assert_eq!(dormant.balance, U256::from(DORMANT_BALANCE_WEI));

        let mut one_by_one = genesis_state(901, senders).expect("genesis");
        let asleep = Account { nonce: 0, balance: U256::from(DORMANT_BALANCE_WEI), code_hash: KECCAK_EMPTY };
        for index in 0..950 {
            let mut update = HashedPostState::default();
            update.accounts.insert(keccak256(dormant_address(index)), Some(asleep));
            one_by_one.apply(&update);
        }
        assert_eq!(state.root(), one_by_one.root());
    }

    /// op-revm charges the L1 data fee from what the L1-info deposit wrote into the real L1Block:
    /// the sender pays exactly gas x price plus the Fjord formula over the deposit's L1 values,
    /// computed here independently (FastLZ size, intercept, coefficient, scalars).
    #[test]
    fn the_l1_data_fee_follows_the_fjord_formula() {
        let config = crate::l2::L2Config::default();
        let batcher = address!("ba00000000000000000000000000000000000001");
        let rollup = crate::l2::rollup_config(
            &config,
            900,
            BlockNumHash::default(),
            BlockNumHash::default(),
            0,
            batcher,
        );
        let system_config = crate::l2::system_config(&config, batcher);
        let l1_header = Header {
            number: 7,
            timestamp: 84,
            base_fee_per_gas: Some(3_000_000_000),
            excess_blob_gas: Some(30_000_000),
            blob_gas_used: Some(0),
            parent_beacon_block_root: Some(B256::ZERO),
            ..Default::default()
        };
        let (info, deposit) =
            L1BlockInfoTx::try_new_with_deposit_tx(&rollup, &system_config, 0, &l1_header, 2)
                .expect("an L1-info deposit");
        let state = genesis_state(config.chain_id, [SENDER]).expect("genesis");
        let call = TxEip1559 {
            chain_id: config.chain_id,
            gas_limit: 100_000,
            max_fee_per_gas: 1_000_000_000,
            max_priority_fee_per_gas: 7,
            to: TxKind::Call(address!("a200000000000000000000000000000000000002")),
            value: U256::from(11),
            input: Bytes::from_static(&[1, 2, 3, 0, 0, 0, 4, 5, 6, 7, 8, 9, 10, 0, 0, 11]),
            ..Default::default()
        };
        let call = OpTxEnvelope::Eip1559(crate::l2::simsig::sign(call, SENDER));
        let base_fee = 1_000;
        let block = EvmBlock {
            context: BlockContext {
                number: 1,
                timestamp: 2,
                gas_limit: 30_000_000,
                base_fee,
                parent_beacon_block_root: Some(B256::ZERO),
                ..Default::default()
            },
            txs: vec![
                Recovered::new_unchecked(OpTxEnvelope::Deposit(deposit.clone()), deposit.from).into(),
                Recovered::new_unchecked(call.clone(), SENDER).into(),
            ],
        };
        let (output, merged) =
            OpEvmExecutor::new(config.chain_id).execute_sequential(&state, &block).unwrap();
        assert_eq!(output.included, vec![0, 1]);
        let gas_used = output.receipts[1].cumulative_gas_used() - output.receipts[0].cumulative_gas_used();
        let paid = U256::from(SENDER_BALANCE_WEI) - merged.accounts[&keccak256(SENDER)].unwrap().balance;

        let fastlz_size = op_alloy_flz::flz_compress_len(&call.encoded_2718()) as i128;
        let estimated_size_scaled = (-42_585_600 + 836_500 * fastlz_size).max(100_000_000);
        let l1_fee_scaled = info.l1_fee_scalar() * info.l1_base_fee() * U256::from(16)
            + info.blob_base_fee_scalar() * info.blob_base_fee();
        let l1_fee = U256::from(estimated_size_scaled) * l1_fee_scaled / U256::from(1_000_000_000_000u64);
        assert!(l1_fee > U256::ZERO, "the L1 values were written and read");
        let execution_fee = U256::from(gas_used) * U256::from(base_fee + 7);
        assert_eq!(paid, execution_fee + U256::from(11) + l1_fee, "gas, value and the Fjord L1 fee");
    }
}
