"""Record a real capture without tcpdump: HTTP fetches from a local server, read off the
loopback interface through an ``AF_PACKET`` socket (Linux, root) and written as classic pcap
(microsecond timestamps, little-endian, link type 1: Ethernet).

This is how ``tests/data/loopback_http.pcap`` was recorded::

    sudo python examples/pcap/capture_loopback.py tests/data/loopback_http.pcap

Replay any capture through a mechanism with ``codesign run --workload pcap --mechanism
pv-split --set workload.path=FILE``.
"""

from __future__ import annotations

import argparse
import http.server
import socket
import struct
import threading
import time
import urllib.request

ETH_P_ALL = 0x0003


def capture(fetches: int) -> list[tuple[int, bytes]]:
    """(time in ns, frame) of every frame the loopback interface carries while ``fetches``
    HTTP GETs go to a local server, each frame once."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind(("lo", 0))
    sock.settimeout(0.2)
    frames: list[tuple[int, bytes]] = []
    done = threading.Event()

    def grab() -> None:
        while not done.is_set():
            try:
                data, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            if addr[2] != socket.PACKET_OUTGOING:  # loopback delivers each frame twice
                frames.append((time.time_ns(), data))

    reader = threading.Thread(target=grab)
    reader.start()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    time.sleep(0.3)
    for _ in range(fetches):
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        with urllib.request.urlopen(url, timeout=2) as response:
            response.read()
    time.sleep(0.3)
    done.set()
    reader.join()
    server.shutdown()
    sock.close()
    return frames


def write_pcap(path: str, frames: list[tuple[int, bytes]]) -> None:
    """Classic pcap: global header, then a 16-byte header and the bytes of each frame."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ns, data in frames:
            f.write(struct.pack("<IIII", ns // 10**9, ns % 10**9 // 1000, len(data),
                                len(data)))
            f.write(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="pcap file to write")
    parser.add_argument("--fetches", type=int, default=5, help="HTTP GETs (default 5)")
    args = parser.parse_args()
    frames = capture(args.fetches)
    write_pcap(args.output, frames)
    print(f"{args.output}: {len(frames)} frames, {sum(len(d) for _, d in frames)} bytes")


if __name__ == "__main__":
    main()
