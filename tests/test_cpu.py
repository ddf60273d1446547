"""lenet5/cpu.py's promises: oneDNN is switched on only on x86-64 with AVX2 and no AVX-512 (elsewhere
TensorFlow's own choice stands), and a TF_ENABLE_ONEDNN_OPTS the user set always wins."""

from __future__ import annotations

import pytest

import lenet5.cpu
from lenet5.cpu import ONEDNN, choose_onednn, onednn_choice


def on_cpu(monkeypatch: pytest.MonkeyPatch, machine: str, *cpu_flags: str) -> None:
    monkeypatch.setattr(lenet5.cpu, "flags", lambda: frozenset(cpu_flags))
    monkeypatch.setattr(lenet5.cpu.platform, "machine", lambda: machine)


@pytest.mark.parametrize(
    ("machine", "cpu_flags", "choice"),
    [
        ("x86_64", ("sse4_2", "avx", "avx2", "fma"), "1"),  # AVX2, no AVX-512: on
        ("AMD64", ("avx2",), "1"),  # Windows names x86-64 so
        ("x86_64", ("avx2", "avx512f", "avx512_vnni"), None),  # AVX-512: TensorFlow decides
        ("x86_64", ("avx2", "avx512f"), None),  # AVX-512 without VNNI: TensorFlow decides too
        ("x86_64", ("sse4_2", "avx"), None),  # older than AVX2
        ("aarch64", ("asimd",), None),  # Arm: TensorFlow decides
        ("arm64", (), None),
        ("i686", ("avx2",), None),  # 32-bit x86 is not x86-64
    ],
)
def test_onednn_is_chosen_only_for_x86_64_with_avx2_and_no_avx512(
    monkeypatch: pytest.MonkeyPatch, machine: str, cpu_flags: tuple[str, ...], choice: str | None
) -> None:
    on_cpu(monkeypatch, machine, *cpu_flags)
    monkeypatch.delenv(ONEDNN, raising=False)
    assert onednn_choice() == choice
    choose_onednn()
    assert lenet5.cpu.os.environ.get(ONEDNN) == choice  # unset where TensorFlow decides


@pytest.mark.parametrize("users", ["0", "1"])
@pytest.mark.parametrize("flags", [("avx2",), ("avx2", "avx512f")])
def test_the_users_setting_wins(monkeypatch: pytest.MonkeyPatch, users: str, flags: tuple[str, ...]) -> None:
    on_cpu(monkeypatch, "x86_64", *flags)
    monkeypatch.setenv(ONEDNN, users)
    choose_onednn()
    assert lenet5.cpu.os.environ[ONEDNN] == users
