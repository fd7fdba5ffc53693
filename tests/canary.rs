//! Fails when the tests were built without `--cfg madsim`.
//!
//! `.cargo/config.toml` builds everything as a simulation; a stray `RUSTFLAGS` in the environment
//! overrides it silently, and the simulation tests (gated on `cfg(madsim)`) would then vanish
//! instead of failing. This test is not gated, so it fails loudly.

#[test]
#[allow(clippy::assertions_on_constants)]
fn tests_run_in_the_simulation_build() {
    assert!(
        cfg!(madsim),
        "built without --cfg madsim: unset RUSTFLAGS (an empty RUSTFLAGS is for native benches only)"
    );
}
