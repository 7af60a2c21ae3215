//! Routing of object keys to catalogs: `incoming/<catalog>/<rest>`.

/// Catalog partition of error rows for keys whose catalog does not exist.
pub const UNROUTED_CATALOG: &str = "_unrouted";

/// Where an object key goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The key lies under `<prefix><catalog>/`.
    Catalog(String),
    /// The key is not under the incoming prefix (e.g. results written to the same bucket):
    /// not ours to process.
    Ignore,
}

/// Routes `key` by the incoming prefix (normally `incoming/`). A key directly under the
/// prefix with no catalog folder (`incoming/x.jpg`) routes to the empty catalog name,
/// which no catalog defines, so it becomes an `unknown_catalog` error row.
pub fn route_key(prefix: &str, key: &str) -> Route {
    let Some(rest) = key.strip_prefix(prefix) else {
        return Route::Ignore;
    };
    match rest.split_once('/') {
        Some((catalog, name)) if !name.is_empty() => Route::Catalog(catalog.to_string()),
        Some(_) => Route::Ignore, // a "folder" marker object such as `incoming/retail/`
        None => Route::Catalog(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_prefix() {
        assert_eq!(
            route_key("incoming/", "incoming/retail/a/b.jpg"),
            Route::Catalog("retail".into())
        );
        assert_eq!(
            route_key("incoming/", "results/catalog=retail/x.parquet"),
            Route::Ignore
        );
        assert_eq!(route_key("incoming/", "incoming/retail/"), Route::Ignore);
        assert_eq!(
            route_key("incoming/", "incoming/x.jpg"),
            Route::Catalog(String::new())
        );
        assert_eq!(
            route_key("incoming/", "incoming/nope/x.jpg"),
            Route::Catalog("nope".into())
        );
    }
}
