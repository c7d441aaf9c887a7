"""The model file: save -> load round trip, what model.json records, and loud failures."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from helpers import ToyParser, fill_disk_after, leftovers
from humanparse.data.image_io import DataError
from humanparse.inference.model_file import SavedModel, load_model, read_model_info, save_model
from humanparse.schemas import LIP, PASCAL_PERSON_PART


def _trained_like(num_classes: int) -> ToyParser:
    torch.manual_seed(0)
    net = ToyParser(num_classes, width=4)
    # Non-default running statistics, so that forgetting buffers would change the output.
    net.norm.running_mean.uniform_(-1, 1)
    net.norm.running_var.uniform_(0.5, 2)
    return net.eval()


def _save(tmp_path: Path, schema=PASCAL_PERSON_PART, **kwargs) -> Path:
    net = _trained_like(schema.num_classes)
    spec = {"name": "toy", "num_classes": schema.num_classes, "width": 4}
    return save_model(tmp_path / "model", net, spec, schema, (24, 20), **kwargs)


def test_round_trip_gives_identical_logits(toy_model, tmp_path: Path) -> None:
    net = _trained_like(PASCAL_PERSON_PART.num_classes)
    spec = {"name": "toy", "num_classes": PASCAL_PERSON_PART.num_classes, "width": 4}
    folder = save_model(tmp_path / "model", net, spec, PASCAL_PERSON_PART, (24, 20))
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.safetensors"]

    x = torch.randn(2, 3, 24, 20)
    expected = net(x).logits
    for where in (folder, folder / "model.json", str(folder)):
        saved = load_model(where)
        assert isinstance(saved, SavedModel)
        assert not saved.model.training
        assert torch.equal(saved.model(x).logits, expected)


def test_json_records_spec_schema_size_and_normalisation(toy_model, tmp_path: Path) -> None:
    folder = _save(
        tmp_path, schema=LIP, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3),
        extra={"training": {"best_val_miou": 41.5, "run": tmp_path / "run"}, "test_time": {"scales": [0.75, 1.0], "flip": True}},
    )
    info = json.loads((folder / "model.json").read_text())
    assert info["format"] == "humanparse-model" and info["version"] == 1
    assert info["model"] == {"name": "toy", "num_classes": 20, "width": 4}
    assert info["label_schema"]["name"] == "lip"
    assert info["label_schema"]["classes"][14] == "Left-arm"
    assert [14, 15] in info["label_schema"]["flip_pairs"]
    assert info["input_size"] == [24, 20]
    assert info["normalization"] == {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], "scale": 255}
    assert info["test_time"] == {"scales": [0.75, 1.0], "flip": True}
    assert info["training"] == {"best_val_miou": 41.5, "run": str(tmp_path / "run")}

    saved = load_model(folder)
    assert saved.label_schema == LIP
    assert saved.input_size == (24, 20)
    assert saved.mean == (0.5, 0.4, 0.3) and saved.std == (0.2, 0.25, 0.3)
    assert saved.test_time == {"scales": [0.75, 1.0], "flip": True}
    assert saved.info["training"]["best_val_miou"] == 41.5


def test_default_test_time_is_single_scale_without_flip(toy_model, tmp_path: Path) -> None:
    info = read_model_info(_save(tmp_path))
    assert info["test_time"] == {"scales": [1.0], "flip": False}
    assert info["normalization"]["mean"] == [0.485, 0.456, 0.406]


def test_weights_missing_a_key_name_the_file_and_key(toy_model, tmp_path: Path) -> None:
    folder = _save(tmp_path)
    weights = folder / "model.safetensors"
    state = load_file(str(weights))
    del state["head.weight"]
    save_file(state, str(weights))
    with pytest.raises(DataError) as err:
        load_model(folder)
    assert err.value.path == str(weights)
    assert "missing" in str(err.value) and "head.weight" in str(err.value)


def test_weights_of_the_wrong_shape_are_rejected(toy_model, tmp_path: Path) -> None:
    folder = _save(tmp_path)
    weights = folder / "model.safetensors"
    state = load_file(str(weights))
    state["head.bias"] = torch.zeros(3)
    save_file(state, str(weights))
    with pytest.raises(DataError, match="wrong shape.*head.bias"):
        load_model(folder)


def test_unknown_model_name_names_the_json(toy_model, tmp_path: Path) -> None:
    folder = _save(tmp_path)
    info = json.loads((folder / "model.json").read_text())
    info["model"]["name"] = "no_such_net"
    (folder / "model.json").write_text(json.dumps(info))
    with pytest.raises(DataError) as err:
        load_model(folder)
    assert err.value.path == str(folder / "model.json")
    assert "no_such_net" in str(err.value)


def test_wrong_format_field_is_rejected(toy_model, tmp_path: Path) -> None:
    folder = _save(tmp_path)
    info = json.loads((folder / "model.json").read_text())
    info["format"] = "something-else"
    (folder / "model.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="format"):
        load_model(folder)


class _Exploit:
    """Unpickling this would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_named_safetensors_is_rejected_unexecuted(toy_model, tmp_path: Path) -> None:
    folder = _save(tmp_path)
    marker = tmp_path / "code_ran"
    weights = folder / "model.safetensors"
    weights.write_bytes(pickle.dumps({"head.weight": _Exploit(marker)}))
    with pytest.raises(DataError) as err:
        load_model(folder)
    assert err.value.path == str(weights)
    assert not marker.exists()
    # The same bytes would have run code through plain pickle: the test's exploit is real.
    pickle.loads(weights.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("remove", ["folder", "model.json", "model.safetensors"])
def test_missing_parts_are_named(toy_model, tmp_path: Path, remove: str) -> None:
    folder = _save(tmp_path)
    if remove == "folder":
        target = tmp_path / "elsewhere"
    else:
        (folder / remove).unlink()
        target = folder / remove
    with pytest.raises(DataError) as err:
        load_model(folder if remove != "folder" else target)
    assert err.value.path == str(target)


def test_failed_save_leaves_nothing_behind(toy_model, tmp_path: Path) -> None:
    net = _trained_like(7)
    spec = {"name": "toy", "num_classes": 7}
    with pytest.raises(TypeError, match="cannot be written as JSON"):
        save_model(tmp_path / "model", net, spec, PASCAL_PERSON_PART, (24, 20), extra={"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_save_replaces_an_older_model_but_not_other_folders(toy_model, tmp_path: Path) -> None:
    folder = _save(tmp_path)
    net = ToyParser(7, width=2)
    save_model(folder, net, {"name": "toy", "num_classes": 7, "width": 2}, PASCAL_PERSON_PART, (16, 16))
    assert load_model(folder).input_size == (16, 16)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary folders left

    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"not a model")
    with pytest.raises(FileExistsError):
        save_model(other, net, {"name": "toy", "num_classes": 7, "width": 2}, PASCAL_PERSON_PART, (16, 16))
    assert (other / "holiday.jpg").read_bytes() == b"not a model"


def test_save_rejects_inconsistent_arguments(toy_model, tmp_path: Path) -> None:
    net = _trained_like(7)
    with pytest.raises(ValueError, match="classes"):
        save_model(tmp_path / "m", net, {"name": "toy", "num_classes": 20}, PASCAL_PERSON_PART, (24, 20))
    with pytest.raises(ValueError, match="extra may not replace"):
        save_model(tmp_path / "m", net, {"name": "toy", "num_classes": 7}, PASCAL_PERSON_PART, (24, 20),
                   extra={"input_size": [1, 1]})
    with pytest.raises(ValueError, match="unknown model"):
        save_model(tmp_path / "m", net, {"name": "nope", "num_classes": 7}, PASCAL_PERSON_PART, (24, 20))
    with pytest.raises(ValueError, match="scales"):
        save_model(tmp_path / "m", net, {"name": "toy", "num_classes": 7}, PASCAL_PERSON_PART, (24, 20),
                   extra={"test_time": {"scales": [], "flip": False}})
    assert not (tmp_path / "m").exists()


def test_cuda_device_without_gpu_is_a_clear_error(toy_model, tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    folder = _save(tmp_path)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        load_model(folder, device="cuda")


def test_a_full_disk_leaves_the_earlier_model_folder(toy_model, tmp_path: Path, monkeypatch) -> None:
    folder = _save(tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    fill_disk_after(monkeypatch, room=256, where="model.safetensors")
    with pytest.raises(DataError, match="No space left on device") as error:
        _save(tmp_path, schema=LIP)
    assert error.value.path == str(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert load_model(folder).label_schema.name == PASCAL_PERSON_PART.name
    assert leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@pytest.mark.parametrize("size", [[100000, 100000], [473, 5000], [0, 32], [-32, 32], [32.5, 32], [32], "473"])
def test_absurd_input_size_is_refused_when_loaded(toy_model, tmp_path: Path, size) -> None:
    from humanparse.errors import ModelFileError

    folder = _save(tmp_path)
    info = json.loads((folder / "model.json").read_text())
    info["input_size"] = size
    (folder / "model.json").write_text(json.dumps(info))
    with pytest.raises(ModelFileError) as err:
        load_model(folder)
    assert err.value.path == str(folder / "model.json")
    assert err.value.problem.startswith("input_size ") and str(size) in err.value.problem
