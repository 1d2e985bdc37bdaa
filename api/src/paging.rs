//! Cursor paging of the list endpoints: `limit` (1 to [`MAX_PAGE`], default
//! [`DEFAULT_PAGE`]) and `cursor` (the `next_cursor` of the previous page, an id).

use uuid::Uuid;

use crate::error::FieldError;

pub const DEFAULT_PAGE: u64 = 50;
pub const MAX_PAGE: u64 = 200;

/// Reads `limit` and `cursor`. What is wrong goes into `errors` (the default stands in
/// meanwhile), so that the caller reports it together with its other fields.
pub fn parse(
    limit: Option<&str>,
    cursor: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> (u64, Option<Uuid>) {
    let limit = match limit.map(str::parse::<u64>) {
        None => DEFAULT_PAGE,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => {
            errors.push(FieldError::new(
                "limit",
                format!("must be a whole number from 1 to {MAX_PAGE}"),
            ));
            DEFAULT_PAGE
        }
    };
    let cursor = match cursor.map(Uuid::parse_str) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            errors.push(FieldError::new(
                "cursor",
                "not a cursor from a previous page",
            ));
            None
        }
    };
    (limit, cursor)
}

/// Cuts rows fetched as `limit + 1` to one page; the extra row says another page exists,
/// which starts after the last id kept.
pub fn page<T>(mut rows: Vec<T>, limit: u64, id: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<String>) {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        let cursor = rows.last().map(|r| id(r).to_string());
        (rows, cursor)
    } else {
        (rows, None)
    }
}
