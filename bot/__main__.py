"""`python -m bot`: run 随手报 against Telegram (or the Bot API server TELEGRAM_API_URL names).

It polls for updates, or, when WEBHOOK_URL is set, serves the webhook (bot/web.py) instead.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from dotenv import load_dotenv

from bot.errors import ConfigError
from bot.logs import configure_logging
from bot.settings import Settings

log = logging.getLogger("bot")


def main() -> int:
    # `.env` also feeds what libraries read from the environment themselves (HTTPS_PROXY and
    # the other proxy variables); the process environment still wins.
    load_dotenv(Path(".env"), override=False)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    if settings.bot_token is None:
        print(
            "BOT_TOKEN is not set: put your bot's token from @BotFather in .env "
            "(see .env.example), or run `make demo` to try 随手报 against a local Telegram.",
            file=sys.stderr,
        )
        return 2
    # Every line is redacted of token-shaped strings; the token and the secret by name too.
    configure_logging(settings.log_format, secrets=[settings.bot_token, settings.webhook_secret])
    try:
        from bot.app import assemble

        bot = assemble(settings)
        if settings.webhook_url is not None:
            from bot.web import serve_webhook

            asyncio.run(serve_webhook(bot, settings))
            return 0
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    log.info("polling Telegram for updates")
    bot.run_polling()
    return 0


if __name__ == "__main__":
    sys.exit(main())
