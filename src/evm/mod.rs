//! op-revm behind the payload processor: OP blocks executed by alloy-op-evm's `OpBlockExecutor`,
//! as reth executes them, each transaction's `EvmState` fed to the payload processor's state hook.
//!
//! The state is read through [`StateView`] (the pre-block state the payload processor proves) by
//! [`StateDb`], revm's `Database`. revm's state maps are randomly seeded hash maps: every one is
//! turned into sorted maps ([`tx_state`]) before anything iterates it.
//!
//! The newest OP hardfork this dependency set executes is Isthmus (op-revm 8.1 has no Jovian; nor
//! has kona-executor 0.4, the block oracle): every fork up to it is active from genesis.

mod db;

use crate::sync::lock;
use std::{
    collections::BTreeMap,
    ops::Range,
    sync::{Arc, Mutex},
};

use alloy_consensus::transaction::Recovered;
use alloy_eips::eip2718::Encodable2718;
use alloy_eips::eip7840::BlobParams;
use alloy_evm::{
    block::{BlockExecutionError, BlockExecutor as _, OnStateHook, StateChangeSource},
    precompiles::PrecompilesMap,
    Evm, EvmEnv, EvmFactory, FromTxWithEncoded, IntoTxEnv, RecoveredTx,
};
use alloy_hardforks::ForkCondition;
use alloy_op_evm::{block::OpAlloyReceiptBuilder, OpBlockExecutionCtx, OpBlockExecutor, OpEvmFactory};
use alloy_op_hardforks::{OpChainHardforks, OpHardfork};
use alloy_primitives::{Address, Bytes, B256, U256};
use op_alloy_consensus::{OpReceiptEnvelope, OpTxEnvelope};
use op_revm::{OpSpecId, OpTransaction};
use revm::{
    context::{BlockEnv, CfgEnv, TxEnv},
    context_interface::block::BlobExcessGasAndPrice,
    database::State,
    inspector::NoOpInspector,
    state::EvmState,
};

pub use db::{StateDb, StateDbError};

use crate::{
    execution::{extend_post_state, AccountChange, StateView, TxState},
    payload::{BlockExecutor, Pace, PayloadError, PreState, StateHook, Visit},
    trie::{Account, HashedPostState},
};

/// The op-revm spec every block executes under: Isthmus, active from genesis.
pub const SPEC: OpSpecId = OpSpecId::ISTHMUS;

/// The OP hardforks of the chain: Bedrock through Isthmus at genesis, nothing later.
pub fn hardforks() -> OpChainHardforks {
    use OpHardfork::*;
    let at_genesis = [Bedrock, Regolith, Canyon, Ecotone, Fjord, Granite, Holocene, Isthmus];
    OpChainHardforks::new(at_genesis.into_iter().map(|fork| {
        let condition = if fork == Bedrock { ForkCondition::Block(0) } else { ForkCondition::Timestamp(0) };
        (fork, condition)
    }))
}

/// What a block executes in, besides its transactions: the header fields execution reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockContext {
    pub number: u64,
    pub timestamp: u64,
    /// The fee recipient (the sequencer's fee vault): priority fees go to it.
    pub beneficiary: Address,
    pub gas_limit: u64,
    pub base_fee: u64,
    pub prev_randao: B256,
    pub parent_hash: B256,
    /// Written into the EIP-4788 beacon-roots contract before the first transaction.
    pub parent_beacon_block_root: Option<B256>,
    /// Holocene's EIP-1559 parameters.
    pub extra_data: Bytes,
    /// Hashes of up to 256 ancestors: what `BLOCKHASH` reads.
    pub ancestor_hashes: AncestorHashes,
}

/// Hashes of consecutive blocks, oldest first: the ancestors `BLOCKHASH` can read. A window of a
/// chain's blocks, copied in one go per block executed (a map of 256 entries cost more than most
/// blocks' reads of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AncestorHashes {
    /// The number of the block `hashes[0]` is the hash of.
    first: u64,
    hashes: Vec<B256>,
}

impl AncestorHashes {
    /// The hashes of blocks `first`, `first + 1`, ...
    pub fn new(first: u64, hashes: Vec<B256>) -> Self {
        Self { first, hashes }
    }

    /// The hash of block `number`, if the window holds it.
    pub fn get(&self, number: u64) -> Option<B256> {
        self.hashes.get(usize::try_from(number.checked_sub(self.first)?).ok()?).copied()
    }

    /// The numbers of the blocks held, oldest first.
    pub fn numbers(&self) -> std::ops::Range<u64> {
        self.first..self.first + self.hashes.len() as u64
    }
}

/// An OP block to execute: its context and its transactions with their senders.
#[derive(Debug, Clone)]
pub struct EvmBlock {
    pub context: BlockContext,
    pub txs: Vec<EvmTx>,
}

/// A transaction ready to execute: its sender, and its EVM environment built once and shared by
/// prewarm and the block's execution, as reth's payload transaction iterator hands out
/// `WithTxEnv`. The environment carries the encoded transaction (op-revm's L1 cost compresses it)
/// and the EIP-7702 authorities, which alloy-evm recovers as it builds it: neither is redone per
/// execution.
#[derive(Debug, Clone)]
pub struct EvmTx {
    tx: Recovered<OpTxEnvelope>,
    env: OpTransaction<TxEnv>,
}

impl EvmTx {
    /// `tx` from `sender`, whose EIP-2718 encoding is `encoded` (as the block carries it).
    pub fn with_encoded(tx: OpTxEnvelope, sender: Address, encoded: Bytes) -> Self {
        debug_assert_eq!(encoded, Bytes::from(tx.encoded_2718()), "the encoding of the transaction");
        let env = OpTransaction::<TxEnv>::from_encoded_tx(&tx, sender, encoded);
        Self { tx: Recovered::new_unchecked(tx, sender), env }
    }

    /// The transaction and its sender.
    pub fn recovered(&self) -> &Recovered<OpTxEnvelope> {
        &self.tx
    }
}

impl From<Recovered<OpTxEnvelope>> for EvmTx {
    fn from(tx: Recovered<OpTxEnvelope>) -> Self {
        let (tx, sender) = tx.into_parts();
        let encoded = tx.encoded_2718().into();
        Self::with_encoded(tx, sender, encoded)
    }
}

impl IntoTxEnv<OpTransaction<TxEnv>> for &EvmTx {
    fn into_tx_env(self) -> OpTransaction<TxEnv> {
        self.env.clone()
    }
}

impl RecoveredTx<OpTxEnvelope> for &EvmTx {
    fn tx(&self) -> &OpTxEnvelope {
        self.tx.inner()
    }

    fn signer(&self) -> &Address {
        self.tx.signer_ref()
    }
}

/// What executing an [`EvmBlock`] produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvmOutput {
    /// Indices (into the block's transactions) of those executed, in order.
    pub included: Vec<usize>,
    /// Transactions left out as invalid in this block (a nonce already used, a fee the sender
    /// cannot pay, more gas than the block has left), with why: a builder drops them, a validator
    /// must reject the block.
    pub rejected: Vec<(usize, String)>,
    /// The receipts of the included transactions.
    pub receipts: Vec<OpReceiptEnvelope>,
    /// Gas used by the included transactions.
    pub gas_used: u64,
    /// Code of the contracts the block created, by code hash.
    pub codes: BTreeMap<B256, Bytes>,
}

/// Executes OP blocks in op-revm for the payload processor.
#[derive(Debug, Clone)]
pub struct OpEvmExecutor {
    chain_id: u64,
    hardforks: Arc<OpChainHardforks>,
}

impl OpEvmExecutor {
    /// An executor for chain `chain_id`.
    pub fn new(chain_id: u64) -> Self {
        Self { chain_id, hardforks: Arc::new(hardforks()) }
    }

    /// The EVM environment of a block; prewarm executes without nonce checks (the transactions
    /// before it in the block have not run).
    fn env(&self, context: &BlockContext, check_nonce: bool) -> EvmEnv<OpSpecId> {
        let mut cfg_env = CfgEnv::new_with_spec(SPEC).with_chain_id(self.chain_id);
        cfg_env.disable_nonce_check = !check_nonce;
        let block_env = BlockEnv {
            number: U256::from(context.number),
            beneficiary: context.beneficiary,
            timestamp: U256::from(context.timestamp),
            gas_limit: context.gas_limit,
            basefee: context.base_fee,
            difficulty: U256::ZERO,
            prevrandao: Some(context.prev_randao),
            // OP blocks carry no blobs: excess blob gas stays zero (the minimum blob fee).
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(
                0,
                BlobParams::prague().update_fraction as u64,
            )),
        };
        EvmEnv { cfg_env, block_env }
    }
}

impl BlockExecutor for OpEvmExecutor {
    type Block = EvmBlock;
    type Output = EvmOutput;

    fn tx_count(&self, block: &EvmBlock) -> usize {
        block.txs.len()
    }

    fn prewarm(&self, pre: &PreState, block: &EvmBlock, batch: Range<usize>, visit: &mut Visit<'_>) {
        // One EVM for the batch, never committing: each transaction runs on the pre-block state,
        // while the accounts, code and L1 fee parameters it loaded stay cached for the next.
        let db = self.db(pre, &block.context);
        let mut evm = OpEvmFactory::default().create_evm(db, self.env(&block.context, false));
        for index in batch {
            let mut execute = || Some(tx_state(&evm.transact(&block.txs[index]).ok()?.state).0);
            if visit(index, &mut execute).is_break() {
                return;
            }
        }
    }

    async fn execute(
        &self,
        pre: &PreState,
        block: &EvmBlock,
        hook: StateHook,
        pace: &mut Pace,
    ) -> Result<EvmOutput, PayloadError> {
        let mut db = self.db(pre, &block.context);
        let mut run = Unshared(self.start(&mut db, &block.context, Sink::Pipeline(hook))?);
        for (index, tx) in block.txs.iter().enumerate() {
            pace.before_tx(index).await?;
            run.0.transact(index, tx)?;
        }
        run.0.finish().map(|(output, _)| output)
    }
}

impl OpEvmExecutor {
    /// Executes `block` on `pre` without the payload processor: the engine's path for blocks it is
    /// handed whole. Returns the output and the block's merged changes.
    pub fn execute_sequential(
        &self,
        pre: &dyn StateView,
        block: &EvmBlock,
    ) -> Result<(EvmOutput, HashedPostState), PayloadError> {
        let mut db = self.db(pre, &block.context);
        let mut run = self.start(&mut db, &block.context, Sink::Merge(HashedPostState::default()))?;
        for (index, tx) in block.txs.iter().enumerate() {
            run.transact(index, tx)?;
        }
        run.finish()
    }

    fn db<'a>(&self, pre: &'a dyn StateView, context: &'a BlockContext) -> State<StateDb<'a>> {
        State::builder().with_database(StateDb::new(pre, &context.ancestor_hashes)).build()
    }

    /// A block's execution on `db`, past the pre-block system calls.
    fn start<'db, 'a>(
        &self,
        db: &'db mut State<StateDb<'a>>,
        context: &BlockContext,
        sink: Sink,
    ) -> Result<BlockRun<'db, 'a>, PayloadError> {
        let evm = OpEvmFactory::default().create_evm(db, self.env(context, true));
        let ctx = OpBlockExecutionCtx {
            parent_hash: context.parent_hash,
            parent_beacon_block_root: context.parent_beacon_block_root,
            extra_data: context.extra_data.clone(),
        };
        let mut executor =
            OpBlockExecutor::new(evm, ctx, self.hardforks.clone(), OpAlloyReceiptBuilder::default());
        let collected = Arc::new(Mutex::new(Collected { sink, codes: BTreeMap::new() }));
        executor.set_state_hook(Some(Box::new(EvmHook(collected.clone()))));
        executor.apply_pre_execution_changes().map_err(failed)?;
        Ok(BlockRun { executor, collected, output: EvmOutput::default() })
    }
}

fn failed(error: BlockExecutionError) -> PayloadError {
    PayloadError::Execution(error.to_string())
}

type Executor<'db, 'a> = OpBlockExecutor<
    alloy_op_evm::OpEvm<&'db mut State<StateDb<'a>>, NoOpInspector, PrecompilesMap>,
    OpAlloyReceiptBuilder,
    Arc<OpChainHardforks>,
>;

/// A block being executed, one transaction at a time.
struct BlockRun<'db, 'a> {
    executor: Executor<'db, 'a>,
    collected: Arc<Mutex<Collected>>,
    output: EvmOutput,
}

impl BlockRun<'_, '_> {
    /// Executes transaction `index`; an invalid one is left out and recorded.
    fn transact(&mut self, index: usize, tx: &EvmTx) -> Result<(), PayloadError> {
        match self.executor.execute_transaction(tx) {
            Ok(_) => self.output.included.push(index),
            Err(BlockExecutionError::Validation(invalid)) => {
                self.output.rejected.push((index, invalid.to_string()))
            }
            Err(error) => return Err(failed(error)),
        }
        Ok(())
    }

    /// The output, and the merged changes when they were not sent to a pipeline (which keeps its
    /// own). Drops the state hook, which ends the block for a pipeline.
    fn finish(self) -> Result<(EvmOutput, HashedPostState), PayloadError> {
        let (_, result) = self.executor.finish().map_err(failed)?;
        let collected = std::mem::replace(
            &mut *lock(&self.collected),
            Collected { sink: Sink::Merge(HashedPostState::default()), codes: BTreeMap::new() },
        );
        let merged = match collected.sink {
            Sink::Merge(merged) => merged,
            Sink::Pipeline(_) => HashedPostState::default(),
        };
        let output = EvmOutput {
            receipts: result.receipts,
            gas_used: result.gas_used,
            codes: collected.codes,
            ..self.output
        };
        Ok((output, merged))
    }
}

/// Where a block's state changes go.
enum Sink {
    /// The payload processor's state hook.
    Pipeline(StateHook),
    /// Merged here (sequential execution).
    Merge(HashedPostState),
}

/// What the state hook collected.
struct Collected {
    sink: Sink,
    /// Code of the contracts created so far.
    codes: BTreeMap<B256, Bytes>,
}

/// alloy-evm's state hook: each change to the sink, new contracts' code collected.
struct EvmHook(Arc<Mutex<Collected>>);

impl OnStateHook for EvmHook {
    fn on_state(&mut self, source: StateChangeSource, state: &EvmState) {
        let (changes, codes) = tx_state(state);
        let mut collected = lock(&self.0);
        collected.codes.extend(codes);
        match (&mut collected.sink, source) {
            (Sink::Pipeline(hook), StateChangeSource::Transaction(_)) => hook.on_state(&changes),
            (Sink::Pipeline(hook), _) => hook.on_system_state(&changes),
            (Sink::Merge(merged), _) => extend_post_state(merged, changes.to_hashed()),
        }
    }
}

/// A value that lives in one future and is never shared: the EVM of a block being executed.
///
/// revm's interpreter keeps its memory in an `Rc<RefCell<..>>` (and raw pointers into its own
/// buffers), so the EVM is not `Send`, yet the real execution awaits between transactions (the
/// simulated cost, the cancellation point) and the payload processor's futures must be `Send`.
struct Unshared<T>(T);

// SAFETY: every `Rc` and raw pointer inside revm's EVM points into allocations the EVM alone owns
// (its shared memory buffer, its frames); none is cloned out of it. The value is created, used and
// dropped inside one future, so it is only ever moved whole between polls (with the runtime's
// synchronisation), never touched from two threads at once: no reference count is raced.
unsafe impl<T> Send for Unshared<T> {}

/// One transaction's (or system call's) `EvmState` as sorted changes, with the code of the
/// contracts it created. Only touched accounts count; a self-destructed account (EIP-6780: created
/// in the same transaction) and a touched account left empty (EIP-161) are destroyed; of storage,
/// only slots whose value changed.
pub fn tx_state(state: &EvmState) -> (TxState, BTreeMap<B256, Bytes>) {
    let mut changes = TxState::default();
    let mut codes = BTreeMap::new();
    for (address, account) in state.iter().filter(|(_, account)| account.is_touched()) {
        let destroyed = account.is_selfdestructed() || account.is_empty();
        // reth before 26367 kept a new account left empty in the hashed state.
        #[cfg(feature = "planted-bugs")]
        let destroyed = destroyed
            && !(crate::planted::active("empty-accounts-kept")
                && !account.is_selfdestructed()
                && account.is_loaded_as_not_existing());
        let storage = if destroyed {
            BTreeMap::new()
        } else {
            account.changed_storage_slots().map(|(slot, value)| (*slot, value.present_value)).collect()
        };
        if account.is_created() && !destroyed {
            if let Some(code) = &account.info.code {
                codes.insert(account.info.code_hash, code.original_bytes());
            }
        }
        let info = Account {
            nonce: account.info.nonce,
            balance: account.info.balance,
            code_hash: account.info.code_hash,
        };
        changes.accounts.insert(*address, AccountChange { info, destroyed, storage });
    }
    (changes, codes)
}
