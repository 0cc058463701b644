//! The keyword filter: up to [`MAX_TERMS`] terms of 1 to [`MAX_TERM_CHARS`]
//! characters, matched case-insensitively (Unicode lower case) as whole
//! words: `bad` blocks "so BAD!" but not "badge" or "Sinbad". A term may
//! hold several words ("buy now"); a side of a term that is not a letter or
//! digit ("#spam", "!!!") needs no word boundary there. One Aho-Corasick
//! automaton finds every term in one pass over the line, so a few hundred
//! terms cost about what one does.

use aho_corasick::{AhoCorasick, MatchKind};
use thiserror::Error;

pub use vitrine_shared::limits::moderation::{MAX_TERM_CHARS, MAX_TERMS};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("at most {MAX_TERMS} terms ({0} given)")]
    TooMany(usize),
    #[error("term {0} is empty")]
    Empty(usize),
    #[error("term {0} is longer than {MAX_TERM_CHARS} characters")]
    TooLong(usize),
    #[error("term {0} holds a control character")]
    Control(usize),
}

/// A blocked-terms list, ready to match.
#[derive(Debug, Default)]
pub struct Filter {
    terms: Vec<String>,
    /// For each term: whether its first and last characters are word
    /// characters (and so must not touch one in the text).
    edges: Vec<(bool, bool)>,
    matcher: Option<AhoCorasick>,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric()
}

/// Trims and lower-cases each term, drops repeats (keeping the first), and
/// refuses a list that is too long or a term that is empty, too long or
/// holds control characters. Indexes in errors count from 0.
pub fn normalise<S: AsRef<str>>(raw: &[S]) -> Result<Vec<String>, FilterError> {
    if raw.len() > MAX_TERMS {
        return Err(FilterError::TooMany(raw.len()));
    }
    let mut terms: Vec<String> = Vec::with_capacity(raw.len());
    for (i, term) in raw.iter().enumerate() {
        let term = term.as_ref().trim();
        if term.is_empty() {
            return Err(FilterError::Empty(i));
        }
        if term.chars().count() > MAX_TERM_CHARS {
            return Err(FilterError::TooLong(i));
        }
        if term.chars().any(char::is_control) {
            return Err(FilterError::Control(i));
        }
        let term = term.to_lowercase();
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    Ok(terms)
}

impl Filter {
    /// A filter over `raw`, normalised as [`normalise`] does.
    pub fn new<S: AsRef<str>>(raw: &[S]) -> Result<Filter, FilterError> {
        let terms = normalise(raw)?;
        let edges = terms
            .iter()
            .map(|t| {
                let first = t.chars().next().is_some_and(is_word);
                let last = t.chars().next_back().is_some_and(is_word);
                (first, last)
            })
            .collect();
        let matcher = if terms.is_empty() {
            None
        } else {
            // Standard semantics: overlapping search reports every term at
            // every place, so a term that fails the word check cannot hide
            // another that passes.
            match AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&terms)
            {
                Ok(matcher) => Some(matcher),
                Err(e) => {
                    // 500 terms of 40 characters is far below its limits.
                    tracing::error!(%e, "cannot build the keyword filter");
                    None
                }
            }
        };
        Ok(Filter {
            terms,
            edges,
            matcher,
        })
    }

    /// The terms, lower case, in order.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Whether `text` holds a blocked term as a whole word.
    pub fn blocks(&self, text: &str) -> bool {
        let Some(matcher) = &self.matcher else {
            return false;
        };
        let lower = text.to_lowercase();
        matcher.find_overlapping_iter(&lower).any(|m| {
            let (first_is_word, last_is_word) = self.edges[m.pattern().as_usize()];
            let before_ok =
                !first_is_word || !lower[..m.start()].chars().next_back().is_some_and(is_word);
            let after_ok = !last_is_word || !lower[m.end()..].chars().next().is_some_and(is_word);
            before_ok && after_ok
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_words_in_any_case() {
        let filter = Filter::new(&["Bad", "buy now", "#spam", "ÉTÉ"]).unwrap();
        assert_eq!(filter.terms(), ["bad", "buy now", "#spam", "été"]);
        for blocked in [
            "bad",
            "so BAD!",
            "bad, bad thing",
            "(bad)",
            "Buy Now please",
            "go #SPAM go",
            "x#spam",
            "cet été",
            "a badge, and then bad",
        ] {
            assert!(filter.blocks(blocked), "{blocked:?}");
        }
        for allowed in [
            "badge",
            "Sinbad",
            "b a d",
            "buy nowhere",
            "#spammy",
            "étés",
            "",
            "all good",
        ] {
            assert!(!filter.blocks(allowed), "{allowed:?}");
        }
    }

    #[test]
    fn overlapping_terms_are_each_checked() {
        // "badger" fails the word check for "bad"; the longer term still hits.
        let filter = Filter::new(&["bad", "badger"]).unwrap();
        assert!(filter.blocks("a badger!"));
        assert!(!filter.blocks("badgers"));
    }

    #[test]
    fn an_empty_list_blocks_nothing() {
        let filter = Filter::new::<&str>(&[]).unwrap();
        assert!(!filter.blocks("anything at all"));
        assert!(filter.terms().is_empty());
    }

    #[test]
    fn lists_are_checked_and_normalised() {
        assert_eq!(
            normalise(&["  Spam ", "SPAM", "eggs"]).unwrap(),
            ["spam", "eggs"]
        );
        assert_eq!(normalise(&["ok", "  "]), Err(FilterError::Empty(1)));
        assert_eq!(normalise(&[""]), Err(FilterError::Empty(0)));
        let long = "x".repeat(MAX_TERM_CHARS + 1);
        assert_eq!(normalise(&[long.as_str()]), Err(FilterError::TooLong(0)));
        let just = "é".repeat(MAX_TERM_CHARS);
        assert!(normalise(&[just.as_str()]).is_ok(), "characters, not bytes");
        assert_eq!(normalise(&["a\u{7}b"]), Err(FilterError::Control(0)));
        let many: Vec<String> = (0..=MAX_TERMS).map(|i| format!("t{i}")).collect();
        assert_eq!(normalise(&many), Err(FilterError::TooMany(MAX_TERMS + 1)));
        let full: Vec<String> = (0..MAX_TERMS).map(|i| format!("t{i}")).collect();
        let filter = Filter::new(&full).unwrap();
        assert_eq!(filter.terms().len(), MAX_TERMS);
        assert!(filter.blocks("well T499 then"));
        assert!(!filter.blocks("t500"));
    }
}
