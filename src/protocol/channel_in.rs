//! Channel reassembly: frames in, batches out. Used by tests and the simulation's own checks; the
//! rollup node derives with kona, which stays the independent reader.

use super::{
    batch::{Batch, BatchError},
    compression::{decompress, CompressionError},
    frame::{ChannelId, Frame},
};
use std::collections::BTreeMap;
use thiserror::Error;

/// Why a frame was refused or a channel did not decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChannelInError {
    #[error("frame belongs to another channel")]
    WrongChannel,
    #[error("duplicate frame {0}")]
    DuplicateFrame(u16),
    #[error("frame {number} is past the last frame {last}")]
    PastLastFrame { number: u16, last: u16 },
    #[error("channel is missing frames")]
    NotReady,
    #[error(transparent)]
    Compression(#[from] CompressionError),
    #[error(transparent)]
    Batch(#[from] BatchError),
}

/// Frames of one channel, by number.
#[derive(Debug, Clone)]
pub struct ChannelIn {
    id: ChannelId,
    frames: BTreeMap<u16, Vec<u8>>,
    last: Option<u16>,
}

impl ChannelIn {
    pub fn new(id: ChannelId) -> Self {
        Self { id, frames: BTreeMap::new(), last: None }
    }

    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// Adds a frame, with op-node's rules: one frame per number, nothing past the last frame.
    pub fn add_frame(&mut self, frame: Frame) -> Result<(), ChannelInError> {
        if frame.id != self.id {
            return Err(ChannelInError::WrongChannel);
        }
        if self.frames.contains_key(&frame.number) {
            return Err(ChannelInError::DuplicateFrame(frame.number));
        }
        if let Some(last) = self.last {
            if frame.number > last || frame.is_last {
                return Err(ChannelInError::PastLastFrame { number: frame.number, last });
            }
        }
        if frame.is_last {
            if let Some((&highest, _)) = self.frames.last_key_value().filter(|(&n, _)| n > frame.number) {
                return Err(ChannelInError::PastLastFrame { number: highest, last: frame.number });
            }
            self.last = Some(frame.number);
        }
        self.frames.insert(frame.number, frame.data);
        Ok(())
    }

    /// Whether the last frame and every frame before it are present.
    pub fn is_ready(&self) -> bool {
        self.last.is_some_and(|last| self.frames.len() == usize::from(last) + 1)
    }

    /// The compressed channel data, once ready.
    pub fn data(&self) -> Option<Vec<u8>> {
        self.is_ready().then(|| self.frames.values().flatten().copied().collect())
    }

    /// Decompresses (at most `max_rlp_bytes`) and decodes every batch of a ready channel.
    pub fn read_batches(&self, max_rlp_bytes: usize) -> Result<Vec<Batch>, ChannelInError> {
        let data = self.data().ok_or(ChannelInError::NotReady)?;
        Ok(Batch::decode_channel(&decompress(&data, max_rlp_bytes)?)?)
    }
}
