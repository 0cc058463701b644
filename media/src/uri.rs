//! The little URL parsing we need, checked before any element sees it.

/// An `srt://host:port` address (no query: we set SRT options ourselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrtAddr {
    pub host: String,
    pub port: u16,
}

impl SrtAddr {
    /// The URL the SRT elements take: an IPv6 host in brackets, as
    /// [`parse_srt`] reads it (without them the port cannot be told apart).
    pub fn uri(&self) -> String {
        if self.host.contains(':') {
            format!("srt://[{}]:{}", self.host, self.port)
        } else {
            format!("srt://{}:{}", self.host, self.port)
        }
    }
}

/// Why a URL is no good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`{url}` is not a URL: {why}")]
    Malformed { url: String, why: &'static str },
    #[error("the scheme `{scheme}` is not supported here (expected {expected})")]
    UnsupportedScheme {
        scheme: String,
        expected: &'static str,
    },
}

pub(crate) fn scheme(url: &str) -> Result<&str, UrlError> {
    let malformed = |why| UrlError::Malformed {
        url: url.chars().take(200).collect(),
        why,
    };
    let (scheme, rest) = url.split_once("://").ok_or(malformed("no `scheme://`"))?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !valid {
        return Err(malformed("bad scheme"));
    }
    if rest.is_empty() {
        return Err(malformed("nothing after the scheme"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(malformed("spaces or control characters"));
    }
    Ok(scheme)
}

pub(crate) fn parse_srt(url: &str) -> Result<SrtAddr, UrlError> {
    let malformed = |why| UrlError::Malformed {
        url: url.chars().take(200).collect(),
        why,
    };
    let scheme = scheme(url)?;
    if !scheme.eq_ignore_ascii_case("srt") {
        return Err(UrlError::UnsupportedScheme {
            scheme: scheme.to_owned(),
            expected: "srt://host:port",
        });
    }
    let rest = &url[scheme.len() + 3..];
    if rest.contains(['?', '/', '@', '#']) {
        return Err(malformed("expected srt://host:port and nothing more"));
    }
    let (host, port) = match rest.strip_prefix('[') {
        // [IPv6]:port
        Some(v6) => {
            let (host, port) = v6.split_once("]:").ok_or(malformed("bad IPv6 address"))?;
            (host, port)
        }
        None => rest.rsplit_once(':').ok_or(malformed("no port"))?,
    };
    if host.is_empty() {
        return Err(malformed("no host"));
    }
    // A bracket left in the host (`srt://[[a]:5`) would print as a URL
    // that means something else (found by the `media_uri` fuzz target).
    if host.contains(['[', ']']) {
        return Err(malformed("bracket in the host"));
    }
    let port: u16 = port.parse().map_err(|_| malformed("bad port"))?;
    if port == 0 {
        return Err(malformed("port 0"));
    }
    Ok(SrtAddr {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_urls() {
        assert_eq!(
            parse_srt("srt://127.0.0.1:9000"),
            Ok(SrtAddr {
                host: "127.0.0.1".into(),
                port: 9000
            })
        );
        assert_eq!(parse_srt("srt://[::1]:9000").unwrap().host, "::1");
        assert_eq!(
            parse_srt("srt://[::1]:9000").unwrap().uri(),
            "srt://[::1]:9000"
        );
        assert!(matches!(
            parse_srt("rtmp://a:1"),
            Err(UrlError::UnsupportedScheme { .. })
        ));
        for bad in [
            "srt://",
            "srt://host",
            "srt://:9000",
            "srt://h:0",
            "srt://h:99999",
            "srt://h:9000?mode=listener",
            "not a url",
            "srt://h :9000",
            "srt://[[a]:5",
            "srt://a]:5",
            "",
        ] {
            assert!(
                matches!(parse_srt(bad), Err(UrlError::Malformed { .. })),
                "{bad}"
            );
        }
    }
}
