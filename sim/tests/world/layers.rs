//! The world's modules form layers (`docs/architecture.md`): a module imports only from its own
//! layer or below, and the imports between modules have no cycle. Test code is exempt: a test may
//! drive a module from above.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// Each top-level module of `sim/src` and its layer, bottom first.
const LAYERS: [(&str, &[&str]); 6] = [
    ("leaves", &["clock", "profile", "seed", "trace", "units", "verdict"]),
    ("network", &["net"]),
    ("chains and nodes", &["batcher_node", "da", "l1", "l2", "rollup_node", "sequencer", "submitter"]),
    ("faults and oracles", &["faults", "invariants", "posted"]),
    ("world", &["harness", "scenario", "world"]),
    ("tools", &["cli", "fuzz", "report", "trace_diff"]),
];

/// Macros exported at the crate root, by the module that defines them.
const MACROS: [(&str, &str); 1] = [("rpc_method", "net")];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

/// The Rust files under `dir`, test files excluded.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("sim/src is readable") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if path.is_dir() {
            if name != "tests" {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") && name != "tests.rs" {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`l2/block.rs` -> `l2`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under sim/src");
    let first = relative.components().next().expect("a file").as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The modules `text` names through `crate::`, outside its inline test module.
fn imports(text: &str) -> BTreeSet<String> {
    let code = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // A `use crate::{a::b, c, d::{e, f}}` group: the names at depth one.
            let (mut depth, mut expecting) = (1, true);
            let mut name = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 1 => break,
                    '}' => depth -= 1,
                    ',' if depth == 1 => expecting = true,
                    c if expecting && depth == 1 && (c.is_alphanumeric() || c == '_') => name.push(c),
                    _ if expecting && !name.is_empty() => {
                        names.insert(std::mem::take(&mut name));
                        expecting = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    names
        .into_iter()
        .map(|name| MACROS.iter().find(|(m, _)| *m == name).map_or(name, |(_, module)| (*module).to_owned()))
        .collect()
}

#[test]
fn modules_import_only_their_own_layer_or_below_and_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut upward = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" || module == "main" {
            continue;
        }
        let layer = layer_of(&module).unwrap_or_else(|| panic!("module {module} is in no layer of LAYERS"));
        let text = std::fs::read_to_string(file).expect("readable");
        for import in imports(&text) {
            let Some(import_layer) = layer_of(&import) else { continue };
            if import == module {
                continue;
            }
            if import_layer > layer {
                upward.push(format!(
                    "{} ({}) imports {import} ({})",
                    file.strip_prefix(&src).unwrap().display(),
                    LAYERS[layer].0,
                    LAYERS[import_layer].0
                ));
            }
            graph.entry(module.clone()).or_default().insert(import);
        }
    }
    assert!(upward.is_empty(), "imports from a layer above:\n{}", upward.join("\n"));

    // Kahn's algorithm: whatever cannot be ordered lies on a cycle.
    let mut remaining = graph.clone();
    loop {
        let leaves: Vec<String> = remaining
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| !remaining.contains_key(d)))
            .map(|(m, _)| m.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for leaf in leaves {
            remaining.remove(&leaf);
        }
    }
    assert!(remaining.is_empty(), "modules on an import cycle: {remaining:?}");
}

#[test]
fn the_import_reader_sees_groups_paths_and_macros() {
    let text = "use crate::{\n    clock::sim_now,\n    l1::{self, wallet::Wallet},\n    seed,\n};\n\
                fn f() { crate::units::ether(1); crate::rpc_method!(X, \"x\", () => ()); }\n\
                #[cfg(test)]\nmod tests {\n    use crate::world::World;\n}\n";
    let expected: BTreeSet<String> = ["clock", "l1", "net", "seed", "units"].map(String::from).into();
    assert_eq!(imports(text), expected);
}
