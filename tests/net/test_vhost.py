"""``vhost``: virtio-net with vhost-net -- a host worker per VM, event-index notifications,
ioeventfd kicks and irqfd interrupts with exits or posted."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest

from codesign.cli import main
from codesign.errors import InputError
from codesign.harness import Point, evaluate, resolve
from codesign.net.common import from_nic, run_paths
from codesign.net.graph import DataPath, paths_graph, saturation_pps
from codesign.net.vhost import COSTS, VhostParams, paths
from codesign.platforms import bundled, load_platform
from codesign.registry import default_registry
from tests.net.helpers import (
    LINE_1518,
    PLATFORM,
    check_law,
    check_line_rate,
    check_low_load_latency,
    check_names_and_traps,
    mech_params,
    run,
    stream,
)

c = PLATFORM.value
CLOCK = c("cpu.clock_mhz") * 1e6
FAST = PLATFORM.with_overrides({k: 10 for k in (
    "net.driver.rx", "net.bridge", "net.vhost.rx", "net.irq", "irq.inject", "net.stack.rx",
    "vmexit.kernel", "notify.ioeventfd", "net.napi.poll")}
    | {"net.copy_per_byte": 0, "net.vhost.copy_per_byte": 0})
POSTED = {"virtio.posted_interrupts": True}
LOW = {"packets": 500, "offered_pps": 10_000}
# One interrupt delivered with exits: the IPI's exit, the injection, the EOI's exit.
EXITS = 2 * c("vmexit.kernel") + c("irq.inject")


def rx_path(platform=PLATFORM, vm: int = 0, **kw) -> DataPath:
    return paths(VhostParams(**kw), platform, vm)[0]


def tx_path(platform=PLATFORM, vm: int = 0, **kw) -> DataPath:
    return paths(VhostParams(**kw), platform, vm)[1]


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


# --- registration, parameters, the NIC block -----------------------------------------------

def test_registered_with_the_fixed_metric_names() -> None:
    mech = default_registry().mechanism("vhost")
    assert (mech.accepts, mech.hardware, mech.version) == (("packets",), ("nic",), "2")
    assert mech.costs == COSTS and mech.headline[0].startswith("throughput")
    PLATFORM.require(mech.costs, "vhost")
    m = run("vhost", stream(packets=3000, offered_gbps=0.2, direction="both"))
    check_names_and_traps(m, 3000)
    assert m["drops"] == 0
    assert m["cycles_per_packet.driver_domain"] == 0  # the host's cores are "host"
    assert min(m[f"cycles_per_packet.{d}"] for d in ("host", "guest", "hypervisor")) > 0
    assert {"cpu.utilization.host0", "cpu.utilization.vhost0", "cpu.utilization.vm0"} <= set(m)
    assert set(m.traps_by_reason()) == {"vmexit.mmio", "vmexit.external_interrupt",
                                        "vmexit.eoi"}


def test_listed_by_the_cli_with_its_parameters_and_costs() -> None:
    status, out, _ = cli("list")
    assert status == 0 and "vhost" in out
    status, out, _ = cli("list", "params", "vhost")
    assert status == 0 and "mechanism vhost:" in out
    for key in ("virtio.ring_size", "virtio.posted_interrupts", "vhost.batch", "tap.queue_len",
                "napi.budget", "nic.ring_size", "net.vhost.rx", "net.vhost.copy_per_byte",
                "notify.ioeventfd"):
        assert key in out, key


@pytest.mark.parametrize("name", sorted(bundled()))
def test_every_bundled_profile_prices_vhost_with_sources(name: str) -> None:
    p = load_platform(name)
    p.require(COSTS, "vhost")
    for key in ("net.vhost.rx", "net.vhost.tx", "net.vhost.copy_per_byte"):
        assert p.costs[key].source.startswith("assumption: "), (name, key)
        assert key in p.costs[key].source  # how to override it
    # The worker's copy touches a cold side (DMA-written or another core's lines): dearer
    # per byte than the stack's cached copy.
    assert p.value("net.vhost.copy_per_byte") > p.value("net.copy_per_byte")


@pytest.mark.parametrize("params, message", [
    ({"virtio.ring_size": 100}, "virtio.ring_size: expected a power of two, got 100"),
    ({"virtio.ring_size": 65536}, "virtio.ring_size: expected an integer from 2 to 32768"),
    ({"vhost.batch": 0}, "vhost.batch: expected an integer from 1 to 32768, got 0"),
    ({"tap.queue_len": 0}, "tap.queue_len: expected an integer from 1"),
    ({"virtio.posted_interrupts": "maybe"}, "virtio.posted_interrupts: expected true or false"),
    ({"virtio.ring_sise": 256}, "did you mean 'virtio.ring_size'"),
    ({"nic.ring_size": 100}, "nic.ring_size: expected a power of two"),
])
def test_bad_parameters_are_one_line_errors_before_any_work(params: dict[str, Any],
                                                            message: str) -> None:
    point = Point("fixed", "vhost", params={"workload.packets": 100, **params})
    with pytest.raises(InputError, match=message) as err:
        resolve(point)
    assert "\n" not in str(err.value)


def test_a_point_runs_through_the_harness() -> None:
    m = evaluate(Point("fixed", "vhost", params={
        "workload.packets": 2000, "workload.offered_gbps": 1.0, "workload.direction": "both",
        "workload.vms": 2, "hw.cost": False}))
    assert m["packets"] == 2000 and m["drops"] == 0
    assert not any(k.startswith("hw.") for k in m)
    assert {"cpu.utilization.vhost0", "cpu.utilization.vhost1"} <= set(m)


# --- the path: stages, resources, costs ----------------------------------------------------

def test_the_receive_path_stages_resources_and_costs() -> None:
    rx = rx_path(vm=3)
    names = [s.name for s in rx.stages]
    assert names == ["wire_rx", "nic_rx", "driver_rx", "bridge_rx", "vhost_rx.3", "signal_rx.3",
                     "irq_rx.3", "virtio_rx.3", "stack_rx.3"]
    assert rx.hold_before == "driver_rx"  # the host's NIC driver waits for the NIC's vector
    st = {s.name: s for s in rx.stages}
    where = {n: (s.resource.name, s.owner) for n, s in st.items() if n not in ("wire_rx",
                                                                              "nic_rx")}
    assert where == {"driver_rx": ("host0", "host"), "bridge_rx": ("host0", "host"),
                     "vhost_rx.3": ("vhost3", "host"), "signal_rx.3": ("vhost3", "hypervisor"),
                     "irq_rx.3": ("vm3", "hypervisor"), "virtio_rx.3": ("vm3", "guest"),
                     "stack_rx.3": ("vm3", "guest")}
    # The host driver is native-net's: its ring, its interrupt, its NAPI rounds.
    drv = st["driver_rx"]
    assert (drv.per_packet, drv.per_irq, drv.capacity) == (c("net.driver.rx"), c("net.irq"), 255)
    assert (drv.per_batch, drv.batch) == (c("net.napi.poll"), 64)
    assert st["bridge_rx"].per_packet == c("net.bridge")
    # The worker: its per-frame work and the copy into guest memory, the tap's queue.
    vh = st["vhost_rx.3"]
    assert (vh.per_packet, vh.per_byte, vh.capacity) == (
        c("net.vhost.rx"), c("net.vhost.copy_per_byte"), 500)
    # The irqfd signal: an eventfd notification of the guest, at most one a batch of 64.
    sig = st["signal_rx.3"]
    assert (sig.per_packet, sig.per_batch, sig.batch, sig.notify) == (
        0, c("notify.ioeventfd"), 64, "irq_rx.3")
    assert not sig.traps  # a signal from the host, no trap of the guest
    # KVM delivers it with two exits and an injection; the virtqueue holds 256 frames.
    irq = st["irq_rx.3"]
    assert (irq.per_irq, irq.capacity) == (EXITS, 256)
    assert set(irq.traps) == {("vmexit.external_interrupt", "irq", 1), ("vmexit.eoi", "irq", 1)}
    virtio = st["virtio_rx.3"]
    assert (virtio.per_packet, virtio.per_irq, virtio.per_batch) == (
        c("net.driver.rx"), c("net.irq"), c("net.napi.poll"))
    stack = st["stack_rx.3"]
    assert (stack.per_packet, stack.per_byte) == (c("net.stack.rx"), c("net.copy_per_byte"))


def test_posted_interrupts_change_only_the_delivery() -> None:
    plain, posted = rx_path(), rx_path(posted=True)
    irq = posted.stages[6]
    assert irq.name == "irq_rx.0" and irq.per_irq == c("irq.posted")
    assert irq.traps == () and irq.owner == "guest"  # no exit: the guest's own cycles
    assert [s for s in plain.stages if s.name != "irq_rx.0"] == \
        [s for s in posted.stages if s.name != "irq_rx.0"]
    assert tx_path() == tx_path(posted=True)


def test_the_transmit_path_stages_resources_and_costs() -> None:
    tx = tx_path(vm=1)
    st = {s.name: s for s in tx.stages}
    assert list(st) == ["stack_tx.1", "virtio_tx.1", "kick_tx.1", "vhost_tx.1", "bridge_tx.1",
                        "driver_tx.1", "nic_tx", "wire_tx"]
    assert tx.hold_before is None
    # The kick: an MMIO exit handled in the kernel by ioeventfd, only when vhost asked.
    kick = st["kick_tx.1"]
    assert (kick.resource.name, kick.owner, kick.notify) == ("vm1", "hypervisor", "vhost_tx.1")
    assert (kick.per_packet, kick.per_batch, kick.batch) == (
        0, c("vmexit.kernel") + c("notify.ioeventfd"), 1)
    assert kick.traps == (("vmexit.mmio", "batch", 1),)
    # The worker copies out of guest memory, then the tap, the bridge and the NIC driver's
    # transmit run in its context, on its core.
    vh = st["vhost_tx.1"]
    assert (vh.per_packet, vh.per_byte, vh.capacity) == (
        c("net.vhost.tx"), c("net.vhost.copy_per_byte"), 256)
    assert {st[n].resource.name for n in ("vhost_tx.1", "bridge_tx.1", "driver_tx.1")} == \
        {"vhost1"}
    assert (st["bridge_tx.1"].per_packet, st["driver_tx.1"].per_packet) == (
        c("net.bridge"), c("net.driver.tx"))
    assert st["stack_tx.1"].per_byte == c("net.copy_per_byte")
    assert st["virtio_tx.1"].per_packet == c("net.driver.tx")


def test_the_ring_sizes_and_the_batch_reach_the_stages() -> None:
    st = {s.name: s for s in rx_path(vq_size=1024, tap_queue=50, batch=8, ring_size=512).stages}
    assert (st["irq_rx.0"].capacity, st["vhost_rx.0"].capacity) == (1024, 50)
    assert (st["signal_rx.0"].batch, st["driver_rx"].capacity) == (8, 511)
    assert {s.name: s for s in tx_path(vq_size=1024).stages}["vhost_tx.0"].capacity == 1024


# --- saturation, line rate, latency ---------------------------------------------------------

def test_saturation_agrees_with_the_bottleneck_law_of_its_graph() -> None:
    law = check_law("vhost", rx_path(), PLATFORM)
    # The worker is the bottleneck: its frame, 64 copied bytes, one signal per batch of 64.
    per_frame = c("net.vhost.rx") + 64 * c("net.vhost.copy_per_byte") + \
        c("notify.ioeventfd") / 64
    assert law == pytest.approx(CLOCK / per_frame)
    # Both ways: a costlier worker moves the law and the simulation together...
    heavy = PLATFORM.with_overrides({"net.vhost.rx": 2 * c("net.vhost.rx")})
    assert check_law("vhost", rx_path(heavy), heavy) < 0.6 * law
    # ... and so does a costlier bridge, once the host's driver core is the slower one.
    bridge = PLATFORM.with_overrides({"net.bridge": 3000})
    slow = check_law("vhost", rx_path(bridge), bridge)
    host0 = c("net.driver.rx") + 3000 + c("net.napi.poll") / 64
    assert slow == pytest.approx(CLOCK / host0) and slow < law


def test_transmit_saturates_at_the_worker_and_kicks_are_suppressed() -> None:
    s = stream(packets=40_000, offered_pps=3_000_000, direction="tx")
    m = run("vhost", s)
    worker = c("net.vhost.tx") + 64 * c("net.vhost.copy_per_byte") + c("net.bridge") \
        + c("net.driver.tx")
    assert m["throughput.pps"] == pytest.approx(CLOCK / worker, rel=0.01)
    assert m["cpu.utilization.vhost0"] > 0.99 and m["drops"] > 0
    delivered = 40_000 - m["drops"]
    # The busy worker never drains its queue: the guest almost never kicks it.
    assert m["traps.vmexit.mmio"] < delivered / 100
    # The law counts a kick for every frame (an upper bound of a notification's cost): it
    # puts the guest's core first and is a lower bound of the simulation.
    assert saturation_pps(tx_path(), 64) < m["throughput.pps"]


def test_throughput_never_exceeds_line_rate() -> None:
    check_line_rate("vhost", FAST)
    check_line_rate("vhost", FAST, **POSTED)


def test_mtu_frames_reach_the_line_rate() -> None:
    m = run("vhost", stream(packets=20_000, offered_gbps=10.0, frame_bytes=1518))
    assert m["throughput.pps"] >= 0.99 * LINE_1518 and m["drops"] == 0
    assert m["cpu.utilization.vhost0"] > max(m["cpu.utilization.host0"],
                                             m["cpu.utilization.vm0"])


def test_low_load_latency_is_the_sum_of_stage_times() -> None:
    check_low_load_latency("vhost", rx_path())
    check_low_load_latency("vhost", rx_path(posted=True), **POSTED)
    for size in (64, 1518):  # transmit: every frame kicks the idle worker
        m = run("vhost", stream(**LOW, frame_bytes=size, direction="tx"))
        assert m["latency.p99_us"] * 1e3 == pytest.approx(tx_path().lone_ns(size), abs=8.0)


# --- notifications, interrupts, traps --------------------------------------------------------

def test_at_low_load_every_frame_is_signalled_and_kicked() -> None:
    m = run("vhost", stream(**LOW))
    assert m["interrupts.virtual"] == 500  # one irqfd signal a frame: the guest is idle
    assert m["traps.vmexit.external_interrupt"] == m["traps.vmexit.eoi"] == 500
    assert m["traps.total"] == 1000
    # Per frame: the worker's signal, then two exits and an injection on the guest's core.
    assert m["cycles_per_packet.hypervisor"] == pytest.approx(c("notify.ioeventfd") + EXITS)
    tx = run("vhost", stream(**LOW, direction="tx"))
    assert tx["traps.vmexit.mmio"] == tx["traps.total"] == tx["interrupts.virtual"] == 500
    assert tx["cycles_per_packet.hypervisor"] == pytest.approx(
        c("vmexit.kernel") + c("notify.ioeventfd"))


def test_under_load_signals_are_batched_and_suppressed() -> None:
    s = stream(packets=40_000, offered_gbps=20.0, link_gbps=20.0)
    m = run("vhost", s)
    delivered = 40_000 - m["drops"]
    signals = m["interrupts.virtual"]
    # At most one signal check per batch of 64 (the worker never idles), each sent only if
    # the guest drained its ring since the last.
    assert 0 < signals <= delivered / 64 + 2
    assert m["traps.vmexit.external_interrupt"] == m["traps.vmexit.eoi"] == signals
    # Without batching, the event index alone still spares most signals: the guest is
    # still polling when the next frames come.
    each = run("vhost", s, **{"vhost.batch": 1})
    assert signals < each["interrupts.virtual"] < (40_000 - each["drops"]) / 2
    # The guest's interrupt cost per frame falls with the load.
    low = run("vhost", stream(**LOW))
    assert m["cycles_per_packet.hypervisor"] < 0.1 * low["cycles_per_packet.hypervisor"]


def test_posted_interrupts_remove_the_exits() -> None:
    plain = run("vhost", stream(**LOW))
    posted = run("vhost", stream(**LOW), **POSTED)
    assert posted["traps.total"] == 0
    assert posted["interrupts"] == plain["interrupts"]
    # The worker still signals; the delivery is the guest's irq.posted cycles.
    assert posted["cycles_per_packet.hypervisor"] == pytest.approx(c("notify.ioeventfd"))
    assert posted["cycles_per_packet.guest"] - plain["cycles_per_packet.guest"] == \
        pytest.approx(c("irq.posted"))
    assert posted["cycles_per_packet"] == pytest.approx(
        plain["cycles_per_packet"] - EXITS + c("irq.posted"))
    assert posted["latency.mean_us"] < plain["latency.mean_us"]
    # Transmit kicks exit either way: posted interrupts are about delivery to the guest.
    tx = run("vhost", stream(**LOW, direction="tx"), **POSTED)
    assert tx["traps.vmexit.mmio"] == 500


# --- rings, queues, VMs -----------------------------------------------------------------------

def test_a_full_virtqueue_drops() -> None:
    s = stream(packets=20_000, offered_gbps=10.0, frame_bytes=1518)
    slow_guest = PLATFORM.with_overrides({"net.stack.rx": 20_000})
    small = {"virtio.ring_size": 8}
    r = run_paths(s, mech_params("vhost", **small),
                  lambda vm: from_nic(paths(mech_params("vhost", **small), slow_guest, vm)[0]),
                  lambda vm: paths(mech_params("vhost", **small), slow_guest, vm)[1])
    at = r.host.drop_stage[r.host.drop_stage >= 0]
    names = [s.name for s in r.paths[0].stages]
    assert names[int(at.min())] == "irq_rx.0" and (at == names.index("irq_rx.0")).all()
    light = stream(packets=2000, offered_gbps=1.0, frame_bytes=1518)  # 81 kpps: it keeps up
    assert run("vhost", light, slow_guest, **small)["drops"] == 0


def test_the_taps_queue_bounds_the_backlog_before_a_saturated_worker() -> None:
    s = stream(packets=40_000, offered_gbps=20.0, link_gbps=20.0)
    # IOMMU walks instant: the NIC keeps up with the wire, so no backlog builds in its own
    # receive buffer (see test_nic_hardware for the one it builds otherwise).
    instant = PLATFORM.with_overrides({"memory.latency": 0})
    deep = run("vhost", s, instant)
    shallow = run("vhost", s, instant, **{"tap.queue_len": 50})
    assert shallow["throughput.pps"] == pytest.approx(deep["throughput.pps"], rel=0.01)
    # A frame waits behind at most a queue's worth at the worker's rate (plus the ring).
    worker_ns = 1e9 / deep["throughput.pps"]
    assert deep["latency.p99_us"] * 1e3 < (500 + 300) * worker_ns
    assert shallow["latency.p99_us"] < 0.4 * deep["latency.p99_us"]


def test_each_vm_has_its_own_worker_and_shares_the_hosts_driver_core() -> None:
    s = stream(packets=40_000, offered_pps=2_500_000, vms=2)
    two = run("vhost", s)
    one = run("vhost", stream(packets=40_000, offered_pps=2_500_000))
    assert one["throughput.pps"] < 0.65 * 2.5e6 < two["throughput.pps"]
    assert two["drops"] == 0
    util = [two[f"cpu.utilization.vhost{v}"] for v in range(2)]
    assert min(util) > 0.9 * max(util)
    # The law over both VMs' paths (half the frames each): the workers share nothing, the
    # host's driver core is shared.
    graph = paths_graph([rx_path(vm=v) for v in range(2)], shares=[0.5, 0.5])
    host0 = c("net.driver.rx") + c("net.bridge") + c("net.napi.poll") / 64
    assert saturation_pps(graph, 64) == pytest.approx(CLOCK / host0)  # now the bottleneck
    assert saturation_pps(graph, 64) > 1.9 * saturation_pps(rx_path(), 64)
