//! Fee arithmetic of op-service's txmgr: caps from suggestions, replacement thresholds, limits.

use crate::batcher::config::TxMgrConfig;

/// What L1 suggests, after the configured minimums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasPriceCaps {
    pub tip: u128,
    pub base_fee: u128,
    pub blob_tip: u128,
    pub blob_base_fee: u128,
    /// The L1 head's timestamp: the clock the cell-proof switch reads.
    pub l1_timestamp: u64,
}

/// `tip + 2 * base_fee`: room for the base fee to double before the transaction is priced out.
pub fn calc_gas_fee_cap(base_fee: u128, tip: u128) -> u128 {
    tip.saturating_add(base_fee.saturating_mul(2))
}

/// `ceil(x * (100 + bump) / 100)`, bump 10% (blob transactions 100%): the least a replacement
/// must offer. Always at least `x + 1`.
pub fn calc_threshold_value(x: u128, is_blob: bool) -> u128 {
    let percent: u128 = if is_blob { 200 } else { 110 };
    x.saturating_mul(percent).saturating_add(99) / 100
}

/// The replacement's tip and fee cap: each at least the pool's threshold over the old one, and
/// at least today's suggestion (op-service's `updateFees`, all four cases).
pub fn update_fees(
    old_tip: u128,
    old_fee_cap: u128,
    new_tip: u128,
    new_base_fee: u128,
    is_blob: bool,
) -> (u128, u128) {
    let new_fee_cap = calc_gas_fee_cap(new_base_fee, new_tip);
    let threshold_tip = calc_threshold_value(old_tip, is_blob);
    let threshold_fee_cap = calc_threshold_value(old_fee_cap, is_blob);
    match (new_tip >= threshold_tip, new_fee_cap >= threshold_fee_cap) {
        (true, true) => (new_tip, new_fee_cap),
        (true, false) => (new_tip, threshold_fee_cap),
        (false, true) => (threshold_tip, calc_gas_fee_cap(new_base_fee, threshold_tip)),
        (false, false) => (threshold_tip, threshold_fee_cap),
    }
}

/// Refuses a bump above `fee_limit_multiplier` times the suggestion, unless under the threshold.
pub fn check_limits(
    config: &TxMgrConfig,
    tip: u128,
    base_fee: u128,
    bumped_tip: u128,
    bumped_fee: u128,
) -> Result<(), String> {
    let limit = u128::from(config.fee_limit_multiplier);
    let max_tip = tip.saturating_mul(limit);
    let max_fee = calc_gas_fee_cap(base_fee.saturating_mul(limit), max_tip);
    let mut errors = Vec::new();
    for (value, max, name) in [(bumped_tip, max_tip, "tip"), (bumped_fee, max_fee, "fee")] {
        if value >= config.fee_limit_threshold_wei && value > max {
            errors
                .push(format!("bumped {name} cap {value} is over {limit}x multiple of the suggested value"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}
