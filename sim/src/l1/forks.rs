//! The fake L1's fork schedule: Prague, Osaka and the blob-parameter-only forks BPO1 and BPO2.
//!
//! A block follows the rules of its own timestamp, applied to its parent's values (as every
//! execution client validates a block). The blob parameters of each fork are alloy-eips'
//! [`BlobParams`]; Osaka adds EIP-7918's reserve price (carried in `blob_base_cost`), EIP-7594
//! cell-proof sidecars, at most 6 blobs per transaction and EIP-7825's gas cap per transaction.

use alloy_eips::eip7840::BlobParams;
use serde::{Deserialize, Deserializer};
use std::{fmt, time::Duration};

/// EIP-7825: the most gas one transaction may use from Osaka on.
pub const MAX_TX_GAS_OSAKA: u64 = 1 << 24;

/// The L1 forks that change what a batcher meets, in activation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum L1Fork {
    Prague,
    Osaka,
    Bpo1,
    Bpo2,
}

impl L1Fork {
    /// Blob target, maximum, update fraction, per-transaction limit and reserve-price base cost.
    pub const fn blob_params(self) -> BlobParams {
        match self {
            Self::Prague => BlobParams::prague(),
            Self::Osaka => BlobParams::osaka(),
            Self::Bpo1 => BlobParams::bpo1(),
            Self::Bpo2 => BlobParams::bpo2(),
        }
    }

    /// Osaka's rules (cell proofs, 6 blobs per transaction, the gas cap) hold from Osaka on.
    pub fn is_osaka(self) -> bool {
        self >= Self::Osaka
    }

    /// EIP-7825's cap on a transaction's gas limit, if the fork has one.
    pub fn max_tx_gas(self) -> Option<u64> {
        self.is_osaka().then_some(MAX_TX_GAS_OSAKA)
    }
}

impl fmt::Display for L1Fork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Prague => "prague",
            Self::Osaka => "osaka",
            Self::Bpo1 => "bpo1",
            Self::Bpo2 => "bpo2",
        })
    }
}

/// The `[l1.forks]` table: when each fork activates, as chain time after L1 genesis. Prague is
/// active from genesis. The default is today's mainnet: every fork at genesis, so BPO2 rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct L1Forks {
    /// `"never"` keeps the fork (and every later one) off.
    #[serde(deserialize_with = "activation")]
    pub osaka: Option<Duration>,
    #[serde(deserialize_with = "activation")]
    pub bpo1: Option<Duration>,
    #[serde(deserialize_with = "activation")]
    pub bpo2: Option<Duration>,
}

impl Default for L1Forks {
    fn default() -> Self {
        Self { osaka: Some(Duration::ZERO), bpo1: Some(Duration::ZERO), bpo2: Some(Duration::ZERO) }
    }
}

/// A humantime duration, or "never".
fn activation<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text == "never" {
        return Ok(None);
    }
    humantime::parse_duration(&text).map(Some).map_err(|e| {
        serde::de::Error::custom(format!(
            "invalid activation {text:?}: {e} (write a time after genesis such as \"20m\", or \"never\")"
        ))
    })
}

impl L1Forks {
    /// Every fork off: Prague's rules throughout.
    #[cfg(test)]
    pub const PRAGUE: Self = Self { osaka: None, bpo1: None, bpo2: None };

    /// Activation times in fork order (Osaka, BPO1, BPO2).
    fn activations(&self) -> [(L1Fork, Option<Duration>); 3] {
        [(L1Fork::Osaka, self.osaka), (L1Fork::Bpo1, self.bpo1), (L1Fork::Bpo2, self.bpo2)]
    }

    /// Forks activate in order: a later fork is never active before an earlier one.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let mut previous = (L1Fork::Prague, Some(Duration::ZERO));
        for (fork, at) in self.activations() {
            let reason = match (previous.1, at) {
                (None, Some(_)) => Some(format!("activates but {} never does", previous.0)),
                (Some(before), Some(at)) if at < before => Some(format!(
                    "activates before {} ({} < {})",
                    previous.0,
                    humantime::format_duration(at),
                    humantime::format_duration(before)
                )),
                _ => None,
            };
            if let Some(reason) = reason {
                return Err((fork.to_string(), format!("{reason}; forks activate in order")));
            }
            previous = (fork, at);
        }
        Ok(())
    }

    /// The fork in force at `elapsed` chain time after genesis.
    pub fn fork_at(&self, elapsed: Duration) -> L1Fork {
        self.activations()
            .into_iter()
            .rev()
            .find(|(_, at)| at.is_some_and(|at| at <= elapsed))
            .map_or(L1Fork::Prague, |(fork, _)| fork)
    }

    /// When `fork` activates, after genesis; `None` if never. Prague is active at genesis.
    pub fn activation(&self, fork: L1Fork) -> Option<Duration> {
        match fork {
            L1Fork::Prague => Some(Duration::ZERO),
            L1Fork::Osaka => self.osaka,
            L1Fork::Bpo1 => self.bpo1,
            L1Fork::Bpo2 => self.bpo2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_alloys_per_fork() {
        let counts: Vec<_> = [L1Fork::Prague, L1Fork::Osaka, L1Fork::Bpo1, L1Fork::Bpo2]
            .iter()
            .map(|f| {
                let p = f.blob_params();
                (p.target_blob_count, p.max_blob_count, p.max_blobs_per_tx, p.blob_base_cost)
            })
            .collect();
        assert_eq!(counts, vec![(6, 9, 9, 0), (6, 9, 6, 8192), (10, 15, 6, 8192), (14, 21, 6, 8192)]);
        assert_eq!(L1Fork::Bpo2.blob_params().update_fraction, 11_684_671);
        assert_eq!(L1Fork::Osaka.max_tx_gas(), Some(16_777_216));
        assert_eq!(L1Fork::Prague.max_tx_gas(), None);
    }

    #[test]
    fn a_time_takes_the_latest_fork_active_at_it() {
        let s = |secs: u64| Some(Duration::from_secs(secs));
        let forks = L1Forks { osaka: s(60), bpo1: s(120), bpo2: s(120) };
        let at = |secs| forks.fork_at(Duration::from_secs(secs));
        assert_eq!(
            [at(0), at(59), at(60), at(119), at(120)],
            [L1Fork::Prague, L1Fork::Prague, L1Fork::Osaka, L1Fork::Osaka, L1Fork::Bpo2]
        );
        assert_eq!(L1Forks::default().fork_at(Duration::ZERO), L1Fork::Bpo2);
        assert_eq!(L1Forks::PRAGUE.fork_at(Duration::from_secs(1 << 40)), L1Fork::Prague);
        assert_eq!(forks.validate(), Ok(()));
        let unordered = L1Forks { osaka: s(60), bpo1: s(30), bpo2: None };
        assert_eq!(unordered.validate().unwrap_err().0, "bpo1");
        let bpo_without_osaka = L1Forks { osaka: None, bpo1: s(30), bpo2: s(40) };
        assert_eq!(bpo_without_osaka.validate().unwrap_err().0, "bpo1");
    }
}
