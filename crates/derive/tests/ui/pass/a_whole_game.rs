//! Every derive on the shapes it takes, through the prelude.
use tickwire_sim::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Replicate)]
enum Row {
    Avatar {
        #[fixed(16)]
        x: f32,
        #[angle(256)]
        heading: f32,
        #[int(0, 100)]
        hp: u8,
        alive: bool,
        player: PlayerId,
        #[tickwire(name = "owner")]
        r#for: Option<PlayerId>,
    },
    Marker,
}

#[derive(Clone, Copy, Debug, PartialEq, Replicate)]
struct Single {
    #[fixed(8)]
    x: f32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Input)]
struct Controls {
    #[axis(100)]
    x: f32,
    #[axis(100)]
    y: i16,
    #[angle(360)]
    aim: f32,
    #[buttons("a", "b", "c")]
    buttons: u16,
    jump: bool,
    #[int(-3, 3)]
    lean: i8,
    slot: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Event)]
enum Feed {
    Scored {
        by: PlayerId,
        #[int(0, 9)]
        points: u8,
    },
    Over,
}

#[derive(StateHash)]
struct Pair(u32, #[state_hash(skip)] Vec<u8>);

#[derive(StateHash)]
struct Unit;

#[derive(StateHash)]
enum Generic<T> {
    One(T),
    Two { a: T, b: (i64, f64, usize) },
}

fn main() {
    assert_eq!(Row::kinds().len(), 2);
    assert_eq!(Row::kinds()[0].fields[5].name, "owner");
    assert_eq!(Single::kinds()[0].name, "single");
    assert_eq!(Controls::fields().len(), 7);
    assert_eq!(Feed::events()[1].name, "over");
    let mut h = StateHasher::new();
    h.feed(&Pair(1, vec![]));
    h.feed(&Unit);
    h.feed(&Generic::One(String::from("x")));
}
