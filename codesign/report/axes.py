"""The axes a report compares groups along, computed once for the summary, its plots, the
claims and the comparison of two stores, so that they can never disagree.

A *setting* is a value of the swept parameters every group (mechanism) shares -- a frame size,
an offered load, a TLB size -- with parameters zipped together (one value of each for each
value of the others, as a ``[[zip]]`` makes them) counted once; a group's *own knobs* are
parameters only it sweeps, over which it is taken at its best; seeds are averaged, not
compared along (:mod:`codesign.report.stats`).
"""

from __future__ import annotations

from typing import Any

from codesign.report.data import ReportData, value


def fmt(v: Any) -> str:
    """A number or value as a table shows it.

    >>> fmt(True), fmt(4800.0), fmt(0.123456789), fmt(12345678.9)
    ('true', '4800', '0.123457', '1.23457e+07')
    """
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def comparison_axes(data: ReportData) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """What a report compares the groups at and over, as its summary does: ``by``, the
    settings (swept parameters every group shares, one per set of zipped ones, the report's
    ``x`` last); ``zips``, the parameters zipped with each of them; ``over``, the groups'
    own knobs each group is taken at its best over."""
    group = data.group()
    varying = compared(data)
    shared = shared_axes(data, varying, group)
    # Parameters zipped together are one axis: the first stands for the others.
    zips = zip_groups(data.done, shared, data.x_axis())
    by = sorted(zips, key=shared.index)
    # What a group is at its best over: its own knobs that take several values in it (a
    # knob constant within each group is just that group's configuration).
    return by, zips, own_knobs(data, varying, group, shared)


def compared(data: ReportData) -> list[str]:
    """The varying parameters a comparison is made over: not the workloads' defining ones
    (the workload's name says them) nor the seeds (replicates are averaged)."""
    skip = {data.group(), *data.defining(), *data.replicates()}
    return [k for k in data.varying() if k not in skip]


def shared_axes(data: ReportData, varying: list[str], group: str) -> list[str]:
    """The swept parameters every group is compared at: those every done point has, taking
    the same values in every group (a frame size, an offered load, a TLB size) -- not a
    group's own knobs (``sriov.*``, or ``nic.vfs`` set per mechanism). The report's ``x``
    last."""
    by_group: dict[str, list[dict[str, Any]]] = {}
    for r in data.done:
        by_group.setdefault(str(value(r, group)), []).append(r)
    shared = []
    for k in varying:
        if any(k not in r["params"] for r in data.done):
            continue
        sets = [frozenset(map(fmt, (value(r, k) for r in rows))) for rows in by_group.values()]
        if all(s_ == sets[0] for s_ in sets):
            shared.append(k)
    x = data.x_axis()
    return sorted(shared, key=lambda k: k == x)  # x last: it varies fastest down the rows


def zip_groups(rows: list[dict[str, Any]], keys: list[str],
                first: str | None = None) -> dict[str, list[str]]:
    """``keys`` as axes: each maps to the keys zipped with it (one value of each for each of
    its values, as a ``[[zip]]`` makes them), in order, ``first`` leading its own group."""
    order = sorted(keys, key=lambda k: k != first)
    groups: dict[str, list[str]] = {}
    for k in order:
        leader = next((g for g in groups if zipped(rows, g, k)), None)
        if leader is None:
            groups[k] = []
        else:
            groups[leader].append(k)
    return groups


def own_knobs(data: ReportData, varying: list[str], group: str, by: list[str]) -> list[str]:
    """What a group is at its best over: its own knobs that take several values within it
    (a knob constant within each group is just that group's configuration)."""
    members: dict[str, list[dict[str, Any]]] = {}
    for r in data.done:
        members.setdefault(str(value(r, group)), []).append(r)
    return [k for k in varying if k not in by and k != group
            and any(len({fmt(value(r, k)) for r in rows}) > 1 for rows in members.values())]


def zipped(rows: list[dict[str, Any]], x: str, k: str) -> bool:
    """Whether ``k`` takes one value for each value of ``x`` and the other way round."""
    pairs = {(fmt(value(r, x)), fmt(value(r, k))) for r in rows}
    return len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})
