"""The few named errors of the core; the edges turn them into sentences."""


class ConfigError(Exception):
    """A setting or a configuration file is wrong; the message is one plain sentence naming it."""
