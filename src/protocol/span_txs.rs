//! The transactions of a span batch, stored column-wise so that similar fields compress together.
//!
//! `contract_creation_bits ++ y_parity_bits ++ sigs (r, s) ++ tos ++ datas ++ nonces ++ gases ++
//! protected_bits`. Bit lists are big-endian integers padded to whole bytes (bit i of the integer is
//! element i). A tx's `data` column entry is its type byte (none for legacy) and an RLP list of the
//! fields not stored elsewhere: value, fees, input, access list, authorizations. The chain id is the
//! rollup's; legacy transactions record whether they were EIP-155 protected.

use super::span_batch::SpanBatchError;
use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEip7702, TxEnvelope, TxLegacy};
use alloy_eips::{
    eip2718::Decodable2718, eip2718::Encodable2718, eip2930::AccessList, eip7702::SignedAuthorization,
};
use alloy_primitives::{Address, Bytes, Signature, TxKind, U256};
use alloy_rlp::{Decodable, Encodable, Header};

const TX_TYPE_EIP2930: u8 = 1;
const TX_TYPE_EIP1559: u8 = 2;
const TX_TYPE_EIP7702: u8 = 4;

/// The transaction columns of a span batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpanTxs {
    pub contract_creation_bits: Vec<bool>,
    pub y_parity_bits: Vec<bool>,
    /// `(r, s)` of each signature.
    pub sigs: Vec<(U256, U256)>,
    /// Recipients of the non-creation transactions.
    pub tos: Vec<Address>,
    pub datas: Vec<Vec<u8>>,
    pub nonces: Vec<u64>,
    pub gases: Vec<u64>,
    /// One bit per legacy transaction: EIP-155 protected.
    pub protected_bits: Vec<bool>,
}

/// Column lengths at some point; see [`SpanTxs::mark`].
#[derive(Debug, Clone, Copy)]
pub struct SpanTxsMark {
    txs: usize,
    tos: usize,
    legacy: usize,
}

/// Appends a fixed-width bit list: `ceil(len / 8)` bytes, big-endian, element i at integer bit i.
pub fn write_bits(bits: &[bool], out: &mut Vec<u8>) {
    let len = bits.len().div_ceil(8);
    let start = out.len();
    out.resize(start + len, 0);
    for (i, _) in bits.iter().enumerate().filter(|(_, &b)| b) {
        out[start + len - 1 - i / 8] |= 1 << (i % 8);
    }
}

/// Reads a bit list of `count` elements.
pub fn read_bits(r: &mut &[u8], count: usize, field: &'static str) -> Result<Vec<bool>, SpanBatchError> {
    let len = count.div_ceil(8);
    let bytes = take(r, len, field)?;
    // Bits above `count` in the padded top byte must be zero, as the integer must fit `count` bits.
    if !count.is_multiple_of(8) && bytes[0] >> (count % 8) != 0 {
        return Err(SpanBatchError::BitlistTooLong(field));
    }
    Ok((0..count).map(|i| bytes[len - 1 - i / 8] & (1 << (i % 8)) != 0).collect())
}

/// Splits `n` bytes off the front of `r`.
pub(crate) fn take<'a>(r: &mut &'a [u8], n: usize, field: &'static str) -> Result<&'a [u8], SpanBatchError> {
    if r.len() < n {
        return Err(SpanBatchError::Truncated(field));
    }
    let (head, tail) = r.split_at(n);
    *r = tail;
    Ok(head)
}

/// Appends `v` as a Go `binary.PutUvarint`.
pub fn write_uvarint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a uvarint as Go's `binary.ReadUvarint` (at most 10 bytes, no overflow).
pub fn read_uvarint(r: &mut &[u8], field: &'static str) -> Result<u64, SpanBatchError> {
    let mut v = 0u64;
    for i in 0..10 {
        let &b = r.get(i).ok_or(SpanBatchError::Truncated(field))?;
        if i == 9 && b > 1 {
            return Err(SpanBatchError::BadUvarint(field));
        }
        v |= u64::from(b & 0x7F) << (7 * i);
        if b < 0x80 {
            *r = &r[i + 1..];
            return Ok(v);
        }
    }
    Err(SpanBatchError::BadUvarint(field))
}

fn rlp_list(fields: &[&dyn Encodable], out: &mut Vec<u8>) {
    let payload_length = fields.iter().map(|f| f.length()).sum();
    Header { list: true, payload_length }.encode(out);
    for f in fields {
        f.encode(out);
    }
}

impl SpanTxs {
    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.datas.len()
    }

    /// Whether there are no transactions.
    pub fn is_empty(&self) -> bool {
        self.datas.is_empty()
    }

    /// Column lengths, to undo later additions with [`SpanTxs::truncate`].
    pub fn mark(&self) -> SpanTxsMark {
        SpanTxsMark { txs: self.len(), tos: self.tos.len(), legacy: self.protected_bits.len() }
    }

    /// Drops the transactions added after `mark` was taken.
    pub fn truncate(&mut self, mark: SpanTxsMark) {
        for bits in [&mut self.contract_creation_bits, &mut self.y_parity_bits] {
            bits.truncate(mark.txs);
        }
        self.sigs.truncate(mark.txs);
        self.datas.truncate(mark.txs);
        self.nonces.truncate(mark.txs);
        self.gases.truncate(mark.txs);
        self.tos.truncate(mark.tos);
        self.protected_bits.truncate(mark.legacy);
    }

    /// Adds one EIP-2718-encoded transaction; the columns are unchanged on error.
    pub fn add_tx(&mut self, raw: &[u8], chain_id: u64) -> Result<(), SpanBatchError> {
        let tx = TxEnvelope::decode_2718(&mut &raw[..]).map_err(|_| SpanBatchError::UndecodableTx)?;
        let mut data = Vec::new();
        let (sig, to, nonce, gas, tx_chain_id, protected) = match &tx {
            TxEnvelope::Legacy(s) => {
                let t = s.tx();
                rlp_list(&[&t.value, &t.gas_price, &t.input], &mut data);
                let protected = t.chain_id.is_some();
                // op-node before 8458 took every legacy transaction as EIP-155 protected.
                #[cfg(feature = "planted-bugs")]
                let protected = protected || crate::planted::active("span-legacy-always-protected");
                (s.signature(), t.to.to().copied(), t.nonce, t.gas_limit, t.chain_id, Some(protected))
            }
            TxEnvelope::Eip2930(s) => {
                let t = s.tx();
                data.push(TX_TYPE_EIP2930);
                rlp_list(&[&t.value, &t.gas_price, &t.input, &t.access_list], &mut data);
                (s.signature(), t.to.to().copied(), t.nonce, t.gas_limit, Some(t.chain_id), None)
            }
            TxEnvelope::Eip1559(s) => {
                let t = s.tx();
                data.push(TX_TYPE_EIP1559);
                rlp_list(
                    &[&t.value, &t.max_priority_fee_per_gas, &t.max_fee_per_gas, &t.input, &t.access_list],
                    &mut data,
                );
                (s.signature(), t.to.to().copied(), t.nonce, t.gas_limit, Some(t.chain_id), None)
            }
            TxEnvelope::Eip7702(s) => {
                let t = s.tx();
                data.push(TX_TYPE_EIP7702);
                rlp_list(
                    &[
                        &t.value,
                        &t.max_priority_fee_per_gas,
                        &t.max_fee_per_gas,
                        &t.input,
                        &t.access_list,
                        &t.authorization_list,
                    ],
                    &mut data,
                );
                (s.signature(), Some(t.to), t.nonce, t.gas_limit, Some(t.chain_id), None)
            }
            TxEnvelope::Eip4844(_) => {
                return Err(SpanBatchError::UnsupportedTxType(raw.first().copied().unwrap_or_default()))
            }
        };
        if let Some(id) = tx_chain_id.filter(|&id| id != chain_id) {
            return Err(SpanBatchError::WrongChainId { expected: chain_id, got: id });
        }
        self.contract_creation_bits.push(to.is_none());
        self.y_parity_bits.push(sig.v());
        self.sigs.push((sig.r(), sig.s()));
        self.tos.extend(to);
        self.datas.push(data);
        self.nonces.push(nonce);
        self.gases.push(gas);
        self.protected_bits.extend(protected);
        Ok(())
    }

    /// Appends the columns.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_bits(&self.contract_creation_bits, out);
        write_bits(&self.y_parity_bits, out);
        for (r, s) in &self.sigs {
            out.extend_from_slice(&r.to_be_bytes::<32>());
            out.extend_from_slice(&s.to_be_bytes::<32>());
        }
        for to in &self.tos {
            out.extend_from_slice(to.as_slice());
        }
        for data in &self.datas {
            out.extend_from_slice(data);
        }
        for &nonce in &self.nonces {
            write_uvarint(nonce, out);
        }
        for &gas in &self.gases {
            write_uvarint(gas, out);
        }
        write_bits(&self.protected_bits, out);
    }

    /// Reads the columns of `count` transactions.
    pub fn decode(r: &mut &[u8], count: usize) -> Result<Self, SpanBatchError> {
        let contract_creation_bits = read_bits(r, count, "contract_creation_bits")?;
        let y_parity_bits = read_bits(r, count, "y_parity_bits")?;
        // Check sizes before allocating: counts come from the input.
        let sig_bytes = take(r, count.checked_mul(64).ok_or(SpanBatchError::TooManyElements)?, "tx_sigs")?;
        let sigs = sig_bytes
            .chunks_exact(64)
            .map(|c| (U256::from_be_slice(&c[..32]), U256::from_be_slice(&c[32..])))
            .collect();
        let creations = contract_creation_bits.iter().filter(|&&b| b).count();
        let to_bytes = take(r, (count - creations) * 20, "tx_tos")?;
        let tos = to_bytes.chunks_exact(20).map(Address::from_slice).collect();
        let mut datas = Vec::new();
        let mut legacy_count = 0;
        for _ in 0..count {
            let data = read_tx_data(r)?;
            legacy_count += usize::from(data.first().is_some_and(|&b| b >= 0xc0));
            datas.push(data.to_vec());
        }
        let nonces = (0..count).map(|_| read_uvarint(r, "tx_nonces")).collect::<Result<_, _>>()?;
        let gases = (0..count).map(|_| read_uvarint(r, "tx_gases")).collect::<Result<_, _>>()?;
        let protected_bits = read_bits(r, legacy_count, "protected_bits")?;
        Ok(Self { contract_creation_bits, y_parity_bits, sigs, tos, datas, nonces, gases, protected_bits })
    }

    /// Rebuilds the signed transactions (EIP-2718 encodings) for `chain_id`.
    pub fn full_txs(&self, chain_id: u64) -> Result<Vec<Bytes>, SpanBatchError> {
        let mut tos = self.tos.iter();
        let mut protected = self.protected_bits.iter();
        let mut txs = Vec::with_capacity(self.len());
        for (i, data) in self.datas.iter().enumerate() {
            let nonce = field(self.nonces.get(i))?;
            let gas_limit = field(self.gases.get(i))?;
            let (r, s) = field(self.sigs.get(i))?;
            let sig = Signature::new(r, s, field(self.y_parity_bits.get(i))?);
            let creation = field(self.contract_creation_bits.get(i))?;
            let to =
                if creation { None } else { Some(*tos.next().ok_or(SpanBatchError::Truncated("tx_tos"))?) };
            let kind = to.map_or(TxKind::Create, TxKind::Call);
            let bad = |_| SpanBatchError::BadTxData;
            let envelope: TxEnvelope = match data.first() {
                Some(&b) if b >= 0xc0 => {
                    let mut p = list_payload(data)?;
                    let (value, gas_price, input) = (
                        U256::decode(&mut p).map_err(bad)?,
                        u128::decode(&mut p).map_err(bad)?,
                        Bytes::decode(&mut p).map_err(bad)?,
                    );
                    let chain_id = field(protected.next())?.then_some(chain_id);
                    TxLegacy { chain_id, nonce, gas_price, gas_limit, to: kind, value, input }
                        .into_signed(sig)
                        .into()
                }
                Some(&TX_TYPE_EIP2930) => {
                    let mut p = list_payload(&data[1..])?;
                    let (value, gas_price, input, access_list) = (
                        U256::decode(&mut p).map_err(bad)?,
                        u128::decode(&mut p).map_err(bad)?,
                        Bytes::decode(&mut p).map_err(bad)?,
                        AccessList::decode(&mut p).map_err(bad)?,
                    );
                    TxEip2930 { chain_id, nonce, gas_price, gas_limit, to: kind, value, input, access_list }
                        .into_signed(sig)
                        .into()
                }
                Some(&TX_TYPE_EIP1559) => {
                    let mut p = list_payload(&data[1..])?;
                    let value = U256::decode(&mut p).map_err(bad)?;
                    let (max_priority_fee_per_gas, max_fee_per_gas) =
                        (u128::decode(&mut p).map_err(bad)?, u128::decode(&mut p).map_err(bad)?);
                    let (input, access_list) =
                        (Bytes::decode(&mut p).map_err(bad)?, AccessList::decode(&mut p).map_err(bad)?);
                    TxEip1559 {
                        chain_id,
                        nonce,
                        gas_limit,
                        max_fee_per_gas,
                        max_priority_fee_per_gas,
                        to: kind,
                        value,
                        access_list,
                        input,
                    }
                    .into_signed(sig)
                    .into()
                }
                Some(&TX_TYPE_EIP7702) => {
                    let to = to.ok_or(SpanBatchError::BadTxData)?;
                    let mut p = list_payload(&data[1..])?;
                    let value = U256::decode(&mut p).map_err(bad)?;
                    let (max_priority_fee_per_gas, max_fee_per_gas) =
                        (u128::decode(&mut p).map_err(bad)?, u128::decode(&mut p).map_err(bad)?);
                    let (input, access_list) =
                        (Bytes::decode(&mut p).map_err(bad)?, AccessList::decode(&mut p).map_err(bad)?);
                    let authorization_list = Vec::<SignedAuthorization>::decode(&mut p).map_err(bad)?;
                    TxEip7702 {
                        chain_id,
                        nonce,
                        gas_limit,
                        max_fee_per_gas,
                        max_priority_fee_per_gas,
                        to,
                        value,
                        access_list,
                        authorization_list,
                        input,
                    }
                    .into_signed(sig)
                    .into()
                }
                other => return Err(SpanBatchError::UnsupportedTxType(other.copied().unwrap_or_default())),
            };
            txs.push(envelope.encoded_2718().into());
        }
        Ok(txs)
    }
}

/// A column entry that decoding guarantees but a hand-built [`SpanTxs`] may lack.
fn field<T: Copy>(v: Option<&T>) -> Result<T, SpanBatchError> {
    v.copied().ok_or(SpanBatchError::Truncated("tx columns"))
}

/// The payload of the RLP list that must span `data` exactly.
fn list_payload(mut data: &[u8]) -> Result<&[u8], SpanBatchError> {
    let header = Header::decode(&mut data).map_err(|_| SpanBatchError::BadTxData)?;
    if !header.list || header.payload_length != data.len() {
        return Err(SpanBatchError::BadTxData);
    }
    Ok(data)
}

/// Splits one tx data entry (optional type byte and an RLP list) off the front of `r`.
fn read_tx_data<'a>(r: &mut &'a [u8]) -> Result<&'a [u8], SpanBatchError> {
    let all = *r;
    let &first = all.first().ok_or(SpanBatchError::Truncated("tx_datas"))?;
    let type_len = match first {
        TX_TYPE_EIP2930 | TX_TYPE_EIP1559 | TX_TYPE_EIP7702 => 1,
        b if b >= 0xc0 => 0,
        b => return Err(SpanBatchError::UnsupportedTxType(b)),
    };
    let mut rest = &all[type_len..];
    let header = Header::decode(&mut rest).map_err(|_| SpanBatchError::BadTxData)?;
    if !header.list {
        return Err(SpanBatchError::BadTxData);
    }
    let len = (all.len() - rest.len()).checked_add(header.payload_length).ok_or(SpanBatchError::BadTxData)?;
    take(r, len, "tx_datas")
}
