"""The Razorpay sandbox as a process of its own: `python -m bench.sandbox_server --port N`.

The same app and state as `SandboxServer`, served with uvloop and httptools instead of a daemon
thread in the caller's interpreter. No webhook URL: the benchmark measures the checkout mutation,
and Razorpay's webhooks would be extra load the mutation does not depend on.
"""

from __future__ import annotations

import argparse

import uvicorn

from kapda_gql.config import SANDBOX_KEY_ID, SANDBOX_KEY_SECRET, SANDBOX_WEBHOOK_SECRET
from kapda_gql.devtools.sandbox.app import build_sandbox_app
from kapda_gql.devtools.sandbox.state import SandboxState


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    state = SandboxState(
        key_id=SANDBOX_KEY_ID, key_secret=SANDBOX_KEY_SECRET, webhook_secret=SANDBOX_WEBHOOK_SECRET
    )
    uvicorn.run(
        build_sandbox_app(state),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
