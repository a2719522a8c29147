//! Which survivors of a delta changed, and which of their fields: written
//! as nothing (all or none changed) or the smallest of a bitset, the changed
//! indices or the unchanged indices, then the most common field mask and
//! its exceptions. The writer picks the form; the reader checks it.

use super::ChangedEntity;
use super::error::SnapshotDecodeError;
use crate::codec::{ReadError, Reader, put_u32, varint_len};

/// How the changed survivors are picked out, when some but not all changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Selection {
    /// One bit per survivor, LSB first.
    Bitset = 0,
    /// The changed survivors' indices as gaps.
    Changed = 1,
    /// The unchanged survivors' indices as gaps.
    Unchanged = 2,
}

/// Writes index gaps: the first index, then each index minus the previous
/// one minus one.
fn put_gaps(out: &mut Vec<u8>, indices: impl Iterator<Item = u32>) {
    let mut next = 0u32;
    for i in indices {
        put_u32(out, i.wrapping_sub(next));
        next = i.wrapping_add(1);
    }
}

fn gaps_len(indices: impl Iterator<Item = u32>) -> usize {
    let mut next = 0u32;
    let mut len = 0;
    for i in indices {
        len += varint_len(i.wrapping_sub(next));
        next = i.wrapping_add(1);
    }
    len
}

/// Writes the survivor count, which survivors changed (in the smallest of
/// the three selections) and their field masks (the most common mask, then
/// the exceptions). `changed` is `(survivor index, mask)`, ascending.
pub(super) fn put_changes(out: &mut Vec<u8>, survivors: u32, changed: &[(u32, u8)]) {
    put_u32(out, survivors);
    put_u32(out, changed.len() as u32);
    if changed.is_empty() {
        return;
    }
    if changed.len() as u32 != survivors {
        let changed_indices = || changed.iter().map(|(i, _)| *i);
        let unchanged_indices = || {
            let mut c = changed.iter().map(|(i, _)| *i).peekable();
            (0..survivors).filter(move |i| {
                if c.peek() == Some(i) {
                    c.next();
                    false
                } else {
                    true
                }
            })
        };
        let bitset = (survivors as usize).div_ceil(8);
        let by_changed = gaps_len(changed_indices());
        let by_unchanged = gaps_len(unchanged_indices());
        if bitset <= by_changed && bitset <= by_unchanged {
            out.push(Selection::Bitset as u8);
            let start = out.len();
            out.resize(start + bitset, 0);
            for &(i, _) in changed {
                if let Some(byte) = out.get_mut(start + i as usize / 8) {
                    *byte |= 1 << (i % 8);
                }
            }
        } else if by_changed <= by_unchanged {
            out.push(Selection::Changed as u8);
            put_gaps(out, changed_indices());
        } else {
            out.push(Selection::Unchanged as u8);
            put_gaps(out, unchanged_indices());
        }
    }
    // Most survivors change the same fields (a moving avatar: x and y), so
    // the masks are the most common one (ties: the smallest) plus a list of
    // exceptions.
    if let Some((default, few)) = first_mask_exceptions(changed) {
        // Commonly the first mask is most survivors': one pass found it
        // and its exceptions.
        let exceptions = few.as_slice().iter().map(|&k| {
            let m = changed.get(k as usize).map_or(default, |&(_, m)| m);
            (k, m)
        });
        put_masks(out, default, few.len as u32, exceptions);
        return;
    }
    let (default, count) = most_common_mask(changed);
    let exceptions = (0u32..)
        .zip(changed)
        .filter_map(|(k, &(_, m))| (m != default).then_some((k, m)));
    put_masks(out, default, changed.len() as u32 - count, exceptions);
}

/// Writes the default mask, then `count` exceptions: each its position
/// among the changed survivors, as a gap from the one before, and its mask.
fn put_masks(
    out: &mut Vec<u8>,
    default: u8,
    count: u32,
    exceptions: impl Iterator<Item = (u32, u8)>,
) {
    out.push(default);
    put_u32(out, count);
    let mut next = 0u32;
    // No scan past the last exception (none at all when there are none).
    for (k, m) in exceptions.take(count as usize) {
        put_u32(out, k - next);
        next = k + 1;
        out.push(m);
    }
}

/// The first changed survivor's mask and the indices of those with
/// another, when they are fewer than half (so that mask is the most common
/// one) and at most [`FEW_EXCEPTIONS`]; `None` otherwise.
fn first_mask_exceptions(changed: &[(u32, u8)]) -> Option<(u8, FewExceptions)> {
    let &(_, first) = changed.first()?;
    let mut few = FewExceptions::default();
    for (k, &(_, m)) in changed.iter().enumerate() {
        if m != first {
            *few.slots.get_mut(few.len)? = k as u32;
            few.len += 1;
        }
    }
    (few.len * 2 < changed.len()).then_some((first, few))
}

/// Most exceptions [`first_mask_exceptions`] keeps (on the stack).
const FEW_EXCEPTIONS: usize = 16;

/// Up to [`FEW_EXCEPTIONS`] indices.
#[derive(Default)]
struct FewExceptions {
    slots: [u32; FEW_EXCEPTIONS],
    len: usize,
}

impl FewExceptions {
    fn as_slice(&self) -> &[u32] {
        self.slots.get(..self.len).unwrap_or(&[])
    }
}

/// The most common mask among `changed` (ties go to the smallest) and how
/// many have it. Few distinct masks occur in practice, so they are counted
/// in a short list; many distinct ones fall back to a full table.
fn most_common_mask(changed: &[(u32, u8)]) -> (u8, u32) {
    // Commonly most changed survivors changed the same fields as the
    // first: a mask more than half of them have is the most common one.
    if let Some(&(_, first)) = changed.first() {
        let count = changed.iter().filter(|&&(_, m)| m == first).count();
        if count * 2 > changed.len() {
            return (first, count as u32);
        }
    }
    const SHORT: usize = 16;
    let mut seen = [(0u8, 0u32); SHORT];
    let mut distinct = 0;
    let mut short = true;
    for &(_, m) in changed {
        match seen[..distinct].iter_mut().find(|(mask, _)| *mask == m) {
            Some((_, count)) => *count += 1,
            None if distinct < SHORT => {
                seen[distinct] = (m, 1);
                distinct += 1;
            }
            None => {
                short = false;
                break;
            }
        }
    }
    if short {
        return seen[..distinct]
            .iter()
            .copied()
            .max_by_key(|&(m, count)| (count, std::cmp::Reverse(m)))
            .unwrap_or((1, 0));
    }
    let mut counts = [0u32; 256];
    for &(_, m) in changed {
        counts[usize::from(m)] += 1;
    }
    let default = (1..=255u8)
        .max_by_key(|&m| (counts[usize::from(m)], std::cmp::Reverse(m)))
        .unwrap_or(1);
    (default, counts[usize::from(default)])
}

/// Reads which survivors changed when some but not all did, pushing one
/// [`ChangedEntity`] per changed survivor, by ascending index.
pub(super) fn read_selection(
    r: &mut Reader<'_>,
    survivors: u32,
    changed_count: u32,
    changed: &mut Vec<ChangedEntity>,
) -> Result<(), SnapshotDecodeError> {
    let entry = |index| ChangedEntity {
        index,
        ..ChangedEntity::default()
    };
    match r.u8()? {
        0 => {
            let bits = r.take((survivors as usize).div_ceil(8))?;
            let set: u32 = bits.iter().map(|b| b.count_ones()).sum();
            let tail = survivors % 8;
            let padding_clear = tail == 0 || bits.last().is_none_or(|&last| last >> tail == 0);
            if set != changed_count || !padding_clear {
                return Err(SnapshotDecodeError::BadSelection);
            }
            for (byte_index, &byte) in bits.iter().enumerate() {
                let mut byte = byte;
                while byte != 0 {
                    let bit = byte.trailing_zeros();
                    byte &= byte - 1;
                    changed.push(entry(byte_index as u32 * 8 + bit));
                }
            }
        }
        1 => {
            let mut next = 0u32;
            for _ in 0..changed_count {
                let index = next
                    .checked_add(r.u32()?)
                    .filter(|&i| i < survivors)
                    .ok_or(SnapshotDecodeError::BadSelection)?;
                changed.push(entry(index));
                next = index + 1;
            }
        }
        2 => {
            // The gaps name the survivors that did not change.
            let unchanged = survivors - changed_count;
            if unchanged as usize > r.remaining() {
                return Err(ReadError::Truncated.into());
            }
            let mut next = 0u32;
            for _ in 0..unchanged {
                let index = next
                    .checked_add(r.u32()?)
                    .filter(|&i| i < survivors)
                    .ok_or(SnapshotDecodeError::BadSelection)?;
                changed.extend((next..index).map(entry));
                next = index + 1;
            }
            changed.extend((next..survivors).map(entry));
        }
        other => return Err(SnapshotDecodeError::UnknownSelection(other)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition: the mask most survivors share, ties to the smallest.
    fn most_common_by_count(changed: &[(u32, u8)]) -> (u8, u32) {
        let mut counts = [0u32; 256];
        for &(_, m) in changed {
            counts[usize::from(m)] += 1;
        }
        (1..=255u8)
            .map(|m| (m, counts[usize::from(m)]))
            .max_by_key(|&(m, count)| (count, std::cmp::Reverse(m)))
            .unwrap_or((1, 0))
    }

    proptest! {

        #[test]
        fn most_common_mask_is_the_most_common_and_ties_go_to_the_smallest(
            masks in prop::collection::vec(prop_oneof![4 => Just(3u8), 1 => 1u8..=255, 1 => 1u8..=4], 1..80)
        ) {
            let changed: Vec<(u32, u8)> =
                masks.iter().enumerate().map(|(i, &m)| (i as u32, m)).collect();
            prop_assert_eq!(most_common_mask(&changed), most_common_by_count(&changed));
        }

        #[test]
        fn the_changes_name_the_most_common_mask_and_list_the_rest(
            masks in prop::collection::vec(prop_oneof![4 => Just(3u8), 1 => 1u8..=255, 1 => 1u8..=4], 1..80)
        ) {
            // Every survivor changed: no selection, then the default mask
            // and the exceptions as (gap, mask).
            let changed: Vec<(u32, u8)> =
                masks.iter().enumerate().map(|(i, &m)| (i as u32, m)).collect();
            let n = changed.len() as u32;
            let mut out = Vec::new();
            put_changes(&mut out, n, &changed);
            let (default, count) = most_common_by_count(&changed);
            let mut expected = vec![n as u8, n as u8, default, (n - count) as u8];
            let mut next = 0;
            for (k, &(_, m)) in changed.iter().enumerate() {
                if m != default {
                    expected.extend([(k as u32 - next) as u8, m]);
                    next = k as u32 + 1;
                }
            }
            prop_assert_eq!(out, expected);
        }
    }
}
