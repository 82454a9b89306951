-- Account claims are proven claims only (adapters/src/store/integrations/accounts.rs): a
-- connected integration whose connect verified the account with the platform
-- (`account_verified`) and whose account field still names that account. Claims written under
-- the earlier rule (any created or connected integration's typed id) are dropped here; the
-- integrations that held them claim their account again when a connect proves it.
DELETE FROM integration_accounts a
 USING integration_states s
 WHERE s.aggregate_id = a.integration_id
   AND NOT (s.status = 'connected'
            AND COALESCE((s.state ->> 'account_verified')::boolean, false)
            AND btrim(COALESCE(s.state -> 'account' ->> 'external_id', '')) = a.account_id);

-- Claims of integrations without a state row cannot be proven here.
DELETE FROM integration_accounts a
 WHERE NOT EXISTS (SELECT 1 FROM integration_states s WHERE s.aggregate_id = a.integration_id);
