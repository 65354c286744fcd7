"""Serving models over HTTP with Ray Serve: enhance, segment and build from maps.

* :class:`ServeConfig` (``config.py``): host (127.0.0.1 by default), port, the model registry
  (name → checkpoint directory or MLflow registered model), limits, batching, resources.
* ``app.py``: the deployments (an HTTP ingress and one ``@serve.batch`` model deployment per
  model), :func:`build_app` for ``serve run`` / ``serve deploy``, :func:`serve_application`
  for ``cryoray serve``.
* ``limits.py`` / ``payloads.py``: request limits (413) and bodies (400 when malformed).

Importing the package is cheap; Ray Serve loads when ``app`` is first used.
"""

from __future__ import annotations

from cryoray.serve.config import BatchingConfig, DeploymentsConfig, LimitsConfig, ServeConfig

__all__ = ["BatchingConfig", "DeploymentsConfig", "LimitsConfig", "ServeConfig"]
