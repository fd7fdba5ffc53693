//! Ethereum TrieTests (ethereum/tests, MIT; `tests/data/ethereum-trie-tests`): every case a trie
//! without prefix keys can hold gives the expected root, both through `HashBuilder` over the final
//! leaves and through the sparse trie applying the operations in order. The cases with one key a
//! prefix of another (impossible with fixed-length keys) must be refused with a typed error.

use std::collections::BTreeMap;

use alloy_primitives::{hex, keccak256, B256};
use alloy_trie::{HashBuilder, Nibbles};
use rollsim::trie::{SparseTrie, TrieError};
use serde_json::Value;

const FILES: [(&str, bool); 5] = [
    ("trietest.json", false),
    ("trieanyorder.json", false),
    ("trietest_secureTrie.json", true),
    ("trieanyorder_secureTrie.json", true),
    ("hex_encoded_securetrie_test.json", true),
];

fn bytes(s: &str) -> Vec<u8> {
    match s.strip_prefix("0x") {
        Some(h) => hex::decode(h).expect("hex"),
        None => s.as_bytes().to_vec(),
    }
}

/// The operations of a case in order: key nibbles and value (`None` or empty deletes).
fn operations(case: &Value, secure: bool) -> Vec<(Nibbles, Option<Vec<u8>>)> {
    let pairs: Vec<(String, Value)> = match &case["in"] {
        Value::Array(items) => {
            items.iter().map(|kv| (kv[0].as_str().unwrap().to_string(), kv[1].clone())).collect()
        }
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        other => panic!("bad case input {other}"),
    };
    pairs
        .into_iter()
        .map(|(key, value)| {
            let key = bytes(&key);
            let key = if secure { keccak256(&key).to_vec() } else { key };
            let value = value.as_str().map(bytes).filter(|v| !v.is_empty());
            (Nibbles::unpack(&key), value)
        })
        .collect()
}

fn has_prefix_keys(keys: &[Nibbles]) -> bool {
    keys.iter().any(|a| keys.iter().any(|b| a != b && b.starts_with(a)))
}

#[test]
fn ethereum_trie_tests() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ethereum-trie-tests");
    let (mut checked, mut refused) = (0, 0);
    for (file, secure) in FILES {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        let cases: BTreeMap<String, Value> = serde_json::from_str(&text).unwrap();
        for (name, case) in cases {
            let expected: B256 = case["root"].as_str().unwrap().parse().unwrap();
            let ops = operations(&case, secure);
            let keys: Vec<Nibbles> = ops.iter().map(|(k, _)| *k).collect();
            let mut trie = SparseTrie::revealed_empty();
            let mut result = Ok(());
            let mut leaves = BTreeMap::new();
            for (key, value) in &ops {
                result = result.and_then(|()| match value {
                    Some(value) => trie.update_leaf(*key, value.clone()),
                    None => trie.remove_leaf(key),
                });
                match value {
                    Some(value) => leaves.insert(*key, value.clone()),
                    None => leaves.remove(key),
                };
            }
            if has_prefix_keys(&keys) {
                assert!(matches!(result, Err(TrieError::KeyPrefix { .. })), "{file} {name}: {result:?}");
                refused += 1;
                continue;
            }
            result.unwrap();
            let mut hb = HashBuilder::default();
            for (key, value) in &leaves {
                hb.add_leaf(*key, value);
            }
            assert_eq!(hb.root(), expected, "{file} {name}: HashBuilder");
            assert_eq!(trie.root().unwrap(), expected, "{file} {name}: sparse trie");
            checked += 1;
        }
    }
    assert_eq!((checked, refused), (17, 8));
}
