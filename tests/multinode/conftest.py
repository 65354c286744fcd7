"""The multi-node cluster of tests/support/cluster.py for this package, and its S3 bucket.

One cluster (a head without CPUs and worker nodes ``a`` and ``b``, 3 logical CPUs each) serves every test
here; starting it costs 30-45 s on the 2-core machine. Tests drive work through ``ray job submit``
to the head (the pytest process is attached to the session's local Ray, not to this cluster).
Inputs, stores, configs, checkpoints and MLflow artefacts live in the bucket ``multinode`` on
moto S3; only MLflow's sqlite metadata file is a local path (the drivers and rank-0 workers open
it on this machine: there is no MLflow server in the test environment).
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
import s3fs

from tests.support.cluster import Cluster, multinode_cluster
from tests.support.servers import s3_env

BUCKET = "multinode"


@pytest.fixture(scope="package")
def cluster(s3_endpoint) -> Iterator[Cluster]:
    """The running cluster; stopped (only its own processes) after the package's tests."""
    with multinode_cluster(s3_env(s3_endpoint)) as running:
        yield running


@pytest.fixture
def nodes(cluster) -> Cluster:
    """The cluster with both worker nodes up: a node killed by an earlier test is replaced first."""
    cluster.ensure_workers()
    return cluster


@pytest.fixture(scope="package")
def bucket(s3_endpoint) -> str:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture(scope="package")
def s3_sample_store(sample_store, bucket) -> str:
    """The session's sample store (EMD-3488, 39 sub-grids of 32³) copied to S3."""
    url = f"s3://{bucket}/stores/sample.zarr"
    s3fs.S3FileSystem().put(str(sample_store), url, recursive=True)
    return url
