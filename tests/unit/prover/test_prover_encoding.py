"""Pure helpers: felt decoding, verifier calldata, run args of a plan, logrows sizing, version guard."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector

from models.spec import FIELD_MODULUS, LENDING, OPTIONS
from prover.circuit import (PRODUCTION_PLAN, _smallest_logrows, check_ezkl_version, decode_outputs,
                            felt_from_hex)
from prover.errors import EzklVersionError
from prover.evm import PLAIN_VERIFY_SIGNATURE, REUSABLE_VERIFY_SIGNATURE, verifier_calldata


def _felt_hex(value: int) -> str:
    return "0x" + (value % FIELD_MODULUS).to_bytes(32, "little").hex()


def test_felts_are_little_endian_and_outputs_signed() -> None:
    assert felt_from_hex(_felt_hex(5)) == 5
    values = [1.0, -0.5, 0.0, 0.75, 2**-20, 0.5, 0.625]  # five lending outputs, then the passed-through state
    felts = [_felt_hex(round(v * 2**20)) for v in values]
    decoded = decode_outputs(felts, 1, 20, LENDING)
    assert decoded.shape == (1, LENDING.width)
    np.testing.assert_allclose(decoded[0], values)


def test_outputs_decode_per_market_rows_of_the_layout() -> None:
    rows = [[(i + 1) / 8 + j * 2**-10 for j in range(OPTIONS.width)] for i in range(3)]
    felts = [_felt_hex(round(v * 2**20)) for row in rows for v in row]
    np.testing.assert_allclose(decode_outputs(felts, 3, 20, OPTIONS), rows)
    with pytest.raises(ValueError):
        decode_outputs(felts[:-1], 3, 20, OPTIONS)


def test_reusable_calldata_round_trips() -> None:
    proof, instances, vka = b"\x01\x02" * 40, [7, FIELD_MODULUS - 1], [b"\x11" * 32, b"\x22" * 32]
    data = verifier_calldata(proof, instances, vka)
    assert data[:4] == function_signature_to_4byte_selector(REUSABLE_VERIFY_SIGNATURE)
    assert abi_decode(["bytes", "uint256[]", "bytes32[]"], data[4:]) == (proof, tuple(instances), tuple(vka))


def test_plain_calldata_has_no_vka() -> None:
    data = verifier_calldata(b"\xff" * 64, [1, 2, 3])
    assert data[:4] == function_signature_to_4byte_selector(PLAIN_VERIFY_SIGNATURE)
    assert abi_decode(["bytes", "uint256[]"], data[4:]) == (b"\xff" * 64, (1, 2, 3))


def test_plan_run_args_carry_the_measured_choices() -> None:
    args = PRODUCTION_PLAN.run_args(logrows=12)
    assert (args.input_scale, args.param_scale, args.logrows) == (13, 20, 12)
    assert args.param_visibility == "fixed" and args.output_visibility == "public"
    fixed = replace(PRODUCTION_PLAN, decomp_base=1024, decomp_legs=3, num_inner_cols=1).run_args()
    assert (fixed.decomp_base, fixed.decomp_legs, fixed.num_inner_cols) == (1024, 3, 1)


@pytest.mark.parametrize(("rows", "checks", "expected"), [
    (2869, [[-1, 1], [0, 1023]], 12),    # rows bind
    (100, [[0, 16383]], 15),             # the range-check table binds
    (4096 - 16, [[0, 1023]], 12),        # exactly full, reserved rows included
])
def test_smallest_logrows(rows: int, checks: list[list[int]], expected: int) -> None:
    assert _smallest_logrows({"num_rows": rows, "required_range_checks": checks}) == expected


def test_artifacts_of_another_ezkl_version_are_refused() -> None:
    check_ezkl_version("23.0.5", "manifest")
    with pytest.raises(EzklVersionError, match="22.1.0"):
        check_ezkl_version("22.1.0", "manifest")
