-- Which live integration records each platform account, for the platform apps that deliver every
-- integration's items to one callback URL (`/webhooks/{channel}`): one row per integration that
-- accepts webhooks (created or connected) and records its channel's account field (the channel's
-- `ChannelSpec::app_account`: Messenger's `page_id`, WhatsApp's `phone_number_id`, Zalo's `oa_id`,
-- TikTok's `business_id`), with the id it records there.
--
-- The rows are written in the transaction that writes the integration's state row
-- (adapters/src/store/integrations/accounts.rs), so a delivery right after a Connect committed
-- is routed. The primary key makes an account belong to at most one live integration of a
-- channel: a command that would record an account another live one holds is refused.
CREATE TABLE IF NOT EXISTS integration_accounts
(
    channel        text NOT NULL,
    account_field  text NOT NULL,
    account_id     text NOT NULL,
    integration_id text NOT NULL,
    PRIMARY KEY (channel, account_field, account_id)
);

-- Replacing one integration's rows after each of its commands.
CREATE INDEX IF NOT EXISTS integration_accounts_by_integration
    ON integration_accounts (integration_id);

-- The live integrations that have a state row (migration 0004) already. Auth fields are stored
-- as `{"field": {"plain": value}}` (secrets as `{"sealed": …}`, never account ids). Where two
-- live integrations record one account, the older keeps it. Integrations without a state row
-- get theirs when the row is written (their next command, or the first read that folds them).
INSERT INTO integration_accounts (channel, account_field, account_id, integration_id)
SELECT s.channel, f.field, btrim(s.state -> 'auth' -> f.field ->> 'plain'), s.aggregate_id
  FROM integration_states s
  JOIN (VALUES ('messenger', 'page_id'), ('whatsapp', 'phone_number_id'),
               ('zalo', 'oa_id'), ('tiktok', 'business_id')) AS f (channel, field)
    ON f.channel = s.channel
 WHERE s.status IN ('created', 'connected')
   AND btrim(COALESCE(s.state -> 'auth' -> f.field ->> 'plain', '')) <> ''
 ORDER BY s.created_at, s.aggregate_id
ON CONFLICT DO NOTHING;
