//! kona-executor as the block oracle: an independent OP block builder re-builds a block statelessly
//! from its parent state's trie nodes (served by hash, as a fault-proof program is served
//! preimages) and the block's payload attributes, and its header must equal the block's.
//!
//! kona-executor shares op-revm with the world's nodes but nothing else: its own trie database
//! over the nodes, its own block assembly (roots, bloom, base fee, Holocene `extraData`, Isthmus
//! withdrawals root and requests hash) and its own sender recovery, which needs real signatures
//! (`[l2.workload] signatures = "secp256k1"`).

use std::collections::BTreeMap;

use alloy_consensus::{Header, Sealed};
use alloy_primitives::{keccak256, Bytes, B256};
use alloy_rlp::Decodable;
use kona_executor::{StatelessL2Builder, TrieDBProvider};
use kona_genesis::RollupConfig;
use kona_mpt::{NoopTrieHinter, TrieNode, TrieProvider};
use op_alloy_rpc_types_engine::OpPayloadAttributes;
use rollsim::{execution::StateView, payload::PreState};

use crate::l2::block::{BlockInputs, L2Block};

/// Why a block was not confirmed by the oracle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OracleError {
    /// kona-executor could not build the block.
    #[error("kona-executor could not build it: {0}")]
    Build(String),
    /// The rebuilt header differs.
    #[error("{0}")]
    Differs(HeaderDifference),
}

/// The first field in which the rebuilt header differs from the block's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: header {expected}, kona-executor {rebuilt}")]
pub struct HeaderDifference {
    pub field: &'static str,
    pub expected: String,
    pub rebuilt: String,
}

/// The first field among those execution decides in which `rebuilt` differs from `expected`,
/// then the block hash (which covers every other field).
pub fn first_difference(expected: &Header, rebuilt: &Header) -> Option<HeaderDifference> {
    let fields: [(&'static str, String, String); 10] = [
        ("state root", expected.state_root.to_string(), rebuilt.state_root.to_string()),
        ("receipts root", expected.receipts_root.to_string(), rebuilt.receipts_root.to_string()),
        ("transactions root", expected.transactions_root.to_string(), rebuilt.transactions_root.to_string()),
        ("logs bloom", expected.logs_bloom.to_string(), rebuilt.logs_bloom.to_string()),
        ("gas used", expected.gas_used.to_string(), rebuilt.gas_used.to_string()),
        ("gas limit", expected.gas_limit.to_string(), rebuilt.gas_limit.to_string()),
        ("base fee", format!("{:?}", expected.base_fee_per_gas), format!("{:?}", rebuilt.base_fee_per_gas)),
        ("extra data", expected.extra_data.to_string(), rebuilt.extra_data.to_string()),
        (
            "withdrawals root",
            format!("{:?}", expected.withdrawals_root),
            format!("{:?}", rebuilt.withdrawals_root),
        ),
        ("block hash", expected.hash_slow().to_string(), rebuilt.hash_slow().to_string()),
    ];
    fields
        .into_iter()
        .find(|(_, expected, rebuilt)| expected != rebuilt)
        .map(|(field, expected, rebuilt)| HeaderDifference { field, expected, rebuilt })
}

/// The parent state as kona-executor reads it: every trie node by hash, code by hash, ancestors'
/// headers by hash.
pub struct ParentState<'a> {
    nodes: BTreeMap<B256, Bytes>,
    state: &'a PreState,
    headers: BTreeMap<B256, Header>,
}

impl std::fmt::Debug for ParentState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParentState")
            .field("nodes", &self.nodes.len())
            .field("headers", &self.headers.len())
            .finish()
    }
}

impl<'a> ParentState<'a> {
    /// The nodes of `state`, and `ancestors` (the parent and the blocks below it) by hash.
    pub fn new(state: &'a PreState, ancestors: impl IntoIterator<Item = Header>) -> Self {
        let nodes = state.trie_nodes().map(|node| (keccak256(node), node.clone())).collect();
        let headers = ancestors.into_iter().map(|header| (header.hash_slow(), header)).collect();
        Self { nodes, state, headers }
    }
}

impl TrieProvider for ParentState<'_> {
    type Error = String;

    fn trie_node_by_hash(&self, hash: B256) -> Result<TrieNode, String> {
        let node = self.nodes.get(&hash).ok_or_else(|| format!("no trie node with hash {hash}"))?;
        TrieNode::decode(&mut node.as_ref()).map_err(|e| format!("trie node {hash} does not decode: {e}"))
    }
}

impl TrieDBProvider for ParentState<'_> {
    fn bytecode_by_hash(&self, hash: B256) -> Result<Bytes, String> {
        self.state
            .code(&hash)
            .map(|code| code.original_bytes())
            .ok_or_else(|| format!("no code with hash {hash}"))
    }

    fn header_by_hash(&self, hash: B256) -> Result<Header, String> {
        self.headers.get(&hash).cloned().ok_or_else(|| format!("no header with hash {hash}"))
    }
}

/// The payload attributes `block` was built from.
pub fn attributes(block: &L2Block) -> OpPayloadAttributes {
    let inputs = BlockInputs::of(block);
    OpPayloadAttributes {
        payload_attributes: alloy_rpc_types_engine::PayloadAttributes {
            timestamp: inputs.timestamp,
            prev_randao: inputs.prev_randao,
            suggested_fee_recipient: inputs.fee_recipient,
            withdrawals: Some(Vec::new()),
            parent_beacon_block_root: inputs.parent_beacon_block_root,
        },
        transactions: Some(inputs.txs),
        no_tx_pool: Some(true),
        gas_limit: Some(inputs.gas_limit),
        eip_1559_params: inputs.eip1559_params,
    }
}

/// Re-builds `block` with kona-executor on `parent` and its state, and compares the headers.
pub fn check(
    config: &RollupConfig,
    parent: ParentState<'_>,
    parent_header: &Header,
    block: &L2Block,
) -> Result<(), OracleError> {
    let parent_header = Sealed::new_unchecked(parent_header.clone(), block.header().parent_hash);
    let mut builder = StatelessL2Builder::new(
        config,
        alloy_op_evm::OpEvmFactory::default(),
        parent,
        NoopTrieHinter,
        parent_header,
    );
    let outcome = builder.build_block(attributes(block)).map_err(|e| OracleError::Build(e.to_string()))?;
    match first_difference(block.header(), outcome.header.inner()) {
        Some(difference) => Err(OracleError::Differs(difference)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l2::{
        block::{assemble, evm_block, genesis},
        engine::ExecutedState,
        genesis::genesis_state,
        L2Config,
    };
    use alloy_consensus::TxEip1559;
    use alloy_eips::{eip2718::Encodable2718, BlockNumHash};
    use alloy_primitives::{address, TxKind, U256};
    use kona_protocol::{L1BlockInfoTx, Predeploys};
    use op_alloy_consensus::OpTxEnvelope;
    use rollsim::{
        evm::{AncestorHashes, OpEvmExecutor},
        signer::LocalSigner,
    };

    /// Block 1 of a chain: the L1-info deposit and `transfers` really signed transfers, built and
    /// executed as the sequencer does; with the parent's state and header.
    fn block_one(transfers: u64) -> (RollupConfig, ExecutedState, Header, L2Block) {
        let config = L2Config::default();
        let key = LocalSigner::new(B256::repeat_byte(7)).unwrap();
        let batcher = address!("ba00000000000000000000000000000000000001");
        let state = ExecutedState::genesis(genesis_state(config.chain_id, [key.address()]).unwrap());
        let parent_header = genesis(&config, 1_000, state.root());
        let l2_genesis = BlockNumHash::new(0, parent_header.hash_slow());
        let rollup =
            crate::l2::rollup_config(&config, 900, BlockNumHash::default(), l2_genesis, 1_000, batcher);
        let l1_header = Header {
            number: 0,
            timestamp: 990,
            base_fee_per_gas: Some(7),
            excess_blob_gas: Some(0),
            ..Default::default()
        };
        let system_config = crate::l2::system_config(&config, batcher);
        let (_, deposit) =
            L1BlockInfoTx::try_new_with_deposit_tx(&rollup, &system_config, 0, &l1_header, 1_002).unwrap();
        let depositor = deposit.from;
        let mut decoded = vec![(OpTxEnvelope::Deposit(deposit), depositor)];
        for nonce in 0..transfers {
            let tx = TxEip1559 {
                chain_id: config.chain_id,
                nonce,
                gas_limit: 21_000,
                max_fee_per_gas: 1_000_000_000,
                max_priority_fee_per_gas: 5,
                to: TxKind::Call(address!("a200000000000000000000000000000000000009")),
                value: U256::from(1_000 + nonce),
                ..Default::default()
            };
            decoded.push((OpTxEnvelope::Eip1559(key.sign(tx)), key.address()));
        }
        let inputs = BlockInputs {
            timestamp: 1_002,
            prev_randao: B256::repeat_byte(3),
            fee_recipient: Predeploys::SEQUENCER_FEE_VAULT,
            parent_beacon_block_root: Some(B256::repeat_byte(4)),
            gas_limit: config.gas_limit,
            eip1559_params: system_config.eip_1559_params(&rollup, 1_000, 1_002),
            txs: decoded.iter().map(|(tx, _)| tx.encoded_2718().into()).collect(),
        };
        let parent_hash = parent_header.hash_slow();
        let txs = decoded.iter().map(|(tx, sender)| (tx, *sender));
        let block =
            evm_block(&parent_header, parent_hash, &inputs, txs, AncestorHashes::new(0, vec![parent_hash]));
        let pre = state.clone();
        let mut post = state;
        let (output, root) = post.execute(&OpEvmExecutor::new(config.chain_id), &block).unwrap();
        let withdrawals_root = post.withdrawals_root();
        let built = assemble(
            &parent_header,
            parent_hash,
            inputs,
            decoded,
            &rollup.genesis,
            &output,
            root,
            withdrawals_root,
        )
        .unwrap();
        (rollup, pre, parent_header, built)
    }

    #[test]
    fn kona_rebuilds_the_sequencers_block() {
        let (rollup, pre, parent, block) = block_one(3);
        let head = pre.head();
        let parent_state = ParentState::new(&head, [parent.clone()]);
        check(&rollup, parent_state, &parent, &block).unwrap();
    }

    /// A block whose receipts root, gas used or base fee is wrong is caught, naming the field and
    /// both values; so is one with a transaction the header's roots do not commit to.
    #[test]
    fn a_wrong_header_field_is_named() {
        let (rollup, pre, parent, block) = block_one(2);
        let head = pre.head();
        type Corrupt = fn(&mut Header);
        let cases: [(&str, Corrupt); 4] = [
            ("receipts root", |h| h.receipts_root = B256::repeat_byte(1)),
            ("gas used", |h| h.gas_used += 1),
            ("base fee", |h| h.base_fee_per_gas = h.base_fee_per_gas.map(|fee| fee + 1)),
            ("block hash", |h| h.nonce = alloy_primitives::B64::repeat_byte(1)),
        ];
        for (field, corrupt) in cases {
            let mut wrong = block.clone();
            corrupt(&mut wrong.block.header);
            let expected = wrong.block.header.clone();
            let error =
                check(&rollup, ParentState::new(&head, [parent.clone()]), &parent, &wrong).unwrap_err();
            let OracleError::Differs(difference) = &error else { panic!("{field}: {error}") };
            assert_eq!(difference.field, field);
            let shown = error.to_string();
            assert!(shown.starts_with(field), "{shown}");
            let header_value = match field {
                "receipts root" => expected.receipts_root.to_string(),
                "gas used" => expected.gas_used.to_string(),
                "base fee" => format!("{:?}", expected.base_fee_per_gas),
                _ => expected.hash_slow().to_string(),
            };
            assert!(shown.contains(&format!("header {header_value}")), "{shown}");
        }
    }

    /// A node the parent state lacks is an error naming its hash, not a panic.
    #[test]
    fn a_missing_trie_node_is_named() {
        let (_, pre, parent, _) = block_one(0);
        let head = pre.head();
        let state = ParentState::new(&head, [parent]);
        let missing = B256::repeat_byte(0xee);
        assert_eq!(
            state.trie_node_by_hash(missing).unwrap_err(),
            format!("no trie node with hash {missing}")
        );
        assert!(state.bytecode_by_hash(missing).unwrap_err().contains("no code with hash"));
        assert!(state.header_by_hash(missing).unwrap_err().contains("no header with hash"));
    }
}
