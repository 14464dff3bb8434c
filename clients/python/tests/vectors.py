"""Loaders for protocols/vectors (wire-v1.md §9): frame vectors and exchange scripts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

VECTORS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "protocols", "vectors")


def _hex(line: str) -> bytes:
    return bytes.fromhex(line.split("#", 1)[0].replace(" ", ""))


@dataclass
class Vector:
    name: str
    data: bytes
    expect: str  # "ok" or an error name
    text: str = ""
    reencoded: Optional[bytes] = None


def frame_vectors() -> list[Vector]:
    vectors = []
    for file in sorted(os.listdir(VECTORS)):
        if not file.endswith(".vector"):
            continue
        name, expect, text, reencoded, data = "", "", "", None, b""
        with open(os.path.join(VECTORS, file), encoding="utf-8") as f:
            for line in f.read().splitlines():
                if line.startswith("@name "):
                    name = line[6:]
                elif line.startswith("@expect "):
                    expect = line[8:]
                elif line.startswith("@frame "):
                    text = line[7:]
                elif line.startswith("@reencoded "):
                    reencoded = _hex(line[11:])
                elif line.strip():
                    data += _hex(line)
        vectors.append(Vector(name, data, "ok" if expect == "ok" else expect.split(" ", 1)[1], text, reencoded))
    return vectors


@dataclass
class Step:
    kind: str  # send, recv, call, outcome, closed
    text: str = ""
    data: bytes = b""
    fields: list[tuple[str, str, bool]] = field(default_factory=list)  # recv: (name, value, prefix)
    number: int = 0
    method: str = ""
    deadline_ms: Optional[int] = None
    parameters: dict[str, str] = field(default_factory=dict)
    status: str = ""


@dataclass
class Exchange:
    name: str
    role: str
    expect: str  # "ok" or an error name
    config: dict[str, str]
    steps: list[Step]


def _fields(text: str) -> list[tuple[str, str, bool]]:
    result = []
    rest = text.strip()
    while rest:
        key, _, value = rest.partition("=")
        prefix = key.endswith("^")
        key = key.rstrip("^")
        if key == "message":
            result.append((key, value, prefix))
            break
        value, _, rest = value.partition(" ")
        result.append((key, value, prefix))
        rest = rest.strip()
    return result


def field_value(name: str, text: str) -> Optional[str]:
    """A field of a frame's text form: up to the next space, or to the end for ``message``."""
    marker = f" {name}="
    at = text.find(marker)
    if at < 0:
        return None
    rest = text[at + len(marker):]
    return rest if name == "message" else rest.split(" ", 1)[0]


def exchanges() -> list[Exchange]:
    result = []
    for file in sorted(os.listdir(VECTORS)):
        if not file.endswith(".exchange"):
            continue
        name, role, expect, config, steps = "", "", "", {}, []
        with open(os.path.join(VECTORS, file), encoding="utf-8") as f:
            for line in f.read().splitlines():
                words = line.split()
                if not words:
                    continue
                first = words[0]
                if len(first) == 2 and all(c in "0123456789abcdef" for c in first) and steps and steps[-1].kind == "send":
                    steps[-1].data += _hex(line)
                elif first == "@name":
                    name = words[1]
                elif first == "@role":
                    role = words[1]
                elif first == "@expect":
                    expect = "ok" if words[1] == "ok" else words[2]
                elif first == "@config":
                    config = dict(w.split("=", 1) for w in words[1:])
                elif first == "send":
                    steps.append(Step("send", text=line[5:]))
                elif first == "recv":
                    steps.append(Step("recv", text=words[1], fields=_fields(line[5 + len(words[1]):])))
                elif first == "call":
                    params = dict(w.split("=", 1) for w in words[3:])
                    deadline = params.pop("deadline_ms", None)
                    steps.append(Step("call", number=int(words[1]), method=words[2], parameters=params,
                                      deadline_ms=int(deadline) if deadline else None))
                elif first == "outcome":
                    steps.append(Step("outcome", number=int(words[1]), status=" ".join(words[2:])))
                elif first == "closed":
                    steps.append(Step("closed"))
                else:
                    raise ValueError(f"{file}: unknown line {line!r}")
        result.append(Exchange(name, role, expect, config, steps))
    return result
