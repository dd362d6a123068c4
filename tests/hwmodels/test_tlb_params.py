"""TLB parameters: defaults from ANCHORS, validation messages, the flat dotted keys."""

from __future__ import annotations

import dataclasses

import pytest

from hwmodels.tlb import DISABLED, TLBArrayParams, TLBParams


def test_defaults_follow_anchors() -> None:
    p = TLBParams()
    assert (p.l4k.entries, p.l4k.ways, p.l4k.sets) == (64, 4, 16)  # ChampSim DTLB 16x4
    assert (p.vpid_bits, p.pcid_bits) == (16, 12)  # Intel SDM
    assert (p.va_bits, p.pa_bits) == (48, 52)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"entries": 64, "ways": 3}, "entries: expected a multiple of ways (3), got 64"),
        ({"entries": 24, "ways": 4}, "entries/ways: expected a power-of-two number of sets, got 6"),
        ({"entries": 12, "ways": 6, "policy": "plru"}, "ways: plru needs a power of two, got 6"),
        ({"entries": 8, "ways": 0}, "ways: expected 1 .. entries (8), got 0"),
        ({"entries": 8, "ways": 16}, "ways: expected 1 .. entries (8), got 16"),
        ({"entries": -1, "ways": 1}, "entries: expected >= 0, got -1"),
        ({"entries": 8, "ways": 2, "policy": "fifo"},
         "policy: expected one of ('lru', 'plru', 'random'), got 'fifo'"),
    ],
)  # fmt: skip
def test_array_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        TLBArrayParams(**kwargs)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"va_bits": 39}, "va_bits: expected one of (48, 57), got 39"),
        ({"pa_bits": 53}, "pa_bits: expected 32 .. 52, got 53"),
        ({"vpid_bits": 17}, "vpid_bits: expected 0 .. 16, got 17"),
        ({"pcid_bits": 13}, "pcid_bits: expected 0 .. 12, got 13"),
        ({"lfsr_seed": 0}, "lfsr_seed: expected 1 .. 0xFFFF, got 0x0"),
        ({"l4k": DISABLED, "l2m": DISABLED, "l1g": DISABLED},
         "l4k/l2m/l1g: expected at least one array with entries"),
        ({"l1g": TLBArrayParams(1 << 18, 1)},
         "l1g: expected fewer sets, 262144 sets leave no tag bits in a 48-bit address"),
    ],
)  # fmt: skip
def test_tlb_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        TLBParams(**kwargs)
    assert str(err.value) == message


def test_disabled_array_is_canonical() -> None:
    assert TLBArrayParams(0, 4) == DISABLED
    assert hash(TLBParams(l2m=TLBArrayParams(0, 4))) == hash(TLBParams(l2m=DISABLED))


def test_params_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        TLBParams().va_bits = 57  # type: ignore[misc]


def test_from_flat_maps_dotted_keys() -> None:
    p = TLBParams.from_flat(
        {
            "tlb.l1.entries": 32,
            "tlb.l1.ways": 8,
            "tlb.l1.policy": "random",
            "tlb.l1.2m.entries": 0,
            "tlb.l1.1g.policy": "plru",
            "tlb.vpid": False,
            "tlb.pcid": True,
            "tlb.va_bits": 57,
            "workload.name": "ignored",
        }
    )
    assert p.l4k == TLBArrayParams(32, 8, "random")
    assert p.l2m == DISABLED
    assert p.l1g == TLBArrayParams(4, 4, "plru")
    assert (p.vpid_bits, p.pcid_bits, p.va_bits, p.pa_bits) == (0, 12, 57, 52)
    assert TLBParams.from_flat({}) == TLBParams()


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        ({"tlb.l1.size": 3}, "tlb.l1.size: unknown TLB key"),
        ({"tlb.vpid": 1}, "tlb.vpid: expected a bool (tagging on/off), got 1"),
        ({"tlb.l1.ways": 5}, "tlb.l1.entries: expected a multiple of tlb.l1.ways (5), got 64"),
    ],
)
def test_from_flat_rejects_bad_keys(flat: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        TLBParams.from_flat(flat)
    assert str(err.value) == message
