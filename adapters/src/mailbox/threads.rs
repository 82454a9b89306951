//! The last mail of every e-mail conversation (`mailbox_threads`), written by the mailbox
//! reader before it moves its cursor past the mail, read by the reply sender so a reply
//! carries `In-Reply-To`, `References` and `Subject: Re: …` and the customer's mail client
//! threads it.

use crate::mailbox::parse::ThreadHead;
use crate::store::StoreError;
use sqlx::PgPool;
use switchboard_domain::IntegrationId;

/// The threads, in PostgreSQL.
#[derive(Debug, Clone)]
pub struct MailboxThreads {
    pool: PgPool,
}

/// How many ids a stored `References` keeps (the root and the latest ones).
const MAX_REFERENCES: usize = 20;

impl MailboxThreads {
    /// Threads stored on `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Records `head` as the latest mail of its conversation.
    pub async fn record(
        &self,
        integration: IntegrationId,
        head: &ThreadHead,
    ) -> Result<(), StoreError> {
        let mut references = head.references.clone();
        if references.len() > MAX_REFERENCES {
            references.drain(1..references.len() - (MAX_REFERENCES - 1));
        }
        sqlx::query(
            "INSERT INTO mailbox_threads
                    (integration_id, contact_id, address, last_message_id, message_references, subject)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (integration_id, contact_id) DO UPDATE
                SET address = EXCLUDED.address, last_message_id = EXCLUDED.last_message_id,
                    message_references = EXCLUDED.message_references,
                    subject = EXCLUDED.subject, updated_at = now()",
        )
        .bind(integration.to_string())
        .bind(&head.contact_id)
        .bind(&head.address)
        .bind(&head.message_id)
        .bind(references.join(" "))
        .bind(&head.subject)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest mail of the conversation with `contact_id`, if one was read.
    pub async fn head(
        &self,
        integration: IntegrationId,
        contact_id: &str,
    ) -> Result<Option<ThreadHead>, StoreError> {
        let row: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT address, last_message_id, message_references, subject FROM mailbox_threads
              WHERE integration_id = $1 AND contact_id = $2",
        )
        .bind(integration.to_string())
        .bind(contact_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map(|(address, message_id, references, subject)| ThreadHead {
                contact_id: contact_id.to_owned(),
                address,
                message_id,
                references: references.split_whitespace().map(str::to_owned).collect(),
                subject,
            }),
        )
    }
}
