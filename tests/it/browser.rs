//! Real pages in headless Chromium: sign in, navigate, submit forms, see htmx updates.

use crate::support::browser::Browser;
use crate::support::*;
use fantoccini::Locator;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

async fn wait_for(b: &Browser, css: &str) -> fantoccini::elements::Element {
    b.client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

async fn click_link(b: &Browser, text: &str) {
    b.client
        .find(Locator::LinkText(text))
        .await
        .unwrap_or_else(|e| panic!("link {text}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn type_into(b: &Browser, css: &str, text: &str) {
    wait_for(b, css).await.send_keys(text).await.unwrap();
}

async fn path(b: &Browser) -> String {
    b.client.current_url().await.unwrap().path().to_string()
}

async fn wait_for_path(b: &Browser, want: &str) {
    let end = std::time::Instant::now() + WAIT;
    while path(b).await != want {
        assert!(
            std::time::Instant::now() < end,
            "expected {want}, at {}",
            path(b).await
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn screenshot(b: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("SB_SCREENSHOTS") {
        let png = b.client.screenshot().await.unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}

async fn no_horizontal_scroll(b: &Browser) -> bool {
    let v = b
        .client
        .execute(
            "if (document.documentElement.scrollWidth <= window.innerWidth) return '';
             const f = document.querySelector('figure.chart'); const fi = f ? ('figure ' + getComputedStyle(f).overflowX + ' ' + Math.round(f.getBoundingClientRect().right) + ' sw=' + document.documentElement.scrollWidth + ' iw=' + window.innerWidth + '; ') : ''; return fi + [...document.querySelectorAll('body *')]
               .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('figure'))
               .slice(0, 8)
               .map(e => e.tagName + '#' + e.id + ' ' + getComputedStyle(e).overflowX + ' ' + Math.round(e.getBoundingClientRect().right))
               .join(', ') || 'something';",
            vec![],
        )
        .await
        .unwrap();
    let wide = v.as_str().unwrap_or("?");
    if !wide.is_empty() {
        eprintln!("wider than the window: {wide}");
    }
    wide.is_empty()
}

/// Sign in on the login page as `email` (password `PASSWORD`) and land on the home page.
async fn sign_in(b: &Browser, s: &TestServer, email: &str) {
    sign_in_to(b, s, email, "/").await;
}

/// Sign in and land on `path`.
async fn sign_in_to(b: &Browser, s: &TestServer, email: &str, path: &str) {
    b.client.goto(&s.url("/login")).await.unwrap();
    type_into(b, "#email", email).await;
    type_into(b, "#password", PASSWORD).await;
    wait_for(b, "#sign-in").await.click().await.unwrap();
    wait_for_path(b, path).await;
}

#[tokio::test]
async fn sign_in_manage_users_and_sign_out() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    s.user(&owner, "admin@example.com", "admin").await;
    let Some(b) = Browser::start().await else {
        return;
    };

    // `/` sends a signed-out visitor to the sign-in page
    b.client.goto(&s.url("/")).await.unwrap();
    wait_for_path(&b, "/login").await;
    screenshot(&b, "login").await;

    // a wrong password shows an error
    type_into(&b, "#email", "admin@example.com").await;
    type_into(&b, "#password", "not my password").await;
    wait_for(&b, "#sign-in").await.click().await.unwrap();
    let err = wait_for(&b, "#login-error").await;
    assert!(err.text().await.unwrap().contains("do not match"));

    // the right one lands on the home page
    type_into(&b, "#password", PASSWORD).await;
    wait_for(&b, "#sign-in").await.click().await.unwrap();
    wait_for_path(&b, "/").await;
    let h1 = wait_for(&b, "main h1").await.text().await.unwrap();
    assert_eq!(h1, "My Organization");
    assert!(
        wait_for(&b, ".empty-state")
            .await
            .text()
            .await
            .unwrap()
            .contains("No sales data yet")
    );
    screenshot(&b, "home").await;

    // users page through the navigation; add a user (boosted form)
    click_link(&b, "Users").await;
    wait_for_path(&b, "/admin/users").await;
    type_into(&b, "#new-email", "carol@example.com").await;
    type_into(&b, "#new-name", "Carol").await;
    wait_for(&b, "#new-role")
        .await
        .select_by_value("analyst")
        .await
        .unwrap();
    wait_for(&b, "#add-user").await.click().await.unwrap();
    let otp = wait_for(&b, "#one-time-password")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(otp.len(), 23);
    let carol_row = wait_for(&b, "#users tbody tr:nth-child(2)").await;
    assert!(
        carol_row
            .text()
            .await
            .unwrap()
            .contains("carol@example.com")
    );

    // change Carol's role inline (htmx swaps just the row)
    let row_id = carol_row.attr("id").await.unwrap().unwrap();
    let select = wait_for(&b, &format!("#{row_id} select[name=role]")).await;
    select.select_by_value("manager").await.unwrap();
    wait_for(&b, &format!("#{row_id} form button"))
        .await
        .click()
        .await
        .unwrap();
    let end = std::time::Instant::now() + WAIT;
    loop {
        let v = b
            .client
            .execute(&format!("return document.querySelector('#{row_id} select[name=role] option[selected]')?.value;"), vec![])
            .await
            .unwrap();
        if v == "manager" {
            break;
        }
        assert!(std::time::Instant::now() < end, "row not updated: {v}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    screenshot(&b, "users").await;

    // small screens: no horizontal scrolling on the pages we have
    b.client.set_window_size(360, 800).await.unwrap();
    for p in [
        "/",
        "/admin/users",
        "/admin/roles",
        "/account/password",
        "/import",
        "/admin/api-keys",
    ] {
        b.client.goto(&s.url(p)).await.unwrap();
        wait_for(&b, "main h1").await;
        assert!(
            no_horizontal_scroll(&b).await,
            "horizontal scroll at 360px on {p}"
        );
    }
    screenshot(&b, "roles-360").await;
    b.client.set_window_size(1280, 900).await.unwrap();

    // sign out returns to the sign-in page, and pages are closed again
    b.client.goto(&s.url("/")).await.unwrap();
    wait_for(&b, ".usermenu button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    wait_for_path(&b, "/login").await;
    b.client.goto(&s.url("/admin/users")).await.unwrap();
    wait_for_path(&b, "/login").await;

    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    b.close().await;
    s.stop().await;
}

#[tokio::test]
async fn htmx_errors_show_as_a_toast() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    s.user(&owner, "admin@example.com", "admin").await;
    let (victim, _) = s.user(&owner, "victim@example.com", "viewer").await;
    let Some(b) = Browser::start().await else {
        return;
    };
    sign_in(&b, &s, "admin@example.com").await;
    b.client.goto(&s.url("/admin/users")).await.unwrap();
    wait_for(&b, &format!("#user-{victim}")).await;
    // The account vanishes from under the page (another admin's tab): make it an owner, which
    // this admin may not touch, then press Disable on the stale row.
    let r = client()
        .patch(s.url(&format!("/api/v1/users/{victim}")))
        .bearer_auth(&owner)
        .json(&serde_json::json!({"role": "owner"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let buttons = b
        .client
        .find_all(Locator::Css(&format!("#user-{victim} button")))
        .await
        .unwrap();
    let mut clicked = false;
    for btn in buttons {
        if btn.text().await.unwrap() == "Disable" {
            btn.click().await.unwrap();
            clicked = true;
        }
    }
    assert!(clicked);
    let toast = wait_for(&b, "#toasts .toast-error").await;
    assert!(
        toast.text().await.unwrap().contains("Only an owner"),
        "{}",
        toast.text().await.unwrap()
    );
    // the row is still there and the page did not navigate away
    wait_for(&b, &format!("#user-{victim}")).await;
    assert_eq!(path(&b).await, "/admin/users");
    b.close().await;
    s.stop().await;
}

/// A newcomer's first minute: "Load demo data" on the empty home page, watch the progress
/// bar finish (htmx polling), go to the overview and see the figures; then create an API key
/// and see its secret once.
#[tokio::test]
async fn load_demo_data_then_see_the_overview_and_make_an_api_key() {
    let s = TestServer::start_with(|c| c.import.demo_events = 2_000).await;
    let owner = s.owner_token().await;
    s.user(&owner, "admin@example.com", "admin").await;
    let Some(b) = Browser::start().await else {
        return;
    };
    sign_in(&b, &s, "admin@example.com").await;
    wait_for(&b, "#load-demo").await.click().await.unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        // Read through script: the panel is swapped every half second, so an element handle
        // can go stale between finding and reading it.
        let status = b
            .client
            .execute(
                "const e = document.querySelector('#job-status'); return e ? e.textContent : '';",
                vec![],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap_or("")
            .to_string();
        if status.contains("Finished") {
            break;
        }
        assert!(std::time::Instant::now() < end, "still: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(path(&b).await.starts_with("/import/jobs/"));
    let accepted = wait_for(&b, "#job-accepted").await.text().await.unwrap();
    assert!(accepted.replace(',', "").parse::<u64>().unwrap() > 2_000);
    screenshot(&b, "demo-loaded").await;
    click_link(&b, "Go to the dashboard").await;
    wait_for_path(&b, "/dashboard").await;
    let kpis = wait_for(&b, "#kpis").await.text().await.unwrap();
    assert!(
        kpis.contains("Revenue") && kpis.contains("Orders"),
        "{kpis}"
    );
    let chart = wait_for(&b, "#trend svg").await;
    assert!(
        chart
            .attr("aria-label")
            .await
            .unwrap()
            .unwrap_or_default()
            .starts_with("Revenue by day"),
    );
    // The top customers panel loads after the page.
    let end = std::time::Instant::now() + WAIT;
    loop {
        let customers = wait_for(&b, "#top-customers").await.text().await.unwrap();
        if customers.contains("Top customers") && !customers.contains("Loading") {
            assert!(!customers.contains("No known"), "{customers}");
            break;
        }
        assert!(std::time::Instant::now() < end, "{customers}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    screenshot(&b, "dashboard").await;
    b.client
        .execute("document.querySelector('#trend').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot(&b, "dashboard-chart").await;
    // Rankings lead to the product and customer pages.
    b.client
        .find(Locator::Css("#top-products .rank-name a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&b, "#product-history svg").await;
    assert!(path(&b).await.starts_with("/products/"));
    screenshot(&b, "product").await;
    b.client.back().await.unwrap();
    wait_for(&b, "#top-customers .rank-name a")
        .await
        .click()
        .await
        .unwrap();
    let words = wait_for(&b, "#customer-explanation")
        .await
        .text()
        .await
        .unwrap();
    assert!(words.contains("Churn risk is"), "{words}");
    screenshot(&b, "customer").await;

    click_link(&b, "API keys").await;
    wait_for_path(&b, "/admin/api-keys").await;
    type_into(&b, "#key-name", "Web shop").await;
    wait_for(&b, "#create-key").await.click().await.unwrap();
    let secret = wait_for(&b, "#new-key-secret").await.text().await.unwrap();
    assert!(secret.starts_with("sbk_"), "{secret}");
    assert!(no_horizontal_scroll(&b).await);
    screenshot(&b, "api-keys").await;
    // The API reference, linked from the key page, renders every operation (no CSP errors:
    // checked with the console at the end).
    click_link(&b, "API reference").await;
    wait_for(&b, "#operations-events-ingest").await;
    wait_for(&b, "#operations-metrics-summary").await;
    screenshot(&b, "api-docs").await;
    // The overview and the key page on a phone.
    b.client.set_window_size(360, 800).await.unwrap();
    for p in ["/dashboard", "/admin/api-keys", "/import"] {
        b.client.goto(&s.url(p)).await.unwrap();
        wait_for(&b, "main h1").await;
        assert!(
            no_horizontal_scroll(&b).await,
            "horizontal scroll at 360px on {p}"
        );
        screenshot(
            &b,
            &format!("{}-360", p.trim_matches('/').replace('/', "-")),
        )
        .await;
    }
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "{errors:?}");
    b.close().await;
    s.stop().await;
}

/// Text of the first element matching `css`, read in one script call (live sections are
/// swapped under us, so element handles go stale).
async fn text_of(b: &Browser, css: &str) -> String {
    b.client
        .execute(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
            vec![serde_json::json!(css)],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn wait_text(b: &Browser, css: &str, want: impl Fn(&str) -> bool, what: &str) -> String {
    let end = std::time::Instant::now() + WAIT;
    loop {
        let t = text_of(b, css).await;
        if want(&t) {
            return t;
        }
        if std::time::Instant::now() >= end {
            let dash = text_of(b, "#dash").await;
            panic!("{what}: {css} is {t:?}; the dashboard reads {dash:?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn query(b: &Browser) -> String {
    b.client
        .current_url()
        .await
        .unwrap()
        .query()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn the_dashboard_updates_live_and_keeps_its_filters_in_the_url() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    s.user(&owner, "analyst@example.com", "analyst").await;
    let (_, key) = s.api_key(&owner, "shop").await;
    let at = s.now().timestamp().to_string();
    let sale = |id: &str, channel: &str, price: &str| {
        serde_json::json!({"type": "sale_completed", "id": id, "occurred_at": at,
            "channel": channel, "region": "EMEA",
            "lines": [{"sku": "S-1", "name": "Widget", "quantity": 1, "unit_price": price}]})
    };
    let post = |body: serde_json::Value| {
        let (url, key) = (s.url("/api/v1/events"), key.clone());
        async move {
            let r = client()
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), reqwest::StatusCode::OK);
        }
    };
    post(serde_json::json!([
        sale("o-1", "online", "100.00"),
        sale("o-2", "retail", "50.00")
    ]))
    .await;

    let Some(b) = Browser::start().await else {
        return;
    };
    // With data, the home page is the dashboard.
    sign_in_to(&b, &s, "analyst@example.com", "/dashboard").await;
    let revenue = ".tiles .tile:first-child .tile-value";
    assert_eq!(text_of(&b, revenue).await, "$150.00");
    wait_for(&b, "#live-status[data-state='on']").await;

    // A sale sent through the API shows without a reload: tile and ticker.
    post(serde_json::json!(sale("o-3", "online", "123.45"))).await;
    wait_text(&b, revenue, |t| t == "$273.45", "live revenue").await;
    let ticker = wait_text(
        &b,
        "#live-ticker li:first-child",
        |t| t.contains("$123.45"),
        "ticker",
    )
    .await;
    assert!(ticker.contains("online"), "{ticker}");
    screenshot(&b, "dashboard-live").await;

    // A filter narrows the view, in the URL too.
    wait_for(&b, "#dash-filters select[name='channel']")
        .await
        .select_by_value("retail")
        .await
        .unwrap();
    wait_text(&b, revenue, |t| t == "$50.00", "retail only").await;
    assert_eq!(query(&b).await, "channel=retail");
    // Live updates follow the new view: an online sale does not change it, a retail one does.
    wait_for(&b, "#live-status[data-state='on']").await;
    post(serde_json::json!([
        sale("o-4", "online", "1.00"),
        sale("o-5", "retail", "2.00")
    ]))
    .await;
    wait_text(&b, revenue, |t| t == "$52.00", "live retail revenue").await;

    // Back restores the previous view.
    b.client.back().await.unwrap();
    wait_text(&b, revenue, |t| t == "$276.45", "after back").await;
    assert_eq!(query(&b).await, "");

    // Drill-down: a channel bar narrows to that channel.
    b.client
        .find(Locator::Css("#by-channel a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&b, revenue, |t| t == "$224.45", "drill-down to online").await;
    assert_eq!(query(&b).await, "channel=online");

    // A day on the chart narrows the view to that day, in place.
    let day = s
        .now()
        .timestamp()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    b.client
        .execute(
            "window.sbStayed = true; document.querySelector('#trend .hits a:last-of-type rect').dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}));",
            vec![],
        )
        .await
        .unwrap();
    let end = std::time::Instant::now() + WAIT;
    while query(&b).await != format!("range=custom&from={day}&to={day}&channel=online") {
        assert!(std::time::Instant::now() < end, "at {}", query(&b).await);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    wait_text(&b, revenue, |t| t == "$224.45", "one day").await;
    // (no page load: the marker set before the click is still there)
    let stayed = b
        .client
        .execute("return window.sbStayed === true;", vec![])
        .await
        .unwrap();
    assert_eq!(stayed, serde_json::json!(true));

    // Without JavaScript the same URL renders the whole page (reload it).
    b.client.refresh().await.unwrap();
    wait_text(&b, revenue, |t| t == "$224.45", "reloaded").await;

    b.client.set_window_size(360, 800).await.unwrap();
    assert!(no_horizontal_scroll(&b).await, "horizontal scroll at 360px");
    screenshot(&b, "dashboard-360").await;
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "{errors:?}");
    b.close().await;
    s.stop().await;
}

/// The column (stage name) a deal's card is in, or "" when it is not on the board.
async fn column_of(b: &Browser, deal: &str) -> String {
    b.client
        .execute(
            "const n = [...document.querySelectorAll('#board .deal-name')].find(n => n.textContent === arguments[0]);
             return n ? n.closest('.column').querySelector('h2').firstChild.textContent.trim() : '';",
            vec![serde_json::json!(deal)],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn wait_for_column(b: &Browser, deal: &str, want: &str) {
    let end = std::time::Instant::now() + WAIT;
    loop {
        let now = column_of(b, deal).await;
        if now == want {
            return;
        }
        assert!(
            std::time::Instant::now() < end,
            "{deal} is in `{now}`, expected `{want}`"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Drag a card onto a column the way a mouse does (HTML5 drag and drop events).
async fn drag_card(b: &Browser, deal: &str, to: &str) {
    b.client
        .execute(
            "const card = [...document.querySelectorAll('.deal')].find(d => d.querySelector('.deal-name').textContent === arguments[0]);
             const zone = [...document.querySelectorAll('.column')].find(c => c.querySelector('h2').firstChild.textContent.trim() === arguments[1]).querySelector('.cards');
             const dt = new DataTransfer();
             card.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: dt}));
             zone.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt}));
             zone.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));
             card.dispatchEvent(new DragEvent('dragend', {bubbles: true, dataTransfer: dt}));",
            vec![serde_json::json!(deal), serde_json::json!(to)],
        )
        .await
        .unwrap();
}

async fn column_total(b: &Browser, stage: &str) -> String {
    b.client
        .execute(
            "const c = [...document.querySelectorAll('.column')].find(c => c.querySelector('h2').firstChild.textContent.trim() === arguments[0]);
             return c.querySelector('.column-totals .total').textContent + ' / ' + c.querySelector('.count').textContent;",
            vec![serde_json::json!(stage)],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn pipeline_board_drag_keyboard_and_a_second_window_live() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    s.user(&owner, "vp@example.com", "vp").await;
    for (name, amount) in [("Acme rollout", "12500"), ("Globex renewal", "4000")] {
        let r = client()
            .post(s.url("/api/v1/opportunities"))
            .bearer_auth(&owner)
            .json(&serde_json::json!({"name": name, "account": "X", "amount": amount, "close_date": "2026-12-20"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    }
    let Some(a) = Browser::start().await else {
        return;
    };
    let bw = Browser::start().await.expect("a second browser");
    sign_in_to(&a, &s, &s.owner_email, "/").await;
    sign_in_to(&bw, &s, "vp@example.com", "/").await;
    for b in [&a, &bw] {
        click_link(b, "Pipeline").await;
        wait_for_path(b, "/pipeline").await;
        wait_for(b, "#live-status[data-state=on]").await;
    }
    assert_eq!(column_of(&a, "Acme rollout").await, "Prospecting");

    // Drag in the first window: the card, its column totals, and the other window follow.
    drag_card(&a, "Acme rollout", "Proposal").await;
    wait_for_column(&a, "Acme rollout", "Proposal").await;
    let end = std::time::Instant::now() + WAIT;
    while column_total(&a, "Proposal").await != "$12,500.00 / 1" {
        assert!(
            std::time::Instant::now() < end,
            "totals: {}",
            column_total(&a, "Proposal").await
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    wait_for_column(&bw, "Acme rollout", "Proposal").await;
    screenshot(&a, "pipeline-board").await;

    // The keyboard way in the second window: open "Move to…" and pick a stage with Enter.
    let card = bw
        .client
        .execute(
            "return [...document.querySelectorAll('.deal')].find(d => d.querySelector('.deal-name').textContent === 'Globex renewal').id;",
            vec![],
        )
        .await
        .unwrap();
    let card = card.as_str().unwrap().to_string();
    wait_for(&bw, &format!("#{card} summary"))
        .await
        .send_keys(fantoccini::key::Key::Enter.to_string().as_str())
        .await
        .unwrap();
    let target = bw
        .client
        .find(Locator::XPath(&format!(
            "//li[@id='{card}']//button[normalize-space()='Negotiation']"
        )))
        .await
        .unwrap();
    target
        .send_keys(fantoccini::key::Key::Enter.to_string().as_str())
        .await
        .unwrap();
    wait_for_column(&bw, "Globex renewal", "Negotiation").await;
    wait_for_column(&a, "Globex renewal", "Negotiation").await;
    assert_eq!(column_total(&a, "Negotiation").await, "$4,000.00 / 1");

    // The history on the deal's page.
    click_link(&a, "Acme rollout").await;
    let timeline = wait_for(&a, "#timeline").await.text().await.unwrap();
    assert!(timeline.contains("Prospecting → Proposal"), "{timeline}");
    assert!(timeline.contains(&s.owner_email), "{timeline}");

    // The forecast page, and both pages at phone width.
    click_link(&a, "Forecast").await;
    wait_for(&a, "#forecast-totals").await;
    screenshot(&a, "forecast").await;
    a.client.set_window_size(360, 800).await.unwrap();
    for p in ["/pipeline", "/forecast", "/opportunities/new"] {
        a.client.goto(&s.url(p)).await.unwrap();
        wait_for(&a, "main h1").await;
        assert!(
            no_horizontal_scroll(&a).await,
            "horizontal scroll at 360px on {p}"
        );
    }
    for b in [&a, &bw] {
        let errors = b.console_errors().await;
        assert!(errors.is_empty(), "{errors:?}");
    }
    a.close().await;
    bw.close().await;
}

#[tokio::test]
async fn partners_create_note_link_a_deal_and_filter_the_list() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let r = client()
        .post(s.url("/api/v1/opportunities"))
        .bearer_auth(&owner)
        .json(&serde_json::json!({"name": "Acme rollout", "account": "Acme", "amount": "12500", "close_date": "2026-12-20"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let deal: serde_json::Value = r.json().await.unwrap();
    let Some(b) = Browser::start().await else {
        return;
    };
    sign_in(&b, &s, &s.owner_email).await;
    click_link(&b, "Partners").await;
    wait_for_path(&b, "/partners").await;
    assert!(
        text_of(&b, "#partner-list")
            .await
            .contains("No partners yet.")
    );

    // Create one through the form.
    wait_for(&b, "#new-partner").await.click().await.unwrap();
    wait_for_path(&b, "/partners/new").await;
    type_into(&b, "#p-name", "Northwind Apps").await;
    type_into(&b, "#p-website", "northwind.example").await;
    wait_for(&b, "#p-tier")
        .await
        .select_by_value("Gold")
        .await
        .unwrap();
    wait_for(&b, "#p-status")
        .await
        .select_by_value("active")
        .await
        .unwrap();
    type_into(&b, "input[name=contact_name]", "Ana Silva").await;
    type_into(&b, "input[name=contact_email]", "ana@northwind.example").await;
    wait_for(&b, "#save-partner").await.click().await.unwrap();
    wait_text(&b, "main h1", |t| t == "Northwind Apps", "partner page").await;
    let partner_path = path(&b).await;
    let score = text_of(&b, "#health-score").await;
    assert!(score.parse::<u8>().is_ok_and(|v| v <= 100), "{score}");
    assert!(
        text_of(&b, "#health-factors")
            .await
            .contains("Recent activity")
    );
    assert!(
        text_of(&b, "#contacts")
            .await
            .contains("ana@northwind.example")
    );

    // A note, with its author.
    type_into(&b, "#note-text", "Kickoff call done.").await;
    wait_for(&b, "#note-form button")
        .await
        .click()
        .await
        .unwrap();
    wait_text(
        &b,
        "#note-list",
        |t| t.contains("Kickoff call done.") && t.contains(&s.owner_email),
        "note",
    )
    .await;

    // Link the deal to the partner on its page; the partner page lists it.
    b.client
        .goto(&s.url(&format!("/opportunities/{}", deal["id"].as_str().unwrap())))
        .await
        .unwrap();
    let partner_id = partner_path.trim_start_matches("/partners/").to_string();
    wait_for(&b, "#f-partner")
        .await
        .select_by_value(&partner_id)
        .await
        .unwrap();
    wait_for(&b, "#save-deal").await.click().await.unwrap();
    wait_for(&b, "dl.facts a[href^='/partners/']")
        .await
        .click()
        .await
        .unwrap();
    wait_for_path(&b, &partner_path).await;
    wait_text(
        &b,
        "#partner-deals",
        |t| t.contains("Acme rollout") && t.contains("sourced"),
        "linked deal",
    )
    .await;
    assert!(text_of(&b, "#partner-revenue").await.contains("$12,500.00"));

    // The list filters in place, keeps them in the URL, and the back button restores them.
    click_link(&b, "Partners").await;
    wait_for_path(&b, "/partners").await;
    wait_for(&b, "#partner-filters select[name=status]")
        .await
        .select_by_value("active")
        .await
        .unwrap();
    let end = std::time::Instant::now() + WAIT;
    while query(&b).await != "status=active" {
        assert!(std::time::Instant::now() < end, "query {}", query(&b).await);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    wait_text(
        &b,
        "#partner-summary",
        |t| t.starts_with("1 partner"),
        "filtered list",
    )
    .await;
    wait_for(&b, "#partner-filters select[name=status]")
        .await
        .select_by_value("churned")
        .await
        .unwrap();
    wait_text(
        &b,
        "#partner-list",
        |t| t.contains("No partner matches"),
        "empty filter",
    )
    .await;
    b.client.back().await.unwrap();
    wait_text(
        &b,
        "#partner-summary",
        |t| t.starts_with("1 partner"),
        "back",
    )
    .await;
    assert_eq!(query(&b).await, "status=active");
    screenshot(&b, "partners").await;

    // Phones: no horizontal scrolling.
    b.client.set_window_size(360, 800).await.unwrap();
    for p in [
        "/partners",
        partner_path.as_str(),
        "/partners/new",
        "/partners/settings",
    ] {
        b.client.goto(&s.url(p)).await.unwrap();
        wait_for(&b, "main h1").await;
        assert!(
            no_horizontal_scroll(&b).await,
            "horizontal scroll at 360px on {p}"
        );
    }
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    b.close().await;
    s.stop().await;
}

/// The `aria-selected` option of the header box's suggestions (its text).
async fn selected_option(b: &Browser) -> String {
    text_of(b, "#search-suggest [aria-selected=true]").await
}

#[tokio::test]
async fn header_search_suggests_as_you_type_and_enter_opens_the_record() {
    use fantoccini::key::Key;
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (st, _, p) = send_json(
        &s,
        reqwest::Method::POST,
        &owner,
        "/api/v1/partners",
        Some(serde_json::json!({"name": "Northwind Apps", "tier": "gold"})),
        None,
    )
    .await;
    assert_eq!(st, reqwest::StatusCode::CREATED);
    let partner = p["id"].as_str().unwrap().to_string();
    let (st, _, _) = send_json(
        &s,
        reqwest::Method::POST,
        &owner,
        "/api/v1/events",
        Some(serde_json::json!({"type":"customer_created","id":"c-7","occurred_at":"2026-11-20T10:00:00Z",
            "name":"Norma Jean","email":"norma@example.com","region":"EMEA"})),
        None,
    )
    .await;
    assert!(st.is_success());
    s.search_caught_up().await;
    let Some(b) = Browser::start().await else {
        return;
    };
    // (the org has data, so home is the dashboard)
    sign_in_to(&b, &s, &s.owner_email, "/dashboard").await;

    // "/" focuses the box.
    wait_for(&b, "main").await;
    b.client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("/")
        .await
        .unwrap();
    let focused = b
        .client
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(focused, "site-search");

    // Typing shows grouped suggestions with the matched letters marked; the first is selected.
    type_into(&b, "#site-search", "nor").await;
    wait_for(&b, "#search-suggest.open .search-group").await;
    let text = wait_text(
        &b,
        "#search-suggest",
        |t| t.contains("Partners") && t.contains("Customers"),
        "both groups",
    )
    .await;
    assert!(text.contains("Norma Jean"), "{text}");
    assert!(
        text_of(&b, "#search-suggest mark")
            .await
            .eq_ignore_ascii_case("nor"),
        "the typed prefix is marked"
    );
    assert!(selected_option(&b).await.contains("Northwind Apps"));
    // Arrow keys move the selection; Esc closes.
    let input = wait_for(&b, "#site-search").await;
    input.send_keys(&Key::Down.to_string()).await.unwrap();
    assert!(selected_option(&b).await.contains("Norma Jean"));
    input.send_keys(&Key::Up.to_string()).await.unwrap();
    assert!(selected_option(&b).await.contains("Northwind"));
    input.send_keys(&Key::Escape.to_string()).await.unwrap();
    assert!(
        b.client
            .find_all(Locator::Css("#search-suggest.open"))
            .await
            .unwrap()
            .is_empty(),
        "Esc closes the suggestions"
    );
    // Typing on narrows it to the partner; Enter opens its page.
    input.send_keys("thw").await.unwrap();
    wait_text(
        &b,
        "#search-suggest.open",
        |t| t.contains("Northwind") && !t.contains("Norma"),
        "narrowed",
    )
    .await;
    input.send_keys(&Key::Enter.to_string()).await.unwrap();
    wait_for_path(&b, &format!("/partners/{partner}")).await;
    wait_text(
        &b,
        "main h1",
        |t| t.contains("Northwind Apps"),
        "partner page",
    )
    .await;

    // The full results page with kind tabs; the tab narrows and shows in the URL.
    b.client.goto(&s.url("/search?q=nor")).await.unwrap();
    wait_for(&b, "#search-results").await;
    click_link(&b, "Customers 1").await;
    wait_text(
        &b,
        "#search-results",
        |t| t.contains("Norma Jean") && !t.contains("Northwind"),
        "customers tab",
    )
    .await;
    assert_eq!(query(&b).await, "q=nor&kind=customer");

    // Phones: the box takes the full width, no horizontal scrolling, suggestions fit.
    b.client.set_window_size(360, 800).await.unwrap();
    b.client.goto(&s.url("/search?q=nor")).await.unwrap();
    wait_for(&b, "#search-results").await;
    assert!(no_horizontal_scroll(&b).await, "horizontal scroll at 360px");
    type_into(&b, "#site-search", "norma").await;
    wait_for(&b, "#search-suggest.open .search-group").await;
    assert!(no_horizontal_scroll(&b).await, "suggestions at 360px");
    screenshot(&b, "search").await;
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    b.close().await;
    s.stop().await;
}

#[tokio::test]
async fn audit_log_filters_in_place_and_a_backup_shows_when_done() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (ann, _) = s.user(&owner, "ann@example.com", "analyst").await;
    let r = client()
        .patch(s.url(&format!("/api/v1/users/{ann}")))
        .bearer_auth(&owner)
        .json(&serde_json::json!({"role": "manager"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let Some(b) = Browser::start().await else {
        return;
    };
    sign_in(&b, &s, &s.owner_email).await;
    click_link(&b, "Audit log").await;
    wait_for_path(&b, "/admin/audit").await;
    let rows = "return document.querySelectorAll('#audit-table > tbody > tr').length;";
    let all = b
        .client
        .execute(rows, vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    assert!(all >= 4, "{all} records");

    // Choosing an action narrows the list in place, and the URL says so.
    wait_for(&b, "#audit-filters select[name='action']")
        .await
        .select_by_value("user.role_change")
        .await
        .unwrap();
    wait_text(&b, "#audit-summary", |_| true, "summary").await;
    let end = std::time::Instant::now() + WAIT;
    while query(&b).await != "action=user.role_change" {
        assert!(
            std::time::Instant::now() < end,
            "the URL did not follow the filter"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let one = b
        .client
        .execute(rows, vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    assert_eq!(one, 1);
    // Its changes open to the values before and after.
    wait_for(&b, "details.audit-changes summary")
        .await
        .click()
        .await
        .unwrap();
    let changed = wait_for(&b, "details.audit-changes tr.changed")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        changed.contains("analyst") && changed.contains("manager"),
        "{changed}"
    );
    screenshot(&b, "audit-log").await;
    // Back goes to the whole log.
    b.client.back().await.unwrap();
    let end = std::time::Instant::now() + WAIT;
    while b
        .client
        .execute(rows, vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap()
        != all
    {
        assert!(
            std::time::Instant::now() < end,
            "back did not restore the whole log"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // Backups: back up now; the page follows it until it is written and checked.
    click_link(&b, "Backups").await;
    wait_for_path(&b, "/admin/backups").await;
    wait_for(&b, "#backup-now").await.click().await.unwrap();
    wait_text(
        &b,
        "#backup-check",
        |t| t.contains("passed"),
        "the new backup's check",
    )
    .await;
    let files = text_of(&b, "#backups-table").await;
    assert!(
        files.contains("salesboard-") && files.contains("Download"),
        "{files}"
    );
    screenshot(&b, "backups").await;

    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "{errors:?}");
    b.close().await;
}
