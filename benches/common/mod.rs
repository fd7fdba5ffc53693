//! Blocks the protocol benches compress: what the sequencer's blocks look like to a channel.

use alloy_consensus::{Block, BlockBody, Header, SignableTransaction, TxEip1559};
use alloy_primitives::{Address, Bytes, Sealed, Signature, TxKind, B256, U256};
use op_alloy_consensus::{OpBlock, OpTxEnvelope, TxDeposit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `count` blocks from seed 1, each an L1-info deposit then `txs_per_block` EIP-1559 transactions
/// whose calldata `input` draws and whose recipient `to` draws, with random nonces, fees and
/// values and an incompressible signature.
pub fn blocks(
    count: u64,
    txs_per_block: usize,
    mut input: impl FnMut(&mut ChaCha8Rng) -> Bytes,
    mut to: impl FnMut(&mut ChaCha8Rng) -> Address,
) -> Vec<OpBlock> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..count)
        .map(|n| {
            // The L1-info deposit: a selector, then the origin's number and hash at their offsets.
            let mut calldata = vec![0u8; 164];
            calldata[..4].copy_from_slice(&[0x44, 0x0a, 0x5e, 0x20]);
            calldata[28..36].copy_from_slice(&(n / 6).to_be_bytes());
            calldata[100..132].copy_from_slice(&[(n / 6) as u8; 32]);
            let deposit = TxDeposit { input: calldata.into(), ..Default::default() };
            let mut txs = vec![OpTxEnvelope::Deposit(Sealed::new_unchecked(deposit, B256::ZERO))];
            for _ in 0..txs_per_block {
                let input = input(&mut rng);
                let tx = TxEip1559 {
                    chain_id: 901,
                    nonce: rng.gen_range(0..10_000),
                    gas_limit: 21_000 + 16 * input.len() as u64,
                    max_fee_per_gas: 1_000_000_000 + rng.gen_range(0..1_000),
                    max_priority_fee_per_gas: 1_000_000,
                    to: TxKind::Call(to(&mut rng)),
                    value: U256::from(rng.gen::<u64>()),
                    access_list: Default::default(),
                    input,
                };
                let sig = Signature::new(
                    U256::from_be_bytes(rng.gen::<[u8; 32]>()),
                    U256::from_be_bytes(rng.gen::<[u8; 32]>()),
                    rng.gen(),
                );
                txs.push(OpTxEnvelope::Eip1559(tx.into_signed(sig)));
            }
            let header = Header { number: n, timestamp: 1_000 + 2 * n, ..Default::default() };
            Block { header, body: BlockBody { transactions: txs, ommers: vec![], withdrawals: None } }
        })
        .collect()
}
