//! Events serialised by the domain types validate against their messages.

use super::*;

// ---------------------------------------------------------------------------------------------
// Events serialised by the code
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn inbound_events_of_every_kind_and_content_validate_against_their_message() {
    let kafka = TestKafka::new();
    let publisher = publisher(&kafka);
    let doc = Doc::load();
    for event in inbound_events() {
        let record = publisher.record(&event, Some(TRACEPARENT.into()));
        let errors = doc.check_record(
            RECEIVED,
            Some(&record.key),
            &headers_of(&record),
            &record.body,
        );
        assert_valid(&String::from_utf8_lossy(&record.body), errors);
        let without_trace = publisher.record(&event, None);
        let errors = doc.check_record(
            RECEIVED,
            Some(&without_trace.key),
            &headers_of(&without_trace),
            &without_trace.body,
        );
        assert_valid("an event without traceparent", errors);
    }
}

#[test]
fn integration_events_of_every_kind_validate_against_their_message() {
    let doc = Doc::load();
    for event in lifecycle_events() {
        let message = doc
            .message(LIFECYCLE, &lifecycle_ce_type(&event))
            .expect("documented");
        let body = serde_json::to_value(&event).unwrap();
        assert_valid(&body.to_string(), doc.validate(&message["payload"], &body));
    }
}

#[test]
fn platform_credentials_events_of_every_kind_validate_against_their_message() {
    let doc = Doc::load();
    for event in platform_events() {
        let message = doc
            .message(LIFECYCLE, &platform_ce_type(&event))
            .expect("documented");
        let body = serde_json::to_value(&event).unwrap();
        assert_valid(&body.to_string(), doc.validate(&message["payload"], &body));
    }
}

#[test]
fn status_events_of_every_outcome_validate_against_their_message() {
    let doc = Doc::load();
    for update in delivery_updates() {
        let record = status_record(&update);
        let errors = doc.check_record(
            STATUS,
            Some(&record.key),
            &headers_of(&record),
            &record.body,
        );
        assert_valid(&String::from_utf8_lossy(&record.body), errors);
    }
}

#[test]
fn send_message_commands_validate_exactly_when_the_adapters_would_attempt_them() {
    let doc = Doc::load();
    let message = doc.message(OUTBOUND, SEND_MESSAGE_TYPE).unwrap();
    let integration = IntegrationId::new();
    let attachment = OutboundAttachment {
        kind: AttachmentKind::Image,
        url: "https://cdn.example.com/p.jpg".into(),
    };
    let chip = QuickReplyOption {
        title: "Track".into(),
        payload: "TRACK".into(),
    };
    let mut keyed = command(integration, "42", OutboundContent::text("hi"));
    keyed.idempotency_key = Some("order-1042".into());
    let mut foreign_key = command(integration, "42", OutboundContent::text("hi"));
    foreign_key.conversation_key = "other:42".into();
    let mut nobody = command(integration, "42", OutboundContent::text("hi"));
    nobody.recipient = " ".into();
    nobody.conversation_key = conversation_key(integration, " ");
    let samples = vec![
        command(integration, "42", OutboundContent::text("hi")),
        keyed,
        command(
            integration,
            "42",
            OutboundContent {
                text: None,
                attachments: vec![attachment.clone()],
                quick_replies: Vec::new(),
                ..OutboundContent::default()
            },
        ),
        command(
            integration,
            "42",
            OutboundContent {
                text: Some("Your order shipped".into()),
                attachments: vec![attachment],
                quick_replies: vec![chip.clone()],
                ..OutboundContent::default()
            },
        ),
        command(
            integration,
            "42",
            OutboundContent {
                text: None,
                attachments: Vec::new(),
                quick_replies: vec![chip],
                ..OutboundContent::default()
            },
        ),
        command(
            integration,
            "42",
            OutboundContent {
                template: Some(
                    serde_json::from_value(json!({"name": "order_update", "language": {"code": "en_US"},
                        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ada"}]},
                                       {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "TRACK"}]}]}))
                    .unwrap(),
                ),
                ..OutboundContent::default()
            },
        ),
        command(
            integration,
            "42",
            OutboundContent {
                tag: Some("HUMAN_AGENT".into()),
                ..OutboundContent::text("An agent will call you")
            },
        ),
        command(integration, "42", OutboundContent::text(" \n ")),
        command(integration, "42", OutboundContent::default()),
        foreign_key,
        nobody,
    ];
    for sample in samples {
        let record = command_record(&sample, OUTBOUND, Some(TRACEPARENT.into()));
        let errors = doc.check_record(
            OUTBOUND,
            Some(&record.key),
            &headers_of(&record),
            &record.body,
        );
        assert_eq!(
            errors.is_empty(),
            sample.check().is_ok(),
            "{:?}: {errors:?}",
            sample.content
        );
    }
    let with_nulls = json!({
        "message_id": Uuid::new_v4(), "integration_id": integration, "workspace_id": "acme",
        "channel": "messenger", "conversation_key": conversation_key(integration, "42"),
        "recipient": "42", "content": {"text": null, "attachments": [{"kind": "file", "url": "https://x.example/f.pdf"}]},
        "idempotency_key": null, "requested_at": "2026-03-02T09:16:00Z"
    });
    let parsed: SendMessage = serde_json::from_value(with_nulls.clone()).unwrap();
    assert_eq!(parsed.check(), Ok(()));
    assert_valid(
        "a command with null optional fields",
        doc.validate(&message["payload"], &with_nulls),
    );
}

#[test]
fn the_checker_refuses_values_that_break_the_schema() {
    let doc = Doc::load();
    let event = &inbound_events()[0];
    let good = serde_json::to_value(event).unwrap();
    let message = doc
        .message(RECEIVED, "switchboard.message.MessageReceived.v1")
        .unwrap();
    assert_valid(
        "the unchanged event",
        doc.validate(&message["payload"], &good),
    );
    type Breakage = (&'static str, fn(&mut Value));
    let broken: Vec<Breakage> = vec![
        ("an unknown field", |v| v["surprise"] = json!(1)),
        ("a missing required field", |v| {
            v.as_object_mut().unwrap().remove("contact");
        }),
        ("an unknown content type", |v| {
            v["content"]["type"] = json!("video")
        }),
        ("content missing its text", |v| {
            v["content"].as_object_mut().unwrap().remove("text");
        }),
        ("a malformed event id", |v| {
            v["event_id"] = json!("not-a-uuid")
        }),
        ("a workspace id with a space", |v| {
            v["workspace_id"] = json!("a b")
        }),
        ("a conversation key without the integration", |v| {
            v["conversation_key"] = json!("u1")
        }),
        ("a timestamp that is not RFC 3339", |v| {
            v["platform_timestamp"] = json!("yesterday")
        }),
        ("is_echo as text", |v| v["is_echo"] = json!("false")),
        ("another event's type", |v| v["type"] = json!("MessageRead")),
        ("an unknown contact field", |v| {
            v["contact"]["email"] = json!("a@b.c")
        }),
    ];
    for (what, breaks) in broken {
        let mut value = good.clone();
        breaks(&mut value);
        assert!(
            !doc.validate(&message["payload"], &value).is_empty(),
            "{what} passed"
        );
    }

    let created = doc
        .message(LIFECYCLE, "switchboard.integration.IntegrationCreated.v1")
        .unwrap();
    let mut plaintext_secret = serde_json::to_value(&lifecycle_events()[0]).unwrap();
    plaintext_secret["auth"]["password"] = json!({"sealed": "hunter2"});
    assert!(!doc
        .validate(&created["payload"], &plaintext_secret)
        .is_empty());
    plaintext_secret["auth"]["password"] = json!({"plain": "hunter2", "sealed": "sb1:k1:AAAA"});
    assert!(!doc
        .validate(&created["payload"], &plaintext_secret)
        .is_empty());

    let record = status_record(&delivery_updates()[0]);
    let mut headers = headers_of(&record);
    headers.push(("x-undocumented".into(), "1".into()));
    assert!(!doc
        .check_record(STATUS, Some(&record.key), &headers, &record.body)
        .is_empty());
    let headers: Vec<(String, String)> = headers_of(&record)
        .into_iter()
        .filter(|(name, _)| name != "ce_time")
        .collect();
    assert!(!doc
        .check_record(STATUS, Some(&record.key), &headers, &record.body)
        .is_empty());
    assert!(!doc
        .check_record(
            STATUS,
            Some("not-a-key"),
            &headers_of(&record),
            &record.body
        )
        .is_empty());
}

#[test]
fn every_example_in_the_document_validates_and_reads_as_the_codes_type() {
    let doc = Doc::load();
    let messages = doc.0["components"]["messages"].as_object().unwrap();
    for (name, message) in messages {
        let examples = message["examples"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no example"));
        for example in examples {
            let headers = example["headers"].as_object().unwrap();
            let key = headers.get("ce_subject").and_then(Value::as_str);
            assert_valid(name, doc.check_envelope(message, key, headers));
            let payload = &example["payload"];
            assert_valid(name, doc.validate(&message["payload"], payload));
            let topic = name.split('.').next().unwrap();
            let read = match topic {
                "received" => serde_json::from_value::<InboundEvent>(payload.clone()).map(drop),
                "lifecycle" if name.starts_with("lifecycle.PlatformCredentials") => {
                    serde_json::from_value::<PlatformEvent>(payload.clone()).map(drop)
                }
                "lifecycle" => {
                    serde_json::from_value::<IntegrationEvent>(payload.clone()).map(drop)
                }
                "status" => serde_json::from_value::<DeliveryUpdate>(payload.clone()).map(drop),
                "outbound" => serde_json::from_value::<SendMessage>(payload.clone()).map(drop),
                "activity" => {
                    serde_json::from_value::<ConversationActivity>(payload.clone()).map(drop)
                }
                "actions" => serde_json::from_value::<switchboard_domain::action::ActionRequested>(
                    payload.clone(),
                )
                .map(drop),
                "results" => serde_json::from_value::<switchboard_domain::action::ActionResult>(
                    payload.clone(),
                )
                .map(drop),
                other => panic!("{name}: unknown topic group {other}"),
            };
            read.unwrap_or_else(|e| panic!("{name}: the example is not the code's type: {e}"));
        }
    }
}
