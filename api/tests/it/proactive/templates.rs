//! An integration's templates: listed from every page of the platform's answer, cached, shown;
//! a template reply outside the 24-hour window is sent in the documented shape, one the
//! platform does not list (or has not approved) is refused naming it.

use super::fake_cloud_api::{templates as platform_templates, until_sent};
use super::{order_update, start, WA_ID};
use crate::helpers::TestKafka;
use crate::send::{conversation_of, projector};
use axum::http::StatusCode;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_listed_from_every_page_cached_and_shown() {
    let kafka = TestKafka::new();
    let proactive = start(&kafka).await;
    let list = format!(
        "/v1/workspaces/acme/integrations/{}/templates",
        proactive.whatsapp
    );
    let (status, before) = proactive.app.call("GET", &list, None).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["items"], json!([]));
    assert!(before["refreshed_at"].is_null());

    let refresh = format!("{list}/refresh");
    let (refreshed, racing) = tokio::join!(
        proactive.post(&refresh, json!({}), StatusCode::OK),
        proactive.post(&refresh, json!({}), StatusCode::OK)
    );
    assert_eq!(
        racing["items"], refreshed["items"],
        "refreshes apply one after the other"
    );
    let listings = proactive.fake.lock().unwrap().listings.clone();
    assert_eq!(
        listings.len(),
        6,
        "five templates, two a page, listed twice"
    );
    for listing in &listings {
        assert_eq!(
            listing["fields"],
            "name,language,status,category,components"
        );
    }
    let mut cursors: Vec<Option<&str>> = listings
        .iter()
        .map(|l| l.get("after").map(String::as_str))
        .collect();
    cursors.sort();
    let each_twice = [
        None,
        None,
        Some("cursor-2"),
        Some("cursor-2"),
        Some("cursor-4"),
        Some("cursor-4"),
    ];
    assert_eq!(
        cursors, each_twice,
        "every page by the previous page's cursor"
    );
    let items = refreshed["items"].as_array().unwrap();
    assert_eq!(items.len(), platform_templates().len());
    let spring = items.iter().find(|t| t["name"] == "spring_sale").unwrap();
    assert_eq!(spring["status"], "PENDING");
    assert_eq!(spring["category"], "MARKETING");
    assert_eq!(spring["components"][0]["type"], "BODY");
    let (_, shown) = proactive.app.call("GET", &list, None).await;
    assert_eq!(shown["items"], refreshed["items"]);
    assert!(shown["refreshed_at"].is_string());

    let (status, _) = proactive
        .app
        .call(
            "GET",
            &list.replace("/workspaces/acme/", "/workspaces/rival/"),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another workspace's integration"
    );
    let messenger = proactive
        .app
        .connected(
            "acme",
            "messenger",
            json!({"page_id": "page-templates", "page_access_token": "EAAB"}),
        )
        .await;
    let (status, problem) = proactive
        .app
        .call(
            "GET",
            &format!("/v1/workspaces/acme/integrations/{messenger}/templates"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/channel-has-no-templates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_reply_outside_the_window_reaches_the_platform_and_unknown_ones_are_refused() {
    let kafka = TestKafka::new();
    let proactive = start(&kafka).await;
    let live = projector(&proactive.app);
    let (stop, engine) = crate::outbound::run_engine(&proactive.app, Duration::from_secs(5));
    proactive.inbound(WA_ID, "wamid.old", 25 * 3600).await;
    let conversation = conversation_of(&proactive.app, WA_ID).await;
    let uri = format!("/v1/workspaces/acme/conversations/{conversation}/messages");

    let late = proactive
        .post(
            &uri,
            json!({"text": "Still there?"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(late["type"], "/problems/outside-reply-window");

    let queued = proactive
        .post(
            &uri,
            json!({"template": order_update("en_US")}),
            StatusCode::ACCEPTED,
        )
        .await;
    assert_eq!(queued["status"], "queued");
    let sends = until_sent(&proactive.fake, 1).await;
    assert_eq!(sends[0].0, format!("/{}/messages", super::PHONE_NUMBER_ID));
    assert_eq!(
        sends[0].1,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": WA_ID,
            "type": "template",
            "template": order_update("en_US"),
        })
    );

    let unknown = proactive
        .post(
            &uri,
            json!({"template": {"name": "no_such_template", "language": {"code": "en_US"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(unknown["type"], "/problems/template-unknown");
    assert!(
        unknown["detail"]
            .as_str()
            .unwrap()
            .contains("no_such_template"),
        "{unknown}"
    );
    let other_language = proactive
        .post(
            &uri,
            json!({"template": order_update("de_DE")}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(other_language["type"], "/problems/template-unknown");
    let pending = proactive
        .post(
            &uri,
            json!({"template": {"name": "spring_sale", "language": {"code": "en_US"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(pending["type"], "/problems/template-not-approved");
    assert!(pending["detail"].as_str().unwrap().contains("spring_sale"));
    let listings = proactive.fake.lock().unwrap().listings.len();
    assert_eq!(
        listings, 3,
        "the misses within a minute asked the platform once"
    );
    let mixed = proactive
        .post(
            &uri,
            json!({"template": order_update("en_US"), "text": "and this"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(mixed["errors"][0]["field"], "template");

    stop.send(true).unwrap();
    engine.await.unwrap();
    assert_eq!(super::fake_cloud_api::sends(&proactive.fake).len(), 1);
    live.abort();
}
