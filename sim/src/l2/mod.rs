//! The L2 chain shared by the sequencer (its execution engine) and the rollup node (its op-node).
//!
//! In the OP Stack the sequencer's op-geth holds the chain and its op-node derives the safe head
//! from L1, reorging the unsafe chain when derivation disagrees. Here both sides work on one
//! [`chain::L2Chain`] (the engine's database): node `sequencer` appends unsafe blocks, node
//! `rollup` marks them safe or replaces them. Restarting either node keeps the chain, as a
//! restarted op-geth keeps its database.

pub mod block;
pub mod chain;
pub mod contracts;
pub mod costs;
pub mod engine;
pub mod genesis;
pub mod rpc;
pub mod simsig;
pub mod workload;

use alloy_eips::BlockNumHash;
use alloy_primitives::{address, Address, U256};
use kona_genesis::{ChainGenesis, HardForkConfig, RollupConfig, SystemConfig};
use serde::Deserialize;
use workload::{Signatures, WorkloadConfig};

/// The `[l2]` table of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct L2Config {
    pub chain_id: u64,
    pub block_time_s: u64,
    pub gas_limit: u64,
    /// L1 blocks within which a batch must land after its epoch (mainnet: 3600).
    pub seq_window_size: u64,
    /// L1 blocks a channel may stay open (Granite: 50).
    pub channel_timeout: u64,
    /// L1 blocks the sequencer keeps behind the L1 head when it adopts an origin (op-node's
    /// `--sequencer.l1-confs`).
    pub sequencer_conf_depth: u64,
    pub batch_inbox: Address,
    pub initial_base_fee_wei: u64,
    /// Holocene EIP-1559 parameters in the system config.
    pub eip1559_denominator: u32,
    pub eip1559_elasticity: u32,
    /// The block oracle re-builds every block whose number is a multiple of this with
    /// kona-executor (0: off). Needs `workload.signatures = "secp256k1"`: it recovers senders.
    pub oracle_every: u64,
    /// Funded accounts at genesis: the workload's funded senders and, up to this total, dormant
    /// accounts that never transact (`genesis::dormant_address`); absent: the senders only. What
    /// makes the L2 state as large as a scaling measurement needs.
    pub genesis_accounts: Option<u64>,
    pub workload: WorkloadConfig,
}

/// The most funded accounts a genesis may hold: a million, the largest state measured
/// (docs/world.md, "Scaling").
pub const GENESIS_ACCOUNTS_MAX: u64 = 1_000_000;

impl Default for L2Config {
    fn default() -> Self {
        Self {
            chain_id: 901,
            block_time_s: 2,
            gas_limit: 30_000_000,
            seq_window_size: 3600,
            channel_timeout: 50,
            sequencer_conf_depth: 4,
            batch_inbox: address!("ff00000000000000000000000000000000000901"),
            initial_base_fee_wei: 1_000_000,
            eip1559_denominator: 250,
            eip1559_elasticity: 6,
            oracle_every: 0,
            genesis_accounts: None,
            workload: WorkloadConfig::default(),
        }
    }
}

impl L2Config {
    /// Checks ranges; an error names the field (relative to `[l2]`) and the reason.
    pub fn validate(&self, run: std::time::Duration) -> Result<(), (String, String)> {
        let err = |field: &str, reason: String| Err((field.to_owned(), reason));
        if !(1..=12).contains(&self.block_time_s) {
            return err("block_time_s", format!("must be in 1..=12, got {}", self.block_time_s));
        }
        if !(1_000_000..=1_000_000_000).contains(&self.gas_limit) {
            return err("gas_limit", format!("must be in 1000000..=1000000000, got {}", self.gas_limit));
        }
        if !(2..=100_000).contains(&self.seq_window_size) {
            return err("seq_window_size", format!("must be in 2..=100000, got {}", self.seq_window_size));
        }
        if !(1..=10_000).contains(&self.channel_timeout) {
            return err("channel_timeout", format!("must be in 1..=10000, got {}", self.channel_timeout));
        }
        if self.sequencer_conf_depth > 64 {
            return err(
                "sequencer_conf_depth",
                format!("must be at most 64, got {}", self.sequencer_conf_depth),
            );
        }
        if self.eip1559_denominator == 0 || self.eip1559_elasticity == 0 {
            return err("eip1559_denominator", "EIP-1559 parameters must be non-zero".to_owned());
        }
        if self.oracle_every > 0 && self.workload.signatures != Signatures::Secp256k1 {
            return err(
                "oracle_every",
                "the block oracle recovers senders: it needs workload.signatures = \"secp256k1\"".to_owned(),
            );
        }
        if let Some(accounts) = self.genesis_accounts {
            let senders = self.workload.funded_senders();
            if !(senders..=GENESIS_ACCOUNTS_MAX).contains(&accounts) {
                return err(
                    "genesis_accounts",
                    format!(
                        "must be in {senders}..={GENESIS_ACCOUNTS_MAX} (at least the workload's {senders} funded senders), got {accounts}"
                    ),
                );
            }
        }
        self.workload.validate(run).map_err(|(field, reason)| (format!("workload.{field}"), reason))
    }

    /// Dormant accounts genesis funds beside the workload's senders.
    pub fn dormant_accounts(&self) -> u64 {
        self.genesis_accounts.map_or(0, |total| total.saturating_sub(self.workload.funded_senders()))
    }
}

/// L1 addresses of the rollup's contracts. Nothing lives there on the fake L1 (no deposits, no
/// system-config updates), but the rollup config names them.
const DEPOSIT_CONTRACT: Address = address!("de00000000000000000000000000000000000901");
const SYSTEM_CONFIG: Address = address!("5c00000000000000000000000000000000000901");

/// Fee scalars of the Ecotone L1-fee formula in the system config (OP mainnet's values).
const BASE_FEE_SCALAR: u64 = 5_227;
const BLOB_BASE_FEE_SCALAR: u64 = 1_014_213;

/// The genesis system config: the batcher's address, the gas limit, fee and EIP-1559 parameters.
pub fn system_config(config: &L2Config, batcher: Address) -> SystemConfig {
    let mut scalar = [0u8; 32];
    scalar[0] = 1; // Ecotone scalar format
    scalar[24..28].copy_from_slice(&(BLOB_BASE_FEE_SCALAR as u32).to_be_bytes());
    scalar[28..32].copy_from_slice(&(BASE_FEE_SCALAR as u32).to_be_bytes());
    SystemConfig {
        batcher_address: batcher,
        overhead: U256::ZERO,
        scalar: U256::from_be_bytes(scalar),
        gas_limit: config.gas_limit,
        base_fee_scalar: Some(BASE_FEE_SCALAR),
        blob_base_fee_scalar: Some(BLOB_BASE_FEE_SCALAR),
        eip1559_denominator: Some(config.eip1559_denominator),
        eip1559_elasticity: Some(config.eip1559_elasticity),
        operator_fee_scalar: None,
        operator_fee_constant: None,
    }
}

/// The rollup config: every hardfork through Isthmus active from genesis (the newest the EVM and the
/// block oracle execute, `rollsim::evm`).
pub fn rollup_config(
    config: &L2Config,
    l1_chain_id: u64,
    l1_genesis: BlockNumHash,
    l2_genesis: BlockNumHash,
    genesis_time: u64,
    batcher: Address,
) -> RollupConfig {
    RollupConfig {
        genesis: ChainGenesis {
            l1: l1_genesis,
            l2: l2_genesis,
            l2_time: genesis_time,
            system_config: Some(system_config(config, batcher)),
        },
        block_time: config.block_time_s,
        max_sequencer_drift: 600,
        seq_window_size: config.seq_window_size,
        channel_timeout: 300,
        granite_channel_timeout: config.channel_timeout,
        l1_chain_id,
        l2_chain_id: config.chain_id.into(),
        hardforks: HardForkConfig {
            regolith_time: Some(0),
            canyon_time: Some(0),
            delta_time: Some(0),
            ecotone_time: Some(0),
            fjord_time: Some(0),
            granite_time: Some(0),
            holocene_time: Some(0),
            isthmus_time: Some(0),
            ..HardForkConfig::default()
        },
        batch_inbox_address: config.batch_inbox,
        deposit_contract_address: DEPOSIT_CONTRACT,
        l1_system_config_address: SYSTEM_CONFIG,
        ..RollupConfig::default()
    }
}
