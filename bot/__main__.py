"""`python -m bot`: run 随手报 against Telegram (or the Bot API server TELEGRAM_API_URL names)."""

from __future__ import annotations

import logging
import sys

from bot.errors import ConfigError
from bot.settings import Settings


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL, and the URL holds the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
        if settings.bot_token is None:
            print(
                "BOT_TOKEN is not set: put your bot's token from @BotFather in .env "
                "(see .env.example), or run `make demo` to try 随手报 against a local Telegram.",
                file=sys.stderr,
            )
            return 2
        from bot.app import assemble

        bot = assemble(settings)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    bot.run_polling()
    return 0


if __name__ == "__main__":
    sys.exit(main())
