"""`python -m cairn.api_service`: run the S3 endpoint under uvicorn (uvloop; httptools unless
`http = "h11"`), with the protocol and limits of server.uvicorn_options."""

from __future__ import annotations

import argparse
import os

import uvicorn

from cairn import logs, metrics

from .server import CONFIG_FILE_ENV, load_config, uvicorn_options


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cairn.api_service", description="Cairn S3 API service")
    parser.add_argument("--config", help="TOML config file")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--metadata", help='metadata replicas "host:port,host:port,..."')
    parser.add_argument("--placement", help='placement replicas "host:port,host:port,..."')
    parser.add_argument("--workers", type=int)
    parser.add_argument("--region")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--master-keyring", help="the cluster master keyring file (server-side encryption)")
    logs.add_arguments(parser)
    args = parser.parse_args(argv)
    overrides = {
        "host": args.host,
        "port": args.port,
        "metadata": args.metadata,
        "placement": args.placement,
        "workers": args.workers,
        "region": args.region,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
        "master_keyring": args.master_keyring,
    }
    config = load_config(args.config, overrides)
    # Worker processes rebuild the app from the environment: hand them the resolved flags.
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"CAIRN_API_{name.upper()}"] = str(value)
    if args.config:
        os.environ[CONFIG_FILE_ENV] = args.config
    if config.workers > 1:
        metrics.use_multiprocess_dir()  # /cairn/metrics sums every worker's counters
    uvicorn.run(
        "cairn.api_service.server:create_app",
        factory=True,
        workers=config.workers,
        loop="uvloop",
        log_config=logs.dict_config(args.log_format, "api", level=args.log_level),  # workers too
        **uvicorn_options(config),
    )


if __name__ == "__main__":
    main()
