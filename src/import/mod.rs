//! Bulk import of sales history from files: events as JSON lines, orders as CSV (one row per
//! line item), and Shopify's "orders export" CSV. Files are read as a stream and turned into
//! validated events in chunks; a bad row becomes a row error (line, column, reason) and never
//! stops the good ones. The caller stores each chunk (the CLI in its own transactions with a
//! resume checkpoint, the server through the ingest writer).

pub mod job;
pub mod run;

use crate::domain::events::Intake;
use crate::domain::events::{
    self, Event, ItemError, RawEvent, RawLine, RawRefund, RawSale, validate_raw,
};
use crate::domain::money::MoneyInput;
use anyhow::Context;
use rustc_hash::{FxHashMap, FxHashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    EventsJsonl,
    OrdersCsv,
    ShopifyOrdersCsv,
}

impl Format {
    pub const NAMES: &'static str = "events-jsonl, orders-csv or shopify-orders-csv";

    pub fn parse(v: &str) -> Option<Format> {
        match v.trim() {
            "events-jsonl" | "jsonl" => Some(Format::EventsJsonl),
            "orders-csv" => Some(Format::OrdersCsv),
            "shopify-orders-csv" | "shopify" => Some(Format::ShopifyOrdersCsv),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::EventsJsonl => "events-jsonl",
            Format::OrdersCsv => "orders-csv",
            Format::ShopifyOrdersCsv => "shopify-orders-csv",
        }
    }

    /// Guess from the first line of the file: JSON lines start with `{`; a CSV header with
    /// Shopify's `Lineitem quantity` column is a Shopify export; any other CSV is orders-csv.
    pub fn guess(first_line: &str) -> Format {
        let l = first_line.trim_start_matches('\u{feff}').trim_start();
        if l.starts_with('{') {
            Format::EventsJsonl
        } else if l.contains("Lineitem quantity") {
            Format::ShopifyOrdersCsv
        } else {
            Format::OrdersCsv
        }
    }
}

/// One row that could not be imported.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    /// 1-based line in the file.
    pub line: u64,
    /// The column (CSV) or field (JSON) at fault; empty when it is the whole row.
    pub column: String,
    pub code: &'static str,
    pub message: String,
}

/// Validated events from a stretch of the file, and what went wrong in it.
#[derive(Debug, Default)]
pub struct Chunk {
    pub events: Vec<Event>,
    pub errors: Vec<RowError>,
    /// Rows deliberately left out (e.g. voided Shopify orders).
    pub skipped: u64,
    /// Rows (JSON lines or CSV data rows) read in this chunk.
    pub rows: u64,
    /// Every row before this index is wholly in this or an earlier chunk: a resumed import
    /// skips that many rows.
    pub rows_done: u64,
    /// Bytes of the file read so far (for progress).
    pub bytes: u64,
    /// In the first chunk of a resumed read: the line its first row starts on. Every row
    /// error before this line belongs to a stored chunk; any from here on in an earlier run's
    /// report was written for a chunk whose commit never happened.
    pub resumed_at_line: Option<u64>,
}

/// Fatal problems: the file cannot be read at all, or the sink refused a chunk.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Format(String),
    #[error("{0}")]
    Sink(anyhow::Error),
}

/// Read `input` in `format`, skipping its first `skip_rows` rows (a resumed import), and hand
/// chunks of about `chunk_events` events to `sink` in file order.
pub fn read(
    format: Format,
    input: impl Read,
    cur: &Intake,
    skip_rows: u64,
    chunk_events: usize,
    sink: impl FnMut(Chunk) -> anyhow::Result<()>,
) -> Result<(), ImportError> {
    let mut out = Emitter {
        chunk: Chunk::default(),
        chunk_events: chunk_events.max(1),
        sink,
        resuming: skip_rows > 0,
    };
    match format {
        Format::EventsJsonl => read_jsonl(input, cur, skip_rows, &mut out),
        Format::OrdersCsv => read_orders(input, cur, skip_rows, &ORDERS_COLUMNS, &mut out),
        Format::ShopifyOrdersCsv => read_orders(input, cur, skip_rows, &SHOPIFY_COLUMNS, &mut out),
    }?;
    out.flush()
}

struct Emitter<F> {
    chunk: Chunk,
    chunk_events: usize,
    sink: F,
    /// Rows were skipped and the first row after them is still to come.
    resuming: bool,
}

impl<F: FnMut(Chunk) -> anyhow::Result<()>> Emitter<F> {
    /// Count a row (past the skipped ones) that starts on `line`.
    fn row(&mut self, line: u64) {
        self.chunk.rows += 1;
        if std::mem::take(&mut self.resuming) {
            self.chunk.resumed_at_line = Some(line);
        }
    }

    /// Pass the chunk on when it is full; `rows_done` rows are complete at this point.
    fn maybe_emit(&mut self, rows_done: u64, bytes: u64) -> Result<(), ImportError> {
        self.chunk.rows_done = rows_done;
        self.chunk.bytes = bytes;
        if self.chunk.events.len() >= self.chunk_events {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ImportError> {
        let next = Chunk {
            rows_done: self.chunk.rows_done,
            bytes: self.chunk.bytes,
            ..Default::default()
        };
        let c = std::mem::replace(&mut self.chunk, next);
        if c.rows > 0 || !c.events.is_empty() || !c.errors.is_empty() {
            (self.sink)(c).map_err(ImportError::Sink)?;
        }
        Ok(())
    }
}

fn read_jsonl<F: FnMut(Chunk) -> anyhow::Result<()>>(
    input: impl Read,
    cur: &Intake,
    skip_rows: u64,
    out: &mut Emitter<F>,
) -> Result<(), ImportError> {
    let mut r = BufReader::with_capacity(1 << 20, input);
    let mut line = String::new();
    let (mut n, mut bytes) = (0u64, 0u64);
    loop {
        line.clear();
        let read = r.read_line(&mut line)?;
        if read == 0 {
            break;
        }
        n += 1;
        bytes += read as u64;
        if n <= skip_rows {
            continue;
        }
        out.row(n);
        let text = line.trim().trim_start_matches('\u{feff}');
        if !text.is_empty() {
            match events::parse(text, cur) {
                Ok(e) => {
                    out.chunk.events.push(e);
                }
                Err(e) => out.chunk.errors.push(row_error(n, e, |f| f.to_string())),
            }
        }
        out.maybe_emit(n, bytes)?;
    }
    Ok(())
}

fn row_error(line: u64, e: ItemError, column: impl Fn(&str) -> String) -> RowError {
    RowError {
        line,
        column: e.field.as_deref().map(column).unwrap_or_default(),
        code: e.code,
        message: e.message,
    }
}

/// Where a CSV layout keeps each field of the event shape.
struct Columns {
    order_id: &'static str,
    occurred_at: &'static str,
    customer_id: &'static str,
    currency: &'static str,
    channel: &'static str,
    region: &'static [&'static str],
    discount: &'static str,
    tax: &'static str,
    shipping: &'static str,
    sku: &'static str,
    name: &'static str,
    category: &'static str,
    quantity: &'static str,
    unit_price: &'static str,
    unit_cost: &'static str,
    refunded_amount: &'static str,
    refunded_at: &'static str,
    /// Shopify: `Financial Status`; orders whose status is `voided` are skipped.
    status: &'static str,
    shopify: bool,
}

const ORDERS_COLUMNS: Columns = Columns {
    order_id: "order_id",
    occurred_at: "occurred_at",
    customer_id: "customer_id",
    currency: "currency",
    channel: "channel",
    region: &["region"],
    discount: "discount",
    tax: "tax",
    shipping: "shipping",
    sku: "sku",
    name: "name",
    category: "category",
    quantity: "quantity",
    unit_price: "unit_price",
    unit_cost: "unit_cost",
    refunded_amount: "refunded_amount",
    refunded_at: "refunded_at",
    status: "",
    shopify: false,
};

const SHOPIFY_COLUMNS: Columns = Columns {
    order_id: "Name",
    occurred_at: "Created at",
    customer_id: "Email",
    currency: "Currency",
    channel: "Source",
    region: &["Shipping Country", "Billing Country"],
    discount: "Discount Amount",
    tax: "Taxes",
    shipping: "Shipping",
    sku: "Lineitem sku",
    name: "Lineitem name",
    category: "Vendor",
    quantity: "Lineitem quantity",
    unit_price: "Lineitem price",
    unit_cost: "",
    refunded_amount: "Refunded Amount",
    refunded_at: "Cancelled at",
    status: "Financial Status",
    shopify: true,
};

impl Columns {
    fn required(&self) -> [&'static str; 4] {
        [
            self.order_id,
            self.occurred_at,
            self.quantity,
            self.unit_price,
        ]
    }

    /// The column behind a validation field path (`lines[2].unit_price` -> row 2).
    fn column_of(&self, field: &str) -> (usize, &'static str) {
        let (row, name) = match field.strip_prefix("lines[") {
            Some(rest) => {
                let (i, name) = rest.split_once("].").unwrap_or(("0", rest));
                (i.parse().unwrap_or(0), name)
            }
            None => (0, field),
        };
        let col = match name {
            "id" => self.order_id,
            "occurred_at" => self.occurred_at,
            "customer_id" => self.customer_id,
            "currency" => self.currency,
            "channel" => self.channel,
            "region" => self.region[0],
            "discount" => self.discount,
            "tax" => self.tax,
            "shipping" => self.shipping,
            "sku" => self.sku,
            "name" => self.name,
            "category" => self.category,
            "quantity" => self.quantity,
            "unit_price" => self.unit_price,
            "unit_cost" => self.unit_cost,
            "amount" => self.refunded_amount,
            _ => "",
        };
        (row, col)
    }
}

/// Column positions of one file's header.
struct Header {
    idx: FxHashMap<&'static str, usize>,
}

impl Header {
    fn new(headers: &csv::StringRecord, cols: &Columns) -> Result<Header, ImportError> {
        let find = |name: &str| {
            headers.iter().position(|h| {
                h.trim()
                    .trim_start_matches('\u{feff}')
                    .eq_ignore_ascii_case(name)
            })
        };
        let mut idx = FxHashMap::default();
        let all = [
            cols.order_id,
            cols.occurred_at,
            cols.customer_id,
            cols.currency,
            cols.channel,
            cols.discount,
            cols.tax,
            cols.shipping,
            cols.sku,
            cols.name,
            cols.category,
            cols.quantity,
            cols.unit_price,
            cols.unit_cost,
            cols.refunded_amount,
            cols.refunded_at,
            cols.status,
        ];
        for name in all.into_iter().chain(cols.region.iter().copied()) {
            if let Some(i) = (!name.is_empty()).then(|| find(name)).flatten() {
                idx.insert(name, i);
            }
        }
        let missing: Vec<&str> = cols
            .required()
            .into_iter()
            .filter(|c| !idx.contains_key(c))
            .collect();
        if !missing.is_empty() {
            return Err(ImportError::Format(format!(
                "the header has no {} column{}; the first line must name the columns (see the README for the layout)",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if missing.len() > 1 { "s" } else { "" }
            )));
        }
        if !cols.shopify && !idx.contains_key(cols.sku) {
            return Err(ImportError::Format(format!(
                "the header has no `{}` column",
                cols.sku
            )));
        }
        Ok(Header { idx })
    }

    fn get<'r>(&self, rec: &'r csv::StringRecord, col: &str) -> &'r str {
        self.idx
            .get(col)
            .and_then(|i| rec.get(*i))
            .map(str::trim)
            .unwrap_or("")
    }
}

/// The rows of one order, as read.
struct Order {
    id: String,
    rows: Vec<(u64, csv::StringRecord)>,
}

fn read_orders<F: FnMut(Chunk) -> anyhow::Result<()>>(
    input: impl Read,
    cur: &Intake,
    skip_rows: u64,
    cols: &Columns,
    out: &mut Emitter<F>,
) -> Result<(), ImportError> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(input);
    let headers = r
        .headers()
        .map_err(|e| ImportError::Format(format!("the header line is not CSV: {e}")))?
        .clone();
    let h = Header::new(&headers, cols)?;
    let mut order: Option<Order> = None;
    let mut seen: FxHashSet<u64> = FxHashSet::default();
    let mut rec = csv::StringRecord::new();
    let mut n = 0u64;
    loop {
        let more = match r.read_record(&mut rec) {
            Ok(m) => m,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                match e.kind() {
                    csv::ErrorKind::Io(_) => return Err(ImportError::Format(e.to_string())),
                    _ => {
                        n += 1;
                        if n > skip_rows {
                            out.row(line);
                            out.chunk.errors.push(RowError {
                                line,
                                column: String::new(),
                                code: "bad_row",
                                message: e.to_string(),
                            });
                        }
                        continue;
                    }
                }
            }
        };
        if !more {
            break;
        }
        n += 1;
        if n <= skip_rows {
            continue;
        }
        let line = rec.position().map_or(0, |p| p.line());
        if rec.iter().all(|f| f.trim().is_empty()) {
            out.row(line);
            continue;
        }
        let id = h.get(&rec, cols.order_id).to_string();
        let same = order.as_ref().is_some_and(|o| o.id == id);
        if !same {
            if let Some(o) = order.take() {
                finish(o, &h, cols, cur, &mut seen, &mut out.chunk);
                // The chunk ends with the row before this one, which starts the next chunk
                // (and is counted there, so a resumed run counts it once).
                out.maybe_emit(n - 1, r.position().byte())?;
            }
            order = Some(Order {
                id,
                rows: Vec::new(),
            });
        }
        out.row(line);
        if let Some(o) = order.as_mut() {
            o.rows.push((line, rec.clone()));
        }
    }
    if let Some(o) = order.take() {
        finish(o, &h, cols, cur, &mut seen, &mut out.chunk);
    }
    out.chunk.rows_done = n;
    out.chunk.bytes = r.position().byte();
    Ok(())
}

/// A 64-bit fingerprint of an order id (to spot an order split across the file; a collision
/// could only report a false split, never lose data silently).
fn hash_id(id: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(id)
}

/// Turn one order's rows into a sale (and a refund when the order records one).
fn finish(
    o: Order,
    h: &Header,
    cols: &Columns,
    cur: &Intake,
    seen: &mut FxHashSet<u64>,
    chunk: &mut Chunk,
) {
    let first_line = o.rows.first().map_or(0, |r| r.0);
    let err = |line: u64, column: &str, code: &'static str, message: String| RowError {
        line,
        column: column.to_string(),
        code,
        message,
    };
    if o.id.is_empty() {
        chunk.errors.push(err(
            first_line,
            cols.order_id,
            "validation",
            "is required".into(),
        ));
        return;
    }
    if !seen.insert(hash_id(&o.id)) {
        chunk.errors.push(err(
            first_line,
            cols.order_id,
            "split_order",
            format!(
                "order `{}` appeared earlier in the file: keep all rows of an order together",
                o.id
            ),
        ));
        return;
    }
    // Order-level values come from the first row that has them (Shopify fills them on the
    // first row of an order only).
    let order_value = |col: &str| -> String {
        if col.is_empty() {
            return String::new();
        }
        o.rows
            .iter()
            .map(|(_, r)| h.get(r, col))
            .find(|v| !v.is_empty())
            .unwrap_or("")
            .to_string()
    };
    if cols.shopify && order_value(cols.status).eq_ignore_ascii_case("voided") {
        chunk.skipped += o.rows.len() as u64;
        return;
    }
    let opt = |v: String| (!v.is_empty()).then_some(v);
    let money = |v: String| opt(v).map(MoneyInput::Text);
    let mut occurred_at = order_value(cols.occurred_at);
    if cols.shopify {
        occurred_at = shopify_time(&occurred_at).unwrap_or(occurred_at);
    }
    let mut lines = Vec::with_capacity(o.rows.len());
    for (line, r) in &o.rows {
        let qty_text = h.get(r, cols.quantity);
        let quantity = match qty_text.parse::<i64>() {
            Ok(q) => q,
            Err(_) => {
                chunk.errors.push(err(
                    *line,
                    cols.quantity,
                    "validation",
                    format!("`{qty_text}` is not a whole number"),
                ));
                return;
            }
        };
        let mut sku = h.get(r, cols.sku).to_string();
        if sku.is_empty() && cols.shopify {
            // Shopify items without a SKU: the line item's name identifies the product.
            sku = h.get(r, cols.name).to_string();
        }
        lines.push(RawLine {
            sku,
            name: opt(h.get(r, cols.name).to_string()),
            category: opt(h.get(r, cols.category).to_string()),
            quantity,
            unit_price: MoneyInput::Text(h.get(r, cols.unit_price).to_string()),
            unit_cost: money(h.get(r, cols.unit_cost).to_string()),
        });
    }
    let mut channel = order_value(cols.channel);
    if cols.shopify {
        channel = match channel.as_str() {
            "web" | "" => "online".into(),
            "pos" => "retail".into(),
            other => other.to_string(),
        };
    }
    let region = cols
        .region
        .iter()
        .map(|c| order_value(c))
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    let mut customer = order_value(cols.customer_id);
    if cols.shopify {
        customer = customer.to_lowercase();
    }
    let refunded = order_value(cols.refunded_amount);
    let refunded_at = opt(order_value(cols.refunded_at)).map(|t| {
        if cols.shopify {
            shopify_time(&t).unwrap_or(t)
        } else {
            t
        }
    });
    let currency = opt(order_value(cols.currency));
    let sale = RawSale {
        id: o.id.clone(),
        occurred_at: occurred_at.clone(),
        customer_id: opt(customer),
        currency: currency.clone(),
        channel: opt(channel),
        region: opt(region),
        lines,
        discount: money(order_value(cols.discount)),
        tax: money(order_value(cols.tax)),
        shipping: money(order_value(cols.shipping)),
    };
    let locate = |e: ItemError| {
        let (row, col) = e.field.as_deref().map_or((0, ""), |f| cols.column_of(f));
        let line = o.rows.get(row).map_or(first_line, |r| r.0);
        row_error(line, e, |_| col.to_string())
    };
    match validate_raw(RawEvent::SaleCompleted(sale), cur) {
        Ok(e) => {
            chunk.events.push(e);
        }
        Err(e) => {
            chunk.errors.push(locate(e));
            return;
        }
    }
    let refund_amount = refunded.parse::<f64>().unwrap_or(0.0);
    if !refunded.is_empty() && refund_amount != 0.0 {
        let refund = RawRefund {
            id: format!("{}/refund", o.id),
            order_id: o.id.clone(),
            occurred_at: refunded_at.unwrap_or(occurred_at),
            currency,
            amount: MoneyInput::Text(refunded),
            lines: Vec::new(),
        };
        match validate_raw(RawEvent::RefundProcessed(refund), cur) {
            Ok(e) => {
                chunk.events.push(e);
            }
            Err(e) => chunk.errors.push(locate(e)),
        }
    }
}

/// Shopify's `2024-01-15 10:23:45 -0500` as RFC 3339.
fn shopify_time(v: &str) -> Option<String> {
    jiff::Timestamp::strptime("%Y-%m-%d %H:%M:%S %z", v.trim())
        .ok()
        .map(|t| t.to_string())
}

// ---- the row error report ----

/// The report's first line, written by `csv` from [`RowError`]'s fields.
const REPORT_HEADER: &[u8; 25] = b"line,column,code,message\n";

/// Appends row errors to the report file as CSV (`line,column,code,message`), creating it
/// with its header on the first one (or appending to an earlier run's report).
pub(crate) struct ErrorFile {
    path: PathBuf,
    out: Option<csv::Writer<std::fs::File>>,
    append: bool,
}

impl ErrorFile {
    pub(crate) fn new(path: PathBuf, append: bool) -> Self {
        ErrorFile {
            path,
            out: None,
            append,
        }
    }

    pub(crate) fn path_if_written(&self) -> Option<PathBuf> {
        self.out.as_ref().map(|_| self.path.clone())
    }

    fn context(&self) -> String {
        format!("writing the error report {}", self.path.display())
    }

    pub(crate) fn write(&mut self, errors: &[RowError]) -> anyhow::Result<()> {
        if errors.is_empty() {
            return Ok(());
        }
        let context = self.context();
        let w = match &mut self.out {
            Some(w) => w,
            None => {
                if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| context.clone())?;
                }
                let exists = self.append && self.path.exists();
                // Always appending, so that `truncate` can cut rows off again and the next
                // ones still follow the last row kept.
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .with_context(|| context.clone())?;
                if !exists {
                    f.set_len(0).with_context(|| context.clone())?;
                }
                // The header comes from RowError's fields, written only into a new file.
                self.out.insert(
                    csv::WriterBuilder::new()
                        .has_headers(!exists)
                        .from_writer(f),
                )
            }
        };
        for e in errors {
            w.serialize(e).with_context(|| context.clone())?;
        }
        w.flush().with_context(|| context.clone())?;
        Ok(())
    }

    /// Bytes in the report so far: what `truncate` goes back to. Before this run's first row
    /// that is the earlier run's report being appended to, if any.
    pub(crate) fn len(&self) -> anyhow::Result<u64> {
        let found = match &self.out {
            Some(w) => w.get_ref().metadata(),
            None if self.append => std::fs::metadata(&self.path),
            None => return Ok(0),
        };
        match found {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(anyhow::Error::from(e).context(self.context())),
        }
    }

    /// Make what was written durable (before the rows' chunk is committed).
    pub(crate) fn sync(&self) -> anyhow::Result<()> {
        if let Some(w) = &self.out {
            w.get_ref().sync_data().with_context(|| self.context())?;
        }
        Ok(())
    }

    /// Cut the report back to `len` bytes (rows written for a chunk whose commit failed).
    pub(crate) fn truncate(&mut self, len: u64) -> anyhow::Result<()> {
        if let Some(w) = &self.out {
            let f = w.get_ref();
            f.set_len(len).with_context(|| self.context())?;
            f.sync_data().with_context(|| self.context())?;
        }
        Ok(())
    }

    /// Drop the rows of an earlier run's report from `line` on: they were written for a chunk
    /// that was never committed (the run stopped between the two) and are about to be written
    /// again. A row cut short by a crash goes as well.
    pub(crate) fn drop_from_line(&mut self, line: u64) -> anyhow::Result<()> {
        let context = self.context();
        let f = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(anyhow::Error::from(e).context(context)),
        };
        let mut head = [0u8; REPORT_HEADER.len()];
        if (&f).read_exact(&mut head).is_err() || head != *REPORT_HEADER {
            // Not even a whole header: start the report again.
            return self.restart(&f);
        }
        // The rows follow the header just read; positions count from there.
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(BufReader::new(&f));
        let mut rec = csv::StringRecord::new();
        let cut = loop {
            let start = REPORT_HEADER.len() as u64 + r.position().byte();
            match r.read_record(&mut rec) {
                Ok(false) => return Ok(()),
                Ok(true) => match rec.get(0).and_then(|v| v.parse::<u64>().ok()) {
                    Some(l) if rec.len() == 4 && l < line => continue,
                    _ => break start,
                },
                Err(_) => break start,
            }
        };
        drop(r);
        f.set_len(cut).with_context(|| context.clone())?;
        f.sync_data().with_context(|| context)?;
        Ok(())
    }

    fn restart(&mut self, f: &std::fs::File) -> anyhow::Result<()> {
        f.set_len(0).with_context(|| self.context())?;
        self.append = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
