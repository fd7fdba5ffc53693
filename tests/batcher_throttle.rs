//! Throttle controllers: pending bytes -> intensity -> limits, at and around the thresholds, as
//! op-batcher's `throttler` package maps them.

use rollsim::batcher::throttle::{ControllerType, ThrottleConfig, ThrottleController, ThrottleParams};

const LOWER: u64 = 3_200_000;
const UPPER: u64 = 12_800_000;

fn controller(kind: ControllerType) -> ThrottleController {
    ThrottleController::new(ThrottleConfig { controller: kind, ..Default::default() })
}

fn params(tx: u64, block: u64, intensity: f64) -> ThrottleParams {
    ThrottleParams { max_tx_size_bytes: tx, max_block_size_bytes: block, intensity }
}

#[test]
fn defaults_are_upstreams() {
    let c = ThrottleConfig::default();
    assert_eq!(c.controller, ControllerType::Quadratic);
    assert_eq!((c.lower_threshold_bytes, c.upper_threshold_bytes), (LOWER, UPPER));
    assert_eq!((c.tx_size_lower_limit_bytes, c.tx_size_upper_limit_bytes), (150, 20_000));
    assert_eq!((c.block_size_lower_limit_bytes, c.block_size_upper_limit_bytes), (2_000, 130_000));
}

#[test]
fn at_or_below_the_lower_threshold_nothing_is_limited_but_the_block_upper_limit() {
    for kind in [ControllerType::Step, ControllerType::Linear, ControllerType::Quadratic] {
        let mut c = controller(kind);
        assert_eq!(c.current(), params(0, 130_000, 0.0), "{kind}: initial");
        for bytes in [0, LOWER - 1, LOWER] {
            assert_eq!(c.update(bytes), params(0, 130_000, 0.0), "{kind} at {bytes}");
            assert!(!c.current().is_throttling());
        }
    }
}

#[test]
fn step_jumps_to_the_lower_limits_just_above_the_threshold() {
    let mut c = controller(ControllerType::Step);
    assert_eq!(c.update(LOWER + 1), params(150, 2_000, 1.0));
    assert_eq!(c.update(UPPER * 10), params(150, 2_000, 1.0));
    assert!(c.current().is_throttling());
    assert_eq!(c.update(LOWER), params(0, 130_000, 0.0), "back under: limits lifted");
}

#[test]
fn linear_interpolates_between_the_limits() {
    let mut c = controller(ControllerType::Linear);
    let mid = (LOWER + UPPER) / 2;
    assert_eq!(c.update(mid), params(20_000 - 9_925, 130_000 - 64_000, 0.5));
    let quarter = LOWER + (UPPER - LOWER) / 4;
    assert_eq!(c.update(quarter), params(15_037, 98_000, 0.25));
    assert_eq!(c.update(UPPER - 1).max_block_size_bytes, 2_000, "just under upper: nearly the floor");
    assert_eq!(c.update(UPPER), params(150, 2_000, 1.0));
    assert_eq!(c.update(UPPER + 1), params(150, 2_000, 1.0), "clamped above upper");
}

#[test]
fn quadratic_squares_the_linear_intensity() {
    let mut c = controller(ControllerType::Quadratic);
    let mid = (LOWER + UPPER) / 2;
    assert_eq!(c.update(mid), params(15_037, 98_000, 0.25));
    let just_above = c.update(LOWER + 1);
    assert!(just_above.intensity > 0.0 && just_above.intensity < 1e-12, "tiny but throttling");
    assert_eq!((just_above.max_tx_size_bytes, just_above.max_block_size_bytes), (19_999, 129_999));
    assert_eq!(c.update(UPPER), params(150, 2_000, 1.0));
}

#[test]
fn a_zero_lower_limit_never_limits_that_dimension() {
    let config = ThrottleConfig {
        tx_size_lower_limit_bytes: 0,
        block_size_lower_limit_bytes: 0,
        ..Default::default()
    };
    let mut c = ThrottleController::new(config);
    assert_eq!(c.update(UPPER), params(0, 0, 1.0));
    assert_eq!(c.update(0), params(0, 0, 0.0));
}

#[test]
fn reset_and_controller_switch_lift_the_limits() {
    let mut c = controller(ControllerType::Linear);
    c.update(UPPER);
    c.reset();
    assert_eq!(c.current(), params(0, 130_000, 0.0));
    c.update(UPPER);
    c.set_controller(ControllerType::Step);
    assert_eq!(c.current(), params(0, 130_000, 0.0));
    assert_eq!(c.update(LOWER + 1), params(150, 2_000, 1.0));
}

#[test]
fn invalid_configs_name_the_field() {
    let bad = ThrottleConfig { upper_threshold_bytes: LOWER, ..Default::default() };
    assert_eq!(bad.validate().unwrap_err().0, "upper_threshold_bytes");
    let bad = ThrottleConfig { block_size_lower_limit_bytes: 200_000, ..Default::default() };
    assert_eq!(bad.validate().unwrap_err().0, "block_size_lower_limit_bytes");
    let bad = ThrottleConfig { tx_size_lower_limit_bytes: 30_000, ..Default::default() };
    assert_eq!(bad.validate().unwrap_err().0, "tx_size_lower_limit_bytes");
    let step = ThrottleConfig {
        controller: ControllerType::Step,
        tx_size_lower_limit_bytes: 30_000,
        ..Default::default()
    };
    assert!(step.validate().is_ok(), "step uses only the lower limits");
    let disabled =
        ThrottleConfig { lower_threshold_bytes: 0, upper_threshold_bytes: 0, ..Default::default() };
    assert!(disabled.validate().is_ok() && !disabled.enabled());
}
