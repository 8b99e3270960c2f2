//! Room in an in-process cache that is only a shortcut (the verified-token
//! cache, the user cache): never a store whose entries must survive.

use std::collections::HashMap;
use std::hash::Hash;

/// Before an insert into `map`: at `capacity`, drops the entries `keep`
/// refuses, and if that frees nothing, everything.
pub(crate) fn make_room<K: Eq + Hash, V>(
    map: &mut HashMap<K, V>,
    capacity: usize,
    keep: impl FnMut(&K, &mut V) -> bool,
) {
    if map.len() >= capacity {
        map.retain(keep);
        if map.len() >= capacity {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_first_and_clears_only_when_sweeping_frees_nothing() {
        let mut map: HashMap<u32, bool> = (0..4).map(|k| (k, k % 2 == 0)).collect();
        make_room(&mut map, 5, |_, fresh| *fresh);
        assert_eq!(map.len(), 4, "below capacity: untouched");
        make_room(&mut map, 4, |_, fresh| *fresh);
        assert_eq!(map.len(), 2, "the stale ones went");
        make_room(&mut map, 2, |_, fresh| *fresh);
        assert!(map.is_empty(), "nothing stale left to drop: cleared");
    }
}
