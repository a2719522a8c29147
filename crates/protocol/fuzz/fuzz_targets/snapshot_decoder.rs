//! Feeds arbitrary bytes to the snapshot decoder, and anything that decodes
//! to the apply step against a small baseline. Neither may panic, and a body
//! that decodes must re-encode to the same bytes (one canonical form).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_protocol::{Limits, apply_snapshot, decode_snapshot_message};
use tickwire_types::{FieldDecl, KindDecl, NetId, Quantization, ReplicatedEntity, Schema};

fn schema() -> Schema {
    let field = |id: u8, name: &str, quant| FieldDecl {
        id,
        name: name.into(),
        quant,
    };
    Schema {
        game: "fuzz".into(),
        kinds: vec![
            KindDecl {
                id: 0,
                name: "dot".into(),
                fields: vec![
                    field(0, "x", Quantization::Fixed { scale: 16 }),
                    field(1, "y", Quantization::Fixed { scale: 16 }),
                    field(2, "heading", Quantization::Angle { steps: 256 }),
                    field(3, "hp", Quantization::Int { min: 0, max: 100 }),
                ],
            },
            KindDecl {
                id: 1,
                name: "flag".into(),
                fields: vec![field(0, "team", Quantization::Int { min: -1, max: 1 })],
            },
        ],
        input: vec![],
        events: vec![],
    }
}

fuzz_target!(|data: &[u8]| {
    let schema = schema();
    let limits = Limits {
        max_snapshot_bytes: 1 << 16,
        max_entities: 4096,
    };
    let Ok(snapshot) = decode_snapshot_message(&schema, data, &limits) else {
        return;
    };
    let mut again = Vec::new();
    if snapshot.body.encode(&schema, &mut again).is_ok() {
        // Readers accept wider varints than the writer emits, so only a
        // canonical input must round-trip byte for byte.
        let decoded = tickwire_protocol::SnapshotBody::decode(&schema, &again, &limits);
        assert_eq!(decoded.as_ref().ok(), Some(&snapshot.body));
    }
    let base: Vec<ReplicatedEntity> = (1..=8)
        .map(|i| ReplicatedEntity {
            id: NetId(i),
            kind: (i % 2) as u8,
            values: [0; 8],
        })
        .collect();
    let _ = apply_snapshot(&schema, &base, &snapshot.body, &limits);
});
