//! Node `l1` over madsim's network: RPC methods, injected RPC faults, kill and restart.
use crate::{
    clock::sim_now,
    l1::{
        self,
        wallet::{Fees, Wallet},
        L1Client,
    },
    net::{RpcError, RpcFaultAction, RpcFaultRule},
    scenario::Scenario,
    world::World,
};
use alloy_eips::BlockNumberOrTag;
use alloy_primitives::{address, Address, Bytes, B256, U256};
use rollsim::{ports::METHOD_NOT_FOUND, signer::LocalSigner};
use std::{future::Future, time::Duration};

const INBOX: Address = address!("ff00000000000000000000000000000000000901");
const GWEI: u128 = 1_000_000_000;
const TIMEOUT: Duration = Duration::from_secs(2);

/// Runs `test` in a fresh world (quiet L1) on a client node `batcher` funded with 1000 ETH.
fn in_world<F, Fut>(test: F)
where
    F: FnOnce(std::sync::Arc<World>, L1Client, Wallet) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let text = "name = \"rpc\"\ndescription = \"rpc test\"\nduration = \"1h\"\nseeds = [1]\n[l1.traffic]\nenabled = false\n";
    let scenario = Scenario::parse(text, "inline").unwrap();
    let runtime = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
    runtime.block_on(async move {
        let world = std::sync::Arc::new(super::start(&scenario, 1));
        let signer = LocalSigner::new(B256::repeat_byte(0x42)).unwrap();
        l1::lock(&world.l1).fund(signer.address(), U256::from(10).pow(U256::from(21)));
        let wallet = Wallet { signer, chain_id: 900 };
        world.add_node("batcher", std::future::pending::<()>);
        let client = L1Client::new(world.rpc_client("batcher", "l1", TIMEOUT));
        world.spawn_on("batcher", test(world.clone(), client, wallet)).await.unwrap();
    });
}

fn fees() -> Fees {
    Fees { max_fee_per_gas: 10 * GWEI, max_priority_fee_per_gas: GWEI, max_fee_per_blob_gas: GWEI }
}

#[test]
fn send_transaction_and_read_receipt_block_and_nonces() {
    in_world(|_world, l1, wallet| async move {
        assert_eq!(l1.chain_id().await.unwrap(), 900);
        let raw = wallet.call(0, INBOX, Bytes::from_static(b"frame"), fees());
        let hash = l1.send_raw_transaction(raw).await.unwrap();
        assert_eq!(l1.nonce(wallet.address(), BlockNumberOrTag::Pending).await.unwrap(), 1);
        assert_eq!(l1.nonce(wallet.address(), BlockNumberOrTag::Latest).await.unwrap(), 0);
        assert_eq!(l1.receipt(hash).await.unwrap(), None);
        tokio::time::sleep(Duration::from_secs(13)).await;
        let receipt = l1.receipt(hash).await.unwrap().expect("included in block 1");
        assert_eq!(receipt.block_number, 1);
        let block = l1.block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap();
        assert_eq!((block.number(), block.hash), (1, receipt.block_hash));
        assert_eq!(block.header.timestamp, 1_700_000_012);
        assert_eq!(l1.block_by_hash(block.hash).await.unwrap().unwrap().number(), 1);
        assert_eq!(l1.nonce(wallet.address(), BlockNumberOrTag::Latest).await.unwrap(), 1);
        assert!(l1.max_priority_fee().await.unwrap() >= 1);
        assert_eq!(l1.blob_base_fee().await.unwrap(), 1, "empty blocks keep the blob fee at its floor");
        // A rejection is a server error carrying geth's message.
        let again = wallet.call(0, INBOX, Bytes::new(), fees());
        let error = l1.send_raw_transaction(again).await.unwrap_err();
        assert!(error.server_message().unwrap().starts_with("nonce too low"), "{error}");
        let stale = l1.nonce(wallet.address(), BlockNumberOrTag::Safe).await.unwrap_err();
        assert!(stale.server_message().unwrap().contains("historical state"), "{stale}");
    });
}

#[test]
fn unknown_method_is_method_not_found() {
    crate::rpc_method!(Bogus, "eth_bogus", () => ());
    in_world(|world, _l1, _wallet| async move {
        let rpc = world.rpc_client("batcher", "l1", TIMEOUT);
        match rpc.call::<Bogus>(()).await {
            Err(RpcError::Server { code, message, method: "eth_bogus" }) => {
                assert_eq!(code, METHOD_NOT_FOUND);
                assert!(message.contains("does not exist"));
            }
            other => panic!("expected method not found, got {other:?}"),
        }
    });
}

#[test]
fn injected_rpc_faults_error_drop_and_delay_per_method() {
    in_world(|world, l1, wallet| async move {
        let window = |from_s, until_s, method: &str, action| RpcFaultRule {
            method: Some(method.to_owned()),
            client: Some("batcher".to_owned()),
            server: None,
            from: Duration::from_secs(from_s),
            until: Duration::from_secs(until_s),
            action,
            probability: 1.0,
        };
        let error = RpcFaultAction::Error { code: -32000, message: "injected".into() };
        world.rpc_faults.add(window(0, 100, "eth_chainId", error));
        world.rpc_faults.add(window(0, 100, "eth_blockNumber", RpcFaultAction::DropRequest));
        world.rpc_faults.add(window(0, 100, "eth_sendRawTransaction", RpcFaultAction::DropResponse));
        world.rpc_faults.add(window(0, 100, "eth_blobBaseFee", RpcFaultAction::Delay { delay_ms: 1_500 }));

        let e = l1.chain_id().await.unwrap_err();
        assert_eq!(e.server_message(), Some("injected"));
        let before = sim_now();
        assert!(matches!(l1.block_number().await, Err(RpcError::Timeout { timeout_ms: 2_000, .. })));
        assert!(sim_now() - before >= TIMEOUT);
        // Other methods are untouched.
        assert_eq!(l1.nonce(wallet.address(), BlockNumberOrTag::Latest).await.unwrap(), 0);
        // A lost response: the client times out, but the transaction did reach the pool.
        let raw = wallet.call(0, INBOX, Bytes::new(), fees());
        assert!(matches!(l1.send_raw_transaction(raw).await, Err(RpcError::Timeout { .. })));
        assert_eq!(l1.nonce(wallet.address(), BlockNumberOrTag::Pending).await.unwrap(), 1);
        let before = sim_now();
        assert_eq!(l1.blob_base_fee().await.unwrap(), 1);
        let took = sim_now() - before;
        assert!(took >= Duration::from_millis(1_500) && took < TIMEOUT, "delayed by {took:?}");

        // After the window, everything works again.
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert_eq!(l1.chain_id().await.unwrap(), 900);
        assert!(l1.block_number().await.unwrap() >= 8);
    });
}

#[test]
fn killed_node_times_out_and_restarts_with_the_chain_intact() {
    in_world(|world, l1, _wallet| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(l1.block_number().await.unwrap(), 2);
        world.kill("l1");
        assert!(matches!(l1.block_number().await, Err(RpcError::Timeout { .. })));
        tokio::time::sleep(Duration::from_secs(60)).await;
        world.restart("l1");
        tokio::time::sleep(Duration::from_millis(100)).await;
        // L1 went on producing while its RPC node was down.
        assert_eq!(l1.block_number().await.unwrap(), 7);
    });
}
