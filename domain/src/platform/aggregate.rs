//! The aggregate's state and its two halves: `handle` (decide) and `apply` (evolve).

use crate::auth::{AuthInput, AuthSpec, FieldProblem, StoredAuth};
use crate::channel::ChannelKind;
use crate::integration::IntegrationServices;
use crate::platform::commands::{PlatformCommand, VerificationOutcome};
use crate::platform::error::PlatformError;
use crate::platform::events::{PlatformEvent, VerificationCheck};
use crate::platform::seal_owner;
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

/// Where a channel's platform credentials are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformStatus {
    /// None stored (never, or deleted).
    #[default]
    Absent,
    /// Stored, not checked since they last changed.
    Unverified,
    /// Checked and good: integrations of the channel may be created and connected.
    Verified,
    /// The platform refused them.
    Refused,
}

/// A channel's platform credentials, folded from their events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlatformApp {
    /// Where they are.
    pub status: PlatformStatus,
    /// The channel (set by the first put).
    pub channel: Option<ChannelKind>,
    /// The fields, secrets sealed.
    pub fields: StoredAuth,
    /// How the last verification found them good.
    pub check: Option<VerificationCheck>,
    /// When they were last found good.
    pub verified_at: Option<DateTime<Utc>>,
    /// The platform's words when it last refused them.
    pub refusal: Option<String>,
    /// When they last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// How many events there are.
    pub version: u64,
}

impl Aggregate for PlatformApp {
    const TYPE: &'static str = "Platform";
    type Command = PlatformCommand;
    type Event = PlatformEvent;
    type Error = PlatformError;
    type Services = IntegrationServices;

    async fn handle(
        &mut self,
        command: PlatformCommand,
        services: &IntegrationServices,
        sink: &EventSink<Self>,
    ) -> Result<(), PlatformError> {
        if let Some(event) = self.decide(command, services)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: PlatformEvent) {
        self.version += 1;
        match event {
            PlatformEvent::PlatformCredentialsPut {
                channel,
                fields,
                at,
            } => {
                self.status = PlatformStatus::Unverified;
                self.channel = Some(channel);
                self.fields = fields;
                self.check = None;
                self.refusal = None;
                self.updated_at = Some(at);
            }
            PlatformEvent::PlatformCredentialsVerified { check, at, .. } => {
                self.status = PlatformStatus::Verified;
                self.check = Some(check);
                self.verified_at = Some(at);
                self.refusal = None;
                self.updated_at = Some(at);
            }
            PlatformEvent::PlatformCredentialsRefused { reason, at, .. } => {
                self.status = PlatformStatus::Refused;
                self.check = None;
                self.refusal = Some(reason);
                self.updated_at = Some(at);
            }
            PlatformEvent::PlatformCredentialsDeleted { at, .. } => {
                self.status = PlatformStatus::Absent;
                self.fields = StoredAuth::default();
                self.check = None;
                self.verified_at = None;
                self.refusal = None;
                self.updated_at = Some(at);
            }
        }
    }
}

impl PlatformApp {
    /// Decides which event (if any) a command produces, without changing state.
    pub(crate) fn decide(
        &self,
        command: PlatformCommand,
        services: &IntegrationServices,
    ) -> Result<Option<PlatformEvent>, PlatformError> {
        let at = services.clock.now();
        match command {
            PlatformCommand::Put { channel, fields } => {
                if self.channel.as_ref().is_some_and(|c| c != &channel) {
                    return Err(PlatformError::WrongChannel);
                }
                let spec = platform_fields(services, &channel)?;
                check_complete(spec, &fields)?;
                if self.status != PlatformStatus::Absent && self.holds(&fields, services) {
                    return Ok(None);
                }
                let owner = seal_owner(&channel);
                let fields = spec.seal(&fields, services.sealer.as_ref(), &owner)?;
                Ok(Some(PlatformEvent::PlatformCredentialsPut {
                    channel,
                    fields,
                    at,
                }))
            }
            PlatformCommand::RecordVerification {
                checked_version,
                outcome,
            } => {
                let channel = self.present()?;
                if checked_version != self.version {
                    return Err(PlatformError::Stale);
                }
                Ok(Some(match outcome {
                    VerificationOutcome::Verified(check) => {
                        PlatformEvent::PlatformCredentialsVerified { channel, check, at }
                    }
                    VerificationOutcome::Refused(reason) => {
                        PlatformEvent::PlatformCredentialsRefused {
                            channel,
                            reason,
                            at,
                        }
                    }
                }))
            }
            PlatformCommand::Delete => Ok(Some(PlatformEvent::PlatformCredentialsDeleted {
                channel: self.present()?,
                at,
            })),
        }
    }

    /// The channel, when credentials are stored.
    fn present(&self) -> Result<ChannelKind, PlatformError> {
        match (&self.status, &self.channel) {
            (PlatformStatus::Absent, _) | (_, None) => Err(PlatformError::NotFound),
            (_, Some(channel)) => Ok(channel.clone()),
        }
    }

    /// Whether the stored fields are exactly `fields` (secrets compared opened, in memory).
    fn holds(&self, fields: &AuthInput, services: &IntegrationServices) -> bool {
        let Some(channel) = &self.channel else {
            return false;
        };
        let owner = seal_owner(channel);
        fields.0.len() == self.fields.0.len()
            && fields.0.iter().all(|(name, value)| {
                let Some(Ok(stored)) = self.fields.open(name, services.sealer.as_ref(), &owner)
                else {
                    return false;
                };
                match value {
                    serde_json::Value::String(text) => stored.expose() == text,
                    other => serde_json::to_string(other).is_ok_and(|text| text == stored.expose()),
                }
            })
    }
}

/// The channel's declared platform fields.
fn platform_fields<'s>(
    services: &'s IntegrationServices,
    channel: &ChannelKind,
) -> Result<&'s AuthSpec, PlatformError> {
    if services.channels.spec(channel).is_none() {
        return Err(PlatformError::UnknownChannel(channel.clone()));
    }
    services
        .channels
        .platform_fields(channel)
        .ok_or_else(|| PlatformError::NoPlatformApp(channel.clone()))
}

/// Valid, and complete: a put is the whole set.
fn check_complete(spec: &AuthSpec, fields: &AuthInput) -> Result<(), PlatformError> {
    let mut problems = spec.validate(fields).err().unwrap_or_default();
    problems.extend(
        spec.fields
            .iter()
            .filter(|f| f.required && !fields.0.contains_key(f.name))
            .map(|f| FieldProblem {
                field: f.name.to_owned(),
                problem: "required".to_owned(),
            }),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PlatformError::InvalidFields(problems))
    }
}
