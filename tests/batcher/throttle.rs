//! Throttle controllers: pending bytes -> intensity -> limits, at and around the thresholds, as
//! op-batcher's `throttler` package maps them; the PID controller's terms over simulated time.
#![cfg(madsim)]

use rollsim::batcher::throttle::{
    ControllerType, PidConfig, ThrottleConfig, ThrottleController, ThrottleParams,
};
use std::time::Duration;
use tokio::time::Instant;

/// An instant on the simulated clock; the controllers only compare instants.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

const LOWER: u64 = 3_200_000;
const UPPER: u64 = 12_800_000;

fn controller(kind: ControllerType) -> ThrottleController {
    ThrottleController::new(ThrottleConfig { controller: kind, ..Default::default() })
}

fn params(tx: u64, block: u64, intensity: f64) -> ThrottleParams {
    ThrottleParams { max_tx_size_bytes: tx, max_block_size_bytes: block, intensity }
}

#[madsim::test]
async fn defaults_are_upstreams() {
    let c = ThrottleConfig::default();
    assert_eq!(c.controller, ControllerType::Quadratic);
    assert_eq!((c.lower_threshold_bytes, c.upper_threshold_bytes), (LOWER, UPPER));
    assert_eq!((c.tx_size_lower_limit_bytes, c.tx_size_upper_limit_bytes), (150, 20_000));
    assert_eq!((c.block_size_lower_limit_bytes, c.block_size_upper_limit_bytes), (2_000, 130_000));
}

#[madsim::test]
async fn at_or_below_the_lower_threshold_nothing_is_limited_but_the_block_upper_limit() {
    for kind in [ControllerType::Step, ControllerType::Linear, ControllerType::Quadratic] {
        let mut c = controller(kind);
        assert_eq!(c.current(), params(0, 130_000, 0.0), "{kind}: initial");
        for bytes in [0, LOWER - 1, LOWER] {
            assert_eq!(c.update(bytes, t0()), params(0, 130_000, 0.0), "{kind} at {bytes}");
            assert!(!c.current().is_throttling());
        }
    }
}

#[madsim::test]
async fn step_jumps_to_the_lower_limits_just_above_the_threshold() {
    let mut c = controller(ControllerType::Step);
    assert_eq!(c.update(LOWER + 1, t0()), params(150, 2_000, 1.0));
    assert_eq!(c.update(UPPER * 10, t0()), params(150, 2_000, 1.0));
    assert!(c.current().is_throttling());
    assert_eq!(c.update(LOWER, t0()), params(0, 130_000, 0.0), "back under: limits lifted");
}

#[madsim::test]
async fn linear_interpolates_between_the_limits() {
    let mut c = controller(ControllerType::Linear);
    let mid = (LOWER + UPPER) / 2;
    assert_eq!(c.update(mid, t0()), params(20_000 - 9_925, 130_000 - 64_000, 0.5));
    let quarter = LOWER + (UPPER - LOWER) / 4;
    assert_eq!(c.update(quarter, t0()), params(15_037, 98_000, 0.25));
    assert_eq!(c.update(UPPER - 1, t0()).max_block_size_bytes, 2_000, "just under upper: nearly the floor");
    assert_eq!(c.update(UPPER, t0()), params(150, 2_000, 1.0));
    assert_eq!(c.update(UPPER + 1, t0()), params(150, 2_000, 1.0), "clamped above upper");
}

#[madsim::test]
async fn quadratic_squares_the_linear_intensity() {
    let mut c = controller(ControllerType::Quadratic);
    let mid = (LOWER + UPPER) / 2;
    assert_eq!(c.update(mid, t0()), params(15_037, 98_000, 0.25));
    let just_above = c.update(LOWER + 1, t0());
    assert!(just_above.intensity > 0.0 && just_above.intensity < 1e-12, "tiny but throttling");
    assert_eq!((just_above.max_tx_size_bytes, just_above.max_block_size_bytes), (19_999, 129_999));
    assert_eq!(c.update(UPPER, t0()), params(150, 2_000, 1.0));
}

#[madsim::test]
async fn a_zero_lower_limit_never_limits_that_dimension() {
    let config = ThrottleConfig {
        tx_size_lower_limit_bytes: 0,
        block_size_lower_limit_bytes: 0,
        ..Default::default()
    };
    let mut c = ThrottleController::new(config);
    assert_eq!(c.update(UPPER, t0()), params(0, 0, 1.0));
    assert_eq!(c.update(0, t0()), params(0, 0, 0.0));
}

#[madsim::test]
async fn reset_and_controller_switch_lift_the_limits() {
    let mut c = controller(ControllerType::Linear);
    c.update(UPPER, t0());
    c.reset();
    assert_eq!(c.current(), params(0, 130_000, 0.0));
    c.update(UPPER, t0());
    c.set_controller(ControllerType::Step);
    assert_eq!(c.current(), params(0, 130_000, 0.0));
    assert_eq!(c.update(LOWER + 1, t0()), params(150, 2_000, 1.0));
}

#[madsim::test]
async fn invalid_configs_name_the_field() {
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

fn pid(config: PidConfig) -> ThrottleController {
    ThrottleController::new(ThrottleConfig {
        controller: ControllerType::Pid,
        pid: config,
        ..Default::default()
    })
}

/// Normalized error of `pending` bytes: the excess over the lower threshold, in thresholds.
fn error(pending: u64) -> f64 {
    (pending - LOWER) as f64 / LOWER as f64
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[madsim::test]
async fn pid_starts_proportional_then_integrates_and_differentiates_each_sample() {
    let k = PidConfig::default();
    let mut c = pid(k);
    let t0 = t0();
    let (e1, e2) = (error(LOWER * 2), error(LOWER * 3 / 2)); // 1.0, then falling to 0.5
    let first = c.update(LOWER * 2, t0).intensity;
    assert!(close(first, k.kp * e1), "first sample: P only, got {first}");
    // Within the sample time the last intensity stands, whatever the input.
    assert_eq!(c.update(LOWER * 4, t0 + Duration::from_millis(1_999)).intensity, first);
    // 2 s later: integral e1 * 2 s, derivative (e1 - e1) / 2 = 0.
    let second = c.update(LOWER * 2, t0 + Duration::from_secs(2)).intensity;
    assert!(close(second, k.kp * e1 + k.ki * e1 * 2.0), "P + I, got {second}");
    // The error falls: the derivative is negative and lowers the intensity.
    let third = c.update(LOWER * 3 / 2, t0 + Duration::from_secs(4)).intensity;
    let expected = k.kp * e2 + k.ki * (e1 * 2.0 + e2 * 2.0) + k.kd * (e2 - e1) / 2.0;
    assert!(close(third, expected), "P + I + D = {expected}, got {third}");
    // Intensity maps to limits as linear's does.
    let limits = c.current();
    assert_eq!(limits.max_block_size_bytes, (130_000.0 - third * 128_000.0) as u64);
}

#[madsim::test]
async fn pid_clamps_output_and_integral_and_resets_below_the_threshold() {
    let k = PidConfig { integral_max: 3.0, output_max: 0.8, ..Default::default() };
    let mut c = pid(k);
    let t0 = t0();
    assert_eq!(c.update(LOWER * 20, t0).intensity, 0.8, "19 x kp clamped to output_max");
    // A small error held for 100 s would integrate to 10; the integral stops at 3.
    let mut c = pid(k);
    c.update(LOWER + LOWER / 10, t0);
    let held = c.update(LOWER + LOWER / 10, t0 + Duration::from_secs(100)).intensity;
    assert!(close(held, k.kp * 0.1 + k.ki * 3.0), "integral clamped: {held}");
    // At the threshold the state resets: no throttling, and the next excess starts from P alone.
    assert_eq!(
        c.update(LOWER, t0 + Duration::from_secs(102)),
        ThrottleParams { max_tx_size_bytes: 0, max_block_size_bytes: 130_000, intensity: 0.0 }
    );
    let again = c.update(LOWER * 2, t0 + Duration::from_secs(104)).intensity;
    assert!(close(again, k.kp + k.ki * 2.0 + k.kd * 0.5), "fresh integral and last error: {again}");
    // reset() forgets the history: the next update is a first sample again.
    c.reset();
    assert!(close(c.update(LOWER * 2, t0 + Duration::from_secs(105)).intensity, k.kp));
}

#[madsim::test]
async fn pid_parses_and_its_bad_settings_name_the_field() {
    assert_eq!("pid".parse::<ControllerType>(), Ok(ControllerType::Pid));
    assert_eq!(ControllerType::Pid.to_string(), "pid");
    assert!("pi".parse::<ControllerType>().unwrap_err().contains("step, linear, quadratic or pid"));
    let with = |pid: PidConfig| ThrottleConfig { controller: ControllerType::Pid, pid, ..Default::default() };
    assert!(with(PidConfig::default()).validate().is_ok());
    for (bad, field) in [
        (PidConfig { kp: -0.1, ..Default::default() }, "pid.kp"),
        (PidConfig { kd: f64::NAN, ..Default::default() }, "pid.kd"),
        (PidConfig { integral_max: 0.0, ..Default::default() }, "pid.integral_max"),
        (PidConfig { output_max: 1.5, ..Default::default() }, "pid.output_max"),
        (PidConfig { sample_time: Duration::ZERO, ..Default::default() }, "pid.sample_time"),
    ] {
        assert_eq!(with(bad).validate().unwrap_err().0, field);
    }
    // PID does not use the upper threshold.
    let pid_no_upper = ThrottleConfig { upper_threshold_bytes: 0, ..with(PidConfig::default()) };
    assert!(pid_no_upper.validate().is_ok());
}
