//! The bare fan-out runs end to end: it starts its clients, they connect,
//! and its report counts what was sent and received.

#![allow(clippy::expect_used)]

use std::process::Command;

#[test]
fn bare_fanout_reports_a_short_run() {
    let out = Command::new(env!("CARGO_BIN_EXE_bare-fanout"))
        .args([
            "--sockets=12",
            "--frame-bytes=100",
            "--phases=3",
            "--warmup=1",
            "--duration=2",
            "--json",
        ])
        .output()
        .expect("bare-fanout runs");
    assert!(
        out.status.success(),
        "bare-fanout failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON report, got {stdout:?}: {e}"));
    let num = |key: &str| {
        report
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or_else(|| panic!("{key} in {report}"))
    };
    assert_eq!(num("sockets"), 12.0);
    assert_eq!(num("frame_bytes"), 100.0);
    assert_eq!(num("errors"), 0.0, "{report}");
    // Every socket was sent frames and received them in the window.
    assert!(num("frames_sent") >= 12.0, "{report}");
    assert!(num("frames_per_s_min") > 0.0, "{report}");
    // Never more than one frame per 30 Hz slot: late slots are served in a
    // burst after a stall on a busy machine, which may add a few to the
    // window; a frame sent twice would read 60.
    assert!(num("frames_per_s_mean") <= 45.0, "{report}");
    // Clock ticks of 10 ms: a short, light run may read as none.
    assert!(num("server_cpu") >= 0.0, "{report}");
    let holds = num("frames_per_s_min") >= 29.0 && num("gap_ms_p99") < 50.0;
    assert_eq!(
        report.get("holds"),
        Some(&serde_json::Value::Bool(holds)),
        "{report}"
    );
}
