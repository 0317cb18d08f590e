"""The browser console: static ES modules served by `chatloom serve`, a client of the public API only."""
