//! The world: madsim nodes built from a scenario (`build`), the chains they share, and the run's
//! end (`finish`: invariants and counters). Nodes have names and IPs (10.0.0.x); they talk RPC on
//! [`RPC_PORT`]. Simulated time zero is L1 genesis.

mod build;
mod finish;
mod prune;
mod stats;
#[cfg(test)]
mod tests;

pub use stats::{BatcherTotals, L1Stats, L2Stats, Stats, SubmitterTotals};

use crate::{
    batcher_node::SharedBatcherStats,
    da::SharedDa,
    faults,
    l1::SharedChain,
    l2::{chain::SharedL2, engine::PayloadFaultSource, workload::TxTypeMix},
    net::{RpcClient, RpcFaults, RPC_PORT},
    rollup_node::verifier::VerifierStats,
    submitter::SubmitterStats,
    verdict::Monitor,
};
use kona_genesis::RollupConfig;
use madsim::{runtime::Handle, task::NodeId};
use rollsim::sync::lock;
use std::{
    collections::BTreeMap,
    future::Future,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{atomic::AtomicBool, Arc, Mutex},
    time::Duration,
};

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
    pub monitor: Arc<Monitor>,
    /// When users stop sending, if early enough that the batcher must drain by the end.
    drain_from: Option<Duration>,
    /// Each fault's window (start, end) in simulated time.
    fault_windows: Vec<(Duration, Duration)>,
    /// Node `batcher` runs (the scenario has `[batcher]` and an L2).
    batcher_runs: bool,
    /// The batcher's `txmgr.num_confirmations`, when a batcher runs.
    num_confirmations: u64,
    /// Wakes the running batcher's admin task to call `flush` (fault `batcher_flush`).
    batcher_flush: Arc<tokio::sync::Notify>,
    /// What the end-of-run invariants keep of the blocks pruned so far.
    pruned: Mutex<prune::Pruned>,
    /// The world's own tasks, on the main node: L1 block production, fault injection, the
    /// batcher watch. Aborted with the nodes at the end ([`World::shut_down`]).
    background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
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
    pub tx_types: TxTypeMix,
}

impl World {
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

    /// Runs `task` on the main node, as one of the world's own tasks.
    fn spawn_background(&self, task: impl Future<Output = ()> + Send + 'static) {
        lock(&self.background).push(tokio::spawn(task));
    }

    /// Ends every task once the run is judged: kills the nodes, aborts the world's own tasks.
    /// Tasks that wait on each other (the two ends of a channel, or a timer of the runtime whose
    /// handle the task holds) keep each other alive, so a pending task outlives its runtime
    /// unless it is woken to be dropped. Without this a fuzz campaign kept every case's world in
    /// memory, about 45 MB a case.
    pub(crate) fn shut_down(&self) {
        for entry in lock(&self.nodes).values() {
            self.handle.kill(entry.id);
        }
        for task in lock(&self.background).drain(..) {
            task.abort();
        }
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
    #[cfg(test)]
    pub fn spawn_on<F>(&self, name: &str, future: F) -> madsim::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (id, _) = self.node(name);
        self.handle.get_node(id).expect("node exists").spawn(future)
    }

    /// Kills node `name`: its tasks stop, its sockets close.
    #[cfg(test)]
    pub fn kill(&self, name: &str) {
        tracing::info!(target: "rollsim_sim::world", node = name, "node killed");
        self.handle.kill(self.node(name).0);
    }

    /// Restarts node `name`: its init task runs again.
    #[cfg(test)]
    pub fn restart(&self, name: &str) {
        tracing::info!(target: "rollsim_sim::world", node = name, "node restarted");
        self.handle.restart(self.node(name).0);
    }
}
