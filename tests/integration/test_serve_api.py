"""humanparse serve's API in-process (FastAPI's test client): every endpoint and every error status,
fuzzed uploads, the queue bound and the batching of requests that arrive together."""

from __future__ import annotations

import base64
import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'humanparse[serve]')")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from helpers import declared_png  # noqa: E402
from humanparse.inference.model_file import save_model  # noqa: E402
from humanparse.models import build_model  # noqa: E402
from humanparse.schemas import LIP, LIP_JOINTS  # noqa: E402
from humanparse.serve import load_served_models, model_name  # noqa: E402
from humanparse.serve.app import ServeSettings, create_app  # noqa: E402

TINY = {"backbone": "resnet18", "base_width": 8}


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    import torch

    root = tmp_path_factory.mktemp("served")
    torch.manual_seed(0)
    parser = {"name": "deeplab", "num_classes": LIP.num_classes, **TINY, "output_stride": 8}
    joints = {"name": "jppnet", "num_classes": LIP.num_classes, "num_joints": 16, **TINY, "refine_stages": 1,
              "scales": [1.0]}
    pose = {"name": "pose_net", "num_joints": 16, **TINY, "output_stride": 8}
    return {
        "parser": save_model(root / "parser", build_model(parser).eval(), parser, LIP, (32, 32)),
        "joints": save_model(root / "joints" / "model", build_model(joints).eval(), joints, LIP, (32, 32),
                             joint_schema=LIP_JOINTS),
        "pose": save_model(root / "pose", build_model(pose).eval(), pose, None, (32, 32), joint_schema=LIP_JOINTS),
    }


def client_for(model_dirs: dict[str, Path], *names: str, **limits) -> TestClient:
    settings = ServeSettings(**limits)
    return TestClient(create_app(load_served_models([str(model_dirs[n]) for n in names], settings=settings), settings))


@pytest.fixture(scope="module")
def client(model_dirs):
    with client_for(model_dirs, "parser", "joints", "pose", max_upload_bytes=200_000, max_pixels=1_000_000) as c:
        yield c


def photo(width: int = 48, height: int = 40, kind: str = "PNG", seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=kind)
    return buffer.getvalue()


def post(client: TestClient, body: bytes, kind: str = "image/png", path: str = "/v1/parse", **params):
    return client.post(path, content=body, headers={"content-type": kind}, params=params)


def test_models_health_and_the_page(client):
    models = client.get("/v1/models").json()
    assert models["default"] == "parser"
    by_name = {m["name"]: m for m in models["models"]}
    assert set(by_name) == {"parser", "joints", "pose"}  # RUN/model is named by its run's folder
    parser = by_name["parser"]
    assert parser["input_size"] == [32, 32] and parser["joints"] is None
    assert [c["name"] for c in parser["schema"]["classes"]] == list(LIP.classes)
    assert parser["schema"]["classes"][1]["colour"] == [int(v) for v in LIP.palette_array()[1]]
    assert by_name["joints"]["joints"]["joints"] == list(LIP_JOINTS.joints)
    assert by_name["joints"]["joints"]["skeleton"] == [list(e) for e in LIP_JOINTS.skeleton]
    assert by_name["pose"]["schema"] is None
    health = client.get("/v1/health").json()
    assert health["status"] == "ok" and set(health["models"]) == {"parser", "joints", "pose"}
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<script" in page.text and "http://" not in page.text and "https://" not in page.text  # no external assets
    schema = client.get("/v1/openapi.json").json()
    assert {"/v1/parse", "/v1/parse/label.png", "/v1/models", "/v1/health"} <= set(schema["paths"])
    parse = schema["paths"]["/v1/parse"]["post"]
    assert {"image/*", "multipart/form-data"} <= set(parse["requestBody"]["content"])
    assert {"413", "415", "422", "503"} <= set(parse["responses"])


def test_parse_answers_classes_areas_boxes_and_the_label_png(client):
    answer = post(client, photo(48, 40)).json()
    assert (answer["width"], answer["height"], answer["schema"], answer["joints"]) == (48, 40, "lip", None)
    labels = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["label_png"]))))
    assert labels.shape == (40, 48)
    present = np.unique(labels)
    assert [c["id"] for c in answer["classes"]] == present.tolist()
    for c in answer["classes"]:
        mask = labels == c["id"]
        ys, xs = np.nonzero(mask)
        assert c["name"] == LIP.classes[c["id"]] and c["pixels"] == int(mask.sum())
        assert c["box"] == [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
        assert c["fraction"] == pytest.approx(mask.mean(), abs=1e-6)
    raw = post(client, photo(48, 40), path="/v1/parse/label.png")
    assert raw.headers["content-type"] == "image/png"
    png = Image.open(io.BytesIO(raw.content))
    assert png.mode == "P" and np.array_equal(np.asarray(png), labels)
    assert png.getpalette()[3:6] == [int(v) for v in LIP.palette_array()[1]]
    assert "label_png" not in post(client, photo(), label_png="false").json()


def test_a_multipart_upload_and_a_jpeg_give_the_same_answer_as_raw_bytes(client):
    body = photo(kind="JPEG")
    raw = post(client, body, "image/jpeg", label_png="false").json()
    form = client.post("/v1/parse", files={"image": ("me.jpg", body, "image/jpeg")}, params={"label_png": "false"})
    assert form.status_code == 200
    strip = lambda a: {k: v for k, v in a.items() if k != "milliseconds"}  # noqa: E731
    assert strip(form.json()) == strip(raw)
    assert post(client, body, "application/octet-stream").status_code == 200


def test_a_model_with_joints_answers_them_and_a_pose_only_model_has_no_label_map(client):
    answer = post(client, photo(), model="joints").json()
    assert answer["model"] == "joints" and answer["joint_schema"] == LIP_JOINTS.name
    assert [j["name"] for j in answer["joints"]] == list(LIP_JOINTS.joints)
    assert all(0 <= j["x"] <= 48 and 0 <= j["y"] <= 40 for j in answer["joints"])
    pose = post(client, photo(), model="pose").json()
    assert pose["classes"] == [] and "label_png" not in pose and len(pose["joints"]) == 16
    refused = post(client, photo(), path="/v1/parse/label.png", model="pose")
    assert refused.status_code == 404 and "joints only" in refused.json()["detail"]


@pytest.mark.parametrize("case", [
    "empty", "no image field", "malformed multipart", "unknown model", "bytes over the limit",
    "declared length over the limit", "pixels over the limit", "text content type", "json content type",
    "not an image", "truncated png", "truncated jpeg",
])
def test_every_bad_request_gets_its_status_and_a_clear_message(client, tmp_path, case):
    good = photo(64, 64)
    status, answer = {
        "empty": lambda: (400, post(client, b"")),
        "no image field": lambda: (400, client.post("/v1/parse", files={"photo": ("a.png", good, "image/png")})),
        "malformed multipart": lambda: (400, post(client, b"--x\r\nbroken", "multipart/form-data; boundary=x")),
        "unknown model": lambda: (404, post(client, good, model="../../etc/passwd")),
        "bytes over the limit": lambda: (413, post(client, b"\x89PNG" + bytes(300_000))),
        "declared length over the limit": lambda: (413, client.post(
            "/v1/parse", content=good, headers={"content-type": "image/png", "content-length": "999999999"})),
        "pixels over the limit": lambda: (413, post(client, declared_png(tmp_path / "big.png", 60000, 60000).read_bytes())),
        "text content type": lambda: (415, post(client, good, "text/plain")),
        "json content type": lambda: (415, client.post("/v1/parse", json={"path": "/etc/passwd"})),
        "not an image": lambda: (422, post(client, b"hello, not a picture")),
        "truncated png": lambda: (422, post(client, good[: len(good) // 2])),
        "truncated jpeg": lambda: (422, post(client, photo(64, 64, "JPEG")[:400], "image/jpeg")),
    }[case]()
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and len(detail) > 10
    assert post(client, good).status_code == 200  # and the server answers the next one


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_uploads_get_a_4xx_and_the_server_keeps_answering(client, data):
    good = photo(40, 32, data.draw(st.sampled_from(["PNG", "JPEG", "BMP", "WEBP"])))
    kind = data.draw(st.sampled_from(["random", "truncated", "garbled header", "huge declared size"]))
    if kind == "random":
        body = data.draw(st.binary(min_size=1, max_size=3000))
    elif kind == "truncated":  # cut inside the pixel data
        body = good[: data.draw(st.integers(1, int(0.8 * len(good))))]
    elif kind == "garbled header":
        cut = data.draw(st.integers(0, 24))
        body = good[:cut] + data.draw(st.binary(min_size=1, max_size=64)) + good[cut + 64:]
    else:
        w, h = data.draw(st.integers(1001, 200000)), data.draw(st.integers(1001, 200000))
        body = declared_png_bytes(w, h)
    answer = post(client, body, data.draw(st.sampled_from(["image/png", "image/jpeg", "application/octet-stream"])))
    if kind == "garbled header":  # garbage after a valid start may still decode as an image
        assert answer.status_code in (200, 400, 413, 415, 422), answer.text
    else:
        assert 400 <= answer.status_code < 500, (kind, answer.status_code, answer.text)
    assert post(client, good).status_code == 200


def declared_png_bytes(width: int, height: int) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return declared_png(Path(folder) / "d.png", width, height).read_bytes()


def test_a_full_queue_answers_503_with_retry_after_and_requests_arriving_together_are_batched(model_dirs):
    with client_for(model_dirs, "parser", max_batch=1, max_queue=1) as client:
        served = client.app.state.models["parser"]
        release, started = threading.Event(), threading.Event()
        predict = served.batcher.run

        def held(images):
            started.set()
            release.wait(10)
            return predict(images)

        served.batcher.run = held
        results: list[int] = []
        first = threading.Thread(target=lambda: results.append(post(client, photo()).status_code))
        first.start()
        assert started.wait(10)  # the first request is in the network; the next one waits in the queue
        second = threading.Thread(target=lambda: results.append(post(client, photo()).status_code))
        second.start()
        for _ in range(200):
            if served.batcher.waiting == 1:
                break
            threading.Event().wait(0.01)
        full = post(client, photo())
        assert full.status_code == 503 and full.headers["retry-after"] == "1" and "waiting" in full.json()["detail"]
        release.set()
        first.join(10)
        second.join(10)
        assert results == [200, 200]

    with client_for(model_dirs, "parser", max_batch=8, max_wait_ms=400) as client:
        threads = [threading.Thread(target=lambda: results.append(post(client, photo()).status_code)) for _ in range(4)]
        results.clear()
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        health = client.get("/v1/health").json()["models"]["parser"]
        assert results == [200] * 4 and health["images"] == 4 and health["batches"] < 4


def test_names_settings_and_a_missing_model_are_checked(model_dirs, tmp_path):
    assert model_name(None, model_dirs["joints"]) == "joints"
    assert model_name(None, model_dirs["joints"] / "model.json") == "joints"
    assert model_name("ccp-lite0", Path("/somewhere/ccp-lite0")) == "ccp-lite0"
    twice = load_served_models([str(model_dirs["parser"])] * 2)
    assert [m.name for m in twice] == ["parser", "parser-2"]
    with pytest.raises(ValueError, match="max_queue"):
        ServeSettings(max_queue=0)
    with pytest.raises(ValueError, match="at least one"):
        create_app([])
    from humanparse.errors import HumanparseError

    with pytest.raises(HumanparseError):
        load_served_models([str(tmp_path / "nothing")])


def test_the_serve_command_refuses_bad_options_before_loading(capsys, tmp_path):
    from humanparse.cli import main

    assert main(["serve", "--max-pixels", "0"]) == 2
    assert "pixel limit" in capsys.readouterr().err
    assert main(["serve", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["serve", "--model", "https://example.com/model"]) == 2
    assert main(["serve", "--model", str(tmp_path / "missing"), "--port", "8123"]) == 2
    assert "missing" in capsys.readouterr().err
