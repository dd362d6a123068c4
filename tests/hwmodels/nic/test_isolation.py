"""Isolation as a property of the hardware: whatever the descriptors say and whatever the
functions try, no frame for one function's MAC/VLAN is written into another function's memory,
and no transmit reads another function's memory.

The hypervisor is trusted (it maps each domain only to that domain's frames); drivers are not:
descriptors carry any I/O address, doorbells and masks name any queue, and every function tries
every configuration operation. Checked on the model (many examples) and on the RTL.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwmodels.nic import NICFrontend, NICModel, NICOp, NICParams, Op, OpBatch, Status
from tests.hwmodels.nic.conftest import get_sim
from tests.hwmodels.nic.harness import (
    CONFIGS,
    concat_batches,
    frame_of,
    gaps_strategy,
    mac_of,
    op_strategy,
    owner_of_frame,
    setup_ops,
    vlan_of,
    with_gaps,
)

P = CONFIGS["sriov"]


def untrusted_ops(p: NICParams) -> st.SearchStrategy[NICOp]:
    """Everything but honest reconfiguration: PF filter/VLAN/default writes are left out so the
    MAC -> function assignment stays that of the bring-up; the hypervisor remaps only a domain's
    own frames. Any function may attempt anything."""
    pages = 1 << p.page_bits

    def tame(op: NICOp) -> NICOp | None:
        if op.op in (Op.FILTER, Op.VLAN, Op.DEFAULT_Q) and op.fn == 0:
            return None
        if op.op == Op.MAP and op.fn == 0:
            return op._replace(pfn=frame_of(op.domain, op.pfn % pages))
        return op

    return op_strategy(p).map(tame).filter(lambda op: op is not None)  # type: ignore[arg-type]


def expected_function(p: NICParams, mac: int, vlan: int) -> int:
    """The function a frame belongs to under the bring-up's filters (misses: the PF)."""
    for f in range(min(p.functions, p.filters)):
        if (mac, vlan) == (mac_of(f), vlan_of(f)):
            return f
    return 0


def check_isolation(nic: NICFrontend, p: NICParams, ops: OpBatch) -> int:
    """Run ``ops``; assert the property on every DMA; return how many DMAs were checked."""
    r = nic.run(ops)
    ok = r.events["status"] == Status.OK
    checked = 0
    for i in map(int, ok.nonzero()[0]):
        owner = owner_of_frame(int(r.events["dma_addr"][i]) >> 12)
        if ops.op[i] == Op.RX:
            want = expected_function(p, int(ops.mac[i]), int(ops.vlan[i]))
            assert int(r.events["fn"][i]) == want, f"op {i}: frame for {want} went elsewhere"
        else:
            want = int(r.events["fn"][i])
        assert owner == want, f"op {i}: DMA of function {want} touched memory of {owner}"
        checked += 1
    # Every configuration attempt by a VF was refused.
    vf_config = (ops.op >= Op.FILTER) & (ops.fn != 0)
    assert (r.events["status"][vf_config] == Status.DENIED).all()
    return checked


def _stimulus(p: NICParams, n: int) -> st.SearchStrategy[OpBatch]:
    setup = OpBatch.from_ops(setup_ops(p))
    return st.lists(untrusted_ops(p), min_size=n // 2, max_size=n).flatmap(
        lambda ops: gaps_strategy(len(ops)).map(
            lambda gaps: concat_batches(setup, with_gaps(ops, gaps))))


ISO_SETTINGS = settings(derandomize=True, deadline=None, max_examples=100,
                        suppress_health_check=[HealthCheck.too_slow,
                                               HealthCheck.filter_too_much])


@ISO_SETTINGS
@given(ops=_stimulus(P, 150))
def test_no_dma_crosses_functions_model(ops: OpBatch) -> None:
    check_isolation(NICModel(P), P, ops)


def test_no_dma_crosses_functions_rtl(nic_sims: dict) -> None:
    sim = get_sim(nic_sims, P, "compiled")
    total = []

    @settings(ISO_SETTINGS, max_examples=60)
    @given(ops=_stimulus(P, 150))
    def check(ops: OpBatch) -> None:
        sim.reset()
        total.append(check_isolation(sim, P, ops))

    check()
    assert sum(total) > 500  # the property was exercised, not vacuously true


def test_the_property_would_catch_a_leak() -> None:
    # A hypervisor that maps VF 1's page to the PF's frame breaks isolation; the check sees it.
    nic = NICModel(P)
    setup = OpBatch.from_ops([*setup_ops(P), NICOp.map(1, 0x1000, frame_of(0, 1)),
                              NICOp.inv_domain(1)])
    flow_ops = [NICOp.rx(mac_of(1), vlan_of(1), flow) for flow in range(8)]
    ops = concat_batches(setup, OpBatch.from_ops(flow_ops))
    try:
        check_isolation(nic, P, ops)
    except AssertionError as exc:
        assert "touched memory of 0" in str(exc)
    else:
        raise AssertionError("a leak went unnoticed")
