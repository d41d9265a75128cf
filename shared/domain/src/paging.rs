//! Listing vocabulary every aggregate shares: pages, their sizes and sort order.

use crate::field::FieldError;

/// One page of a listing and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, P> {
    pub items: Vec<T>,
    /// `None` when the listing is exhausted. A store may hand out a position
    /// whose next page turns out empty.
    pub next: Option<P>,
}

impl<T, P> Page<T, P> {
    /// A page whose listing goes on after its last item when `more` is set.
    pub fn new(items: Vec<T>, more: bool, position: impl Fn(&T) -> P) -> Self {
        let next = if more {
            items.last().map(position)
        } else {
            None
        };
        Page { items, next }
    }

    /// The same page with each item changed by `f`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U, P> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// Page sizes of the listings that take a `limit`: default and maximum.
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 100;

/// Reads a page size named `field` within 1..=MAX_PAGE_SIZE.
pub fn page_limit(field: &str, limit: Option<&str>) -> Result<usize, FieldError> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                FieldError::new(field, format!("must be a whole number 1-{MAX_PAGE_SIZE}"))
            }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    Ascending,
    #[default]
    Descending,
}
