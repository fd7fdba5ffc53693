//! What the batcher posted, read back from the canonical L1 (and the AltDA server for
//! commitments): its frames grouped into channels, and each channel's L2 blocks. The oracles on
//! the batcher's data judge what landed on chain, not what the batcher says it sent.

use crate::{da::DaStore, l1::chain::L1Chain};
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

/// One channel as the canonical L1 carries it.
#[derive(Debug, Clone, Default)]
pub struct PostedChannel {
    /// The first landing of each frame number, with the frame.
    pub frames: BTreeMap<u16, (Frame, Landing)>,
    /// Frames landed again (a number already on chain), with their encoded bytes.
    pub repeats: Vec<(u64, Landing)>,
    /// The L2 blocks its batches carry, once it is complete and decodes: decoded once, by
    /// [`read`].
    pub l2_blocks: Option<RangeInclusive<u64>>,
}

impl PostedChannel {
    /// Every frame up to the last one is on chain.
    pub fn is_complete(&self) -> bool {
        self.frames
            .values()
            .find(|(frame, _)| frame.is_last)
            .is_some_and(|(last, _)| self.frames.len() == usize::from(last.number) + 1)
    }

    /// The newest landing of its frames (first landings).
    pub fn last_landing(&self) -> Landing {
        self.frames
            .values()
            .map(|(_, landing)| *landing)
            .max_by_key(|l| l.l1_block)
            .expect("a posted channel has a frame")
    }

    /// The first landing of its frames.
    pub fn first_landing(&self) -> Landing {
        self.frames
            .values()
            .map(|(_, landing)| *landing)
            .min_by_key(|l| l.l1_block)
            .expect("a posted channel has a frame")
    }

    /// Decompresses and decodes the channel: the L2 blocks its batches carry (by timestamp), if it
    /// is complete and decodes.
    pub fn read_l2_blocks(
        &self,
        l2_genesis_timestamp: u64,
        block_time_s: u64,
    ) -> Option<RangeInclusive<u64>> {
        if !self.is_complete() {
            return None;
        }
        let mut channel = ChannelIn::new(self.frames.values().next()?.0.id);
        for (frame, _) in self.frames.values() {
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
}

/// Every channel of `batcher`'s canonical transactions to `inbox`, by id, but transactions in
/// `skip` (another sender's garbage from the batcher's address), each complete one decoded to its
/// L2 blocks (`(l2_genesis_timestamp, block_time_s)` turn batch timestamps into numbers). Frames
/// behind an AltDA commitment are read from `da`; a commitment whose data the server lost
/// carries none.
pub fn read(
    chain: &L1Chain,
    (batcher, inbox): (Address, Address),
    da: Option<&DaStore>,
    skip: &BTreeSet<B256>,
    (l2_genesis_timestamp, block_time_s): (u64, u64),
) -> BTreeMap<ChannelId, PostedChannel> {
    let mut channels: BTreeMap<ChannelId, PostedChannel> = BTreeMap::new();
    for block in chain.canonical() {
        let landing = Landing { l1_block: block.number(), l1_timestamp: block.header.timestamp };
        for tx in
            block.txs.iter().filter(|tx| tx.sender == batcher && tx.to == inbox && !skip.contains(&tx.hash))
        {
            let Some(signed) = &tx.signed else { continue };
            let payloads: Vec<Vec<u8>> = match &signed.sidecar {
                Some(sidecar) => sidecar.blobs().iter().filter_map(|b| decode_blob(b).ok()).collect(),
                None => {
                    let input = alloy_consensus::Transaction::input(&signed.envelope);
                    if input.first() == Some(&ALT_DA_VERSION) {
                        match (parse_alt_da(input), da) {
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
                let channel = channels.entry(frame.id).or_default();
                match channel.frames.entry(frame.number) {
                    Entry::Occupied(_) => channel.repeats.push((frame.encoded_len() as u64, landing)),
                    Entry::Vacant(slot) => {
                        slot.insert((frame, landing));
                    }
                }
            }
        }
    }
    for channel in channels.values_mut() {
        channel.l2_blocks = channel.read_l2_blocks(l2_genesis_timestamp, block_time_s);
    }
    channels
}
