//! CPU time of this process, so the report can say what the bots themselves
//! cost: a run only measures the server when the swarm is cheap.

/// User plus system CPU seconds this process has used, from `/proc/self/stat`
/// (None where that file does not exist).
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_seconds_from_stat(&stat)
}

/// Parses utime and stime (fields 14 and 15, in clock ticks of 1/100 s) out
/// of a `/proc/PID/stat` line. The command name (field 2) may hold spaces,
/// so fields are counted from its closing parenthesis.
pub fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name come field 3 (state) onwards: utime is field 14.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / CLOCK_TICKS_PER_SECOND)
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux platform Tickwire runs on.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_spaces_in_name_parses() {
        let line = "1234 (my bot swarm) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0";
        assert_eq!(cpu_seconds_from_stat(line), Some(3.0));
    }

    #[test]
    fn own_process_reports_cpu_time() {
        assert!(process_cpu_seconds().is_some_and(|s| s >= 0.0));
    }
}
