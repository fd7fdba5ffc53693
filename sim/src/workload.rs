//! The L2 workload: seeded user transactions for the sequencer's pool.
//!
//! Each L2 block slot, a Poisson number of transactions arrives from a population of senders:
//! value transfers and calldata-heavy calls (calldata with a share of zero bytes, so it compresses
//! like real calldata), plus scheduled bursts of large transactions that outrun the DA layer and
//! build a backlog. Transactions carry simulated signatures (`rollsim::simsig`).

use crate::l2::{block::call_gas, chain::PendingTx, contracts};
use alloy_consensus::TxEip1559;
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{keccak256, Address, Bytes, TxKind, B256, U256};
use op_alloy_consensus::OpTxEnvelope;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rollsim::signer::LocalSigner;
use serde::Deserialize;
use std::{collections::BTreeMap, time::Duration};

/// A window of large transactions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    #[serde(deserialize_with = "crate::scenario::duration")]
    pub at: Duration,
    #[serde(deserialize_with = "crate::scenario::duration")]
    pub duration: Duration,
    /// Extra transactions per L2 block during the burst (mean).
    pub txs_per_block: f64,
    /// Calldata size range of the burst's transactions.
    pub tx_bytes: [u64; 2],
}

/// How the workload signs its transactions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signatures {
    /// `rollsim::simsig`: the bytes of a signature, none of its cost (see there).
    #[default]
    Simulated,
    /// Real secp256k1 signatures, each sender with a key of its own: what the block oracle needs,
    /// since kona-executor recovers every sender itself.
    Secp256k1,
}

/// Relative weights of the contract calls (`[l2.workload.contracts]`). The default resembles a busy
/// OP chain: mostly token transfers and swaps on one pool, some storage churn, a few contracts
/// that live for one transaction, a few calls that revert or run out of gas.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContractMix {
    pub erc20: f64,
    pub swap: f64,
    pub store_write: f64,
    pub store_clear: f64,
    pub create_destroy: f64,
    pub revert: f64,
    pub out_of_gas: f64,
}

impl Default for ContractMix {
    fn default() -> Self {
        Self {
            erc20: 40.0,
            swap: 30.0,
            store_write: 10.0,
            store_clear: 6.0,
            create_destroy: 4.0,
            revert: 6.0,
            out_of_gas: 4.0,
        }
    }
}

impl ContractMix {
    fn weights(&self) -> [f64; 7] {
        [
            self.erc20,
            self.swap,
            self.store_write,
            self.store_clear,
            self.create_destroy,
            self.revert,
            self.out_of_gas,
        ]
    }
}

/// One arrival: what kind of transaction it is.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Transfer,
    Calldata(usize),
    /// A contract call, by its index in [`ContractMix::weights`].
    Contract(usize),
}

/// Keys `Store.write` and `Store.clear` draw from: few enough that clears meet written slots.
const STORE_KEYS: u64 = 512;

/// The `[l2.workload]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadConfig {
    /// Mean user transactions per L2 block.
    pub txs_per_block: f64,
    /// Share of plain value transfers.
    pub transfer_share: f64,
    /// Share of calls to the workload's contracts (`l2/contracts.rs`), of the kinds in
    /// `contracts`; the rest (after transfers) carry calldata to accounts without code.
    pub contract_share: f64,
    pub contracts: ContractMix,
    pub calldata_bytes: [u64; 2],
    /// Share of zero bytes in generated calldata (compressibility).
    pub calldata_zero_share: f64,
    pub senders: u64,
    /// Most transactions the pool holds; beyond it users are turned away (op-geth's pool limit).
    pub pool_capacity: usize,
    pub bursts: Vec<Burst>,
    /// Users stop sending at this simulated time ("load ends"); absent: never.
    #[serde(deserialize_with = "crate::scenario::optional_duration")]
    pub stop_at: Option<Duration>,
    pub signatures: Signatures,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            txs_per_block: 20.0,
            transfer_share: 0.4,
            contract_share: 0.45,
            contracts: ContractMix::default(),
            calldata_bytes: [200, 2_000],
            calldata_zero_share: 0.35,
            senders: 2_000,
            pool_capacity: 20_000,
            bursts: Vec::new(),
            stop_at: None,
            signatures: Signatures::Simulated,
        }
    }
}

impl WorkloadConfig {
    /// Checks ranges; errors name the field (relative to `[l2.workload]`).
    pub fn validate(&self, run: Duration) -> Result<(), (String, String)> {
        let err = |field: &str, reason: String| Err((field.to_owned(), reason));
        if !(0.0..=5_000.0).contains(&self.txs_per_block) {
            return err("txs_per_block", format!("must be in 0..=5000, got {}", self.txs_per_block));
        }
        for (field, share) in [
            ("transfer_share", self.transfer_share),
            ("contract_share", self.contract_share),
            ("calldata_zero_share", self.calldata_zero_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return err(field, format!("must be in 0..=1, got {share}"));
            }
        }
        if self.transfer_share + self.contract_share > 1.0 {
            return err(
                "contract_share",
                format!(
                    "transfer_share + contract_share must be at most 1, got {}",
                    self.transfer_share + self.contract_share
                ),
            );
        }
        let weights = self.contracts.weights();
        if weights.iter().any(|w| !(0.0..=1e6).contains(w))
            || (self.contract_share > 0.0 && weights.iter().sum::<f64>() <= 0.0)
        {
            return err(
                "contracts",
                "weights must be in 0..=1000000, and not all zero when contract_share > 0".to_owned(),
            );
        }
        let check_range = |field: &str, [lo, hi]: [u64; 2]| {
            if lo > hi || hi > 120_000 {
                return err(field, format!("must be a range [lo, hi] with hi <= 120000, got [{lo}, {hi}]"));
            }
            Ok(())
        };
        check_range("calldata_bytes", self.calldata_bytes)?;
        if !(1..=10_000_000).contains(&self.senders) {
            return err("senders", format!("must be in 1..=10000000, got {}", self.senders));
        }
        if self.stop_at.is_some_and(|stop| stop >= run) {
            return err("stop_at", "must be before the end of the run".to_owned());
        }
        if self.pool_capacity == 0 {
            return err("pool_capacity", "must be at least 1".to_owned());
        }
        for (i, burst) in self.bursts.iter().enumerate() {
            if burst.at >= run {
                return err(&format!("bursts[{i}].at"), "must be before the end of the run".to_owned());
            }
            if !(0.0..=5_000.0).contains(&burst.txs_per_block) {
                return err(
                    &format!("bursts[{i}].txs_per_block"),
                    format!("must be in 0..=5000, got {}", burst.txs_per_block),
                );
            }
            check_range(&format!("bursts[{i}].tx_bytes"), burst.tx_bytes)?;
        }
        Ok(())
    }
}

/// The generator. It remembers each sender's next nonce: transactions it made are either in the
/// pool or in the chain (reorged ones return to the pool), so the sequence never gaps.
pub struct Workload {
    config: WorkloadConfig,
    chain_id: u64,
    block_time: Duration,
    rng: ChaCha8Rng,
    next_nonce: BTreeMap<Address, u64>,
    /// With real signatures: the keys used so far, by sender index (deriving one costs a curve
    /// multiplication).
    keys: BTreeMap<u64, LocalSigner>,
    /// Simulated time up to which arrivals were generated.
    until: Duration,
    pub generated: u64,
    pub turned_away: u64,
}

impl WorkloadConfig {
    /// The address of sender `index`.
    pub fn sender_address(&self, index: u64) -> Address {
        match self.signatures {
            Signatures::Simulated => simulated_sender(index),
            Signatures::Secp256k1 => sender_key(index).address(),
        }
    }
}

/// With simulated signatures, L2 senders live at 0xa2..00 + index.
fn simulated_sender(index: u64) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xa2;
    bytes[12..].copy_from_slice(&index.to_be_bytes());
    Address::from(bytes)
}

/// The secp256k1 key of sender `index`: a hash of the index, so every run has the same senders.
fn sender_key(index: u64) -> LocalSigner {
    let secret = keccak256([b"rollsim-l2-sender-".as_slice(), &index.to_be_bytes()].concat());
    LocalSigner::new(secret).expect("a keccak256 hash is below the curve order but with probability 2^-128")
}

impl Workload {
    pub fn new(config: WorkloadConfig, chain_id: u64, block_time: Duration, rng: ChaCha8Rng) -> Self {
        Self {
            config,
            chain_id,
            block_time,
            rng,
            next_nonce: BTreeMap::new(),
            keys: BTreeMap::new(),
            until: Duration::ZERO,
            generated: 0,
            turned_away: 0,
        }
    }

    /// Transactions that arrived since the last call, up to simulated time `now`: one draw per
    /// whole L2 block time elapsed (rates are per block). `pool_len` is the pool's current size.
    pub fn arrivals(&mut self, now: Duration, pool_len: usize) -> Vec<PendingTx> {
        let mut txs = Vec::new();
        while self.until + self.block_time <= now {
            if self.config.stop_at.is_none_or(|stop| self.until < stop) {
                self.arrive(self.until, &mut txs);
            }
            self.until += self.block_time;
        }
        let room = self.config.pool_capacity.saturating_sub(pool_len);
        self.turned_away += txs.len().saturating_sub(room) as u64;
        txs.truncate(room);
        txs.into_iter().map(|kind| self.transaction(kind)).collect()
    }

    /// Draws the calldata sizes of one block time's arrivals, starting at `now`.
    fn arrive(&mut self, now: Duration, txs: &mut Vec<Kind>) {
        let base = self.poisson(self.config.txs_per_block);
        for _ in 0..base {
            let draw: f64 = self.rng.gen();
            let kind = if draw < self.config.transfer_share {
                Kind::Transfer
            } else if draw < self.config.transfer_share + self.config.contract_share {
                let weights = self.config.contracts.weights();
                let mut pick = self.rng.gen::<f64>() * weights.iter().sum::<f64>();
                let index = weights.iter().position(|w| {
                    pick -= w;
                    pick < 0.0
                });
                Kind::Contract(index.unwrap_or(weights.len() - 1))
            } else {
                let bytes = self.rng.gen_range(self.config.calldata_bytes[0]..=self.config.calldata_bytes[1]);
                Kind::Calldata(bytes as usize)
            };
            txs.push(kind);
        }
        let bursts: Vec<Burst> =
            self.config.bursts.iter().filter(|b| (b.at..b.at + b.duration).contains(&now)).cloned().collect();
        for burst in bursts {
            for _ in 0..self.poisson(burst.txs_per_block) {
                txs.push(Kind::Calldata(self.rng.gen_range(burst.tx_bytes[0]..=burst.tx_bytes[1]) as usize));
            }
        }
    }

    fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            // Normal approximation keeps large rates cheap.
            let u1: f64 = self.rng.gen_range(f64::EPSILON..1.0);
            let u2: f64 = self.rng.gen();
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            return (lambda + z * lambda.sqrt()).round().max(0.0) as u64;
        }
        let limit = (-lambda).exp();
        let mut product: f64 = self.rng.gen();
        let mut count = 0;
        while product > limit {
            product *= self.rng.gen::<f64>();
            count += 1;
        }
        count
    }

    /// The address of sender `index`, and its key when signatures are real.
    fn sender(&mut self, index: u64) -> (Address, Option<&LocalSigner>) {
        match self.config.signatures {
            Signatures::Simulated => (simulated_sender(index), None),
            Signatures::Secp256k1 => {
                let key = self.keys.entry(index).or_insert_with(|| sender_key(index));
                (key.address(), Some(key))
            }
        }
    }

    /// A random account's address: another sender.
    fn someone(&mut self) -> Address {
        let index = self.rng.gen_range(0..self.config.senders);
        self.sender(index).0
    }

    /// Calldata with about `calldata_zero_share` zero bytes.
    fn calldata(&mut self, bytes: usize) -> Vec<u8> {
        let mut input = vec![0u8; bytes];
        self.rng.fill(&mut input[..]);
        // Bytes below the threshold become zero: about `calldata_zero_share` of them.
        let threshold = (self.config.calldata_zero_share * 256.0) as u16;
        for byte in &mut input {
            if u16::from(*byte) < threshold {
                *byte = 0;
            }
        }
        input
    }

    /// Target, value, ABI-encoded input and gas limit of contract call `index` of the mix.
    fn contract_call(&mut self, index: usize) -> (Address, U256, Bytes, u64) {
        match index {
            0 => {
                let token = if self.rng.gen_bool(0.5) { contracts::TOKEN0 } else { contracts::TOKEN1 };
                let (to, amount) =
                    (self.someone(), U256::from(self.rng.gen_range(1u64..1_000_000_000_000_000_000)));
                (token, U256::ZERO, contracts::token_transfer(to, amount), 80_000)
            }
            1 => {
                let amount_in =
                    U256::from(self.rng.gen_range(1_000_000_000_000_000u128..100_000_000_000_000_000_000));
                (
                    contracts::POOL,
                    U256::ZERO,
                    contracts::pool_swap(self.rng.gen_bool(0.5), amount_in, U256::ZERO),
                    200_000,
                )
            }
            2 | 3 => {
                let (key, n) = (self.rng.gen_range(0..STORE_KEYS), self.rng.gen_range(1..=8u64));
                let (input, per_slot_gas) = if index == 2 {
                    (contracts::store_write(U256::from(key), U256::from(n)), 25_000)
                } else {
                    (contracts::store_clear(U256::from(key), U256::from(n)), 8_000)
                };
                (contracts::STORE, U256::ZERO, input, 40_000 + per_slot_gas * n)
            }
            4 => {
                let salt = B256::from(U256::from(self.rng.gen::<u64>()));
                let value = U256::from(self.rng.gen_range(0u64..1_000_000));
                (contracts::FACTORY, value, contracts::factory_create_and_destroy(salt), 200_000)
            }
            5 => (contracts::STORE, U256::ZERO, contracts::store_fail(), 40_000),
            _ => (contracts::STORE, U256::ZERO, contracts::store_burn(), 100_000),
        }
    }

    fn transaction(&mut self, kind: Kind) -> PendingTx {
        let sender_index = self.rng.gen_range(0..self.config.senders);
        let sender = self.sender(sender_index).0;
        let nonce = self.next_nonce.entry(sender).or_default();
        let tx_nonce = *nonce;
        *nonce += 1;
        let (to, value, input, gas) = match kind {
            Kind::Transfer => {
                let value = U256::from(self.rng.gen_range(1u64..1_000_000_000_000));
                (self.someone(), value, Bytes::new(), call_gas(&[]))
            }
            Kind::Calldata(bytes) => {
                let input = self.calldata(bytes);
                let gas = call_gas(&input);
                // One in ten carries no value to an address never seen before: the account is
                // touched and left empty, so EIP-161 keeps it out of the state.
                let (to, value) = if self.rng.gen_bool(0.1) {
                    (Address::from(self.rng.gen::<[u8; 20]>()), U256::ZERO)
                } else {
                    (self.someone(), U256::from(self.rng.gen_range(1u64..1_000_000_000_000)))
                };
                (to, value, Bytes::from(input), gas)
            }
            Kind::Contract(index) => self.contract_call(index),
        };
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: tx_nonce,
            gas_limit: gas,
            max_fee_per_gas: 1_000_000_000,
            max_priority_fee_per_gas: self.rng.gen_range(1_000..1_000_000),
            to: TxKind::Call(to),
            value,
            access_list: Default::default(),
            input,
        };
        let envelope = OpTxEnvelope::Eip1559(match self.sender(sender_index).1 {
            Some(key) => key.sign(tx),
            None => rollsim::simsig::sign(tx, sender),
        });
        let raw: Bytes = envelope.encoded_2718().into();
        self.generated += 1;
        PendingTx {
            hash: envelope.tx_hash(),
            envelope,
            da_bytes: rollsim::protocol::da_size::tx_estimated_da_size_bytes(&raw),
            raw,
            sender,
            nonce: tx_nonce,
            gas,
        }
    }
}
