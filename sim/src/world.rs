//! The world: builds madsim nodes from a scenario, runs them, collects the outcome.
//!
//! A run owns one madsim runtime seeded with the run seed, on a fresh OS thread (the thread-local
//! hash-map keys and madsim's context then start clean, as with `#[madsim::test]`). Simulated time
//! zero is L1 genesis. Nodes have names and IPs (10.0.0.x); they talk RPC on [`RPC_PORT`].

use crate::{
    batcher_node::{self, SharedBatcherStats, SimBatcher, SimDa, SimL1, SimL2, SimRollup},
    da::{self, DaClient, SharedDa},
    faults,
    invariants::{self, InvariantResult},
    l1::{self, chain::L1Chain, wallet::Wallet, L1Client, SharedChain},
    l2::{
        self,
        block::L2Block,
        chain::{L2Chain, SharedL2},
        engine::{ExecutedState, PayloadFaultSource},
    },
    net::{RpcClient, RpcFaults, RPC_PORT},
    profile::{self, ProfileLayer},
    rollup_node::{
        verifier::{Verifier, VerifierStats},
        RollupNode,
    },
    scenario::Scenario,
    seed,
    sequencer::Sequencer,
    submitter::{Submitter, SubmitterStats},
    trace::{Trace, TraceSummary},
    workload::Workload,
};
use alloy_consensus::{Block, BlockBody};
use alloy_primitives::{keccak256, B256, U256};
use kona_genesis::RollupConfig;
use kona_protocol::{BlockInfo, L2BlockInfo};
use madsim::{runtime::Handle, task::NodeId};
use rand::{RngCore, SeedableRng};
use rollsim::sync::lock;
use rollsim::{
    batcher::{BatcherStats, ResetCause},
    evm::OpEvmExecutor,
    payload::{PayloadProcessor, SimCosts, WorkloadExecutor},
    signer::LocalSigner,
};
use serde::Serialize;
use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tracing_subscriber::{filter::Targets, layer::SubscriberExt, Layer as _};

/// Simulated time since the world started. Panics outside a simulation.
pub fn sim_now() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}

/// The simulated time of `at`, an instant a system under test read from tokio's clock (the
/// simulation's under madsim).
pub fn sim_time_of(at: tokio::time::Instant) -> Duration {
    let time = madsim::time::TimeHandle::current();
    time.elapsed().saturating_sub(time.now_instant().saturating_duration_since(at))
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub seed: u64,
    /// Keep the trace's lines (for `--trace` and tests), not only its hash.
    pub record_trace: bool,
}

/// What a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub seed: u64,
    pub sim_time_s: f64,
    pub trace_hash: String,
    pub trace_events: u64,
    pub invariants: Vec<InvariantResult>,
    pub stats: BTreeMap<&'static str, u64>,
    #[serde(skip)]
    pub trace_lines: Vec<String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.invariants.iter().all(|i| i.ok)
    }
}

/// A run in progress on its own thread.
pub struct RunHandle {
    thread: std::thread::JoinHandle<(Outcome, Option<Profile>)>,
    progress_s: Arc<AtomicU64>,
}

impl RunHandle {
    /// Simulated seconds done so far.
    pub fn progress_s(&self) -> u64 {
        self.progress_s.load(Ordering::Relaxed)
    }

    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the outcome. A panic in the simulated world is the outcome's `no_panic` failure;
    /// one in the harness around it is re-raised here.
    pub fn join(self) -> Outcome {
        self.thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)).0
    }
}

/// How often a run reports its progress (simulated time).
const PROGRESS_STEP: Duration = Duration::from_secs(60);

/// Starts `scenario` on a fresh thread.
pub fn spawn_run(scenario: Scenario, options: RunOptions) -> RunHandle {
    let progress_s = Arc::new(AtomicU64::new(0));
    let thread = spawn_thread(scenario, options, progress_s.clone(), false);
    RunHandle { thread, progress_s }
}

/// Runs `scenario` on a fresh thread, with profiling if `profiled`.
fn spawn_thread(
    scenario: Scenario,
    options: RunOptions,
    progress_s: Arc<AtomicU64>,
    profiled: bool,
) -> std::thread::JoinHandle<(Outcome, Option<Profile>)> {
    // Outside any simulation: the runtime is created on this new thread.
    #[allow(clippy::disallowed_methods)]
    std::thread::Builder::new()
        .name(format!("rollsim-{}-{}", scenario.name, options.seed))
        .stack_size(64 << 20)
        .spawn(move || run_on_this_thread(&scenario, &options, &progress_s, profiled))
        .expect("spawning the simulation thread")
}

/// Where one run's wall time went: time-stamp counter ticks per [`profile::LABELS`] bucket, over
/// all the run's ticks and its wall time.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub ticks: profile::Ticks,
    pub total_ticks: u64,
    pub wall: Duration,
}

/// Runs `scenario` at `seed` on a fresh thread with profiling on (no trace lines kept).
pub fn profile_run(scenario: &Scenario, seed: u64) -> (Outcome, Profile) {
    let options = RunOptions { seed, record_trace: false };
    let thread = spawn_thread(scenario.clone(), options, Arc::default(), true);
    let (outcome, profile) = thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    (outcome, profile.expect("profiled"))
}

/// Runs `scenario` to the end and returns its outcome.
pub fn run(scenario: &Scenario, options: RunOptions) -> Outcome {
    spawn_run(scenario.clone(), options).join()
}

fn run_on_this_thread(
    scenario: &Scenario,
    options: &RunOptions,
    progress_s: &Arc<AtomicU64>,
    profiled: bool,
) -> (Outcome, Option<Profile>) {
    let trace = if options.record_trace { Trace::recording() } else { Trace::new() };
    let subscriber =
        tracing_subscriber::registry().with(trace.layer()).with(profiled.then_some(ProfileLayer)).with(
            // `Targets`, not `EnvFilter`: building an `EnvFilter` creates a std hash map, which would
            // fix this thread's hash-map keys before madsim can seed them.
            std::env::var("RUST_LOG").ok().and_then(|filter| filter.parse::<Targets>().ok()).map(|filter| {
                tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter)
            }),
        );
    // The batcher runs on this thread: the toggle is thread-local.
    #[cfg(feature = "planted-bugs")]
    rollsim::planted::set(scenario.planted_bug.as_deref());
    // The bench's wall clock: read outside the simulation, before and after it.
    #[allow(clippy::disallowed_methods)]
    let started = (std::time::Instant::now(), profile::ticks());
    if profiled {
        profile::enable();
    }
    let (sim_time, invariants, stats) = tracing::subscriber::with_default(subscriber, || {
        // A panic in any task unwinds out of `block_on`: it is a finding, recorded as a failed
        // invariant so that fuzzing and `rollsim run` report it like any other violation.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let runtime =
                madsim::runtime::Runtime::with_seed_and_config(options.seed, madsim::Config::default());
            runtime.block_on(async {
                let world = World::start_traced(scenario, options.seed, Some(trace.clone()));
                let end = scenario.duration;
                while sim_now() < end {
                    let step = (end - sim_now()).min(PROGRESS_STEP);
                    tokio::time::sleep(step).await;
                    progress_s.store(sim_now().as_secs(), Ordering::Relaxed);
                }
                world.finish()
            })
        }))
        .unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            let at_s = progress_s.load(Ordering::Relaxed);
            let detail = format!("{message} (panicked after {at_s} s of simulated time)");
            let failed = InvariantResult { name: invariants::NO_PANIC, ok: false, detail };
            (Duration::from_secs(at_s), vec![failed], BTreeMap::new())
        })
    });
    let profile = profiled.then(|| Profile {
        ticks: profile::take(),
        total_ticks: profile::ticks() - started.1,
        wall: started.0.elapsed(),
    });
    let TraceSummary { hash, events } = trace.summary();
    let outcome = Outcome {
        scenario: scenario.name.clone(),
        seed: options.seed,
        // Whole milliseconds: madsim advances its clock a few ns per poll.
        sim_time_s: sim_time.as_millis() as f64 / 1000.0,
        trace_hash: hash.to_string(),
        trace_events: events,
        invariants,
        stats,
        trace_lines: trace.take_lines(),
    };
    (outcome, profile)
}

struct NodeEntry {
    id: NodeId,
    ip: IpAddr,
}

/// The running world: its nodes, the shared chains, and the RPC fault table.
pub struct World {
    handle: Handle,
    nodes: Mutex<BTreeMap<String, NodeEntry>>,
    pub rpc_faults: Arc<RpcFaults>,
    pub l1: SharedChain,
    pub l2: Option<L2World>,
    pub da: Option<SharedDa>,
    /// Every batcher incarnation's counters.
    pub batcher_stats: SharedBatcherStats,
    pub submitter_stats: Option<Arc<Mutex<SubmitterStats>>>,
    /// The liveness bound on the safe head's lag, when something posts data.
    safe_lag_bound_blocks: Option<u64>,
    /// The scenario turned the block oracle on (`[l2] oracle_every`).
    block_oracle: bool,
    /// Set while a rollup-lag fault pauses derivation.
    pub rollup_paused: Arc<AtomicBool>,
    /// The sequencer's DA limits, when an L2 runs.
    pub da_limits: Option<Arc<Mutex<(u64, u64)>>>,
    pub fault_activity: Arc<faults::FaultActivity>,
    /// Payload-processor fault windows of nodes `sequencer` and `rollup`.
    pub payload_faults: Arc<PayloadFaultSource>,
    /// What the online invariants found first.
    pub monitor: Arc<invariants::Monitor>,
    /// When users stop sending, if early enough that the batcher must drain by the end.
    drain_from: Option<Duration>,
    /// Each fault's window (start, end) in simulated time.
    fault_windows: Vec<(Duration, Duration)>,
    /// The batcher's `txmgr.num_confirmations`, when a batcher runs.
    num_confirmations: u64,
    /// Wakes the running batcher's admin task to call `flush` (fault `batcher_flush`).
    batcher_flush: Arc<tokio::sync::Notify>,
}

/// How far behind the unsafe head the safe head may end a run: ten minutes of L2 blocks covers
/// a channel filling, its inclusion and confirmation, and derivation.
const SAFE_LAG_BOUND: Duration = Duration::from_secs(600);

/// The L2 side: the chain shared by nodes `sequencer` and `rollup`, and its rollup config.
pub struct L2World {
    pub chain: SharedL2,
    pub rollup: Arc<RollupConfig>,
    /// The rollup node's re-execution of safe blocks.
    pub verifier: Arc<Mutex<VerifierStats>>,
    /// The workload's transaction types.
    pub tx_types: crate::workload::TxTypeMix,
}

/// The timeout of the world's own RPC clients (op-node's and op-geth's default is 10 s).
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// The batcher's L1 key. Fixed, so the system config's batcher address is the same in every run.
pub fn batcher_signer() -> LocalSigner {
    LocalSigner::new(keccak256("rollsim/batcher")).expect("a keccak digest is a valid secp256k1 key")
}

/// A key with no role in the rollup: the stranger who posts to the batch inbox.
pub fn stranger_signer() -> LocalSigner {
    LocalSigner::new(keccak256("rollsim/stranger")).expect("a keccak digest is a valid secp256k1 key")
}

/// Ether, in wei.
fn ether(amount: u64) -> U256 {
    U256::from(amount) * U256::from(10u64).pow(U256::from(18))
}

impl World {
    /// Builds the world of `scenario` and starts it: L1 production, node `l1`, the fault schedule.
    /// Must run inside the simulation.
    pub fn start(scenario: &Scenario, seed: u64) -> Self {
        Self::start_traced(scenario, seed, None)
    }

    /// [`World::start`], with the run's trace so online violations record their trace position.
    pub fn start_traced(scenario: &Scenario, seed: u64, trace: Option<Trace>) -> Self {
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
            monitor: Arc::new(invariants::Monitor::new(trace)),
            drain_from: None,
            fault_windows: scenario.faults.iter().map(|f| (f.at(), f.end())).collect(),
            num_confirmations: 0,
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
                    Some(crate::workload::Burst {
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
            world.start_submitters(scenario, seed);
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
    fn start_submitters(&mut self, scenario: &Scenario, seed: u64) {
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
            let stats = self.batcher_stats.clone();
            let rng_seed = seed::stream(seed, "batcher-channel-ids").next_u64();
            let flush = self.batcher_flush.clone();
            self.add_node(node, move || {
                let (config, ports, stats, flush) =
                    (config.clone(), ports.clone(), stats.clone(), flush.clone());
                async move {
                    let incarnation = lock(&stats).len() as u64;
                    let mut batcher =
                        SimBatcher::new(config, ports, batcher_signer(), rng_seed.wrapping_add(incarnation))
                            .expect("validated with the scenario");
                    lock(&stats).push(batcher.stats());
                    batcher.start().await.expect("a new batcher starts");
                    // The batcher's loops run as tasks of this node until it is killed; this task
                    // answers the admin flushes.
                    loop {
                        flush.notified().await;
                        batcher.flush().expect("the batcher runs until its node is killed");
                    }
                }
            });
        }
    }

    fn rpc_addr_of_next_node(&self) -> SocketAddr {
        let index = lock(&self.nodes).len() as u8 + 1;
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, index)), RPC_PORT)
    }

    /// Creates node `name` with the next free IP; `init` runs at start and at every restart. When
    /// the future returned by `init` completes, the node exits (madsim): a node that only hosts tasks
    /// spawned later uses `std::future::pending`.
    pub fn add_node<F>(&self, name: &str, init: impl Fn() -> F + Send + Sync + 'static) -> NodeId
    where
        F: Future<Output = ()> + 'static,
    {
        let ip = self.rpc_addr_of_next_node().ip();
        let node = self.handle.create_node().name(name).ip(ip).init(init).build();
        let previous = lock(&self.nodes).insert(name.to_owned(), NodeEntry { id: node.id(), ip });
        assert!(previous.is_none(), "node {name} added twice");
        node.id()
    }

    fn node(&self, name: &str) -> (NodeId, IpAddr) {
        let nodes = lock(&self.nodes);
        let entry = nodes.get(name).unwrap_or_else(|| panic!("no node named {name}"));
        (entry.id, entry.ip)
    }

    /// A client on node `from` for node `to`'s RPC, each call limited to `timeout`.
    pub fn rpc_client(&self, from: &str, to: &str, timeout: Duration) -> RpcClient {
        let (_, ip) = self.node(to);
        RpcClient::new(from, to, SocketAddr::new(ip, RPC_PORT), timeout, self.rpc_faults.clone())
    }

    /// Runs `future` on node `name`.
    pub fn spawn_on<F>(&self, name: &str, future: F) -> madsim::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (id, _) = self.node(name);
        self.handle.get_node(id).expect("node exists").spawn(future)
    }

    /// Kills node `name`: its tasks stop, its sockets close.
    pub fn kill(&self, name: &str) {
        tracing::info!(target: "rollsim_sim::world", node = name, "node killed");
        self.handle.kill(self.node(name).0);
    }

    /// Restarts node `name`: its init task runs again.
    pub fn restart(&self, name: &str) {
        tracing::info!(target: "rollsim_sim::world", node = name, "node restarted");
        self.handle.restart(self.node(name).0);
    }

    /// Checks the invariants and gathers the counters.
    /// The invariants on what the batcher posted, read back from the canonical L1.
    fn check_posted(&self, l2: &L2World, incarnations: &[Arc<Mutex<BatcherStats>>]) -> Vec<InvariantResult> {
        let mut timed_out = BTreeSet::new();
        let mut ctx = invariants::PostedContext::default();
        let chain = l1::lock(&self.l1);
        let l1_time = |at: Duration| chain.config().genesis_timestamp + at.as_secs();
        for stats in incarnations {
            let stats = lock(stats);
            timed_out.extend(stats.timed_out_channels.iter().copied());
            for reset in &stats.resets {
                ctx.dropped.extend(reset.sent_channels_dropped.iter().copied());
                if reset.cause == ResetCause::Start {
                    ctx.starts.push(l1_time(sim_time_of(reset.at)));
                }
            }
        }
        ctx.dropped.extend(timed_out.iter().copied());
        ctx.disturbed = self
            .fault_windows
            .iter()
            .map(|(at, end)| l1_time(*at)..l1_time(*end + invariants::FAULT_AFTERMATH))
            .collect();
        {
            let l2_chain = l2::chain::lock(&l2.chain);
            ctx.safe_head = l2_chain.safe().number();
        }
        ctx.l1_head = chain.head().number();
        ctx.settle_blocks = l2.rollup.granite_channel_timeout;
        let skip: BTreeSet<B256> = self
            .submitter_stats
            .as_ref()
            .map(|s| lock(s).batcher_garbage_txs.iter().copied().collect())
            .unwrap_or_default();
        let da = self.da.as_ref().map(|da| lock(da));
        let inbox = l2.rollup.batch_inbox_address;
        let timing = (l2.rollup.genesis.l2_time, l2.rollup.block_time);
        let posted =
            crate::posted::read(&chain, (batcher_signer().address(), inbox), da.as_deref(), &skip, timing);
        let confirmed: Vec<(u64, u64)> = incarnations
            .iter()
            .flat_map(|s| {
                let s = lock(s);
                s.confirmations
                    .iter()
                    .map(|(at, block)| (l1_time(sim_time_of(*at)), *block))
                    .collect::<Vec<_>>()
            })
            .collect();
        let bumps: Vec<_> = incarnations.iter().flat_map(|s| lock(s).fee_bumps.clone()).collect();
        let mut checks = vec![
            invariants::check_confirmation_depth(&chain, &confirmed, self.num_confirmations, &ctx.disturbed),
            invariants::check_replacements_priced(&bumps, chain.pool().config()),
        ];
        // Judged only when the batcher dropped a channel as timed out.
        if !timed_out.is_empty() {
            checks.push(invariants::check_timeouts_real(&posted, ctx.settle_blocks, &timed_out));
        }
        checks.push(invariants::check_channels_accounted(&posted, &ctx));
        checks.push(invariants::check_da_efficiency(&posted, &ctx));
        checks
    }

    fn finish(&self) -> (Duration, Vec<InvariantResult>, BTreeMap<&'static str, u64>) {
        let chain = l1::lock(&self.l1);
        let s = chain.stats();
        let stats = BTreeMap::from([
            ("l1_head", chain.head().number()),
            ("l1_safe", chain.safe().number()),
            ("l1_finalized", chain.finalized().number()),
            ("l1_blocks_produced", s.blocks),
            ("l1_txs_included", s.txs),
            ("l1_signed_txs_included", s.signed_txs),
            ("l1_blob_txs_included", s.blob_txs),
            ("l1_cell_proof_blob_txs_included", s.cell_proof_blob_txs),
            ("l1_legacy_blob_txs_evicted", s.legacy_blob_txs_evicted),
            ("l1_blobs_included", s.blobs),
            ("l1_txs_accepted", s.accepted_txs),
            ("l1_txs_rejected", s.rejected_txs),
            ("l1_background_txs_sent", chain.traffic().submitted),
            ("l1_txs_expired", s.expired_txs),
            ("l1_txpool_size", chain.pool().len() as u64),
            ("l1_reorgs", s.reorgs),
            ("l1_reorged_blocks", s.reorged_blocks),
            ("l1_orphaned_txs", s.orphaned_txs),
            ("l1_orphans_readded", s.orphans_readded),
            ("l1_orphans_dropped", s.orphans_dropped),
            ("l1_base_fee_min_wei", s.base_fee_min),
            ("l1_base_fee_max_wei", s.base_fee_max),
            ("l1_base_fee_last_wei", chain.head().base_fee()),
            ("l1_blob_fee_min_wei", u64::try_from(s.blob_fee_min).unwrap_or(u64::MAX)),
            ("l1_blob_fee_max_wei", u64::try_from(s.blob_fee_max).unwrap_or(u64::MAX)),
            ("l1_blob_fee_last_wei", u64::try_from(chain.head().blob_fee()).unwrap_or(u64::MAX)),
        ]);
        let mut stats = stats;
        let mut checks = invariants::check_l1(&chain);
        if !lock(&self.batcher_stats).is_empty() {
            checks.extend(self.monitor.results(&invariants::BATCHER_ONLINE));
        }
        drop(chain);
        if let Some(l2) = &self.l2 {
            let chain = l2::chain::lock(&l2.chain);
            let s = &chain.stats;
            stats.extend([
                ("l2_unsafe", chain.head().number()),
                ("l2_safe", chain.safe().number()),
                ("l2_finalized", chain.finalized().number()),
                ("l2_blocks_built", s.blocks_built),
                ("l2_user_txs_included", s.user_txs_included),
                ("l2_txpool_size", chain.pool().len() as u64),
                ("l2_blocks_consolidated", s.blocks_consolidated),
                ("l2_blocks_derived_ahead", s.blocks_derived_ahead),
                ("l2_unsafe_reorgs", s.unsafe_reorgs),
                ("l2_unsafe_blocks_replaced", s.unsafe_blocks_replaced),
                ("l2_safe_rewinds", s.safe_rewinds),
            ]);
            checks.extend(invariants::check_l2(&chain, l2.rollup.block_time));
            let tx_types = invariants::safe_tx_types(&chain);
            stats.extend(crate::workload::TxType::ALL.iter().map(|t| t.safe_stat()).zip(tx_types));
            checks.push(invariants::check_tx_types_derived(tx_types, &l2.tx_types));
            let verifier = *lock(&l2.verifier);
            checks.extend(self.monitor.results(&invariants::L2_ONLINE));
            checks.push(invariants::check_state_roots_verified(&chain, &verifier));
            if self.block_oracle {
                checks.push(invariants::check_block_oracle(&self.monitor, &verifier));
                stats.insert("l2_oracle_blocks_checked", verifier.oracle_checked);
            }
            stats.extend([
                ("l2_state_roots_verified", verifier.verified),
                ("l2_state_root_mismatches", verifier.mismatches),
                ("l2_rollup_payload_fallbacks", verifier.fallbacks),
                ("l2_rollup_executions_cancelled", verifier.cancelled),
                ("l2_sequencer_payload_fallbacks", s.sequencer_payload_fallbacks),
                ("l2_sequencer_blocks_cancelled", s.sequencer_blocks_cancelled),
                ("l2_sequencer_txs_rejected", s.sequencer_txs_rejected),
                ("l2_state_copies", chain.state().copies),
            ]);
            if let Some(bound) = self.safe_lag_bound_blocks {
                checks.push(invariants::check_safe_follows_unsafe(&chain, bound));
            }
        }
        if let Some(submitter) = &self.submitter_stats {
            let s = lock(submitter).clone();
            stats.extend([
                ("submitter_txs", s.txs),
                ("submitter_channels", s.channels),
                ("submitter_reposts", s.reposts),
                ("submitter_garbage_txs", s.garbage),
            ]);
        }
        let incarnations = lock(&self.batcher_stats);
        if !incarnations.is_empty() {
            let mut total = rollsim::batcher::BatcherStats::default();
            for s in incarnations.iter() {
                let s = lock(s);
                total.blocks_loaded += s.blocks_loaded;
                total.reorgs_detected += s.reorgs_detected;
                total.state_clears += s.state_clears;
                total.txs_sent += s.txs_sent;
                total.txs_confirmed += s.txs_confirmed;
                total.txs_failed += s.txs_failed;
                total.cancellations_sent += s.cancellations_sent;
                total.da_requests_failed += s.da_requests_failed;
                total.blob_txs_confirmed += s.blob_txs_confirmed;
                total.calldata_txs_confirmed += s.calldata_txs_confirmed;
            }
            let last = lock(incarnations.last().expect("not empty")).clone();
            stats.extend([
                ("batcher_incarnations", incarnations.len() as u64),
                ("batcher_blocks_loaded", total.blocks_loaded),
                ("batcher_reorgs_detected", total.reorgs_detected),
                ("batcher_state_clears", total.state_clears),
                ("batcher_txs_sent", total.txs_sent),
                ("batcher_txs_confirmed", total.txs_confirmed),
                ("batcher_txs_failed", total.txs_failed),
                ("batcher_cancellations_sent", total.cancellations_sent),
                ("batcher_da_requests_failed", total.da_requests_failed),
                ("batcher_blob_txs_confirmed", total.blob_txs_confirmed),
                ("batcher_calldata_txs_confirmed", total.calldata_txs_confirmed),
                ("batcher_unsafe_da_bytes_last", last.unsafe_da_bytes),
                ("batcher_full_channels", last.fill.channels),
                (
                    "batcher_full_channel_fill_permille",
                    (last.fill.bytes * 1000).checked_div(last.fill.capacity_bytes).unwrap_or(0),
                ),
            ]);
            if let Some(stop) = self.drain_from {
                checks.push(invariants::check_da_bytes_drained(last.unsafe_da_bytes, stop));
            }
            if let Some(l2) = &self.l2 {
                checks.extend(self.check_posted(l2, &incarnations));
            }
        }
        (sim_now(), checks, stats)
    }
}
