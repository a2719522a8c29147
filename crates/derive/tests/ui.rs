//! What the derives refuse, and how they say it: each `ui/*.rs` must fail
//! to compile with exactly the errors in its `.stderr` (regenerate them
//! with `TRYBUILD=overwrite` after a deliberate change), and `ui/pass`
//! must compile.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
