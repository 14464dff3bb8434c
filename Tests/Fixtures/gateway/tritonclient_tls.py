"""Calls a gateway over TLS with tritonclient.http, unchanged, as a Triton user would: with a bearer token (server-only
TLS) or a client certificate (mutual TLS), and once without credentials. Prints what it saw as JSON for the Swift test
that runs it (GatewayProtocolTests).

Usage: python tritonclient_tls.py HOST:PORT CA_PEM (--token TOKEN | --cert PEM --key PEM)
"""

import argparse
import json

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("ca")
    parser.add_argument("--token")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    options = {"ca_certs": args.ca}
    if args.cert:
        options.update(certfile=args.cert, keyfile=args.key)
    headers = {"authorization": f"Bearer {args.token}"} if args.token else None
    x = np.array([[0.25, 0.5, 0.75, 1.0], [2.0, 3.0, 4.0, 5.0]], np.float32)
    report: dict = {}
    with httpclient.InferenceServerClient(
        args.url, ssl=True, ssl_options=options, network_timeout=20.0, connection_timeout=10.0
    ) as client:
        report["ready"] = client.is_server_ready(headers=headers)
        report["metadata"] = client.get_model_metadata("digits", headers=headers)["name"]
        for mode, binary in (("json", False), ("binary", True)):
            tensor = httpclient.InferInput("X", list(x.shape), "FP32")
            tensor.set_data_from_numpy(x, binary_data=binary)
            outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("label", "probabilities")]
            result = client.infer("digits", [tensor], outputs=outputs, headers=headers, request_id=mode)
            report[mode] = {
                "id": result.get_response()["id"],
                "label": result.as_numpy("label").tolist(),
                "probabilities": result.as_numpy("probabilities").tolist(),
            }
        try:
            tensor = httpclient.InferInput("X", list(x.shape), "FP32")
            tensor.set_data_from_numpy(x)
            client.infer("digits", [tensor])  # no credentials but the connection's own
            report["anonymous"] = {"status": "200"}
        except InferenceServerException as error:
            report["anonymous"] = {"status": error.status(), "message": error.message()}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
