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
        engine::{ExecutedState, PayloadFaultSource},
        workload::Workload,
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
use alloy_consensus::{Block, BlockBody};
use kona_protocol::{BlockInfo, L2BlockInfo};
use madsim::runtime::Handle;
use rand::{RngCore, SeedableRng};
use rollsim::{
    evm::OpEvmExecutor,
    payload::{PayloadProcessor, SimCosts, WorkloadExecutor},
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
        let chain = L1Chain::new(
            scenario.l1.clone(),
            seed::stream(seed, "l1-traffic"),
            seed::stream(seed, "l1-randao"),
        );
        let mut world = Self {
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
        };
        tokio::spawn(l1::produce_blocks(world.l1.clone()));
        let (chain, addr) = (world.l1.clone(), world.rpc_addr_of_next_node());
        world.add_node("l1", move || l1::serve(chain.clone(), addr));
        if scenario.da.is_some() {
            let (store, addr) = (SharedDa::default(), world.rpc_addr_of_next_node());
            let served = store.clone();
            world.add_node("da", move || da::serve(served.clone(), addr));
            world.da = Some(store);
        }
        if let Some(config) = &scenario.l2 {
            let mut config = config.clone();
            // DA backlog faults are workload bursts: users send them whatever the nodes do.
            config.workload.bursts.extend(scenario.faults.iter().filter_map(|fault| match fault {
                faults::Fault::DaBacklog { at, duration, txs_per_block, tx_bytes } => {
                    Some(crate::l2::workload::Burst {
                        at: *at,
                        duration: *duration,
                        txs_per_block: *txs_per_block,
                        tx_bytes: *tx_bytes,
                    })
                }
                _ => None,
            }));
            world.l2 = Some(world.start_l2(&config, seed));
            world.block_oracle = config.oracle_every > 0;
            world.drain_from = config.workload.stop_at.filter(|stop| {
                scenario.batcher.is_some() && *stop + invariants::DRAIN_TIME <= scenario.duration
            });
            world.start_submitters(scenario, seed, batcher);
            if scenario.batcher.is_some() || scenario.submitter.is_some() {
                world.safe_lag_bound_blocks = Some(SAFE_LAG_BOUND.as_secs() / config.block_time_s);
            }
        }
        let l1_chain_id = l1::lock(&world.l1).config().chain_id;
        let injector = faults::Injector {
            handle: world.handle.clone(),
            nodes: Arc::new(Mutex::new(
                lock(&world.nodes).iter().map(|(name, e)| (name.clone(), e.id)).collect(),
            )),
            l1: world.l1.clone(),
            rpc_faults: world.rpc_faults.clone(),
            da: world.da.clone(),
            rollup_paused: world.rollup_paused.clone(),
            payload_faults: world.payload_faults.clone(),
            batcher: scenario
                .batcher
                .as_ref()
                .map(|_| Wallet { signer: batcher_signer(), chain_id: l1_chain_id }),
            inbox: world.l2.as_ref().map(|l2| l2.rollup.batch_inbox_address).unwrap_or_default(),
            activity: world.fault_activity.clone(),
            down: Arc::default(),
            batcher_flush: world.batcher_flush.clone(),
        };
        tokio::spawn(injector.run(scenario.faults.clone()));
        if let (Some(batcher), Some(l2)) = (&scenario.batcher, &world.l2) {
            let config = batcher
                .config(batcher_node::rollup_params(&l2.rollup), &scenario.l1)
                .expect("validated with the scenario");
            world.num_confirmations = config.txmgr.num_confirmations;
            world.batcher_runs = true;
            tokio::spawn(invariants::watch(invariants::Watched {
                monitor: world.monitor.clone(),
                l1: world.l1.clone(),
                l2: l2.chain.clone(),
                batcher: batcher_signer().address(),
                stats: world.batcher_stats.clone(),
                da_limits: world.da_limits.clone().expect("an L2 runs"),
                faults: world.fault_activity.clone(),
                poll: config.poll_interval,
                throttle_threshold_bytes: config.throttle.lower_threshold_bytes,
                unthrottled_limits: {
                    let p = rollsim::batcher::throttle::ThrottleController::new(config.throttle).params(0.0);
                    (p.max_tx_size_bytes, p.max_block_size_bytes)
                },
                throttle_pid: config.throttle.controller == rollsim::batcher::throttle::ControllerType::Pid,
                auto_da: (config.da_type == rollsim::batcher::DaType::Auto).then(|| invariants::AutoDa {
                    calldata_bytes: config.max_frame_size(rollsim::batcher::DaType::Calldata) as u128 + 1,
                    blobs: config.target_num_frames as u128,
                }),
            }));
        }
        world
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
        let genesis_state = l2::genesis::genesis_state(
            config.chain_id,
            (0..config.workload.senders).map(|i| config.workload.sender_address(i)),
        )
        .expect("the shipped network-upgrade deposits execute");
        let state = ExecutedState::genesis(genesis_state);
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
        let genesis = L2Block {
            info: L2BlockInfo::new(
                BlockInfo::new(hash, 0, header.parent_hash, header.timestamp),
                l1_genesis.num_hash(),
                0,
            ),
            block: Block {
                header,
                body: BlockBody {
                    transactions: Vec::new(),
                    ommers: Vec::new(),
                    withdrawals: Some(Default::default()),
                },
            },
            hash,
            raw_txs: Vec::new(),
            senders: Vec::new(),
        };
        // The rollup node re-executes on a state of its own, from the same genesis.
        let verifier_state = state.clone();
        let chain: SharedL2 = Arc::new(Mutex::new(L2Chain::new(genesis, l1_genesis.num_hash(), state)));
        let verifier = Arc::<Mutex<VerifierStats>>::default();
        // Each node's payload processor draws its task interleavings from its own stream.
        let processor = |node: &str| {
            let seed = seed::stream(seed, &format!("payload-{node}")).next_u64();
            PayloadProcessor::new(
                WorkloadExecutor::sim(seed, SimCosts::default()),
                OpEvmExecutor::new(config.chain_id),
                Default::default(),
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
            payload: processor("sequencer"),
            payload_faults: self.payload_faults.clone(),
            monitor: self.monitor.clone(),
        });
        self.da_limits = Some(sequencer.da_limits.clone());
        let l1 = L1Client::new(self.rpc_client("sequencer", "l1", RPC_TIMEOUT));
        let addr = self.rpc_addr_of_next_node();
        self.add_node("sequencer", move || sequencer.clone().run(addr, l1.clone()));

        let rollup_node = Arc::new(RollupNode {
            chain: chain.clone(),
            rollup: rollup.clone(),
            system_config,
            executor: OpEvmExecutor::new(config.chain_id),
            l1_config: l1_config.clone(),
            paused: self.rollup_paused.clone(),
            verifier: tokio::sync::Mutex::new({
                let verifier = Verifier::new(
                    verifier_state,
                    hash,
                    processor("rollup"),
                    self.payload_faults.clone(),
                    self.monitor.clone(),
                    verifier.clone(),
                );
                match config.oracle_every {
                    0 => verifier,
                    every => verifier.with_oracle(rollup.clone(), every),
                }
            }),
        });
        let l1 = L1Client::new(self.rpc_client("rollup", "l1", RPC_TIMEOUT));
        let da = self.da.as_ref().map(|_| DaClient::new(self.rpc_client("rollup", "da", RPC_TIMEOUT)));
        let addr = self.rpc_addr_of_next_node();
        self.add_node("rollup", move || rollup_node.clone().run(addr, l1.clone(), da.clone()));
        L2World { chain, rollup, verifier, tx_types: config.workload.tx_types }
    }

    /// The real batcher and the test submitter, as the scenario asks.
    fn start_submitters(&mut self, scenario: &Scenario, seed: u64, system: &Arc<dyn BatcherSystem>) {
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
        if let Some(batcher) = &scenario.batcher {
            let config = batcher
                .config(batcher_node::rollup_params(&l2.rollup), &scenario.l1)
                .expect("validated with the scenario");
            let node = "batcher";
            let sequencer = SimL2(self.rpc_client(node, "sequencer", RPC_TIMEOUT));
            let ports = rollsim::batcher::BatcherPorts {
                l1: SimL1(L1Client::new(self.rpc_client(node, "l1", RPC_TIMEOUT))),
                l2: sequencer.clone(),
                rollup: SimRollup(self.rpc_client(node, "rollup", RPC_TIMEOUT)),
                alt_da: self
                    .da
                    .as_ref()
                    .map(|_| SimDa(DaClient::new(self.rpc_client(node, "da", RPC_TIMEOUT)))),
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
}
