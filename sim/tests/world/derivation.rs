//! The rollup node derives what the test submitter posts: calldata and blobs, singular and span
//! batches, garbage of every kind from the batcher and from a stranger, and an L1 reorg below the
//! safe head.

use crate::common::outcome as run_scenario;
use rollsim_sim::Outcome;

fn outcome(duration: &str, tables: &str) -> Outcome {
    run_scenario(duration, 5, &format!("[l2]\n{tables}"))
}

/// The safe head is within two submitter rounds (and derivation's L1 lag) of the unsafe head.
fn assert_safe_follows(outcome: &Outcome) {
    let (safe, unsafe_head) = (outcome.stats.l2().safe, outcome.stats.l2().unsafe_head);
    assert!(unsafe_head >= 1_700, "an hour of 2 s blocks: {unsafe_head}");
    assert!(safe + 60 >= unsafe_head, "safe {safe} follows unsafe {unsafe_head}");
}

#[test]
fn an_hour_of_every_submission_form_derives_to_the_sequencers_chain() {
    for (blobs, batch_type) in [(false, "singular"), (true, "singular"), (false, "span"), (true, "span")] {
        let o = outcome("1h", &format!("[submitter]\nblobs = {blobs}\nbatch_type = \"{batch_type}\"\n"));
        o.assert_all_hold();
        assert_safe_follows(&o);
        assert_eq!(o.stats.l2().unsafe_reorgs, 0, "blobs={blobs} {batch_type}: nothing replaced");
        assert!(
            o.stats.l2().blocks_consolidated + 60 >= o.stats.l2().unsafe_head,
            "derived blocks consolidate"
        );
    }
}

#[test]
fn garbage_of_every_kind_from_batcher_or_stranger_is_ignored() {
    let mut garbage = String::new();
    let kinds =
        ["strip_version", "random", "truncate_end", "dirty_append", "invalid_compression", "malform_rlp"];
    for (i, kind) in kinds.iter().enumerate() {
        for (j, sender) in ["batcher", "stranger"].iter().enumerate() {
            let at_s = 120 + 100 * i + 40 * j;
            garbage.push_str(&format!(
                "[[submitter.garbage]]\nat = \"{at_s}s\"\nkind = \"{kind}\"\nsender = \"{sender}\"\n"
            ));
        }
    }
    let o = outcome("20m", &format!("[submitter]\n{garbage}"));
    o.assert_all_hold();
    assert_eq!(o.stats.submitter.unwrap().garbage_txs, 12, "every garbage tx was sent");
    assert_eq!(o.stats.l2().unsafe_reorgs, 0, "garbage replaced nothing");
    let (safe, unsafe_head) = (o.stats.l2().safe, o.stats.l2().unsafe_head);
    assert!(safe + 60 >= unsafe_head && unsafe_head >= 590, "safe {safe} kept up with unsafe {unsafe_head}");
}

#[test]
fn l1_reorg_below_the_safe_head_rewinds_it_then_the_chain_is_derived_again() {
    let o = outcome("40m",
        "[submitter]\n[l1]\norphaned_txs = \"drop\"\n[[faults]]\nkind = \"l1_reorg\"\nat = \"20m\"\ndepth = 6\n",
    );
    o.assert_all_hold();
    assert_eq!(o.stats.l1().reorgs, 1);
    assert!(o.stats.l2().safe_rewinds >= 1, "the safe head rewound: {:?}", o.stats);
    assert!(o.stats.submitter.unwrap().reposts >= 1, "the dropped data was posted again");
    let (safe, unsafe_head) = (o.stats.l2().safe, o.stats.l2().unsafe_head);
    assert!(safe + 60 >= unsafe_head, "re-derived: safe {safe}, unsafe {unsafe_head}");
}
