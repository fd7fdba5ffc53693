//! DA throttling: pending DA bytes -> an intensity in [0, 1] -> the sequencer's DA limits
//! (`miner_setMaxDASize`), as op-batcher's `throttler` package does: step, linear and quadratic
//! (stateless) and the experimental PID controller (stateful, sampled every `sample_time`).
//!
//! The PID controller reads time from its caller, which passes tokio's clock: in the simulation
//! that is the simulated clock, so the controller is as deterministic as the others.

use std::{fmt, str::FromStr, time::Duration};
use tokio::time::Instant;

/// How pending bytes map to an intensity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ControllerType {
    /// 1 above the lower threshold, else 0.
    Step,
    /// (bytes - lower) / (upper - lower), clamped.
    Linear,
    /// The linear intensity squared: gentle near the lower threshold.
    #[default]
    Quadratic,
    /// Proportional-integral-derivative on the normalized excess over the lower threshold
    /// (experimental upstream).
    Pid,
}

impl FromStr for ControllerType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "step" => Ok(Self::Step),
            "linear" => Ok(Self::Linear),
            "quadratic" => Ok(Self::Quadratic),
            "pid" => Ok(Self::Pid),
            other => Err(format!("unknown throttle controller {other:?} (step, linear, quadratic or pid)")),
        }
    }
}

impl fmt::Display for ControllerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Step => "step",
            Self::Linear => "linear",
            Self::Quadratic => "quadratic",
            Self::Pid => "pid",
        })
    }
}

/// Thresholds and limits, with op-batcher's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleConfig {
    pub controller: ControllerType,
    /// Pending DA bytes above which throttling starts; 0 disables the throttling loop.
    pub lower_threshold_bytes: u64,
    /// Pending DA bytes at which intensity reaches 1 (linear and quadratic).
    pub upper_threshold_bytes: u64,
    /// Per-tx DA limit at full intensity; 0 never limits transactions.
    pub tx_size_lower_limit_bytes: u64,
    /// Per-tx DA limit as intensity leaves 0.
    pub tx_size_upper_limit_bytes: u64,
    /// Per-block DA limit at full intensity; 0 never limits blocks.
    pub block_size_lower_limit_bytes: u64,
    /// Per-block DA limit when not throttling.
    pub block_size_upper_limit_bytes: u64,
    pub pid: PidConfig,
}

/// The PID controller's gains and bounds, with op-batcher's defaults (`--throttle.pid-*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PidConfig {
    pub kp: f64,
    pub ki: f64,
    pub kd: f64,
    /// Anti-windup: the integral of the normalized error (in seconds) never exceeds this.
    pub integral_max: f64,
    /// The highest intensity the controller outputs.
    pub output_max: f64,
    /// Updates closer together than this return the last intensity unchanged.
    pub sample_time: Duration,
}

impl Default for PidConfig {
    fn default() -> Self {
        Self {
            kp: 0.33,
            ki: 0.01,
            kd: 0.05,
            integral_max: 1000.0,
            output_max: 1.0,
            sample_time: Duration::from_secs(2),
        }
    }
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            controller: ControllerType::Quadratic,
            lower_threshold_bytes: 3_200_000,
            upper_threshold_bytes: 12_800_000,
            tx_size_lower_limit_bytes: 150,
            tx_size_upper_limit_bytes: 20_000,
            block_size_lower_limit_bytes: 2_000,
            block_size_upper_limit_bytes: 130_000,
            pid: PidConfig::default(),
        }
    }
}

impl ThrottleConfig {
    pub fn enabled(&self) -> bool {
        self.lower_threshold_bytes > 0
    }

    /// The problems op-batcher rejects at startup, by field name.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.enabled() {
            return Ok(());
        }
        if self.controller == ControllerType::Pid {
            let p = &self.pid;
            for (field, gain) in [("pid.kp", p.kp), ("pid.ki", p.ki), ("pid.kd", p.kd)] {
                if !(gain >= 0.0 && gain.is_finite()) {
                    return Err((field, format!("must be a finite gain >= 0, got {gain}")));
                }
            }
            if !(p.integral_max > 0.0 && p.integral_max.is_finite()) {
                return Err(("pid.integral_max", format!("must be > 0, got {}", p.integral_max)));
            }
            if !(p.output_max > 0.0 && p.output_max <= 1.0) {
                return Err(("pid.output_max", format!("must be in (0, 1], got {}", p.output_max)));
            }
            if p.sample_time.is_zero() {
                return Err(("pid.sample_time", "must be positive".into()));
            }
        }
        let uses_upper = matches!(self.controller, ControllerType::Linear | ControllerType::Quadratic);
        if uses_upper && self.upper_threshold_bytes <= self.lower_threshold_bytes {
            return Err((
                "upper_threshold_bytes",
                format!(
                    "must be above lower_threshold_bytes ({}), got {}",
                    self.lower_threshold_bytes, self.upper_threshold_bytes
                ),
            ));
        }
        if self.block_size_lower_limit_bytes > 0
            && self.block_size_lower_limit_bytes >= self.block_size_upper_limit_bytes
        {
            return Err((
                "block_size_lower_limit_bytes",
                format!(
                    "must be below block_size_upper_limit_bytes ({}), got {}",
                    self.block_size_upper_limit_bytes, self.block_size_lower_limit_bytes
                ),
            ));
        }
        if self.tx_size_lower_limit_bytes > 0
            && self.controller != ControllerType::Step
            && self.tx_size_lower_limit_bytes >= self.tx_size_upper_limit_bytes
        {
            return Err((
                "tx_size_lower_limit_bytes",
                format!(
                    "must be below tx_size_upper_limit_bytes ({}), got {}",
                    self.tx_size_upper_limit_bytes, self.tx_size_lower_limit_bytes
                ),
            ));
        }
        Ok(())
    }
}

/// The limits in force, and the intensity they came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleParams {
    /// 0 = no per-transaction limit.
    pub max_tx_size_bytes: u64,
    /// 0 = no per-block limit.
    pub max_block_size_bytes: u64,
    pub intensity: f64,
}

impl ThrottleParams {
    pub fn is_throttling(&self) -> bool {
        self.intensity > 0.0
    }
}

/// The PID controller's memory between samples (upstream `PIDStrategy`).
#[derive(Debug, Clone, Copy, Default)]
struct PidState {
    /// `None` until the first update after creation or reset.
    last_update: Option<Instant>,
    last_error: f64,
    integral: f64,
    intensity: f64,
}

impl PidState {
    /// The intensity for `pending_bytes` at `now`. The error is the excess over the threshold,
    /// normalized by it; only positive errors exist (below the threshold the state resets), so
    /// the integral only needs clamping from above.
    fn update(&mut self, config: &PidConfig, threshold_bytes: u64, pending_bytes: u64, now: Instant) -> f64 {
        let dt = match self.last_update {
            None => Duration::ZERO,
            Some(last) => {
                let dt = now.saturating_duration_since(last);
                if dt < config.sample_time {
                    return self.intensity;
                }
                dt
            }
        };
        self.last_update = Some(now);
        if pending_bytes <= threshold_bytes {
            self.integral = 0.0;
            self.last_error = 0.0;
            self.intensity = 0.0;
            return 0.0;
        }
        let error = (pending_bytes - threshold_bytes) as f64 / threshold_bytes as f64;
        let dt_s = dt.as_secs_f64();
        let derivative = if dt.is_zero() {
            0.0
        } else {
            self.integral = (self.integral + error * dt_s).min(config.integral_max);
            (error - self.last_error) / dt_s
        };
        let output = config.kp * error + config.ki * self.integral + config.kd * derivative;
        self.intensity = output.clamp(0.0, config.output_max);
        self.last_error = error;
        self.intensity
    }
}

/// Turns pending bytes into limits. Step, linear and quadratic are stateless between updates;
/// PID keeps its error history.
#[derive(Debug, Clone)]
pub struct ThrottleController {
    config: ThrottleConfig,
    current: ThrottleParams,
    pid: PidState,
}

impl ThrottleController {
    pub fn new(config: ThrottleConfig) -> Self {
        Self { config, current: Self::unthrottled(&config), pid: PidState::default() }
    }

    fn unthrottled(config: &ThrottleConfig) -> ThrottleParams {
        ThrottleParams {
            max_tx_size_bytes: 0,
            max_block_size_bytes: config.block_size_upper_limit_bytes,
            intensity: 0.0,
        }
    }

    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// The limits from the last update.
    pub fn current(&self) -> ThrottleParams {
        self.current
    }

    /// Back to no throttling (the admin API's `resetThrottleController`); PID forgets its history.
    pub fn reset(&mut self) {
        self.current = Self::unthrottled(&self.config);
        self.pid = PidState::default();
    }

    /// Switches the controller type (the admin API's `setThrottleController`); limits reset.
    pub fn set_controller(&mut self, controller: ControllerType) {
        self.config.controller = controller;
        self.reset();
    }

    /// The intensity of a stateless controller for `pending_bytes`.
    fn stateless_intensity(&self, pending_bytes: u64) -> f64 {
        let c = &self.config;
        if pending_bytes <= c.lower_threshold_bytes {
            return 0.0;
        }
        if c.controller == ControllerType::Step || pending_bytes >= c.upper_threshold_bytes {
            return 1.0;
        }
        let linear = (pending_bytes - c.lower_threshold_bytes) as f64
            / (c.upper_threshold_bytes - c.lower_threshold_bytes) as f64;
        match c.controller {
            ControllerType::Linear => linear,
            _ => linear * linear,
        }
    }

    /// Recomputes the limits for `pending_bytes` at `now` (tokio's clock: PID's sample time).
    pub fn update(&mut self, pending_bytes: u64, now: Instant) -> ThrottleParams {
        let intensity = match self.config.controller {
            ControllerType::Pid => {
                self.pid.update(&self.config.pid, self.config.lower_threshold_bytes, pending_bytes, now)
            }
            _ => self.stateless_intensity(pending_bytes),
        }
        .clamp(0.0, 1.0);
        self.current = self.params(intensity);
        self.current
    }

    /// op-batcher's `intensityToParams`: a lower limit of 0 never limits that dimension; step
    /// jumps straight to the lower limits; the others interpolate from the upper limit.
    pub fn params(&self, intensity: f64) -> ThrottleParams {
        let c = &self.config;
        let scale = |upper: u64, lower: u64| -> u64 {
            match self.config.controller {
                ControllerType::Step => lower,
                _ => (upper as f64 - intensity * upper.saturating_sub(lower) as f64) as u64,
            }
        };
        let max_tx_size_bytes = if c.tx_size_lower_limit_bytes == 0 || intensity == 0.0 {
            0
        } else {
            scale(c.tx_size_upper_limit_bytes, c.tx_size_lower_limit_bytes)
        };
        let max_block_size_bytes = if c.block_size_lower_limit_bytes == 0 {
            0
        } else if intensity == 0.0 {
            c.block_size_upper_limit_bytes
        } else {
            scale(c.block_size_upper_limit_bytes, c.block_size_lower_limit_bytes)
        };
        ThrottleParams { max_tx_size_bytes, max_block_size_bytes, intensity }
    }
}
