//! Random states and blocks for the payload processor tests, from seeded streams.

use alloy_primitives::{keccak256, Address, B256, U256};
use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rollsim::{
    execution::{L2State, Tx},
    trie::{Account, HashedPostState, HashedStorage, StateTrie, KECCAK_EMPTY},
};

pub fn rng(seed: u64, purpose: &str) -> ChaCha8Rng {
    let mut bytes = seed.to_be_bytes().to_vec();
    bytes.extend_from_slice(purpose.as_bytes());
    ChaCha8Rng::from_seed(keccak256(bytes).0)
}

/// The `i`-th address of the pool: the first `accounts` exist as plain accounts, the next
/// `contracts` as contracts with storage, the rest do not exist.
pub fn address(i: usize) -> Address {
    Address::from_slice(&keccak256((i as u64).to_be_bytes())[..20])
}

/// Sizes of a random world.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub accounts: usize,
    pub contracts: usize,
    /// Addresses that start absent.
    pub absent: usize,
    pub slots_per_contract: usize,
    pub txs: usize,
}

impl Shape {
    pub const SMALL: Self = Self { accounts: 60, contracts: 8, absent: 20, slots_per_contract: 12, txs: 40 };

    fn pool(&self) -> usize {
        self.accounts + self.contracts + self.absent
    }

    fn is_contract(&self, i: usize) -> bool {
        (self.accounts..self.accounts + self.contracts).contains(&i)
    }
}

/// A random pre-state: plain accounts with balances, contracts with storage (slot 0 is the length
/// `Append` reads).
pub fn random_state(rng: &mut impl Rng, shape: Shape) -> L2State {
    let mut update = HashedPostState::default();
    for i in 0..shape.accounts + shape.contracts {
        let contract = shape.is_contract(i);
        let code_hash = if contract { keccak256([i as u8]) } else { KECCAK_EMPTY };
        let account = Account {
            nonce: rng.gen_range(0..5),
            balance: U256::from(rng.gen_range(1..1_000u64)),
            code_hash,
        };
        let hashed = keccak256(address(i));
        update.accounts.insert(hashed, Some(account));
        if contract {
            let len = rng.gen_range(0..shape.slots_per_contract as u64);
            let mut slots: Vec<(B256, U256)> = (1..=len).map(|s| (slot_key(s), U256::from(s))).collect();
            slots.push((slot_key(0), U256::from(len)));
            for _ in 0..rng.gen_range(0..shape.slots_per_contract) {
                slots.push((
                    slot_key(rng.gen_range(100..100 + shape.slots_per_contract as u64)),
                    U256::from(rng.gen_range(1..99u64)),
                ));
            }
            update
                .storages
                .insert(hashed, HashedStorage { wiped: false, slots: slots.into_iter().collect() });
        }
    }
    let mut trie = StateTrie::new();
    trie.apply(&update);
    L2State::new(trie)
}

fn slot_key(slot: u64) -> B256 {
    keccak256(U256::from(slot).to_be_bytes::<32>())
}

/// A random block: transfers (some emptying, some to absent accounts), deposits, storage writes and
/// deletes, appends (slot depends on earlier txs), creations of new contracts followed by writes
/// and destructions of them in the same block (which prewarm, on the pre-state, cannot predict).
pub fn random_block(rng: &mut impl Rng, shape: Shape) -> Vec<Tx> {
    let pool = shape.pool();
    let any = |rng: &mut dyn rand::RngCore| address(rng.gen_range(0..pool));
    let contract =
        |rng: &mut dyn rand::RngCore| address(shape.accounts + rng.gen_range(0..shape.contracts.max(1)));
    let mut created = Vec::new();
    let mut txs = Vec::new();
    for _ in 0..shape.txs {
        let from = any(rng);
        let target = if !created.is_empty() && rng.gen_bool(0.5) {
            *created.choose(rng).unwrap()
        } else {
            contract(rng)
        };
        let tx = match rng.gen_range(0..100) {
            0..=24 => Tx::Transfer { from, to: any(rng), value: U256::from(rng.gen_range(0..600u64)) },
            25..=29 => Tx::Transfer { from, to: any(rng), value: U256::ZERO },
            30..=34 => Tx::Deposit { to: any(rng), mint: U256::from(rng.gen_range(1..100u64)) },
            35..=49 => {
                let slot = U256::from(rng.gen_range(0..shape.slots_per_contract as u64 + 3));
                let value = if rng.gen_bool(0.4) { U256::ZERO } else { U256::from(rng.gen_range(1..50u64)) };
                Tx::Store { from, contract: target, slot, value }
            }
            50..=64 => Tx::Append { from, contract: target },
            65..=74 => {
                let new = address(pool + rng.gen_range(0..1_000));
                created.push(new);
                let storage =
                    (0..rng.gen_range(0..4u64)).map(|s| (U256::from(s), U256::from(s + 1))).collect();
                Tx::Create { from, contract: new, code_hash: keccak256(new), storage }
            }
            75..=84 => Tx::Destroy { from, contract: target, beneficiary: any(rng) },
            _ => Tx::Transfer { from: target, to: any(rng), value: U256::from(rng.gen_range(0..1_000u64)) },
        };
        txs.push(tx);
    }
    txs
}

#[cfg(madsim)]
mod sim {
    use std::sync::Arc;

    use alloy_primitives::B256;
    use madsim::runtime::Runtime;
    use rollsim::{
        cancel::Cancel,
        execution::{execute_block, SimpleExecutor, Tx, TxState},
        payload::{
            ExecutedBlock, Job, JobCosts, PayloadConfig, PayloadError, PayloadHook, PayloadProcessor,
            PreState, ProofJobFate, RootOutcome, WorkloadExecutor,
        },
        sync::lock,
    };
    use std::{
        collections::{BTreeMap, BTreeSet},
        sync::Mutex,
        time::Duration,
    };

    /// Faults a test scripts into one block: proof jobs (by start order) that fail or are held
    /// back, and a transaction before which the block is cancelled.
    #[derive(Debug, Clone, Default)]
    pub struct Faults {
        pub failing_proofs: BTreeSet<u64>,
        pub delayed_proofs: BTreeMap<u64, Duration>,
        pub cancel_before_tx: Option<usize>,
    }

    impl PayloadHook for Faults {
        fn proof_job(&self, index: u64) -> ProofJobFate {
            ProofJobFate {
                delay: self.delayed_proofs.get(&index).copied(),
                fails: self.failing_proofs.contains(&index),
            }
        }

        fn cancel_before_tx(&self, index: usize) -> bool {
            self.cancel_before_tx == Some(index)
        }
    }

    use super::{random_block, random_state, rng, Shape};

    pub struct Case {
        pub pre_state: Arc<PreState>,
        pub txs: Arc<[Tx]>,
        /// The sequential reference root.
        pub expected: B256,
    }

    pub fn case(seed: u64, shape: Shape) -> Case {
        let mut state = random_state(&mut rng(seed, "state"), shape);
        let txs: Arc<[Tx]> = random_block(&mut rng(seed, "block"), shape).into();
        // Reference: execute without the pipeline, apply the changes transaction by transaction, and
        // recompute the root in full.
        let mut post = state.clone();
        execute_block(&SimpleExecutor, &state, &txs, |changes: &TxState| post.apply(&changes.to_hashed()));
        let expected = post.root();
        state.root();
        Case { pre_state: Arc::new(PreState::new(state)), txs, expected }
    }

    /// CPU jobs cost a uniform draw of up to 1 ms from a stream seeded with `seed`: each seed
    /// another interleaving of proof, prewarm and trie work.
    pub struct DrawnCosts(Mutex<rand_chacha::ChaCha8Rng>);

    impl JobCosts for DrawnCosts {
        fn cost(&self, _job: Job) -> Duration {
            use rand::Rng;
            Duration::from_micros(lock(&self.0).gen_range(0..=1_000))
        }
    }

    /// An inline executor whose job costs follow `seed`.
    pub fn executor(seed: u64) -> WorkloadExecutor {
        use rand::SeedableRng;
        WorkloadExecutor::inline(DrawnCosts(Mutex::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed))))
    }

    pub fn processor(seed: u64) -> PayloadProcessor<SimpleExecutor> {
        // Small limits so the queue, the chunking and the prewarm batching all happen in small blocks.
        let config = PayloadConfig {
            prewarm_max_concurrency: 8,
            proof_chunk_size: 10,
            max_concurrent_proofs: 4,
            ..Default::default()
        };
        PayloadProcessor::new(executor(seed), SimpleExecutor, config)
    }

    pub fn simulate<T>(seed: u64, run: impl std::future::Future<Output = T> + 'static) -> T {
        Runtime::with_seed_and_config(seed, madsim::Config::default()).block_on(run)
    }

    pub async fn run_block(
        seed: u64,
        case: &Case,
        faults: Faults,
    ) -> (Result<(ExecutedBlock<Vec<bool>>, RootOutcome), PayloadError>, u64) {
        let processor = processor(seed);
        let result = processor
            .execute_block(case.pre_state.clone(), case.txs.clone(), Arc::new(faults), None, &Cancel::new())
            .await;
        (result, processor.fallbacks())
    }
}

#[cfg(madsim)]
#[allow(unused_imports)]
pub use sim::*;
