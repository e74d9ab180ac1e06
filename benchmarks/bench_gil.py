"""How much of a warm verification holds the GIL: the bound on two threads' speed-up.

A warm ``Verifier`` (one synthetic platform, a stream of distinct quotes) spends
most of each call in ``cryptography``'s ECDSA check, which releases the GIL
while OpenSSL verifies; the rest of the call (parsing, the context lookup, the
verdict, the policy, and the SHA-256 ``cryptography`` takes of the signed bytes
before it lets go) holds it.  With a GIL-held fraction ``f`` of a call, two
threads can verify at most ``2 / (1 + f)`` times as fast as one (Amdahl), on two
free cores.

This script times, interleaved round by round in the CPU time of the thread:

* ``call``: ``Verifier.verify`` of the next quote of the stream;
* ``verify``: ``key.verify`` of that quote's signature over its signed bytes
  (the whole ``cryptography`` call);
* ``prehashed``: the same with the digest computed beforehand
  (``Prehashed(SHA256)``): about the part that runs without the GIL.

and prints the fraction of a call outside ``cryptography``'s verify, the
fraction holding the GIL (``1 - prehashed / call``) and the bound it sets.

Run from the repository root: ``python benchmarks/bench_gil.py`` (``--rounds N``).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import _timing as timing

timing.use_repo_checkout()


def measure(rounds: int, stream: int = 500) -> dict[str, float]:
    """Per-call µs of the three cases (medians) and the fractions (medians of round ratios)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    import tdxquote
    from tdxquote._x509_verify import p256_key_from_xy, raw_signature_to_der
    from tdxquote.testing.forge import QuoteForge, td_report

    forge = QuoteForge.create(seed=b"tdxquote bench_all")  # the quotes of bench_all's rows
    quotes = [
        forge.quote(td_report(2, report_data=b"bench" + index.to_bytes(8, "big"))).to_bytes()
        for index in range(stream)
    ]
    scenario = forge.scenario(forge.quote(td_report(2)))
    verifier = tdxquote.Verifier(trust_root=scenario.trust_root_der)
    collateral = tdxquote.Collateral.from_json(scenario.collateral_json())
    now = scenario.now_timestamp
    for quote in quotes[:3]:
        verifier.verify(quote, collateral, now=now)
    parsed = [tdxquote.parse_quote(quote) for quote in quotes]
    key = p256_key_from_xy(parsed[0].attestation_key)
    signed: list[tuple[bytes, bytes]] = []
    for one in parsed:
        der = raw_signature_to_der(one.signature)
        assert der is not None
        signed.append((der, one.signed_bytes))
    digests = [(sig, hashlib.sha256(data).digest()) for sig, data in signed]
    whole = ec.ECDSA(hashes.SHA256())
    prehashed = ec.ECDSA(utils.Prehashed(hashes.SHA256()))

    def call() -> None:
        for quote in quotes:
            verifier.verify(quote, collateral, now=now)

    def verify() -> None:
        for sig, data in signed:
            key.verify(sig, data, whole)

    def verify_prehashed() -> None:
        for sig, digest in digests:
            key.verify(sig, digest, prehashed)

    cases: Sequence[tuple[str, Callable[[], None]]] = (
        ("call", call),
        ("verify", verify),
        ("prehashed", verify_prehashed),
    )
    samples: dict[str, list[float]] = {name: [] for name, _ in cases}
    clock = time.thread_time_ns
    for index in range(rounds):
        for name, run in cases if index % 2 else reversed(cases):
            start = clock()
            run()
            samples[name].append((clock() - start) / len(quotes) / 1000)
    outside = [1 - v / c for v, c in zip(samples["verify"], samples["call"], strict=True)]
    holding = [1 - p / c for p, c in zip(samples["prehashed"], samples["call"], strict=True)]
    held = statistics.median(holding)
    return {
        **{f"{name}_us": statistics.median(values) for name, values in samples.items()},
        "outside_verify": statistics.median(outside),
        "holding_gil": held,
        "two_thread_bound": 2 / (1 + held),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the fractions and the bound."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds")
    args = parser.parse_args(argv)
    found = measure(args.rounds)
    print("\n".join(timing.machine_lines(timing.machine_info(["cryptography"]))))
    print(
        f"warm call {found['call_us']:.1f} µs; cryptography's verify {found['verify_us']:.1f} µs "
        f"(prehashed {found['prehashed_us']:.1f} µs), CPU time of the thread, medians of "
        f"{args.rounds} rounds"
    )
    print(f"outside cryptography's verify: {found['outside_verify']:.2f} of a call")
    print(f"holding the GIL (outside, and the hashing inside): {found['holding_gil']:.2f}")
    print(f"two threads against one, at most (Amdahl): {found['two_thread_bound']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
