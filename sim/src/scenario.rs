//! Scenario files: a documented situation, pinned seeds, node configs and a fault schedule (TOML).
//!
//! Unknown keys, wrong types and out-of-range values are rejected with a message naming the file,
//! the key and the reason; the CLI exits 2 on them.

use crate::{
    batcher_node::BatcherScenario,
    faults::{Cast, Fault},
    l1::L1Config,
    l2::L2Config,
    submitter::SubmitterConfig,
    verdict::Invariant,
};
use serde::Deserialize;
use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

/// A parsed and validated scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub(crate) name: String,
    /// What situation this is and what must hold; the first line is the one-line summary.
    pub(crate) description: String,
    /// Simulated time the run lasts, e.g. "24h", "90m".
    #[serde(deserialize_with = "crate::units::duration")]
    pub(crate) duration: Duration,
    /// Seeds `cargo test` runs; the first is the default of `rollsim run`.
    pub(crate) seeds: Vec<u64>,
    #[serde(default)]
    pub(crate) l1: L1Config,
    /// The L2 side (sequencer, rollup node); absent: the world is L1 only.
    pub(crate) l2: Option<L2Config>,
    /// The AltDA server; absent: none.
    pub(crate) da: Option<DaConfig>,
    /// The real batcher (node `batcher`); needs `[l2]`.
    pub(crate) batcher: Option<BatcherScenario>,
    /// The test submitter (node `submitter`); needs `[l2]`.
    pub(crate) submitter: Option<SubmitterConfig>,
    #[serde(default)]
    pub(crate) faults: Vec<Fault>,
    /// Invariants this scenario is expected to violate (a documented limitation); the scenario
    /// passes when exactly these fail.
    #[serde(default)]
    pub(crate) expected_violations: Vec<Invariant>,
    /// A planted bug to activate (`src/planted.rs`); needs the `planted-bugs` feature.
    pub(crate) planted_bug: Option<String>,
    /// The TOML document this scenario was read from (edits start from it).
    #[serde(skip)]
    source: toml::Table,
    /// The file it was loaded from, if it is unedited.
    #[serde(skip)]
    path: Option<PathBuf>,
}

/// The `[da]` table: its presence starts an AltDA server (node `da`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaConfig {}

/// A scenario that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// Dotted path of the offending key, when there is one.
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {}: {}", self.file, field, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// The longest run a scenario may ask for.
const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: file.clone(),
            field: None,
            reason: format!("cannot read: {e}"),
        })?;
        let mut scenario = Self::parse(&text, &file)?;
        scenario.path = Some(path.to_owned());
        Ok(scenario)
    }

    /// Parses and validates scenario text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ScenarioError> {
        let deserializer = toml::Deserializer::new(text);
        let scenario: Self = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = inner.span().map(|span| text[..span.start].matches('\n').count() + 1);
            ScenarioError {
                file: file.to_owned(),
                field: (path != ".").then_some(path),
                reason: match line {
                    Some(line) => format!("{} (line {line})", inner.message()),
                    None => inner.message().to_owned(),
                },
            }
        })?;
        scenario.validate().map_err(|(field, reason)| ScenarioError {
            file: file.to_owned(),
            field: Some(field),
            reason,
        })?;
        let source = text.parse().expect("the text deserialized as a scenario, so it is a TOML table");
        Ok(Self { source, ..scenario })
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let err = |field: &str, reason: &str| Err((field.to_owned(), reason.to_owned()));
        if self.name.trim().is_empty() {
            return err("name", "must not be empty");
        }
        if self.description.trim().is_empty() {
            return err("description", "must say what the situation is and what must hold");
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return err("duration", "must be more than zero and at most 30 days");
        }
        if self.seeds.is_empty() {
            return err("seeds", "must list at least one seed");
        }
        self.l1.validate().map_err(|(field, reason)| (format!("l1.{field}"), reason))?;
        if let Some(l2) = &self.l2 {
            l2.validate(self.duration).map_err(|(field, reason)| (format!("l2.{field}"), reason))?;
        }
        if (self.batcher.is_some() || self.submitter.is_some()) && self.l2.is_none() {
            return err("l2", "a batcher or submitter needs the [l2] table");
        }
        if let Some(submitter) = &self.submitter {
            submitter.validate().map_err(|(field, reason)| (format!("submitter.{field}"), reason))?;
        }
        if let (Some(batcher), Some(l2)) = (&self.batcher, &self.l2) {
            if batcher.da_type == "altda" && self.da.is_none() {
                return err("batcher.da_type", "altda needs the [da] table");
            }
            let rollup = crate::batcher_node::scenario_rollup_params(l2);
            batcher
                .config(rollup, &self.l1)
                .map_err(|(field, reason)| (format!("batcher.{field}"), reason))?;
        }
        if let Some(name) = &self.planted_bug {
            #[cfg(not(feature = "planted-bugs"))]
            return err(
                "planted_bug",
                &format!("{name:?}: this build has no planted bugs (build with --features planted-bugs)"),
            );
            #[cfg(feature = "planted-bugs")]
            if !rollsim::planted::BUGS.iter().any(|(bug, _)| bug == name) {
                let names: Vec<&str> = rollsim::planted::BUGS.iter().map(|(bug, _)| *bug).collect();
                return err(
                    "planted_bug",
                    &format!("unknown planted bug {name:?} (one of {})", names.join(", ")),
                );
            }
        }
        let cast = Cast {
            duration: self.duration,
            l2: self.l2.is_some(),
            batcher: self.batcher.is_some(),
            da: self.da.is_some(),
            submitter: self.submitter.is_some()
                || self.faults.iter().any(|f| matches!(f, Fault::Garbage { .. })),
        };
        for (index, fault) in self.faults.iter().enumerate() {
            fault.validate(&cast).map_err(|(field, reason)| (format!("faults[{index}].{field}"), reason))?;
        }
        Ok(())
    }

    /// The one-line summary: the description's first line.
    pub fn summary(&self) -> &str {
        self.description.lines().next().unwrap_or_default().trim()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// Simulated time the run lasts.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The pinned seeds (`cargo test` runs each; the first is `rollsim run`'s default).
    pub fn seeds(&self) -> &[u64] {
        &self.seeds
    }

    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// The invariants this scenario documents as violated; it passes when exactly these fail.
    pub fn expected_violations(&self) -> &[Invariant] {
        &self.expected_violations
    }

    /// The planted bug this scenario activates (`planted-bugs` builds).
    pub fn planted_bug(&self) -> Option<&str> {
        self.planted_bug.as_deref()
    }

    /// The file this scenario was loaded from, unless it was built or edited in Rust.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The scenario as a TOML document, which [`Scenario::parse`] reads back to the same scenario.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.source).expect("a TOML table serializes")
    }

    /// A scenario built in Rust, starting from the required keys: `name`, a placeholder
    /// description, one hour, seed 1.
    pub fn builder(name: &str) -> ScenarioBuilder {
        let mut builder = ScenarioBuilder { name: name.to_owned(), table: toml::Table::new(), error: None };
        builder.put("name", name.into());
        builder.put("description", format!("{name} (built in Rust)").into());
        builder.duration(Duration::from_secs(3600)).seeds([1])
    }

    /// A builder starting from this scenario.
    pub fn edit(&self) -> ScenarioBuilder {
        ScenarioBuilder { name: self.name.clone(), table: self.source.clone(), error: None }
    }

    /// This scenario with one more fault, validated again.
    pub fn with_fault(&self, fault: Fault) -> Result<Self, ScenarioError> {
        self.edit().fault(fault).build()
    }
}

/// Builds a scenario in Rust. It writes the TOML document a scenario file would hold and
/// [`build`](ScenarioBuilder::build) parses it, so a built scenario is validated exactly as a file
/// is, with the same errors.
#[derive(Debug, Clone)]
pub struct ScenarioBuilder {
    name: String,
    table: toml::Table,
    /// The first key a setter could not place (a path through a value that is not a table).
    error: Option<ScenarioError>,
}

impl ScenarioBuilder {
    pub fn description(mut self, text: &str) -> Self {
        self.put("description", text.into());
        self
    }

    pub fn duration(mut self, duration: Duration) -> Self {
        self.put("duration", humantime::format_duration(duration).to_string().into());
        self
    }

    pub fn seeds(mut self, seeds: impl IntoIterator<Item = u64>) -> Self {
        let seeds = seeds.into_iter().map(|seed| toml::Value::Integer(seed as i64)).collect();
        self.put("seeds", toml::Value::Array(seeds));
        self
    }

    /// Adds table `path` (e.g. `"l2"`, `"batcher"`, `"da"`) if absent: its presence starts nodes.
    pub fn table(mut self, path: &str) -> Self {
        if self.lookup(path).is_none() {
            self.put(path, toml::Value::Table(toml::Table::new()));
        }
        self
    }

    /// Sets the key at dotted `path` (e.g. `"batcher.da_type"`, `"l2.workload.senders"`) as a
    /// scenario file would, creating the tables on the way.
    pub fn set(mut self, path: &str, value: impl Into<toml::Value>) -> Self {
        self.put(path, value.into());
        self
    }

    /// Removes the key or table at dotted `path`, if present.
    pub fn remove(mut self, path: &str) -> Self {
        let (parents, key) = path.rsplit_once('.').map_or(("", path), |(p, k)| (p, k));
        let mut table = Some(&mut self.table);
        for part in parents.split('.').filter(|p| !p.is_empty()) {
            table = table.and_then(|t| t.get_mut(part)).and_then(toml::Value::as_table_mut);
        }
        if let Some(table) = table {
            table.remove(key);
        }
        self
    }

    pub fn fault(mut self, fault: Fault) -> Self {
        let value = toml::Value::try_from(&fault).expect("a fault serializes to TOML");
        self.append("faults", value);
        self
    }

    /// Documents `invariant` as violated by this scenario.
    pub fn expect_violation(mut self, invariant: Invariant) -> Self {
        self.append("expected_violations", invariant.name().into());
        self
    }

    /// Validates the scenario as a file would be.
    pub fn build(&self) -> Result<Scenario, ScenarioError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let text = toml::to_string(&self.table).expect("a TOML table serializes");
        Scenario::parse(&text, &self.label())
    }

    /// What errors name as the scenario's file.
    fn label(&self) -> String {
        format!("{} (built in Rust)", self.name)
    }

    fn lookup(&self, path: &str) -> Option<&toml::Value> {
        let mut keys = path.split('.');
        let first = self.table.get(keys.next()?)?;
        keys.try_fold(first, |value, key| value.as_table()?.get(key))
    }

    fn put(&mut self, path: &str, value: toml::Value) {
        let (parents, key) = path.rsplit_once('.').map_or(("", path), |(p, k)| (p, k));
        let mut table = &mut self.table;
        for part in parents.split('.').filter(|p| !p.is_empty()) {
            let entry = table.entry(part).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(inner) = entry.as_table_mut() else {
                self.error.get_or_insert(ScenarioError {
                    file: self.label(),
                    field: Some(path.to_owned()),
                    reason: format!("{part} is not a table"),
                });
                return;
            };
            table = inner;
        }
        table.insert(key.to_owned(), value);
    }

    fn append(&mut self, key: &str, value: toml::Value) {
        let entry = self.table.entry(key).or_insert_with(|| toml::Value::Array(Vec::new()));
        match entry.as_array_mut() {
            Some(array) => array.push(value),
            None => {
                self.error.get_or_insert(ScenarioError {
                    file: self.label(),
                    field: Some(key.to_owned()),
                    reason: "is not an array".to_owned(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name = \"x\"\ndescription = \"d\"\nduration = \"1h\"\nseeds = [1]\n";

    fn error(text: &str) -> ScenarioError {
        Scenario::parse(text, "x.toml").expect_err("invalid scenario")
    }

    #[test]
    fn minimal_scenario_takes_defaults() {
        let scenario = Scenario::parse(MINIMAL, "x.toml").unwrap();
        assert_eq!(scenario.duration, Duration::from_secs(3600));
        assert_eq!(scenario.l1.slot_s, 12);
    }

    #[test]
    fn errors_name_the_file_key_and_reason() {
        let e = error(&format!("{MINIMAL}[l1]\ngas_limitt = 5\n"));
        assert_eq!(e.field.as_deref(), Some("l1.gas_limitt"));
        assert!(e.reason.contains("unknown field `gas_limitt`"), "{e}");
        assert!(e.reason.contains("line 6"), "{e}");

        let e = error(&format!("{MINIMAL}[l1]\ngas_limit = \"many\"\n"));
        assert_eq!(e.field.as_deref(), Some("l1.gas_limit"));
        assert!(e.reason.contains("invalid type"), "{e}");

        let e = error(&format!("{MINIMAL}[l1]\nslot_s = 0\n"));
        assert_eq!(e.field.as_deref(), Some("l1.slot_s"));
        assert!(e.to_string().starts_with("x.toml: l1.slot_s: must be in 1..=60"), "{e}");

        let e = error(&format!("{MINIMAL}[l1.traffic]\ntip_gwei = [2.0, 1.0]\n"));
        assert_eq!(e.field.as_deref(), Some("l1.traffic.tip_gwei"));

        let e = error("name = \"x\"\ndescription = \"d\"\nduration = \"1 fortnight\"\nseeds = [1]\n");
        assert_eq!(e.field.as_deref(), Some("duration"));
        assert!(e.reason.contains("invalid duration"), "{e}");

        let e = error("name = \"x\"\nduration = \"1h\"\nseeds = [1]\n");
        assert!(e.reason.contains("missing field `description`"), "{e}");

        let e = error("name = \"x\"\ndescription = \"d\nduration = 1");
        assert!(e.field.is_none() && e.reason.contains("line"), "bad TOML names the line: {e}");
    }

    #[test]
    fn faults_are_checked_against_the_run() {
        let e = error(&format!("{MINIMAL}[[faults]]\nkind = \"l1_reorg\"\nat = \"2h\"\ndepth = 1\n"));
        assert_eq!(e.field.as_deref(), Some("faults[0].at"));
        let e = error(&format!("{MINIMAL}[[faults]]\nkind = \"l1_reorg\"\nat = \"10m\"\ndepth = 0\n"));
        assert_eq!(e.field.as_deref(), Some("faults[0].depth"));
        let batcher = format!("{MINIMAL}[l2]\n[batcher]\n[[faults]]\n");
        let e = error(&format!(
            "{batcher}kind = \"partition\"\nat = \"1m\"\nduration = \"1m\"\na = \"batcher\"\nb = \"moon\"\n"
        ));
        assert_eq!(e.field.as_deref(), Some("faults[0].b"));
        assert!(e.reason.contains("unknown node \"moon\""), "{e}");
        let e = error(&format!(
            "{batcher}kind = \"partition\"\nat = \"1m\"\nduration = \"1m\"\na = \"batcher\"\nb = \"da\"\n"
        ));
        assert_eq!(e.field.as_deref(), Some("faults[0].b"));
        assert!(e.reason.contains("does not run"), "{e}");
        let e = error(&format!("{batcher}kind = \"rpc\"\nat = \"1m\"\nduration = \"1m\"\naction = \"error\"\nprobability = 0.0\n"));
        assert_eq!(e.field.as_deref(), Some("faults[0].probability"));
        let e = error(&format!("{batcher}kind = \"da_outage\"\nat = \"1m\"\nduration = \"1m\"\n"));
        assert_eq!(e.field.as_deref(), Some("faults[0].kind"));
        assert!(e.reason.contains("[da]"), "{e}");
        let e = error(&format!("{batcher}kind = \"batcher_crash\"\nat = \"1m\"\ndowntime = \"0s\"\n"));
        assert_eq!(e.field.as_deref(), Some("faults[0].downtime"));
        let e = error(&format!("{MINIMAL}[[faults]]\nkind = \"tx_drop\"\nat = \"1m\"\nduration = \"1m\"\n"));
        assert!(e.reason.contains("[batcher]"), "{e}");
        let e = error(&format!("{MINIMAL}expected_violations = [\"everything\"]\n"));
        assert_eq!(e.field.as_deref(), Some("expected_violations[0]"));
        let e = error(&format!("{MINIMAL}[[faults]]\nkind = \"meteor\"\nat = \"10m\"\n"));
        assert_eq!(e.field.as_deref(), Some("faults[0].kind"));
        assert!(e.reason.contains("unknown variant `meteor`"), "{e}");
    }

    #[test]
    fn fork_times_and_the_batchers_blob_limit_follow_the_l1() {
        let forks = |t: &str| format!("{MINIMAL}[l1.forks]\n{t}");
        let e = error(&forks("osaka = \"10m\"\nbpo1 = \"5m\"\n"));
        assert_eq!(e.field.as_deref(), Some("l1.forks.bpo1"));
        assert!(e.reason.contains("activates before osaka"), "{e}");
        let e = error(&forks("osaka = \"soon\"\n"));
        assert_eq!(e.field.as_deref(), Some("l1.forks.osaka"));
        assert!(e.reason.contains("\"never\""), "{e}");
        let prague = "osaka = \"never\"\nbpo1 = \"never\"\nbpo2 = \"never\"\n";
        assert!(Scenario::parse(&forks(prague), "x.toml").is_ok());

        // Seven frames per blob transaction: fine on Prague (9 per tx), refused once the batcher
        // sends cell proofs (Osaka's 6 per tx), which it does on the default L1.
        let batcher = "[l2]\n[batcher]\ntarget_num_frames = 7\n";
        let e = error(&format!("{MINIMAL}{batcher}"));
        assert_eq!(e.field.as_deref(), Some("batcher.target_num_frames"));
        assert!(e.reason.contains("at most 6 blobs under Osaka"), "{e}");
        assert!(Scenario::parse(&format!("{}{batcher}", forks(prague)), "x.toml").is_ok());
        let never = format!("{MINIMAL}{batcher}cell_proof_time = \"never\"\n");
        assert!(Scenario::parse(&never, "x.toml").is_ok(), "a batcher that never sends cell proofs");
        let e = error(&format!("{MINIMAL}{batcher}cell_proof_time = \"later\"\n"));
        assert_eq!(e.field.as_deref(), Some("batcher.cell_proof_time"));
    }
}
