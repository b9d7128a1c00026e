"""The sim cloud's fixed catalogs: regions' realms, hardware profiles, and public images.

`nubes` is the sim's own; `mock` is Deltacloud's mock driver's (realms us and eu, profiles
m1-small to m1-xlarge and opaque, images img1 to img3), for the scripts written against it."""

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


# Deltacloud's mock driver: m1-large's and m1-xlarge's storage choices are given as their range
MOCK_REALMS = [Realm("us", "United States"), Realm("eu", "Europe")]
MOCK_PROFILES = [
    HardwareProfile("m1-small", "m1-small", 1, 1.7, 160, architecture="i386"),
    HardwareProfile("m1-large", "m1-large", (1, 6), (7.5, 15), (850, 1024)),
    HardwareProfile("m1-xlarge", "m1-xlarge", 4, (12, 32), (1024, 4096)),
    HardwareProfile("opaque", "opaque", (1, 32), (0.5, 128), (10, 2000)),
]
MOCK_IMAGES = [
    Image(
        "img1", "img1", "Fedora 10", "x86_64", owner="fedoraproject", created="2012-10-25T12:27:53Z"
    ),
    Image(
        "img2", "img2", "Fedora 10", "i386", owner="fedoraproject", created="2012-10-25T12:27:53Z"
    ),
    Image("img3", "img3", "JBoss", "i386", owner="mockuser", created="2012-10-25T12:27:53Z"),
]


def realms_of(catalog: str, region: str) -> list[Realm]:
    return MOCK_REALMS if catalog == "mock" else realms(region)


def profiles_of(catalog: str) -> list[HardwareProfile]:
    return MOCK_PROFILES if catalog == "mock" else HARDWARE_PROFILES


def images_of(catalog: str) -> list[Image]:
    return MOCK_IMAGES if catalog == "mock" else PUBLIC_IMAGES
