//! The input log (`--input-log FILE`): what each bot sent and what the
//! server acknowledged, for a test to hold against the server's record of
//! the match (a room that moved to another node must not have lost an
//! input it acknowledged).
//!
//! At the end of the run, one JSON line per bot:
//!
//! ```json
//! {"bot":0,"room":"swarm-0","players":[4,4],"sent":[[1,[1,-3]],[2,[]]],"acked":[1,null],"truncated":false}
//! ```
//!
//! `players` is the player id of each welcome, in order (a resume's is the
//! same player); `sent` is every input the bot sent, as its sequence number
//! and the values it encoded, trailing zeros trimmed (as they travel);
//! `acked` is, per welcomed connection in the same order as `players`, the
//! highest input sequence number a snapshot acknowledged on it (`null`:
//! none). A bot logs at most `--input-log-limit` inputs (and as many
//! connections); past that it logs no more and its line says
//! `"truncated": true`.

use serde::Serialize;
use tickwire_types::{MAX_INPUT_FIELDS, sent_values};

/// What one bot sent and had acknowledged, across its connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputLog {
    /// Most inputs (and most connections) logged.
    limit: usize,
    /// The room, as the newest welcome named it.
    room: String,
    /// The player id of each welcome, in order.
    players: Vec<u32>,
    /// Every input sent: its sequence number and values.
    sent: Vec<(u32, [i32; MAX_INPUT_FIELDS])>,
    /// Per welcomed connection, the highest input it saw acknowledged.
    acked: Vec<Option<u32>>,
    /// Something past the limit was not logged.
    truncated: bool,
    /// The current connection is the last of `acked` (not one past the
    /// limit).
    logging: bool,
}

/// One bot's line of the input log.
#[derive(Debug, Serialize)]
struct Line<'a> {
    bot: usize,
    room: &'a str,
    players: &'a [u32],
    sent: Vec<(u32, &'a [i32])>,
    acked: &'a [Option<u32>],
    truncated: bool,
}

impl InputLog {
    /// An empty log of a bot that asked for `room`, keeping at most
    /// `limit` inputs and as many connections.
    pub fn new(room: &str, limit: usize) -> Self {
        Self {
            limit,
            room: room.to_owned(),
            ..Self::default()
        }
    }

    /// A welcome of `player` in `room`: a new connection, nothing
    /// acknowledged on it yet.
    pub fn welcomed(&mut self, room: &str, player: u32) {
        room.clone_into(&mut self.room);
        self.logging = self.players.len() < self.limit;
        if !self.logging {
            self.truncated = true;
            return;
        }
        self.players.push(player);
        self.acked.push(None);
    }

    /// Input `seq` went out with `values`.
    pub fn sent(&mut self, seq: u32, values: &[i32; MAX_INPUT_FIELDS]) {
        if self.sent.len() >= self.limit {
            self.truncated = true;
            return;
        }
        self.sent.push((seq, *values));
    }

    /// A snapshot on the current connection acknowledged input `seq`.
    pub fn acked(&mut self, seq: u32) {
        if let Some(slot) = self.acked.last_mut().filter(|_| self.logging) {
            *slot = Some(slot.map_or(seq, |held| held.max(seq)));
        }
    }

    /// The log as bot `bot`'s JSON line (without its newline).
    pub fn line(&self, bot: usize) -> String {
        let line = Line {
            bot,
            room: &self.room,
            players: &self.players,
            sent: self
                .sent
                .iter()
                .map(|(seq, values)| (*seq, sent_values(values)))
                .collect(),
            acked: &self.acked,
            truncated: self.truncated,
        };
        // Numbers, strings and lists only: encoding cannot fail.
        serde_json::to_string(&line).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_each_welcome_every_input_and_the_acks_per_connection() {
        let mut log = InputLog::new("swarm-0", 100);
        log.welcomed("swarm-0", 4);
        log.sent(1, &[1, -3, 0, 0, 0, 0, 0, 0]);
        log.acked(1);
        log.sent(2, &[0; MAX_INPUT_FIELDS]);
        log.acked(0);
        log.welcomed("swarm-0", 4);
        log.sent(3, &[0, 0, 7, 0, 0, 0, 0, 0]);
        assert_eq!(
            log.line(3),
            r#"{"bot":3,"room":"swarm-0","players":[4,4],"sent":[[1,[1,-3]],[2,[]],[3,[0,0,7]]],"acked":[1,null],"truncated":false}"#
        );
    }

    #[test]
    fn an_ack_before_any_welcome_is_not_a_connection() {
        let mut log = InputLog::new("r", 10);
        log.acked(5);
        assert!(log.line(0).contains(r#""acked":[]"#), "{}", log.line(0));
    }

    #[test]
    fn past_its_limit_the_log_keeps_nothing_more_and_says_so() {
        let mut log = InputLog::new("r", 2);
        for seq in 1..=5 {
            log.sent(seq, &[seq as i32, 0, 0, 0, 0, 0, 0, 0]);
        }
        for _ in 0..3 {
            log.welcomed("r", 1);
            log.acked(9);
        }
        let line = log.line(0);
        assert!(line.contains(r#""acked":[9,9]"#), "{line}");
        assert!(line.contains(r#""sent":[[1,[1]],[2,[2]]]"#), "{line}");
        assert!(line.contains(r#""players":[1,1]"#), "{line}");
        assert!(line.ends_with(r#""truncated":true}"#), "{line}");
    }
}
