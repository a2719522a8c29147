//! Criterion benches live in `benches/benches/`; this crate holds no code of its own.
