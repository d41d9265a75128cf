//! Listing vocabulary every aggregate shares: pages, their sizes and sort order.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::clock::Timestamp;
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

/// The opaque cursor of a listing in time order: the instant and the key
/// that breaks ties, as `<millis>.<key>` in URL-safe base64.
pub fn timed_cursor(at: Timestamp, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{key}", at.millis()))
}

/// The instant and key of a `timed_cursor`, when the key passes `valid`;
/// otherwise the error naming the `cursor` field.
pub fn parse_timed_cursor(
    cursor: &str,
    valid: impl Fn(&str) -> bool,
) -> Result<(Timestamp, String), FieldError> {
    let bad = || FieldError::new("cursor", "is not a cursor this API handed out");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (millis, key) = text.split_once('.').ok_or_else(bad)?;
    let millis: i64 = millis.parse().map_err(|_| bad())?;
    if !valid(key) || Timestamp::from_millis(millis).millis() != millis {
        return Err(bad());
    }
    Ok((Timestamp::from_millis(millis), key.to_owned()))
}
