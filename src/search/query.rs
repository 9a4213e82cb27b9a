//! Running a query: the caller's org and reach become required clauses before ranking, the
//! typed words become per-word matches (exact, prefix for the word being typed, one typo for
//! long words), and the hits come back with their matched words marked.

use super::schema::{self, Fields};
use super::{Search, Status};
use crate::domain::search::{self as rules, Kind, Part, Query};
use crate::domain::{OrgId, UserId};
use std::collections::BTreeMap;
use std::ops::Range;
use tantivy::collector::{Collector, SegmentCollector, TopDocs};
use tantivy::query::{
    BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhrasePrefixQuery, PhraseQuery,
    Query as TQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{IndexRecordOption, TantivyDocument, Value};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, DocId, Score, SegmentReader, Term};

/// How much of one kind of record a caller may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Every record of the org.
    All,
    /// Records owned by one of these users.
    Owners(Vec<UserId>),
}

/// Who searches: the org and, per kind, how far they see (kinds absent are not searched).
#[derive(Clone, Debug)]
pub struct Viewer {
    pub org: OrgId,
    pub me: UserId,
    pub reach: Vec<(Kind, Reach)>,
}

/// A piece of text with the byte ranges of its matched words.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Marked {
    pub text: String,
    /// Byte ranges (start, end) of the matched words in `text`.
    pub marks: Vec<(usize, usize)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub kind: Kind,
    /// The record's id (partner, opportunity or user id; customer id; SKU).
    pub key: String,
    pub title: Marked,
    /// Where the words matched outside the title (`None` when only the title matched).
    pub context: Option<Marked>,
    /// A short summary of the record.
    pub line: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    pub hits: Vec<Hit>,
    /// Matches per kind the caller may see, ignoring the `kind` filter.
    pub counts: BTreeMap<Kind, u64>,
    /// Matches of the kinds asked for (what the pages of `hits` run through).
    pub total: u64,
    pub status: Status,
}

/// Typing fewer letters than this matches whole words only (a one-letter prefix would match
/// most of the index).
const MIN_PREFIX: usize = 2;

struct Builder<'a> {
    f: &'a Fields,
    words: TextAnalyzer,
}

fn term_q(t: Term, boost: Score) -> Box<dyn TQuery> {
    let q: Box<dyn TQuery> = Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs));
    if boost == 1.0 {
        q
    } else {
        Box::new(BoostQuery::new(q, boost))
    }
}

fn boosted(q: impl TQuery + 'static, boost: Score) -> Box<dyn TQuery> {
    Box::new(BoostQuery::new(Box::new(q), boost))
}

fn any(qs: Vec<Box<dyn TQuery>>) -> Box<dyn TQuery> {
    Box::new(BooleanQuery::new(
        qs.into_iter().map(|q| (Occur::Should, q)).collect(),
    ))
}

/// A typed word as tokens, for matching and highlighting.
#[derive(Clone, Debug)]
pub struct Wanted {
    pub token: String,
    pub prefix: bool,
}

impl Builder<'_> {
    fn tokens(&mut self, text: &str) -> Vec<String> {
        schema::tokens(&mut self.words, text)
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    }

    /// The query for one typed part, and the tokens it highlights.
    fn part(&mut self, part: &Part, wanted: &mut Vec<Wanted>) -> Option<Box<dyn TQuery>> {
        let f = self.f;
        let (text, last, phrase) = match part {
            Part::Word { text, last } => (text.as_str(), *last, false),
            Part::Phrase(text) => (text.as_str(), false, true),
        };
        let tokens = self.tokens(text);
        let whole = Term::from_field_text(f.exact, &text.trim().to_lowercase());
        match tokens.as_slice() {
            // Nothing to match word by word (punctuation, a very long word): only the whole
            // value can match.
            [] => Some(term_q(whole, 12.0)),
            [w] => {
                let prefix = last && w.chars().count() >= MIN_PREFIX;
                wanted.push(Wanted {
                    token: w.clone(),
                    prefix,
                });
                let mut qs = vec![
                    term_q(whole, 12.0),
                    term_q(Term::from_field_text(f.title, w), 3.0),
                    term_q(Term::from_field_text(f.text, w), 1.0),
                ];
                if prefix {
                    qs.push(boosted(
                        FuzzyTermQuery::new_prefix(Term::from_field_text(f.text, w), 0, true),
                        0.8,
                    ));
                }
                if !phrase && rules::typo_tolerant(w) {
                    qs.push(boosted(
                        FuzzyTermQuery::new(Term::from_field_text(f.text, w), 1, true),
                        0.5,
                    ));
                }
                Some(any(qs))
            }
            many => {
                for (i, w) in many.iter().enumerate() {
                    wanted.push(Wanted {
                        token: w.clone(),
                        prefix: last && i + 1 == many.len(),
                    });
                }
                let terms: Vec<Term> = many
                    .iter()
                    .map(|w| Term::from_field_text(f.text, w))
                    .collect();
                let words: Box<dyn TQuery> = if last {
                    Box::new(PhrasePrefixQuery::new(terms))
                } else {
                    Box::new(PhraseQuery::new(terms))
                };
                Some(any(vec![term_q(whole, 12.0), words]))
            }
        }
    }
}

/// The required clauses: the org, and each kind the viewer may see (limited to `kinds` when
/// given) with its owner limit.
fn reach_clause(f: &Fields, viewer: &Viewer, kinds: &[Kind]) -> Box<dyn TQuery> {
    let mut per_kind: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
    for (kind, reach) in &viewer.reach {
        if !kinds.is_empty() && !kinds.contains(kind) {
            continue;
        }
        // filters: they decide what may match, not how well (boost 0)
        let k = term_q(Term::from_field_u64(f.kind, *kind as u64), 0.0);
        let clause: Box<dyn TQuery> = match reach {
            Reach::All => k,
            Reach::Owners(users) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, k),
                (
                    Occur::Must,
                    boosted(
                        TermSetQuery::new(
                            users
                                .iter()
                                .map(|u| Term::from_field_text(f.owner, &u.to_string())),
                        ),
                        0.0,
                    ),
                ),
            ])),
        };
        per_kind.push((Occur::Should, clause));
    }
    Box::new(BooleanQuery::new(per_kind))
}

/// Counts matches per kind (one pass, no scoring).
struct KindCounts;

struct KindCountsSegment {
    kinds: std::sync::Arc<dyn tantivy::columnar::ColumnValues<u64>>,
    counts: [u64; 8],
}

impl Collector for KindCounts {
    type Fruit = [u64; 8];
    type Child = KindCountsSegment;

    fn for_segment(
        &self,
        _segment: tantivy::SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<KindCountsSegment> {
        Ok(KindCountsSegment {
            kinds: reader.fast_fields().u64("kind")?.first_or_default_col(0),
            counts: [0; 8],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<[u64; 8]>) -> tantivy::Result<[u64; 8]> {
        let mut out = [0; 8];
        for f in fruits {
            for (o, n) in out.iter_mut().zip(f) {
                *o += n;
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for KindCountsSegment {
    type Fruit = [u64; 8];

    fn collect(&mut self, doc: DocId, _score: Score) {
        let k = self.kinds.get_val(doc) as usize;
        if let Some(c) = self.counts.get_mut(k) {
            *c += 1;
        }
    }

    fn harvest(self) -> [u64; 8] {
        self.counts
    }
}

/// Mark the tokens of `text` that hit a wanted word: the whole word, or only its typed
/// beginning when it matched as a prefix.
pub fn mark(words: &mut TextAnalyzer, text: &str, wanted: &[Wanted]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for (t, r) in schema::tokens(words, text) {
        if wanted.iter().any(|w| rules::word_hits(&w.token, &t, false)) {
            out.push(r);
        } else if let Some(w) = wanted
            .iter()
            .filter(|w| rules::word_hits(&w.token, &t, w.prefix))
            .max_by_key(|w| w.token.len())
        {
            // the typed letters, counted in the original text (folding keeps most letters one
            // for one; the mark never leaves the word)
            let typed = w.token.chars().count();
            let end = text[r.clone()]
                .char_indices()
                .nth(typed)
                .map_or(r.end, |(i, _)| r.start + i);
            out.push(r.start..end);
        }
    }
    out
}

/// Around the first mark of `text` outside its first `skip` bytes (the title), about `width`
/// characters of context, cut at character boundaries, with the marks inside it.
fn excerpt(text: &str, marks: &[Range<usize>], skip: usize, width: usize) -> Option<Marked> {
    let first = marks.iter().find(|m| m.start >= skip)?;
    // the line the mark is on
    let line_start = text[..first.start]
        .rfind('\n')
        .map_or(0, |i| i + 1)
        .max(skip);
    let line_end = text[first.start..]
        .find('\n')
        .map_or(text.len(), |i| first.start + i);
    let mut start = line_start;
    if first.start - line_start > width / 2 {
        start = first.start - width / 2;
        while !text.is_char_boundary(start) {
            start += 1;
        }
    }
    let mut end = line_end.min(start + width);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end = end.max(first.end.min(line_end));
    let lead = if start > line_start { "…" } else { "" };
    let tail = if end < line_end { "…" } else { "" };
    let body = &text[start..end];
    let shift = lead.len();
    let marks = marks
        .iter()
        .filter(|m| m.start >= start && m.end <= end)
        .map(|m| (m.start - start + shift, m.end - start + shift))
        .collect();
    Some(Marked {
        text: format!("{lead}{body}{tail}"),
        marks,
    })
}

/// The ranking nudge: up to 15 % for a record changed recently and 15 % for a large one (and
/// a tiny amount on top, which orders listings by operators alone, whose score is 0).
fn nudge(score: Score, updated: i64, weight: u64, now: i64) -> Score {
    let age_days = ((now - updated).max(0) as f32) / 86_400e6;
    let recency = 1.0 / (1.0 + age_days / 90.0);
    // minor units: 100 = one unit of money; a million units counts fully
    let size = (((weight as f32) / 100.0 + 1.0).log10() / 6.0).min(1.0);
    score * (1.0 + 0.15 * recency + 0.15 * size) + 0.001 * (recency + size)
}

impl Search {
    /// Search `q` for `viewer`: hits `offset..offset + limit` of the kinds asked for (all the
    /// viewer may see when `q` names none), best first, with per-kind counts.
    pub fn query(
        &self,
        viewer: &Viewer,
        q: &Query,
        offset: usize,
        limit: usize,
        now: crate::domain::Ts,
    ) -> tantivy::Result<Results> {
        let f = &self.shared.fields;
        let mut b = Builder {
            f,
            words: schema::words(),
        };
        let mut wanted = Vec::new();
        let mut must: Vec<(Occur, Box<dyn TQuery>)> = vec![(
            Occur::Must,
            term_q(Term::from_field_u64(f.org, viewer.org.0), 0.0),
        )];
        if q.mine {
            must.push((
                Occur::Must,
                term_q(Term::from_field_text(f.owner, &viewer.me.to_string()), 0.0),
            ));
        }
        if let Some(s) = &q.stage {
            must.push((Occur::Must, term_q(Term::from_field_text(f.stage, s), 0.0)));
        }
        if let Some(t) = &q.tier {
            must.push((Occur::Must, term_q(Term::from_field_text(f.tier, t), 0.0)));
        }
        for p in &q.parts {
            if let Some(pq) = b.part(p, &mut wanted) {
                must.push((Occur::Must, pq));
            }
        }
        let searcher = self.shared.reader.searcher();
        let with_reach = |kinds: &[Kind]| {
            let mut all: Vec<(Occur, Box<dyn TQuery>)> =
                must.iter().map(|(o, q)| (*o, q.box_clone())).collect();
            all.push((Occur::Must, reach_clause(f, viewer, kinds)));
            BooleanQuery::new(all)
        };
        let now = now.0;
        let top = TopDocs::with_limit(limit.max(1))
            .and_offset(offset)
            .tweak_score(move |seg: &SegmentReader| {
                let updated = seg
                    .fast_fields()
                    .i64("updated")
                    .map(|c| c.first_or_default_col(0));
                let weight = seg
                    .fast_fields()
                    .u64("weight")
                    .map(|c| c.first_or_default_col(0));
                move |doc: DocId, score: Score| match (&updated, &weight) {
                    (Ok(u), Ok(w)) => nudge(score, u.get_val(doc), w.get_val(doc), now),
                    _ => score,
                }
            });
        let (top, counts) = if q.kinds.is_empty() {
            searcher.search(&with_reach(&[]), &(top, KindCounts))?
        } else {
            let counts = searcher.search(&with_reach(&[]), &KindCounts)?;
            (searcher.search(&with_reach(&q.kinds), &top)?, counts)
        };
        let counts: BTreeMap<Kind, u64> = viewer
            .reach
            .iter()
            .map(|(k, _)| (*k, counts[*k as usize]))
            .collect();
        let total = counts
            .iter()
            .filter(|(k, _)| q.kinds.is_empty() || q.kinds.contains(k))
            .map(|(_, n)| n)
            .sum();
        let mut hits = Vec::with_capacity(top.len());
        for (_, addr) in top {
            hits.push(self.hit(&searcher, addr, &mut b.words, &wanted)?);
        }
        Ok(Results {
            hits,
            counts,
            total,
            status: self.status(),
        })
    }

    fn hit(
        &self,
        searcher: &tantivy::Searcher,
        addr: DocAddress,
        words: &mut TextAnalyzer,
        wanted: &[Wanted],
    ) -> tantivy::Result<Hit> {
        let f = &self.shared.fields;
        let doc: TantivyDocument = searcher.doc(addr)?;
        let text_of = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let title = text_of(f.title);
        let text = text_of(f.text);
        let title_marks = mark(words, &title, wanted);
        let text_marks = mark(words, &text, wanted);
        // The text starts with the title on its own line when the title is one of its pieces.
        let skip = if text.starts_with(&title) && !title.is_empty() {
            title.len()
        } else {
            0
        };
        let line = text_of(f.line);
        // A context the summary line already shows adds nothing.
        let context = excerpt(&text, &text_marks, skip, 120).filter(|c| {
            let bare = c.text.trim_matches('…');
            bare.is_empty() || !line.contains(bare)
        });
        Ok(Hit {
            kind: doc
                .get_first(f.kind)
                .and_then(|v| v.as_u64())
                .and_then(Kind::from_u64)
                .unwrap_or(Kind::Partner),
            key: text_of(f.key),
            context,
            title: Marked {
                marks: title_marks.iter().map(|r| (r.start, r.end)).collect(),
                text: title,
            },
            line,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(words: &[(&str, bool)]) -> Vec<Wanted> {
        words
            .iter()
            .map(|(t, p)| Wanted {
                token: t.to_string(),
                prefix: *p,
            })
            .collect()
    }

    #[test]
    fn marks_words_prefixes_and_typos_with_folded_accents() {
        let mut a = schema::words();
        let text = "Café Acme widgets, acme-corp";
        let m = mark(&mut a, text, &wanted(&[("cafe", false), ("acm", true)]));
        let got: Vec<&str> = m.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(
            got,
            vec!["Café", "Acm", "acm"],
            "a prefix marks the typed letters"
        );
        let m = mark(&mut a, text, &wanted(&[("widgetz", false)]));
        assert_eq!(&text[m[0].clone()], "widgets");
    }

    #[test]
    fn excerpt_shows_the_matched_line_around_the_mark() {
        let text = "Acme\nfirst line\na long note that mentions the renewal of the contract";
        let mut a = schema::words();
        let m = mark(&mut a, text, &wanted(&[("renewal", false)]));
        let e = excerpt(text, &m, 4, 20).unwrap();
        assert!(e.text.starts_with('…'), "{}", e.text);
        let (s, t) = e.marks[0];
        assert_eq!(&e.text[s..t], "renewal");
        // a title-only hit has no excerpt
        let m = mark(&mut a, text, &wanted(&[("acme", false)]));
        assert_eq!(excerpt(text, &m, 4, 20), None);
    }

    #[test]
    fn nudge_prefers_recent_and_large_a_little() {
        let now = 1_000 * 86_400_000_000i64;
        let base = nudge(1.0, 0, 0, now);
        assert!(nudge(1.0, now, 0, now) > base);
        assert!(nudge(1.0, 0, 100_000_000, now) > base);
        assert!(nudge(1.0, now, u64::MAX, now) <= 1.3 + 0.002 + 1e-6);
        // operators alone (score 0): recent first
        assert!(nudge(0.0, now, 0, now) > nudge(0.0, 0, 0, now));
    }
}
