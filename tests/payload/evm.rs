//! op-revm behind the payload processor (`rollsim::evm`), in the simulation over many seeds. Each
//! seed draws a state with contracts, a block of OP transactions (deposits, transfers, storage
//! writes, appends that depend on the transactions before them, contracts created and
//! self-destructed in one transaction, reverting calls, deployments) and the simulated cost of
//! every job. The oracle is the sequential path: the same block executed without the pipeline, its
//! changes applied to the pre-state and the root recomputed in full with `HashBuilder`.
#![cfg(madsim)]

use std::sync::Arc;

use alloy_consensus::{
    transaction::Recovered, SignableTransaction, Transaction, TxEip1559, TxEip7702, TxReceipt,
};
use alloy_eips::eip7702::{Authorization, SignedAuthorization};
use alloy_primitives::{address, keccak256, Address, Bytes, Sealable, Signature, TxKind, B256, U256};
use madsim::runtime::Runtime;
use op_alloy_consensus::{OpTxEnvelope, TxDeposit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rollsim::{
    cancel::Cancel,
    evm::{AncestorHashes, BlockContext, EvmBlock, EvmOutput, EvmTx, OpEvmExecutor},
    execution::{L2State, StateView},
    payload::{prewarm_targets, BlockExecutor, PayloadConfig, PayloadProcessor, PreState},
    signer::LocalSigner,
    trie::{Account, HashedPostState, HashedStorage, KECCAK_EMPTY},
};

const CHAIN_ID: u64 = 901;
const BASE_FEE_WEI: u64 = 1_000_000;
const MAX_FEE_WEI: u128 = 2_000_000_000;
const FUNDS_WEI: u128 = 1_000_000_000_000_000_000_000;

/// Reads slot 0 as `n`, writes `n + 1` into slot 0 and the caller into slot `n + 1`: which slot a
/// call writes depends on the calls before it, so prewarm (each call on the pre-block state)
/// mispredicts all but the first of a block.
const APPEND: &[u8] = &[0x5f, 0x54, 0x60, 0x01, 0x01, 0x80, 0x5f, 0x55, 0x33, 0x90, 0x55, 0x00];
/// `sstore(calldata[0..32], calldata[32..64])`: a zero value deletes the slot.
const STORE: &[u8] = &[0x60, 0x20, 0x35, 0x5f, 0x35, 0x55, 0x00];
/// Reverts at once.
const REVERT: &[u8] = &[0x5f, 0x5f, 0xfd];
/// Init code that self-destructs to its creator: created and destroyed in one transaction
/// (EIP-6780), the account never exists after it.
const CREATE_AND_DESTROY: &[u8] = &[0x33, 0xff];

const APPEND_AT: Address = address!("c0de000000000000000000000000000000000001");
const STORE_AT: Address = address!("c0de000000000000000000000000000000000002");
const REVERT_AT: Address = address!("c0de000000000000000000000000000000000003");

/// Init code returning `runtime` as the deployed code.
fn deployment(runtime: &[u8]) -> Bytes {
    let len = u8::try_from(runtime.len()).expect("a small contract");
    let mut code = vec![0x60, len, 0x60, 10, 0x5f, 0x39, 0x60, len, 0x5f, 0xf3];
    code.extend_from_slice(runtime);
    code.into()
}

fn sender(index: usize) -> Address {
    Address::with_last_byte(0x10).create(index as u64)
}

struct Case {
    pre: Arc<PreState>,
    block: Arc<EvmBlock>,
}

fn genesis(senders: usize, rng: &mut ChaCha8Rng) -> L2State {
    let mut state = L2State::default();
    let mut update = HashedPostState::default();
    for index in 0..senders {
        let account = Account { nonce: 0, balance: U256::from(FUNDS_WEI), code_hash: KECCAK_EMPTY };
        update.accounts.insert(keccak256(sender(index)), Some(account));
    }
    for (address, code) in [(APPEND_AT, APPEND), (STORE_AT, STORE), (REVERT_AT, REVERT)] {
        let code = Bytes::from_static(code);
        let account = Account { nonce: 1, balance: U256::ZERO, code_hash: keccak256(&code) };
        update.accounts.insert(keccak256(address), Some(account));
        state.insert_code(code);
    }
    // The store contract starts with slots, some of which the block deletes.
    let slots = (0..40u64)
        .map(|slot| (keccak256(U256::from(slot).to_be_bytes::<32>()), U256::from(rng.gen_range(1..1_000u64))))
        .collect();
    update.storages.insert(keccak256(STORE_AT), HashedStorage { wiped: false, slots });
    let length = U256::from(3);
    let appended = [(U256::ZERO, length), (U256::from(1), U256::from(7)), (U256::from(2), U256::from(8))];
    let slots = appended.iter().map(|(slot, value)| (keccak256(slot.to_be_bytes::<32>()), *value)).collect();
    update.storages.insert(keccak256(APPEND_AT), HashedStorage { wiped: false, slots });
    state.apply(&update);
    state
}

fn random_block(rng: &mut ChaCha8Rng, senders: usize, txs: usize) -> EvmBlock {
    let mut nonces = vec![0u64; senders];
    let mut block = Vec::with_capacity(txs + 1);
    let mint = TxDeposit {
        source_hash: B256::with_last_byte(1),
        from: Address::with_last_byte(0xde),
        to: TxKind::Call(sender(0)),
        mint: 5_000_000_000,
        value: U256::ZERO,
        gas_limit: 100_000,
        is_system_transaction: false,
        input: Bytes::new(),
    };
    block.push(Recovered::new_unchecked(
        OpTxEnvelope::Deposit(mint.seal_slow()),
        Address::with_last_byte(0xde),
    ));
    for _ in 0..txs {
        let from = rng.gen_range(0..senders);
        let (to, input, value, gas_limit) = match rng.gen_range(0..7) {
            0 => (
                TxKind::Call(sender(rng.gen_range(0..senders))),
                Bytes::new(),
                rng.gen_range(1..1_000u64),
                21_000,
            ),
            1 | 2 => (TxKind::Call(APPEND_AT), Bytes::new(), 0, 100_000),
            3 => {
                let slot = U256::from(rng.gen_range(0..60u64));
                let value = if rng.gen_bool(0.3) { U256::ZERO } else { U256::from(rng.gen::<u64>()) };
                let input = [slot.to_be_bytes::<32>(), value.to_be_bytes::<32>()].concat();
                (TxKind::Call(STORE_AT), input.into(), 0, 100_000)
            }
            4 => {
                (TxKind::Create, Bytes::from_static(CREATE_AND_DESTROY), rng.gen_range(0..1_000u64), 100_000)
            }
            5 => (TxKind::Call(REVERT_AT), Bytes::new(), 0, 100_000),
            _ => (TxKind::Create, deployment(APPEND), 0, 200_000),
        };
        let tx = TxEip1559 {
            chain_id: CHAIN_ID,
            nonce: nonces[from],
            gas_limit,
            max_fee_per_gas: MAX_FEE_WEI,
            max_priority_fee_per_gas: 1_000,
            to,
            value: U256::from(value),
            input,
            access_list: Default::default(),
        };
        nonces[from] += 1;
        let signed = OpTxEnvelope::Eip1559(tx.into_signed(Signature::test_signature()));
        block.push(Recovered::new_unchecked(signed, sender(from)));
    }
    let context = BlockContext {
        number: 1,
        timestamp: 1_000,
        beneficiary: address!("4200000000000000000000000000000000000011"),
        gas_limit: 30_000_000,
        base_fee: BASE_FEE_WEI,
        ancestor_hashes: AncestorHashes::new(0, vec![B256::with_last_byte(9)]),
        parent_hash: B256::with_last_byte(9),
        parent_beacon_block_root: Some(B256::with_last_byte(4)),
        ..Default::default()
    };
    EvmBlock { context, txs: block.into_iter().map(EvmTx::from).collect() }
}

fn case(seed: u64, senders: usize, txs: usize) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let state = genesis(senders, &mut rng);
    let block = random_block(&mut rng, senders, txs);
    Case { pre: Arc::new(PreState::new(state)), block: Arc::new(block) }
}

fn simulate<T>(seed: u64, run: impl std::future::Future<Output = T> + 'static) -> T {
    Runtime::with_seed_and_config(seed, madsim::Config::default()).block_on(run)
}

fn processor(seed: u64) -> PayloadProcessor<OpEvmExecutor> {
    let config = PayloadConfig {
        prewarm_max_concurrency: 8,
        proof_chunk_size: 10,
        max_concurrent_proofs: 4,
        ..Default::default()
    };
    PayloadProcessor::new(crate::common::executor(seed), OpEvmExecutor::new(CHAIN_ID), config)
}

/// The task's root equals the sequential one on every seed, with no fallback, and the pipeline saw
/// the same changes as the sequential execution; across the seeds prewarm mispredicted (appends
/// after the first of a block) and contracts were created and destroyed in one transaction.
#[test]
fn evm_pipeline_root_matches_sequential_root() {
    let executor = OpEvmExecutor::new(CHAIN_ID);
    let (mut mispredicted, mut destroyed, mut reverted) = (0, 0, 0);
    for seed in 0..24 {
        let case = case(seed, 30, 40);
        let (sequential, merged) = executor.execute_sequential(&*case.pre, &case.block).expect("executes");
        assert!(
            sequential.rejected.is_empty(),
            "seed {seed}: every transaction is valid: {:?}",
            sequential.rejected
        );
        let expected = case.pre.sequential_root(&merged);
        let (pre, block) = (case.pre.clone(), case.block.clone());
        let (executed, root) = simulate(seed, async move {
            processor(seed).execute_block(pre, block, Arc::new(()), None, &Cancel::new()).await
        })
        .expect("no faults, no error");
        assert_eq!(root.fallback, None, "seed {seed}: the task itself got it right");
        assert_eq!(root.state_root, expected, "seed {seed}");
        assert_eq!(executed.state, merged, "seed {seed}: the hook saw what the sequential run did");
        assert_eq!(executed.output, sequential, "seed {seed}: receipts, gas and codes agree");
        // The node's stored state takes the task's trie: the same nodes as proving the block again.
        let (mut proved, mut taken) = (PreState::clone(&case.pre), PreState::clone(&case.pre));
        assert_eq!(proved.advance(&merged).unwrap(), expected);
        let trie = executed.trie.expect("no fallback: the task's trie comes back");
        assert_eq!(taken.advance_with(trie, &merged).unwrap(), expected, "seed {seed}");
        let nodes = |state: &PreState| state.trie_nodes().cloned().collect::<std::collections::BTreeSet<_>>();
        assert_eq!(nodes(&taken), nodes(&proved), "seed {seed}: node for node");

        let mut prewarmed = rollsim::trie::MultiProofTargets::new();
        executor.prewarm(&case.pre, &case.block, 0..case.block.txs.len(), &mut |_, execute| {
            let state = execute().expect("prewarm executes");
            for (account, slots) in prewarm_targets(&state) {
                prewarmed.entry(account).or_default().extend(slots);
            }
            std::ops::ControlFlow::Continue(())
        });
        let missed = merged.targets().iter().any(|(account, slots)| {
            prewarmed.get(account).is_none_or(|prewarmed| !slots.iter().all(|slot| prewarmed.contains(slot)))
        });
        mispredicted += u64::from(missed);
        reverted += executed.output.receipts.iter().filter(|receipt| !receipt.status()).count();
        destroyed +=
            case.block.txs.iter().filter(|tx| tx.recovered().input().as_ref() == CREATE_AND_DESTROY).count();
    }
    assert!(mispredicted > 0, "prewarm mispredicted in some blocks");
    assert!(destroyed > 0 && reverted > 0, "blocks with self-destructs and reverts");
}

/// Executes `tx` from `from` as the only transaction of a block on a seeded genesis (senders 0
/// and 1 funded): the pre-state, the output and the block's merged changes.
fn execute_alone(seed: u64, tx: OpTxEnvelope, from: Address) -> (PreState, EvmOutput, HashedPostState) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pre = PreState::new(genesis(2, &mut rng));
    let mut block = random_block(&mut rng, 2, 0);
    block.txs = vec![Recovered::new_unchecked(tx, from).into()];
    let (output, merged) = OpEvmExecutor::new(CHAIN_ID).execute_sequential(&pre, &block).expect("executes");
    (pre, output, merged)
}

/// A reverting call changes only its sender's nonce and balance (the fee) and the fee vaults.
#[test]
fn a_revert_leaves_only_the_fee_and_the_nonce() {
    let call = TxEip1559 {
        chain_id: CHAIN_ID,
        gas_limit: 100_000,
        max_fee_per_gas: MAX_FEE_WEI,
        to: TxKind::Call(REVERT_AT),
        value: U256::from(5),
        ..Default::default()
    };
    let call = OpTxEnvelope::Eip1559(call.into_signed(Signature::test_signature()));
    let (pre, output, merged) = execute_alone(7, call, sender(1));
    assert_eq!(output.included, vec![0]);
    assert!(!output.receipts[0].status(), "the call reverted");
    let gas_used = output.gas_used;
    let fee = U256::from(gas_used) * U256::from(BASE_FEE_WEI);
    let account = merged.accounts[&keccak256(sender(1))].expect("the sender exists");
    assert_eq!(account.nonce, 1);
    assert_eq!(account.balance, U256::from(FUNDS_WEI) - fee, "the fee only, not the value");
    assert!(!merged.accounts.contains_key(&keccak256(REVERT_AT)), "the callee did not change");
    assert!(
        merged
            .storages
            .iter()
            .all(|(hashed, storage)| storage.slots.is_empty() && merged.accounts[hashed].is_none()),
        "no slot changed (removed accounts' storage goes with them)"
    );
    let base_fee_vault = address!("4200000000000000000000000000000000000019");
    let expected: std::collections::BTreeSet<B256> =
        [sender(1), base_fee_vault].iter().map(keccak256).collect();
    let changed: std::collections::BTreeSet<B256> =
        merged.accounts.iter().filter(|(_, account)| account.is_some()).map(|(hashed, _)| *hashed).collect();
    assert_eq!(changed, expected, "the sender and the base fee vault (no tip, no L1 fee) only");
    for (hashed, _) in merged.accounts.iter().filter(|(_, account)| account.is_none()) {
        // The other fee vaults were paid nothing: touched and empty, they stay absent (EIP-161).
        assert!(pre.state().trie().account(hashed).is_none(), "only absent accounts are removed");
    }
}

/// A contract created and self-destructed in one transaction does not exist afterwards (EIP-6780).
#[test]
fn create_and_destroy_in_one_transaction_leaves_no_account() {
    let create = TxEip1559 {
        chain_id: CHAIN_ID,
        gas_limit: 100_000,
        max_fee_per_gas: MAX_FEE_WEI,
        to: TxKind::Create,
        value: U256::from(1_000),
        input: Bytes::from_static(CREATE_AND_DESTROY),
        ..Default::default()
    };
    let create = OpTxEnvelope::Eip1559(create.into_signed(Signature::test_signature()));
    let (pre, output, merged) = execute_alone(8, create, sender(0));
    assert!(output.receipts[0].status());
    let child = sender(0).create(0);
    assert_eq!(merged.accounts.get(&keccak256(child)), Some(&None), "destroyed");
    let mut post = pre.state().clone();
    post.apply(&merged);
    assert_eq!(post.account(&child), None);
    let sender_account = post.account(&sender(0)).expect("sender");
    let fee = U256::from(output.gas_used) * U256::from(BASE_FEE_WEI);
    assert_eq!(sender_account.balance, U256::from(FUNDS_WEI) - fee, "the value came back to the creator");
}

/// EIP-7702 authorities are recovered once, when the transaction's environment is built
/// (`EvmTx`): a valid authorization delegates its authority and bumps its nonce, and one whose
/// signature does not recover (a y-parity of 2) delegates nothing.
#[test]
fn authorities_recovered_with_the_environment_delegate() {
    let key = |byte| LocalSigner::new(B256::repeat_byte(byte)).expect("a valid key");
    let (valid, broken) = (key(0x11), key(0x22));
    let authorization = Authorization { chain_id: U256::from(CHAIN_ID), address: STORE_AT, nonce: 0 };
    let signed = broken.sign_authorization(authorization.clone());
    let unrecoverable = SignedAuthorization::new_unchecked(authorization.clone(), 2, signed.r(), signed.s());
    let tx = TxEip7702 {
        chain_id: CHAIN_ID,
        gas_limit: 200_000,
        max_fee_per_gas: MAX_FEE_WEI,
        to: STORE_AT,
        authorization_list: vec![valid.sign_authorization(authorization), unrecoverable],
        ..Default::default()
    };
    let tx = OpTxEnvelope::Eip7702(tx.into_signed(Signature::test_signature()));
    let (_, output, merged) = execute_alone(9, tx, sender(1));
    assert_eq!(output.included, vec![0]);
    let designator = keccak256([&[0xef, 0x01, 0x00][..], STORE_AT.as_slice()].concat());
    let authority = merged.accounts[&keccak256(valid.address())].expect("the authority exists");
    assert_eq!((authority.nonce, authority.code_hash), (1, designator), "delegated, nonce bumped");
    let delegated =
        merged.accounts.values().flatten().filter(|account| account.code_hash == designator).count();
    assert_eq!(delegated, 1, "the authorization that does not recover delegated no account");
}

/// `BLOCKHASH` answers from the block's window of ancestors: the hash of a block in it, zero for one
/// more than 256 blocks back (revm does not ask), and an error naming a block within 256 that the
/// window lacks rather than a made-up hash.
#[test]
fn blockhash_reads_the_ancestor_window() {
    let hash_of = |n: u64| B256::from(U256::from(n) << 8 | U256::from(0xab));
    // Init code storing BLOCKHASH(number) in slot 0 of the new contract.
    let store_blockhash = |nonce: u64, number: u16| {
        let [hi, lo] = number.to_be_bytes();
        let create = TxEip1559 {
            chain_id: CHAIN_ID,
            nonce,
            gas_limit: 200_000,
            max_fee_per_gas: MAX_FEE_WEI,
            to: TxKind::Create,
            input: Bytes::from(vec![0x61, hi, lo, 0x40, 0x60, 0x00, 0x55, 0x00]),
            ..Default::default()
        };
        Recovered::new_unchecked(
            OpTxEnvelope::Eip1559(create.into_signed(Signature::test_signature())),
            sender(1),
        )
    };
    let run = |window: AncestorHashes, numbers: &[u16]| {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let pre = PreState::new(genesis(2, &mut rng));
        let mut block = random_block(&mut rng, 2, 0);
        block.context.number = 300;
        block.context.ancestor_hashes = window;
        block.txs = numbers.iter().zip(0..).map(|(n, nonce)| store_blockhash(nonce, *n).into()).collect();
        OpEvmExecutor::new(CHAIN_ID).execute_sequential(&pre, &block).map(|(_, merged)| {
            (0..numbers.len() as u64)
                .map(|nonce| {
                    let storage = merged.storages.get(&keccak256(sender(1).create(nonce)));
                    let slot = storage.and_then(|s| s.slots.get(&keccak256(U256::ZERO.to_be_bytes::<32>())));
                    B256::from(slot.copied().unwrap_or_default())
                })
                .collect::<Vec<_>>()
        })
    };
    let full = AncestorHashes::new(44, (44..300).map(hash_of).collect());
    assert_eq!(full.get(43), None);
    assert_eq!(full.get(299), Some(hash_of(299)));
    assert_eq!(full.get(300), None);
    assert_eq!(
        run(full, &[299, 44, 43]).expect("executes"),
        vec![hash_of(299), hash_of(44), B256::ZERO],
        "the parent, the oldest readable ancestor, and one too old"
    );
    let pruned = AncestorHashes::new(100, (100..300).map(hash_of).collect());
    let error = run(pruned, &[50]).expect_err("block 50 is within 256 but not in the window");
    assert!(error.to_string().contains("no hash for ancestor block 50"), "{error}");
}
