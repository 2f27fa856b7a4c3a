"""What reaches people beyond the incident's own feed: the outbox (alerts and deliveries written
with their event), the senders (webhooks signed with HMAC-SHA256, email over SMTP), subscriptions,
witnesses' status and the control room's public updates."""
