"""`python -m fakegram`: run the local Telegram until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from aiohttp import web

from fakegram.server import Server
from fakegram.spec import ApiSpec, api_json_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fakegram", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--api-json",
        default=None,
        help="the Bot API description (default: $FAKEGRAM_API_JSON or "
        "../shared/telegram-bot-api/api.json next to the repository, else the bundled copy)",
    )
    parser.add_argument(
        "--rate-limits", action="store_true", help="enforce Telegram's flood limits from the start"
    )
    parser.add_argument("--log-level", default=os.environ.get("FAKEGRAM_LOG_LEVEL", "WARNING"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="fakegram %(levelname)s %(message)s"
    )
    path = api_json_path(args.api_json)
    if not path.is_file():
        parser.error(f"no Bot API description at {path}; pass --api-json or FAKEGRAM_API_JSON")
    spec = ApiSpec.load(path)
    asyncio.run(serve(spec, args.host, args.port, rate_limits=args.rate_limits))


async def serve(spec: ApiSpec, host: str, port: int, *, rate_limits: bool) -> None:
    server = Server(spec, rate_limits=rate_limits)
    # Long polls still open at shutdown are abandoned after a moment rather than awaited.
    runner = web.AppRunner(server.app(), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(json.dumps({"ready": True, "port": bound}), flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    main()
