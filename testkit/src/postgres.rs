//! The PostgreSQL cluster of a test run: `scripts/test` starts a throw-away
//! one (`scripts/pg-cluster`) and names its superuser's URL in [`TEST_PG`].

/// The environment variable naming the shared test cluster's superuser URL.
pub const TEST_PG: &str = "OCSPLAB_TEST_PG";

/// The shared test cluster's superuser URL, or `None` after reporting the
/// test skipped (see [`crate::skip`]).
#[track_caller]
pub fn test_cluster() -> Option<String> {
    match std::env::var(TEST_PG) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            crate::skip(&format!(
                "PostgreSQL tests need {TEST_PG}=postgres://… (scripts/test starts a cluster with scripts/pg-cluster)"
            ));
            None
        }
    }
}

/// `url` with its database replaced by `database` and, when given, its user
/// and password (percent-encoded as a URL needs).
///
/// # Panics
/// When `url` is not a URL with a host: test set-up, not input.
pub fn url_with(url: &str, database: &str, login: Option<(&str, &str)>) -> String {
    let mut url = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: not a URL: {e}"));
    url.set_path(&format!("/{database}"));
    if let Some((user, password)) = login {
        let set = url
            .set_username(user)
            .and_then(|()| url.set_password(Some(password)));
        assert!(set.is_ok(), "{url}: cannot carry a user and password");
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_gets_another_database_and_login() {
        let admin = "postgres://postgres:s3cret@127.0.0.1:5432/postgres";
        assert_eq!(
            url_with(admin, "lab_1", None),
            "postgres://postgres:s3cret@127.0.0.1:5432/lab_1"
        );
        assert_eq!(
            url_with(admin, "lab_1", Some(("reader", "p@ss"))),
            "postgres://reader:p%40ss@127.0.0.1:5432/lab_1"
        );
    }
}
