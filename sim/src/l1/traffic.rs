//! Background traffic: the rest of Ethereum, competing with the batcher for gas and blob space.
//!
//! Demand is a curve, not a stream of fixed bids: each slot, users want `demand x target` gas (and
//! blobs) if it were free, and each would-be transaction carries a willingness to pay drawn
//! log-uniformly from a range. Users do not bother submitting below the current price. This makes
//! the base fee settle where the demand above it fills the target, as on mainnet, instead of
//! drifting forever; the demand level itself wanders (a mean-reverting walk), so fees move. A fee
//! spike is a raised demand level.

use super::{
    pool::Mempool,
    tx::{PoolTx, TxPoolError},
};
use alloy_primitives::{Address, B256, U256};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

/// Shape of the background traffic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficConfig {
    pub enabled: bool,
    /// Gas wanted per slot at zero price, as a multiple of the block gas target.
    pub gas_demand: f64,
    /// Blobs wanted per slot at zero price, as a multiple of the blob target.
    pub blob_demand: f64,
    /// Standard deviation of the demand level's step per slot (relative).
    pub demand_volatility: f64,
    /// Fraction of the gap to the mean demand closed each slot.
    pub demand_reversion: f64,
    /// Range of the fee cap users will pay per gas, drawn log-uniformly.
    pub fee_cap_gwei: [f64; 2],
    /// Range of tips, drawn uniformly (capped by the fee cap).
    pub tip_gwei: [f64; 2],
    /// Range of the blob fee cap users will pay per blob gas, in wei, drawn log-uniformly.
    pub blob_fee_cap_wei: [f64; 2],
    /// Share of plain transfers (21,000 gas); the rest are calls drawn from `call_gas`.
    pub transfer_share: f64,
    pub call_gas: [u64; 2],
    /// Most blobs a background blob transaction carries.
    pub max_blobs_per_tx: u64,
    /// Distinct background senders; a sender with a pooled transaction does not send another.
    pub senders: u64,
    /// Slots a background transaction waits in the pool before its sender gives up.
    pub max_wait_slots: u64,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            gas_demand: 2.0,
            blob_demand: 2.5,
            demand_volatility: 0.05,
            demand_reversion: 0.05,
            fee_cap_gwei: [0.2, 20.0],
            tip_gwei: [0.01, 1.0],
            blob_fee_cap_wei: [1.0, 1e10],
            transfer_share: 0.3,
            call_gas: [100_000, 2_000_000],
            max_blobs_per_tx: 6,
            senders: 4_000,
            max_wait_slots: 25,
        }
    }
}

impl TrafficConfig {
    /// Checks ranges; errors name the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |field: &str, reason: String| Err((field.to_owned(), reason));
        for (field, value) in [("gas_demand", self.gas_demand), ("blob_demand", self.blob_demand)] {
            if !(0.0..=100.0).contains(&value) {
                return err(field, format!("must be in 0..=100, got {value}"));
            }
        }
        for (field, value) in
            [("demand_volatility", self.demand_volatility), ("demand_reversion", self.demand_reversion)]
        {
            if !(0.0..=1.0).contains(&value) {
                return err(field, format!("must be in 0..=1, got {value}"));
            }
        }
        for (field, [lo, hi]) in [
            ("fee_cap_gwei", self.fee_cap_gwei),
            ("tip_gwei", self.tip_gwei),
            ("blob_fee_cap_wei", self.blob_fee_cap_wei),
        ] {
            if !(lo > 0.0 && lo <= hi && hi <= 1e12) {
                return err(
                    field,
                    format!("must be a range [lo, hi] with 0 < lo <= hi <= 1e12, got [{lo}, {hi}]"),
                );
            }
        }
        if !(0.0..=1.0).contains(&self.transfer_share) {
            return err("transfer_share", format!("must be in 0..=1, got {}", self.transfer_share));
        }
        let [lo, hi] = self.call_gas;
        if !(21_000 <= lo && lo <= hi && hi <= 30_000_000) {
            return err("call_gas", format!("must be a range within 21000..=30000000, got [{lo}, {hi}]"));
        }
        if !(1..=9).contains(&self.max_blobs_per_tx) {
            return err("max_blobs_per_tx", format!("must be in 1..=9, got {}", self.max_blobs_per_tx));
        }
        if !(1..=1_000_000).contains(&self.senders) {
            return err("senders", format!("must be in 1..=1000000, got {}", self.senders));
        }
        if self.max_wait_slots == 0 {
            return err("max_wait_slots", "must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// Prices the traffic sees when it decides what to send for the next block.
#[derive(Debug, Clone, Copy)]
pub struct Prices {
    pub base_fee: u64,
    pub blob_fee: u128,
    pub gas_target: u64,
    pub blob_target: u64,
    /// The fork's limits on one transaction (EIP-7825's gas cap, blobs per transaction).
    pub max_tx_gas: u64,
    pub max_blobs_per_tx: u64,
}

/// The generator.
pub struct Traffic {
    config: TrafficConfig,
    rng: ChaCha8Rng,
    /// Current demand levels, as multiples of their means.
    gas_level: f64,
    blob_level: f64,
    /// Externally imposed demand multipliers for gas and blob space (fee-spike faults).
    pub multiplier: f64,
    pub blob_multiplier: f64,
    pub submitted: u64,
}

/// Background senders live at 0xb6..00 + index, away from every real key's address.
fn sender_address(index: u64) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xb6;
    bytes[12..].copy_from_slice(&index.to_be_bytes());
    Address::from(bytes)
}

impl Traffic {
    pub fn new(config: TrafficConfig, rng: ChaCha8Rng) -> Self {
        Self {
            config,
            rng,
            gas_level: 1.0,
            blob_level: 1.0,
            multiplier: 1.0,
            blob_multiplier: 1.0,
            submitted: 0,
        }
    }

    /// Standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.gen();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn log_uniform(&mut self, [lo, hi]: [f64; 2]) -> f64 {
        if lo == hi {
            return lo;
        }
        (self.rng.gen_range(lo.ln()..hi.ln())).exp()
    }

    fn step_level(&mut self, level: f64) -> f64 {
        let step =
            self.config.demand_reversion * (1.0 - level) + self.config.demand_volatility * self.normal();
        (level + step).clamp(0.0, 3.0)
    }

    /// Sends this slot's background transactions into `pool`. `nonce_of` gives a sender's state
    /// nonce.
    pub fn generate(
        &mut self,
        slot: u64,
        prices: Prices,
        pool: &mut Mempool,
        nonce_of: impl Fn(&Address) -> u64,
    ) {
        if !self.config.enabled {
            return;
        }
        self.gas_level = self.step_level(self.gas_level);
        self.blob_level = self.step_level(self.blob_level);
        let expires = slot + self.config.max_wait_slots;
        let base_fee = prices.base_fee as f64;

        let mut gas_wanted =
            (self.config.gas_demand * self.gas_level * self.multiplier * prices.gas_target as f64) as u64;
        while gas_wanted >= 21_000 {
            let gas = if self.rng.gen_bool(self.config.transfer_share) {
                21_000
            } else {
                self.rng.gen_range(self.config.call_gas[0]..=self.config.call_gas[1])
            }
            .min(gas_wanted)
            .min(prices.max_tx_gas);
            gas_wanted -= gas;
            let fee_cap = self.log_uniform(self.config.fee_cap_gwei) * 1e9;
            if fee_cap < base_fee {
                continue;
            }
            let tip =
                (self.rng.gen_range(self.config.tip_gwei[0]..=self.config.tip_gwei[1]) * 1e9).min(fee_cap);
            self.submit(pool, &nonce_of, expires, gas, fee_cap as u128, tip as u128, 0, 0);
        }

        // Blob transactions: a Poisson number per slot around the wanted blob count.
        let mean_blobs_per_tx = (1 + self.config.max_blobs_per_tx) as f64 / 2.0;
        let lambda =
            self.config.blob_demand * self.blob_level * self.blob_multiplier * prices.blob_target as f64
                / mean_blobs_per_tx;
        for _ in 0..self.poisson(lambda) {
            let blobs = self.rng.gen_range(1..=self.config.max_blobs_per_tx).min(prices.max_blobs_per_tx);
            let blob_fee_cap = self.log_uniform(self.config.blob_fee_cap_wei);
            if blob_fee_cap < prices.blob_fee as f64 {
                continue;
            }
            let fee_cap = self.log_uniform(self.config.fee_cap_gwei) * 1e9;
            if fee_cap < base_fee {
                continue;
            }
            let tip =
                (self.rng.gen_range(self.config.tip_gwei[0]..=self.config.tip_gwei[1]) * 1e9).min(fee_cap);
            self.submit(
                pool,
                &nonce_of,
                expires,
                21_000,
                fee_cap as u128,
                tip as u128,
                blobs,
                blob_fee_cap as u128,
            );
        }
    }

    fn poisson(&mut self, lambda: f64) -> u64 {
        // Knuth's method; lambda stays small (tens at most).
        let limit = (-lambda).exp();
        let mut product: f64 = self.rng.gen();
        let mut count = 0;
        while product > limit {
            product *= self.rng.gen::<f64>();
            count += 1;
        }
        count
    }

    #[allow(clippy::too_many_arguments)]
    fn submit(
        &mut self,
        pool: &mut Mempool,
        nonce_of: &impl Fn(&Address) -> u64,
        expires_after_slot: u64,
        gas: u64,
        max_fee_per_gas: u128,
        max_priority_fee_per_gas: u128,
        blob_count: u64,
        max_fee_per_blob_gas: u128,
    ) {
        let sender = sender_address(self.rng.gen_range(0..self.config.senders));
        if pool.has_sender(&sender) {
            return;
        }
        let nonce = nonce_of(&sender);
        let tx = PoolTx {
            hash: B256::from(self.rng.gen::<[u8; 32]>()),
            sender,
            nonce,
            to: sender,
            value: U256::ZERO,
            gas_limit: gas,
            gas_used: gas,
            max_fee_per_gas,
            max_priority_fee_per_gas,
            max_fee_per_blob_gas,
            blob_count,
            signed: None,
        };
        match pool.add(tx, nonce, None, Some(expires_after_slot)) {
            Ok(_) => self.submitted += 1,
            Err(TxPoolError::AlreadyKnown) => {}
            Err(e) => debug_assert!(false, "background tx refused: {e}"),
        }
    }
}
