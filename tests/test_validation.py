"""Bad input at every boundary (issue 10, items 2 and 3): one line, exit 2, before any work.

CLI cases run ``infwidth.cli.main`` in-process and assert exit code 2, exactly one stderr line
and no traceback; API cases assert :class:`InfwidthError`. Every check fires before JAX
compiles anything, so the whole file runs in seconds.
"""

import math
import os

import numpy as np
import pytest

import infwidth.cli._tour
from infwidth import _validate as valid
from infwidth.cli import main
from infwidth.errors import InfwidthError

HUGE_SEED = str(2**64)


def run_cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    return code, capsys.readouterr().err


def assert_one_line(code, err, needle):
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err


# ---------------------------------------------------------------------------- the helpers


@pytest.mark.parametrize(
    ("check", "value", "expected"),
    [
        (valid.finite, -2, -2.0),
        (valid.positive, np.float32(0.5), 0.5),
        (valid.nonnegative, 0, 0.0),
        (valid.positive_int, np.int64(3), 3),
        (valid.nonnegative_int, 0, 0),
        (valid.seed, 2**32 - 1, 2**32 - 1),
        (valid.seed, 0, 0),
        (valid.dtype, "float64", "float64"),
    ],
)
def test_helpers_accept_and_canonicalise(check, value, expected):
    out = check("x", value)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(
    ("check", "value", "needle"),
    [
        (valid.finite, math.nan, "finite"),
        (valid.finite, "1", "real number"),
        (valid.finite, True, "real number"),
        (valid.finite, np.complex128(1), "real number"),
        (valid.positive, math.inf, "finite"),
        (valid.positive, 0.0, "> 0"),
        (valid.nonnegative, -1e-300, ">= 0"),
        (valid.positive_int, 2.5, "integer"),
        (valid.positive_int, 2.0, "integer"),
        (valid.positive_int, 0, ">= 1"),
        (valid.nonnegative_int, -1, ">= 0"),
        (valid.seed, -1, "0..4294967295"),
        (valid.seed, 2**32, "0..4294967295"),
        (valid.seed, 2**64, "0..4294967295"),
        (valid.dtype, "int32", "float32, float64"),
    ],
)
def test_helpers_refuse_with_the_name_and_value(check, value, needle):
    with pytest.raises(InfwidthError, match="^x ") as exc:
        check("x", value)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_widths_sorted_distinct_positive():
    assert valid.widths("w", "256, 64,128") == (64, 128, 256)
    assert valid.widths("w", [np.int64(8)]) == (8,)
    for bad, needle in [("", "at least two"), ("64", "at least two"), ("64,64", "distinct"),
                        ("a,b", "integers"), ("0,8", "positive"), ([8, 16.5], "integer")]:  # fmt: skip
        with pytest.raises(InfwidthError, match=needle):
            valid.widths("w", bad, min_count=2)


# ----------------------------------------------------------------------- numeric CLI flags

QUICK_CC = ("coord-check", "--quick", "--no-plot")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        ((*QUICK_CC, "--lr", "nan"), "--lr must be finite"),
        ((*QUICK_CC, "--lr", "-1"), "--lr must be > 0"),
        ((*QUICK_CC, "--lr", "inf"), "--lr must be finite"),
        ((*QUICK_CC, "--eps", "-0.5"), "--eps must be >= 0"),
        ((*QUICK_CC, "--eps", "nan"), "--eps must be finite"),
        ((*QUICK_CC, "--weight-decay", "-0.1"), "--weight-decay must be >= 0"),
        ((*QUICK_CC, "--weight-decay", "inf"), "--weight-decay must be finite"),
        ((*QUICK_CC, "--tolerance", "nan"), "--tolerance must be finite"),
        ((*QUICK_CC, "--tolerance", "-0.2"), "--tolerance must be > 0"),
        ((*QUICK_CC, "--max-memory-gb", "nan"), "--max-memory-gb must be finite"),
        ((*QUICK_CC, "--max-memory-gb", "-4"), "--max-memory-gb must be > 0"),
        ((*QUICK_CC, "--seed", "-1"), "--seed must be an integer in 0.."),
        ((*QUICK_CC, "--seed", HUGE_SEED), "--seed must be an integer in 0.."),
        ((*QUICK_CC, "--widths", ""), "--widths needs at least two widths"),
        ((*QUICK_CC, "--widths", "64"), "--widths needs at least two widths"),
        ((*QUICK_CC, "--widths", "64,64"), "--widths must be distinct"),
        ((*QUICK_CC, "--steps", "0"), "--steps must be an integer >= 1"),
        ((*QUICK_CC, "--base-width", "-16"), "--base-width must be an integer >= 1"),
        (("kernel", "--data", "digits", "--seed", "-1"), "--seed must be an integer in 0.."),
        (("kernel", "--data", "digits", "--seed", HUGE_SEED), "--seed must be an integer"),
        (("kernel", "--data", "digits", "--block-size", "-1"), "--block-size must be an integer"),
        (("kernel", "--data", "digits", "--weight-std", "nan"), "--weight-std must be finite"),
        (("kernel", "--data", "digits", "--bias-std", "-1"), "--bias-std must be >= 0"),
        (("kernel", "--data", "digits", "--width", "0"), "--width must be an integer >= 1"),
        (("kernel", "--data", "digits", "--arch", "cnn", "--filter", "3,0"), "--filter must be"),
        (("derive", "--arch", "mlp", "--optimizer", "sgd", "--depth", "-1"), "--depth must be"),
        (
            ("classify", "--arch", "mlp", "--optimizer", "sgd", "--preset", "mup", "--depth", "0"),
            "--depth must be an integer >= 1",
        ),
        (("lazy", "--seed", "-1"), "--seed must be an integer in 0.."),
        (("lazy", "--seed", HUGE_SEED), "--seed must be an integer in 0.."),
        (("lazy", "--lr", "nan"), "--lr must be finite"),
        (("lazy", "--lr", "-1"), "--lr must be > 0"),
        (("lazy", "--steps", "0"), "--steps must be an integer >= 1"),
        (("lazy", "--n-train", "0"), "--n-train must be an integer >= 1"),
        (("dmft", "--sites", "0"), "--sites must be an integer >= 2"),
        (("dmft", "--sites", "-5"), "--sites must be an integer >= 2"),
        (("dmft", "--seed", "-1"), "--seed must be an integer in 0.."),
        (("dmft", "--seed", HUGE_SEED), "--seed must be an integer in 0.."),
        (("dmft", "--eta", "nan"), "--eta must be finite"),
        (("dmft", "--eta", "inf"), "--eta must be finite"),
        (("dmft", "--gamma0", "-1"), "--gamma0 must be > 0"),
        (("dmft", "--beta0", "nan"), "--beta0 must be finite"),
        (("dmft", "--seeds", "0"), "--seeds must be an integer >= 1"),
        (("dmft", "--response-every", "0"), "--response-every must be an integer >= 1"),
        (("dmft", "--max-sweeps", "0"), "--max-sweeps must be an integer >= 1"),
        (("dmft", "--compare-widths", ""), "--compare-widths needs at least one width"),
        (("dmft", "--compare-widths", "0,8"), "--compare-widths must be positive"),
    ],
)
def test_bad_numbers_on_the_command_line(capsys, tmp_path, argv, needle):
    out = () if argv[0] in ("derive", "classify") else ("--out", tmp_path / "out")
    code, err = run_cli(capsys, *argv, *out)
    assert_one_line(code, err, needle)
    assert not (tmp_path / "out").exists()  # refused before the output folder was touched


# ------------------------------------------------------------------------------------ data

BAD_ARRAYS = [
    (np.ones((0, 3)), "0 points"),
    (np.ones((3, 0)), "no features"),
    (np.zeros((3, 2)), "all zeros"),
    (np.ones((3, 2)) * (1 + 1j), "complex"),
    (np.array([["a", "b"], ["c", "d"]]), "numeric"),
]


@pytest.mark.parametrize(("x", "needle"), BAD_ARRAYS)
def test_bad_data_files(capsys, tmp_path, x, needle):
    np.save(tmp_path / "x.npy", x)
    y = np.ones(len(x))
    np.savez(tmp_path / "lazy.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    np.savez(tmp_path / "dmft.npz", X=x, y=y)
    for argv in (
        ("kernel", "--data", tmp_path / "x.npy"),
        ("lazy", "--data", tmp_path / "lazy.npz"),
        ("dmft", "--data", tmp_path / "dmft.npz"),
    ):
        code, err = run_cli(capsys, *argv, "--out", tmp_path / "out")
        assert_one_line(code, err, needle)


@pytest.mark.parametrize(
    ("command", "given", "needle"),
    [
        ("kernel", "x.npz", "must be a .npy file"),
        ("lazy", "x.npy", ".npz file"),
        ("dmft", "x.npy", "FILE.npz"),
        ("lazy", "broken.npz", "not a readable .npz"),
        ("dmft", "broken.npz", "not a readable .npz"),
        ("kernel", "broken.npy", "not a readable .npy"),
        ("lazy", "npy_inside.npz", "not an .npz archive"),
        ("dmft", "npy_inside.npz", "not an .npz archive"),
    ],
)
def test_wrong_or_broken_data_file(capsys, tmp_path, command, given, needle):
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    np.savez(tmp_path / "x.npz", x=np.ones((3, 2)))
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    (tmp_path / "npy_inside.npz").write_bytes((tmp_path / "x.npy").read_bytes())
    code, err = run_cli(capsys, command, "--data", tmp_path / given, "--out", tmp_path / "o")
    assert_one_line(code, err, needle)


# ------------------------------------------------------------------------- output folders

WRITERS = {
    "coord-check": (*QUICK_CC, "--widths", "8,16", "--steps", "1", "--seeds", "1"),
    "kernel": ("kernel", "--data", "digits", "--n-points", "4", "--no-figures"),
    "lazy": ("lazy", "--width", "8", "--steps", "2", "--n-train", "4", "--n-test", "4"),
    "dmft": ("dmft", "--quick", "--no-figures"),
    "tour": ("tour", "--quick"),
    "explain": ("explain",),
}
#: The function doing each command's work: it must not be reached when --out is bad.
WORK = {
    "coord-check": ("infwidth.sim._check", "coord_check"),
    "kernel": ("infwidth.kernels._dataset", "mlp_kernels"),
    "lazy": ("infwidth.kernels._mlp", "mlp_kernels"),
    "dmft": ("infwidth.dmft._cache", "cached_solve"),
    "tour": ("infwidth.tour", "run_tour"),
    "explain": ("infwidth.symbolic._library", "derivation_files"),
}


def _forbid_work(monkeypatch, command):
    def work(*a, **k):
        raise AssertionError("the work started before --out was checked")

    if command != "explain":  # explain's file names come from its work; it writes nothing
        monkeypatch.setattr(".".join(WORK[command]), work)


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_out_that_is_a_file(capsys, tmp_path, monkeypatch, command):
    _forbid_work(monkeypatch, command)
    (tmp_path / "f").write_text("keep me")
    code, err = run_cli(capsys, *WRITERS[command], "--out", tmp_path / "f")
    assert_one_line(code, err, "is an existing file, not a folder")
    code, err = run_cli(capsys, *WRITERS[command], "--out", tmp_path / "f" / "sub")
    assert_one_line(code, err, "is under the file")
    assert (tmp_path / "f").read_text() == "keep me"


@pytest.mark.parametrize(
    ("command", "blocker"),
    [
        ("coord-check", "coord_check.json"),
        ("kernel", "kernels.npz"),
        ("lazy", "lazy.json"),
        ("dmft", "dmft.json"),
    ],
)
def test_out_holding_a_folder_where_a_file_goes(capsys, tmp_path, monkeypatch, command, blocker):
    _forbid_work(monkeypatch, command)
    (tmp_path / "o" / blocker).mkdir(parents=True)
    code, err = run_cli(capsys, *WRITERS[command], "--out", tmp_path / "o")
    assert_one_line(code, err, f"holds a folder '{blocker}' where an output file goes")


def test_out_holding_a_file_where_a_folder_goes(capsys, tmp_path, monkeypatch):
    _forbid_work(monkeypatch, "dmft")
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "partial").write_text("")
    code, err = run_cli(capsys, *WRITERS["dmft"], "--compare-widths", "8", "--out", tmp_path / "o")
    assert_one_line(code, err, "holds a file 'partial' where a folder goes")


@pytest.mark.parametrize("command", ["coord-check", "kernel", "lazy", "dmft"])
def test_out_unwritable(capsys, tmp_path, monkeypatch, command):
    """The write probe fails (as on a read-only disk, or a folder without write permission)."""
    _forbid_work(monkeypatch, command)

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(valid.tempfile, "TemporaryFile", denied)
    code, err = run_cli(capsys, *WRITERS[command], "--out", tmp_path / "ro")
    assert_one_line(code, err, "is not writable (Permission denied)")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_out_in_a_read_only_folder(capsys, tmp_path, monkeypatch):
    _forbid_work(monkeypatch, "kernel")
    (tmp_path / "ro").mkdir(mode=0o500)
    try:
        code, err = run_cli(capsys, *WRITERS["kernel"], "--out", tmp_path / "ro" / "o")
    finally:
        (tmp_path / "ro").chmod(0o700)
    assert_one_line(code, err, "is not writable")


def test_os_error_is_one_line(capsys, tmp_path, monkeypatch):
    """Last resort: an OSError the checks could not foresee (a full disk) is one line too."""

    def full_disk(args):
        raise OSError(28, "No space left on device", str(tmp_path / "x.json"))

    monkeypatch.setattr(infwidth.cli._tour, "run", full_disk)
    code, err = run_cli(capsys, "tour", "--out", tmp_path)
    assert_one_line(code, err, "No space left on device")
    assert "x.json" in err


# ------------------------------------------------------------------------------ the API


def _dmft_problem(**kw):
    from infwidth.dmft import DMFTProblem

    return DMFTProblem(**({"X": np.eye(3, 4), "y": np.ones(3)} | kw))


def _api_cases():
    from infwidth.dmft import MonteCarlo, TwoLayerParticles, compare_widths, train_finite
    from infwidth.kernels import conv_kernels, lazy_predict, mlp_kernels
    from infwidth.sim import CoordCheckConfig, Table, coord_check, mup_transfer

    x = np.random.default_rng(0).standard_normal((4, 3))
    theta = x @ x.T + np.eye(4)
    params = {"w": np.ones((8, 8))}

    def mlp(**kw):
        return lambda: mlp_kernels(x, **({"depth": 1, "activation": "relu"} | kw))

    def cfg(**kw):
        return lambda: CoordCheckConfig(**kw)

    def solve(**kw):
        from infwidth.dmft import Lazy, solve_dmft

        return lambda: solve_dmft(_dmft_problem(), Lazy(), **kw)

    cases = [
        (cfg(widths=()), "widths needs at least one width"),
        (cfg(widths=(0, 8)), "widths must be positive"),
        (cfg(dtype="int32"), "dtype must be one of float32, float64"),
        (cfg(depth=2.5), "depth must be an integer"),
        (cfg(lr=math.nan), "lr must be finite"),
        (cfg(lr=-1.0), "lr must be > 0"),
        (cfg(eps=-1.0), "eps must be >= 0"),
        (cfg(weight_decay=math.inf), "weight_decay must be finite"),
        (cfg(seed=-1), "seed must be an integer in 0.."),
        (cfg(seed=2**64), "seed must be an integer in 0.."),
        (cfg(steps=0), "steps must be an integer >= 1"),
        (cfg(batch_size=0), "batch_size must be an integer >= 1"),
        (cfg(dims={"d_in": 0}), "dims['d_in'] must be an integer >= 1"),
        (
            lambda: coord_check(Table.derive("mlp", "sgd"), CoordCheckConfig(widths=(64,))),
            "widths needs at least two widths",
        ),
        (lambda: mup_transfer(params, params, lr=-1), "lr must be > 0"),
        (lambda: mup_transfer(params, params, lr=math.nan), "lr must be finite"),
        (lambda: mup_transfer(params, params, eps=-1), "eps must be >= 0"),
        (lambda: mup_transfer(params, params, weight_decay=math.nan), "weight_decay"),
        (mlp(block_size=-1), "block_size must be an integer >= 1"),
        (mlp(block_size=0), "block_size must be an integer >= 1"),
        (mlp(depth=2.5), "depth must be an integer"),
        (mlp(W_std=math.nan), "W_std must be finite"),
        (mlp(width=0), "width must be an integer >= 1"),
        (lambda: conv_kernels(np.ones((2, 4, 4, 1)) * 1j, depth=1, activation="relu"), "complex"),
        (lambda: lazy_predict(theta, np.ones(4), [1.0], learning_rate=-1), "learning_rate"),
        (lambda: lazy_predict(theta, np.ones(4), [1.0], learning_rate=math.nan), "finite"),
        (lambda: lazy_predict(theta, np.ones(4), [-1.0]), "times must be >= 0"),
        (lambda: lazy_predict(theta * math.nan, np.ones(4), [1.0]), "non-finite"),
        (lambda: _dmft_problem(depth=2.5), "depth (number of hidden layers L) must be an int"),
        (lambda: _dmft_problem(depth=0), "must be an integer >= 1"),
        (lambda: _dmft_problem(eta=math.nan), "eta must be finite"),
        (lambda: _dmft_problem(eta=math.inf), "eta must be finite"),
        (lambda: _dmft_problem(gamma0=-1.0), "gamma0 must be > 0"),
        (lambda: _dmft_problem(beta0=math.nan), "beta0 must be finite"),
        (lambda: _dmft_problem(steps=0), "steps must be an integer >= 1"),
        (lambda: TwoLayerParticles(n_sites=0), "n_sites must be an integer >= 2"),
        (lambda: TwoLayerParticles(n_sites=-5), "n_sites must be an integer >= 2"),
        (lambda: MonteCarlo(n_sites=1), "n_sites must be an integer >= 2"),
        (lambda: MonteCarlo(batch=0), "batch must be an integer >= 1"),
        (lambda: MonteCarlo(mixing=math.nan), "mixing must be finite"),
        (solve(seed=-1), "seed must be an integer in 0.."),
        (solve(tol=math.nan), "tol must be finite"),
        (solve(max_sweeps=0), "max_sweeps must be an integer >= 1"),
        (lambda: compare_widths(_dmft_problem(), None, []), "widths needs at least one width"),
        (lambda: compare_widths(_dmft_problem(), None, [0]), "widths must be positive"),
        (lambda: compare_widths(_dmft_problem(), None, [8], seeds=0), "seeds must be an integer"),
        (lambda: train_finite(_dmft_problem(), 0), "width must be an integer >= 1"),
        (lambda: train_finite(_dmft_problem(), 8, seeds=(-1,)), "seeds must be an integer in"),
        (lambda: train_finite(_dmft_problem(), 8, seeds=()), "at least one seed"),
    ]
    for arr, needle in BAD_ARRAYS:
        cases.append((mlp_with(arr), needle))
        cases.append((lambda arr=arr: _dmft_problem(X=arr, y=np.ones(len(arr))), needle))
    return cases


def mlp_with(arr):
    from infwidth.kernels import mlp_kernels

    return lambda: mlp_kernels(arr, depth=1, activation="relu")


@pytest.mark.parametrize("case", range(len(_api_cases())))
def test_bad_input_to_the_api(case):
    call, needle = _api_cases()[case]
    with pytest.raises(InfwidthError) as exc:
        call()
    assert needle in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def test_api_canonicalises_what_it_accepts():
    from infwidth.dmft import DMFTProblem
    from infwidth.sim import CoordCheckConfig

    cfg = CoordCheckConfig(widths=[128, np.int64(64)], lr=np.float32(0.5), seed=np.uint32(7))
    assert cfg.widths == (64, 128) and cfg.lr == 0.5 and cfg.seed == 7
    p = DMFTProblem(np.eye(3, 4), [1, -1, 1], depth=np.int64(2), eta=1)
    assert p.depth == 2 and type(p.depth) is int and type(p.eta) is float
