-- A delayed send is idempotent like any send: a retried PUT with the same txnId from the same
-- device returns the first delay_id instead of scheduling the event twice.
ALTER TABLE delayed_events ADD COLUMN txn_id TEXT;
CREATE UNIQUE INDEX delayed_events_txn ON delayed_events (user_id, device_id, txn_id) WHERE txn_id IS NOT NULL;
