"""What the engine tells others: server messages (webhooks) about chats and sessions."""
