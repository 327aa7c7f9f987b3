import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
# In-process CLI runs must not write JAX's compilation cache into the home directory; the
# cache itself is tested in a subprocess (tests/sim/test_cli.py).
os.environ.setdefault("INFWIDTH_XLA_CACHE", "off")


# Ways a saved resume entry (infwidth._store) can be damaged; every one must read as a miss.
DAMAGES = ("truncated", "empty", "garbage", "pickled", "npy", "stale")


def _damage(path, how):
    """Damage the store entry at ``path`` (``.npz`` or ``.json``) in the way ``how``."""
    import json
    import pickle

    import numpy as np

    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(bytes(range(256)) * 8)
    elif how == "pickled" and path.suffix == ".json":
        path.write_bytes(pickle.dumps({"format": 2, "data": object}))
    elif how == "pickled":  # the right key, but an array only unpickling could read
        with np.load(path) as z:
            head = z["__store__"]
        np.savez(path, __store__=head, a0=np.array([{"evil": 1}], dtype=object))
    elif how == "npy":
        with open(path, "wb") as fh:
            np.save(fh, np.arange(3.0))
    elif how == "stale" and path.suffix == ".json":
        path.write_text(json.dumps(json.loads(data) | {"key": "0" * 64}))
    elif how == "stale":
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        head = json.loads(str(arrays["__store__"])) | {"key": "0" * 64}
        np.savez(path, **(arrays | {"__store__": np.asarray(json.dumps(head))}))
    else:
        raise ValueError(how)


@pytest.fixture
def damage():
    """``damage(path, how)``: corrupt a saved resume entry (``how`` in ``DAMAGES``)."""
    return _damage


@pytest.fixture(params=DAMAGES)
def damage_kind(request):
    """Each way of damaging a resume entry, in turn (see ``DAMAGES``)."""
    return request.param
