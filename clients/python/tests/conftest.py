"""Real Switchyard services for the client's tests: the echo service and the demo mesh on loopback, with
throwaway certificates from ops/certs/make-certs.sh. Every process a test starts is stopped; every wait is bounded.

The binaries come from ``SWITCHYARD_BIN`` or ``.build/debug`` (``swift build --build-tests`` makes them, as
``ops/test.sh`` does); without them the tests fail and say so.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ADDRESS = re.compile(r"127\.0\.0\.1:(\d+)")


def bin_dir() -> str:
    path = os.environ.get("SWITCHYARD_BIN") or os.path.join(ROOT, ".build", "debug")
    if not os.path.isfile(os.path.join(path, "switchyard-echo")):
        pytest.fail(f"no Switchyard binaries in {path}: run `swift build --build-tests` (or set SWITCHYARD_BIN)",
                    pytrace=False)
    return path


class Service:
    """A service executable as a real process on a loopback port (``--port 0`` unless told)."""

    def __init__(self, product: str, arguments: list[str], timeout: float = 30.0) -> None:
        self.product = product
        self.output: list[str] = []
        self.process = subprocess.Popen([os.path.join(bin_dir(), product)] + arguments, cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.port = 0
        found = threading.Event()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                match = ADDRESS.search(line) if "listening" in line else None
                if match and not found.is_set():
                    self.port = int(match.group(1))
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(timeout):
            self.stop()
            raise RuntimeError(f"{product} did not start listening within {timeout} s: {self.log}")

    @property
    def log(self) -> str:
        return "".join(self.output)

    def terminate(self) -> None:
        """SIGTERM: the service drains (GOAWAY) and exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 20.0) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Certificates:
    """A throwaway CA and certificates (``NAME.pem``, ``NAME.key``); ``ops`` is an admin (OU=admin)."""

    def __init__(self, directory: str) -> None:
        names = ["server", "client", "ops:admin", "router", "preprocess", "inference", "postprocess"]
        subprocess.run(["bash", os.path.join(ROOT, "ops", "certs", "make-certs.sh"), directory] + names, check=True,
                       stdout=subprocess.DEVNULL, timeout=120)
        self.directory = directory
        self.ca = os.path.join(directory, "ca.pem")

    def pair(self, name: str) -> tuple[str, str]:
        return os.path.join(self.directory, f"{name}.pem"), os.path.join(self.directory, f"{name}.key")

    def tls(self, name: str) -> list[str]:
        cert, key = self.pair(name)
        return ["--ca", self.ca, "--cert", cert, "--key", key]

    def client(self, name: str = "client") -> dict[str, str]:
        """Keyword arguments of ``switchyard.Client`` for mutual TLS as ``name``."""
        cert, key = self.pair(name)
        return {"ca": self.ca, "cert": cert, "key": key}


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(str(tmp_path_factory.mktemp("certs")))


def start_echo(certificates: Certificates, *extra: str, port: int = 0) -> Service:
    return Service("switchyard-echo", ["--port", str(port), "--drain-seconds", "5"] + certificates.tls("server")
                   + list(extra))


@pytest.fixture(scope="module")
def echo(certificates: Certificates):
    service = start_echo(certificates)
    yield service
    service.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mesh:
    """Router, preprocess, inference and postprocess as the demo runs them, on a model repository with the
    bundled digits model as versions 1 and 2 (so that pinning and A/B comparisons have two versions)."""

    def __init__(self, certificates: Certificates, models: str) -> None:
        self.services: list[Service] = []
        try:
            inference = self._start("switchyard-inference", ["--models", models, "--threads", "2", "--blas-threads", "1"]
                                    + certificates.tls("inference"))
            preprocess = self._start("switchyard-preprocess", ["--models", models] + certificates.tls("preprocess"))
            postprocess = self._start("switchyard-postprocess", ["--models", models] + certificates.tls("postprocess"))
            self.router = self._start("switchyard-router", [
                "--models", models, "--preprocess", f"127.0.0.1:{preprocess.port}",
                "--inference", f"127.0.0.1:{inference.port}", "--postprocess", f"127.0.0.1:{postprocess.port}",
                "--health-check-interval-ms", "200"] + certificates.tls("router"))
        except BaseException:
            self.stop()
            raise

    def _start(self, product: str, arguments: list[str]) -> Service:
        service = Service(product, ["--port", "0"] + arguments)
        self.services.append(service)
        return service

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


@pytest.fixture(scope="module")
def mesh(certificates: Certificates, tmp_path_factory: pytest.TempPathFactory):
    models = tmp_path_factory.mktemp("models")
    source = os.path.join(ROOT, "models", "digits")
    shutil.copytree(source, os.path.join(models, "digits"))
    shutil.copytree(os.path.join(source, "1"), os.path.join(models, "digits", "2"))
    config = os.path.join(models, "digits", "config.json")
    with open(config, encoding="utf-8") as f:
        text = f.read()
    with open(config, "w", encoding="utf-8") as f:  # serve both versions
        f.write(re.sub(r'"version_policy":\s*\{[^}]*\}', '"version_policy": "all"', text))
    deployed = Mesh(certificates, str(models))
    yield deployed
    deployed.stop()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Polls ``predicate`` until it is true or ``timeout`` passes (bounded waits only)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
