//! `StateTrie` roots against alloy-trie's `state_root_unsorted` over a plainly kept model of the
//! state, after every update (inserts, changes, zero-value deletes, wipes, destroyed accounts).

use crate::common::{post_state, Model};
use proptest::prelude::*;
use rollsim::trie::{StateTrie, EMPTY_ROOT_HASH};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn state_trie_root_matches_state_root_unsorted(updates in proptest::collection::vec(post_state(), 1..8)) {
        let mut state = StateTrie::new();
        let mut model = Model::default();
        prop_assert_eq!(state.root(), EMPTY_ROOT_HASH);
        for update in &updates {
            state.apply(update);
            model.apply(update);
            prop_assert_eq!(state.root(), model.root());
            for address in update.accounts.keys().chain(update.storages.keys()) {
                prop_assert_eq!(state.storage_root(*address), model.storage_root(address));
            }
        }
    }
}
