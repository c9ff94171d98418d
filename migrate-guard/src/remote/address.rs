//! Where a remote store is: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`
//! or `file:///dir` (pure).
//!
//! Credentials never come from the address: one that carries a user, a password or a query
//! (where SAS tokens and signed parameters live) is refused, so that no secret is ever written
//! in migrate.toml or on a command line, nor printed back in a message. They come from the
//! environment and each provider's standard chain (docs/backup.md).

use crate::Error;

/// The kind of store an address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Amazon S3 or an S3-compatible server (`s3://`).
    S3,
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// Azure Blob Storage (`az://`).
    Azure,
    /// A local or mounted directory (`file:///`).
    File,
}

/// A parsed remote address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// What kind of store.
    pub scheme: Scheme,
    /// The bucket or container (empty for `file://`).
    pub bucket: String,
    /// The prefix every key lives under, without slashes at either end (for `file://`, the
    /// directory).
    pub prefix: String,
    /// The address as given (it holds no secret: those are refused).
    pub text: String,
}

/// Parses `text`.
///
/// # Errors
///
/// [`Error::InvalidRequest`] naming the address and what is wrong with it.
pub fn parse(text: &str) -> Result<Address, Error> {
    let refuse = |why: &str| Error::InvalidRequest {
        reason: format!("remote store address `{}`: {why}", shown(text)),
    };
    let (scheme_text, rest) = text
        .split_once("://")
        .ok_or_else(|| refuse("expected s3://, gs://, az:// or file://"))?;
    let scheme = match scheme_text {
        "s3" => Scheme::S3,
        "gs" => Scheme::Gcs,
        "az" => Scheme::Azure,
        "file" => Scheme::File,
        _ => return Err(refuse("expected s3://, gs://, az:// or file://")),
    };
    if rest.contains('?') || rest.contains('#') {
        return Err(refuse(
            "a query or fragment is not allowed (credentials come from the environment, never the address)",
        ));
    }
    if scheme == Scheme::File {
        if !rest.starts_with('/') {
            return Err(refuse(
                "file:// takes an absolute path (file:///srv/backups)",
            ));
        }
        if rest.trim_end_matches('/').is_empty() {
            return Err(refuse(
                "file:/// names the root directory; give the backups' own",
            ));
        }
        if rest.split('/').any(|part| part == "." || part == "..") || rest.contains('%') {
            return Err(refuse(
                "`.`, `..` and %-escapes are not allowed in the path; give it as it is",
            ));
        }
        return Ok(Address {
            scheme,
            bucket: String::new(),
            prefix: rest.trim_end_matches('/').to_owned(),
            text: text.to_owned(),
        });
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.contains('@') || bucket.contains(':') {
        return Err(refuse(
            "a user, password or port is not allowed (credentials and endpoints come from the environment, never the address)",
        ));
    }
    if bucket.is_empty() {
        return Err(refuse("no bucket"));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|part| part == "." || part == "..")
        || prefix.contains("//")
        || prefix.contains('%')
    {
        return Err(refuse(
            "`.`, `..`, empty parts and %-escapes are not allowed in the prefix",
        ));
    }
    Ok(Address {
        scheme,
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        text: text.to_owned(),
    })
}

/// An address for a message: any query dropped, and the part between `://` and the first `/`
/// hidden when it holds a `:` or `@` (a user and password), so that a refused address with a
/// secret in it is not printed back.
pub fn shown(text: &str) -> String {
    let text = text.split(['?', '#']).next().unwrap_or("");
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if authority.contains([':', '@']) {
        format!("{scheme}://…/{path}")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_gives_its_bucket_and_prefix() {
        let a = parse("s3://backups/tenants/eu/").unwrap();
        assert_eq!(
            (a.scheme, a.bucket.as_str(), a.prefix.as_str()),
            (Scheme::S3, "backups", "tenants/eu")
        );
        assert_eq!(parse("gs://b").unwrap().prefix, "");
        assert_eq!(parse("az://container/x").unwrap().scheme, Scheme::Azure);
        let f = parse("file:///srv/backups/").unwrap();
        assert_eq!(
            (f.scheme, f.prefix.as_str()),
            (Scheme::File, "/srv/backups")
        );
    }

    #[test]
    fn secrets_other_schemes_and_odd_paths_are_refused_without_being_printed() {
        for (text, said) in [
            ("s3://AKIA:secret@bucket/p", "a user, password or port"),
            ("s3://AKIA:secret/p", "a user, password or port"),
            ("s3://b/a%2Fb", "%-escapes"),
            ("s3://b/a//b", "empty parts"),
            ("file:///", "the root directory"),
            ("file:///srv/../etc", "`..`"),
            ("s3://bucket/p?X-Amz-Signature=abc", "a query"),
            ("az://c/p#frag", "a query or fragment"),
            ("http://bucket/p", "expected s3://"),
            ("bucket/p", "expected s3://"),
            ("s3:///p", "no bucket"),
            ("s3://b/a/../c", "`..`"),
            ("file://relative/dir", "absolute path"),
        ] {
            let message = parse(text).unwrap_err().to_string();
            assert!(message.contains(said), "{text}: {message}");
            assert!(!message.contains("secret"), "{message}");
            assert!(!message.contains("Signature"), "{message}");
        }
    }
}
