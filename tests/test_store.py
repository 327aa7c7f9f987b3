"""The resume store: settings keys, atomic entries, damaged or stale entries read as misses."""

import json
import os

import numpy as np
import pytest

from infwidth._store import Store, file_digest, settings_key, write_atomic

KEY = settings_key("test", {"lr": 0.1, "widths": [32, 64]})
ARRAYS = {("W|1", "feature_movement_rms"): np.arange(6.0).reshape(2, 3), "loss": np.ones(4)}


def test_settings_key_is_canonical_and_sees_every_difference():
    a = settings_key("x", {"lr": 0.1, "steps": 3, "w": (32, 64)})
    assert a == settings_key("x", {"steps": 3, "w": [32, 64], "lr": 0.1})  # order, tuple/list
    assert a == settings_key("x", {"lr": np.float64(0.1), "steps": np.int64(3), "w": [32, 64]})
    assert a != settings_key("x", {"lr": 0.1 + 1e-16 * 2, "steps": 3, "w": (32, 64)})
    assert a != settings_key("x", {"lr": 0.1, "steps": 3, "w": (32, 64, 128)})
    assert a != settings_key("y", {"lr": 0.1, "steps": 3, "w": (32, 64)})
    x = np.arange(6.0)
    assert settings_key(x) == settings_key(x.copy()) != settings_key(x.astype(np.float32))
    assert settings_key(x) != settings_key(x.reshape(2, 3))
    y = x.copy()
    y[3] += 1e-12
    assert settings_key(x) != settings_key(y)
    with pytest.raises(TypeError, match="cannot key"):
        settings_key(object())


def test_array_entry_round_trip_keeps_structured_names(tmp_path):
    store = Store(tmp_path)
    assert store.load_arrays("e", KEY) is None  # nothing saved: a silent miss
    assert store.save_arrays("e", KEY, ARRAYS, meta={"result": "ok", "x": [1, 2]})
    hit = store.load_arrays("e", KEY)
    assert set(hit.arrays) == set(ARRAYS)  # "W|1" is not split into ("W", "1|...")
    for k, v in ARRAYS.items():
        np.testing.assert_array_equal(hit.arrays[k], v)
    assert hit.meta == {"result": "ok", "x": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["e.npz"]  # no temporary file left


def test_json_entry_round_trip(tmp_path):
    store = Store(tmp_path)
    assert store.save_json("stage", KEY, {"summary": "done", "n": 3})
    assert store.load_json("stage", KEY) == {"summary": "done", "n": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["stage.json"]


def test_damaged_or_stale_array_entry_is_a_miss_with_one_note(
    tmp_path, capsys, damage, damage_kind
):
    store = Store(tmp_path)
    store.save_arrays("e", KEY, ARRAYS)
    damage(tmp_path / "e.npz", damage_kind)
    assert store.load_arrays("e", KEY) is None
    err = capsys.readouterr().err
    assert err.startswith("note: ") and err.count("\n") == 1 and "e.npz" in err, err
    store.save_arrays("e", KEY, ARRAYS)  # the next save replaces the damaged file
    assert set(store.load_arrays("e", KEY).arrays) == set(ARRAYS)


@pytest.mark.parametrize("kind", ["truncated", "empty", "garbage", "pickled", "stale"])
def test_damaged_or_stale_json_entry_is_a_miss_with_one_note(tmp_path, capsys, damage, kind):
    store = Store(tmp_path)
    store.save_json("stage", KEY, {"summary": "done"})
    damage(tmp_path / "stage.json", kind)
    assert store.load_json("stage", KEY) is None
    err = capsys.readouterr().err
    assert err.startswith("note: ") and err.count("\n") == 1 and "stage.json" in err, err


def test_other_settings_read_as_stale(tmp_path, capsys):
    store = Store(tmp_path)
    store.save_arrays("e", KEY, ARRAYS)
    assert store.load_arrays("e", settings_key("test", {"lr": 0.2, "widths": [32, 64]})) is None
    assert "saved with other settings" in capsys.readouterr().err


def test_object_arrays_are_refused_not_pickled(tmp_path):
    with pytest.raises(ValueError, match="Python objects"):
        Store(tmp_path).save_arrays("e", KEY, {"x": np.array([{}], dtype=object)})
    assert not (tmp_path / "e.npz").exists()


def test_store_without_folder_holds_nothing(tmp_path):
    store = Store(None)
    assert not store.save_arrays("e", KEY, ARRAYS) and store.load_arrays("e", KEY) is None
    assert not store.save_json("e", KEY, 1) and store.load_json("e", KEY) is None
    with pytest.raises(ValueError, match="plain file stems"):
        Store(tmp_path).load_json("../e", KEY)


def test_failed_save_is_a_note_not_a_crash(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert not Store(blocker / "sub").save_arrays("e", KEY, ARRAYS)  # folder can't be made
    err = capsys.readouterr().err
    assert err.startswith("note: could not save") and err.count("\n") == 1


def test_write_atomic_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "out.json"
    write_atomic(path, json.dumps({"v": 1}))
    old = file_digest(path)

    def crash(fh):
        fh.write(b'{"v": ')
        raise KeyboardInterrupt  # a kill half-way through the write

    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, crash)
    assert file_digest(path) == old and json.loads(path.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["out.json"]
    assert file_digest(tmp_path / "missing") is None
