//! Building the world of a scenario: L1, the L2 nodes, the batcher and the submitter, the fault
//! schedule and the online invariants.

use super::{L2World, World, SAFE_LAG_BOUND};
use crate::{
    batcher_node::{self, BatcherSystem, SharedBatcherStats, SimDa, SimL1, SimL2, SimRollup},
    da::{self, DaClient, SharedDa},
    faults, invariants,
    l1::{
        self,
        chain::L1Chain,
        wallet::{batcher_signer, stranger_signer, Wallet},
        L1Client,
    },
    l2::{
        self,
        block::L2Block,
        chain::{L2Chain, SharedL2},
        costs::SimCosts,
        engine::PayloadFaultSource,
        workload::{Burst, Workload},
    },
    net::{RpcFaults, RPC_TIMEOUT},
    rollup_node::{
        verifier::{Verifier, VerifierStats},
        RollupNode,
    },
    scenario::Scenario,
    seed,
    sequencer::Sequencer,
    submitter::{Submitter, SubmitterStats},
    trace::Trace,
    units::ether,
    verdict::Monitor,
};
use madsim::runtime::Handle;
use rand::{RngCore, SeedableRng};
use rollsim::{
    batcher::{
        throttle::{ControllerType, ThrottleController},
        BatcherConfig, DaType,
    },
    evm::OpEvmExecutor,
    payload::{PayloadConfig, PayloadProcessor, WorkloadExecutor},
    sync::lock,
};
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

impl World {
    /// Builds the world of `scenario` and starts it: L1 production, the nodes, the fault schedule
    /// and the online invariants (which record their trace position in `trace`). Node `batcher`
    /// runs `batcher` when the scenario has a `[batcher]` table. Must run inside the simulation.
    pub fn start(
        scenario: &Scenario,
        seed: u64,
        trace: Option<Trace>,
        batcher: &Arc<dyn BatcherSystem>,
    ) -> Self {
        let mut world = Self::new(scenario, seed, trace);
        world.start_l1_and_da(scenario);
        if let Some(config) = &scenario.l2 {
            world.start_l2_side(scenario, config, seed, batcher);
        }
        world.start_faults(scenario);
        if let (Some(batcher), Some(l2)) = (&scenario.batcher, &world.l2) {
            let config = batcher
                .config(batcher_node::rollup_params(&l2.rollup), &scenario.l1)
                .expect("validated with the scenario");
            world.num_confirmations = config.txmgr.num_confirmations;
            world.batcher_runs = true;
            world.spawn_background(invariants::watch(world.watched(&config)));
        }
        world
    }

    /// The world before any node runs.
    fn new(scenario: &Scenario, seed: u64, trace: Option<Trace>) -> Self {
        let chain = L1Chain::new(
            scenario.l1.clone(),
            seed::stream(seed, "l1-traffic"),
            seed::stream(seed, "l1-randao"),
        );
        Self {
            handle: Handle::current(),
            nodes: Mutex::default(),
            rpc_faults: Arc::new(RpcFaults::new(seed::stream(seed, "rpc-faults"))),
            l1: Arc::new(Mutex::new(chain)),
            l2: None,
            da: None,
            batcher_stats: SharedBatcherStats::default(),
            submitter_stats: None,
            safe_lag_bound_blocks: None,
            block_oracle: false,
            rollup_paused: Arc::default(),
            da_limits: None,
            fault_activity: Arc::default(),
            payload_faults: Arc::new(PayloadFaultSource::new(seed, &["sequencer", "rollup"])),
            monitor: Arc::new(Monitor::new(trace)),
            drain_from: None,
            fault_windows: scenario.faults.iter().map(|f| (f.at(), f.end())).collect(),
            num_confirmations: 0,
            batcher_runs: false,
            batcher_flush: Arc::default(),
            pruned: Mutex::default(),
            background: Mutex::default(),
        }
    }

    /// L1 block production, node `l1`, and node `da` when the scenario has `[da]`.
    fn start_l1_and_da(&mut self, scenario: &Scenario) {
        self.spawn_background(l1::produce_blocks(self.l1.clone()));
        let (chain, addr) = (self.l1.clone(), self.rpc_addr_of_next_node());
        self.add_node("l1", move || l1::serve(chain.clone(), addr));
        if scenario.da.is_some() {
            let (store, addr) = (SharedDa::default(), self.rpc_addr_of_next_node());
            let served = store.clone();
            self.add_node("da", move || da::serve(served.clone(), addr));
            self.da = Some(store);
        }
    }

    /// The L2 nodes, then the batcher and the submitter that post for them.
    fn start_l2_side(
        &mut self,
        scenario: &Scenario,
        config: &l2::L2Config,
        seed: u64,
        batcher: &Arc<dyn BatcherSystem>,
    ) {
        let mut config = config.clone();
        // DA backlog faults are workload bursts: users send them whatever the nodes do.
        config.workload.bursts.extend(scenario.faults.iter().filter_map(|fault| match fault {
            faults::Fault::DaBacklog { at, duration, txs_per_block, tx_bytes } => Some(Burst {
                at: *at,
                duration: *duration,
                txs_per_block: *txs_per_block,
                tx_bytes: *tx_bytes,
            }),
            _ => None,
        }));
        self.l2 = Some(self.start_l2(&config, seed));
        self.block_oracle = config.oracle_every > 0;
        self.drain_from = config
            .workload
            .stop_at
            .filter(|stop| scenario.batcher.is_some() && *stop + invariants::DRAIN_TIME <= scenario.duration);
        self.start_submitter(scenario, seed);
        self.start_batcher(scenario, seed, batcher);
        if scenario.batcher.is_some() || scenario.submitter.is_some() {
            self.safe_lag_bound_blocks = Some(SAFE_LAG_BOUND.as_secs() / config.block_time_s);
        }
    }

    /// The fault injector, over every node started so far.
    fn start_faults(&self, scenario: &Scenario) {
        let l1_chain_id = l1::lock(&self.l1).config().chain_id;
        let injector = faults::Injector {
            handle: self.handle.clone(),
            nodes: Arc::new(Mutex::new(
                lock(&self.nodes).iter().map(|(name, e)| (name.clone(), e.id)).collect(),
            )),
            l1: self.l1.clone(),
            rpc_faults: self.rpc_faults.clone(),
            da: self.da.clone(),
            rollup_paused: self.rollup_paused.clone(),
            payload_faults: self.payload_faults.clone(),
            batcher: scenario
                .batcher
                .as_ref()
                .map(|_| Wallet { signer: batcher_signer(), chain_id: l1_chain_id }),
            inbox: self.l2.as_ref().map(|l2| l2.rollup.batch_inbox_address).unwrap_or_default(),
            activity: self.fault_activity.clone(),
            down: Arc::default(),
            batcher_flush: self.batcher_flush.clone(),
        };
        self.spawn_background(injector.run(scenario.faults.clone()));
    }

    /// What the online invariants on the batcher watch, for a batcher configured as `config`.
    fn watched(&self, config: &BatcherConfig) -> invariants::Watched {
        let l2 = self.l2.as_ref().expect("a batcher runs with an L2");
        let unthrottled = ThrottleController::new(config.throttle).params(0.0);
        invariants::Watched {
            monitor: self.monitor.clone(),
            l1: self.l1.clone(),
            l2: l2.chain.clone(),
            batcher: batcher_signer().address(),
            stats: self.batcher_stats.clone(),
            da_limits: self.da_limits.clone().expect("an L2 runs"),
            faults: self.fault_activity.clone(),
            poll: config.poll_interval,
            throttle_threshold_bytes: config.throttle.lower_threshold_bytes,
            unthrottled_limits: (unthrottled.max_tx_size_bytes, unthrottled.max_block_size_bytes),
            throttle_pid: config.throttle.controller == ControllerType::Pid,
            auto_da: (config.da_type == DaType::Auto).then(|| invariants::AutoDa {
                calldata_bytes: config.max_frame_size(DaType::Calldata) as u128 + 1,
                blobs: config.target_num_frames as u128,
            }),
        }
    }

    /// Genesis, the sequencer and the rollup node.
    fn start_l2(&mut self, config: &l2::L2Config, seed: u64) -> L2World {
        let batcher = batcher_signer().address();
        let (l1_genesis, l1_config) = {
            let mut chain = l1::lock(&self.l1);
            chain.fund(batcher, ether(1_000));
            chain.fund(stranger_signer().address(), ether(1_000));
            (chain.canonical()[0].clone(), chain.config().clone())
        };
        let state = l2::genesis::executed(config);
        let header = l2::block::genesis(config, l1_genesis.header.timestamp, state.root());
        let hash = header.hash_slow();
        let rollup = Arc::new(l2::rollup_config(
            config,
            l1_config.chain_id,
            l1_genesis.num_hash(),
            alloy_eips::BlockNumHash::new(0, hash),
            header.timestamp,
            batcher,
        ));
        let genesis = L2Block::genesis(header, hash, l1_genesis.num_hash());
        // The rollup node re-executes on a state of its own, from the same genesis.
        let verifier_state = state.clone();
        let chain: SharedL2 = Arc::new(Mutex::new(L2Chain::new(genesis, l1_genesis.num_hash(), state)));
        let verifier = Arc::<Mutex<VerifierStats>>::default();
        // Each node's payload processor draws its task interleavings from its own stream.
        let processor = |node: &str, tuning: PayloadConfig| {
            let seed = seed::stream(seed, &format!("payload-{node}")).next_u64();
            PayloadProcessor::new(
                WorkloadExecutor::inline(SimCosts::default().seeded(seed)),
                OpEvmExecutor::new(config.chain_id),
                tuning,
            )
        };
        let system_config = l2::system_config(config, batcher);

        let sequencer = Arc::new(Sequencer {
            chain: chain.clone(),
            rollup: rollup.clone(),
            system_config,
            config: config.clone(),
            l1_config: l1_config.clone(),
            workload: Mutex::new(Workload::new(
                config.workload.clone(),
                config.chain_id,
                Duration::from_secs(config.block_time_s),
                seed::stream(seed, "l2-workload"),
            )),
            da_limits: Arc::default(),
            // A builder: no prewarm, as reth's payload builder.
            payload: processor("sequencer", PayloadConfig { prewarm: false, ..Default::default() }),
            payload_faults: self.payload_faults.clone(),
            monitor: self.monitor.clone(),
        });
        self.da_limits = Some(sequencer.da_limits.clone());
        let l1 = L1Client::new(self.rpc_client("sequencer", "l1", RPC_TIMEOUT));
        let addr = self.rpc_addr_of_next_node();
        self.add_node("sequencer", move || sequencer.clone().run(addr, l1.clone()));
        let verifier_node = Verifier::new(
            verifier_state,
            hash,
            processor("rollup", PayloadConfig::default()),
            self.payload_faults.clone(),
            self.monitor.clone(),
            verifier.clone(),
        );
        let verifier_node = match config.oracle_every {
            0 => verifier_node,
            every => verifier_node.with_oracle(rollup.clone(), every),
        };
        self.start_rollup_node(RollupNode {
            chain: chain.clone(),
            rollup: rollup.clone(),
            system_config,
            executor: OpEvmExecutor::new(config.chain_id),
            l1_config: l1_config.clone(),
            paused: self.rollup_paused.clone(),
            verifier: tokio::sync::Mutex::new(verifier_node),
        });
        L2World { chain, rollup, verifier, tx_types: config.workload.tx_types }
    }

    /// Node `rollup`: derivation from `l1` (and `da`), re-execution of safe blocks.
    fn start_rollup_node(&self, node: RollupNode) {
        let node = Arc::new(node);
        let l1 = L1Client::new(self.rpc_client("rollup", "l1", RPC_TIMEOUT));
        let da = self.da.as_ref().map(|_| DaClient::new(self.rpc_client("rollup", "da", RPC_TIMEOUT)));
        let addr = self.rpc_addr_of_next_node();
        self.add_node("rollup", move || node.clone().run(addr, l1.clone(), da.clone()));
    }

    /// The test submitter (node `submitter`), as the scenario asks: a rogue one posting garbage
    /// only when the scenario has garbage faults and no submitter.
    fn start_submitter(&mut self, scenario: &Scenario, seed: u64) {
        let l2 = self.l2.as_ref().expect("started after the L2 side");
        let (inbox, l2_chain_id, l2_genesis_timestamp) =
            (l2.rollup.batch_inbox_address, l2.rollup.l2_chain_id.id(), l2.rollup.genesis.l2_time);
        let l1_chain_id = l1::lock(&self.l1).config().chain_id;
        // Garbage faults are posted by the submitter: a rogue one (garbage only) when the scenario has none.
        let garbage = scenario.faults.iter().filter_map(|fault| match fault {
            faults::Fault::Garbage { at, garbage, sender } => {
                Some(crate::submitter::GarbageAt { at: *at, kind: *garbage, sender: *sender })
            }
            _ => None,
        });
        let mut submitter = scenario.submitter.clone();
        let garbage: Vec<_> = garbage.collect();
        if !garbage.is_empty() {
            let config = submitter.get_or_insert_with(|| crate::submitter::SubmitterConfig {
                garbage_only: true,
                ..Default::default()
            });
            config.garbage.extend(garbage);
        }
        if let Some(config) = &submitter {
            let stats = Arc::new(Mutex::new(SubmitterStats::default()));
            self.submitter_stats = Some(stats.clone());
            let node = "submitter";
            let l1 = L1Client::new(self.rpc_client(node, "l1", RPC_TIMEOUT));
            let sequencer = self.rpc_client(node, "sequencer", RPC_TIMEOUT);
            let rollup = self.rpc_client(node, "rollup", RPC_TIMEOUT);
            let config = config.clone();
            let rng_seed = seed::stream(seed, "submitter").next_u64();
            let restarts = AtomicU64::new(0);
            self.add_node(node, move || {
                let incarnation = restarts.fetch_add(1, Ordering::Relaxed);
                Submitter {
                    config: config.clone(),
                    l1: l1.clone(),
                    sequencer: sequencer.clone(),
                    rollup: rollup.clone(),
                    batcher: Wallet { signer: batcher_signer(), chain_id: l1_chain_id },
                    stranger: Wallet { signer: stranger_signer(), chain_id: l1_chain_id },
                    inbox,
                    l2_chain_id,
                    l2_genesis_timestamp,
                    rng: rand_chacha::ChaCha8Rng::seed_from_u64(rng_seed.wrapping_add(incarnation)),
                    stats: stats.clone(),
                }
                .run()
            });
        }
    }

    /// Node `batcher` running `system`, when the scenario has `[batcher]`.
    fn start_batcher(&mut self, scenario: &Scenario, seed: u64, system: &Arc<dyn BatcherSystem>) {
        let l2 = self.l2.as_ref().expect("started after the L2 side");
        let Some(batcher) = &scenario.batcher else { return };
        let config = batcher
            .config(batcher_node::rollup_params(&l2.rollup), &scenario.l1)
            .expect("validated with the scenario");
        let node = "batcher";
        let sequencer = SimL2(self.rpc_client(node, "sequencer", RPC_TIMEOUT));
        let ports = rollsim::batcher::BatcherPorts {
            l1: SimL1(L1Client::new(self.rpc_client(node, "l1", RPC_TIMEOUT))),
            l2: sequencer.clone(),
            rollup: SimRollup(self.rpc_client(node, "rollup", RPC_TIMEOUT)),
            alt_da: self.da.as_ref().map(|_| SimDa(DaClient::new(self.rpc_client(node, "da", RPC_TIMEOUT)))),
            throttle_endpoints: vec![sequencer],
        };
        let rng_seed = seed::stream(seed, "batcher-channel-ids").next_u64();
        let init = batcher_node::init(
            system.clone(),
            config,
            ports,
            rng_seed,
            self.batcher_flush.clone(),
            self.batcher_stats.clone(),
        );
        self.add_node(node, init);
    }
}
