//! Cursor pages: a store is asked for one row more than the page holds, and
//! that extra row only tells whether another page exists.

/// The first `limit` of `rows` (read with `limit + 1`), and the cursor of the
/// next page — `key` of the last row kept — when there is one.
pub(crate) fn page_of<T, K>(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> K) -> (Vec<T>, Option<K>) {
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(key);
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::page_of;

    #[test]
    fn the_extra_row_means_a_next_page() {
        assert_eq!(page_of(vec![5, 4, 3], 2, |n| *n), (vec![5, 4], Some(4)));
        assert_eq!(page_of(vec![5, 4], 2, |n| *n), (vec![5, 4], None));
        assert_eq!(page_of(Vec::<u8>::new(), 2, |n| *n), (vec![], None));
    }
}
