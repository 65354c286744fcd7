"""Serve models over HTTP with Ray Serve: enhance, segment and build models from maps.

The YAML config names the models (name: checkpoint directory or MLflow registered model),
the address (127.0.0.1 unless host is set), limits, batching and resources (see
cryoray/serve/config.py and cluster/serve_config.yaml). Each ingress replica keeps within
limits.memory_budget_mb, taking limits.max_requests_in_flight map requests at a time (more get
503 with Retry-After; one running past limits.request_timeout_s gets 504). Runs until Ctrl-C (or
SIGTERM), then shuts Serve down. Endpoints: GET /health, GET /models, POST /enhance?model=NAME
(MRC in, MRC out), POST /segment?model=NAME (MRC in, ZIP of probability maps out),
POST /build?model=NAME (JSON {"map": base64, "sequence": FASTA} in, mmCIF out).

Example usage:
  $ cryoray serve serve.yaml
  $ cryoray serve serve.yaml --set port=8080 --set deployments.model_replicas=2
  $ curl --data-binary @emd_3488.map 'http://127.0.0.1:8000/enhance?model=cryoten' -o enhanced.mrc
  $ serve run cluster/serve_config.yaml
"""

from __future__ import annotations

import argparse
import signal
import time

from cryoray.cli.options import add_run_args
from cryoray.cli.output import emit
from cryoray.config import load_config_with_sets


def add_args(parser: argparse.ArgumentParser) -> None:
    add_run_args(parser, what="serve", example_set="port=8080")


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(args: argparse.Namespace) -> None:
    from cryoray.serve.config import ServeConfig, check_models

    config = load_config_with_sets(ServeConfig, args.config, args.sets)
    check_models(config)  # before Ray starts: a bad registry fails fast
    # Imported here: Ray Serve and FastAPI load only when this command runs.
    from ray import serve

    from cryoray.runtime import ensure_ray
    from cryoray.serve.app import serve_application

    ensure_ray(args.address, args.num_cpus)
    serve_application(config)
    limits = config.limits
    emit(
        args,
        {
            "url": f"http://{config.host}:{config.port}",
            "models": sorted(config.models),
            "memory_budget_mb": limits.memory_budget_mb,  # per ingress replica
            "max_requests_in_flight": limits.max_requests_in_flight,
        },
    )
    signal.signal(signal.SIGTERM, _stop)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
