"""Network specifications: the one data model shared by every engine."""

from ._builtin import ARCHITECTURES, builtin, cnn, mlp, resmlp, transformer
from ._extended import EXTENDED
from ._fans import DEPTH, WIDTH, axis_exponent, fan_str, parse_fan, width_exponent
from ._io import load_spec, spec_from_dict
from ._network import (
    AXIS_DIRECTIONS,
    KIND_ROLES,
    NetworkSpec,
    OperationSpec,
    TensorSpec,
    make_tensor,
    parse_exponent,
    parse_rational,
    role_from_exponents,
)

__all__ = [
    "ARCHITECTURES",
    "AXIS_DIRECTIONS",
    "DEPTH",
    "EXTENDED",
    "KIND_ROLES",
    "WIDTH",
    "axis_exponent",
    "NetworkSpec",
    "OperationSpec",
    "TensorSpec",
    "builtin",
    "cnn",
    "fan_str",
    "load_spec",
    "make_tensor",
    "mlp",
    "parse_exponent",
    "parse_fan",
    "parse_rational",
    "resmlp",
    "role_from_exponents",
    "spec_from_dict",
    "transformer",
    "width_exponent",
]
