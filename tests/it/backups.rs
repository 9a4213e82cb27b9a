//! The Backups page and API: only the installation's operators; back up now (checked at once),
//! list, download, check; every action in the audit log.

use crate::pages::{sign_in, text_of};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn operators_back_up_download_and_check_from_the_page() {
    let s = TestServer::start().await;
    let c = browser_like();
    let csrf = sign_in(&s, &c).await;
    let page = text_of(&c, &s.url("/admin/backups")).await;
    assert!(
        page.contains(r#"href="/admin/backups" aria-current="page""#),
        "nav link"
    );
    assert!(page.contains("No backups in this folder yet."));
    assert!(page.contains("None since the server started."));

    // Back up now: back to the page, which lists the file, written and checked.
    let r = c
        .post(s.url("/admin/backups"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // It runs in the background; the page shows it once written and checked.
    let page = eventually(std::time::Duration::from_secs(20), || {
        let (c, url) = (c.clone(), s.url("/admin/backups"));
        async move {
            let page = text_of(&c, &url).await;
            page.split("id=\"backup-check\"")
                .nth(1)
                .is_some_and(|c| c.contains("passed"))
                .then_some(page)
        }
    })
    .await;
    let name = page
        .split("<th scope=\"row\"><code>")
        .nth(1)
        .expect("a backup row")
        .split('<')
        .next()
        .unwrap()
        .to_string();
    assert!(
        name.starts_with("salesboard-") && name.ends_with(".sbbackup"),
        "{name}"
    );
    let status = page.split("id=\"backup-last\"").nth(1).unwrap();
    assert!(status.contains("written"), "{status}");
    let check = page.split("id=\"backup-check\"").nth(1).unwrap();
    assert!(
        check.contains("passed") && check.contains("checksum matches"),
        "{check}"
    );

    // Download: the file itself, as an attachment.
    let r = c
        .get(s.url(&format!("/admin/backups/{name}")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&name)
    );
    assert!(
        r.headers().get("content-encoding").is_none(),
        "sent as it is"
    );
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"SALESBOARD BACKUP\n"));
    let on_disk = std::fs::read(s.dir.path().join("backups").join(&name)).unwrap();
    assert_eq!(bytes.as_ref(), on_disk.as_slice());
    // Only listed backups, never another path.
    for bad in ["..%2Fsalesboard.redb", "salesboard.redb", "nope.sbbackup"] {
        let r = c
            .get(s.url(&format!("/admin/backups/{bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
    }

    // Check a damaged backup: the page names the problem.
    let path = s.dir.path().join("backups").join(&name);
    let mut damaged = on_disk.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    std::fs::write(&path, &damaged).unwrap();
    let r = c
        .post(s.url(&format!("/admin/backups/{name}/check")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = text_of(&c, &s.url("/admin/backups")).await;
    let check = page.split("id=\"backup-check\"").nth(1).unwrap();
    assert!(
        check.contains("failed") && check.contains("damaged"),
        "{check}"
    );

    // Every action is in the audit log.
    let owner = s.owner_token().await;
    let (_, v) = s.get_json(&owner, "/api/v1/audit?entity=backup").await;
    let actions: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["backup.check", "backup.download", "backup.create"]
    );
}

#[tokio::test]
async fn backups_are_for_the_installations_operators_only() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    // The API: list, and back up now (checked).
    let (st, v) = s.get_json(&owner, "/api/v1/admin/backups").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["items"].as_array().unwrap().is_empty());
    let r = client()
        .post(s.url("/api/v1/admin/backups"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.unwrap();
    assert!(made["file"]["records"].as_u64().unwrap() > 0, "{made}");
    assert!(
        made["check"]["problems"].as_array().unwrap().is_empty(),
        "{made}"
    );
    let (_, v) = s.get_json(&owner, "/api/v1/admin/backups").await;
    assert_eq!(v["items"][0]["name"], made["file"]["name"]);

    // An admin of the same organization, and the owner of another one: no.
    let (_, admin) = s.user(&owner, "ada@example.com", "admin").await;
    let other = s.second_org("Other", "o@example.com", "owner").await;
    for t in [&admin, &other] {
        let (st, v) = s.get_json(t, "/api/v1/admin/backups").await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
        let r = client()
            .post(s.url("/api/v1/admin/backups"))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let c = signed_in_browser(&s, "o@example.com").await;
    let r = c.get(s.url("/admin/backups")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let home = text_of(&c, &s.url("/")).await;
    assert!(!home.contains("/admin/backups"), "no nav link");
}
