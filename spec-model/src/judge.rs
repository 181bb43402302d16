//! Which observations the text allows, where it allows several (issue: "is this observation
//! allowed?" rather than "is it the one answer?"). The state machine gives one canonical answer;
//! a black-box checker compares a server's answer with these relations instead.
//!
//! - LST-3: the server picks the page size: a page is allowed when it is a non-empty prefix of the
//!   remaining items in order (or empty when none remain), and `next_batch` is present when items
//!   remain after it.
//! - LST-5 / PSH-3: a finalised record may be missing when it was already returned (if the server
//!   discards) or is past the server's own retention.
//! - LST-7 DECIDED: ties in the sort key are broken by `delay_id`; with `strict == false` any tie
//!   order is accepted.

use crate::error::ErrCode;
use crate::types::DelayId;

/// MGT-2 CLARIFIED: the codes a server may answer where the model answers `code` (a missing
/// `action` is `M_MISSING_PARAM` in the model, `M_INVALID_PARAM` is allowed too).
pub fn errcode_allowed(code: ErrCode, got: &str) -> bool {
    got == code.as_str() || (code == ErrCode::MissingParam && got == ErrCode::InvalidParam.as_str())
}

/// One list item as a black-box checker sees it: its sort key and id (already mapped to model ids).
pub type Keyed = (u64, DelayId);

/// LST-3: is `page` (with `has_next`) an allowed answer when `remaining` are the items the model
/// says are left after the cursor, in the model's order?
pub fn page_allowed(remaining: &[Keyed], page: &[Keyed], has_next: bool, strict: bool) -> bool {
    if page.len() > remaining.len() || (page.is_empty() && !remaining.is_empty()) {
        return false;
    }
    if !page.iter().all(|k| remaining.contains(k)) {
        return false; // an item that is not in the list at all
    }
    let prefix = &remaining[..page.len()];
    let same_items = if strict {
        prefix == page
    } else {
        // Any tie order: the page must hold the first items by key, keys in order.
        let mut a: Vec<Keyed> = prefix.to_vec();
        let mut b: Vec<Keyed> = page.to_vec();
        let keys_in_order = page.windows(2).all(|w| keys_ordered(remaining, w[0].0, w[1].0));
        a.sort();
        b.sort();
        let boundary_tie =
            page.last().is_some_and(|last| remaining[page.len()..].iter().any(|r| r.0 == last.0));
        keys_in_order && (a == b || boundary_tie && same_multiset_of_keys(prefix, page))
    };
    let more_left = remaining.len() > page.len();
    same_items && (!more_left || has_next)
}

/// Whether key `a` may come before key `b` in the direction `remaining` is sorted in.
fn keys_ordered(remaining: &[Keyed], a: u64, b: u64) -> bool {
    let descending = remaining.windows(2).any(|w| w[0].0 > w[1].0);
    if descending {
        a >= b
    } else {
        a <= b
    }
}

fn same_multiset_of_keys(x: &[Keyed], y: &[Keyed]) -> bool {
    let mut a: Vec<u64> = x.iter().map(|k| k.0).collect();
    let mut b: Vec<u64> = y.iter().map(|k| k.0).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// LST-5 / PSH-3: a finalised list is allowed when it is, in order, the model's list minus records
/// the server may have dropped (`droppable`).
pub fn finalised_allowed(model: &[Keyed], observed: &[Keyed], droppable: &[DelayId]) -> bool {
    let mut expected = model.iter().filter(|k| observed.contains(k) || !droppable.contains(&k.1));
    let mut seen = observed.iter();
    loop {
        match (expected.next(), seen.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => continue,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(key: u64, id: u16) -> Keyed {
        (key, DelayId(id))
    }

    // covers: LST-3
    // Would catch: a judge accepting a page that skips the first item or lacks `next_batch` mid-walk.
    #[test]
    fn any_page_size_is_allowed_but_order_and_next_batch_are_not_optional() {
        let remaining = [k(1, 0), k(2, 1), k(3, 2)];
        assert!(page_allowed(&remaining, &remaining[..1], true, true));
        assert!(page_allowed(&remaining, &remaining, false, true));
        assert!(!page_allowed(&remaining, &remaining[..2], false, true), "items left: next_batch required");
        assert!(!page_allowed(&remaining, &[k(2, 1)], true, true), "skipping the first item");
        assert!(!page_allowed(&remaining, &[], false, true), "empty page while items remain");
        assert!(page_allowed(&[], &[], false, true));
    }

    // covers: LST-7
    // Would catch: a judge accepting swapped ties under `--strict`, or an id outside the list at a tied key.
    #[test]
    fn tie_order_is_free_unless_strict() {
        let remaining = [k(5, 0), k(5, 1), k(6, 2)];
        let swapped = [k(5, 1), k(5, 0)];
        assert!(!page_allowed(&remaining, &swapped, true, true));
        assert!(page_allowed(&remaining, &swapped, true, false));
        // A tie at the page boundary: either tied item may end the page.
        assert!(page_allowed(&remaining, &[k(5, 1)], true, false));
        assert!(!page_allowed(&remaining, &[k(6, 2)], true, false));
        assert!(!page_allowed(&remaining, &[k(5, 9)], true, false), "an id not in the list, tied key");
    }

    // covers: MGT-2
    // Would catch: a judge that refuses `M_INVALID_PARAM` for a missing action, or accepts it for
    // other errors.
    #[test]
    fn a_missing_action_may_be_either_code() {
        assert!(errcode_allowed(ErrCode::MissingParam, "M_MISSING_PARAM"));
        assert!(errcode_allowed(ErrCode::MissingParam, "M_INVALID_PARAM"));
        assert!(!errcode_allowed(ErrCode::MissingParam, "M_BAD_JSON"));
        assert!(!errcode_allowed(ErrCode::InvalidParam, "M_MISSING_PARAM"));
    }

    // covers: LST-5 PSH-3
    // Would catch: a judge accepting a missing record that was never returned, or a reordered list.
    #[test]
    fn finalised_may_miss_only_droppable_records() {
        let model = [k(9, 2), k(8, 1), k(7, 0)];
        assert!(finalised_allowed(&model, &[k(9, 2), k(7, 0)], &[DelayId(1)]));
        assert!(!finalised_allowed(&model, &[k(9, 2), k(7, 0)], &[]));
        assert!(!finalised_allowed(&model, &[k(7, 0), k(9, 2)], &[DelayId(1)]), "order kept");
    }
}
