//! Samples of every variant the code can put on a topic.

use super::*;

// ---------------------------------------------------------------------------------------------
// Samples of every variant. The matches have no wildcard arm: a new variant does not compile
// until it is sampled here, and then the document must describe it for the tests to pass.
// ---------------------------------------------------------------------------------------------

pub(super) fn sampled_kind(kind: &InboundKind) -> usize {
    match kind {
        InboundKind::MessageReceived { .. } => 0,
        InboundKind::MessageSent { .. } => 1,
        InboundKind::MessageDelivered { .. } => 2,
        InboundKind::MessageRead { .. } => 3,
        InboundKind::MessageFailed { .. } => 4,
    }
}

pub(super) fn sampled_content(content: &MessageContent) -> usize {
    match content {
        MessageContent::Text { .. } => 0,
        MessageContent::Media { .. } => 1,
        MessageContent::Location { .. } => 2,
        MessageContent::Postback { .. } => 3,
        MessageContent::QuickReply { .. } => 4,
        MessageContent::Sticker { .. } => 5,
        MessageContent::Unsupported { .. } => 6,
    }
}

pub(super) fn sampled_lifecycle(event: &IntegrationEvent) -> usize {
    match event {
        IntegrationEvent::IntegrationCreated { .. } => 0,
        IntegrationEvent::IntegrationConnected { .. } => 1,
        IntegrationEvent::SettingsUpdated { .. } => 2,
        IntegrationEvent::CredentialsRefreshed { .. } => 3,
        IntegrationEvent::IntegrationDisconnected { .. } => 4,
        IntegrationEvent::IntegrationDeleted { .. } => 5,
    }
}

pub(super) fn sampled_outcome(outcome: &DeliveryOutcome) -> usize {
    match outcome {
        DeliveryOutcome::Sent { .. } => 0,
        DeliveryOutcome::Failed { .. } => 1,
        DeliveryOutcome::Delivered {} => 2,
        DeliveryOutcome::Read {} => 3,
    }
}

pub(super) fn every_failure_reason() -> Vec<FailureReason> {
    let all = [
        FailureReason::RetryableExhausted,
        FailureReason::Permanent,
        FailureReason::Auth,
        FailureReason::RateLimited,
        FailureReason::Invalid,
    ];
    for reason in all {
        match reason {
            FailureReason::RetryableExhausted
            | FailureReason::Permanent
            | FailureReason::Auth
            | FailureReason::RateLimited
            | FailureReason::Invalid => {}
        }
    }
    all.to_vec()
}

pub(super) fn every_attachment_kind() -> Vec<AttachmentKind> {
    let all = [
        AttachmentKind::Image,
        AttachmentKind::Video,
        AttachmentKind::Audio,
        AttachmentKind::File,
    ];
    for kind in all {
        match kind {
            AttachmentKind::Image
            | AttachmentKind::Video
            | AttachmentKind::Audio
            | AttachmentKind::File => {}
        }
    }
    all.to_vec()
}

/// Asserts that `indices` covers `0..count`.
pub(super) fn assert_covers(what: &str, indices: impl IntoIterator<Item = usize>, count: usize) {
    let seen: BTreeSet<usize> = indices.into_iter().collect();
    assert_eq!(
        seen,
        (0..count).collect(),
        "the samples miss a variant of {what}"
    );
}

pub(super) fn contents() -> Vec<MessageContent> {
    let attachment = |kind| Attachment {
        kind,
        url: Some("https://cdn.example.com/a/1".into()),
        mime_type: Some("image/jpeg".into()),
        media_id: Some("1592347".into()),
    };
    let contents = vec![
        MessageContent::Text {
            text: "Is my order on its way?".into(),
        },
        MessageContent::Media {
            attachments: every_attachment_kind()
                .into_iter()
                .map(attachment)
                .collect(),
            caption: Some("the parcel".into()),
        },
        MessageContent::Media {
            attachments: vec![Attachment {
                kind: AttachmentKind::File,
                url: None,
                mime_type: None,
                media_id: None,
            }],
            caption: None,
        },
        MessageContent::Location {
            latitude: 21.0285,
            longitude: 105.8542,
            name: Some("Hoan Kiem".into()),
            address: Some("Hanoi".into()),
        },
        MessageContent::Location {
            latitude: -33.0,
            longitude: 151.0,
            name: None,
            address: None,
        },
        MessageContent::Postback {
            payload: "TRACK_ORDER".into(),
            title: Some("Track".into()),
        },
        MessageContent::Postback {
            payload: "START".into(),
            title: None,
        },
        MessageContent::QuickReply {
            payload: "YES".into(),
            text: Some("Yes".into()),
        },
        MessageContent::QuickReply {
            payload: "NO".into(),
            text: None,
        },
        MessageContent::Sticker {
            sticker_id: "369239263222822".into(),
            url: Some("https://cdn.example.com/s/1".into()),
        },
        MessageContent::Sticker {
            sticker_id: "42".into(),
            url: None,
        },
        MessageContent::Unsupported {
            kind: "reaction".into(),
        },
    ];
    assert_covers("MessageContent", contents.iter().map(sampled_content), 7);
    contents
}

pub(super) fn inbound_kinds() -> Vec<InboundKind> {
    let mut kinds: Vec<InboundKind> = contents()
        .into_iter()
        .enumerate()
        .map(|(n, content)| InboundKind::MessageReceived {
            platform_message_id: format!("m_{n}"),
            content,
            reply_to: (n % 2 == 0).then(|| "m_previous".into()),
            is_echo: n % 3 == 0,
        })
        .collect();
    let ids = vec!["m_1".to_owned(), "m_2".to_owned()];
    kinds.extend([
        InboundKind::MessageSent {
            platform_message_ids: ids.clone(),
        },
        InboundKind::MessageDelivered {
            platform_message_ids: ids.clone(),
            watermark: None,
        },
        InboundKind::MessageDelivered {
            platform_message_ids: Vec::new(),
            watermark: Some(at(-5)),
        },
        InboundKind::MessageRead {
            platform_message_ids: Vec::new(),
            watermark: Some(Utc.timestamp_opt(1_772_442_900, 0).unwrap()),
        },
        InboundKind::MessageRead {
            platform_message_ids: ids.clone(),
            watermark: None,
        },
        InboundKind::MessageFailed {
            platform_message_ids: ids,
            errors: vec![
                PlatformError {
                    code: "131047".into(),
                    title: Some("Re-engagement message".into()),
                },
                PlatformError {
                    code: "1".into(),
                    title: None,
                },
            ],
        },
        InboundKind::MessageFailed {
            platform_message_ids: vec!["m_3".into()],
            errors: Vec::new(),
        },
    ]);
    assert_covers("InboundKind", kinds.iter().map(sampled_kind), 5);
    kinds
}

pub(super) fn inbound_events() -> Vec<InboundEvent> {
    let integration = IntegrationId::new();
    inbound_kinds()
        .into_iter()
        .enumerate()
        .map(|(n, kind)| {
            let contact = if n % 2 == 0 {
                Contact::new(format!("125447777777291{n}"))
            } else {
                Contact {
                    platform_id: format!("u{n}"),
                    display_name: Some("Linh Tran".into()),
                    thread_id: None,
                }
            };
            let draft = InboundDraft {
                contact,
                platform_timestamp: at(n as i64),
                kind,
                raw: json!({"anything": ["the", "platform", "sent"], "n": n}),
            };
            InboundEvent::from_draft(
                integration,
                "acme".parse().unwrap(),
                ChannelKind::parse("messenger").unwrap(),
                draft,
            )
        })
        .collect()
}

pub(super) fn sealed(text: &str) -> StoredValue {
    let sealer = XChaChaSealer::from_config(&XChaChaSealer::generate_entry("k1")).unwrap();
    StoredValue::Sealed(
        sealer
            .seal(&SecretString::new(text), "owner/field")
            .unwrap(),
    )
}

pub(super) fn lifecycle_events() -> Vec<IntegrationEvent> {
    let integration_id = IntegrationId::new();
    let workspace_id: switchboard_domain::WorkspaceId = "acme".parse().unwrap();
    let auth = StoredAuth(
        [
            (
                "host".to_owned(),
                StoredValue::Plain(json!("smtp.example.com")),
            ),
            ("port".to_owned(), StoredValue::Plain(json!(587))),
            ("starttls".to_owned(), StoredValue::Plain(json!(true))),
            ("password".to_owned(), sealed("hunter2")),
        ]
        .into_iter()
        .collect(),
    );
    let events = vec![
        IntegrationEvent::IntegrationCreated {
            integration_id,
            workspace_id: workspace_id.clone(),
            channel: ChannelKind::parse("smtp").unwrap(),
            name: "Receipts".into(),
            auth: auth.clone(),
            at: at(0),
        },
        IntegrationEvent::IntegrationCreated {
            integration_id,
            workspace_id: workspace_id.clone(),
            channel: ChannelKind::parse("google-sheets").unwrap(),
            name: "Leads".into(),
            auth: StoredAuth::default(),
            at: at(0),
        },
        IntegrationEvent::IntegrationConnected {
            integration_id,
            workspace_id: workspace_id.clone(),
            auth: StoredAuth::default(),
            account: AccountInfo::default(),
            account_verified: false,
            at: at(1),
        },
        IntegrationEvent::IntegrationConnected {
            integration_id,
            workspace_id: workspace_id.clone(),
            auth: auth.clone(),
            account: AccountInfo {
                external_id: Some("1122334455".into()),
                display_name: Some("Acme Store".into()),
            },
            account_verified: true,
            at: at(1),
        },
        IntegrationEvent::SettingsUpdated {
            integration_id,
            workspace_id: workspace_id.clone(),
            name: Some("Receipts (EU)".into()),
            settings: Some(json!({"greeting": "Hello", "hours": {"from": 9, "to": 17}})),
            at: at(2),
        },
        IntegrationEvent::SettingsUpdated {
            integration_id,
            workspace_id: workspace_id.clone(),
            name: None,
            settings: None,
            at: at(2),
        },
        IntegrationEvent::CredentialsRefreshed {
            integration_id,
            workspace_id: workspace_id.clone(),
            auth,
            at: at(3),
        },
        IntegrationEvent::IntegrationDisconnected {
            integration_id,
            workspace_id: workspace_id.clone(),
            reason: "credentials refused while sending: token expired".into(),
            platform_outcome: None,
            at: at(4),
        },
        IntegrationEvent::IntegrationDisconnected {
            integration_id,
            workspace_id: workspace_id.clone(),
            reason: "operator".into(),
            platform_outcome: Some("the app was unsubscribed from page 1122334455".into()),
            at: at(4),
        },
        IntegrationEvent::IntegrationDeleted {
            integration_id,
            workspace_id: workspace_id.clone(),
            platform_outcome: None,
            at: at(5),
        },
        IntegrationEvent::IntegrationDeleted {
            integration_id,
            workspace_id,
            platform_outcome: Some("failed: the platform is unavailable: HTTP 503".into()),
            at: at(5),
        },
    ];
    assert_covers("IntegrationEvent", events.iter().map(sampled_lifecycle), 6);
    events
}

pub(super) fn lifecycle_ce_type(event: &IntegrationEvent) -> String {
    format!(
        "switchboard.{}.{}.v{}",
        Integration::TYPE.to_lowercase(),
        event.event_type(),
        event.event_version()
    )
}

pub(super) fn command(
    integration_id: IntegrationId,
    recipient: &str,
    content: OutboundContent,
) -> SendMessage {
    SendMessage {
        message_id: Uuid::new_v4(),
        integration_id,
        workspace_id: "acme".parse().unwrap(),
        channel: ChannelKind::parse("messenger").unwrap(),
        conversation_key: conversation_key(integration_id, recipient),
        recipient: recipient.into(),
        content,
        idempotency_key: None,
        requested_at: at(0),
    }
}

pub(super) fn delivery_updates() -> Vec<DeliveryUpdate> {
    let message = command(IntegrationId::new(), "42", OutboundContent::text("hi"));
    let mut outcomes = vec![DeliveryOutcome::Sent {
        platform_message_id: "m_42_0".into(),
        attempts: 3,
    }];
    outcomes.extend(
        every_failure_reason()
            .into_iter()
            .map(|reason| DeliveryOutcome::Failed {
                reason,
                detail: format!("{} happened", reason.as_str()),
                attempts: 0,
            }),
    );
    outcomes.extend([DeliveryOutcome::Delivered {}, DeliveryOutcome::Read {}]);
    assert_covers("DeliveryOutcome", outcomes.iter().map(sampled_outcome), 4);
    outcomes
        .into_iter()
        .map(|outcome| DeliveryUpdate::new(&message, outcome, at(9)))
        .collect()
}

pub(super) fn status_ce_type(update: &DeliveryUpdate) -> String {
    format!("switchboard.message.{}.v1", update.outcome.type_name())
}

/// The record a status event becomes, with the envelope the outbound worker gives it.
pub(super) fn status_record(update: &DeliveryUpdate) -> OutgoingRecord {
    OutgoingRecord {
        topic: STATUS.into(),
        key: update.conversation_key.clone(),
        event: CloudEvent {
            id: update.event_id,
            event_type: status_ce_type(update),
            source: format!("switchboard/adapters/{}", update.channel),
            subject: Some(update.conversation_key.clone()),
            time: update.at,
            sequence: None,
            actor: None,
        },
        body: serde_json::to_vec(update).unwrap(),
        traceparent: Some(TRACEPARENT.into()),
    }
}

/// Which variant a platform credentials event is, for the coverage check.
fn sampled_platform(event: &PlatformEvent) -> usize {
    match event {
        PlatformEvent::PlatformCredentialsPut { .. } => 0,
        PlatformEvent::PlatformCredentialsVerified { .. } => 1,
        PlatformEvent::PlatformCredentialsRefused { .. } => 2,
        PlatformEvent::PlatformCredentialsDeleted { .. } => 3,
    }
}

/// A channel's platform credentials' events, one of each kind and check.
pub(super) fn platform_events() -> Vec<PlatformEvent> {
    let channel = ChannelKind::parse("messenger").unwrap();
    let fields = StoredAuth(
        [
            ("app_id".to_owned(), StoredValue::Plain(json!("1234567890"))),
            ("app_secret".to_owned(), sealed("s3cret")),
        ]
        .into_iter()
        .collect(),
    );
    let events = vec![
        PlatformEvent::PlatformCredentialsPut {
            channel: channel.clone(),
            fields,
            at: at(0),
        },
        PlatformEvent::PlatformCredentialsVerified {
            channel: channel.clone(),
            check: VerificationCheck::Platform,
            at: at(1),
        },
        PlatformEvent::PlatformCredentialsVerified {
            channel: channel.clone(),
            check: VerificationCheck::FieldsOnly,
            at: at(1),
        },
        PlatformEvent::PlatformCredentialsRefused {
            channel: channel.clone(),
            reason: "Error validating client secret.".into(),
            at: at(2),
        },
        PlatformEvent::PlatformCredentialsDeleted { channel, at: at(3) },
    ];
    assert_covers("PlatformEvent", events.iter().map(sampled_platform), 4);
    events
}

pub(super) fn platform_ce_type(event: &PlatformEvent) -> String {
    format!(
        "switchboard.{}.{}.v{}",
        PlatformApp::TYPE.to_lowercase(),
        event.event_type(),
        event.event_version()
    )
}
