//! A fake WhatsApp Cloud API on a local port: `GET /{waba-id}/message_templates` answering the
//! business account's templates two pages at a time as Graph pages them (`data`, `paging` with
//! `cursors.after` and `next` while there is more), and `POST /{phone-number-id}/messages`
//! answering the documented `{"messaging_product", "contacts", "messages": [{"id"}]}`; each
//! call recorded. Everything else (connecting's account calls) goes to the shared fake.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The templates the fake's business account holds, in the platform's list order.
pub fn templates() -> Vec<Value> {
    let body = |text: &str| json!([{"type": "BODY", "text": text}]);
    vec![
        json!({"name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "components": body("Hello {{1}}, your order {{2}} shipped."), "id": "1001"}),
        json!({"name": "order_update", "language": "pt_BR", "status": "APPROVED", "category": "UTILITY", "components": body("Olá {{1}}, seu pedido {{2}} foi enviado."), "id": "1002"}),
        json!({"name": "spring_sale", "language": "en_US", "status": "PENDING", "category": "MARKETING", "components": body("Spring sale!"), "id": "1003"}),
        json!({"name": "hello_world", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "components": body("Hello World"), "id": "1004"}),
        json!({"name": "account_alert", "language": "en_US", "status": "REJECTED", "category": "UTILITY", "components": body("Alert"), "id": "1005"}),
    ]
}

/// Templates per page.
const PAGE: usize = 2;

/// What the fake saw: each template list call's query, each send's path and body.
#[derive(Default)]
pub struct Seen {
    pub listings: Vec<HashMap<String, String>>,
    pub sends: Vec<(String, Value)>,
}

/// The fake's shared record.
pub type Fake = Arc<Mutex<Seen>>;

/// Starts the fake; returns its record and base URL.
pub async fn start() -> (Fake, String) {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route(
            "/{waba}/message_templates",
            axum::routing::get(list_templates),
        )
        .route("/{phone}/messages", axum::routing::post(send))
        .with_state(fake.clone())
        .merge(crate::fake_accounts::router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, base)
}

async fn list_templates(
    State(fake): State<Fake>,
    Path(_waba): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    fake.lock().unwrap().listings.push(query.clone());
    let start: usize = query
        .get("after")
        .and_then(|cursor| cursor.strip_prefix("cursor-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let all = templates();
    let end = (start + PAGE).min(all.len());
    let mut paging =
        json!({"cursors": {"before": format!("cursor-{start}"), "after": format!("cursor-{end}")}});
    if end < all.len() {
        paging["next"] = json!(format!(
            "https://graph.facebook.com/v21.0/waba/message_templates?after=cursor-{end}"
        ));
    }
    Json(json!({"data": all[start..end], "paging": paging}))
}

async fn send(
    State(fake): State<Fake>,
    Path(phone): Path<String>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    let mut seen = fake.lock().unwrap();
    seen.sends.push((format!("/{phone}/messages"), body));
    let id = format!("wamid.{to}.{}", seen.sends.len());
    Json(
        json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": id}]}),
    )
}

/// The sends the fake answered so far.
pub fn sends(fake: &Fake) -> Vec<(String, Value)> {
    fake.lock().unwrap().sends.clone()
}

/// Waits until the fake answered `count` sends.
pub async fn until_sent(fake: &Fake, count: usize) -> Vec<(String, Value)> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let sends = sends(fake);
        if sends.len() >= count {
            return sends;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fake Cloud API got {} of {count} sends",
            sends.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
