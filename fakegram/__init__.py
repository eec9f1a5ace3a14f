"""A local Telegram Bot API server for the demo and the tests; it never imports `telegram`."""
