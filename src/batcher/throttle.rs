//! DA throttling: pending DA bytes -> an intensity in [0, 1] -> the sequencer's DA limits
//! (`miner_setMaxDASize`), as op-batcher's `throttler` package does.
//!
//! op-batcher's experimental PID controller is not ported: it reads the wall clock for its sample
//! time, and its gains are undocumented tuning; step, linear and quadratic cover the decision.

use std::{fmt, str::FromStr};

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
}

impl FromStr for ControllerType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "step" => Ok(Self::Step),
            "linear" => Ok(Self::Linear),
            "quadratic" => Ok(Self::Quadratic),
            other => Err(format!("unknown throttle controller {other:?} (step, linear or quadratic)")),
        }
    }
}

impl fmt::Display for ControllerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Step => "step",
            Self::Linear => "linear",
            Self::Quadratic => "quadratic",
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
        if self.controller != ControllerType::Step && self.upper_threshold_bytes <= self.lower_threshold_bytes
        {
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

/// Turns pending bytes into limits. Stateless between updates (step, linear and quadratic are).
#[derive(Debug, Clone)]
pub struct ThrottleController {
    config: ThrottleConfig,
    current: ThrottleParams,
}

impl ThrottleController {
    pub fn new(config: ThrottleConfig) -> Self {
        Self { config, current: Self::unthrottled(&config) }
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

    /// Back to no throttling (the admin API's `resetThrottleController`).
    pub fn reset(&mut self) {
        self.current = Self::unthrottled(&self.config);
    }

    /// Switches the controller type (the admin API's `setThrottleController`); limits reset.
    pub fn set_controller(&mut self, controller: ControllerType) {
        self.config.controller = controller;
        self.reset();
    }

    pub fn intensity(&self, pending_bytes: u64) -> f64 {
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

    /// Recomputes the limits for `pending_bytes`.
    pub fn update(&mut self, pending_bytes: u64) -> ThrottleParams {
        let intensity = self.intensity(pending_bytes).clamp(0.0, 1.0);
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
