"""The Telegram shell: small callbacks that unwrap an update, call the core, present the result."""
