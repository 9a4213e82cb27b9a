//! Sales data: events, rollups and aggregates. Ingest writes a batch in the caller's write
//! transaction, so it is either wholly visible or not at all; `verify` runs the same batch
//! code against memory ([`Sink`]).

use super::{ReadTx, StoreResult, codec, event_times, get_rec, tables::*};
use crate::domain::events::{Event, Kind, Refund, Sale};
use crate::domain::org::Org;
use crate::domain::rollup::{self, Contribution, Metrics};
use crate::domain::search::Change;
use crate::domain::{OrgId, Ts};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
// Fast non-keyed hashing for the per-batch maps (keys come from our own rollup cells).
use rustc_hash::FxHashMap as HashMap;

/// Separator inside rollup dimension keys (not allowed in dimension values: they refuse
/// control characters).
pub const SEP: char = '\u{1f}';

pub fn dim_key(channel: &str, region: &str, category: &str) -> String {
    let mut key = String::new();
    push_key(&mut key, &[channel, region, category]);
    key
}

/// `parts` joined by [`SEP`], written into `key` (cleared first).
fn push_key(key: &mut String, parts: &[&str]) {
    key.clear();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(SEP);
        }
        key.push_str(part);
    }
}

pub fn split_dim(key: &str) -> (&str, &str, &str) {
    let mut it = key.splitn(3, SEP);
    (
        it.next().unwrap_or(""),
        it.next().unwrap_or(""),
        it.next().unwrap_or(""),
    )
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerAgg {
    pub email: Option<String>,
    pub name: Option<String>,
    pub region: Option<String>,
    pub created_at: Option<Ts>,
    /// The earliest sale: (time, order id).
    pub first: Option<(Ts, String)>,
    pub last_purchase: Option<Ts>,
    pub orders: i64,
    /// Σ gross − discounts of their orders
    pub revenue: i64,
    pub refunds: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductAgg {
    pub name: String,
    pub category: String,
    /// All-time figures (the codec writes a nested struct's fields in place, so this is the
    /// same encoding as the flat fields it replaced).
    pub figures: Figures,
}

/// A product's or a customer's figures over a day or a month (for rankings over a date range).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub orders: i64,
    pub units: i64,
    /// Σ line value − allocated discounts
    pub revenue: i64,
    pub cost: i64,
    pub refunds: i64,
    pub refunded_units: i64,
}

impl Figures {
    pub fn add(&mut self, o: &Figures) {
        self.orders = self.orders.saturating_add(o.orders);
        self.units = self.units.saturating_add(o.units);
        self.revenue = self.revenue.saturating_add(o.revenue);
        self.cost = self.cost.saturating_add(o.cost);
        self.refunds = self.refunds.saturating_add(o.refunds);
        self.refunded_units = self.refunded_units.saturating_add(o.refunded_units);
    }
}

/// What a sale adds to each of its products (discounts spread over the lines).
pub fn sale_products(s: &Sale) -> Vec<(&str, Figures)> {
    let discounts = rollup::allocate(
        s.discount,
        &s.lines.iter().map(|l| l.value()).collect::<Vec<_>>(),
    );
    s.lines
        .iter()
        .zip(discounts)
        .map(|(l, d)| {
            (
                l.sku.as_str(),
                Figures {
                    orders: 1,
                    units: l.quantity,
                    revenue: l.value() - d,
                    cost: l
                        .unit_cost
                        .map(|c| c.saturating_mul(l.quantity))
                        .unwrap_or(0),
                    ..Default::default()
                },
            )
        })
        .collect()
}

/// What a refund of `order` takes from each of its products.
pub fn refund_products<'a>(r: &Refund, order: &'a Sale) -> Vec<(&'a str, Figures)> {
    order
        .lines
        .iter()
        .zip(rollup::refund_lines(r, order))
        .filter(|(_, (amount, units))| *amount != 0 || *units != 0)
        .map(|(l, (amount, units))| {
            (
                l.sku.as_str(),
                Figures {
                    refunds: amount,
                    refunded_units: units,
                    ..Default::default()
                },
            )
        })
        .collect()
}

/// The key part of a customer day row naming where the orders came from.
pub fn channel_region(channel: &str, region: &str) -> String {
    let mut key = String::new();
    push_key(&mut key, &[channel, region]);
    key
}

/// What a sale adds to its customer's day row: (customer, channel SEP region, figures), from
/// what it adds to its products (`sale_products(s)`). Revenue is after discounts, as in the
/// customer's lifetime figures.
pub fn sale_customer<'a>(
    s: &'a Sale,
    products: &[(&str, Figures)],
) -> Option<(&'a str, String, Figures)> {
    let customer = s.customer.as_deref()?;
    Some((
        customer,
        channel_region(&s.channel, &s.region),
        sale_customer_figures(products),
    ))
}

/// The figures [`sale_customer`] adds.
fn sale_customer_figures(products: &[(&str, Figures)]) -> Figures {
    let mut f = Figures::default();
    for (_, p) in products {
        f.add(p);
    }
    f.orders = 1;
    f
}

/// What a refund of `order` takes from the order's customer, on the refund's day, given what
/// it takes from the products (`refund_products(r, order)`).
pub fn refund_customer<'a>(
    r: &Refund,
    order: &'a Sale,
    products: &[(&str, Figures)],
) -> Option<(&'a str, String, Figures)> {
    let customer = order.customer.as_deref()?;
    Some((
        customer,
        channel_region(&order.channel, &order.region),
        refund_customer_figures(r, products),
    ))
}

/// The figures [`refund_customer`] takes.
fn refund_customer_figures(r: &Refund, products: &[(&str, Figures)]) -> Figures {
    let mut f = Figures {
        refunds: r.amount,
        ..Default::default()
    };
    for (_, p) in products {
        f.refunded_units = f.refunded_units.saturating_add(p.refunded_units);
    }
    f
}

/// What happened to one event of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Accepted,
    /// The same (kind, id) was already stored; nothing changed.
    Duplicate,
}

/// How many outcomes of a batch are newly stored events (the rest are duplicates).
pub fn accepted(outcome: &[Applied]) -> usize {
    outcome.iter().filter(|a| **a == Applied::Accepted).count()
}

fn kind_byte(k: Kind) -> u8 {
    k as u8
}

pub fn get_event(
    txn: &impl ReadTx,
    org: OrgId,
    kind: Kind,
    id: &str,
) -> StoreResult<Option<Event>> {
    get_rec(&txn.table(EVENTS)?, (org.0, kind_byte(kind), id))
}

pub fn customer(txn: &impl ReadTx, org: OrgId, id: &str) -> StoreResult<Option<CustomerAgg>> {
    get_rec(&txn.table(CUSTOMERS)?, (org.0, id))
}

pub fn product(txn: &impl ReadTx, org: OrgId, sku: &str) -> StoreResult<Option<ProductAgg>> {
    get_rec(&txn.table(PRODUCTS)?, (org.0, sku))
}

/// Set in META once raw events have expired from the file.
pub const RAW_EXPIRED_KEY: &str = "raw_events_expired";

/// Whether raw events ever expired from this file (retention).
pub fn raw_expired(txn: &impl ReadTx) -> StoreResult<bool> {
    Ok(txn.table(META)?.get(RAW_EXPIRED_KEY)?.is_some())
}

pub fn data_version(txn: &impl ReadTx, org: OrgId) -> StoreResult<u64> {
    Ok(txn
        .table(DATA_VERSION)?
        .get(org.0)?
        .map(|g| g.value())
        .unwrap_or(0))
}

/// Apply a batch of validated events for one org. Returns one outcome per event, in order.
pub fn apply(txn: &WriteTransaction, org: &Org, events: &[Event]) -> StoreResult<Vec<Applied>> {
    let mut sink = TxnSink {
        txn,
        events_t: txn.open_table(EVENTS)?,
        blocks_t: txn.open_table(EVENT_BLOCKS)?,
        times: Vec::new(),
        pending_t: txn.open_table(PENDING_REFUNDS)?,
        customers_t: txn.open_table(CUSTOMERS)?,
        products_t: txn.open_table(PRODUCTS)?,
        buf: Vec::with_capacity(512),
    };
    apply_to(&mut sink, org, events)
}

/// Apply a batch of events for one org to `sink` (what [`apply`] does in a write transaction).
fn apply_to<S: Sink>(sink: &mut S, org: &Org, events: &[Event]) -> StoreResult<Vec<Applied>> {
    let mut b = Batch::new(sink, org)?;
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        out.push(b.one(e)?);
    }
    b.finish()?;
    Ok(out)
}

/// A sum kept in a derived table row (rollup metrics, product and customer figures).
pub trait Summed: Default + Serialize + serde::de::DeserializeOwned + Send + 'static {
    fn add_to(&mut self, other: &Self);
}

impl Summed for Metrics {
    fn add_to(&mut self, other: &Self) {
        self.add(other)
    }
}

impl Summed for Figures {
    fn add_to(&mut self, other: &Self) {
        self.add(other)
    }
}

/// Where sums go: rows of derived tables, each added into the row with the same key.
pub trait AddRows {
    fn add<'k, K: redb::Key + 'static, V: Summed>(
        &mut self,
        def: TableDefinition<'static, K, &'static [u8]>,
        rows: impl IntoIterator<Item = (K::SelfType<'k>, V)>,
    ) -> StoreResult<()>;

    /// [`AddRows::add`] for rows that are mostly new (customer-day rows: a customer seldom
    /// buys twice a day). The default is `add`.
    fn add_mostly_new<'k, K: redb::Key + 'static, V: Summed>(
        &mut self,
        def: TableDefinition<'static, K, &'static [u8]>,
        rows: impl IntoIterator<Item = (K::SelfType<'k>, V)>,
    ) -> StoreResult<()> {
        self.add(def, rows)
    }
}

impl AddRows for &WriteTransaction {
    fn add<'k, K: redb::Key + 'static, V: Summed>(
        &mut self,
        def: TableDefinition<'static, K, &'static [u8]>,
        rows: impl IntoIterator<Item = (K::SelfType<'k>, V)>,
    ) -> StoreResult<()> {
        add_into(self, def, rows, false)
    }
}

/// What a batch reads and where it writes: the tables of a write transaction (ingest), or
/// memory (`verify` recomputing every derived table from the stored events).
pub trait Sink: AddRows {
    /// Keep a new event; false when its (kind, id) is already kept (then nothing changes).
    fn keep_event(&mut self, org: OrgId, e: &Event) -> StoreResult<bool>;
    /// A stored sale of the org.
    fn sale(&self, org: OrgId, id: &str) -> StoreResult<Option<Sale>>;
    /// Whether any refund waits for its order.
    fn has_parked(&self) -> StoreResult<bool>;
    /// Keep a refund until its order arrives.
    fn park_refund(&mut self, org: OrgId, r: &Refund) -> StoreResult<()>;
    /// Take the refunds waiting for `order`.
    fn take_parked(&mut self, org: OrgId, order: &str) -> StoreResult<Vec<Refund>>;
    fn customer(&self, org: OrgId, id: &str) -> StoreResult<Option<CustomerAgg>>;
    fn product(&self, org: OrgId, sku: &str) -> StoreResult<Option<ProductAgg>>;
    fn put_customer(&mut self, org: OrgId, id: &str, c: &CustomerAgg) -> StoreResult<()>;
    fn put_product(&mut self, org: OrgId, sku: &str, p: &ProductAgg) -> StoreResult<()>;
    /// The batch is done: customers and products whose searchable text changed, and whether
    /// any event was new.
    fn changed(&mut self, org: OrgId, searched: &[(Change, String)], new: bool) -> StoreResult<()>;
}

/// A batch applied in a write transaction. The tables every event touches are opened once per
/// batch (opening a table is a lookup of its own).
struct TxnSink<'t> {
    txn: &'t WriteTransaction,
    events_t: redb::Table<'t, (u64, u8, &'static str), &'static [u8]>,
    blocks_t: redb::Table<'t, (u64, i64, u64), &'static [u8]>,
    /// The batch's new events, for the time index (written once, at the end).
    times: Vec<event_times::Entry>,
    pending_t: redb::Table<'t, (u64, &'static str, &'static str), &'static [u8]>,
    customers_t: redb::Table<'t, (u64, &'static str), &'static [u8]>,
    products_t: redb::Table<'t, (u64, &'static str), &'static [u8]>,
    /// Encoding buffer for the records written one by one.
    buf: Vec<u8>,
}

impl Sink for TxnSink<'_> {
    fn keep_event(&mut self, org: OrgId, e: &Event) -> StoreResult<bool> {
        let kb = kind_byte(e.kind());
        let key = (org.0, kb, e.id());
        // One descent instead of a lookup and an insert: a duplicate (rare) gets its stored
        // bytes put back, so it changes nothing (at the price of a second write, where a
        // separate lookup would only have read).
        let old = self
            .events_t
            .insert(key, codec::encode_to(&mut self.buf, e)?)?
            .map(|g| g.value().to_vec());
        if let Some(old) = old {
            self.events_t.insert(key, old.as_slice())?;
            return Ok(false);
        }
        self.times.push(event_times::Entry {
            at: e.at().0,
            kind: kb,
            id: e.id().to_string(),
        });
        Ok(true)
    }

    fn sale(&self, org: OrgId, id: &str) -> StoreResult<Option<Sale>> {
        let e: Option<Event> = get_rec(&self.events_t, (org.0, kind_byte(Kind::Sale), id))?;
        match e {
            Some(Event::Sale(s)) => Ok(Some(s)),
            _ => Ok(None),
        }
    }

    fn has_parked(&self) -> StoreResult<bool> {
        Ok(!self.pending_t.is_empty()?)
    }

    fn park_refund(&mut self, org: OrgId, r: &Refund) -> StoreResult<()> {
        self.pending_t.insert(
            (org.0, r.order_id.as_str(), r.id.as_str()),
            codec::encode(r)?.as_slice(),
        )?;
        Ok(())
    }

    fn take_parked(&mut self, org: OrgId, order: &str) -> StoreResult<Vec<Refund>> {
        let parked: Vec<(String, Vec<u8>)> = self
            .pending_t
            .range((org.0, order, "")..=(org.0, order, "\u{10ffff}"))?
            .map(|r| r.map(|(k, v)| (k.value().2.to_string(), v.value().to_vec())))
            .collect::<Result<_, _>>()?;
        let mut refunds = Vec::with_capacity(parked.len());
        for (refund_id, bytes) in parked {
            self.pending_t.remove((org.0, order, refund_id.as_str()))?;
            refunds.push(codec::decode(&bytes)?);
        }
        Ok(refunds)
    }

    fn customer(&self, org: OrgId, id: &str) -> StoreResult<Option<CustomerAgg>> {
        get_rec(&self.customers_t, (org.0, id))
    }

    fn product(&self, org: OrgId, sku: &str) -> StoreResult<Option<ProductAgg>> {
        get_rec(&self.products_t, (org.0, sku))
    }

    fn put_customer(&mut self, org: OrgId, id: &str, c: &CustomerAgg) -> StoreResult<()> {
        self.customers_t
            .insert((org.0, id), codec::encode_to(&mut self.buf, c)?)?;
        Ok(())
    }

    fn put_product(&mut self, org: OrgId, sku: &str, p: &ProductAgg) -> StoreResult<()> {
        self.products_t
            .insert((org.0, sku), codec::encode(p)?.as_slice())?;
        Ok(())
    }

    fn changed(&mut self, org: OrgId, searched: &[(Change, String)], new: bool) -> StoreResult<()> {
        super::search::log(
            self.txn,
            org,
            searched.iter().map(|(c, k)| (*c, k.as_str())),
        )?;
        if new {
            let mut v = self.txn.open_table(DATA_VERSION)?;
            let next = v.get(org.0)?.map(|g| g.value()).unwrap_or(0) + 1;
            v.insert(org.0, next)?;
            // The org's new data version numbers the batch's blocks (no lookup needed).
            let times = std::mem::take(&mut self.times);
            event_times::add(&mut self.blocks_t, org.0, next, times)?;
        }
        Ok(())
    }
}

impl AddRows for TxnSink<'_> {
    fn add<'k, K: redb::Key + 'static, V: Summed>(
        &mut self,
        def: TableDefinition<'static, K, &'static [u8]>,
        rows: impl IntoIterator<Item = (K::SelfType<'k>, V)>,
    ) -> StoreResult<()> {
        add_into(self.txn, def, rows, false)
    }

    fn add_mostly_new<'k, K: redb::Key + 'static, V: Summed>(
        &mut self,
        def: TableDefinition<'static, K, &'static [u8]>,
        rows: impl IntoIterator<Item = (K::SelfType<'k>, V)>,
    ) -> StoreResult<()> {
        add_into(self.txn, def, rows, true)
    }
}

/// Add each `(key, sum)` into a `key -> sum` table of a write transaction (read, add, write).
/// With `mostly_new`, each row is inserted first, in one descent of the tree, and only a row
/// that was there already is read back, added to and written again: for rows a lookup would
/// almost never find (customer-day rows).
pub(super) fn add_into<'k, K: redb::Key + 'static, V: Summed>(
    txn: &WriteTransaction,
    def: TableDefinition<'static, K, &'static [u8]>,
    rows: impl IntoIterator<Item = (K::SelfType<'k>, V)>,
    mostly_new: bool,
) -> StoreResult<()> {
    let mut t = txn.open_table(def)?;
    let mut buf = Vec::with_capacity(64);
    for (k, m) in rows {
        let old: Option<V> = {
            let found = if mostly_new {
                t.insert(&k, codec::encode_to(&mut buf, &m)?)?
            } else {
                t.get(&k)?
            };
            found.map(|v| codec::decode(v.value())).transpose()?
        };
        let mut cur = match old {
            Some(v) => v,
            // Inserted already.
            None if mostly_new => continue,
            None => V::default(),
        };
        cur.add_to(&m);
        t.insert(&k, codec::encode_to(&mut buf, &cur)?)?;
    }
    Ok(())
}

/// Events of one org applied to a sink one by one: the sums of derived rows are kept in memory
/// and written once per row when the batch is flushed or finished.
pub struct Batch<'s, S: Sink> {
    sink: &'s mut S,
    org: OrgId,
    tz: jiff::tz::TimeZone,
    /// Whether any refund waits for its order (most batches skip the lookup per sale).
    pending_any: bool,
    /// Whether any event was new.
    accepted: bool,
    sums: Sums,
    /// Aggregates touched by this batch, written once at the end. The batch's product and
    /// customer rows name them by their place here.
    customers: Touched<CustomerAgg>,
    products: Touched<ProductAgg>,
    /// Customers and products whose searchable text changed (new ones included): logged for
    /// search at the end. Figures alone do not re-index a record.
    searched: Vec<(Change, String)>,
}

/// Keys kept once each and named by their place, so rows that name them allocate and compare
/// no key.
#[derive(Default)]
struct Interner {
    keys: Vec<String>,
    places: HashMap<String, u32>,
}

impl Interner {
    fn find(&self, key: &str) -> Option<u32> {
        self.places.get(key).copied()
    }

    /// The key's place, given one if it is new.
    fn place(&mut self, key: &str) -> u32 {
        match self.find(key) {
            Some(place) => place,
            None => self.place_new(key),
        }
    }

    /// A place for a key not placed yet.
    fn place_new(&mut self, key: &str) -> u32 {
        debug_assert!(self.find(key).is_none());
        let place = self.keys.len() as u32;
        self.keys.push(key.to_string());
        self.places.insert(key.to_string(), place);
        place
    }

    fn key(&self, place: u32) -> &str {
        &self.keys[place as usize]
    }
}

/// Records a batch touched, each once, by their place (as [`Interner`] names their ids).
struct Touched<T> {
    ids: Interner,
    items: Vec<T>,
}

impl<T> Default for Touched<T> {
    fn default() -> Self {
        Touched {
            ids: Interner::default(),
            items: Vec::new(),
        }
    }
}

impl<T: Default> Touched<T> {
    /// The record's place, read with `stored` the first time (`new` hears of a record the
    /// sink does not have, which starts empty).
    fn place_or_read(
        &mut self,
        id: &str,
        stored: impl FnOnce() -> StoreResult<Option<T>>,
        new: impl FnOnce(),
    ) -> StoreResult<u32> {
        if let Some(place) = self.ids.find(id) {
            return Ok(place);
        }
        let item = match stored()? {
            Some(item) => item,
            None => {
                new();
                T::default()
            }
        };
        self.items.push(item);
        Ok(self.ids.place_new(id))
    }

    fn get_mut(&mut self, place: u32) -> &mut T {
        &mut self.items[place as usize]
    }

    /// Every record with its id.
    fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.ids.keys.iter().map(String::as_str).zip(&self.items)
    }
}

/// A batch's sums by derived row.
#[derive(Default)]
struct Sums {
    /// Rollup dimension keys (channel SEP region SEP category), named by place in rows.
    dims: Interner,
    /// Buffer for the key being looked up.
    key: String,
    hours: HashMap<(i64, u32), Metrics>,
    days: HashMap<(i32, u32), Metrics>,
    /// (day or month, product's place in the batch) -> figures
    product_days: HashMap<(i32, u32), Figures>,
    product_months: HashMap<(i32, u32), Figures>,
    /// Channel SEP region of customer rows, named by place like `dims`.
    crs: Interner,
    /// (day, customer's place in the batch, channel SEP region) -> figures
    customer_days: HashMap<(i32, u32, u32), Figures>,
    buckets: rollup::BucketMemo,
}

impl Sums {
    fn buckets(&mut self, at: Ts, tz: &jiff::tz::TimeZone) -> (Ts, i32) {
        self.buckets.get(at, tz)
    }

    fn cell(&mut self, (c, m): Contribution, tz: &jiff::tz::TimeZone) {
        let (hour, day) = self.buckets(c.at, tz);
        push_key(&mut self.key, &[&c.channel, &c.region, &c.category]);
        let dim = self.dims.place(&self.key);
        self.hours.entry((hour.0, dim)).or_default().add(&m);
        self.days.entry((day, dim)).or_default().add(&m);
    }

    fn product(&mut self, at: Ts, product: u32, f: &Figures, tz: &jiff::tz::TimeZone) {
        let (_, day) = self.buckets(at, tz);
        self.product_months
            .entry((rollup::month_of(day), product))
            .or_default()
            .add(f);
        self.product_days.entry((day, product)).or_default().add(f);
    }

    /// A customer's figures at a time, through a channel and region.
    fn customer(
        &mut self,
        (at, customer): (Ts, u32),
        (channel, region): (&str, &str),
        f: &Figures,
        tz: &jiff::tz::TimeZone,
    ) {
        let (_, day) = self.buckets(at, tz);
        push_key(&mut self.key, &[channel, region]);
        let cr = self.crs.place(&self.key);
        self.customer_days
            .entry((day, customer, cr))
            .or_default()
            .add(f);
    }
}

impl<'s, S: Sink> Batch<'s, S> {
    pub fn new(sink: &'s mut S, org: &Org) -> StoreResult<Self> {
        Ok(Batch {
            pending_any: sink.has_parked()?,
            sink,
            org: org.id,
            tz: org.tz(),
            accepted: false,
            sums: Sums::default(),
            customers: Touched::default(),
            products: Touched::default(),
            searched: Vec::new(),
        })
    }

    /// Apply one event (its sums wait for [`Batch::flush`] or [`Batch::finish`]).
    pub fn one(&mut self, e: &Event) -> StoreResult<Applied> {
        if !self.sink.keep_event(self.org, e)? {
            return Ok(Applied::Duplicate);
        }
        self.accepted = true;
        match e {
            Event::Sale(s) => self.sale(s)?,
            Event::Refund(r) => match self.sink.sale(self.org, &r.order_id)? {
                Some(order) => self.refund(r, &order)?,
                None => {
                    self.pending_any = true;
                    self.sink.park_refund(self.org, r)?;
                }
            },
            Event::Customer(c) => {
                self.searched.push((Change::Customer, c.id.clone()));
                let place = self.customer(&c.id)?;
                let agg = self.customers.get_mut(place);
                agg.email = c.email.clone().or(agg.email.take());
                agg.name = c.name.clone().or(agg.name.take());
                agg.region = Some(c.region.clone());
                agg.created_at = Some(agg.created_at.map_or(c.at, |t| t.min(c.at)));
            }
            Event::Traffic(t) => self.sums.cell(rollup::traffic(t), &self.tz),
        }
        Ok(Applied::Accepted)
    }

    /// Write what the batch has summed so far, and tell the sink it is done.
    pub fn finish(mut self) -> StoreResult<()> {
        self.flush()?;
        self.searched.sort_unstable();
        self.searched.dedup();
        self.sink.changed(self.org, &self.searched, self.accepted)
    }

    /// The customer's place in the batch (their aggregate read from the sink the first time).
    fn customer(&mut self, id: &str) -> StoreResult<u32> {
        let (sink, org, searched) = (&self.sink, self.org, &mut self.searched);
        self.customers.place_or_read(
            id,
            || sink.customer(org, id),
            || searched.push((Change::Customer, id.to_string())),
        )
    }

    /// The product's place in the batch (its aggregate read from the sink the first time).
    fn product(&mut self, sku: &str) -> StoreResult<u32> {
        let (sink, org, searched) = (&self.sink, self.org, &mut self.searched);
        self.products.place_or_read(
            sku,
            || sink.product(org, sku),
            || searched.push((Change::Product, sku.to_string())),
        )
    }

    fn sale(&mut self, s: &Sale) -> StoreResult<()> {
        let customer = match &s.customer {
            None => None,
            Some(cid) => {
                let place = self.customer(cid)?;
                let new = match &self.customers.get_mut(place).first {
                    None => true,
                    Some((t, id)) => rollup::precedes(s.at, &s.id, (*t, id)),
                };
                if new
                    && let Some((_, old_id)) = &self.customers.get_mut(place).first
                    && let Some(old) = self.sink.sale(self.org, old_id)?
                {
                    self.sums.cell(rollup::demote_first(&old), &self.tz);
                }
                let c = self.customers.get_mut(place);
                if new {
                    c.first = Some((s.at, s.id.clone()));
                }
                c.last_purchase = Some(c.last_purchase.map_or(s.at, |t| t.max(s.at)));
                c.orders = c.orders.saturating_add(1);
                c.revenue = c.revenue.saturating_add(s.gross() - s.discount);
                Some((place, new))
            }
        };
        let contributions = rollup::sale(s, customer.map(|(_, new)| new));
        let products = sale_products(s);
        for (l, (sku, f)) in s.lines.iter().zip(&products) {
            let place = self.product(sku)?;
            let p = self.products.get_mut(place);
            let renamed = p.name != l.name || p.category != l.category;
            if renamed {
                p.name = l.name.clone();
                p.category = l.category.clone();
                self.searched.push((Change::Product, sku.to_string()));
            }
            p.figures.add(f);
            self.sums.product(s.at, place, f, &self.tz);
        }
        if let Some((place, _)) = customer {
            self.sums.customer(
                (s.at, place),
                (&s.channel, &s.region),
                &sale_customer_figures(&products),
                &self.tz,
            );
        }
        for c in contributions {
            self.sums.cell(c, &self.tz);
        }
        // Refunds that arrived before this order.
        if !self.pending_any {
            return Ok(());
        }
        let pending = self.sink.take_parked(self.org, &s.id)?;
        for r in &pending {
            self.refund(r, s)?;
        }
        Ok(())
    }

    fn refund(&mut self, r: &Refund, order: &Sale) -> StoreResult<()> {
        let contributions = rollup::refund(r, order);
        let products = refund_products(r, order);
        for (sku, f) in &products {
            let place = self.product(sku)?;
            self.products.get_mut(place).figures.add(f);
            self.sums.product(r.at, place, f, &self.tz);
        }
        if let Some(cid) = &order.customer {
            let place = self.customer(cid)?;
            let c = self.customers.get_mut(place);
            c.refunds = c.refunds.saturating_add(r.amount);
            self.sums.customer(
                (r.at, place),
                (&order.channel, &order.region),
                &refund_customer_figures(r, &products),
                &self.tz,
            );
        }
        for c in contributions {
            self.sums.cell(c, &self.tz);
        }
        Ok(())
    }

    /// Write each summed row once (into what the sink has), and start over; the batch stays
    /// usable ([`Batch::finish`] flushes once at the end).
    pub fn flush(&mut self) -> StoreResult<()> {
        let org = self.org.0;
        // Biggest first, each let go of once written (a long replay's sums are large).
        let sums = &mut self.sums;
        let (customers, crs) = (&self.customers, &sums.crs);
        // Rows and records are written in key order: each insert then descends next to the one
        // before, through pages still in the CPU's caches (in a batch's arrival order the
        // customers are scattered over the table). Customer-day rows are nearly always new.
        let mut rows: Vec<_> = sums
            .customer_days
            .iter()
            .map(|((d, c, cr), f)| ((org, *d, customers.ids.key(*c), crs.key(*cr)), *f))
            .collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.sink.add_mostly_new(CUSTOMER_DAY, rows)?;
        sums.customer_days = HashMap::default();
        let mut puts: Vec<_> = self.customers.iter().collect();
        puts.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (id, c) in puts {
            self.sink.put_customer(self.org, id, c)?;
        }
        let products = &self.products;
        for (def, rows) in [
            (PRODUCT_DAY, &mut sums.product_days),
            (PRODUCT_MONTH, &mut sums.product_months),
        ] {
            self.sink.add(
                def,
                rows.iter()
                    .map(|((d, p), f)| ((org, *d, products.ids.key(*p)), *f)),
            )?;
            *rows = HashMap::default();
        }
        for (sku, p) in self.products.iter() {
            self.sink.put_product(self.org, sku, p)?;
        }
        self.customers = Touched::default();
        self.products = Touched::default();
        // Rollups, then their totals and single-dimension partials.
        let sink = &mut *self.sink;
        add_rollups(sink, org, &sums.dims, &sums.hours, HOUR_TABLES)?;
        sums.hours = HashMap::default();
        add_rollups(sink, org, &sums.dims, &sums.days, DAY_TABLES)?;
        // (the dimension keys, channel-region keys and remembered buckets stay for more rows)
        sums.days = HashMap::default();
        Ok(())
    }
}

/// A rollup table keyed (org, bucket, dimension key), its totals keyed (org, bucket) and its
/// single-dimension partials keyed (org, dimension, bucket, value).
type RollupTables<B> = (
    TableDefinition<'static, (u64, B, &'static str), &'static [u8]>,
    TableDefinition<'static, (u64, B), &'static [u8]>,
    TableDefinition<'static, (u64, u8, B, &'static str), &'static [u8]>,
);

const HOUR_TABLES: RollupTables<i64> = (ROLLUP_HOUR, TOTAL_HOUR, PART_HOUR);
const DAY_TABLES: RollupTables<i32> = (ROLLUP_DAY, TOTAL_DAY, PART_DAY);

/// Add a batch's rollup cells, keyed (bucket, dimension's place in `dims`), into the rollup
/// table, and their sums over every dimension and over all but one into the others.
fn add_rollups<B>(
    sink: &mut impl AddRows,
    org: u64,
    dims: &Interner,
    cells: &HashMap<(B, u32), Metrics>,
    (rollup, total, part): RollupTables<B>,
) -> StoreResult<()>
where
    B: redb::Key + for<'a> redb::Value<SelfType<'a> = B> + Copy + Eq + std::hash::Hash,
{
    sink.add(
        rollup,
        cells
            .iter()
            .map(|((b, k), m)| ((org, *b, dims.key(*k)), *m)),
    )?;
    let mut totals: HashMap<(u64, B), Metrics> = HashMap::default();
    let mut parts: HashMap<(u64, u8, B, &str), Metrics> = HashMap::default();
    for ((b, k), m) in cells {
        totals.entry((org, *b)).or_default().add(m);
        for (d, v) in partials(dims.key(*k)) {
            parts.entry((org, d, *b, v)).or_default().add(m);
        }
    }
    sink.add(total, totals)?;
    sink.add(part, parts)
}

type ProductRows = HashMap<(u64, i32, String), Figures>;

/// Add per-product figures into the (org, day, sku) and (org, month, sku) rows.
pub(super) fn add_product_rows(
    to: &mut impl AddRows,
    by_day: &ProductRows,
    by_month: &ProductRows,
) -> StoreResult<()> {
    to.add(
        PRODUCT_DAY,
        by_day
            .iter()
            .map(|((o, d, k), f)| ((*o, *d, k.as_str()), *f)),
    )?;
    to.add(
        PRODUCT_MONTH,
        by_month
            .iter()
            .map(|((o, m, k), f)| ((*o, *m, k.as_str()), *f)),
    )
}

/// Add per-customer figures into the (org, day, customer, channel SEP region) rows.
pub(super) fn add_customer_rows(to: &mut impl AddRows, rows: &CustomerRows) -> StoreResult<()> {
    to.add(
        CUSTOMER_DAY,
        rows.iter()
            .map(|((o, d, c, cr), f)| ((*o, *d, c.as_str(), cr.as_str()), *f)),
    )
}

/// Sum per-product figures into (org, local day, sku) and (org, month, sku) rows.
pub(super) fn product_periods(
    org: u64,
    tz: &jiff::tz::TimeZone,
    items: impl Iterator<Item = (Ts, String, Figures)>,
) -> (ProductRows, ProductRows) {
    let mut by_day: ProductRows = HashMap::default();
    let mut by_month: ProductRows = HashMap::default();
    for (at, sku, f) in items {
        let (_, day) = rollup::buckets(at, tz);
        add_product_item(&mut by_day, &mut by_month, (org, day), &sku, &f);
    }
    (by_day, by_month)
}

/// Add a product's figures on a day into its day and month rows.
fn add_product_item(
    by_day: &mut ProductRows,
    by_month: &mut ProductRows,
    (org, day): (u64, i32),
    sku: &str,
    f: &Figures,
) {
    by_month
        .entry((org, rollup::month_of(day), sku.to_string()))
        .or_default()
        .add(f);
    by_day
        .entry((org, day, sku.to_string()))
        .or_default()
        .add(f);
}

/// Per-customer figures by (org, local day, customer, channel SEP region).
pub type CustomerRows = HashMap<(u64, i32, String, String), Figures>;

/// Add a customer's figures on a local day (through a channel SEP region) into their row.
pub(super) fn add_customer_item(
    rows: &mut CustomerRows,
    (org, day): (u64, i32),
    customer: String,
    cr: String,
    f: &Figures,
) {
    rows.entry((org, day, customer, cr)).or_default().add(f);
}

/// The single-dimension partials a rollup row feeds: (dimension, value). Order-level rows
/// (empty category) feed no category partial, so category partials never count an order twice.
pub fn partials(dim: &str) -> impl Iterator<Item = (u8, &str)> {
    let (c, r, cat) = split_dim(dim);
    [(PART_CHANNEL, c), (PART_REGION, r), (PART_CATEGORY, cat)]
        .into_iter()
        .filter(|(d, v)| *d != PART_CATEGORY || !v.is_empty())
}

pub const PART_CHANNEL: u8 = 0;
pub const PART_REGION: u8 = 1;
pub const PART_CATEGORY: u8 = 2;

/// Delete the raw events of `org` that occurred before `before`, about `limit` of them (whole
/// blocks of the time index: at least `limit` while there are that many, and at most one
/// block more); their rollups and customer and product aggregates stay. Returns how many
/// were deleted.
pub fn expire_raw(
    txn: &WriteTransaction,
    org: OrgId,
    before: Ts,
    limit: usize,
) -> StoreResult<usize> {
    let old = event_times::take_before(&mut txn.open_table(EVENT_BLOCKS)?, org.0, before.0, limit)?;
    let mut events = txn.open_table(EVENTS)?;
    for e in &old {
        events.remove((org.0, e.kind, e.id.as_str()))?;
    }
    if !old.is_empty() {
        // rollups now hold more than the raw events (verify cannot recompute them)
        txn.open_table(META)?
            .insert(RAW_EXPIRED_KEY, [1u8].as_slice())?;
    }
    Ok(old.len())
}

/// The newest sales by time of sale (at most `limit`) that pass `keep`, looking at no more than
/// `max_scan` events so a rare filter cannot turn this into a full scan. Sales whose raw event
/// has expired (retention) are not listed.
pub fn latest_sales(
    txn: &impl ReadTx,
    org: OrgId,
    limit: usize,
    max_scan: usize,
    keep: impl Fn(&Sale) -> bool,
) -> StoreResult<Vec<Sale>> {
    let events = txn.table(EVENTS)?;
    let sale = kind_byte(Kind::Sale);
    let mut out = Vec::new();
    let mut scanned = 0;
    if limit == 0 || max_scan == 0 {
        return Ok(out);
    }
    event_times::newest_first(&txn.table(EVENT_BLOCKS)?, org.0, |e| {
        scanned += 1;
        if e.kind == sale
            && let Some(Event::Sale(s)) =
                get_rec::<_, Event>(&events, (org.0, sale, e.id.as_str()))?
            && keep(&s)
        {
            out.push(s);
        }
        Ok(out.len() < limit && scanned < max_scan)
    })?;
    Ok(out)
}

/// Every customer aggregate of an org, by id.
pub fn customers(txn: &impl ReadTx, org: OrgId) -> StoreResult<Vec<(String, CustomerAgg)>> {
    let mut out = Vec::new();
    each_customer(txn, org, |id, c| out.push((id.to_string(), c.clone())))?;
    Ok(out)
}

/// Every product aggregate of an org, by SKU.
pub fn products(txn: &impl ReadTx, org: OrgId) -> StoreResult<Vec<(String, ProductAgg)>> {
    let mut out = Vec::new();
    each_product(txn, org, |sku, p| out.push((sku.to_string(), p.clone())))?;
    Ok(out)
}

/// Every customer aggregate of an org in id order, one by one.
pub fn each_customer(
    txn: &impl ReadTx,
    org: OrgId,
    each: impl FnMut(&str, &CustomerAgg),
) -> StoreResult<()> {
    each_agg(&txn.table(CUSTOMERS)?, org, each)
}

/// Every product aggregate of an org in SKU order, one by one.
pub fn each_product(
    txn: &impl ReadTx,
    org: OrgId,
    each: impl FnMut(&str, &ProductAgg),
) -> StoreResult<()> {
    each_agg(&txn.table(PRODUCTS)?, org, each)
}

fn each_agg<T: serde::de::DeserializeOwned>(
    t: &impl ReadableTable<(u64, &'static str), &'static [u8]>,
    org: OrgId,
    mut each: impl FnMut(&str, &T),
) -> StoreResult<()> {
    for row in t.range((org.0, "")..=(org.0, "\u{10ffff}"))? {
        let (k, v) = row?;
        each(k.value().1, &codec::decode(v.value())?);
    }
    Ok(())
}

/// Every rollup row of an org at day granularity (for checks and tests).
pub fn day_rollups(txn: &impl ReadTx, org: OrgId) -> StoreResult<Vec<(i32, String, Metrics)>> {
    let t = txn.table(ROLLUP_DAY)?;
    let mut out = Vec::new();
    for row in t.range((org.0, i32::MIN, "")..=(org.0, i32::MAX, "\u{10ffff}"))? {
        let (k, v) = row?;
        let (_, day, dim) = k.value();
        out.push((day, dim.to_string(), codec::decode(v.value())?));
    }
    Ok(out)
}

/// Every rollup row of an org at hour granularity.
pub fn hour_rollups(txn: &impl ReadTx, org: OrgId) -> StoreResult<Vec<(i64, String, Metrics)>> {
    let t = txn.table(ROLLUP_HOUR)?;
    let mut out = Vec::new();
    for row in t.range((org.0, i64::MIN, "")..=(org.0, i64::MAX, "\u{10ffff}"))? {
        let (k, v) = row?;
        let (_, hour, dim) = k.value();
        out.push((hour, dim.to_string(), codec::decode(v.value())?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::{Refund, Sale, SaleLine, Traffic};
    use crate::domain::org::NewOrg;
    use crate::store::{Store, orgs};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const SKUS: [(&str, &str, i64); 5] = [
        ("s0", "A", 1999),
        ("s1", "A", 500),
        ("s2", "B", 12000),
        ("s3", "C", 1),
        ("s4", "B", 333),
    ];
    const CHANNELS: [&str; 2] = ["online", "retail"];

    /// A new store with one org (USD) in time zone `tz`; the store's directory goes with the
    /// first value.
    fn store_with_org(tz: &str) -> (tempfile::TempDir, Store, Org) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let org = store
            .write(|t| orgs::create(t, NewOrg::parse("T", tz, "USD").unwrap(), Ts(0)))
            .unwrap();
        (dir, store, org)
    }

    #[test]
    fn expiring_raw_events_keeps_the_rollups() {
        let (_dir, store, org) = store_with_org("UTC");
        let day = 86_400_000_000;
        let events: Vec<Event> = (0..10)
            .map(|i| {
                Event::Traffic(Traffic {
                    id: format!("t{i}"),
                    at: Ts(i * day),
                    channel: "web".into(),
                    region: "EU".into(),
                    visits: 1,
                })
            })
            .collect();
        store.write(|t| apply(t, &org, &events)).unwrap();
        let before = store.read(|t| day_rollups(t, org.id)).unwrap();
        // Two rounds of at most 3: six of the seven events before day 7 go.
        let n: usize = (0..2)
            .map(|_| {
                store
                    .write(|t| expire_raw(t, org.id, Ts(7 * day), 3))
                    .unwrap()
            })
            .sum();
        assert_eq!(n, 6);
        let left = store
            .write(|t| expire_raw(t, org.id, Ts(7 * day), 100))
            .unwrap();
        assert_eq!(left, 1);
        for i in 0..10 {
            let kept = store
                .read(|t| get_event(t, org.id, Kind::Traffic, &format!("t{i}")))
                .unwrap()
                .is_some();
            assert_eq!(kept, i >= 7, "t{i}");
        }
        assert_eq!(store.read(|t| day_rollups(t, org.id)).unwrap(), before);
    }

    /// One big batch stores the same rows as the same events in small batches (where most
    /// derived rows are added to rows already there).
    #[test]
    fn a_big_batch_stores_what_small_batches_store() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut events: Vec<Event> = (0..700)
            .map(|n| arb_sale(n).new_tree(&mut runner).unwrap().current())
            .collect();
        // Repeated within the batch: duplicates, kept once.
        events.extend(events[..20].to_vec());
        let open = || store_with_org("UTC");
        let (_d1, big, org) = open();
        let one = big.write(|t| apply(t, &org, &events)).unwrap();
        let (_d2, small, org2) = open();
        let mut many = Vec::new();
        for chunk in events.chunks(7) {
            many.extend(small.write(|t| apply(t, &org2, chunk)).unwrap());
        }
        assert_eq!(one, many);
        assert_eq!(accepted(&one), 700);
        let times = |s: &Store, org: OrgId| {
            s.read(|t| {
                let mut rows = Vec::new();
                event_times::newest_first(&t.open_table(EVENT_BLOCKS)?, org.0, |e| {
                    rows.push(e);
                    Ok(true)
                })?;
                Ok(rows)
            })
            .unwrap()
        };
        // (in small batches a slot's events are spread over several blocks)
        let indexed = times(&big, org.id);
        assert_eq!(indexed.len(), 700);
        assert!(indexed.is_sorted_by(|a, b| a >= b));
        assert_eq!(indexed, times(&small, org2.id));
        assert_eq!(
            big.read(|t| day_rollups(t, org.id)).unwrap(),
            small.read(|t| day_rollups(t, org2.id)).unwrap()
        );
        assert_eq!(
            big.read(|t| customers(t, org.id)).unwrap(),
            small.read(|t| customers(t, org2.id)).unwrap()
        );
        assert_eq!(
            big.read(|t| products(t, org.id)).unwrap(),
            small.read(|t| products(t, org2.id)).unwrap()
        );
        // Customer-day rows are inserted before being read (`add_into` with `mostly_new`): in
        // small batches most of them are there already and get added to.
        let customer_days = |s: &Store, org: OrgId| {
            s.read(|t| {
                let mut rows = Vec::new();
                let all = (org.0, i32::MIN, "", "")..=(org.0, i32::MAX, "\u{10ffff}", "\u{10ffff}");
                for row in t.open_table(CUSTOMER_DAY)?.range(all)? {
                    let (k, v) = row?;
                    let (_, day, c, cr) = k.value();
                    let f: Figures = codec::decode(v.value())?;
                    rows.push((day, c.to_string(), cr.to_string(), f));
                }
                Ok(rows)
            })
            .unwrap()
        };
        let rows = customer_days(&big, org.id);
        assert_eq!(rows, customer_days(&small, org2.id));
        let orders: i64 = rows.iter().map(|r| r.3.orders).sum();
        let with_customer = events[..700]
            .iter()
            .filter(|e| matches!(e, Event::Sale(s) if s.customer.is_some()))
            .count();
        assert_eq!(orders, with_customer as i64);
        assert!(rows.len() < 100 && rows.iter().any(|r| r.3.orders > 10));
    }

    /// The ticker's sales: newest by time of sale whatever order they arrived in, filtered,
    /// at most `limit`, looking at no more than `max_scan` events.
    #[test]
    fn latest_sales_are_newest_first_whatever_the_arrival_order() {
        let (_dir, store, org) = store_with_org("UTC");
        let sale = |id: &str, minutes: i64, seconds: i64, channel: &str| {
            Event::Sale(Sale {
                id: id.into(),
                at: Ts(at(minutes).0 + seconds * 1_000_000),
                customer: None,
                channel: channel.into(),
                region: "EMEA".into(),
                lines: vec![SaleLine {
                    sku: "S".into(),
                    name: "S".into(),
                    category: "C".into(),
                    quantity: 1,
                    unit_price: 100,
                    unit_cost: None,
                }],
                discount: 0,
                tax: 0,
                shipping: 0,
            })
        };
        let visits = Event::Traffic(Traffic {
            id: "t".into(),
            at: at(9),
            channel: "online".into(),
            region: "EMEA".into(),
            visits: 5,
        });
        // Three writes; the second brings a late sale into a slot written before, and the
        // newest event is traffic (not a sale).
        for batch in [
            vec![sale("a", 1, 0, "online"), sale("b", 2, 10, "retail")],
            vec![sale("c", 2, 5, "online"), sale("d", 3, 0, "online"), visits],
            vec![sale("e", 2, 30, "online")],
        ] {
            store.write(|t| apply(t, &org, &batch)).unwrap();
        }
        let ids = |limit, max_scan, channel: Option<&str>| -> Vec<String> {
            store
                .read(|t| {
                    latest_sales(t, org.id, limit, max_scan, |s| {
                        channel.is_none_or(|c| s.channel == c)
                    })
                })
                .unwrap()
                .into_iter()
                .map(|s| s.id)
                .collect()
        };
        assert_eq!(ids(10, 100, None), ["d", "e", "b", "c", "a"]);
        assert_eq!(ids(2, 100, None), ["d", "e"]);
        assert_eq!(ids(10, 100, Some("online")), ["d", "e", "c", "a"]);
        assert_eq!(ids(10, 100, Some("retail")), ["b"]);
        // The traffic event and "d", "e", "b" are the first four looked at.
        assert_eq!(ids(10, 4, Some("online")), ["d", "e"]);
        assert!(ids(0, 100, None).is_empty());
        assert!(ids(10, 0, None).is_empty());
    }

    const REGIONS: [&str; 2] = ["EMEA", "NA"];
    // A window around the 2026-03-08 DST change in New York.
    const T0: i64 = 1_772_841_600_000_000; // 2026-03-07T00:00:00Z

    fn at(minutes: i64) -> Ts {
        Ts(T0 + minutes * 60_000_000)
    }

    fn arb_sale(n: usize) -> impl Strategy<Value = Event> {
        (
            0i64..(4 * 24 * 60),
            proptest::option::of(0usize..4),
            0usize..2,
            0usize..2,
            proptest::collection::vec((0usize..5, 1i64..4), 1..4),
            0i64..100,
            0i64..500,
        )
            .prop_map(move |(m, cust, ch, rg, lines, disc_pct, tax)| {
                let lines: Vec<SaleLine> = lines
                    .into_iter()
                    .map(|(i, q)| SaleLine {
                        sku: SKUS[i].0.into(),
                        name: SKUS[i].0.into(),
                        category: SKUS[i].1.into(),
                        quantity: q,
                        unit_price: SKUS[i].2,
                        unit_cost: (i % 2 == 0).then_some(SKUS[i].2 / 3),
                    })
                    .collect();
                let gross: i64 = lines.iter().map(|l| l.value()).sum();
                Event::Sale(Sale {
                    id: format!("o{n}"),
                    at: at(m),
                    customer: cust.map(|c| format!("c{c}")),
                    channel: CHANNELS[ch].into(),
                    region: REGIONS[rg].into(),
                    lines,
                    discount: gross * disc_pct / 200,
                    tax,
                    shipping: 250,
                })
            })
    }

    fn arb_events() -> impl Strategy<Value = Vec<Event>> {
        (1usize..25).prop_flat_map(|n| {
            let sales = (0..n).map(arb_sale).collect::<Vec<_>>();
            let refunds = proptest::collection::vec(
                (
                    0..n,
                    0i64..(4 * 24 * 60),
                    1i64..3000,
                    proptest::option::of((0usize..5, 1i64..3)),
                ),
                0..8,
            );
            let traffic = proptest::collection::vec(
                (0i64..(4 * 24 * 60), 0usize..2, 0usize..2, 1i64..500),
                0..6,
            );
            (sales, refunds, traffic).prop_map(|(sales, refunds, traffic)| {
                let mut ev = sales;
                for (k, (o, m, amount, line)) in refunds.into_iter().enumerate() {
                    ev.push(Event::Refund(Refund {
                        id: format!("r{k}"),
                        order_id: format!("o{o}"),
                        at: at(m),
                        amount,
                        lines: line
                            .map(|(i, q)| vec![(SKUS[i].0.to_string(), q)])
                            .unwrap_or_default(),
                    }));
                }
                for (k, (m, ch, rg, v)) in traffic.into_iter().enumerate() {
                    ev.push(Event::Traffic(Traffic {
                        id: format!("t{k}"),
                        at: at(m),
                        channel: CHANNELS[ch].into(),
                        region: REGIONS[rg].into(),
                        visits: v,
                    }));
                }
                ev
            })
        })
    }

    /// The expected day rollups, recomputed from the final set of events in one pass.
    fn naive(events: &[Event], tz: &jiff::tz::TimeZone) -> BTreeMap<(i32, String), Metrics> {
        let mut first: HashMap<String, (Ts, String)> = HashMap::default();
        for e in events {
            if let Event::Sale(s) = e
                && let Some(c) = &s.customer
            {
                let cand = (s.at, s.id.clone());
                let f = first.entry(c.clone()).or_insert_with(|| cand.clone());
                if cand < *f {
                    *f = cand;
                }
            }
        }
        let sales: HashMap<&str, &Sale> = events
            .iter()
            .filter_map(|e| {
                if let Event::Sale(s) = e {
                    Some((s.id.as_str(), s))
                } else {
                    None
                }
            })
            .collect();
        let mut contributions = Vec::new();
        for e in events {
            match e {
                Event::Sale(s) => {
                    let is_new = s.customer.as_ref().map(|c| first[c].1 == s.id);
                    contributions.extend(rollup::sale(s, is_new));
                }
                Event::Refund(r) => {
                    if let Some(o) = sales.get(r.order_id.as_str()) {
                        contributions.extend(rollup::refund(r, o));
                    }
                }
                Event::Traffic(t) => contributions.push(rollup::traffic(t)),
                Event::Customer(_) => {}
            }
        }
        let mut out: BTreeMap<(i32, String), Metrics> = BTreeMap::new();
        for (c, m) in contributions {
            let (_, day) = rollup::buckets(c.at, tz);
            out.entry((day, dim_key(&c.channel, &c.region, &c.category)))
                .or_default()
                .add(&m);
        }
        out.retain(|_, m| !m.is_zero());
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn rollups_match_a_naive_recomputation(events in arb_events(), seed in any::<u64>(), dup_every in 2usize..6, batch in 1usize..7) {
            let (_dir, store, org) = store_with_org("America/New_York");
            // Shuffle deterministically, and send some events twice.
            let mut stream: Vec<Event> = events.clone();
            for (i, e) in events.iter().enumerate() {
                if i % dup_every == 0 {
                    stream.push(e.clone());
                }
            }
            let mut rng = seed;
            for i in (1..stream.len()).rev() {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                stream.swap(i, (rng >> 33) as usize % (i + 1));
            }
            let mut duplicates = 0;
            for chunk in stream.chunks(batch) {
                let res = store.write(|t| apply(t, &org, chunk)).unwrap();
                duplicates += res.iter().filter(|a| **a == Applied::Duplicate).count();
            }
            prop_assert_eq!(duplicates, stream.len() - events.len());

            let tz = org.tz();
            let mut got: BTreeMap<(i32, String), Metrics> = store.read(|t| day_rollups(t, org.id)).unwrap().into_iter().map(|(d, k, m)| ((d, k), m)).collect();
            got.retain(|_, m| !m.is_zero());
            let want = naive(&events, &tz);
            prop_assert_eq!(&got, &want);

            // The per-day totals equal the dimension rows of each day.
            let mut per_day: BTreeMap<i32, Metrics> = BTreeMap::new();
            for ((d, _), m) in &got { per_day.entry(*d).or_default().add(m); }
            let mut totals: BTreeMap<i32, Metrics> = BTreeMap::new();
            store.read(|t| {
                for row in t.open_table(TOTAL_DAY)?.range((org.id.0, i32::MIN)..=(org.id.0, i32::MAX))? {
                    let (k, v) = row?;
                    let m: Metrics = codec::decode(v.value())?;
                    if !m.is_zero() { totals.insert(k.value().1, m); }
                }
                Ok(())
            }).unwrap();
            per_day.retain(|_, m| !m.is_zero());
            prop_assert_eq!(&totals, &per_day);
            // The single-dimension partials equal the dimension rows grouped by that dimension
            // (category partials leave out the order-level rows).
            let mut want_parts: BTreeMap<(u8, i32, String), Metrics> = BTreeMap::new();
            for ((d, k), m) in &got {
                let (c, r, cat) = split_dim(k);
                want_parts.entry((PART_CHANNEL, *d, c.to_string())).or_default().add(m);
                want_parts.entry((PART_REGION, *d, r.to_string())).or_default().add(m);
                if !cat.is_empty() {
                    want_parts.entry((PART_CATEGORY, *d, cat.to_string())).or_default().add(m);
                }
            }
            want_parts.retain(|_, m| !m.is_zero());
            let mut parts: BTreeMap<(u8, i32, String), Metrics> = BTreeMap::new();
            store.read(|t| {
                for row in t.open_table(PART_DAY)?.range((org.id.0, 0, i32::MIN, "")..=(org.id.0, u8::MAX, i32::MAX, "\u{10ffff}"))? {
                    let (k, v) = row?;
                    let m: Metrics = codec::decode(v.value())?;
                    let (_, d, day, val) = k.value();
                    if !m.is_zero() { parts.insert((d, day, val.to_string()), m); }
                }
                Ok(())
            }).unwrap();
            prop_assert_eq!(&parts, &want_parts);
            // Hour rollups add up to the same totals as day rollups.
            let mut hour_total = Metrics::default();
            for (_, _, m) in store.read(|t| hour_rollups(t, org.id)).unwrap() { hour_total.add(&m); }
            let mut day_total = Metrics::default();
            for m in got.values() { day_total.add(m); }
            prop_assert_eq!(hour_total, day_total);

            // Independent totals straight from the events.
            let sales: Vec<&Sale> = events.iter().filter_map(|e| if let Event::Sale(s) = e { Some(s) } else { None }).collect();
            prop_assert_eq!(day_total.gross, sales.iter().map(|s| s.gross()).sum::<i64>());
            prop_assert_eq!(day_total.discounts, sales.iter().map(|s| s.discount).sum::<i64>());
            prop_assert_eq!(day_total.orders, sales.len() as i64);
            let customers: std::collections::HashSet<&String> = sales.iter().filter_map(|s| s.customer.as_ref()).collect();
            prop_assert_eq!(day_total.new_customers, customers.len() as i64);
            prop_assert_eq!(day_total.new_customers + day_total.returning_customers, sales.iter().filter(|s| s.customer.is_some()).count() as i64);
            let order_ids: std::collections::HashSet<&str> = sales.iter().map(|s| s.id.as_str()).collect();
            let refunds: i64 = events.iter().filter_map(|e| if let Event::Refund(r) = e { order_ids.contains(r.order_id.as_str()).then_some(r.amount) } else { None }).sum();
            prop_assert_eq!(day_total.refunds, refunds);
            prop_assert_eq!(day_total.visits, events.iter().filter_map(|e| if let Event::Traffic(t) = e { Some(t.visits) } else { None }).sum::<i64>());

            // Customer and product aggregates.
            for c in &customers {
                let agg = store.read(|t| customer(t, org.id, c)).unwrap().unwrap();
                let mine: Vec<&&Sale> = sales.iter().filter(|s| s.customer.as_ref() == Some(*c)).collect();
                prop_assert_eq!(agg.orders, mine.len() as i64);
                prop_assert_eq!(agg.revenue, mine.iter().map(|s| s.gross() - s.discount).sum::<i64>());
                let earliest = mine.iter().map(|s| (s.at, s.id.clone())).min().unwrap();
                prop_assert_eq!(agg.first, Some(earliest));
            }
            let units: i64 = sales.iter().flat_map(|s| s.lines.iter()).map(|l| l.quantity).sum();
            let stored_units: i64 = SKUS.iter().filter_map(|(sku, _, _)| store.read(|t| product(t, org.id, sku)).unwrap()).map(|p| p.figures.units).sum();
            prop_assert_eq!(stored_units, units);
        }
    }
}
