//! Protocol tests: our encoders and decoders against kona-protocol as an independent implementation,
//! round trips, fullness rules, and arbitrary bytes into every decoder.

mod blobs;
mod common;
mod compressors;
mod fuzz;
mod oracle;
