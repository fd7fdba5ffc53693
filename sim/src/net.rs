//! RPC between the world's nodes over madsim's simulated network.
//!
//! Requests and responses travel as typed Rust values (madsim's `_raw` datagrams carry
//! `Box<dyn Any>`), so the simulated network costs no serialization, while what a method carries is
//! exactly what the real API carries (raw signed transactions, blocks, receipts). Each call binds a
//! fresh ephemeral endpoint, so a response that arrives after its call timed out finds no socket and
//! is dropped, as a late HTTP response would be. Method names are the real ones
//! (`eth_sendRawTransaction`, ...): faults are injected per method, client and server, through the
//! [`RpcFaults`] table consulted on every call.

use crate::profile::{self, Bucket};
use madsim::net::Endpoint;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rollsim::ports::METHOD_NOT_FOUND;
use rollsim::sync::lock;
use std::{
    any::Any,
    collections::BTreeMap,
    fmt,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

/// The port every node serves RPC on.
pub const RPC_PORT: u16 = 8545;
/// The timeout of the world's own RPC clients (op-node's and op-geth's default is 10 s).
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TAG: u64 = 1;
const RESPONSE_TAG: u64 = 2;

type Payload = Box<dyn Any + Send + Sync>;

/// An RPC method: its wire name and its typed parameters and result.
pub trait Method: 'static {
    const NAME: &'static str;
    type Params: Send + Sync + 'static;
    type Output: Send + Sync + 'static;
}

/// Declares a unit struct implementing [`Method`].
#[macro_export]
macro_rules! rpc_method {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $params:ty => $output:ty) => {
        $(#[$doc])*
        pub struct $ty;
        impl $crate::net::Method for $ty {
            const NAME: &'static str = $name;
            type Params = $params;
            type Output = $output;
        }
    };
}

/// Why a call failed, as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The server answered with an error (JSON-RPC error object).
    #[error("{method}: server error {code}: {message}")]
    Server { method: &'static str, code: i64, message: String },
    /// No answer within the call's timeout.
    #[error("{method}: no response within {timeout_ms} ms")]
    Timeout { method: &'static str, timeout_ms: u64 },
    /// The request could not be sent.
    #[error("{method}: transport error: {reason}")]
    Transport { method: &'static str, reason: String },
}

impl RpcError {
    /// The server-side message, if the server answered with an error.
    pub fn server_message(&self) -> Option<&str> {
        match self {
            Self::Server { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// The code geth uses for most server-side failures (tx pool rejections, ...).
pub const SERVER_ERROR: i64 = -32000;

/// A handler's error: code and message; the client adds the method name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub code: i64,
    pub message: String,
}

impl ServerError {
    pub fn new(message: impl fmt::Display) -> Self {
        Self { code: SERVER_ERROR, message: message.to_string() }
    }
}

struct Request {
    method: &'static str,
    params: Payload,
}

type Response = Result<Payload, ServerError>;
type Handler = Box<dyn Fn(Payload) -> Response + Send + Sync>;

/// The methods a node serves. Handlers are synchronous: the world's servers answer from in-memory
/// state, and slowness is a fault injected on the path, not a property of the handler.
#[derive(Default)]
pub struct RpcServer {
    handlers: BTreeMap<&'static str, Handler>,
}

impl RpcServer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `M` with `handler`.
    pub fn register<M: Method>(
        &mut self,
        handler: impl Fn(M::Params) -> Result<M::Output, ServerError> + Send + Sync + 'static,
    ) -> &mut Self {
        let previous = self.handlers.insert(
            M::NAME,
            Box::new(move |params: Payload| {
                let params = params.downcast::<M::Params>().map_err(|_| ServerError {
                    code: -32602,
                    message: format!("invalid params for {}", M::NAME),
                })?;
                handler(*params).map(|out| Box::new(out) as Payload)
            }),
        );
        assert!(previous.is_none(), "method {} registered twice", M::NAME);
        self
    }

    /// Serves requests on `addr` until the node is killed.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<()> {
        let ep = Endpoint::bind(addr).await?;
        loop {
            let (payload, from) = profile::scoped(Bucket::Rpc, ep.recv_from_raw(REQUEST_TAG)).await?;
            let Ok(request) = payload.downcast::<Request>() else {
                tracing::warn!(target: "rollsim_sim::net", %from, "dropped a datagram that is not an RPC request");
                continue;
            };
            let response: Response = match self.handlers.get(request.method) {
                Some(handler) => handler(request.params),
                None => Err(ServerError {
                    code: METHOD_NOT_FOUND,
                    message: format!("the method {} does not exist/is not available", request.method),
                }),
            };
            // The client may be gone (timed out, killed): a lost response is what the network does.
            let _ =
                profile::scoped(Bucket::Rpc, ep.send_to_raw(from, RESPONSE_TAG, Box::new(response))).await;
        }
    }
}

/// One call as the fault table sees it.
#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    pub client: &'a str,
    pub server: &'a str,
    pub method: &'static str,
    /// Simulated time since the world started.
    pub now: Duration,
}

/// What a fault does to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcFaultAction {
    /// The server answers with this error without handling the request.
    Error { code: i64, message: String },
    /// The request is lost: the client times out and the server never sees it.
    DropRequest,
    /// The server handles the request but the response is lost: the client times out.
    DropResponse,
    /// The call proceeds after this extra delay.
    Delay { delay_ms: u64 },
}

/// A fault on calls that match all of its set filters, active in `[from, until)` of simulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcFaultRule {
    pub method: Option<String>,
    pub client: Option<String>,
    pub server: Option<String>,
    pub from: Duration,
    pub until: Duration,
    pub action: RpcFaultAction,
    /// Share of matching calls hit, drawn from the table's seeded stream (1: every call, no draw).
    pub probability: f64,
}

impl RpcFaultRule {
    fn matches(&self, call: &CallInfo<'_>) -> bool {
        let eq = |filter: &Option<String>, value: &str| filter.as_deref().is_none_or(|f| f == value);
        (self.from..self.until).contains(&call.now)
            && eq(&self.method, call.method)
            && eq(&self.client, call.client)
            && eq(&self.server, call.server)
    }
}

/// The world's table of RPC faults. The first matching rule applies.
pub struct RpcFaults {
    rules: Mutex<Vec<RpcFaultRule>>,
    /// Draws for rules that hit a share of calls: a stream of their own, so whether a call is hit
    /// moves no other draw of the run.
    rng: Mutex<ChaCha8Rng>,
}

impl RpcFaults {
    /// An empty table drawing from `rng`.
    pub fn new(rng: ChaCha8Rng) -> Self {
        Self { rules: Mutex::default(), rng: Mutex::new(rng) }
    }

    pub fn add(&self, rule: RpcFaultRule) {
        lock(&self.rules).push(rule);
    }

    fn action_for(&self, call: &CallInfo<'_>) -> Option<RpcFaultAction> {
        let rules = lock(&self.rules);
        let rule = rules.iter().find(|rule| rule.matches(call))?;
        let hit = rule.probability >= 1.0 || lock(&self.rng).gen_bool(rule.probability);
        hit.then(|| rule.action.clone())
    }
}

/// A client bound to one server.
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<ClientInner>,
}

impl fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcClient")
            .field("client", &self.inner.client)
            .field("server", &self.inner.server)
            .finish()
    }
}

struct ClientInner {
    client: String,
    server: String,
    addr: SocketAddr,
    timeout: Duration,
    faults: Arc<RpcFaults>,
}

impl RpcClient {
    /// A client named `client` (its node) calling `server` at `addr`, each call limited to `timeout`.
    pub fn new(
        client: impl Into<String>,
        server: impl Into<String>,
        addr: SocketAddr,
        timeout: Duration,
        faults: Arc<RpcFaults>,
    ) -> Self {
        Self {
            inner: Arc::new(ClientInner {
                client: client.into(),
                server: server.into(),
                addr,
                timeout,
                faults,
            }),
        }
    }

    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// Calls `M` on the server. Must run on the client's node.
    pub async fn call<M: Method>(&self, params: M::Params) -> Result<M::Output, RpcError> {
        profile::scoped(Bucket::Rpc, self.call_unscoped::<M>(params)).await
    }

    async fn call_unscoped<M: Method>(&self, params: M::Params) -> Result<M::Output, RpcError> {
        let inner = &self.inner;
        let call = CallInfo {
            client: &inner.client,
            server: &inner.server,
            method: M::NAME,
            now: crate::clock::sim_now(),
        };
        let action = inner.faults.action_for(&call);
        if let Some(action) = &action {
            tracing::info!(
                target: "rollsim_sim::net",
                client = call.client, server = call.server, method = M::NAME, action = ?action,
                "rpc fault injected"
            );
        }
        let timeout = RpcError::Timeout { method: M::NAME, timeout_ms: inner.timeout.as_millis() as u64 };
        match action {
            Some(RpcFaultAction::Error { code, message }) => {
                return Err(RpcError::Server { method: M::NAME, code, message })
            }
            Some(RpcFaultAction::DropRequest) => {
                tokio::time::sleep(inner.timeout).await;
                return Err(timeout);
            }
            Some(RpcFaultAction::Delay { delay_ms }) => {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await
            }
            Some(RpcFaultAction::DropResponse) | None => {}
        }
        let transport = |e: std::io::Error| RpcError::Transport { method: M::NAME, reason: e.to_string() };
        let ep = Endpoint::bind("0.0.0.0:0").await.map_err(transport)?;
        let request = Request { method: M::NAME, params: Box::new(params) };
        ep.send_to_raw(inner.addr, REQUEST_TAG, Box::new(request)).await.map_err(transport)?;
        if action == Some(RpcFaultAction::DropResponse) {
            // Closing the endpoint makes the network drop the response when it arrives.
            drop(ep);
            tokio::time::sleep(inner.timeout).await;
            return Err(timeout);
        }
        let (payload, _) = tokio::time::timeout(inner.timeout, ep.recv_from_raw(RESPONSE_TAG))
            .await
            .map_err(|_| timeout)?
            .map_err(transport)?;
        let response = payload.downcast::<Response>().map_err(|_| RpcError::Transport {
            method: M::NAME,
            reason: "response of an unexpected type".to_owned(),
        })?;
        match *response {
            Ok(out) => out.downcast::<M::Output>().map(|out| *out).map_err(|_| RpcError::Transport {
                method: M::NAME,
                reason: "result of an unexpected type".to_owned(),
            }),
            Err(ServerError { code, message }) => Err(RpcError::Server { method: M::NAME, code, message }),
        }
    }
}
