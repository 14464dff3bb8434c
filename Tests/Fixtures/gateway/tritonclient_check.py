"""Calls a Switchyard router's HTTP port with tritonclient.http, unchanged, as a Triton user would, and prints what
it saw as JSON for the Swift test that runs it (GatewayMeshTests) to compare with the native wire path.

Usage: python tritonclient_check.py HOST:PORT ROWS.npy COUNT
"""

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def main() -> None:
    url, rows_path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    x = np.load(rows_path).astype(np.float32)[:count]
    report: dict = {}
    with httpclient.InferenceServerClient(url, network_timeout=30.0, connection_timeout=10.0) as client:
        report["live"] = client.is_server_live()
        report["ready"] = client.is_server_ready()
        report["model_ready"] = client.is_model_ready("digits")
        report["metadata"] = client.get_model_metadata("digits")
        report["config"] = client.get_model_config("digits")
        report["server"] = client.get_server_metadata()
        for mode, binary in (("json", False), ("binary", True)):
            labels, probabilities = [], []
            for row in range(count):
                tensor = httpclient.InferInput("X", [1, 64], "FP32")
                tensor.set_data_from_numpy(x[row:row + 1], binary_data=binary)
                outputs = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in ("label", "probabilities")]
                result = client.infer("digits", [tensor], outputs=outputs, request_id=f"{mode}-{row}",
                                      parameters={"routing_key": f"user-{row % 7}"})
                assert result.get_response()["id"] == f"{mode}-{row}", result.get_response()
                labels.append(int(result.as_numpy("label")[0]))
                probabilities.append([float(p) for p in result.as_numpy("probabilities")[0]])
            report[mode] = {"labels": labels, "probabilities": probabilities}
        # the whole batch in one request, outputs left unnamed (tritonclient then asks for binary outputs)
        tensor = httpclient.InferInput("X", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=True)
        batch = client.infer("digits", [tensor])
        report["batch"] = {"labels": [int(v) for v in batch.as_numpy("label")],
                           "version": batch.get_response()["model_version"]}
        for case, call in (
            ("unknown_model", lambda: client.get_model_metadata("nope")),
            ("unknown_model_infer", lambda: client.infer("nope", [tensor])),
            ("wrong_shape", lambda: client.infer("digits", [wrong_shape()])),
        ):
            try:
                call()
                report[case] = {"status": "200"}
            except InferenceServerException as error:
                report[case] = {"status": error.status(), "message": error.message()}
        report["stats"] = client.get_inference_statistics("digits")
    print(json.dumps(report))


def wrong_shape() -> "httpclient.InferInput":
    tensor = httpclient.InferInput("X", [1, 63], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 63), np.float32))
    return tensor


if __name__ == "__main__":
    main()
