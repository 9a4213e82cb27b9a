//! Search rules that need no index: what kinds of records are found, how a typed query is
//! read (words, "phrases" and the `kind:` / `owner:` / `stage:` / `tier:` operators), and when
//! a word of a record counts as a hit of a typed word (for highlighting).

use super::Invalid;

/// A kind of record that search finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Partner = 1,
    Opportunity = 2,
    Customer = 3,
    Product = 4,
    User = 5,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Partner,
        Kind::Opportunity,
        Kind::Customer,
        Kind::Product,
        Kind::User,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Partner => "partner",
            Kind::Opportunity => "opportunity",
            Kind::Customer => "customer",
            Kind::Product => "product",
            Kind::User => "user",
        }
    }

    /// The heading of a group of results.
    pub fn plural_label(self) -> &'static str {
        match self {
            Kind::Partner => "Partners",
            Kind::Opportunity => "Opportunities",
            Kind::Customer => "Customers",
            Kind::Product => "Products",
            Kind::User => "Users",
        }
    }

    pub fn from_u64(v: u64) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u64 == v)
    }

    /// Read a kind as users type it (singular or plural; "deal" for an opportunity).
    pub fn parse(s: &str) -> Result<Kind, Invalid> {
        let k = match s.trim().to_lowercase().as_str() {
            "partner" | "partners" => Kind::Partner,
            "opportunity" | "opportunities" | "deal" | "deals" => Kind::Opportunity,
            "customer" | "customers" => Kind::Customer,
            "product" | "products" => Kind::Product,
            "user" | "users" => Kind::User,
            other => {
                return Err(Invalid::new(
                    "kind",
                    format!(
                        "unknown kind `{other}`: use partner, opportunity, customer, product or user"
                    ),
                ));
            }
        };
        Ok(k)
    }
}

/// What a logged change asks the indexer to re-read: one record, or (for `Pipeline`) every
/// opportunity of a pipeline whose stage names changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    Partner = 1,
    Opportunity = 2,
    Customer = 3,
    Product = 4,
    User = 5,
    Pipeline = 6,
}

impl Change {
    pub fn from_u8(v: u8) -> Option<Change> {
        [
            Change::Partner,
            Change::Opportunity,
            Change::Customer,
            Change::Product,
            Change::User,
            Change::Pipeline,
        ]
        .into_iter()
        .find(|c| *c as u8 == v)
    }
}

/// The longest query read, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// A typed query, read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Words and "phrases" as typed (not yet split into index tokens), in order.
    pub parts: Vec<Part>,
    /// `kind:` operators (any of them).
    pub kinds: Vec<Kind>,
    /// `owner:me`
    pub mine: bool,
    /// `stage:` (a slug, see [`slug`])
    pub stage: Option<String>,
    /// `tier:` (a slug)
    pub tier: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// A word as typed; `last` when it is the last thing typed (matched as a prefix too).
    Word { text: String, last: bool },
    /// Text in quotes: its words in this order.
    Phrase(String),
}

impl Query {
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
            && self.kinds.is_empty()
            && self.stage.is_none()
            && self.tier.is_none()
            && !self.mine
    }
}

/// Lower-case, runs of anything but letters and digits as one `-`: how stage and tier names
/// are compared (`stage:closed-won` and `stage:"Closed won"` are the same).
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// Split a query into whitespace-separated chunks; text in double quotes (also after an
/// `op:`) stays one chunk. Returns (chunk, was quoted, ended with whitespace or quote).
fn chunks(q: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    for c in q.chars() {
        match c {
            '"' => {
                if in_quotes {
                    in_quotes = false;
                } else {
                    in_quotes = true;
                    quoted = true;
                }
            }
            c if c.is_whitespace() && !in_quotes => {
                if !cur.is_empty() {
                    out.push((std::mem::take(&mut cur), quoted));
                }
                quoted = false;
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push((cur, quoted));
    }
    out
}

/// Read a typed query. Errors name the field `q`.
pub fn parse(q: &str) -> Result<Query, Invalid> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(Invalid::new(
            "q",
            format!("must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let ends_open = !q.ends_with(char::is_whitespace) && !q.ends_with('"');
    let mut out = Query::default();
    let all = chunks(q);
    let n = all.len();
    for (i, (chunk, quoted)) in all.into_iter().enumerate() {
        if let Some((op, value)) = chunk.split_once(':') {
            let value = value.trim();
            let known = matches!(
                op.to_lowercase().as_str(),
                "kind" | "owner" | "stage" | "tier"
            );
            if known && value.is_empty() {
                return Err(Invalid::new("q", format!("`{op}:` needs a value")));
            }
            match op.to_lowercase().as_str() {
                "kind" => {
                    let k = Kind::parse(value).map_err(|e| Invalid::new("q", e.message))?;
                    if !out.kinds.contains(&k) {
                        out.kinds.push(k);
                    }
                    continue;
                }
                "owner" => {
                    if !value.eq_ignore_ascii_case("me") {
                        return Err(Invalid::new(
                            "q",
                            format!("`owner:{value}`: only `owner:me` is understood"),
                        ));
                    }
                    out.mine = true;
                    continue;
                }
                "stage" => {
                    out.stage = Some(slug(value));
                    continue;
                }
                "tier" => {
                    out.tier = Some(slug(value));
                    continue;
                }
                _ => {}
            }
        }
        if quoted {
            out.parts.push(Part::Phrase(chunk));
        } else {
            out.parts.push(Part::Word {
                text: chunk,
                last: i + 1 == n && ends_open,
            });
        }
    }
    Ok(out)
}

/// Whether a typed word may match a word one edit away (the typo tolerance applies to words of
/// 5 letters or more).
pub fn typo_tolerant(word: &str) -> bool {
    word.chars().count() >= 5
}

/// Whether `candidate` (a word of a record) is a hit of the typed `word`: equal, starts with
/// it when `prefix`, or one edit away (insert, delete, replace or swap two neighbours) when
/// `word` is long enough. Both are already lower-cased.
pub fn word_hits(word: &str, candidate: &str, prefix: bool) -> bool {
    if word == candidate || (prefix && candidate.starts_with(word)) {
        return true;
    }
    typo_tolerant(word) && within_one_edit(word, candidate)
}

fn within_one_edit(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let start = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if start == la.min(lb) {
        return true;
    }
    let (ra, rb) = (&a[start..], &b[start..]);
    if la == lb {
        // replace one, or swap two neighbours
        ra[1..] == rb[1..]
            || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
    } else if la > lb {
        ra[1..] == *rb
    } else {
        *ra == rb[1..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(t: &str, last: bool) -> Part {
        Part::Word {
            text: t.into(),
            last,
        }
    }

    #[test]
    fn parses_words_phrases_and_operators() {
        let q =
            parse(r#"acme "closed deal" kind:partner tier:Gold stage:"Closed won" owner:me wid"#)
                .unwrap();
        assert_eq!(
            q.parts,
            vec![
                word("acme", false),
                Part::Phrase("closed deal".into()),
                word("wid", true)
            ]
        );
        assert_eq!(q.kinds, vec![Kind::Partner]);
        assert_eq!(q.tier.as_deref(), Some("gold"));
        assert_eq!(q.stage.as_deref(), Some("closed-won"));
        assert!(q.mine);
        // a trailing space ends the last word: no prefix
        assert_eq!(parse("acme ").unwrap().parts, vec![word("acme", false)]);
        // colons in ordinary words stay words
        assert_eq!(parse("10:30").unwrap().parts, vec![word("10:30", true)]);
        assert_eq!(
            parse("kind:deals kind:users").unwrap().kinds,
            vec![Kind::Opportunity, Kind::User]
        );
    }

    #[test]
    fn refuses_bad_operators_with_the_reason() {
        for (q, msg) in [
            ("kind:widget", "unknown kind `widget`"),
            ("owner:bob", "only `owner:me`"),
            ("stage:", "`stage:` needs a value"),
        ] {
            let e = parse(q).unwrap_err();
            assert_eq!(e.field, "q");
            assert!(e.message.contains(msg), "{q}: {}", e.message);
        }
        assert!(parse(&"x".repeat(201)).is_err());
        assert!(parse(&"x".repeat(200)).is_ok());
    }

    #[test]
    fn slugs_compare_names_loosely() {
        assert_eq!(slug("Closed  won!"), "closed-won");
        assert_eq!(slug("closed-won"), "closed-won");
        assert_eq!(slug("  Gold "), "gold");
    }

    #[test]
    fn word_hits_follow_the_typo_rule() {
        assert!(word_hits("acme", "acme", false));
        assert!(word_hits("acm", "acme", true));
        assert!(!word_hits("acm", "acme", false));
        // four letters: no typo tolerance
        assert!(!word_hits("acne", "acme", false));
        // five and more: one edit
        assert!(word_hits("widgte", "widget", false)); // swap
        assert!(word_hits("widgt", "widget", false)); // delete
        assert!(word_hits("widgets", "widget", false)); // insert
        assert!(word_hits("wodget", "widget", false)); // replace
        assert!(!word_hits("wodgte", "widget", false)); // two edits
        assert!(!word_hits("widget", "gadget", false));
    }
}
