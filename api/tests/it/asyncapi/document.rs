//! The document itself: served, well-formed, and naming exactly the code's topics and types.

use super::*;

// ---------------------------------------------------------------------------------------------
// The document itself
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_document_is_asyncapi_3_and_is_served_at_asyncapi_json() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let request = Request::get("/asyncapi.json").body(Body::empty()).unwrap();
    let (status, content_type, served) = app.send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let doc = Doc::load();
    assert_eq!(served, doc.0, "the served document is the file");

    assert_eq!(doc.0["asyncapi"], "3.0.0");
    assert_eq!(doc.0["info"]["title"], "Switchboard");
    assert_eq!(doc.0["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc.0["defaultContentType"], "application/json");
    let server = &doc.0["servers"]["local"];
    assert_eq!(server["protocol"], "kafka");
    assert_eq!(server["host"], Config::default().kafka_brokers.as_str());
}

#[test]
fn every_reference_resolves_and_stands_alone() {
    fn walk(doc: &Doc, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref") {
                    let reference = reference.as_str().unwrap();
                    doc.pointer(reference);
                    assert_eq!(
                        map.len(),
                        1,
                        "{at}: keywords beside $ref are ignored by JSON Schema draft 7"
                    );
                }
                for (key, child) in map {
                    walk(doc, child, &format!("{at}/{key}"));
                }
            }
            Value::Array(items) => {
                for (n, child) in items.iter().enumerate() {
                    walk(doc, child, &format!("{at}/{n}"));
                }
            }
            _ => {}
        }
    }
    let doc = Doc::load();
    walk(&doc, &doc.0, "#");
}

#[test]
fn every_operation_receives_or_sends_messages_of_its_own_channel() {
    let doc = Doc::load();
    let operations = doc.0["operations"].as_object().unwrap();
    let mut received = BTreeSet::new();
    for (id, operation) in operations {
        let channel = operation["channel"]["$ref"].as_str().unwrap();
        doc.pointer(channel);
        let action = operation["action"].as_str().unwrap();
        assert!(action == "receive" || action == "send", "{id}: {action}");
        let messages = operation["messages"].as_array().unwrap();
        assert!(!messages.is_empty(), "{id} names no message");
        for message in messages {
            let reference = message["$ref"].as_str().unwrap();
            assert!(
                reference.starts_with(&format!("{channel}/messages/")),
                "{id}: {reference} is not a message of {channel}"
            );
            doc.pointer(reference);
        }
        if action == "receive" {
            received.insert(doc.pointer(channel)["address"].as_str().unwrap().to_owned());
        }
    }
    for topic in [RECEIVED, OUTBOUND, STATUS, LIFECYCLE, OUTBOUND_DLQ] {
        assert!(received.contains(topic), "no operation receives {topic}");
    }
}

#[test]
fn every_topic_the_code_creates_has_a_channel_and_no_channel_names_another() {
    let doc = Doc::load();
    let config = Config::default();
    let created: BTreeSet<String> = Topics::default()
        .specs(config.topic_partitions)
        .into_iter()
        .map(|spec| spec.name)
        .collect();
    let channels = doc.0["channels"].as_object().unwrap();
    let documented: BTreeSet<String> = channels
        .values()
        .map(|c| c["address"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(documented, created);
    for channel in channels.values() {
        let kafka = &channel["bindings"]["kafka"];
        assert_eq!(kafka["topic"], channel["address"]);
        assert_eq!(kafka["partitions"], config.topic_partitions);
        assert_eq!(kafka["replicas"], config.topic_replication_factor);
        assert_eq!(kafka["topicConfiguration"]["retention.ms"], -1);
        assert_eq!(kafka["topicConfiguration"]["retention.bytes"], -1);
    }
}

#[tokio::test]
async fn every_event_type_the_code_emits_has_exactly_one_message_on_its_topic() {
    let kafka = TestKafka::new();
    let publisher = publisher(&kafka);
    let doc = Doc::load();

    let received: BTreeSet<String> = inbound_events()
        .iter()
        .map(|event| publisher.record(event, None).event.event_type)
        .collect();
    assert_eq!(doc.ce_types(RECEIVED), received);

    let mut lifecycle: BTreeSet<String> =
        lifecycle_events().iter().map(lifecycle_ce_type).collect();
    lifecycle.extend(platform_events().iter().map(platform_ce_type));
    assert_eq!(doc.ce_types(LIFECYCLE), lifecycle);

    let status: BTreeSet<String> = delivery_updates().iter().map(status_ce_type).collect();
    assert_eq!(doc.ce_types(STATUS), status);

    let outbound: BTreeSet<String> = [SEND_MESSAGE_TYPE.to_owned()].into();
    assert_eq!(doc.ce_types(OUTBOUND), outbound);

    for topic in [RECEIVED, STATUS, LIFECYCLE] {
        for message in doc.messages(topic) {
            let ce_type = doc.ce_type(message).unwrap();
            let name = ce_type.split('.').nth(2).unwrap();
            assert_eq!(message["name"], name, "{topic}: {ce_type}");
            assert_eq!(doc.payload_type(message), Some(name), "{topic}: {ce_type}");
        }
    }
}

#[test]
fn the_enumerations_are_the_codes_own() {
    let doc = Doc::load();
    let schemas = &doc.0["components"]["schemas"];
    let reasons: Vec<Value> = every_failure_reason()
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    assert_eq!(schemas["FailureReason"]["enum"], Value::from(reasons));
    let kinds: Vec<Value> = every_attachment_kind()
        .into_iter()
        .map(|k| serde_json::to_value(k).unwrap())
        .collect();
    assert_eq!(schemas["AttachmentKind"]["enum"], Value::from(kinds));
    let tags: BTreeSet<String> = contents()
        .iter()
        .map(|c| {
            serde_json::to_value(c).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let documented: BTreeSet<String> = schemas["MessageContent"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            doc.resolve(v)["properties"]["type"]["const"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(documented, tags);
}
