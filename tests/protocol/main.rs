//! Protocol tests: our encoders and decoders against kona-protocol as an independent implementation,
//! round trips, fullness rules, the shadow compressor against its two-stream reference, and arbitrary
//! bytes into every decoder.

mod blobs;
mod common;
mod compressors;
mod fuzz;
mod oracle;
mod shadow;
