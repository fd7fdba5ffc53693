//! kona-derive's providers over the world: the fake L1 (over RPC), its blob store (beacon API over
//! RPC), the L2 chain (the node's own engine database), and a data source that resolves AltDA
//! commitments through the DA server.

use crate::{
    da::{DaClient, KECCAK_COMMITMENT},
    l1::{chain::L1Block, L1Client},
    l2::chain::{lock, SharedL2},
    net::RpcError,
};
use alloy_consensus::{Eip658Value, Header, Receipt, TxEnvelope};
use alloy_eips::{
    eip4844::{Blob, IndexedBlobHash},
    BlockNumberOrTag,
};
use alloy_primitives::{Address, Bytes, B256};
use async_trait::async_trait;
use kona_derive::{
    BlobProvider, BlobProviderError, BlobSource, ChainProvider, DataAvailabilityProvider, L2ChainProvider,
    PipelineError, PipelineErrorKind, PipelineResult,
};
use kona_genesis::{RollupConfig, SystemConfig};
use kona_protocol::{BatchValidationProvider, BlockInfo, L2BlockInfo};
use op_alloy_consensus::OpBlock;
use std::sync::Arc;

/// A provider could not answer; derivation retries later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("{0}")]
    Rpc(#[from] RpcError),
    #[error("{what} not found")]
    NotFound { what: String },
}

impl From<ProviderError> for PipelineErrorKind {
    fn from(error: ProviderError) -> Self {
        PipelineError::Provider(error.to_string()).temp()
    }
}

pub fn block_info(block: &L1Block) -> BlockInfo {
    BlockInfo::new(block.hash, block.number(), block.header.parent_hash, block.header.timestamp)
}

/// The L1 chain as kona-derive reads it.
#[derive(Debug, Clone)]
pub struct L1Provider {
    pub l1: L1Client,
}

impl L1Provider {
    async fn by_hash(&self, hash: B256) -> Result<Arc<L1Block>, ProviderError> {
        self.l1
            .block_by_hash(hash)
            .await?
            .ok_or_else(|| ProviderError::NotFound { what: format!("L1 block {hash}") })
    }
}

#[async_trait]
impl ChainProvider for L1Provider {
    type Error = ProviderError;

    async fn header_by_hash(&mut self, hash: B256) -> Result<Header, Self::Error> {
        Ok(self.by_hash(hash).await?.header.clone())
    }

    async fn block_info_by_number(&mut self, number: u64) -> Result<BlockInfo, Self::Error> {
        let block = self.l1.block_by_number(BlockNumberOrTag::Number(number)).await?;
        block
            .map(|b| block_info(&b))
            .ok_or_else(|| ProviderError::NotFound { what: format!("L1 block {number}") })
    }

    async fn receipts_by_hash(&mut self, hash: B256) -> Result<Vec<Receipt>, Self::Error> {
        // No contract on the fake L1 emits logs: no deposits, no system config updates.
        let block = self.by_hash(hash).await?;
        Ok(block
            .receipts
            .iter()
            .map(|r| Receipt {
                status: Eip658Value::Eip658(r.status),
                cumulative_gas_used: r.cumulative_gas_used,
                logs: Vec::new(),
            })
            .collect())
    }

    async fn block_info_and_transactions_by_hash(
        &mut self,
        hash: B256,
    ) -> Result<(BlockInfo, Vec<TxEnvelope>), Self::Error> {
        let block = self.by_hash(hash).await?;
        // Synthetic background transactions never go to the batch inbox: leaving them out is what
        // the calldata and blob sources would do after their `to` check.
        let txs = block.txs.iter().filter_map(|tx| tx.signed.as_ref().map(|s| s.envelope.clone())).collect();
        Ok((block_info(&block), txs))
    }
}

/// Blobs from the fake L1's beacon API.
#[derive(Debug, Clone)]
pub struct L1Blobs {
    pub l1: L1Client,
}

#[async_trait]
impl BlobProvider for L1Blobs {
    type Error = BlobProviderError;

    async fn get_blobs(
        &mut self,
        block_ref: &BlockInfo,
        blob_hashes: &[IndexedBlobHash],
    ) -> Result<Vec<Box<Blob>>, Self::Error> {
        let wanted: Vec<B256> = blob_hashes.iter().map(|h| h.hash).collect();
        let blobs = self
            .l1
            .blobs(block_ref.hash, wanted.clone())
            .await
            .map_err(|e| BlobProviderError::Backend(e.to_string()))?;
        // Answer in the order asked, one blob per hash.
        wanted
            .iter()
            .map(|hash| {
                blobs
                    .iter()
                    .find(|(h, _)| h == hash)
                    .map(|(_, blob)| blob.clone())
                    .ok_or(BlobProviderError::SidecarLengthMismatch(wanted.len(), blobs.len()))
            })
            .collect()
    }
}

/// The node's own L2 chain.
#[derive(Debug, Clone)]
pub struct L2Provider {
    pub chain: SharedL2,
    pub system_config: SystemConfig,
}

#[async_trait]
impl BatchValidationProvider for L2Provider {
    type Error = ProviderError;

    async fn l2_block_info_by_number(&mut self, number: u64) -> Result<L2BlockInfo, Self::Error> {
        let chain = lock(&self.chain);
        chain
            .block(number)
            .map(|b| b.info)
            .ok_or_else(|| ProviderError::NotFound { what: format!("L2 block {number}") })
    }

    async fn block_by_number(&mut self, number: u64) -> Result<OpBlock, Self::Error> {
        let chain = lock(&self.chain);
        chain
            .block(number)
            .map(|b| b.block.clone())
            .ok_or_else(|| ProviderError::NotFound { what: format!("L2 block {number}") })
    }
}

#[async_trait]
impl L2ChainProvider for L2Provider {
    type Error = ProviderError;

    /// The system config never changes: the fake L1 has no system config contract.
    async fn system_config_by_number(
        &mut self,
        _number: u64,
        _rollup_config: Arc<RollupConfig>,
    ) -> Result<SystemConfig, <Self as L2ChainProvider>::Error> {
        Ok(self.system_config)
    }
}

/// Ethereum data (calldata and blobs, as kona's blob source reads them after Ecotone) with AltDA
/// commitments (version byte 0x01) resolved through the DA server, as op-node's AltDA source does.
#[derive(Debug)]
pub struct DataSource {
    inner: BlobSource<L1Provider, L1Blobs>,
    da: Option<DaClient>,
    /// A commitment whose fetch failed transiently, retried before reading on.
    pending: Option<Bytes>,
}

/// Batcher transaction data version of an AltDA commitment.
pub const ALT_DA_VERSION: u8 = 0x01;

impl DataSource {
    pub fn new(l1: L1Client, da: Option<DaClient>, rollup: &RollupConfig) -> Self {
        let inner =
            BlobSource::new(L1Provider { l1: l1.clone() }, L1Blobs { l1 }, rollup.batch_inbox_address);
        Self { inner, da, pending: None }
    }

    async fn resolve(&mut self, item: Bytes) -> PipelineResult<Option<Bytes>> {
        let Some(da) = &self.da else {
            tracing::info!(target: "rollsim_sim::rollup_node", "altda commitment ignored: no DA server configured");
            return Ok(None);
        };
        let commitment = item.slice(1..);
        if commitment.first() != Some(&KECCAK_COMMITMENT) || commitment.len() != 33 {
            tracing::info!(target: "rollsim_sim::rollup_node", %commitment, "altda commitment malformed: skipped");
            return Ok(None);
        }
        match da.get(commitment.clone()).await {
            Ok(Some(data)) => Ok(Some(data)),
            Ok(None) => {
                tracing::info!(target: "rollsim_sim::rollup_node", %commitment, "altda data missing: skipped");
                Ok(None)
            }
            Err(error) => {
                self.pending = Some(item);
                Err(PipelineError::Provider(format!("altda: {error}")).temp())
            }
        }
    }
}

#[async_trait]
impl DataAvailabilityProvider for DataSource {
    type Item = Bytes;

    async fn next(&mut self, block_ref: &BlockInfo, batcher_address: Address) -> PipelineResult<Bytes> {
        loop {
            let item = match self.pending.take() {
                Some(item) => item,
                None => self.inner.next(block_ref, batcher_address).await?,
            };
            if item.first() != Some(&ALT_DA_VERSION) {
                return Ok(item);
            }
            if let Some(data) = self.resolve(item).await? {
                return Ok(data);
            }
        }
    }

    fn clear(&mut self) {
        self.inner.clear();
        self.pending = None;
    }
}
