//! The L2 workload: seeded user transactions for the sequencer's pool.
//!
//! Each L2 block slot, a Poisson number of transactions arrives from a population of senders:
//! value transfers and calldata-heavy calls (calldata with a share of zero bytes, so it compresses
//! like real calldata), plus scheduled bursts of large transactions that outrun the DA layer and
//! build a backlog. Every transaction type a span batch carries is sent (`[l2.workload.tx_types]`):
//! legacy with and without EIP-155 replay protection, EIP-2930, EIP-1559 and EIP-7702, so a
//! wire-format bug in any of them reaches derivation. Transactions carry simulated signatures
//! (`l2::simsig`); EIP-7702 authorizations are signed with secp256k1, since the EVM recovers
//! each authority itself.

use super::{block::call_gas, chain::PendingTx, contracts};
use alloy_consensus::{SignableTransaction, Signed, TxEip1559, TxEip2930, TxEip7702, TxLegacy};
use alloy_eips::{
    eip2718::Encodable2718,
    eip2930::{AccessList, AccessListItem},
    eip7702::Authorization,
};
use alloy_primitives::{keccak256, Address, Bytes, Signature, TxKind, B256, U256};
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
    #[serde(deserialize_with = "crate::units::duration")]
    pub at: Duration,
    #[serde(deserialize_with = "crate::units::duration")]
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
    /// `l2::simsig`: the bytes of a signature, none of its cost (see there).
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

/// Relative weights of the transaction types (`[l2.workload.tx_types]`). The default resembles an
/// OP chain today: mostly EIP-1559, a share of legacy (a few without EIP-155, as old deployment
/// scripts send), a few with access lists or EIP-7702 delegations.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TxTypeMix {
    pub legacy: f64,
    /// Legacy without EIP-155: signed over no chain id, `v` is 27 or 28.
    pub legacy_unprotected: f64,
    /// With an access list naming the call's target.
    pub eip2930: f64,
    pub eip1559: f64,
    /// With one authorization: a fresh account delegates to the store contract.
    pub eip7702: f64,
}

impl Default for TxTypeMix {
    fn default() -> Self {
        Self { legacy: 12.0, legacy_unprotected: 2.0, eip2930: 4.0, eip1559: 80.0, eip7702: 2.0 }
    }
}

impl TxTypeMix {
    /// The weights, in [`TxType::ALL`]'s order.
    pub fn weights(&self) -> [f64; 5] {
        [self.legacy, self.legacy_unprotected, self.eip2930, self.eip1559, self.eip7702]
    }
}

/// A transaction type the workload sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TxType {
    Legacy,
    LegacyUnprotected,
    Eip2930,
    Eip1559,
    Eip7702,
}

impl TxType {
    pub const ALL: [TxType; 5] =
        [TxType::Legacy, TxType::LegacyUnprotected, TxType::Eip2930, TxType::Eip1559, TxType::Eip7702];

    /// The type of a user transaction; `None` for a deposit.
    pub fn of(tx: &OpTxEnvelope) -> Option<TxType> {
        Some(match tx {
            OpTxEnvelope::Legacy(signed) if signed.tx().chain_id.is_some() => TxType::Legacy,
            OpTxEnvelope::Legacy(_) => TxType::LegacyUnprotected,
            OpTxEnvelope::Eip2930(_) => TxType::Eip2930,
            OpTxEnvelope::Eip1559(_) => TxType::Eip1559,
            OpTxEnvelope::Eip7702(_) => TxType::Eip7702,
            OpTxEnvelope::Deposit(_) => return None,
        })
    }

    /// The name of the type's weight in `[l2.workload.tx_types]`.
    pub fn name(self) -> &'static str {
        match self {
            TxType::Legacy => "legacy",
            TxType::LegacyUnprotected => "legacy_unprotected",
            TxType::Eip2930 => "eip2930",
            TxType::Eip1559 => "eip1559",
            TxType::Eip7702 => "eip7702",
        }
    }
}

/// Draws an index from relative `weights` (not all zero).
fn pick(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let mut left = rng.gen::<f64>() * weights.iter().sum::<f64>();
    weights
        .iter()
        .position(|w| {
            left -= w;
            left < 0.0
        })
        .unwrap_or(weights.len() - 1)
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
    pub tx_types: TxTypeMix,
    pub calldata_bytes: [u64; 2],
    /// Share of zero bytes in generated calldata (compressibility).
    pub calldata_zero_share: f64,
    pub senders: u64,
    /// Most transactions the pool holds; beyond it users are turned away (op-geth's pool limit).
    pub pool_capacity: usize,
    pub bursts: Vec<Burst>,
    /// Users stop sending at this simulated time ("load ends"); absent: never.
    #[serde(deserialize_with = "crate::units::optional_duration")]
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
            tx_types: TxTypeMix::default(),
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
        let types = self.tx_types.weights();
        if types.iter().any(|w| !(0.0..=1e6).contains(w)) || types.iter().sum::<f64>() <= 0.0 {
            return err("tx_types", "weights must be in 0..=1000000, and not all zero".to_owned());
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
    /// EIP-7702 authorities used so far: each delegation is signed by a fresh key.
    authorities: u64,
    pub generated: u64,
    pub turned_away: u64,
}

impl WorkloadConfig {
    /// Senders funded at genesis: the first [`FUNDED_SENDERS_MAX`](super::genesis::FUNDED_SENDERS_MAX).
    pub fn funded_senders(&self) -> u64 {
        self.senders.min(super::genesis::FUNDED_SENDERS_MAX)
    }

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

/// The secp256k1 key of sender `index`.
fn sender_key(index: u64) -> LocalSigner {
    derived_key(b"rollsim-l2-sender-", index)
}

/// A key that is a hash of a label and an index, so every run has the same keys.
fn derived_key(label: &[u8], index: u64) -> LocalSigner {
    let secret = keccak256([label, &index.to_be_bytes()].concat());
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
            authorities: 0,
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
                Kind::Contract(pick(&mut self.rng, &self.config.contracts.weights()))
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
        let tx_type = TxType::ALL[pick(&mut self.rng, &self.config.tx_types.weights())];
        let (access_list_accounts, authorizations) = match tx_type {
            TxType::Eip2930 => (1, 0),
            TxType::Eip7702 => (0, 1),
            _ => (0, 0),
        };
        let (to, value, input, gas) = match kind {
            Kind::Transfer => {
                let value = U256::from(self.rng.gen_range(1u64..1_000_000_000_000));
                (self.someone(), value, Bytes::new(), call_gas(&[], access_list_accounts, authorizations))
            }
            Kind::Calldata(bytes) => {
                let input = self.calldata(bytes);
                let gas = call_gas(&input, access_list_accounts, authorizations);
                // One in ten carries no value to an address never seen before: the account is
                // touched and left empty, so EIP-161 keeps it out of the state.
                let (to, value) = if self.rng.gen_bool(0.1) {
                    (Address::from(self.rng.gen::<[u8; 20]>()), U256::ZERO)
                } else {
                    (self.someone(), U256::from(self.rng.gen_range(1u64..1_000_000_000_000)))
                };
                (to, value, Bytes::from(input), gas)
            }
            Kind::Contract(index) => {
                let (to, value, input, gas) = self.contract_call(index);
                let extra = call_gas(&[], access_list_accounts, authorizations) - call_gas(&[], 0, 0);
                (to, value, input, gas + extra)
            }
        };
        let (chain_id, gas_limit) = (self.chain_id, gas);
        let (max_fee_per_gas, max_priority_fee_per_gas): (u128, u128) =
            (1_000_000_000, self.rng.gen_range(1_000..1_000_000));
        let envelope = match tx_type {
            TxType::Legacy | TxType::LegacyUnprotected => {
                let chain_id = (tx_type == TxType::Legacy).then_some(chain_id);
                let tx = TxLegacy {
                    chain_id,
                    nonce: tx_nonce,
                    gas_price: max_fee_per_gas,
                    gas_limit,
                    to: TxKind::Call(to),
                    value,
                    input,
                };
                OpTxEnvelope::Legacy(self.sign(sender_index, tx))
            }
            TxType::Eip2930 => {
                let access_list = AccessList(vec![AccessListItem { address: to, storage_keys: Vec::new() }]);
                let tx = TxEip2930 {
                    chain_id,
                    nonce: tx_nonce,
                    gas_price: max_fee_per_gas,
                    gas_limit,
                    to: TxKind::Call(to),
                    value,
                    access_list,
                    input,
                };
                OpTxEnvelope::Eip2930(self.sign(sender_index, tx))
            }
            TxType::Eip1559 => {
                let tx = TxEip1559 {
                    chain_id,
                    nonce: tx_nonce,
                    gas_limit,
                    max_fee_per_gas,
                    max_priority_fee_per_gas,
                    to: TxKind::Call(to),
                    value,
                    access_list: Default::default(),
                    input,
                };
                OpTxEnvelope::Eip1559(self.sign(sender_index, tx))
            }
            TxType::Eip7702 => {
                let authority = authority_key(self.authorities);
                self.authorities += 1;
                let delegation =
                    Authorization { chain_id: U256::from(chain_id), address: contracts::STORE, nonce: 0 };
                let tx = TxEip7702 {
                    chain_id,
                    nonce: tx_nonce,
                    gas_limit,
                    max_fee_per_gas,
                    max_priority_fee_per_gas,
                    to,
                    value,
                    access_list: Default::default(),
                    authorization_list: vec![authority.sign_authorization(delegation)],
                    input,
                };
                OpTxEnvelope::Eip7702(self.sign(sender_index, tx))
            }
        };
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

    /// Signs `tx` as sender `index`, with the workload's signature scheme.
    fn sign<T: SignableTransaction<Signature>>(&mut self, index: u64, tx: T) -> Signed<T> {
        match self.sender(index) {
            (_, Some(key)) => key.sign(tx),
            (sender, None) => crate::l2::simsig::sign(tx, sender),
        }
    }
}

/// The key of EIP-7702 authority `index`.
fn authority_key(index: u64) -> LocalSigner {
    derived_key(b"rollsim-l2-authority-", index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Every type is sent, each recovers to its sender (and a delegation to its authority), and
    /// a legacy transaction without EIP-155 carries no chain id.
    #[test]
    fn every_transaction_type_is_sent_and_signed() {
        for signatures in [Signatures::Simulated, Signatures::Secp256k1] {
            let config = WorkloadConfig { txs_per_block: 50.0, signatures, ..WorkloadConfig::default() };
            let mut workload =
                Workload::new(config, 901, Duration::from_secs(2), ChaCha8Rng::seed_from_u64(1));
            let txs = workload.arrivals(Duration::from_secs(40), 0);
            let mut seen = BTreeMap::new();
            for tx in &txs {
                let tx_type = TxType::of(&tx.envelope).expect("users send no deposits");
                *seen.entry(tx_type).or_insert(0) += 1;
                assert_eq!(crate::l2::simsig::recover_signer(&tx.envelope), Ok(tx.sender), "{tx_type:?}");
                match &tx.envelope {
                    OpTxEnvelope::Legacy(signed) if tx_type == TxType::LegacyUnprotected => {
                        assert_eq!(signed.tx().chain_id, None);
                    }
                    OpTxEnvelope::Eip7702(signed) => {
                        let authorization = &signed.tx().authorization_list[0];
                        assert!(authorization.recover_authority().is_ok());
                        assert_eq!(authorization.address, contracts::STORE);
                    }
                    _ => {}
                }
            }
            assert_eq!(seen.len(), TxType::ALL.len(), "{signatures:?}: {seen:?}");
        }
    }
}
