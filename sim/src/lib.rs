//! The simulated world around rollsim's systems under test.
