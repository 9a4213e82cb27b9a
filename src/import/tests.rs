use super::*;
use crate::domain::Ts;
use crate::domain::events::Event;
use crate::domain::money::Currency;

fn usd() -> Intake<'static> {
    let cur: &'static Currency = Box::leak(Box::new(Currency::parse("USD").unwrap()));
    let rates: &'static crate::domain::money::Rates = Box::leak(Box::default());
    Intake {
        currency: cur,
        rates,
        oldest: None,
    }
}

/// (line, column, code) of each row error.
fn spots(c: &Chunk) -> Vec<(u64, &str, &str)> {
    c.errors
        .iter()
        .map(|e| (e.line, e.column.as_str(), e.code))
        .collect()
}

/// Everything read from `text`, in one list (chunks of `chunk` events), plus the chunks'
/// resume points.
fn read_all(format: Format, text: &str, skip: u64, chunk: usize) -> (Chunk, Vec<u64>) {
    let mut all = Chunk::default();
    let mut points = Vec::new();
    read(format, text.as_bytes(), &usd(), skip, chunk, |c| {
        points.push(c.rows_done);
        all.events.extend(c.events);
        all.errors.extend(c.errors);
        all.skipped += c.skipped;
        all.rows += c.rows;
        all.rows_done = c.rows_done;
        Ok(())
    })
    .unwrap();
    (all, points)
}

const ORDERS: &str = "\
order_id,occurred_at,customer_id,channel,region,sku,name,category,quantity,unit_price,unit_cost,discount,tax,shipping,refunded_amount
A-1,2026-11-02T10:00:00Z,c1,online,EMEA,SKU-1,Widget,Hardware,2,19.99,7.50,1.00,3.20,5.00,
A-1,,,,,SKU-2,Gadget,Software,1,100,,,,,
A-2,2026-11-03T11:00:00Z,c2,retail,NA,SKU-1,Widget,Hardware,1,19.99,,,,,5.00
A-3,2026-11-04T11:00:00Z,c3,retail,NA,SKU-1,Widget,Hardware,1,19.99,,,,,
";

#[test]
fn orders_csv_groups_rows_into_orders_with_refunds() {
    let (c, _) = read_all(Format::OrdersCsv, ORDERS, 0, 100);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(c.rows, 4);
    assert_eq!(c.events.len(), 4, "three sales and one refund");
    let Event::Sale(a1) = &c.events[0] else {
        panic!("{:?}", c.events[0])
    };
    assert_eq!(a1.id, "A-1");
    assert_eq!(a1.lines.len(), 2);
    assert_eq!(a1.lines[1].category, "Software");
    assert_eq!(a1.lines[0].unit_cost, Some(750));
    assert_eq!((a1.discount, a1.tax, a1.shipping), (100, 320, 500));
    assert_eq!(a1.customer.as_deref(), Some("c1"));
    let Event::Refund(r) = &c.events[2] else {
        panic!("{:?}", c.events[2])
    };
    assert_eq!((r.order_id.as_str(), r.amount), ("A-2", 500));
    assert_eq!(r.id, "A-2/refund");
}

#[test]
fn bad_rows_are_reported_with_line_and_column_and_the_rest_is_kept() {
    let text = "\
order_id,occurred_at,sku,quantity,unit_price
B-1,2026-11-02T10:00:00Z,S1,1,5.00
B-1,2026-11-02T10:00:00Z,S2,1,five
B-2,2026-11-02T10:00:00Z,S1,two,5.00
,2026-11-02T10:00:00Z,S1,1,5.00
B-3,yesterday,S1,1,5.00
B-4,2026-11-02T10:00:00Z,S1,1,5.00
B-1,2026-11-02T10:00:00Z,S9,1,5.00
B-5,2026-11-02T10:00:00Z,S1,1,5.00
";
    let (c, _) = read_all(Format::OrdersCsv, text, 0, 100);
    let got = spots(&c);
    assert_eq!(
        got,
        vec![
            (3, "unit_price", "validation"),
            (4, "quantity", "validation"),
            (5, "order_id", "validation"),
            (6, "occurred_at", "validation"),
            (8, "order_id", "split_order"),
        ]
    );
    let ids: Vec<&str> = c.events.iter().map(|e| e.id()).collect();
    assert_eq!(ids, vec!["B-4", "B-5"]);
}

#[test]
fn a_file_without_the_needed_columns_is_refused_whole() {
    let r = read(
        Format::OrdersCsv,
        "id,when,price\n1,2,3\n".as_bytes(),
        &usd(),
        0,
        10,
        |_| Ok(()),
    );
    let Err(ImportError::Format(m)) = r else {
        panic!("{r:?}")
    };
    assert!(m.contains("`order_id`") && m.contains("`quantity`"), "{m}");
}

const SHOPIFY: &str = "\
Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,Billing Country,Shipping Country,Cancelled at,Refunded Amount,Vendor,Id,Source
#1001,Ann@Example.com,paid,2026-01-15 10:24:00 -0500,fulfilled,,no,USD,59.97,4.99,4.80,64.96,WELCOME,5.00,Standard,2026-01-15 10:23:45 -0500,2,Blue mug,19.99,,MUG-B,true,true,fulfilled,US,CA,,0.00,Acme,5551,web
#1001,,,,,,,,,,,,,,,,1,Tea,19.99,,,true,true,fulfilled,,,,,Leafy,,
#1002,bob@example.com,voided,,,,,USD,10.00,0,0,10.00,,0.00,,2026-01-16 09:00:00 +0000,1,Blue mug,10.00,,MUG-B,true,true,,US,US,,0.00,Acme,5552,pos
#1003,bob@example.com,partially_refunded,,,,,USD,10.00,0,0,10.00,,0.00,,2026-01-17 09:00:00 +0000,1,Blue mug,10.00,,MUG-B,true,true,,US,,2026-01-20 12:00:00 +0000,4.00,Acme,5553,pos
";

#[test]
fn shopify_orders_export_is_understood() {
    assert_eq!(
        Format::guess(SHOPIFY.lines().next().unwrap()),
        Format::ShopifyOrdersCsv
    );
    let (c, _) = read_all(Format::ShopifyOrdersCsv, SHOPIFY, 0, 100);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(c.skipped, 1, "the voided order");
    assert_eq!(c.events.len(), 3, "two sales and one refund");
    let Event::Sale(s) = &c.events[0] else {
        panic!()
    };
    assert_eq!(s.id, "#1001");
    assert_eq!(
        s.at,
        Ts::from_timestamp("2026-01-15T15:23:45Z".parse().unwrap())
    );
    assert_eq!(s.customer.as_deref(), Some("ann@example.com"));
    assert_eq!((s.channel.as_str(), s.region.as_str()), ("online", "CA"));
    assert_eq!(s.lines.len(), 2);
    assert_eq!(s.lines[1].sku, "Tea", "no SKU: the item name stands in");
    assert_eq!(s.lines[1].category, "Leafy");
    assert_eq!((s.discount, s.tax, s.shipping), (500, 480, 499));
    let Event::Sale(s3) = &c.events[1] else {
        panic!()
    };
    assert_eq!((s3.channel.as_str(), s3.region.as_str()), ("retail", "US"));
    let Event::Refund(r) = &c.events[2] else {
        panic!()
    };
    assert_eq!((r.order_id.as_str(), r.amount), ("#1003", 400));
    assert_eq!(
        r.at,
        Ts::from_timestamp("2026-01-20T12:00:00Z".parse().unwrap())
    );
}

#[test]
fn json_lines_report_the_line_and_field() {
    let text = concat!(
        r#"{"type":"traffic_recorded","id":"t1","occurred_at":"2026-11-02T10:00:00Z","visits":5}"#,
        "\n\n",
        r#"{"type":"sale_completed","id":"s1","occurred_at":"2026-11-02T10:00:00Z","lines":[{"sku":"a","quantity":1,"unit_price":"x"}]}"#,
        "\n",
        "not json\n",
        r#"{"type":"customer_created","id":"c1","occurred_at":"2026-11-02T10:00:00Z"}"#,
    );
    assert_eq!(
        Format::guess(text.lines().next().unwrap()),
        Format::EventsJsonl
    );
    let (c, _) = read_all(Format::EventsJsonl, text, 0, 100);
    let got = spots(&c);
    assert_eq!(
        got,
        vec![
            (3, "lines[0].unit_price", "validation"),
            (4, "", "bad_event")
        ]
    );
    assert_eq!(c.events.len(), 2);
    assert_eq!(c.rows, 5);
}

/// Resuming at any checkpoint the reader reported gives exactly the events not yet handed on:
/// chunk boundaries never cut an order in two.
#[test]
fn resuming_at_any_checkpoint_reads_exactly_the_rest() {
    let mut text = String::from("order_id,occurred_at,sku,quantity,unit_price\n");
    for i in 0..40 {
        for l in 0..(1 + i % 3) {
            text.push_str(&format!("O{i},2026-11-02T10:00:00Z,S{l},1,1.00\n"));
        }
    }
    let (full, _) = read_all(Format::OrdersCsv, &text, 0, 1);
    assert_eq!(full.events.len(), 40);
    let mut seen = Vec::new();
    read(Format::OrdersCsv, text.as_bytes(), &usd(), 0, 3, |c| {
        seen.push((c.rows_done, c.events.len()));
        Ok(())
    })
    .unwrap();
    let mut before = 0;
    for (rows_done, n) in seen {
        before += n;
        let (rest, _) = read_all(Format::OrdersCsv, &text, rows_done, 3);
        let ids: Vec<&str> = rest.events.iter().map(|e| e.id()).collect();
        let want: Vec<&str> = full.events[before..].iter().map(|e| e.id()).collect();
        assert_eq!(ids, want, "resumed after row {rows_done}");
    }
}
