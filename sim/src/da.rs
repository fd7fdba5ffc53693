//! The AltDA server (op-alt-da's DA server API): `PUT /put` stores data under its keccak256
//! commitment, `GET /get/<commitment>` returns it.
//!
//! Outage and latency are RPC faults on these methods (`net::RpcFaults`). Lost data is the
//! server's own fault: `lose_puts` windows store nothing while still answering success, so the
//! commitment reaches L1 but its data never comes back.

use crate::{
    clock::sim_now,
    net::{RpcClient, RpcError, RpcServer, ServerError},
    rpc_method,
};
use alloy_primitives::{keccak256, Bytes, B256};
use rollsim::sync::lock;
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    ops::Range,
    sync::{Arc, Mutex},
    time::Duration,
};

/// The commitment type byte of a keccak256 commitment (op-alt-da).
pub const KECCAK_COMMITMENT: u8 = 0x00;

rpc_method!(
    /// Stores the data; answers its commitment (`0x00 ++ keccak256(data)`).
    DaPut, "PUT /put", Bytes => Bytes
);
rpc_method!(
    /// The data of a commitment; `None` is HTTP 404.
    DaGet, "GET /get", Bytes => Option<Bytes>
);

/// What the server holds, shared across its restarts (it is a database).
#[derive(Debug, Default)]
pub struct DaStore {
    data: BTreeMap<B256, Bytes>,
    /// PUTs in these windows of simulated time are acknowledged but not stored.
    pub lose_puts: Vec<Range<Duration>>,
    pub stored: u64,
    pub lost: u64,
}

impl DaStore {
    /// The data stored under a keccak commitment, if the server kept it.
    pub fn get(&self, hash: &B256) -> Option<&Bytes> {
        self.data.get(hash)
    }
}

pub type SharedDa = Arc<Mutex<DaStore>>;

fn commitment(data: &[u8]) -> (B256, Bytes) {
    let hash = keccak256(data);
    (hash, Bytes::from([&[KECCAK_COMMITMENT][..], hash.as_slice()].concat()))
}

/// Node `da`'s RPC.
pub fn rpc_server(store: SharedDa) -> RpcServer {
    let mut server = RpcServer::new();
    let shared = store.clone();
    server.register::<DaPut>(move |data| {
        let mut store = lock(&shared);
        let (hash, commitment) = commitment(&data);
        let now = sim_now();
        if store.lose_puts.iter().any(|window| window.contains(&now)) {
            store.lost += 1;
            tracing::info!(target: "rollsim_sim::da", %hash, bytes = data.len(), "da put lost");
        } else {
            store.stored += 1;
            store.data.insert(hash, data);
        }
        Ok(commitment)
    });
    server.register::<DaGet>(move |commitment| {
        let store = lock(&store);
        match commitment.as_ref() {
            [KECCAK_COMMITMENT, hash @ ..] if hash.len() == 32 => {
                Ok(store.data.get(&B256::from_slice(hash)).cloned())
            }
            _ => Err(ServerError { code: 400, message: format!("invalid commitment {commitment}") }),
        }
    });
    server
}

/// Serves node `da`'s RPC at `addr` (the node's init task).
pub async fn serve(store: SharedDa, addr: SocketAddr) {
    if let Err(error) = rpc_server(store).serve(addr).await {
        tracing::error!(target: "rollsim_sim::da", %error, "da server stopped");
    }
}

/// Typed client.
#[derive(Clone, Debug)]
pub struct DaClient {
    rpc: RpcClient,
}

impl DaClient {
    pub fn new(rpc: RpcClient) -> Self {
        Self { rpc }
    }

    pub async fn put(&self, data: Bytes) -> Result<Bytes, RpcError> {
        self.rpc.call::<DaPut>(data).await
    }

    pub async fn get(&self, commitment: Bytes) -> Result<Option<Bytes>, RpcError> {
        self.rpc.call::<DaGet>(commitment).await
    }
}
