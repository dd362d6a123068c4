"""Parameters: defaults, dotted keys, and invalid combinations rejected with one-line errors."""

from __future__ import annotations

import pytest

from hwmodels.pagewalk import NTLBParams, PWCParams, WalkerParams


def test_defaults_follow_champsim_pscs() -> None:
    p = WalkerParams()
    assert p.pwc_guest.entries == (32, 8, 4, 2) == p.pwc_nested.entries
    assert (p.ntlb.entries, p.ntlb.ways, p.ntlb.sets) == (16, 4, 4)
    assert p.max_refs == 24


def test_flat_keys_one_number_or_per_level() -> None:
    p = WalkerParams.from_flat({"pwc.entries": 2, "guest.levels": 5, "host.levels": 3,
                                "ntlb.entries": 0, "tlb.l1.entries": 99})
    assert p.pwc_guest == p.pwc_nested == PWCParams((2, 2, 2, 2))
    assert (p.guest_levels, p.host_levels, p.ntlb.enabled, p.max_refs) == (5, 3, False, 23)
    p = WalkerParams.from_flat({"pwc.guest.entries": [1, 2, 3, 4], "pwc.entries": 0})
    assert p.pwc_guest.entries == (1, 2, 3, 4) and not p.pwc_nested.enabled


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        ({"ntlb.entries": 12, "ntlb.ways": 8}, "ntlb.entries: expected a multiple of ntlb.ways"),
        ({"ntlb.entries": 24, "ntlb.ways": 8}, "ntlb.entries: expected a power-of-two number"),
        ({"ntlb.entries": 4, "ntlb.ways": 8}, "ntlb.ways: expected 1 .. ntlb.entries"),
        ({"ntlb.entries": -1}, "ntlb.entries: expected an integer >= 0"),
        ({"guest.levels": 1}, "guest.levels: expected 2 .. 5, got 1"),
        ({"host.levels": 6}, "host.levels: expected 2 .. 5, got 6"),
        ({"pwc.entries": [1, 2]}, "pwc.entries: expected an integer or 4 integers"),
        ({"pwc.nested.entries": -2}, "pwc.nested.entries: expected counts >= 0"),
        ({"pwc.size": 3}, "pwc.size: unknown page-walk key"),
    ],
)
def test_invalid_combinations_are_one_line_errors(flat: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        WalkerParams.from_flat(flat)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_disabled_ntlb_has_one_form() -> None:
    assert NTLBParams(0, 8) == NTLBParams(0, 1)
