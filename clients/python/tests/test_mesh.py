"""The client against the demo mesh (router → preprocess → inference → postprocess) with the bundled digits model."""

from __future__ import annotations

import asyncio
import json
import os

import numpy as np
import pytest

import switchyard
from conftest import ROOT

DIGITS = os.path.join(ROOT, "Tests", "Fixtures", "engine", "digits")


def test_the_digits_test_split_matches_onnxruntime(mesh, certificates):
    x = np.load(os.path.join(DIGITS, "x_test.npy")).astype(np.float32)
    expected = np.load(os.path.join(DIGITS, "ort_label.npy")).reshape(-1)

    async def main():
        async with switchyard.AsyncClient("127.0.0.1", mesh.router.port, **certificates.client()) as client:
            semaphore = asyncio.Semaphore(64)

            async def one(row: int):
                async with semaphore:
                    return await client.infer("digits", {"X": x[row:row + 1]}, version="1",
                                              routing_key=f"user-{row % 7}", timeout=10)
            return await asyncio.gather(*(one(row) for row in range(len(x))))

    results = asyncio.run(main())
    labels = np.concatenate([r["label"] for r in results])
    np.testing.assert_array_equal(labels, expected)
    assert {r.model_version for r in results} == {"1"}
    assert all(r["probabilities"].shape == (1, 10) for r in results)


def test_a_batch_of_rows_in_one_call(mesh, certificates):
    x = np.load(os.path.join(DIGITS, "x_test.npy")).astype(np.float32)[:32]
    expected = np.load(os.path.join(DIGITS, "ort_label.npy")).reshape(-1)[:32]
    with switchyard.Client("127.0.0.1", mesh.router.port, **certificates.client()) as client:
        result = client.infer("digits", {"X": x}, version="2")
        np.testing.assert_array_equal(result["label"], expected)
        assert result.model_version == "2"  # the pinned version answered
        assert result["probabilities"].shape == (32, 10)
        np.testing.assert_allclose(result["probabilities"].sum(axis=1), 1, rtol=1e-5)


def test_bad_requests_get_their_status_and_the_mesh_stays_healthy(mesh, certificates):
    with switchyard.Client("127.0.0.1", mesh.router.port, **certificates.client()) as client:
        with pytest.raises(switchyard.NotFound, match="no model 'nope'"):
            client.infer("nope", {"X": np.zeros((1, 64), np.float32)})
        with pytest.raises(switchyard.InvalidArgument, match="X"):
            client.infer("digits", {"X": np.zeros((1, 63), np.float32)})
        with pytest.raises(switchyard.DeadlineExceeded):
            client.infer("digits", {"X": np.zeros((1, 64), np.float32)}, timeout=0.000001)
        health = client.health()
        assert health.parameter("status") == "serving"
        assert ("model", "digits") in health.parameters
        result = client.infer("digits", {"X": np.zeros((1, 64), np.float32)})
        assert result["label"].shape == (1,)


def test_ab_comparison_with_feedback_labels(mesh, certificates):
    x = np.load(os.path.join(DIGITS, "x_test.npy")).astype(np.float32)[:40]
    truth = np.load(os.path.join(DIGITS, "y_test.npy")).reshape(-1)[:40]
    with switchyard.Client("127.0.0.1", mesh.router.port, **certificates.client("ops")) as admin:
        admin.call("ab.start", model="digits", parameters={"champion": "1", "challenger": "2", "percent": "50"})
        try:
            with switchyard.Client("127.0.0.1", mesh.router.port, **certificates.client()) as client:
                with pytest.raises(switchyard.PermissionDenied):
                    client.call("ab.stop", model="digits")
                for row in range(len(x)):
                    result = client.infer("digits", {"X": x[row:row + 1]}, routing_key=f"user-{row}")
                    assert result.request_id, result.parameters
                    client.feedback(result.request_id, int(truth[row]))
                with pytest.raises(switchyard.NotFound):  # labelled already
                    client.feedback(result.request_id, int(truth[-1]))
                with pytest.raises(switchyard.PermissionDenied):  # reading reports is the readonly role's
                    client.call("ab.report", model="digits")
                report = json.loads(admin.call("ab.report", model="digits").parameter("report"))
                assert report["champion"]["labelled"] + report["challenger"]["labelled"] == len(x)
                assert report["champion"]["requests"] > 0 and report["challenger"]["requests"] > 0
        finally:
            admin.call("ab.stop", model="digits")


def test_the_readme_example_and_examples_digits_run(mesh, certificates):
    """The READMEs' Python examples and examples/digits.py, against this mesh instead of the demo's ports and
    certificates."""
    import re
    import subprocess
    import sys
    client_dir = os.path.join(ROOT, "clients", "python")
    cert, key = certificates.pair("client")
    run = dict(cwd=ROOT, capture_output=True, text=True, timeout=120)
    for readme in (os.path.join(client_dir, "README.md"), os.path.join(ROOT, "README.md")):
        with open(readme, encoding="utf-8") as f:
            code = re.search(r"```python\n(.*?)```", f.read(), re.S).group(1)
        code = (code.replace("7400", str(mesh.router.port)).replace("ops/certs/out/ca.pem", certificates.ca)
                .replace("ops/certs/out/client.pem", cert).replace("ops/certs/out/client.key", key))
        ran = subprocess.run([sys.executable, "-c", code], **run)
        assert ran.returncode == 0, f"{readme}: {ran.stderr}"
        assert "answered by version " in ran.stdout, f"{readme}: {ran.stdout}"
    example = subprocess.run([sys.executable, os.path.join(client_dir, "examples", "digits.py"), "--port",
                              str(mesh.router.port), "--ca", certificates.ca, "--cert", cert, "--key", key], **run)
    assert example.returncode == 0, example.stderr
    assert "accuracy 0.98" in example.stdout and "invalid argument (3)" in example.stdout, example.stdout
