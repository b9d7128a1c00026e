"""The sim cloud's fixed catalog: regions' realms, hardware profiles, and public images."""

from __future__ import annotations

from nubes.providers.protocol import HardwareProfile, Image, Realm

DEFAULT_REGION = "sim-1"


def realms(region: str) -> list[Realm]:
    return [Realm(f"{region}{z}", f"{region}{z}") for z in ("a", "b", "c")]


HARDWARE_PROFILES = [
    HardwareProfile("tiny", "tiny", 1, 0.5, 10),
    HardwareProfile("small", "small", 1, 2, 20),
    HardwareProfile("medium", "medium", 2, 4, 40),
    HardwareProfile("large", "large", 4, 8, 80),
    HardwareProfile("xlarge", "xlarge", 8, 16, 160),
    HardwareProfile("arm-small", "arm-small", 2, 4, 40, architecture="arm64"),
    # a ranged profile, like Deltacloud mock's opaque profile: takes the requested values
    HardwareProfile("flex", "flex", (1, 32), (0.5, 128), (10, 2000)),
]

PUBLIC_IMAGES = [
    Image("img-ubuntu-2404", "ubuntu-24.04", "Ubuntu 24.04 LTS"),
    Image("img-ubuntu-2204", "ubuntu-22.04", "Ubuntu 22.04 LTS"),
    Image("img-debian-12", "debian-12", "Debian 12 (bookworm)"),
    Image("img-fedora-40", "fedora-40", "Fedora 40"),
    Image("img-alpine-320", "alpine-3.20", "Alpine Linux 3.20"),
    Image("img-ubuntu-2404-arm", "ubuntu-24.04-arm64", "Ubuntu 24.04 LTS", "arm64"),
]
