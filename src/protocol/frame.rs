//! Frames: the unit in which a channel's compressed bytes travel in batcher transactions.
//!
//! `channel_id[16] ++ frame_number u16 BE ++ frame_data_length u32 BE ++ frame_data ++ is_last u8`.
//! The rollup node drops a whole batcher transaction when any frame in it is malformed, so the
//! decoder checks every rule rather than reading what it can.

use thiserror::Error;

/// A channel's random identifier.
pub type ChannelId = [u8; 16];

/// Bytes a frame adds around its data: id 16, number 2, length 4, is_last 1.
pub const FRAME_OVERHEAD: usize = 23;

/// The largest `frame_data_length` the derivation accepts.
pub const MAX_FRAME_LEN: usize = 1_000_000;

/// One frame of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub id: ChannelId,
    pub number: u16,
    pub data: Vec<u8>,
    pub is_last: bool,
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("frame truncated")]
    Truncated,
    #[error("frame data length {len} exceeds {MAX_FRAME_LEN}")]
    TooLong { len: usize },
    #[error("is_last byte {0} is neither 0 nor 1")]
    BadIsLast(u8),
    #[error("bytes left after the last frame")]
    TrailingBytes,
    #[error("no frames")]
    NoFrames,
}

impl Frame {
    /// Length of the encoding in bytes.
    pub fn encoded_len(&self) -> usize {
        FRAME_OVERHEAD + self.data.len()
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&self.number.to_be_bytes());
        // Frames we build are at most a blob's worth; the length field is 32 bits by definition.
        out.extend_from_slice(&(self.data.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.data);
        out.push(u8::from(self.is_last));
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Decodes one frame from the start of `data`; returns it and the bytes consumed.
    pub fn decode(data: &[u8]) -> Result<(Frame, usize), FrameError> {
        let header = data.get(..22).ok_or(FrameError::Truncated)?;
        let mut id = [0u8; 16];
        id.copy_from_slice(&header[..16]);
        let number = u16::from_be_bytes([header[16], header[17]]);
        let len = u32::from_be_bytes([header[18], header[19], header[20], header[21]]) as usize;
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLong { len });
        }
        let body = data.get(22..22 + len + 1).ok_or(FrameError::Truncated)?;
        let is_last = match body[len] {
            0 => false,
            1 => true,
            b => return Err(FrameError::BadIsLast(b)),
        };
        let frame = Frame { id, number, data: body[..len].to_vec(), is_last };
        Ok((frame, FRAME_OVERHEAD + len))
    }
}

/// Decodes a non-empty sequence of frames that covers `data` exactly.
pub fn parse_frames(mut data: &[u8]) -> Result<Vec<Frame>, FrameError> {
    if data.is_empty() {
        return Err(FrameError::NoFrames);
    }
    let mut frames = Vec::new();
    while !data.is_empty() {
        let (frame, used) = Frame::decode(data).map_err(|e| match e {
            // A partial frame after at least one whole one is leftover bytes, as op-node reports it.
            FrameError::Truncated if !frames.is_empty() => FrameError::TrailingBytes,
            e => e,
        })?;
        frames.push(frame);
        data = &data[used..];
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_each_malformation() {
        let frame = Frame { id: [7; 16], number: 3, data: vec![1, 2, 3], is_last: true };
        let enc = frame.encode();
        assert_eq!(parse_frames(&enc), Ok(vec![frame.clone()]));
        assert_eq!(parse_frames(&[]), Err(FrameError::NoFrames));
        assert_eq!(Frame::decode(&enc[..enc.len() - 1]), Err(FrameError::Truncated));
        let mut bad = enc.clone();
        *bad.last_mut().unwrap() = 2;
        assert_eq!(Frame::decode(&bad), Err(FrameError::BadIsLast(2)));
        let mut long = enc.clone();
        long[18..22].copy_from_slice(&(MAX_FRAME_LEN as u32 + 1).to_be_bytes());
        assert_eq!(Frame::decode(&long), Err(FrameError::TooLong { len: MAX_FRAME_LEN + 1 }));
        let mut trailing = enc.clone();
        trailing.push(0);
        assert_eq!(parse_frames(&trailing), Err(FrameError::TrailingBytes));
    }
}
