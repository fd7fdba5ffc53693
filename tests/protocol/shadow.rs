//! The shadow compressor against the implementation it replaced, kept here as the reference: two
//! streams from the start, every write compressed into both, zlib-rs through flate2. The new one
//! compresses once until the first flush and forks the shadow there (zlib), so it must decide,
//! produce and hand out exactly the same bytes.

use crate::{
    common::{chain, ChainShape},
    oracle::kona_reads_channel,
};
use flate2::{Compress, Compression, FlushCompress, Status};
use op_alloy_consensus::OpBlock;
use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rollsim::protocol::{
    batch::{singular_channel_entry, SingularBatch},
    compression::{CompressionAlgo, CHANNEL_VERSION_BROTLI, ZLIB_LEVEL},
    compressor::{Compressor, CompressorConfig, CompressorError, CompressorKind},
    frame::Frame,
};
use std::io::Write;

/// Seeded cases: channels of random blocks under one algorithm and target each.
const CASES: u64 = 300;
/// The reference's constants, as in op-batcher's shadow compressor.
const SAFE_COMPRESSION_OVERHEAD_BYTES: usize = 51;
const CLOSE_OVERHEAD_ZLIB_BYTES: usize = 9;
/// The brotli writer's settings in `ChannelCompressor`.
const BROTLI_BUFFER_BYTES: usize = 4096;
const BROTLI_LGWIN: u32 = 22;
/// The zlib write loop's output room, as in `ChannelCompressor`.
const ZLIB_FLUSH_ROOM_BYTES: usize = 128 * 1024;
const ZLIB_WRITE_SLACK_BYTES: usize = 4 * 1024;

/// A channel stream as `ChannelCompressor` wrote it before the fork existed.
enum RefEngine {
    Zlib { state: Box<Compress>, out: Vec<u8>, closed: bool },
    Brotli { writer: Option<Box<brotli::CompressorWriter<Vec<u8>>>>, finished: Vec<u8> },
}

struct RefStream {
    engine: RefEngine,
    read_bytes: usize,
}

impl RefStream {
    fn new(algo: CompressionAlgo) -> Self {
        let engine = match algo.brotli_level() {
            None => RefEngine::Zlib {
                state: Box::new(Compress::new(Compression::new(u32::from(ZLIB_LEVEL)), true)),
                out: Vec::new(),
                closed: false,
            },
            Some(level) => RefEngine::Brotli {
                writer: Some(Box::new(brotli::CompressorWriter::new(
                    vec![CHANNEL_VERSION_BROTLI],
                    BROTLI_BUFFER_BYTES,
                    level,
                    BROTLI_LGWIN,
                ))),
                finished: Vec::new(),
            },
        };
        Self { engine, read_bytes: 0 }
    }

    fn output(&self) -> &[u8] {
        match &self.engine {
            RefEngine::Zlib { out, .. } => out,
            RefEngine::Brotli { writer: Some(w), .. } => w.get_ref(),
            RefEngine::Brotli { writer: None, finished } => finished,
        }
    }

    fn len(&self) -> usize {
        self.output().len() - self.read_bytes
    }

    fn write(&mut self, data: &[u8]) {
        match &mut self.engine {
            RefEngine::Zlib { state, out, closed: false } => deflate(state, out, data, FlushCompress::None),
            RefEngine::Brotli { writer: Some(w), .. } => w.write_all(data).expect("brotli write"),
            _ => panic!("the reference writes after close"),
        }
    }

    fn flush(&mut self) {
        match &mut self.engine {
            RefEngine::Zlib { state, out, closed: false } => deflate(state, out, &[], FlushCompress::Sync),
            RefEngine::Brotli { writer: Some(w), .. } => w.flush().expect("brotli flush"),
            _ => {}
        }
    }

    fn close(&mut self) {
        match &mut self.engine {
            RefEngine::Zlib { state, out, closed } if !*closed => {
                *closed = true;
                deflate(state, out, &[], FlushCompress::Finish);
            }
            RefEngine::Brotli { writer, finished } => {
                if let Some(w) = writer.take() {
                    *finished = w.into_inner();
                }
            }
            RefEngine::Zlib { .. } => {}
        }
    }

    fn read_into(&mut self, max_bytes: usize, dst: &mut Vec<u8>) -> usize {
        let start = self.read_bytes;
        let n = max_bytes.min(self.len());
        dst.extend_from_slice(&self.output()[start..start + n]);
        self.read_bytes += n;
        n
    }
}

/// The write loop `ChannelCompressor` ran over flate2.
fn deflate(state: &mut Compress, out: &mut Vec<u8>, mut input: &[u8], flush: FlushCompress) {
    loop {
        let room = match flush {
            FlushCompress::None => input.len() + ZLIB_WRITE_SLACK_BYTES,
            _ => input.len() + ZLIB_FLUSH_ROOM_BYTES,
        };
        out.reserve(room);
        let (before_in, before_out) = (state.total_in(), out.len());
        let status = state.compress_vec(input, out, flush).expect("deflate");
        let consumed = usize::try_from(state.total_in() - before_in).expect("bounded by the input");
        let produced = out.len() - before_out;
        input = &input[consumed..];
        match status {
            Status::StreamEnd => return,
            _ if input.is_empty() && (out.len() < out.capacity() || produced == 0) => return,
            Status::BufError if consumed == 0 && produced == 0 => panic!("deflate made no progress"),
            Status::Ok | Status::BufError => {}
        }
    }
}

/// op-batcher's shadow compressor with two streams throughout.
struct RefShadow {
    target_output_bytes: usize,
    real: RefStream,
    shadow: RefStream,
    full: bool,
    bound_bytes: usize,
    input_bytes: usize,
    /// Measuring flushes of the shadow in this channel.
    measures: usize,
}

impl RefShadow {
    fn new(target_output_bytes: usize, algo: CompressionAlgo) -> Self {
        Self {
            target_output_bytes,
            real: RefStream::new(algo),
            shadow: RefStream::new(algo),
            full: false,
            bound_bytes: SAFE_COMPRESSION_OVERHEAD_BYTES,
            input_bytes: 0,
            measures: 0,
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), CompressorError> {
        if self.full {
            return Err(CompressorError::Full);
        }
        self.shadow.write(data);
        let mut bound = self.bound_bytes + data.len();
        if bound > self.target_output_bytes {
            self.shadow.flush();
            self.measures += 1;
            bound = self.shadow.len() + CLOSE_OVERHEAD_ZLIB_BYTES;
            if bound > self.target_output_bytes {
                self.full = true;
                if self.input_bytes > 0 {
                    return Err(CompressorError::Full);
                }
            }
        }
        self.bound_bytes = bound;
        self.input_bytes += data.len();
        self.real.write(data);
        Ok(())
    }
}

/// One case's algorithm and target: zlib mostly, its targets from tiny (a measuring flush at
/// almost every write) to three blobs; brotli (its own shadow from the start) smaller, 10 and 11
/// rarely and tiny: they are slow.
fn case_settings(rng: &mut ChaCha8Rng) -> (CompressionAlgo, usize) {
    let tiny_bytes = rng.gen_range(1..2_000);
    match rng.gen_range(0..60) {
        0..=5 => {
            (CompressionAlgo::Brotli9, *[tiny_bytes, rng.gen_range(2_000..15_000)].choose(rng).expect("two"))
        }
        6 => (CompressionAlgo::Brotli10, tiny_bytes),
        7 => (CompressionAlgo::Brotli11, tiny_bytes),
        8..=23 => (CompressionAlgo::Zlib, tiny_bytes),
        24..=39 => (CompressionAlgo::Zlib, rng.gen_range(2_000..20_000)),
        40..=58 => (CompressionAlgo::Zlib, rng.gen_range(20_000..80_000)),
        _ => (CompressionAlgo::Zlib, 3 * 130_020),
    }
}

/// Blocks of varied compressibility, shuffled: nearly empty ones, light ones and, for zlib, heavy
/// calldata ones.
fn case_blocks(case: u64, rng: &mut ChaCha8Rng, algo: CompressionAlgo, target_bytes: usize) -> Vec<OpBlock> {
    let shapes: &[(usize, usize)] = if algo == CompressionAlgo::Zlib {
        &[(2, 200), (10, 1_000), (25, 3_000)]
    } else {
        &[(2, 200), (10, 1_000)]
    };
    let per_shape = 8 + target_bytes / 6_000;
    let mut blocks: Vec<OpBlock> = shapes
        .iter()
        .enumerate()
        .flat_map(|(i, &(max_txs, max_data_bytes))| {
            chain(3 * case + i as u64, ChainShape { blocks: per_shape, max_txs, max_data_bytes })
        })
        .collect();
    blocks.shuffle(rng);
    blocks
}

/// After every write, read and flush: the same decision, `len`, fullness and bytes read as the
/// reference; after close the same channel bytes, which kona reads back as the accepted blocks.
/// The same compressor serves the case's channels, reset in between. Channels are filled with
/// singular channel entries (blocks), frames read at random points, and now and then a channel
/// flush of the real stream (before the first measuring flush it forks the shadow too).
#[test]
fn shadow_compressor_equals_the_two_stream_reference() {
    // What the cases exercised: zlib forks at a measuring flush after frames were read, and at a
    // channel flush; channels measured more than once.
    let (mut forks_after_reads, mut forks_at_channel_flush, mut multi_measure_channels) = (0, 0, 0);
    for case in 0..CASES {
        let mut rng = ChaCha8Rng::seed_from_u64(case);
        let (algo, target_bytes) = case_settings(&mut rng);
        let blocks = case_blocks(case, &mut rng, algo, target_bytes);
        let cfg = CompressorConfig {
            target_output_bytes: target_bytes,
            approx_compr_ratio: 0.6,
            kind: CompressorKind::Shadow,
            algo,
        };
        let mut ours = Compressor::new(&cfg);
        let mut remaining = blocks.as_slice();
        for channel in 0..rng.gen_range(1..=3) {
            if channel > 0 {
                ours.reset();
            }
            let mut reference = RefShadow::new(target_bytes, algo);
            let (mut ours_out, mut ref_out) = (Vec::new(), Vec::new());
            let (mut accepted, mut flushed) = (0, false);
            for (i, block) in remaining.iter().enumerate() {
                let at = format!("case {case} ({algo}, target {target_bytes}) channel {channel} write {i}");
                let entry = singular_channel_entry(&SingularBatch::from_block(block).expect("block").0);
                let (measures_before, read_before) = (reference.measures, ref_out.len());
                let result = ours.write(&entry);
                assert_eq!(result, reference.write(&entry), "{at}");
                assert_eq!((ours.is_full(), ours.len()), (reference.full, reference.real.len()), "{at}");
                let forked = measures_before == 0 && reference.measures == 1 && !flushed;
                if algo == CompressionAlgo::Zlib && forked && read_before > 0 {
                    forks_after_reads += 1;
                }
                if result.is_ok() {
                    accepted += 1;
                }
                if rng.gen_ratio(1, 3) {
                    let max_bytes = rng.gen_range(0..=ours.len() + 10);
                    let n = ours.read_into(max_bytes, &mut ours_out);
                    assert_eq!(n, reference.real.read_into(max_bytes, &mut ref_out), "{at}");
                    assert_eq!(ours_out, ref_out, "{at}");
                }
                if rng.gen_ratio(1, 25) {
                    ours.flush().expect("flush");
                    reference.real.flush();
                    if algo == CompressionAlgo::Zlib && reference.measures == 0 && !flushed {
                        forks_at_channel_flush += 1;
                    }
                    flushed = true;
                    assert_eq!(ours.len(), reference.real.len(), "{at}: after a flush");
                }
                if ours.is_full() {
                    break;
                }
            }
            ours.close().expect("close");
            reference.real.close();
            ours.read_into(usize::MAX, &mut ours_out);
            reference.real.read_into(usize::MAX, &mut ref_out);
            let at = format!("case {case} ({algo}, target {target_bytes}) channel {channel}");
            assert_eq!(ours_out, ref_out, "{at}: channel bytes");
            if reference.measures > 1 {
                multi_measure_channels += 1;
            }

            let frame_bytes = rng.gen_range(1_000..=130_000);
            let chunks: Vec<&[u8]> = ours_out.chunks(frame_bytes).collect();
            let frames: Vec<Frame> = chunks
                .iter()
                .enumerate()
                .map(|(n, data)| Frame {
                    id: [case as u8; 16],
                    number: n as u16,
                    data: data.to_vec(),
                    is_last: n + 1 == chunks.len(),
                })
                .collect();
            assert_eq!(kona_reads_channel(&frames, &remaining[..accepted]), Ok(()), "{at}");
            remaining = &remaining[accepted..];
        }
    }
    println!(
        "zlib forks after frames were read: {forks_after_reads}, at a channel flush: \
         {forks_at_channel_flush}; channels measured more than once: {multi_measure_channels}"
    );
    assert!(forks_after_reads >= 20 && forks_at_channel_flush >= 20 && multi_measure_channels >= 100);
}
