"""One request's boxes through the model deployment and into a stitcher, a few calls at a time.

The ingress cuts the prepared map (:class:`~cryoray.infer.TilePlan`), sends ``boxes_per_call``
boxes per call to the model deployment, where ``@serve.batch`` merges them with other
requests' boxes, and stitches the answers in plan order, so the stitcher keeps about one box
depth of sections open. At most ``calls_in_flight`` calls of one request wait at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
from ray.serve.handle import DeploymentHandle

from cryoray.infer.channels import OutputChannel, stack_channels
from cryoray.infer.stitching import Stitcher, TilePlan
from cryoray.serve.config import BatchingConfig

__all__ = ["predict_plan"]


async def predict_plan(
    handle: DeploymentHandle,
    data: np.ndarray,
    plan: TilePlan,
    channels: Sequence[OutputChannel],
    stitcher: Stitcher,
    batching: BatchingConfig,
) -> int:
    """Predict every box of ``plan`` over ``data`` with the deployment ``handle``; returns the calls made."""
    heads = tuple(sorted({c.head for c in channels}))
    pending: deque = deque()
    calls = 0
    for origins, boxes in plan.batches(data, batching.boxes_per_call):
        pending.append((origins, boxes, handle.predict_boxes.remote((boxes, heads))))
        calls += 1
        if len(pending) >= batching.calls_in_flight:
            first, sent, response = pending.popleft()
            stitcher.add(first, stack_channels({0: await response}, channels, sent))
    while pending:
        first, sent, response = pending.popleft()
        stitcher.add(first, stack_channels({0: await response}, channels, sent))
    stitcher.finish()
    return calls
