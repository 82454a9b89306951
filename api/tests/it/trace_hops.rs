//! One trace across every hop of a reply: the HTTP request, its command on
//! `messages.outbound`, the adapter's handling of that record, the platform call, the status
//! event on `messages.status` and the inbox projection of that status, read back from the
//! spans the service recorded.

use crate::helpers::TEST_PLATFORM_CREDENTIALS;
use crate::helpers::{json_request, outbound_engine, read_topic, TestApp, TestKafka};
use crate::outbound::fake_graph::{calls, fake_graph};
use crate::send::{conversation, eventually, projector};
use crate::spans::{of_trace, Span};
use axum::http::StatusCode;
use serde_json::json;
use std::time::Duration;
use switchboard_domain::SecretString;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

/// The `traceparent` of the first record on `topic`.
async fn first_traceparent(kafka: &TestKafka, topic: &str) -> String {
    let records = read_topic(&kafka.brokers(), topic, 1, Duration::from_secs(10)).await;
    records[0].header("traceparent").expect("a traceparent")
}

/// The one span of `spans` named `name`.
fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one {name} span in {spans:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_is_one_trace_from_the_request_to_the_platform_and_back_into_the_inbox() {
    let kafka = TestKafka::new();
    let (fake, base) = fake_graph().await;
    let credentials = format!("{TEST_PLATFORM_CREDENTIALS};messenger.api_base={base}");
    let app = TestApp::new_with(&kafka, |c| {
        c.platform_credentials = Some(SecretString::new(credentials));
    })
    .await;
    let inbox = projector(&app);
    let (_, conversation) = conversation(&app, "tracy", 60_000).await;
    let adapters = outbound_engine(&app);

    let messages = format!("/v1/workspaces/acme/conversations/{conversation}/messages");
    let mut request = json_request("POST", &messages, Some(json!({"text": "Traced reply"})));
    request.headers_mut().insert(
        "traceparent",
        format!("00-{TRACE}-{CALLER_SPAN}-01").parse().unwrap(),
    );
    let (status, _, accepted) = app.send(request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let reply = accepted["message_id"].as_str().unwrap().to_owned();
    eventually(&app, &messages, |page| {
        page["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|m| m["id"] == reply && m["status"] == "sent")
        })
    })
    .await;
    assert_eq!(calls(&fake).len(), 1, "the platform was called once");

    // The status's projection ends its span after it committed: wait for it to be recorded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let spans = loop {
        let spans = of_trace(TRACE);
        let sent = spans.iter().find(|s| s.name == "outbound.send");
        let projected = sent.is_some_and(|sent| {
            spans
                .iter()
                .any(|s| s.name == "projection.batch" && s.parent == sent.id)
        });
        if projected || tokio::time::Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let request = named(&spans, "http.request");
    assert_eq!(
        request.parent.to_string(),
        CALLER_SPAN,
        "the request continues its caller's trace"
    );
    let send = named(&spans, "outbound.send");
    assert_eq!(
        send.parent, request.id,
        "the adapter continues the request's trace from the command's headers"
    );
    let call = named(&spans, "platform.call");
    assert_eq!(
        call.parent, send.id,
        "the platform call is part of the send"
    );
    assert!(
        spans
            .iter()
            .any(|s| s.name == "projection.batch" && s.parent == send.id),
        "the inbox projects the status within the send's trace: {spans:#?}"
    );
    let outbound = &app.config.topics().outbound;
    assert_eq!(
        first_traceparent(&kafka, outbound).await,
        format!("00-{TRACE}-{}-01", request.id),
        "the command carries the request's span"
    );
    assert_eq!(
        first_traceparent(&kafka, &app.config.topics().status).await,
        format!("00-{TRACE}-{}-01", send.id),
        "the status carries the send's span"
    );
    inbox.abort();
    adapters.abort();
}
