"""Server messages (webhooks) to the customer's backend, delivered off the request path."""
