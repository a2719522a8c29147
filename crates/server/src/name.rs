//! Player names: what a client asks for (`/ws?name=`) cleaned into what
//! the room shows everyone, and a room's rule that no two players share
//! one.
//!
//! The protocol limits a name in **bytes** of UTF-8
//! ([`MAX_NAME_BYTES`]), and both decoders, Rust and JavaScript, refuse a
//! longer one and with it the whole message: one name over the limit in a
//! welcome's roster or a join event would make every client in the room
//! drop its connection. So a name is cut in the wire's own unit, on a
//! character boundary, after everything that could change its length.
//!
//! [`clean`] does, in order:
//!
//! 1. **NFC normalisation**, so one name has one spelling (`é` precomposed
//!    or as `e` and a combining accent are the same name, and the same
//!    bytes).
//! 2. **Whitespace** of any kind (tabs, line breaks, no-break and wide
//!    spaces, line and paragraph separators) becomes one ASCII space, and
//!    runs of it one space.
//! 3. **Invisible characters are dropped**: every character of the general
//!    category *Other* (controls `Cc`; format `Cf`: zero-width spaces and
//!    joiners, bidi marks, embeddings, overrides and isolates, the byte
//!    order mark, soft hyphens, tags; private use `Co`; unassigned `Cn`),
//!    and the invisible characters of other categories ([`INVISIBLE`]:
//!    Hangul fillers, the combining grapheme joiner, the blank braille
//!    pattern, variation selectors other than the emoji ones). A name can
//!    then neither look empty, nor reorder the text around it (a
//!    right-to-left override would flip the rest of a chat line), nor
//!    impersonate another by an invisible difference. Emoji sequences
//!    joined by U+200D fall apart into their parts, a small price.
//! 4. **Combining marks are bounded**: at most [`MAX_MARKS`] after each
//!    base character, and none without one (at the start, after a space).
//!    Three is what ordinary text of any script needs on one letter:
//!    Thai and Lao put a vowel and a tone mark on one consonant, pointed
//!    Hebrew a dagesh, a shin dot and a vowel, Devanagari a nukta, a vowel
//!    sign and a nasal; a keycap emoji is a digit, U+FE0F and U+20E3.
//!    Stacked marks ("Zalgo" text) use tens of them to draw over the lines
//!    above and below: three keep a name within its own line.
//! 5. **Trim**, then **cut** at [`MAX_NAME_BYTES`] on a character boundary
//!    ([`truncate_utf8`]), and trim the end again.
//! 6. Nothing left: `player`.
//!
//! A room then makes the name unique ([`Names::claim`]): a name already in
//! the room, compared case-insensitively and by compatibility form (so
//! `Bob`, `bob` and the full-width `Ｂｏｂ` are one name), gets a suffix
//! ` 2`, ` 3`, …, the name cut shorter to leave it room, so the result is
//! still within [`MAX_NAME_BYTES`].

use std::collections::HashSet;

use tickwire_protocol::{MAX_NAME_BYTES, truncate_utf8};
use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory as _};

/// The name of a player that gave none (or nothing visible).
pub const DEFAULT_NAME: &str = "player";

/// Most combining marks kept after one base character (see the module
/// docs for why three).
pub const MAX_MARKS: usize = 3;

/// Invisible characters outside the category *Other*, all dropped: Hangul
/// fillers (letters that draw nothing), the combining grapheme joiner,
/// Khmer's invisible inherent vowels, Mongolian free variation selectors,
/// the blank braille pattern (drawn as a space, but not one), and the
/// variation selectors except U+FE0E and U+FE0F, which choose text or
/// emoji presentation.
const INVISIBLE: &[(char, char)] = &[
    ('\u{034F}', '\u{034F}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{2800}', '\u{2800}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0D}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{E0100}', '\u{E01EF}'),
];

fn is_invisible(c: char) -> bool {
    c.general_category_group() == GeneralCategoryGroup::Other
        || INVISIBLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

fn is_mark(c: char) -> bool {
    c.general_category_group() == GeneralCategoryGroup::Mark
}

/// Cleans a name a client asked for into one the room may show (the rules
/// are in the module docs). Never empty, never over [`MAX_NAME_BYTES`].
pub fn clean(requested: &str) -> String {
    let mut out = String::with_capacity(requested.len().min(4 * MAX_NAME_BYTES));
    // Marks kept after the last base character; `None`: no base character
    // (the start, or after a space), so a mark is dropped.
    let mut marks: Option<usize> = None;
    for c in requested.nfc() {
        if c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
            marks = None;
        } else if is_invisible(c) {
            // Dropped, and no break between a base and its marks.
        } else if is_mark(c) {
            if let Some(n) = marks.as_mut().filter(|n| **n < MAX_MARKS) {
                *n += 1;
                out.push(c);
            }
        } else {
            out.push(c);
            marks = Some(0);
        }
        // Far past anything that could be kept: stop reading.
        if out.len() > 4 * MAX_NAME_BYTES {
            break;
        }
    }
    let name = truncate_utf8(out.trim(), MAX_NAME_BYTES).trim_end();
    if name.is_empty() {
        DEFAULT_NAME.to_owned()
    } else {
        name.to_owned()
    }
}

/// What two names are compared by: their compatibility form, lower-cased.
fn likeness(name: &str) -> String {
    name.nfkc().flat_map(char::to_lowercase).collect()
}

/// `name` with ` n` after it, the name cut to leave the suffix room within
/// [`MAX_NAME_BYTES`].
fn with_suffix(name: &str, n: usize) -> String {
    let suffix = format!(" {n}");
    let base = truncate_utf8(name, MAX_NAME_BYTES.saturating_sub(suffix.len())).trim_end();
    format!("{base}{suffix}")
}

/// The names in use in one room, so that no two players share one. One
/// entry per player: it grows and shrinks with the room.
#[derive(Debug, Default)]
pub struct Names {
    taken: HashSet<String>,
}

impl Names {
    /// The name a player asking for `name` (already [`clean`]) gets: `name`
    /// if no one in the room has it, or it with the first free suffix
    /// ` 2`, ` 3`, …; taken until [`Names::release`]d.
    pub fn claim(&mut self, name: &str) -> String {
        let mut candidate = name.to_owned();
        // Among n taken names, one of the first n + 1 candidates is free.
        for n in 2..=self.taken.len().saturating_add(2) {
            if self.taken.insert(likeness(&candidate)) {
                return candidate;
            }
            candidate = with_suffix(name, n);
        }
        // Not reached (the suffixes differ); a name shared is still within
        // the limit.
        self.taken.insert(likeness(&candidate));
        candidate
    }

    /// Gives back a name that [`Names::claim`] gave.
    pub fn release(&mut self, name: &str) {
        self.taken.remove(&likeness(name));
    }

    /// Names in use.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.taken.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_invisible_name_becomes_player() {
        assert_eq!(clean(""), "player");
        assert_eq!(clean("   "), "player");
        assert_eq!(clean("\u{200B}\u{200D}\u{FEFF}\u{3164}\u{2800}"), "player");
        assert_eq!(clean("\u{301}\u{301}"), "player", "marks without a base");
    }

    #[test]
    fn controls_are_dropped_and_whitespace_is_one_space() {
        assert_eq!(clean("a\u{7}b"), "ab");
        assert_eq!(clean(" \tann\u{A0}\u{3000}\n lee\r\n"), "ann lee");
        assert_eq!(clean("a\u{2028}b"), "a b");
    }

    #[test]
    fn zero_width_and_format_characters_are_stripped() {
        assert_eq!(
            clean("b\u{200B}o\u{200C}b\u{200D}\u{2060}\u{FEFF}\u{AD}"),
            "bob"
        );
        assert_eq!(clean("a\u{E0041}b"), "ab", "tag characters");
        assert_eq!(clean("a\u{E000}b"), "ab", "private use");
        assert_eq!(clean("a\u{34F}\u{FE00}\u{E0100}b"), "ab", "invisible marks");
    }

    #[test]
    fn bidi_overrides_and_isolates_are_stripped() {
        // "evil" + RLO + "gnp.exe": would show as "evilexe.png".
        assert_eq!(clean("evil\u{202E}gnp.exe"), "evilgnp.exe");
        assert_eq!(
            clean(
                "\u{2066}a\u{2067}b\u{2068}c\u{2069}\u{202A}\u{202B}\u{202C}\u{202D}\u{200E}\u{200F}\u{61C}"
            ),
            "abc"
        );
        // Right-to-left text itself stays.
        assert_eq!(clean("שלום"), "שלום");
        assert_eq!(clean("مرحبا"), "مرحبا");
    }

    #[test]
    fn names_are_nfc_normalised() {
        let decomposed = "e\u{301}lodie";
        let composed = "\u{E9}lodie";
        assert_eq!(clean(decomposed), composed);
        assert_eq!(clean(decomposed).len(), composed.len());
    }

    #[test]
    fn combining_marks_are_bounded_per_base_character() {
        let zalgo: String = "zalgo"
            .chars()
            .flat_map(|c| {
                std::iter::once(c).chain(
                    "\u{300}\u{301}\u{302}\u{303}\u{304}\u{305}\u{306}\u{307}"
                        .chars()
                        .cycle()
                        .take(40),
                )
            })
            .collect();
        let cleaned = clean(&zalgo);
        let marks = cleaned.chars().filter(|&c| is_mark(c)).count();
        assert_eq!(marks, 5 * MAX_MARKS, "{cleaned:?}");
        assert!(cleaned.len() <= MAX_NAME_BYTES);
        // Ordinary text keeps its marks: Thai vowel and tone on one consonant,
        // a keycap emoji, Devanagari.
        for ordinary in ["กี้", "1\u{FE0F}\u{20E3}", "नमस्ते", "ग़ौं"] {
            assert_eq!(clean(ordinary), ordinary.nfc().collect::<String>());
        }
    }

    #[test]
    fn emoji_and_cjk_are_cut_at_the_byte_limit_on_a_character_boundary() {
        let emoji = "😀".repeat(24); // 96 bytes
        let cleaned = clean(&emoji);
        assert_eq!(cleaned, "😀".repeat(16));
        assert_eq!(cleaned.len(), MAX_NAME_BYTES);

        let cjk = "漢".repeat(22); // 66 bytes
        let cleaned = clean(&cjk);
        assert_eq!(cleaned, "漢".repeat(21));
        assert!(cleaned.len() <= MAX_NAME_BYTES);

        // 63 ASCII bytes then a 4-byte character: the character goes whole.
        let cleaned = clean(&format!("{}😀", "a".repeat(63)));
        assert_eq!(cleaned, "a".repeat(63));

        // A cut that leaves a trailing space trims it.
        let cleaned = clean(&format!("{} 😀", "a".repeat(62)));
        assert_eq!(cleaned, "a".repeat(62));

        assert_eq!(
            clean(&"n".repeat(40)),
            "n".repeat(40),
            "40 ASCII characters fit"
        );
        assert_eq!(clean(&"n".repeat(400)).len(), MAX_NAME_BYTES);
    }

    #[test]
    fn a_huge_name_is_not_read_to_its_end() {
        let huge = "x".repeat(1_000_000);
        assert_eq!(clean(&huge).len(), MAX_NAME_BYTES);
    }

    #[test]
    fn a_duplicate_name_gets_a_suffix() {
        let mut names = Names::default();
        assert_eq!(names.claim("ann"), "ann");
        assert_eq!(names.claim("ann"), "ann 2");
        assert_eq!(names.claim("ann"), "ann 3");
        assert_eq!(names.claim("ANN"), "ANN 4", "case does not make a name new");
        assert_eq!(names.claim("ａｎｎ"), "ａｎｎ 5", "nor does full width");
        assert_eq!(names.claim("ann 2"), "ann 2 2");
        names.release("ann 2");
        assert_eq!(names.claim("ann"), "ann 2", "a released name is free again");
        assert_eq!(names.claim("player"), "player");
        assert_eq!(names.claim("player"), "player 2");
    }

    #[test]
    fn a_suffixed_name_stays_within_the_byte_limit() {
        let mut names = Names::default();
        let long = clean(&"😀".repeat(24));
        assert_eq!(names.claim(&long), long);
        for n in 2..=12 {
            let got = names.claim(&long);
            assert!(got.len() <= MAX_NAME_BYTES, "{got:?}");
            assert!(got.ends_with(&format!(" {n}")), "{got:?}");
            assert!(got.starts_with("😀"));
        }
        assert_eq!(names.len(), 12);
        let cjk = clean(&"漢".repeat(22));
        assert_eq!(names.claim(&cjk), cjk);
        let second = names.claim(&cjk);
        assert_eq!(second, format!("{} 2", "漢".repeat(20)));
        assert!(second.len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn every_name_a_room_hands_out_is_distinct() {
        let mut names = Names::default();
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let got = names.claim("x");
            assert!(seen.insert(likeness(&got)), "{got:?} handed out twice");
        }
    }
}
