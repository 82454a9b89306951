//! The actions half of the channel contract: named operations a bot flow calls on an
//! integration (append a row, send an e-mail), declared in the channel's folder next to its
//! auth fields. Each declares its name, a description, and its input and output as JSON
//! Schema derived from Rust types; the API lists them (`GET /v1/channels`), validates inputs
//! against them, and the outbound engine runs them with the machinery of sends (retry
//! classes, rate limits, auth refresh, dead letters).
//!
//! An action, like a sender, owns the platform's wire format and nothing else: it never
//! retries, sleeps or touches Kafka, and says what kind of failure it saw ([`SendError`]).
//! Inputs are checked in two steps: the schema ([`action_schema::problems`], one problem per
//! field), then the action's own rules ([`TypedAction::validate`]: addresses that parse, A1
//! ranges, sizes).
//!
//! Adding an action: a type implementing [`TypedAction`] in the channel's folder, listed in
//! that folder's `actions()`.

use crate::channels::action_schema::{problems, schema_of};
use crate::channels::sender::{SendError, SendTarget};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use switchboard_domain::action::{ActionId, ActionName};
use switchboard_domain::FieldProblem;

/// What the rest of the system knows about one action.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSpec {
    /// Its name within the channel.
    pub name: ActionName,
    /// One line for flow builders.
    pub description: &'static str,
    /// JSON Schema of its input.
    pub input_schema: Value,
    /// JSON Schema of its output (`ActionCompleted.output`).
    pub output_schema: Value,
}

/// One action as the registry, the API and the engine see it.
#[async_trait]
pub trait ChannelAction: Send + Sync {
    /// Its declaration.
    fn spec(&self) -> &ActionSpec;

    /// Every problem of `input`, by field; empty when the action can be asked to run it.
    fn check(&self, input: &Value) -> Vec<FieldProblem>;

    /// Runs it once on `target` (the engine retries); answers its output. `action_id` is the
    /// same on every attempt, for what the platform can de-duplicate on (a `Message-ID`).
    async fn run(
        &self,
        target: &SendTarget,
        action_id: ActionId,
        input: &Value,
    ) -> Result<Value, SendError>;
}

/// An action written against typed input and output, from which its schemas derive.
#[async_trait]
pub trait TypedAction: Send + Sync + 'static {
    /// What the caller gives.
    type Input: DeserializeOwned + utoipa::ToSchema + Send + Sync;
    /// What it answers.
    type Output: Serialize + utoipa::ToSchema;
    /// Its name within the channel.
    const NAME: &'static str;
    /// One line for flow builders.
    const DESCRIPTION: &'static str;

    /// Rules the schema cannot say (an address that parses, a range that is A1 notation).
    fn validate(&self, _input: &Self::Input) -> Vec<FieldProblem> {
        Vec::new()
    }

    /// Performs it once.
    async fn execute(
        &self,
        target: &SendTarget,
        action_id: ActionId,
        input: Self::Input,
    ) -> Result<Self::Output, SendError>;
}

/// A [`TypedAction`] as a [`ChannelAction`].
struct Typed<A: TypedAction> {
    action: A,
    spec: ActionSpec,
}

/// Registers `action`: its schemas are derived here, once.
pub fn typed<A: TypedAction>(action: A) -> Arc<dyn ChannelAction> {
    let spec = ActionSpec {
        name: ActionName::parse(A::NAME).expect("valid action name"),
        description: A::DESCRIPTION,
        input_schema: schema_of::<A::Input>(),
        output_schema: schema_of::<A::Output>(),
    };
    Arc::new(Typed { action, spec })
}

impl<A: TypedAction> Typed<A> {
    fn parse(&self, input: &Value) -> Result<A::Input, Vec<FieldProblem>> {
        let found = problems(&self.spec.input_schema, input);
        if !found.is_empty() {
            return Err(found);
        }
        // The schema passed, so this fails only where the schema says less than the type.
        let parsed: A::Input = serde_json::from_value(input.clone()).map_err(|_| {
            vec![FieldProblem {
                field: "input".into(),
                problem: "does not have the shape of this action's input".into(),
            }]
        })?;
        let found = self.action.validate(&parsed);
        if found.is_empty() {
            Ok(parsed)
        } else {
            Err(found)
        }
    }
}

#[async_trait]
impl<A: TypedAction> ChannelAction for Typed<A> {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    fn check(&self, input: &Value) -> Vec<FieldProblem> {
        self.parse(input).err().unwrap_or_default()
    }

    async fn run(
        &self,
        target: &SendTarget,
        action_id: ActionId,
        input: &Value,
    ) -> Result<Value, SendError> {
        let parsed = self.parse(input).map_err(|found| {
            let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
            SendError::Invalid(format!("invalid input: {}", fields.join(", ")))
        })?;
        let output = self.action.execute(target, action_id, parsed).await?;
        serde_json::to_value(output)
            .map_err(|e| SendError::Permanent(format!("the output cannot be written: {e}")))
    }
}

/// A field problem, for [`TypedAction::validate`].
pub fn field_problem(field: impl Into<String>, problem: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        problem: problem.into(),
    }
}
