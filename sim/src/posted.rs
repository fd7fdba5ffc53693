//! What the batcher posted, read back from the canonical L1 (and the AltDA server for
//! commitments): its frames grouped into channels, and each channel's L2 blocks. The oracles on
//! the batcher's data judge what landed on chain, not what the batcher says it sent.
//!
//! The ledger reads the chain block by block, oldest first: blocks pruned below finality as they
//! leave the chain, the rest at the end of the run. A channel keeps its frames' data only until it
//! is complete: then it is decoded once and the data dropped, so the ledger grows with the number
//! of channels, not with the bytes posted.

use crate::{da::DaStore, l1::chain::L1Block};
use alloy_primitives::{Address, B256};
use rollsim::protocol::{
    batch::Batch,
    blob::decode_blob,
    channel_in::ChannelIn,
    channel_out::FJORD_MAX_RLP_BYTES_PER_CHANNEL,
    frame::{ChannelId, Frame},
    tx_data::{parse_alt_da, parse_tx_data, AltDaCommitment, ALT_DA_VERSION},
};
use std::{
    collections::{btree_map::Entry, BTreeMap, BTreeSet},
    ops::RangeInclusive,
};

/// Where a frame landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Landing {
    pub l1_block: u64,
    pub l1_timestamp: u64,
}

/// A frame's first landing, as the ledger keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostedFrame {
    pub landing: Landing,
    pub encoded_len: u64,
    pub is_last: bool,
}

/// One channel as the canonical L1 carries it.
#[derive(Debug, Clone, Default)]
pub struct PostedChannel {
    /// The first landing of each frame number.
    pub frames: BTreeMap<u16, PostedFrame>,
    /// Frames landed again (a number already on chain), with their encoded bytes.
    pub repeats: Vec<(u64, Landing)>,
    /// The L2 blocks its batches carry, once it is complete and decodes.
    pub l2_blocks: Option<RangeInclusive<u64>>,
    /// The frames themselves, until the channel is complete and decoded.
    data: BTreeMap<u16, Frame>,
    /// Complete at some point, and decoded then. A complete channel that gets another frame
    /// number is incomplete for good (its frames outnumber its last frame's number), so nothing
    /// needs its data again.
    decoded: bool,
}

impl PostedChannel {
    /// Every frame up to the last one is on chain.
    pub fn is_complete(&self) -> bool {
        self.frames
            .iter()
            .find(|(_, frame)| frame.is_last)
            .is_some_and(|(number, _)| self.frames.len() == usize::from(*number) + 1)
    }

    /// The newest landing of its frames (first landings).
    pub fn last_landing(&self) -> Landing {
        self.frames
            .values()
            .map(|frame| frame.landing)
            .max_by_key(|l| l.l1_block)
            .expect("a posted channel has a frame")
    }

    /// The first landing of its frames.
    pub fn first_landing(&self) -> Landing {
        self.frames
            .values()
            .map(|frame| frame.landing)
            .min_by_key(|l| l.l1_block)
            .expect("a posted channel has a frame")
    }

    /// Records `frame` landing at `landing`: a first landing of its number, or a repeat. When the
    /// channel becomes complete it is decoded (`(l2_genesis_timestamp, block_time_s)` turn batch
    /// timestamps into numbers) and its data dropped.
    pub fn land(&mut self, frame: Frame, landing: Landing, timing: (u64, u64)) {
        let Entry::Vacant(slot) = self.frames.entry(frame.number) else {
            self.repeats.push((frame.encoded_len() as u64, landing));
            return;
        };
        slot.insert(PostedFrame { landing, encoded_len: frame.encoded_len() as u64, is_last: frame.is_last });
        if self.decoded {
            self.l2_blocks = None;
            return;
        }
        self.data.insert(frame.number, frame);
        if self.is_complete() {
            self.l2_blocks = read_l2_blocks(&std::mem::take(&mut self.data), timing);
            self.decoded = true;
        }
    }
}

/// Decompresses and decodes a complete channel's `frames`: the L2 blocks its batches carry (by
/// timestamp), if it decodes.
fn read_l2_blocks(
    frames: &BTreeMap<u16, Frame>,
    (l2_genesis_timestamp, block_time_s): (u64, u64),
) -> Option<RangeInclusive<u64>> {
    let mut channel = ChannelIn::new(frames.values().next()?.id);
    for frame in frames.values() {
        channel.add_frame(frame.clone()).ok()?;
    }
    let number = |timestamp: u64| timestamp.checked_sub(l2_genesis_timestamp).map(|t| t / block_time_s);
    let mut range: Option<(u64, u64)> = None;
    for batch in channel.read_batches(FJORD_MAX_RLP_BYTES_PER_CHANNEL).ok()? {
        let (first, count) = match batch {
            Batch::Singular(batch) => (number(batch.timestamp)?, 1),
            Batch::Span(span) => (span.prefix.rel_timestamp / block_time_s, span.block_count() as u64),
        };
        let Some(last) = (first + count).checked_sub(1) else { continue };
        range = Some(range.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
    }
    range.map(|(first, last)| first..=last)
}

/// Whose transactions the ledger reads, and how.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    /// The batcher's address and the batch inbox.
    pub batcher: Address,
    pub inbox: Address,
    /// The AltDA server, for frames behind a commitment: a commitment whose data the server lost
    /// carries none.
    pub da: Option<&'a DaStore>,
    /// Transactions to leave out: another sender's garbage from the batcher's address.
    pub skip: &'a BTreeSet<B256>,
    /// L2 genesis timestamp and block time: batch timestamps to block numbers.
    pub timing: (u64, u64),
}

/// Every channel of the batcher's canonical transactions to the inbox, by id.
#[derive(Debug, Clone, Default)]
pub struct PostedLedger {
    channels: BTreeMap<ChannelId, PostedChannel>,
    /// The next canonical L1 block to read.
    next_block: u64,
}

impl PostedLedger {
    /// Reads `block`, the canonical block after the last one read.
    pub fn read_block(&mut self, block: &L1Block, reader: &Reader<'_>) {
        let landing = Landing { l1_block: block.number(), l1_timestamp: block.header.timestamp };
        let ours = |tx: &&std::sync::Arc<crate::l1::tx::PoolTx>| {
            tx.sender == reader.batcher && tx.to == reader.inbox && !reader.skip.contains(&tx.hash)
        };
        for tx in block.txs.iter().filter(ours) {
            let Some(signed) = &tx.signed else { continue };
            let payloads: Vec<Vec<u8>> = match &signed.sidecar {
                Some(sidecar) => sidecar.blobs().iter().filter_map(|b| decode_blob(b).ok()).collect(),
                None => {
                    let input = alloy_consensus::Transaction::input(&signed.envelope);
                    if input.first() == Some(&ALT_DA_VERSION) {
                        match (parse_alt_da(input), reader.da) {
                            (Ok(AltDaCommitment::Keccak(hash)), Some(da)) => {
                                da.get(&hash).map(|data| vec![data.to_vec()]).unwrap_or_default()
                            }
                            _ => Vec::new(),
                        }
                    } else {
                        vec![input.to_vec()]
                    }
                }
            };
            for frame in payloads.iter().filter_map(|p| parse_tx_data(p).ok()).flatten() {
                self.channels.entry(frame.id).or_default().land(frame, landing, reader.timing);
            }
        }
        self.next_block = block.number() + 1;
    }

    /// The number of the next block to read.
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    /// The channels read so far.
    pub fn channels(&self) -> &BTreeMap<ChannelId, PostedChannel> {
        &self.channels
    }
}
