//! Random L2 blocks as the sequencer makes them: an L1-info deposit first, then user transactions of
//! every type span batches carry.

use alloy_consensus::{
    Block, BlockBody, Header, SignableTransaction, TxEip1559, TxEip2930, TxEip7702, TxLegacy,
};
use alloy_eips::{
    eip2930::{AccessList, AccessListItem},
    eip7702::{Authorization, SignedAuthorization},
};
use alloy_primitives::{Address, Bytes, Sealed, Signature, TxKind, B256, U256};
use kona_protocol::{L1BlockInfoEcotone, L1BlockInfoTx};
use op_alloy_consensus::{OpBlock, OpTxEnvelope, TxDeposit};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rollsim::protocol::{
    batch::BatchType,
    channel_out::{ChannelOut, ChannelOutConfig, ChannelOutError, FJORD_MAX_RLP_BYTES_PER_CHANNEL},
    compression::CompressionAlgo,
    compressor::CompressorKind,
    frame::Frame,
};

pub const CHAIN_ID: u64 = 901;
pub const GENESIS_TIME: u64 = 1_000;
pub const BLOCK_TIME: u64 = 2;

/// Shape of the generated chain.
#[derive(Debug, Clone, Copy)]
pub struct ChainShape {
    pub blocks: usize,
    pub max_txs: usize,
    pub max_data_bytes: usize,
}

fn signature(rng: &mut impl RngCore) -> Signature {
    Signature::new(
        U256::from_be_bytes(rng.gen::<[u8; 32]>()),
        U256::from_be_bytes(rng.gen::<[u8; 32]>()),
        rng.gen(),
    )
}

/// Calldata that compresses like real contract calls: a selector, padded words, some noise.
fn calldata(rng: &mut impl RngCore, max_bytes: usize) -> Bytes {
    let len = rng.gen_range(0..=max_bytes);
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        match rng.gen_range(0..3) {
            0 => data.extend_from_slice(&[0xa9, 0x05, 0x9c, 0xbb]),
            1 => data.extend_from_slice(&[0u8; 12]),
            _ => data.extend((0..8).map(|_| rng.gen::<u8>())),
        }
    }
    data.truncate(len);
    data.into()
}

/// A random signed user transaction of a random span-batch type.
pub fn user_tx(rng: &mut impl RngCore, max_data_bytes: usize) -> OpTxEnvelope {
    let senders_to: Address = Address::with_last_byte(rng.gen_range(0..16));
    let to = if rng.gen_ratio(1, 10) { TxKind::Create } else { TxKind::Call(senders_to) };
    let nonce = rng.gen_range(0..100_000);
    let gas_limit = rng.gen_range(21_000..3_000_000);
    let value = U256::from(rng.gen::<u64>() >> rng.gen_range(0..64));
    let input = calldata(rng, max_data_bytes);
    let fee = rng.gen_range(1..1_000_000_000_000u128);
    let access_list = if rng.gen_ratio(1, 4) {
        AccessList(vec![AccessListItem {
            address: senders_to,
            storage_keys: vec![B256::with_last_byte(rng.gen())],
        }])
    } else {
        AccessList::default()
    };
    let sig = signature(rng);
    match rng.gen_range(0..5) {
        0 | 1 => {
            let chain_id = rng.gen_ratio(3, 4).then_some(CHAIN_ID);
            OpTxEnvelope::Legacy(
                TxLegacy { chain_id, nonce, gas_price: fee, gas_limit, to, value, input }.into_signed(sig),
            )
        }
        2 => OpTxEnvelope::Eip2930(
            TxEip2930 { chain_id: CHAIN_ID, nonce, gas_price: fee, gas_limit, to, value, input, access_list }
                .into_signed(sig),
        ),
        3 => OpTxEnvelope::Eip1559(
            TxEip1559 {
                chain_id: CHAIN_ID,
                nonce,
                gas_limit,
                max_fee_per_gas: fee,
                max_priority_fee_per_gas: fee / 3,
                to,
                value,
                access_list,
                input,
            }
            .into_signed(sig),
        ),
        _ => {
            let auth = Authorization {
                chain_id: U256::from(CHAIN_ID),
                address: senders_to,
                nonce: rng.gen_range(0..10),
            };
            let auth_sig = signature(rng);
            OpTxEnvelope::Eip7702(
                TxEip7702 {
                    chain_id: CHAIN_ID,
                    nonce,
                    gas_limit,
                    max_fee_per_gas: fee,
                    max_priority_fee_per_gas: fee / 3,
                    to: senders_to,
                    value,
                    access_list,
                    authorization_list: vec![SignedAuthorization::new_unchecked(
                        auth,
                        u8::from(auth_sig.v()),
                        auth_sig.r(),
                        auth_sig.s(),
                    )],
                    input,
                }
                .into_signed(sig),
            )
        }
    }
}

/// The L1-info deposit as kona encodes it (Ecotone layout).
pub fn l1_info_deposit(number: u64, hash: B256, time: u64, sequence_number: u64) -> OpTxEnvelope {
    let info = L1BlockInfoTx::Ecotone(L1BlockInfoEcotone {
        number,
        time,
        block_hash: hash,
        sequence_number,
        ..Default::default()
    });
    let deposit = TxDeposit {
        source_hash: B256::with_last_byte(1),
        from: Address::with_last_byte(0xde),
        to: TxKind::Call(Address::with_last_byte(0x15)),
        gas_limit: 1_000_000,
        is_system_transaction: false,
        input: info.encode_calldata(),
        ..Default::default()
    };
    OpTxEnvelope::Deposit(Sealed::new_unchecked(deposit, B256::ZERO))
}

/// A chain of blocks from genesis: each block's epoch advances by 0 or 1.
pub fn chain(seed: u64, shape: ChainShape) -> Vec<OpBlock> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut epoch = rng.gen_range(0..1000u64);
    let mut epoch_hash = B256::from(rng.gen::<[u8; 32]>());
    let mut seq = rng.gen_range(0..3);
    let mut parent = B256::from(rng.gen::<[u8; 32]>());
    let first_number = rng.gen_range(1..1_000_000u64);
    (0..shape.blocks)
        .map(|i| {
            if i > 0 && rng.gen_ratio(1, 3) {
                epoch += 1;
                epoch_hash = B256::from(rng.gen::<[u8; 32]>());
                seq = 0;
            } else if i > 0 {
                seq += 1;
            }
            let timestamp = GENESIS_TIME + BLOCK_TIME * (first_number + i as u64);
            let mut transactions = vec![l1_info_deposit(epoch, epoch_hash, timestamp - 1, seq)];
            let txs = rng.gen_range(0..=shape.max_txs);
            transactions.extend((0..txs).map(|_| user_tx(&mut rng, shape.max_data_bytes)));
            let header = Header {
                parent_hash: parent,
                number: first_number + i as u64,
                timestamp,
                ..Default::default()
            };
            parent = B256::from(rng.gen::<[u8; 32]>());
            Block { header, body: BlockBody { transactions, ommers: vec![], withdrawals: None } }
        })
        .collect()
}

pub fn config(
    batch_type: BatchType,
    algo: CompressionAlgo,
    compressor: CompressorKind,
    max_frame_size: usize,
    target_num_frames: usize,
) -> ChannelOutConfig {
    ChannelOutConfig {
        max_frame_size,
        target_num_frames,
        compressor,
        algo,
        approx_compr_ratio: 0.6,
        batch_type,
        max_blocks_per_span_batch: 0,
        max_rlp_bytes_per_channel: FJORD_MAX_RLP_BYTES_PER_CHANNEL,
        chain_id: CHAIN_ID,
        genesis_timestamp: GENESIS_TIME,
    }
}

/// Builds one channel from the front of `blocks`: adds until full, closes, cuts every frame.
/// Returns the number of blocks accepted and the frames.
pub fn build_channel(cfg: &ChannelOutConfig, blocks: &[OpBlock], seed: u64) -> (usize, Vec<Frame>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut channel = ChannelOut::new(cfg, &mut rng).expect("valid config");
    for block in blocks {
        match channel.add_block(block) {
            Ok(_) => {}
            Err(ChannelOutError::Full(_)) => break,
            Err(e) => panic!("add_block: {e}"),
        }
        if channel.full_reason().is_some() {
            break;
        }
    }
    let accepted = channel.block_count();
    channel.close().expect("close");
    let mut frames = Vec::new();
    loop {
        let (frame, last) = channel.output_frame(cfg.max_frame_size).expect("frame");
        assert!(frame.encoded_len() <= cfg.max_frame_size);
        frames.push(frame);
        if last {
            return (accepted, frames);
        }
    }
}
